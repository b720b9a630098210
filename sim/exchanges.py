"""The six exchanges: Binance, Coinbase Exchange, Kraken, OKX, KuCoin and Bybit.

Each class reads like the provider's reference (shared/reference/provider-apis.md): its symbol
form, its endpoints with their documented weights, its number formats, its candle column order
and sort, and the exact bodies it sends for an unknown symbol, a rate limit and a ban.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from functools import partial
from typing import Any

from . import listings
from .limits import BanRule, SlidingWindow, TokenBucket, Verdict, ceil_seconds
from .market import DAY, HOUR, MINUTE
from .server import ProviderApp, Refusal, Request, Response, Route, json_answer, text_answer
from .venue import EPOCH_MONDAY, VenueProfile, VenueView, grid_windows, month_windows
from .wire import iso_ms, ms, padded, parse_time, price_decimals, trimmed

MONTH = "month"     # marker for calendar-month intervals


def _int(value: str | None, default: int) -> int | None:
    """An integer parameter, the default when absent, None when it is not a number."""
    if value is None or value == "":
        return default
    try:
        return int(float(value))
    except ValueError:
        return None


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _windows(step: int | str, now: float, limit: int, *, start: float | None = None,
             end: float | None = None, offset: int = 0, shift_hours: int = 0,
             earliest_first: bool = False) -> list[tuple[int, int]]:
    if step == MONTH:
        return month_windows(now, limit, start=start, end=end, shift_hours=shift_hours,
                             earliest_first=earliest_first)
    return grid_windows(int(step), now, limit, start=start, end=end, offset=offset,
                        earliest_first=earliest_first)


def _quantity(usd: float, price: float) -> float:
    return usd / price if price > 0 else 0.0


class Exchange(ProviderApp):
    """Shared by the exchanges: a venue profile and the symbol -> ticker map."""
    profile: VenueProfile
    pairs: dict[str, str] = {}      # exchange symbol -> ticker

    def view(self, req: Request) -> VenueView:
        return VenueView(self.market, self.profile, req.now, req.price_factor, req.fixed_price,
                         req.usdt_usd)

    def ticker_of(self, symbol: str | None) -> str | None:
        return self.pairs.get(symbol or "")


# ============================================================================ Binance

BINANCE_SYMBOL = re.compile(r"[A-Z0-9\-_.]{1,20}\Z")
BINANCE_SYMBOLS = re.compile(r'\[("[A-Z0-9\-_.]{1,20}"(,"[A-Z0-9\-_.]{1,20}")*)?\]\Z')
BINANCE_SYMBOLS_RANGE = r'^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$'
BINANCE_INTERVALS: dict[str, int | str] = {
    "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
    "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": DAY, "3d": 3 * DAY,
    "1w": 7 * DAY, "1M": MONTH}


def _binance_window(seconds: float) -> str:
    for unit, size in (("DAY", 86400), ("HOUR", 3600), ("MINUTE", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} SECOND"


class Binance(Exchange):
    """Binance spot `/api/v3`: USDT pairs, numbers as 8-decimal strings, weights per endpoint,
    429 -1003 with Retry-After, and a 418 ban for clients that keep going."""
    name = "binance"
    env_name = "BINANCE"
    latency = 0.025
    ban_seconds = 120.0
    required_fields = frozenset({"price", "lastPrice"})
    profile = VenueProfile(offset_bps=1.0, spread_bps=0.2, volume_share=0.30, trade_usd=650,
                           quote="USDT")
    pairs = listings.BINANCE

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/api/v3/ping", lambda req: json_answer({}), 1),
            Route("GET", "/api/v3/time", lambda req: json_answer({"serverTime": ms(req.now)}), 1),
            Route("GET", "/api/v3/exchangeInfo", self.exchange_info, 20),
            Route("GET", "/api/v3/ticker/price", self.ticker_price, self.price_weight),
            Route("GET", "/api/v3/ticker/24hr", self.ticker_24hr, self.day_weight),
            Route("GET", "/api/v3/klines", self.klines, 2),
        ]

    def default_limit(self):
        # 6000 weight/min; one 429 and five more over-limit requests, then a 2-minute 418 ban.
        return SlidingWindow(6000, 60, count_rejected=True), BanRule(strikes=6, seconds=120)

    # -- weights (documented) -----------------------------------------------------------------
    @staticmethod
    def _count(req: Request) -> int | None:
        """How many symbols a request names (None = all)."""
        if req.has("symbol"):
            return 1
        raw = req.arg("symbols")
        if raw is None:
            return None
        return raw.count(",") + 1

    def price_weight(self, req: Request) -> int:
        return 2 if req.has("symbol") else 4

    def day_weight(self, req: Request) -> int:
        count = self._count(req)
        if count is None or count > 100:
            return 80
        return 2 if count <= 20 else 40

    # -- answers ------------------------------------------------------------------------------
    @staticmethod
    def error(code: int, msg: str, status: int = 400) -> Response:
        return json_answer({"code": code, "msg": msg}, status)

    @staticmethod
    def amount(value: float, decimals: int | None = None) -> str:
        """Rounded to the tick (prices) or 8 decimals (sizes), always written with 8."""
        if decimals is None:
            decimals = price_decimals(abs(value))
        return padded(round(value, decimals), 8)

    def rate_limited(self, req: Request, refusal: Refusal) -> Response:
        limit = refusal.verdict.limit if refusal.verdict else 6000
        window = _binance_window(refusal.verdict.window if refusal.verdict else 60)
        msg = (f"Too much request weight used; current limit is {int(limit)} request weight "
               f"per {window}. Please use WebSocket Streams for live updates to avoid polling "
               "the API.")
        headers = {"Retry-After": str(ceil_seconds(refusal.retry_after or 60))}
        return json_answer({"code": -1003, "msg": msg}, 429, headers, rate_limited=True)

    def banned(self, req: Request, refusal: Refusal) -> Response:
        msg = (f"Way too much request weight used; IP banned until {ms(refusal.banned_until)}. "
               "Please use WebSocket Streams for live updates to avoid bans.")
        headers = {"Retry-After": str(ceil_seconds(refusal.retry_after or self.ban_seconds))}
        return json_answer({"code": -1003, "msg": msg}, 418, headers, rate_limited=True)

    def limit_headers(self, req: Request, verdict: Verdict | None) -> dict[str, str]:
        used = int(verdict.used) if verdict else 0
        return {"x-mbx-used-weight": str(used), "x-mbx-used-weight-1m": str(used)}

    def not_found(self, req: Request) -> Response:
        return text_answer("", 404, "text/html")

    def _symbols(self, req: Request) -> tuple[list[str] | None, Response | None]:
        """The symbols a request names (None = all), or the error Binance answers with."""
        if req.has("symbol") and req.has("symbols"):
            return None, self.error(-1128, "Combination of optional parameters invalid.")
        if req.has("symbol"):
            symbol = req.arg("symbol") or ""
            if not BINANCE_SYMBOL.match(symbol):
                return None, self.error(-1100, "Illegal characters found in parameter 'symbol'; "
                                        "legal range is '^[A-Z0-9-_.]{1,20}$'.")
            return [symbol], None
        if req.has("symbols"):
            raw = req.arg("symbols") or ""
            if not BINANCE_SYMBOLS.match(raw):
                return None, self.error(-1100, "Illegal characters found in parameter 'symbols'; "
                                        f"legal range is '{BINANCE_SYMBOLS_RANGE}'.")
            symbols = json.loads(raw)
            if not symbols:
                return None, self.error(-1102, "Mandatory parameter 'symbols' was not sent, was "
                                        "empty/null, or malformed.")
            return symbols, None
        return None, None

    def _resolve(self, req: Request) -> tuple[list[tuple[str, str]] | None, Response | None, bool]:
        """[(symbol, ticker)], or an error; the flag says whether one object (not a list)."""
        symbols, error = self._symbols(req)
        if error:
            return None, error, False
        if symbols is None:
            return [(s, t) for s, t in self.pairs.items()], None, False
        if any(s not in self.pairs for s in symbols):
            return None, self.error(-1121, "Invalid symbol."), False
        return [(s, self.pairs[s]) for s in symbols], None, req.has("symbol")

    def exchange_info(self, req: Request) -> Response:
        symbols = [{"symbol": s, "status": "TRADING", "baseAsset": t, "baseAssetPrecision": 8,
                    "quoteAsset": "USDT", "quotePrecision": 8, "quoteAssetPrecision": 8,
                    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "isSpotTradingAllowed": True,
                    "permissions": [], "permissionSets": [["SPOT"]]}
                   for s, t in self.pairs.items()]
        return json_answer({
            "timezone": "UTC", "serverTime": ms(req.now),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
                 "limit": 61000}],
            "exchangeFilters": [], "symbols": symbols})

    def ticker_price(self, req: Request) -> Response:
        pairs, error, single = self._resolve(req)
        if error:
            return error
        view = self.view(req)
        items = [{"symbol": s, "price": self.amount(view.last(t))} for s, t in pairs]
        return json_answer(items[0] if single else items)

    def ticker_24hr(self, req: Request) -> Response:
        pairs, error, single = self._resolve(req)
        if error:
            return error
        kind = (req.arg("type") or "FULL").upper()
        if kind not in ("FULL", "MINI"):
            return self.error(-1100, "Illegal characters found in parameter 'type'; legal range "
                              "is 'FULL, MINI'.")
        view = self.view(req)
        items = [self._day_stats(view, s, t, kind == "MINI") for s, t in pairs]
        return json_answer(items[0] if single else items)

    def _day_stats(self, view: VenueView, symbol: str, ticker: str, mini: bool) -> dict:
        day = view.window(ticker)
        last = day.close
        d = price_decimals(abs(last))
        p = partial(self.amount, decimals=d)
        q = partial(padded, decimals=8)
        count = view.trades(day)
        last_id = view.trade_id(ticker)
        close_time = ms(view.t)
        out: dict[str, Any] = {"symbol": symbol}
        if not mini:
            bid, ask = view.book(ticker)
            change = last - day.open
            out.update({
                "priceChange": p(change),
                "priceChangePercent": f"{change / day.open * 100:.3f}" if day.open else "0.000",
                "weightedAvgPrice": p(day.quote_volume / day.volume if day.volume else last),
                "prevClosePrice": p(view.price_at(ticker, view.t - DAY - 1)),
                "lastPrice": p(last),
                "lastQty": q(_quantity(self.profile.trade_usd, last)),
                "bidPrice": p(bid), "bidQty": q(_quantity(50_000, bid)),
                "askPrice": p(ask), "askQty": q(_quantity(40_000, ask)),
            })
        else:
            out["lastPrice"] = p(last)
        out.update({
            "openPrice": p(day.open), "highPrice": p(day.high), "lowPrice": p(day.low),
            "volume": q(day.volume), "quoteVolume": q(day.quote_volume),
            "openTime": close_time - DAY * 1000, "closeTime": close_time,
            "firstId": last_id - count + 1, "lastId": last_id, "count": count,
        })
        if mini:
            out = {k: out[k] for k in ("symbol", "openPrice", "highPrice", "lowPrice",
                                       "lastPrice", "volume", "quoteVolume", "openTime",
                                       "closeTime", "firstId", "lastId", "count")}
        return out

    def klines(self, req: Request) -> Response:
        symbol = req.arg("symbol")
        if not symbol:
            return self.error(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, "
                              "or malformed.")
        if not BINANCE_SYMBOL.match(symbol):
            return self.error(-1100, "Illegal characters found in parameter 'symbol'; legal "
                              "range is '^[A-Z0-9-_.]{1,20}$'.")
        interval = req.arg("interval")
        if not interval:
            return self.error(-1102, "Mandatory parameter 'interval' was not sent, was "
                              "empty/null, or malformed.")
        step = BINANCE_INTERVALS.get(interval)
        if step is None:
            return self.error(-1120, "Invalid interval.")
        ticker = self.ticker_of(symbol)
        if ticker is None:
            return self.error(-1121, "Invalid symbol.")
        limit = _int(req.arg("limit"), 500)
        if limit is None or limit < 1:
            return self.error(-1100, "Illegal characters found in parameter 'limit'; legal "
                              "range is '^[0-9]{1,20}$'.")
        start, end = parse_time(req.arg("startTime")), parse_time(req.arg("endTime"))
        view = self.view(req)
        windows = _windows(step, view.t, _clamp(limit, 1, 1000), start=start, end=end,
                           offset=EPOCH_MONDAY if interval == "1w" else 0,
                           earliest_first=start is not None)
        rows = []
        bounds = dict(windows)
        for opened, bar in view.candles(ticker, windows):
            d = price_decimals(abs(bar.close))
            taker = 0.45 + 0.1 * ((int(opened) // 60) % 7) / 6
            rows.append([
                ms(opened), self.amount(bar.open, d), self.amount(bar.high, d),
                self.amount(bar.low, d), self.amount(bar.close, d), padded(bar.volume, 8),
                ms(bounds[opened]) - 1,
                padded(bar.quote_volume, 8), view.trades(bar), padded(bar.volume * taker, 8),
                padded(bar.quote_volume * taker, 8), "0"])
        return json_answer(rows)


# ============================================================================ Coinbase Exchange

COINBASE_GRANULARITIES = (60, 300, 900, 3600, 21600, 86400)


class Coinbase(Exchange):
    """Coinbase Exchange: real USD products, every number a string except in candles, which are
    [time, low, high, open, close, volume] numbers, newest first, at most 300."""
    name = "coinbase"
    env_name = "COINBASE"
    latency = 0.05
    server_header = "cloudflare"
    required_fields = frozenset({"price", "last", "open"})
    profile = VenueProfile(offset_bps=-1.5, spread_bps=0.5, volume_share=0.06, trade_usd=1500)
    pairs = listings.COINBASE

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/time", self.time),
            Route("GET", "/products", self.products),
            Route("GET", "/products/{product_id}", self.product),
            Route("GET", "/products/{product_id}/ticker", self.ticker),
            Route("GET", "/products/{product_id}/stats", self.stats),
            Route("GET", "/products/{product_id}/candles", self.candles),
        ]

    def default_limit(self):
        return TokenBucket(rate=10, burst=15), None

    def rate_limited(self, req: Request, refusal: Refusal) -> Response:
        return json_answer({"message": "Public rate limit exceeded"}, 429, rate_limited=True)

    def not_found(self, req: Request) -> Response:
        return json_answer({"message": "NotFound"}, 404)

    def _product(self, req: Request) -> str | None:
        return self.ticker_of(req.path_params.get("product_id"))

    @staticmethod
    def _decimals(price: float) -> int:
        return min(8, max(2, price_decimals(abs(price), 8)))

    def time(self, req: Request) -> Response:
        return json_answer({"iso": iso_ms(req.now), "epoch": round(req.now, 3)})

    def _product_info(self, product: str, ticker: str) -> dict:
        increment = 10 ** -self._decimals(self.market.economics(ticker).price)
        return {"id": product, "base_currency": ticker, "quote_currency": "USD",
                "quote_increment": f"{increment:.10f}".rstrip("0"),
                "base_increment": "0.00000001", "display_name": product.replace("-", "/"),
                "min_market_funds": "1", "margin_enabled": False, "post_only": False,
                "limit_only": False, "cancel_only": False, "status": "online",
                "status_message": "", "trading_disabled": False, "fx_stablecoin": False,
                "auction_mode": False}

    def products(self, req: Request) -> Response:
        return json_answer([self._product_info(p, t) for p, t in self.pairs.items()])

    def product(self, req: Request) -> Response:
        ticker = self._product(req)
        if ticker is None:
            return self.not_found(req)
        return json_answer(self._product_info(req.path_params["product_id"], ticker))

    def ticker(self, req: Request) -> Response:
        ticker = self._product(req)
        if ticker is None:
            return self.not_found(req)
        view = self.view(req)
        day = view.window(ticker)
        bid, ask = view.book(ticker)
        d = self._decimals(day.close)
        return json_answer({
            "ask": padded(ask, d), "bid": padded(bid, d), "volume": padded(day.volume, 8),
            "trade_id": view.trade_id(ticker), "price": padded(day.close, d),
            "size": padded(_quantity(self.profile.trade_usd, day.close), 8),
            "time": iso_ms(view.t), "rfq_volume": "0.000000", "conversions_volume": "0.00"})

    def stats(self, req: Request) -> Response:
        ticker = self._product(req)
        if ticker is None:
            return self.not_found(req)
        view = self.view(req)
        day = view.window(ticker)
        month = view.window(ticker, 30 * DAY)
        d = self._decimals(day.close)
        return json_answer({"open": padded(day.open, d), "high": padded(day.high, d),
                            "low": padded(day.low, d), "last": padded(day.close, d),
                            "volume": padded(day.volume, 8),
                            "volume_30day": padded(month.volume, 8)})

    def candles(self, req: Request) -> Response:
        ticker = self._product(req)
        if ticker is None:
            return self.not_found(req)
        granularity = _int(req.arg("granularity"), 60)
        if granularity not in COINBASE_GRANULARITIES:
            return json_answer({"message": "Unsupported granularity"}, 400)
        start, end = parse_time(req.arg("start")), parse_time(req.arg("end"))
        if (req.arg("start") and start is None) or (req.arg("end") and end is None):
            return json_answer({"message": "Invalid start or end time"}, 400)
        view = self.view(req)
        if start is not None and end is not None:
            if end < start:
                return json_answer({"message": "start must be before end"}, 400)
            if (end - start) / granularity > 300:
                return json_answer({"message": "granularity too small for the requested time "
                                    "range. Count of aggregations requested exceeds 300"}, 400)
            windows = grid_windows(granularity, view.t, 301, start=start, end=end)
        else:
            windows = grid_windows(granularity, view.t, 300)
        rows = []
        for opened, bar in reversed(view.candles(ticker, windows)):
            d = self._decimals(bar.close)
            rows.append([int(opened), round(bar.low, d), round(bar.high, d), round(bar.open, d),
                         round(bar.close, d), round(bar.volume, 8)])
        return json_answer(rows)


# ============================================================================ Kraken

KRAKEN_INTERVALS = {1, 5, 15, 30, 60, 240, 1440, 10080, 21600}


class Kraken(Exchange):
    """Kraken public REST: every error inside HTTP 200, answers keyed by canonical pair names,
    one unknown pair fails a whole batch, OHLC rows carry vwap before volume."""
    name = "kraken"
    env_name = "KRAKEN"
    latency = 0.06
    server_header = "cloudflare"
    required_fields = frozenset({"c", "result"})
    profile = VenueProfile(offset_bps=2.5, spread_bps=1.0, volume_share=0.03, trade_usd=900)
    altnames = listings.KRAKEN               # request altname -> KrakenPair

    def __init__(self, market, **context):
        super().__init__(market, **context)
        self.aliases: dict[str, str] = {}        # anything a client may send -> altname
        for altname, pair in self.altnames.items():
            base = altname[:-3]
            for alias in (altname, pair.key, f"{pair.ticker}USD", f"{base}/USD",
                          f"{pair.ticker}/USD"):
                self.aliases.setdefault(alias, altname)

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/0/public/Time", self.time),
            Route("GET", "/0/public/AssetPairs", self.asset_pairs),
            Route("GET", "/0/public/Ticker", self.ticker),
            Route("GET", "/0/public/OHLC", self.ohlc),
        ]

    def default_limit(self):
        return TokenBucket(rate=1, burst=15), None

    @staticmethod
    def error(*messages: str) -> Response:
        return json_answer({"error": list(messages)})

    def rate_limited(self, req: Request, refusal: Refusal) -> Response:
        return json_answer({"error": ["EAPI:Rate limit exceeded"]}, rate_limited=True)

    def banned(self, req: Request, refusal: Refusal) -> Response:
        until = int(refusal.banned_until or req.now + (refusal.retry_after or self.ban_seconds))
        return json_answer({"error": [f"EService:Throttled: {until}"]}, rate_limited=True)

    def not_found(self, req: Request) -> Response:
        return json_answer({"error": ["EGeneral:Unknown method"]}, 404)

    @staticmethod
    def _p(value: float) -> str:
        """Rounded to the pair's tick, written with at least 5 decimals: "84036.10000"."""
        decimals = price_decimals(abs(value), 10)
        return padded(round(value, decimals), max(5, decimals))

    def _pairs(self, req: Request) -> tuple[list[str] | None, Response | None]:
        raw = req.arg("pair")
        if raw is None or raw == "":
            return list(self.altnames), None
        altnames = []
        for name in raw.split(","):
            altname = self.aliases.get(name.strip().upper())
            if altname is None:
                return None, self.error("EQuery:Unknown asset pair")
            altnames.append(altname)
        return altnames, None

    def time(self, req: Request) -> Response:
        stamp = datetime.fromtimestamp(int(req.now), tz=timezone.utc)
        return json_answer({"error": [], "result": {
            "unixtime": int(req.now), "rfc1123": stamp.strftime("%a, %d %b %y %H:%M:%S +0000")}})

    def asset_pairs(self, req: Request) -> Response:
        altnames, error = self._pairs(req)
        if error:
            return error
        result = {}
        for altname in altnames:
            pair = self.altnames[altname]
            result[pair.key] = {
                "altname": altname, "wsname": f"{altname[:-3]}/USD", "aclass_base": "currency",
                "base": pair.base, "aclass_quote": "currency", "quote": "ZUSD",
                "pair_decimals": price_decimals(self.market.economics(pair.ticker).price, 10),
                "lot_decimals": 8, "status": "online"}
        return json_answer({"error": [], "result": result})

    def ticker(self, req: Request) -> Response:
        altnames, error = self._pairs(req)
        if error:
            return error
        view = self.view(req)
        today_start = (view.t // DAY) * DAY
        result = {}
        for altname in altnames:
            ticker = self.altnames[altname].ticker
            day = view.window(ticker)
            today = view.since(ticker, today_start)
            bid, ask = view.book(ticker)
            last = day.close
            result[self.altnames[altname].key] = {
                "a": [self._p(ask), "1", "1.000"], "b": [self._p(bid), "2", "2.000"],
                "c": [self._p(last), padded(_quantity(self.profile.trade_usd, last), 8)],
                "v": [padded(today.volume, 8), padded(day.volume, 8)],
                "p": [self._p(today.quote_volume / today.volume if today.volume else last),
                      self._p(day.quote_volume / day.volume if day.volume else last)],
                "t": [view.trades(today), view.trades(day)],
                "l": [self._p(today.low), self._p(day.low)],
                "h": [self._p(today.high), self._p(day.high)],
                "o": self._p(today.open)}
        return json_answer({"error": [], "result": result})

    def ohlc(self, req: Request) -> Response:
        altnames, error = self._pairs(req)
        if error:
            return error
        if not req.arg("pair"):
            return self.error("EGeneral:Invalid arguments")
        minutes = _int(req.arg("interval"), 1)
        if minutes not in KRAKEN_INTERVALS:
            return self.error("EGeneral:Invalid arguments")
        since = parse_time(req.arg("since"))
        view = self.view(req)
        step = minutes * MINUTE
        pair = self.altnames[altnames[0]]
        candles = view.candles(pair.ticker, grid_windows(step, view.t, 720))
        rows = []
        for index, (opened, bar) in enumerate(candles):
            if since is not None and opened <= since and index < len(candles) - 1:
                continue
            vwap = bar.quote_volume / bar.volume if bar.volume else bar.close
            rows.append([int(opened), self._p(bar.open), self._p(bar.high), self._p(bar.low),
                         self._p(bar.close), self._p(vwap), padded(bar.volume, 8),
                         view.trades(bar)])
        last = int(candles[-2][0]) if len(candles) > 1 else int(candles[-1][0])
        return json_answer({"error": [], "result": {pair.key: rows, "last": last}})


# ============================================================================ OKX

OKX_HK = 8      # OKX's default bars of 6H and longer are aligned to Hong Kong time (UTC+8)
OKX_BARS: dict[str, tuple[int | str, bool]] = {
    "1m": (60, False), "3m": (180, False), "5m": (300, False), "15m": (900, False),
    "30m": (1800, False), "1H": (3600, False), "2H": (7200, False), "4H": (14400, False),
    "6H": (21600, True), "12H": (43200, True), "1D": (DAY, True), "2D": (2 * DAY, True),
    "3D": (3 * DAY, True), "1W": (7 * DAY, True), "1M": (MONTH, True),
    "6Hutc": (21600, False), "12Hutc": (43200, False), "1Dutc": (DAY, False),
    "2Dutc": (2 * DAY, False), "3Dutc": (3 * DAY, False), "1Wutc": (7 * DAY, False),
    "1Mutc": (MONTH, False)}


class OKX(Exchange):
    """OKX v5: `{"code","msg","data"}` envelopes, strings everywhere, 51001 for an unknown
    instrument under HTTP 200, candles newest first with a `confirm` flag."""
    name = "okx"
    env_name = "OKX"
    latency = 0.035
    required_fields = frozenset({"last"})
    profile = VenueProfile(offset_bps=0.5, spread_bps=0.3, volume_share=0.08, trade_usd=500,
                           quote="USDT")
    pairs = listings.OKX

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/api/v5/public/time", lambda req: self.ok([{"ts": str(ms(req.now))}])),
            Route("GET", "/api/v5/market/ticker", self.ticker),
            Route("GET", "/api/v5/market/tickers", self.tickers),
            Route("GET", "/api/v5/market/candles", self.candles),
        ]

    def default_limit(self):
        return SlidingWindow(20, 2), None

    @staticmethod
    def ok(data: Any) -> Response:
        return json_answer({"code": "0", "msg": "", "data": data})

    @staticmethod
    def error(code: str, msg: str, status: int = 200) -> Response:
        return json_answer({"code": code, "msg": msg, "data": []}, status)

    def rate_limited(self, req: Request, refusal: Refusal) -> Response:
        return json_answer({"msg": "Too Many Requests", "code": "50011"}, 429, rate_limited=True)

    def not_found(self, req: Request) -> Response:
        return json_answer({"msg": "", "code": "404"}, 404)

    def _instrument(self, req: Request) -> tuple[str | None, Response | None]:
        inst = req.arg("instId")
        if not inst:
            return None, self.error("50014", "Parameter instId can not be empty.", 400)
        ticker = self.ticker_of(inst)
        if ticker is None:
            return None, self.error("51001", "Instrument ID, Instrument ID code, or Spread ID "
                                    "doesn't exist.")
        return ticker, None

    def _item(self, view: VenueView, inst: str, ticker: str) -> dict:
        day = view.window(ticker)
        bid, ask = view.book(ticker)
        d = price_decimals(abs(day.close), 10)
        p = partial(trimmed, decimals=d)
        utc0 = (view.t // DAY) * DAY
        utc8 = utc0 - OKX_HK * HOUR + (DAY if view.t - utc0 >= (24 - OKX_HK) * HOUR else 0)
        return {
            "instType": "SPOT", "instId": inst, "last": p(day.close),
            "lastSz": trimmed(_quantity(self.profile.trade_usd, day.close), 8),
            "askPx": p(ask), "askSz": trimmed(_quantity(30_000, ask), 8),
            "bidPx": p(bid), "bidSz": trimmed(_quantity(35_000, bid), 8),
            "open24h": p(day.open), "high24h": p(day.high), "low24h": p(day.low),
            "volCcy24h": trimmed(day.quote_volume, 4), "vol24h": trimmed(day.volume, 8),
            "ts": str(ms(view.t)), "sodUtc0": p(view.price_at(ticker, utc0)),
            "sodUtc8": p(view.price_at(ticker, utc8))}

    def ticker(self, req: Request) -> Response:
        ticker, error = self._instrument(req)
        if error:
            return error
        return self.ok([self._item(self.view(req), req.arg("instId"), ticker)])

    def tickers(self, req: Request) -> Response:
        inst_type = req.arg("instType")
        if not inst_type:
            return self.error("50014", "Parameter instType can not be empty.", 400)
        if inst_type not in ("SPOT", "SWAP", "FUTURES", "OPTION", "MARGIN"):
            return self.error("51000", "Parameter instType error", 400)
        if inst_type != "SPOT":
            return self.ok([])
        view = self.view(req)
        return self.ok([self._item(view, inst, t) for inst, t in self.pairs.items()])

    def candles(self, req: Request) -> Response:
        ticker, error = self._instrument(req)
        if error:
            return error
        bar_name = req.arg("bar") or "1m"
        if bar_name not in OKX_BARS:
            return self.error("51000", "Parameter bar error", 400)
        limit = _int(req.arg("limit"), 100)
        if limit is None or limit < 1:
            return self.error("51000", "Parameter limit error", 400)
        step, hong_kong = OKX_BARS[bar_name]
        after, before = parse_time(req.arg("after")), parse_time(req.arg("before"))
        view = self.view(req)
        offset = 0
        if step != MONTH:
            offset = (EPOCH_MONDAY if step == 7 * DAY else 0) - (OKX_HK * HOUR if hong_kong else 0)
        windows = _windows(step, view.t, _clamp(limit, 1, 300),
                           end=None if after is None else after - 1,
                           start=None if before is None else before + 1, offset=offset,
                           shift_hours=OKX_HK if hong_kong else 0)
        closes = dict(windows)
        rows = []
        for opened, bar in reversed(view.candles(ticker, windows)):
            d = price_decimals(abs(bar.close), 10)
            closed = closes[opened] <= view.t
            rows.append([str(ms(opened)), trimmed(bar.open, d), trimmed(bar.high, d),
                         trimmed(bar.low, d), trimmed(bar.close, d), trimmed(bar.volume, 8),
                         trimmed(bar.quote_volume, 4), trimmed(bar.quote_volume, 4),
                         "1" if closed else "0"])
        return self.ok(rows)


# ============================================================================ KuCoin

KUCOIN_TYPES: dict[str, int | str] = {
    "1min": 60, "3min": 180, "5min": 300, "15min": 900, "30min": 1800, "1hour": 3600,
    "2hour": 7200, "4hour": 14400, "6hour": 21600, "8hour": 28800, "12hour": 43200,
    "1day": DAY, "1week": 7 * DAY, "1month": MONTH}


class KuCoin(Exchange):
    """KuCoin spot: `{"code":"200000","data":...}`, `data: null` for an unknown symbol,
    changeRate as a fraction, candles [t, open, CLOSE, high, low, vol, turnover] newest first,
    weights against 2000 per 30 s with gw-ratelimit-* headers on every answer."""
    name = "kucoin"
    env_name = "KUCOIN"
    latency = 0.045
    server_header = "cloudflare"
    required_fields = frozenset({"price", "last"})
    profile = VenueProfile(offset_bps=-2.0, spread_bps=1.0, volume_share=0.04, trade_usd=400,
                           quote="USDT")
    pairs = listings.KUCOIN

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/api/v1/timestamp",
                  lambda req: json_answer({"code": "200000", "msg": "success",
                                           "data": ms(req.now)}), 3),
            Route("GET", "/api/v1/market/orderbook/level1", self.level1, 2),
            Route("GET", "/api/v1/market/stats", self.stats, 15),
            Route("GET", "/api/v1/market/allTickers", self.all_tickers, 15),
            Route("GET", "/api/v1/market/candles", self.candles, 3),
            Route("GET", "/api/v1/prices", self.prices, 3),
        ]

    def default_limit(self):
        return SlidingWindow(2000, 30), None

    @staticmethod
    def ok(data: Any) -> Response:
        return json_answer({"code": "200000", "data": data})

    @staticmethod
    def error(code: str, msg: str, status: int = 400) -> Response:
        return json_answer({"code": code, "msg": msg}, status)

    def rate_limited(self, req: Request, refusal: Refusal) -> Response:
        headers = {}
        if refusal.verdict is None and refusal.retry_after is not None:
            headers["gw-ratelimit-reset"] = str(int(refusal.retry_after * 1000))
        return json_answer({"code": "429000", "msg": "Too Many Requests"}, 429, headers,
                           rate_limited=True)

    def limit_headers(self, req: Request, verdict: Verdict | None) -> dict[str, str]:
        if verdict is None:
            return {}
        reset = verdict.retry_after if not verdict.allowed else verdict.reset_after
        return {"gw-ratelimit-limit": str(int(verdict.limit)),
                "gw-ratelimit-remaining": str(int(verdict.remaining)),
                "gw-ratelimit-reset": str(int(reset * 1000))}

    def not_found(self, req: Request) -> Response:
        return json_answer({"code": "404", "msg": "Not Found", "retry": False,
                            "success": False}, 404)

    def _symbol(self, req: Request) -> tuple[str | None, Response | None]:
        symbol = req.arg("symbol")
        if not symbol:
            return None, self.error("400100", "Required parameter 'symbol' is missing.")
        ticker = self.ticker_of(symbol)
        if ticker is None:
            return None, self.ok(None)
        return ticker, None

    def _stats(self, view: VenueView, symbol: str, ticker: str) -> dict:
        day = view.window(ticker)
        bid, ask = view.book(ticker)
        d = price_decimals(abs(day.close), 10)
        p = partial(trimmed, decimals=d)
        change = day.close - day.open
        return {
            "symbol": symbol, "buy": p(bid), "sell": p(ask),
            "changeRate": trimmed(change / day.open if day.open else 0.0, 4),
            "changePrice": p(change), "high": p(day.high), "low": p(day.low),
            "vol": trimmed(day.volume, 8), "volValue": trimmed(day.quote_volume, 8),
            "last": p(day.close),
            "averagePrice": p(view.price_at(ticker, view.t - DAY / 2)),
            "takerFeeRate": "0.001", "makerFeeRate": "0.001", "takerCoefficient": "1",
            "makerCoefficient": "1"}

    def level1(self, req: Request) -> Response:
        ticker, answer = self._symbol(req)
        if answer:
            return answer
        view = self.view(req)
        last = view.last(ticker)
        bid, ask = view.book(ticker)
        d = price_decimals(abs(last), 10)
        return self.ok({
            "time": ms(view.t), "sequence": str(view.trade_id(ticker) * 3),
            "price": trimmed(last, d), "size": trimmed(_quantity(self.profile.trade_usd, last), 8),
            "bestBid": trimmed(bid, d), "bestBidSize": trimmed(_quantity(20_000, bid), 8),
            "bestAsk": trimmed(ask, d), "bestAskSize": trimmed(_quantity(25_000, ask), 8)})

    def stats(self, req: Request) -> Response:
        ticker, answer = self._symbol(req)
        if answer:
            return answer
        view = self.view(req)
        return self.ok({"time": ms(view.t), **self._stats(view, req.arg("symbol"), ticker)})

    def all_tickers(self, req: Request) -> Response:
        view = self.view(req)
        snapshot = (int(view.t) // 2) * 2
        items = []
        for symbol, ticker in self.pairs.items():
            item = self._stats(view, symbol, ticker)
            bid_size = trimmed(_quantity(20_000, view.last(ticker)), 8)
            item = {"symbol": symbol, "symbolName": symbol, "buy": item["buy"],
                    "bestBidSize": bid_size, "sell": item["sell"], "bestAskSize": bid_size,
                    **{k: item[k] for k in ("changeRate", "changePrice", "high", "low", "vol",
                                             "volValue", "last", "averagePrice",
                                             "takerFeeRate", "makerFeeRate",
                                             "takerCoefficient", "makerCoefficient")}}
            items.append(item)
        return self.ok({"time": snapshot * 1000, "ticker": items})

    def prices(self, req: Request) -> Response:
        view = self.view(req)
        wanted = req.arg("currencies")
        listed = [*self.pairs.values(), "USDT"]
        tickers = ([t.strip().upper() for t in wanted.split(",") if t.strip()] if wanted
                   else listed)
        usd = (req.arg("base") or "USD").upper() == "USD"
        data = {t: f"{view.last(t) if usd else 0.0:.16f}" for t in tickers if t in listed}
        return self.ok(data)

    def candles(self, req: Request) -> Response:
        ticker, answer = self._symbol(req)
        if answer:
            return answer
        kind = req.arg("type")
        if kind not in KUCOIN_TYPES:
            return self.error("400100", "This type is not supported. Please check the type "
                              "parameter.")
        step = KUCOIN_TYPES[kind]
        start, end = parse_time(req.arg("startAt")), parse_time(req.arg("endAt"))
        if start == 0:
            start = None
        if end == 0:
            end = None
        view = self.view(req)
        windows = _windows(step, view.t, 1500, start=start, end=end,
                           offset=EPOCH_MONDAY if kind == "1week" else 0)
        rows = []
        for opened, bar in reversed(view.candles(ticker, windows)):
            d = price_decimals(abs(bar.close), 10)
            rows.append([str(int(opened)), trimmed(bar.open, d), trimmed(bar.close, d),
                         trimmed(bar.high, d), trimmed(bar.low, d), trimmed(bar.volume, 8),
                         trimmed(bar.quote_volume, 8)])
        return self.ok(rows)


# ============================================================================ Bybit

BYBIT_INTERVALS: dict[str, int | str] = {
    "1": 60, "3": 180, "5": 300, "15": 900, "30": 1800, "60": 3600, "120": 7200, "240": 14400,
    "360": 21600, "720": 43200, "D": DAY, "W": 7 * DAY, "M": MONTH}
BYBIT_CATEGORIES = ("spot", "linear", "inverse", "option")


class Bybit(Exchange):
    """Bybit v5: retCode envelopes under HTTP 200, price24hPcnt as a fraction, klines newest
    first; 600 requests per 5 s per IP, over it an HTTP 403 and a ten-minute ban."""
    name = "bybit"
    env_name = "BYBIT"
    latency = 0.04
    server_header = "openresty"
    ban_seconds = 600.0
    required_fields = frozenset({"lastPrice"})
    profile = VenueProfile(offset_bps=1.5, spread_bps=0.4, volume_share=0.07, trade_usd=550,
                           quote="USDT")
    pairs = listings.BYBIT

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v5/market/time", self.time),
            Route("GET", "/v5/market/tickers", self.tickers),
            Route("GET", "/v5/market/kline", self.kline),
        ]

    def default_limit(self):
        return SlidingWindow(600, 5), BanRule(strikes=0, seconds=600)

    @staticmethod
    def envelope(result: Any, now: float, code: int = 0, msg: str = "OK") -> Response:
        return json_answer({"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {},
                            "time": ms(now)})

    def error(self, req: Request, code: int, msg: str) -> Response:
        return self.envelope({}, req.now, code, msg)

    def rate_limited(self, req: Request, refusal: Refusal) -> Response:
        return text_answer("access too frequent", 403, rate_limited=True)

    def banned(self, req: Request, refusal: Refusal) -> Response:
        return self.rate_limited(req, refusal)

    def limit_headers(self, req: Request, verdict: Verdict | None) -> dict[str, str]:
        if verdict is None:
            return {}
        reset = verdict.retry_after if not verdict.allowed else verdict.reset_after
        return {"X-Bapi-Limit-Status": str(int(verdict.remaining)),
                "X-Bapi-Limit": str(int(verdict.limit)),
                "X-Bapi-Limit-Reset-Timestamp": str(ms(req.now + reset))}

    def not_found(self, req: Request) -> Response:
        return text_answer("404 page not found", 404)

    def time(self, req: Request) -> Response:
        return self.envelope({"timeSecond": str(int(req.now)),
                              "timeNano": str(int(req.now * 1e9))}, req.now)

    def _item(self, view: VenueView, symbol: str, ticker: str) -> dict:
        day = view.window(ticker)
        bid, ask = view.book(ticker)
        d = price_decimals(abs(day.close), 10)
        p = partial(trimmed, decimals=d)
        return {
            "symbol": symbol, "bid1Price": p(bid), "bid1Size": trimmed(_quantity(15_000, bid), 6),
            "ask1Price": p(ask), "ask1Size": trimmed(_quantity(12_000, ask), 6),
            "lastPrice": p(day.close), "prevPrice24h": p(day.open),
            "price24hPcnt": trimmed((day.close / day.open - 1) if day.open else 0.0, 4),
            "highPrice24h": p(day.high), "lowPrice24h": p(day.low),
            "turnover24h": trimmed(day.quote_volume, 8), "volume24h": trimmed(day.volume, 8),
            "usdIndexPrice": trimmed(self.market.price(ticker, view.t), 8)}

    def tickers(self, req: Request) -> Response:
        category = req.arg("category")
        if category not in BYBIT_CATEGORIES:
            return self.error(req, 10001, "Illegal category")
        view = self.view(req)
        symbol = req.arg("symbol")
        listed_here = self.pairs if category in ("spot", "linear") else {}
        if symbol:
            if symbol not in listed_here:
                return self.error(req, 10001, "Not supported symbols")
            items = [self._item(view, symbol, listed_here[symbol])]
        else:
            items = [self._item(view, s, t) for s, t in listed_here.items()]
        return self.envelope({"category": category, "list": items}, req.now)

    def kline(self, req: Request) -> Response:
        category = req.arg("category") or "linear"
        if category not in BYBIT_CATEGORIES:
            return self.error(req, 10001, "Illegal category")
        symbol = req.arg("symbol")
        if not symbol:
            return self.error(req, 10001, "params error: symbol is empty")
        step = BYBIT_INTERVALS.get(req.arg("interval") or "")
        if step is None:
            return self.error(req, 10001, "Invalid period!")
        ticker = self.ticker_of(symbol) if category in ("spot", "linear") else None
        if ticker is None:
            return self.error(req, 10001, "Not supported symbols")
        limit = _int(req.arg("limit"), 200)
        if limit is None or limit < 1:
            return self.error(req, 10001, "params error: limit is invalid")
        start, end = parse_time(req.arg("start")), parse_time(req.arg("end"))
        view = self.view(req)
        windows = _windows(step, view.t, _clamp(limit, 1, 1000), start=start, end=end,
                           offset=EPOCH_MONDAY if step == 7 * DAY else 0)
        rows = []
        for opened, bar in reversed(view.candles(ticker, windows)):
            d = price_decimals(abs(bar.close), 10)
            rows.append([str(ms(opened)), trimmed(bar.open, d), trimmed(bar.high, d),
                         trimmed(bar.low, d), trimmed(bar.close, d), trimmed(bar.volume, 8),
                         trimmed(bar.quote_volume, 8)])
        return self.envelope({"category": category, "symbol": symbol, "list": rows}, req.now)


EXCHANGES: tuple[type[ProviderApp], ...] = (Binance, Coinbase, Kraken, OKX, KuCoin, Bybit)
