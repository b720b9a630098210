"""CryptoCompare legacy min-api (now CoinDesk Data): quotes, candles, the top list and news.

Its errors arrive as HTTP 200 with `"Response":"Error"`, so the body is always checked.
"""
from __future__ import annotations

import time
from typing import Any, Iterable

from .base import (
    KIND_CANDLES,
    KIND_NEWS,
    KIND_QUOTE,
    KIND_QUOTES,
    KIND_TOP,
    Candle,
    MalformedResponse,
    NewsItem,
    NotConfigured,
    Provider,
    Quote,
    RateLimit,
    RateLimited,
    TopCoin,
    UnknownSymbol,
    UpstreamError,
    ascending,
    collect_quotes,
    num,
    opt_num,
    price,
    usable,
)
from .coins import COINS

NAME = "cryptocompare"

ENDPOINTS: dict[str, str] = {
    "pricemultifull": "/data/pricemultifull",   # fsyms=BTC,ETH&tsyms=USD -> RAW.<SYM>.USD
    "histominute": "/data/v2/histominute",      # fsym&tsym&limit&aggregate; kept 7 days
    "histohour": "/data/v2/histohour",
    "histoday": "/data/v2/histoday",
    "top": "/data/top/mktcapfull",              # limit(10..100?)&tsym=USD -> Data[].CoinInfo, RAW
    "news": "/data/v2/news/",                   # lang=EN[&categories=BTC] -> Data[]
}

SYMBOLS: dict[str, str] = {c.ticker: c.ticker for c in COINS if c.cryptocompare}

# canonical interval -> (history endpoint, aggregate)
CANDLE_SERIES: dict[str, tuple[str, int]] = {
    "1m": ("histominute", 1), "5m": ("histominute", 5), "15m": ("histominute", 15),
    "30m": ("histominute", 30), "1h": ("histohour", 1), "4h": ("histohour", 4),
    "1d": ("histoday", 1), "1w": ("histoday", 7),
}

# Rate-limit counters in an error body name their windows; the longest one used up says how long
# waiting can take.
WINDOW_S: dict[str, float] = {"second": 1, "minute": 60, "hour": 3600, "day": 86400,
                              "month": 30 * 86400}

UNKNOWN_MARKERS = ("there is no data for the symbol", "market does not exist for this coin pair",
                   "there is no data for any of the tosymbols")
SUMMARY_CHARS = 300


def exhausted_window(rate_limit: Any) -> float | None:
    """Seconds of the longest window whose `calls_made` reached `max_calls`, if any."""
    if not isinstance(rate_limit, dict):
        return None
    made, cap = rate_limit.get("calls_made"), rate_limit.get("max_calls")
    if not isinstance(made, dict) or not isinstance(cap, dict):
        return None
    used_up = [secs for window, secs in WINDOW_S.items()
               if (opt_num(cap.get(window)) or 0) > 0
               and (opt_num(made.get(window)) or 0) >= opt_num(cap.get(window))]
    return max(used_up, default=None)


def check_error(body: Any, status: int = 200) -> None:
    """Raise the typed error for a `"Response":"Error"` body (HTTP 200 or 429 alike)."""
    if not isinstance(body, dict) or body.get("Response") != "Error":
        return
    message = str(body.get("Message") or "error without a message")[:200]
    low = message.lower()
    if status == 429 or str(body.get("Type")) == "99" or "rate limit" in low:
        cooldown = opt_num(body.get("Cooldown"))
        wait = cooldown if cooldown is not None and cooldown >= 0 else \
            exhausted_window(body.get("RateLimit"))
        raise RateLimited(NAME, message, retry_after=wait, status=status)
    if any(marker in low for marker in UNKNOWN_MARKERS):
        raise UnknownSymbol(NAME, message, status=status)
    if "api key" in low or "auth key" in low:
        raise NotConfigured(NAME, message, status=status)
    raise UpstreamError(NAME, message, status=status)


def parse_raw(raw: Any, ticker: str) -> Quote:
    """One `RAW.<SYM>.USD` object -> Quote."""
    if not isinstance(raw, dict):
        raise MalformedResponse(NAME, f"{ticker}: RAW.USD is not an object")
    return Quote(
        symbol=ticker, price=price(raw.get("PRICE"), NAME, f"{ticker} PRICE"), source=NAME,
        timestamp=opt_num(raw.get("LASTUPDATE")) or time.time(), quote_currency="USD",
        change_24h_pct=opt_num(raw.get("CHANGEPCT24HOUR")),
        volume_24h=opt_num(raw.get("VOLUME24HOURTO")),
        market_cap=opt_num(raw.get("MKTCAP")) or None)


def parse_pricemultifull(body: Any, tickers: Iterable[str]) -> dict[str, Quote]:
    """Quotes by ticker; a ticker without `RAW.<SYM>.USD` is left out, a malformed one skipped
    unless all are."""
    raw = body.get("RAW") if isinstance(body, dict) else None
    if not isinstance(raw, dict):
        raise MalformedResponse(NAME, "pricemultifull: RAW is missing")
    return collect_quotes(((t, raw[t]["USD"]) for t in tickers
                           if isinstance(raw.get(t), dict) and "USD" in raw[t]), parse_raw, NAME)


def parse_histo_row(row: Any) -> Candle:
    if not isinstance(row, dict):
        raise MalformedResponse(NAME, "histo row is not an object")
    o, h, lo, c = (price(row.get(k), NAME, f"histo {k}") for k in ("open", "high", "low", "close"))
    return Candle(timestamp=int(num(row.get("time"), NAME, "histo time")), open=o, high=h, low=lo,
                  close=c, volume=opt_num(row.get("volumefrom")) or 0.0)


def parse_histo(body: Any) -> list[Candle]:
    """`Data.Data[]` -> ascending candles; zero rows (before the coin traded) are dropped."""
    outer = body.get("Data") if isinstance(body, dict) else None
    rows = outer.get("Data") if isinstance(outer, dict) else None
    if not isinstance(rows, list):
        raise MalformedResponse(NAME, "histo: Data.Data is missing")
    return ascending(usable(rows, parse_histo_row, NAME, "histo"))


def parse_top_item(item: Any, rank: int) -> TopCoin:
    info = item.get("CoinInfo") if isinstance(item, dict) else None
    if not isinstance(info, dict) or not info.get("Name"):
        raise MalformedResponse(NAME, f"mktcapfull row {rank}: CoinInfo.Name is missing")
    symbol = str(info["Name"]).upper()
    per_currency = item.get("RAW")
    raw = per_currency.get("USD") if isinstance(per_currency, dict) else None
    if not isinstance(raw, dict):
        raise MalformedResponse(NAME, f"{symbol}: RAW.USD is missing")
    return TopCoin(
        rank=rank, symbol=symbol, name=str(info.get("FullName") or symbol),
        price=price(raw.get("PRICE"), NAME, f"{symbol} PRICE"),
        market_cap=num(raw.get("MKTCAP"), NAME, f"{symbol} MKTCAP"),
        change_24h_pct=opt_num(raw.get("CHANGEPCT24HOUR")),
        volume_24h=opt_num(raw.get("VOLUME24HOURTO")), source=NAME)


def parse_top(body: Any) -> list[TopCoin]:
    """`Data[]` in market-cap order; rank is the position (page 0)."""
    items = body.get("Data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise MalformedResponse(NAME, "mktcapfull: Data is missing")
    return usable(enumerate(items, 1), lambda pair: parse_top_item(pair[1], pair[0]), NAME,
                  "mktcapfull")


def summarize(text: Any, limit: int = SUMMARY_CHARS) -> str:
    """Whitespace-collapsed text cut at a word boundary near `limit` characters."""
    text = " ".join(str(text or "").split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:.") + "…"


def parse_news_item(item: Any) -> NewsItem:
    if not isinstance(item, dict) or not item.get("title") or not item.get("url"):
        raise MalformedResponse(NAME, "news item without title or url")
    source_info = item.get("source_info")
    publisher = source_info.get("name") if isinstance(source_info, dict) else None
    return NewsItem(
        title=" ".join(str(item["title"]).split()), url=str(item["url"]), source=NAME,
        published=num(item.get("published_on"), NAME, "news published_on"),
        summary=summarize(item.get("body")), publisher=str(publisher or item.get("source") or ""))


def parse_news(body: Any, limit: int) -> list[NewsItem]:
    """Up to `limit` articles, newest first as the API sends them; unusable ones are skipped."""
    items = body.get("Data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise MalformedResponse(NAME, "news: Data is missing")
    return usable(items, parse_news_item, NAME, "news", allow_empty=True)[:limit]


class CryptoCompare(Provider):
    name = NAME
    label = "CryptoCompare"
    env_prefix = "CRYPTOCOMPARE"
    default_base_url = "https://min-api.cryptocompare.com"
    rate_limit = RateLimit(300, 60.0, note="UNCONFIRMED free quota; one fixture's max_calls: "
                           "20/s, 300/min, 3000/h, 10000/day, 75000/month")
    symbols = SYMBOLS
    intervals = {iv: endpoint for iv, (endpoint, _) in CANDLE_SERIES.items()}
    capabilities = frozenset({"quote", "quotes", "candles", "top", "news"})
    venue_kind = "aggregator"
    max_candles = 2000
    api_key_env = "CRYPTOCOMPARE_API_KEY"   # optional; steadier limits

    def key_header(self) -> dict[str, str]:
        key = self.api_key()
        return {"authorization": f"Apikey {key}"} if key else {}

    def check_status(self, resp: Any, body: Any) -> None:
        if resp.status_code == 429:
            check_error(body, 429)
        super().check_status(resp, body)

    def check_body(self, body: Any, resp: Any) -> None:
        check_error(body, resp.status_code)

    def pricemultifull(self, tickers: list[str], kind: str) -> dict[str, Quote]:
        params = {"fsyms": ",".join(sorted(set(tickers))), "tsyms": "USD"}
        body = self.get_json(ENDPOINTS["pricemultifull"], params, kind=kind,
                             headers=self.key_header())
        return parse_pricemultifull(body, tickers)

    def fetch_quote(self, ticker: str) -> Quote:
        symbol = self.pair(ticker)
        quote = self.pricemultifull([symbol], KIND_QUOTE).get(symbol)
        if quote is None:
            raise UnknownSymbol(NAME, f"{symbol} has no USD price on CryptoCompare")
        return quote

    def fetch_quotes(self, tickers: list[str]) -> dict[str, Quote]:
        symbols = list(self.listed_pairs(tickers).values())
        return self.pricemultifull(symbols, KIND_QUOTES) if symbols else {}

    def fetch_candles(self, ticker: str, interval: str, limit: int) -> list[Candle]:
        symbol, endpoint = self.pair(ticker), self.interval(interval)
        limit = min(max(limit, 1), self.max_candles)
        params = {"fsym": symbol, "tsym": "USD", "limit": limit,
                  "aggregate": CANDLE_SERIES[interval][1]}
        body = self.get_json(ENDPOINTS[endpoint], params, kind=KIND_CANDLES,
                             headers=self.key_header())
        return parse_histo(body)[-limit:]   # the API answers limit+1 points

    def fetch_top(self, limit: int) -> list[TopCoin]:
        params = {"limit": min(max(limit, 10), 100), "tsym": "USD"}
        body = self.get_json(ENDPOINTS["top"], params, kind=KIND_TOP, headers=self.key_header())
        return parse_top(body)[:limit]

    def fetch_news(self, ticker: str | None, limit: int) -> list[NewsItem]:
        params = {"lang": "EN"}
        if ticker:
            params["categories"] = self.pair(ticker)
        body = self.get_json(ENDPOINTS["news"], params, kind=KIND_NEWS, headers=self.key_header())
        return parse_news(body, limit)
