"""The aggregators and the index: CoinGecko, CoinPaprika, CryptoCompare, CoinCap v3 and the
alternative.me Fear & Greed index.

Aggregators quote USD with market caps and ranks, refresh on a cadence (their numbers move every
few seconds to a minute, not on every request) and send numbers the way each one does: JSON
numbers (CoinGecko, CoinPaprika, CryptoCompare) or strings (CoinCap, alternative.me).
"""
from __future__ import annotations

import math
import random
from typing import Any

from . import listings
from .limits import SlidingWindow
from .listings import BY_TICKER
from .market import DAY, HOUR, MINUTE, fear_greed_label
from .news import Newsroom
from .server import ProviderApp, Refusal, Request, Response, Route, json_answer
from .venue import VenueProfile, VenueView, grid_windows
from .wire import iso_ms, iso_s, ms, pct, sig

FIAT_PER_USD = {"usd": 1.0, "eur": 0.92, "gbp": 0.79, "jpy": 150.0}
CRYPTO_QUOTES = {"btc": "BTC", "eth": "ETH"}


def _flag(req: Request, name: str) -> bool:
    return (req.arg(name) or "").lower() == "true"


def _convert(view: VenueView, usd: float, currency: str) -> float | None:
    """A USD amount in another currency (fiat at fixed rates, BTC/ETH at market)."""
    currency = currency.lower()
    if currency in FIAT_PER_USD:
        return usd * FIAT_PER_USD[currency]
    if currency in CRYPTO_QUOTES:
        price = view.last(CRYPTO_QUOTES[currency])
        return usd / price if price else None
    return None


class Aggregator(ProviderApp):
    profile: VenueProfile

    def view(self, req: Request) -> VenueView:
        return VenueView(self.market, self.profile, req.now, req.price_factor, req.fixed_price,
                         req.usdt_usd)


# ============================================================================ CoinGecko

COINGECKO_IDS = listings.COINGECKO                        # id -> ticker
COINGECKO_TICKERS = {t: i for i, t in COINGECKO_IDS.items()}
COINGECKO_DAYS = {"1", "7", "14", "30", "90", "180", "365"}
COINGECKO_CHANGES = {"1h": HOUR, "24h": DAY, "7d": 7 * DAY, "14d": 14 * DAY, "30d": 30 * DAY,
                     "200d": 200 * DAY, "1y": 365 * DAY}
COINGECKO_ORDERS = {"market_cap_desc", "market_cap_asc", "volume_desc", "volume_asc",
                    "id_asc", "id_desc"}


class CoinGecko(Aggregator):
    """CoinGecko public v3: objects keyed by coin id, unknown ids silently left out, OHLC by
    `days` with automatic granularity, 30 calls/min answered by 429 + retry-after."""
    name = "coingecko"
    env_name = "COINGECKO"
    latency = 0.15
    server_header = "cloudflare"
    required_fields = frozenset({"usd", "current_price"})
    profile = VenueProfile(offset_bps=0.0, volume_share=1.0, refresh_s=30)

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/api/v3/ping",
                  lambda req: json_answer({"gecko_says": "(V3) To the Moon!"})),
            Route("GET", "/api/v3/simple/price", self.simple_price),
            Route("GET", "/api/v3/simple/supported_vs_currencies", lambda req: json_answer(
                sorted([*FIAT_PER_USD, *CRYPTO_QUOTES]))),
            Route("GET", "/api/v3/coins/list", self.coins_list),
            Route("GET", "/api/v3/coins/markets", self.markets),
            Route("GET", "/api/v3/coins/{id}/ohlc", self.ohlc),
        ]

    def default_limit(self):
        return SlidingWindow(30, 60), None

    def rate_limited(self, req: Request, refusal: Refusal) -> Response:
        body = {"status": {"error_code": 429, "error_message": (
            "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing"
            " to subscribe to our API plans for higher rate limits.")}}
        headers = {"retry-after": str(max(1, math.ceil(refusal.retry_after or 60)))}
        return json_answer(body, 429, headers, rate_limited=True)

    def not_found(self, req: Request) -> Response:
        return json_answer({"error": "Incorrect path. Please check "
                                     "https://www.coingecko.com/api/documentation"}, 404)

    @staticmethod
    def error(message: str, status: int = 400) -> Response:
        return json_answer({"error": message}, status)

    def simple_price(self, req: Request) -> Response:
        currencies = [c.strip().lower() for c in (req.arg("vs_currencies") or "").split(",")
                      if c.strip()]
        ids = [i.strip().lower() for i in (req.arg("ids") or "").split(",") if i.strip()]
        symbols = [s.strip().lower() for s in (req.arg("symbols") or "").split(",") if s.strip()]
        if not ids and not symbols:
            return self.error("Missing parameter ids")
        if not currencies:
            return self.error("Missing parameter vs_currencies")
        precision = req.arg("precision")
        view = self.view(req)
        wanted = ([(i, COINGECKO_IDS[i]) for i in ids if i in COINGECKO_IDS] if ids else
                  [(s, s.upper()) for s in symbols if s.upper() in COINGECKO_TICKERS])
        body: dict[str, dict] = {}
        for key, ticker in wanted:
            day = view.window(ticker)
            entry: dict[str, Any] = {}
            for currency in currencies:
                price = _convert(view, day.close, currency)
                if price is None:
                    continue
                rate = price / day.close if day.close else 0.0
                entry[currency] = self._round(price, precision)
                if _flag(req, "include_market_cap"):
                    entry[f"{currency}_market_cap"] = self._round(
                        price * self.market.economics(ticker).supply, precision)
                if _flag(req, "include_24hr_vol"):
                    entry[f"{currency}_24h_vol"] = self._round(day.quote_volume * rate, precision)
                if _flag(req, "include_24hr_change"):
                    entry[f"{currency}_24h_change"] = sig(pct(day.close, day.open), 15)
            if _flag(req, "include_last_updated_at"):
                entry["last_updated_at"] = int(view.t)
            body[key] = entry
        return json_answer(body)

    @staticmethod
    def _round(value: float, precision: str | None) -> float:
        if precision == "full":
            return value
        if precision is not None and precision.isdigit():
            return round(value, int(precision))
        return sig(value, 15)

    def coins_list(self, req: Request) -> Response:
        return json_answer([{"id": i, "symbol": t.lower(), "name": BY_TICKER[t].name}
                            for i, t in sorted(COINGECKO_IDS.items())])

    def markets(self, req: Request) -> Response:
        currency = (req.arg("vs_currency") or "").lower()
        if not currency:
            return self.error("Missing parameter vs_currency")
        view = self.view(req)
        if _convert(view, 1.0, currency) is None:
            return self.error("invalid vs_currency")
        order = req.arg("order") or "market_cap_desc"
        if order not in COINGECKO_ORDERS:
            return self.error("invalid order")
        try:
            per_page = max(1, min(250, int(req.arg("per_page") or 100)))
            page = max(1, int(req.arg("page") or 1))
        except ValueError:
            return self.error("invalid per_page or page")
        ranked = [t for t in self.market.ranked(view.t) if t in COINGECKO_TICKERS]
        rank_of = {t: i + 1 for i, t in enumerate(ranked)}
        tickers = ranked
        if req.arg("ids"):
            wanted = {i.strip().lower() for i in req.arg("ids").split(",")}
            tickers = [t for t in ranked if COINGECKO_TICKERS[t] in wanted]
        rows = [self._market_row(req, view, t, rank_of[t], currency) for t in tickers]
        key, reverse = {"market_cap_desc": ("market_cap", True),
                        "market_cap_asc": ("market_cap", False),
                        "volume_desc": ("total_volume", True),
                        "volume_asc": ("total_volume", False),
                        "id_asc": ("id", False), "id_desc": ("id", True)}[order]
        rows.sort(key=lambda r: r[key], reverse=reverse)
        return json_answer(rows[(page - 1) * per_page: page * per_page])

    def _market_row(self, req: Request, view: VenueView, ticker: str, rank: int,
                    currency: str) -> dict:
        coin, econ = BY_TICKER[ticker], self.market.economics(ticker)
        coin_id = COINGECKO_TICKERS[ticker]
        rate = _convert(view, 1.0, currency) or 0.0
        day = view.window(ticker)
        price = day.close * rate
        cap = price * econ.supply
        ath, ath_when = self.market.all_time_high(ticker, view.t)
        ath *= view.factor_for(ticker) * rate
        atl = econ.price * 0.004 * view.factor_for(ticker) * rate
        change = (day.close - day.open) * rate
        row: dict[str, Any] = {
            "id": coin_id, "symbol": ticker.lower(), "name": coin.name,
            "image": f"https://coin-images.coingecko.com/coins/images/{coin.rank}/large/"
                     f"{coin_id}.png",
            "current_price": sig(price, 10), "market_cap": round(cap),
            "market_cap_rank": rank,
            "fully_diluted_valuation": round(price * (econ.max_supply or econ.supply)),
            "total_volume": round(day.quote_volume * rate),
            "high_24h": sig(day.high * rate, 10), "low_24h": sig(day.low * rate, 10),
            "price_change_24h": sig(change, 10),
            "price_change_percentage_24h": sig(pct(day.close, day.open), 8),
            "market_cap_change_24h": sig(change * econ.supply, 10),
            "market_cap_change_percentage_24h": sig(pct(day.close, day.open), 8),
            "circulating_supply": econ.supply,
            "total_supply": econ.max_supply or econ.supply,
            "max_supply": econ.max_supply,
            "ath": sig(ath, 10), "ath_change_percentage": sig(pct(price, ath), 8),
            "ath_date": iso_ms(ath_when), "atl": sig(atl, 8),
            "atl_change_percentage": sig(pct(price, atl), 8),
            "atl_date": "2015-10-20T00:00:00.000Z", "roi": None,
            "last_updated": iso_ms(view.t),
        }
        if _flag(req, "sparkline"):
            start = (view.t // HOUR) * HOUR - 167 * HOUR
            row["sparkline_in_7d"] = {"price": [sig(view.price_at(ticker, start + h * HOUR)
                                                    * rate, 10) for h in range(168)]}
        for period in (req.arg("price_change_percentage") or "").split(","):
            seconds = COINGECKO_CHANGES.get(period.strip())
            if seconds:
                then = view.price_at(ticker, view.t - seconds)
                row[f"price_change_percentage_{period.strip()}_in_currency"] = sig(
                    pct(day.close, then), 10)
        return row

    def ohlc(self, req: Request) -> Response:
        ticker = COINGECKO_IDS.get(req.path_params["id"])
        if ticker is None:
            return self.error("coin not found", 404)
        currency = (req.arg("vs_currency") or "").lower()
        if not currency:
            return self.error("Missing parameter vs_currency")
        view = self.view(req)
        rate = _convert(view, 1.0, currency)
        if rate is None:
            return self.error("invalid vs_currency")
        days = req.arg("days")
        if days is None:
            return self.error("Missing parameter days")
        if days not in COINGECKO_DAYS:
            return self.error("invalid days: use one of 1, 7, 14, 30, 90, 180, 365")
        span = int(days)
        step = 1800 if span <= 2 else (4 * HOUR if span <= 30 else 4 * DAY)
        count = math.ceil(span * DAY / step)
        rows = []
        for opened, bar in view.candles(ticker, grid_windows(step, view.t, count)):
            rows.append([ms(opened + step), sig(bar.open * rate, 8), sig(bar.high * rate, 8),
                         sig(bar.low * rate, 8), sig(bar.close * rate, 8)])
        return json_answer(rows)


# ============================================================================ CoinPaprika

PAPRIKA_IDS = listings.COINPAPRIKA                        # id -> ticker
PAPRIKA_TICKERS = {t: i for i, t in PAPRIKA_IDS.items()}
PAPRIKA_QUOTES = {"USD", "BTC", "ETH", "EUR", "GBP", "JPY"}
PAPRIKA_CHANGES = (("percent_change_15m", 900), ("percent_change_30m", 1800),
                   ("percent_change_1h", HOUR), ("percent_change_6h", 6 * HOUR),
                   ("percent_change_12h", 12 * HOUR), ("percent_change_24h", DAY),
                   ("percent_change_7d", 7 * DAY), ("percent_change_30d", 30 * DAY),
                   ("percent_change_1y", 365 * DAY))


class CoinPaprika(Aggregator):
    """CoinPaprika v1 (free plan): every active coin from /tickers in rank order, quotes under
    `quotes.USD`, no circulating_supply on the free plan, 404 "id not found"."""
    name = "coinpaprika"
    env_name = "COINPAPRIKA"
    latency = 0.12
    server_header = "cloudflare"
    required_fields = frozenset({"quotes"})
    profile = VenueProfile(offset_bps=-0.5, volume_share=0.9, refresh_s=60)

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/global", self.global_stats),
            Route("GET", "/v1/coins", self.coins),
            Route("GET", "/v1/tickers", self.tickers),
            Route("GET", "/v1/tickers/{id}", self.ticker),
            Route("GET", "/v1/coins/{id}/ohlcv/today", self.ohlcv_today),
            Route("GET", "/v1/coins/{id}/ohlcv/latest", self.ohlcv_latest),
        ]

    def default_limit(self):
        return SlidingWindow(10, 1), None

    def rate_limited(self, req: Request, refusal: Refusal) -> Response:
        return json_answer({"error": "you have reached maximum request limit"}, 429,
                           rate_limited=True)

    def not_found(self, req: Request) -> Response:
        return json_answer({"error": "not found"}, 404)

    @staticmethod
    def error(message: str, status: int) -> Response:
        return json_answer({"error": message}, status)

    def _quotes(self, req: Request) -> list[str] | None:
        quotes = [q.strip().upper() for q in (req.arg("quotes") or "USD").split(",") if q.strip()]
        if not quotes or len(quotes) > 3 or any(q not in PAPRIKA_QUOTES for q in quotes):
            return None
        return quotes

    def _ticker(self, view: VenueView, ticker: str, rank: int, quotes: list[str]) -> dict:
        coin, econ = BY_TICKER[ticker], self.market.economics(ticker)
        day = view.window(ticker)
        day_before = view.scale(self.market.bar(ticker, view.t - 2 * DAY, view.t - DAY), ticker)
        ath, ath_when = self.market.all_time_high(ticker, view.t)
        rng = random.Random(f"{self.market.seed}|paprika|{ticker}")
        out: dict[str, Any] = {
            "id": PAPRIKA_TICKERS[ticker], "name": coin.name, "symbol": ticker, "rank": rank,
            "total_supply": round(econ.max_supply or econ.supply),
            "max_supply": round(econ.max_supply) if econ.max_supply else 0,
            "beta_value": round(0.0 if econ.market_beta == 0 else rng.uniform(0.8, 1.6), 6),
            "first_data_at": ("2010-07-17T00:00:00Z" if ticker == "BTC" else
                              iso_s(rng.uniform(1438387200, 1704067200))[:10] + "T00:00:00Z"),
            "last_updated": iso_s(view.t), "quotes": {}}
        for quote in quotes:
            rate = _convert(view, 1.0, quote) or 0.0
            price = day.close * rate
            entry: dict[str, Any] = {
                "price": sig(price, 15), "volume_24h": sig(day.quote_volume * rate, 15),
                "volume_24h_change_24h": round(pct(day.quote_volume,
                                                   day_before.quote_volume), 2),
                "market_cap": round(price * econ.supply),
                "market_cap_change_24h": round(pct(day.close, day.open), 2)}
            for key, seconds in PAPRIKA_CHANGES:
                then = view.price_at(ticker, view.t - seconds)
                entry[key] = round(pct(day.close, then), 2)
            factor = view.factor_for(ticker)
            entry.update({"ath_price": sig(ath * factor * rate, 10),
                          "ath_date": iso_s(ath_when),
                          "percent_from_price_ath": round(pct(day.close, ath * factor), 2)})
            out["quotes"][quote] = entry
        return out

    def tickers(self, req: Request) -> Response:
        quotes = self._quotes(req)
        if quotes is None:
            return self.error("invalid quotes", 400)
        view = self.view(req)
        ranked = [t for t in self.market.ranked(view.t) if t in PAPRIKA_TICKERS]
        return json_answer([self._ticker(view, t, i + 1, quotes) for i, t in enumerate(ranked)])

    def ticker(self, req: Request) -> Response:
        ticker = PAPRIKA_IDS.get(req.path_params["id"])
        if ticker is None:
            return self.error("id not found", 404)
        quotes = self._quotes(req)
        if quotes is None:
            return self.error("invalid quotes", 400)
        view = self.view(req)
        rank = self.market.ranked(view.t).index(ticker) + 1
        return json_answer(self._ticker(view, ticker, rank, quotes))

    def coins(self, req: Request) -> Response:
        return json_answer([{"id": PAPRIKA_TICKERS[c.ticker], "name": c.name, "symbol": c.ticker,
                             "rank": c.rank, "is_new": False, "is_active": True,
                             "type": "token" if c.ticker in ("USDT", "USDC", "DAI", "LINK",
                                                             "UNI", "SHIB", "PEPE")
                             else "coin"} for c in listings.UNIVERSE
                            if c.ticker in PAPRIKA_TICKERS])

    def global_stats(self, req: Request) -> Response:
        view = self.view(req)
        caps = {t: view.last(t) * self.market.economics(t).supply for t in BY_TICKER}
        total = sum(caps.values())
        volume = sum(view.window(t).quote_volume for t in BY_TICKER)
        return json_answer({
            "market_cap_usd": round(total), "volume_24h_usd": round(volume),
            "bitcoin_dominance_percentage": round(caps["BTC"] / total * 100, 2) if total else 0.0,
            "cryptocurrencies_number": len(PAPRIKA_IDS), "market_cap_ath_value": round(total * 1.2),
            "market_cap_ath_date": "2025-10-06T12:00:00Z",
            "volume_24h_ath_value": round(volume * 3), "volume_24h_ath_date":
                "2021-05-19T12:00:00Z", "volume_24h_percent_from_ath": -66.67,
            "volume_24h_percent_to_ath": 200.0, "market_cap_change_24h": 0.0,
            "volume_24h_change_24h": 0.0, "last_updated": int(view.t)})

    def _ohlcv(self, req: Request, start: float, end: float) -> Response:
        ticker = PAPRIKA_IDS.get(req.path_params["id"])
        if ticker is None:
            return self.error("id not found", 404)
        view = self.view(req)
        bar = view.scale(self.market.bar(ticker, start, min(end, view.t)), ticker)
        supply = self.market.economics(ticker).supply
        return json_answer([{"time_open": iso_s(start), "time_close": iso_s(end - 1),
                             "open": sig(bar.open, 10), "high": sig(bar.high, 10),
                             "low": sig(bar.low, 10), "close": sig(bar.close, 10),
                             "volume": round(bar.quote_volume),
                             "market_cap": round(bar.close * supply)}])

    def ohlcv_today(self, req: Request) -> Response:
        start = (req.now // DAY) * DAY
        return self._ohlcv(req, start, start + DAY)

    def ohlcv_latest(self, req: Request) -> Response:
        start = (req.now // DAY) * DAY - DAY
        return self._ohlcv(req, start, start + DAY)


# ============================================================================ CryptoCompare

CC_SYMBOLS = listings.CRYPTOCOMPARE
CC_QUOTES = {"USD": 1.0, "USDT": 1.0, "USDC": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 150.0}
CC_SIGNS = {"USD": "$", "USDT": "₮", "USDC": "USDC", "EUR": "€", "GBP": "£", "JPY": "¥",
            "BTC": "Ƀ", "ETH": "Ξ"}
CC_HISTO = {"histominute": (MINUTE, 1440), "histohour": (HOUR, 168), "histoday": (DAY, 30)}
WEISS_UNRATED = {"Rating": "", "TechnologyAdoptionRating": "", "MarketPerformanceRating": ""}
CC_FREE_CALLS = {"second": 20, "minute": 300, "hour": 3000, "day": 10000, "month": 75000}


def _cc_display(value: float, sign: str) -> str:
    """CryptoCompare's DISPLAY strings: "$ 59,692.10", "$ 1.11 T", "Ƀ 19.95 M"."""
    if abs(value) >= 1e12:
        return f"{sign} {value / 1e12:.2f} T"
    if abs(value) >= 1e9:
        return f"{sign} {value / 1e9:.2f} B"
    if abs(value) >= 1e6:
        return f"{sign} {value / 1e6:.2f} M"
    return f"{sign} {value:,.2f}" if abs(value) >= 1 else f"{sign} {value:.6g}"


class CryptoCompare(Aggregator):
    """CryptoCompare min-api: errors under HTTP 200 as `"Response":"Error"`, RAW/DISPLAY
    price blocks, v2 histo with limit+1 points, the top list by market cap, and news."""
    name = "cryptocompare"
    env_name = "CRYPTOCOMPARE"
    latency = 0.09
    server_header = "nginx"
    required_fields = frozenset({"USD", "RAW", "close", "title", "url"})
    profile = VenueProfile(offset_bps=0.3, volume_share=0.35, refresh_s=10)

    def __init__(self, market, **context):
        super().__init__(market, **context)
        self.newsroom: Newsroom = context["newsroom"]

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/data/price", self.price),
            Route("GET", "/data/pricemulti", self.price_multi),
            Route("GET", "/data/pricemultifull", self.price_multi_full),
            *[Route("GET", f"/data/v2/{name}", self.histo) for name in CC_HISTO],
            Route("GET", "/data/top/mktcapfull", self.top),
            Route("GET", "/data/v2/news/", self.news),
            Route("GET", "/data/v2/news", self.news),
        ]

    def default_limit(self):
        return SlidingWindow(300, 60), None

    def rate_limited(self, req: Request, refusal: Refusal) -> Response:
        made = {"second": 1, "minute": 0, "hour": 0, "day": 0, "month": 0, "total_calls": 0}
        limits = dict(CC_FREE_CALLS)
        used = refusal.verdict.used if refusal.verdict else CC_FREE_CALLS["minute"]
        window = refusal.verdict.window if refusal.verdict else 60
        key = next(k for k, size in (("second", 1), ("minute", 60), ("hour", 3600),
                                     ("day", DAY), ("month", 30 * DAY)) if window <= size)
        if refusal.verdict:
            limits[key] = int(refusal.verdict.limit)
        for name in ("minute", "hour", "day", "month", "total_calls"):
            made[name] = int(used)
        made[key] = max(int(used), limits[key])
        return json_answer({
            "Response": "Error", "Message": "You are over your rate limit please upgrade your "
            "account!", "HasWarning": False, "Type": 99,
            "RateLimit": {"calls_made": made, "max_calls": limits}, "Data": {}},
            rate_limited=True)

    def not_found(self, req: Request) -> Response:
        return self.error("Path does not exist", 1, status=404)

    @staticmethod
    def error(message: str, kind: int = 2, param: str | None = None,
              status: int = 200) -> Response:
        body: dict[str, Any] = {"Response": "Error", "Message": message, "HasWarning": False,
                                "Type": kind, "RateLimit": {}, "Data": {}}
        if param:
            body["ParamWithError"] = param
        return json_answer(body, status)

    @staticmethod
    def _list(req: Request, name: str) -> list[str]:
        return [s.strip().upper() for s in (req.arg(name) or "").split(",") if s.strip()]

    def _rate(self, view: VenueView, quote: str) -> float | None:
        if quote in CC_QUOTES:
            return CC_QUOTES[quote]
        if quote in CC_SYMBOLS:
            price = view.last(quote)
            return 1.0 / price if price else None
        return None

    def _missing(self, req: Request, *names: str) -> Response | None:
        for name in names:
            if not req.arg(name):
                return self.error(f"{name} param seems to be missing.", 1, name)
        return None

    def price(self, req: Request) -> Response:
        missing = self._missing(req, "fsym", "tsyms")
        if missing:
            return missing
        fsym = req.arg("fsym").upper()
        if fsym not in CC_SYMBOLS:
            return self.error(f"There is no data for the symbol {fsym} .", 2, "fsym")
        view = self.view(req)
        out = {}
        for quote in self._list(req, "tsyms"):
            rate = self._rate(view, quote)
            if rate is not None:
                out[quote] = sig(view.last(fsym) * rate, 10)
        if not out:
            return self.error(f"There is no data for any of the toSymbols "
                              f"{req.arg('tsyms')} .", 2, "tsyms")
        return json_answer(out)

    def _pairs(self, req: Request) -> tuple[list[str], list[str], Response | None]:
        missing = self._missing(req, "fsyms", "tsyms")
        if missing:
            return [], [], missing
        fsyms = [s for s in self._list(req, "fsyms") if s in CC_SYMBOLS]
        if not fsyms:
            first = self._list(req, "fsyms")[0]
            return [], [], self.error(f"There is no data for the symbol {first} .", 2, "fsyms")
        return fsyms, self._list(req, "tsyms"), None

    def price_multi(self, req: Request) -> Response:
        fsyms, tsyms, error = self._pairs(req)
        if error:
            return error
        view = self.view(req)
        out = {}
        for fsym in fsyms:
            prices = {q: sig(view.last(fsym) * r, 10) for q in tsyms
                      if (r := self._rate(view, q)) is not None}
            if prices:
                out[fsym] = prices
        return json_answer(out)

    def _raw(self, view: VenueView, fsym: str, quote: str, rate: float) -> dict:
        econ = self.market.economics(fsym)
        day = view.window(fsym)
        hour = view.window(fsym, HOUR)
        today = view.since(fsym, (view.t // DAY) * DAY)
        this_hour = view.since(fsym, (view.t // HOUR) * HOUR)
        total = self.market.window(fsym, view.t)
        price = day.close * rate
        supply = econ.supply
        return {
            "TYPE": "5", "MARKET": "CCCAGG", "FROMSYMBOL": fsym, "TOSYMBOL": quote,
            "FLAGS": "2049" if day.close >= day.open else "2050", "LASTMARKET": "Coinbase",
            "MEDIAN": sig(price, 10), "TOPTIERVOLUME24HOUR": sig(day.volume * 0.8, 10),
            "TOPTIERVOLUME24HOURTO": sig(day.quote_volume * 0.8 * rate, 10),
            "LASTTRADEID": str(view.trade_id(fsym)), "PRICE": sig(price, 10),
            "LASTUPDATE": int(view.t),
            "LASTVOLUME": sig(self.profile.trade_usd / day.close, 8) if day.close else 0,
            "LASTVOLUMETO": sig(self.profile.trade_usd * rate, 8),
            "VOLUMEHOUR": sig(hour.volume, 10), "VOLUMEHOURTO": sig(hour.quote_volume * rate, 10),
            "OPENHOUR": sig(this_hour.open * rate, 10),
            "HIGHHOUR": sig(this_hour.high * rate, 10), "LOWHOUR": sig(this_hour.low * rate, 10),
            "VOLUMEDAY": sig(today.volume, 10), "VOLUMEDAYTO": sig(today.quote_volume * rate, 10),
            "OPENDAY": sig(today.open * rate, 10), "HIGHDAY": sig(today.high * rate, 10),
            "LOWDAY": sig(today.low * rate, 10),
            "VOLUME24HOUR": sig(day.volume, 10), "VOLUME24HOURTO": sig(day.quote_volume * rate, 10),
            "OPEN24HOUR": sig(day.open * rate, 10), "HIGH24HOUR": sig(day.high * rate, 10),
            "LOW24HOUR": sig(day.low * rate, 10),
            "CHANGE24HOUR": sig((day.close - day.open) * rate, 10),
            "CHANGEPCT24HOUR": sig(pct(day.close, day.open), 10),
            "CHANGEDAY": sig((day.close - today.open) * rate, 10),
            "CHANGEPCTDAY": sig(pct(day.close, today.open), 10),
            "CHANGEHOUR": sig((day.close - this_hour.open) * rate, 10),
            "CHANGEPCTHOUR": sig(pct(day.close, this_hour.open), 10),
            "CONVERSIONTYPE": "direct", "CONVERSIONSYMBOL": "", "CONVERSIONLASTUPDATE": int(view.t),
            "SUPPLY": supply, "MKTCAP": sig(price * supply, 12), "MKTCAPPENALTY": 0,
            "CIRCULATINGSUPPLY": supply, "CIRCULATINGSUPPLYMKTCAP": sig(price * supply, 12),
            "TOTALVOLUME24H": sig(total.volume, 10),
            "TOTALVOLUME24HTO": sig(total.quote_volume * view.factor_for(fsym) * rate, 10),
            "TOTALTOPTIERVOLUME24H": sig(total.volume * 0.8, 10),
            "TOTALTOPTIERVOLUME24HTO": sig(total.quote_volume * 0.8 * view.factor_for(fsym)
                                           * rate, 10),
            "IMAGEURL": f"/media/{37746000 + BY_TICKER[fsym].rank}/{fsym.lower()}.png"}

    @staticmethod
    def _display(raw: dict, fsym: str, quote: str) -> dict:
        to_sign = CC_SIGNS.get(quote, quote)
        out = {"FROMSYMBOL": CC_SIGNS.get(fsym, fsym), "TOSYMBOL": to_sign,
               "MARKET": "CryptoCompare Index", "LASTMARKET": raw["LASTMARKET"],
               "LASTUPDATE": "Just now", "IMAGEURL": raw["IMAGEURL"],
               "CONVERSIONTYPE": "direct", "CONVERSIONSYMBOL": ""}
        for key in ("PRICE", "OPEN24HOUR", "HIGH24HOUR", "LOW24HOUR", "CHANGE24HOUR",
                    "VOLUME24HOURTO", "MKTCAP", "TOTALVOLUME24HTO", "OPENDAY", "HIGHDAY",
                    "LOWDAY", "CHANGEDAY"):
            out[key] = _cc_display(raw[key], to_sign)
        for key in ("CHANGEPCT24HOUR", "CHANGEPCTDAY", "CHANGEPCTHOUR"):
            out[key] = f"{raw[key]:.2f}"
        for key in ("VOLUME24HOUR", "SUPPLY", "CIRCULATINGSUPPLY", "TOTALVOLUME24H"):
            out[key] = _cc_display(raw[key], CC_SIGNS.get(fsym, fsym))
        return out

    def _full(self, view: VenueView, fsyms: list[str], tsyms: list[str]) -> tuple[dict, dict]:
        raw: dict[str, dict] = {}
        display: dict[str, dict] = {}
        for fsym in fsyms:
            for quote in tsyms:
                rate = self._rate(view, quote)
                if rate is None:
                    continue
                block = self._raw(view, fsym, quote, rate)
                raw.setdefault(fsym, {})[quote] = block
                display.setdefault(fsym, {})[quote] = self._display(block, fsym, quote)
        return raw, display

    def price_multi_full(self, req: Request) -> Response:
        fsyms, tsyms, error = self._pairs(req)
        if error:
            return error
        raw, display = self._full(self.view(req), fsyms, tsyms)
        if not raw:
            return self.error(f"There is no data for any of the toSymbols {req.arg('tsyms')} .",
                              2, "tsyms")
        return json_answer({"RAW": raw, "DISPLAY": display})

    def histo(self, req: Request) -> Response:
        unit, default_limit = CC_HISTO[req.path.rsplit("/", 1)[-1]]
        if not req.arg("fsym"):
            return self.error("fsym param seems to be missing.", 1, "fsym")
        if not req.arg("tsym"):
            return self.error("tsym is a required param.", 1, "tsym")
        fsym, quote = req.arg("fsym").upper(), req.arg("tsym").upper()
        if fsym not in CC_SYMBOLS:
            return self.error(f"There is no data for the symbol {fsym} .", 2, "fsym")
        if quote not in CC_QUOTES:
            return self.error(f"cccagg_or_exchange market does not exist for this coin pair "
                              f"({fsym}-{quote})", 2, "tsym")
        try:
            limit = int(req.arg("limit") or default_limit)
            aggregate = int(req.arg("aggregate") or 1)
            to_ts = float(req.arg("toTs")) if req.arg("toTs") else None
        except ValueError:
            return self.error("limit, aggregate and toTs must be integers.", 1, "limit")
        if limit < 1 or limit > 2000:
            return self.error("limit param is not an integer between 1 and 2000.", 1, "limit")
        aggregate = max(1, min(30, aggregate))
        view = self.view(req)
        step = unit * aggregate
        windows = grid_windows(step, view.t, limit + 1, end=to_ts)
        rate = CC_QUOTES[quote]
        rows = [{"time": int(opened), "high": sig(bar.high * rate, 10),
                 "low": sig(bar.low * rate, 10), "open": sig(bar.open * rate, 10),
                 "volumefrom": round(bar.volume, 2), "volumeto": round(bar.quote_volume * rate, 2),
                 "close": sig(bar.close * rate, 10), "conversionType": "direct",
                 "conversionSymbol": ""}
                for opened, bar in view.candles(fsym, windows)]
        return json_answer({"Response": "Success", "Message": "", "HasWarning": False,
                            "Type": 100, "RateLimit": {},
                            "Data": {"Aggregated": aggregate > 1,
                                     "TimeFrom": rows[0]["time"] if rows else 0,
                                     "TimeTo": rows[-1]["time"] if rows else 0, "Data": rows}})

    def top(self, req: Request) -> Response:
        if not req.arg("tsym"):
            return self.error("tsym is a required param.", 1, "tsym")
        quote = req.arg("tsym").upper()
        view = self.view(req)
        rate = self._rate(view, quote)
        if rate is None:
            return self.error(f"There is no data for the toSymbol {quote} .", 2, "tsym")
        try:
            limit = int(req.arg("limit") or 10)
            page = int(req.arg("page") or 0)
        except ValueError:
            return self.error("limit and page must be integers.", 1, "limit")
        limit = max(10, min(100, math.ceil(limit / 10) * 10))
        ranked = [t for t in self.market.ranked(view.t) if t in CC_SYMBOLS]
        chosen = ranked[page * limit:(page + 1) * limit]
        data = []
        for ticker in chosen:
            coin = BY_TICKER[ticker]
            raw, display = self._full(view, [ticker], [quote])
            data.append({
                "CoinInfo": {"Id": str(1182 + coin.rank), "Name": ticker, "FullName": coin.name,
                             "Internal": ticker, "ImageUrl": raw[ticker][quote]["IMAGEURL"],
                             "Url": f"/coins/{ticker.lower()}/overview", "Algorithm": "N/A",
                             "ProofType": "N/A", "Rating": {"Weiss": WEISS_UNRATED},
                             "NetHashesPerSecond": 0, "BlockNumber": 0, "BlockTime": 0,
                             "BlockReward": 0, "AssetLaunchDate": "2017-01-01",
                             "MaxSupply": self.market.economics(ticker).max_supply or -1,
                             "Type": 1, "DocumentType": "Webpagecoinp"},
                "RAW": raw[ticker], "DISPLAY": display[ticker]})
        return json_answer({"Message": "Success", "Type": 100,
                            "MetaData": {"Count": len(ranked)}, "SponsoredData": [],
                            "Data": data, "RateLimit": {}, "HasWarning": False})

    def news(self, req: Request) -> Response:
        lang = (req.arg("lang") or "EN").upper()
        categories = set(self._list(req, "categories")) or None
        before = float(req.arg("lTs")) if (req.arg("lTs") or "").isdigit() else None
        articles = [] if lang != "EN" else self.newsroom.latest(
            "cryptocompare", req.now, 50, only=categories, before=before)
        data = [{
            "id": str(a.id), "guid": a.url, "published_on": a.published,
            "imageurl": f"https://resources.cryptocompare.com/news/{a.id % 97}/{a.id}.jpeg",
            "title": a.title, "url": a.url, "body": a.body, "tags": a.tags, "lang": "EN",
            "upvotes": "0", "downvotes": "0", "categories": a.categories,
            "source_info": {"name": a.source_name, "img":
                            f"https://resources.cryptocompare.com/news/{a.source}.png",
                            "lang": "EN"},
            "source": a.source} for a in articles]
        return json_answer({"Type": 100, "Message": "News list successfully returned",
                            "Promoted": [], "Data": data, "RateLimit": {}, "HasWarning": False})


# ============================================================================ CoinCap v3

COINCAP_SLUGS = listings.COINCAP                          # slug -> ticker
COINCAP_TICKERS = {t: s for s, t in COINCAP_SLUGS.items()}
COINCAP_INTERVALS = {"m1": MINUTE, "m5": 300, "m15": 900, "m30": 1800, "h1": HOUR,
                     "h2": 2 * HOUR, "h6": 6 * HOUR, "h12": 12 * HOUR, "d1": DAY}


def _cc_str(value: float | None) -> str | None:
    """CoinCap's long decimal strings: "9627.1523239449219288"."""
    return None if value is None else f"{value:.16f}"


class CoinCap(Aggregator):
    """CoinCap v3 (rest.coincap.io): a key is required, every number is a string, `data` plus
    a ms `timestamp`, `{"error": "<id> not found"}` with 404."""
    name = "coincap"
    env_name = "COINCAP"
    latency = 0.11
    server_header = "cloudflare"
    required_fields = frozenset({"priceUsd"})
    profile = VenueProfile(offset_bps=0.8, volume_share=0.5, refresh_s=5)

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v3/assets", self.assets),
            Route("GET", "/v3/assets/{slug}", self.asset),
            Route("GET", "/v3/assets/{slug}/history", self.history),
            Route("GET", "/v3/price/bysymbol/{symbols}", self.by_symbol),
        ]

    def default_limit(self):
        return SlidingWindow(500, 60), None

    def rate_limited(self, req: Request, refusal: Refusal) -> Response:
        return json_answer({"error": "rate limit exceeded"}, 429, rate_limited=True)

    def not_found(self, req: Request) -> Response:
        return json_answer({"error": "Not Found", "timestamp": ms(req.now)}, 404)

    def malform(self, resp: Response) -> Response:
        """Also empties /price/bysymbol's list of bare price strings."""
        payload = resp.payload
        if isinstance(payload, dict) and isinstance(payload.get("data"), list) and \
                all(isinstance(v, str) for v in payload["data"]):
            payload["data"] = []
            return resp
        return super().malform(resp)

    def _unauthorized(self, req: Request) -> Response | None:
        auth = (req.headers.get("Authorization") or "").strip()
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if token or (req.arg("apiKey") or "").strip():
            return None
        return json_answer({"error": "Unauthorized. A valid API key is required: send "
                                     "'Authorization: Bearer <key>' (https://pro.coincap.io/"
                                     "dashboard)."}, 401)

    def _asset(self, view: VenueView, ticker: str, rank: int) -> dict:
        coin, econ = BY_TICKER[ticker], self.market.economics(ticker)
        slug = COINCAP_TICKERS[ticker]
        day = view.window(ticker)
        return {
            "id": slug, "rank": str(rank), "symbol": ticker, "name": coin.name,
            "supply": _cc_str(econ.supply), "maxSupply": _cc_str(econ.max_supply),
            "marketCapUsd": _cc_str(day.close * econ.supply),
            "volumeUsd24Hr": _cc_str(day.quote_volume),
            "priceUsd": _cc_str(day.close),
            "changePercent24Hr": _cc_str(pct(day.close, day.open)),
            "vwap24Hr": _cc_str(day.quote_volume / day.volume if day.volume else day.close),
            "explorer": f"https://explorer.{slug}.example/"}

    def assets(self, req: Request) -> Response:
        denied = self._unauthorized(req)
        if denied:
            return denied
        view = self.view(req)
        ranked = [t for t in self.market.ranked(view.t) if t in COINCAP_TICKERS]
        rows = [(i + 1, t) for i, t in enumerate(ranked)]
        if req.arg("ids"):
            wanted = {s.strip() for s in req.arg("ids").split(",")}
            rows = [(r, t) for r, t in rows if COINCAP_TICKERS[t] in wanted]
        if req.arg("search"):
            term = req.arg("search").lower()
            rows = [(r, t) for r, t in rows
                    if term in t.lower() or term in BY_TICKER[t].name.lower()]
        try:
            limit = max(1, min(2000, int(req.arg("limit") or 100)))
            offset = max(0, int(req.arg("offset") or 0))
        except ValueError:
            return json_answer({"error": "limit and offset must be integers"}, 400)
        data = [self._asset(view, t, r) for r, t in rows[offset:offset + limit]]
        return json_answer({"data": data, "timestamp": ms(view.t)})

    def asset(self, req: Request) -> Response:
        denied = self._unauthorized(req)
        if denied:
            return denied
        slug = req.path_params["slug"]
        ticker = COINCAP_SLUGS.get(slug)
        if ticker is None:
            return json_answer({"error": f"{slug} not found", "timestamp": ms(req.now)}, 404)
        view = self.view(req)
        rank = self.market.ranked(view.t).index(ticker) + 1
        return json_answer({"data": self._asset(view, ticker, rank), "timestamp": ms(view.t)})

    def history(self, req: Request) -> Response:
        denied = self._unauthorized(req)
        if denied:
            return denied
        slug = req.path_params["slug"]
        ticker = COINCAP_SLUGS.get(slug)
        if ticker is None:
            return json_answer({"error": f"{slug} not found", "timestamp": ms(req.now)}, 404)
        step = COINCAP_INTERVALS.get(req.arg("interval") or "")
        if step is None:
            return json_answer({"error": "missing or invalid interval"}, 400)
        view = self.view(req)
        start, end = req.arg("start"), req.arg("end")
        if (start is None) != (end is None):
            return json_answer({"error": "start and end are required together"}, 400)
        if start is not None:
            try:
                first, last = float(start) / 1000, float(end) / 1000
            except ValueError:
                return json_answer({"error": "start and end must be unix milliseconds"}, 400)
            windows = grid_windows(step, view.t, 2000, start=first, end=last)
        else:
            windows = grid_windows(step, view.t, min(2000, max(1, int(DAY * (
                365 if step >= DAY else 1) // step))))
        data = [{"priceUsd": _cc_str(bar.quote_volume / bar.volume if bar.volume
                                     else bar.close), "time": ms(opened),
                 "circulatingSupply": _cc_str(self.market.economics(ticker).supply),
                 "date": iso_ms(opened)}
                for opened, bar in view.candles(ticker, windows)]
        return json_answer({"data": data, "timestamp": ms(view.t)})

    def by_symbol(self, req: Request) -> Response:
        denied = self._unauthorized(req)
        if denied:
            return denied
        symbols = [s.strip().upper() for s in req.path_params["symbols"].split(",") if s.strip()]
        unknown = [s for s in symbols if s not in COINCAP_TICKERS]
        if unknown or not symbols:
            return json_answer({"error": f"{(unknown or [''])[0]} not found",
                                "timestamp": ms(req.now)}, 404)
        view = self.view(req)
        return json_answer({"timestamp": ms(view.t),
                            "data": [f"{view.last(s):.18f}" for s in symbols]})


# ============================================================================ alternative.me

FNG_FIRST_DAY = 17563          # 2018-02-01, the index's first day


class AlternativeMe(ProviderApp):
    """The Crypto Fear & Greed index: daily values as strings, newest first, the seconds until
    the next update on the first entry only, errors in `metadata.error`."""
    name = "alternative_me"
    env_name = "ALTERNATIVE_ME"
    latency = 0.18
    server_header = "cloudflare"
    required_fields = frozenset({"value"})
    extra_headers = {"access-control-allow-origin": "*"}

    def routes(self) -> list[Route]:
        return [Route("GET", "/fng/", self.fng), Route("GET", "/fng", self.fng)]

    def default_limit(self):
        return SlidingWindow(60, 60), None

    def rate_limited(self, req: Request, refusal: Refusal) -> Response:
        return json_answer({"error": "Too Many Requests"}, 429, rate_limited=True)

    def fng(self, req: Request) -> Response:
        try:
            limit = int(req.arg("limit") or 1)
        except ValueError:
            limit = 1
        today = int(req.now // DAY)
        count = today - FNG_FIRST_DAY + 1 if limit <= 0 else min(limit, today - FNG_FIRST_DAY + 1)
        date_format = (req.arg("date_format") or "").lower()
        data = []
        for offset in range(count):
            day = today - offset
            value = self.market.fear_greed(day)
            shown = value
            if req.fixed_price is not None:
                shown = int(req.fixed_price)
            elif req.price_factor != 1.0:
                shown = int(value * req.price_factor)
            stamp = day * DAY
            entry = {"value": str(shown), "value_classification": fear_greed_label(value),
                     "timestamp": self._date(stamp, date_format)}
            if offset == 0:
                until = stamp + DAY - int(req.now)
                entry["time_until_update"] = str(until - stamp if date_format else until)
            data.append(entry)
        return json_answer({"name": "Fear and Greed Index", "data": data,
                            "metadata": {"error": None}})

    @staticmethod
    def _date(stamp: int, date_format: str) -> str:
        text = iso_s(stamp)[:10]
        year, month, day = text.split("-")
        if date_format == "us":
            return f"{month}-{day}-{year}"
        if date_format == "world":
            return f"{day}-{month}-{year}"
        if date_format in ("cn", "kr"):
            return text
        return str(stamp)


AGGREGATORS: tuple[type[ProviderApp], ...] = (CoinGecko, CoinPaprika, CryptoCompare, CoinCap,
                                              AlternativeMe)
