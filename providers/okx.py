"""OKX v5 public market data: spot tickers (one, or all SPOT filtered here) and candles, in USDT.

OKX wraps everything in `{"code":"0","msg":"","data":[...]}` and reports errors (unknown
instrument, rate limit) in `code`, often under HTTP 200. It has no 24h-change field.
"""
from __future__ import annotations

from typing import Any

from .base import (
    KIND_CANDLES,
    KIND_QUOTE,
    KIND_QUOTES,
    Candle,
    MalformedResponse,
    Provider,
    Quote,
    RateLimit,
    RateLimited,
    UnknownSymbol,
    UpstreamError,
    candle_rows,
    collect_quotes,
    ms_to_s,
    opt_num,
    pct_change,
    price,
)
from .coins import listed

NAME = "okx"

ENDPOINTS = {
    "ticker": "/api/v5/market/ticker",     # ?instId=BTC-USDT
    "tickers": "/api/v5/market/tickers",   # ?instType=SPOT ; every spot ticker, no id filter
    "candles": "/api/v5/market/candles",   # ?instId=&bar=&limit= (max 300), newest first
}

OK = "0"
UNKNOWN_INSTRUMENT = "51001"
TOO_MANY_REQUESTS = "50011"


def check_envelope(body: Any) -> None:
    """A `code` other than "0" is an error whatever the HTTP status."""
    if not isinstance(body, dict) or str(body.get("code", OK)) == OK:
        return
    code, msg = str(body.get("code")), str(body.get("msg") or "")
    text = f"{code} {msg}".strip()
    if code == UNKNOWN_INSTRUMENT:
        raise UnknownSymbol(NAME, text)
    if code == TOO_MANY_REQUESTS:
        raise RateLimited(NAME, text)
    raise UpstreamError(NAME, text)


def _data(body: Any) -> list:
    """The `data` array, or the typed error the envelope carries instead."""
    check_envelope(body)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise MalformedResponse(NAME, "answer has no `data` array")
    return data


def parse_item(item: Any, ticker: str) -> Quote:
    """One ticker object -> Quote; change computed from `last` vs `open24h`, volume volCcy24h."""
    if not isinstance(item, dict):
        raise MalformedResponse(NAME, f"ticker for {ticker} is not an object")
    last = price(item.get("last"), NAME, f"{ticker} last")
    return Quote(symbol=ticker, price=last, source=NAME,
                 timestamp=ms_to_s(item.get("ts"), NAME, f"{ticker} ts"), quote_currency="USDT",
                 change_24h_pct=pct_change(last, opt_num(item.get("open24h"))),
                 volume_24h=opt_num(item.get("volCcy24h")))


def parse_ticker(body: Any, ticker: str) -> Quote:
    data = _data(body)
    if not data:
        raise MalformedResponse(NAME, f"ticker answer for {ticker} has an empty `data`")
    return parse_item(data[0], ticker)


def parse_tickers(body: Any, wanted: dict[str, str]) -> dict[str, Quote]:
    """All SPOT tickers -> {ticker: Quote} for the instIds in `wanted` (instId -> ticker)."""
    return collect_quotes(((wanted[i["instId"]], i) for i in _data(body)
                           if isinstance(i, dict) and i.get("instId") in wanted), parse_item, NAME)


def parse_candles(body: Any) -> list[Candle]:
    """Rows [ts ms, o, h, l, c, vol, volCcy, volCcyQuote, confirm], newest first -> ascending."""
    return candle_rows(_data(body), NAME, "tohlcv", time_ms=True)


class OKX(Provider):
    name = NAME
    label = "OKX"
    env_prefix = "OKX"
    default_base_url = "https://www.okx.com"
    quote_currency = "USDT"
    symbols = listed("okx", "{t}-USDT")
    intervals = {"1m": "1m", "5m": "5m", "15m": "15m", "30m": "30m",
                 "1h": "1H", "4h": "4H", "1d": "1D", "1w": "1W"}
    capabilities = frozenset({"quote", "quotes", "candles"})
    max_candles = 300
    rate_limit = RateLimit(
        requests=20, per_seconds=2,
        note="market/ticker 20 requests per 2 s per IP (candles reportedly 40/2 s, UNCONFIRMED); "
             "excess is dropped with code 50011",
        cooldown_s=10, ban_s=600)

    def check_body(self, body: Any, resp: Any) -> None:
        check_envelope(body)

    def fetch_quote(self, ticker: str) -> Quote:
        body = self.get_json(ENDPOINTS["ticker"], {"instId": self.pair(ticker)}, kind=KIND_QUOTE)
        return parse_ticker(body, ticker.upper())

    def fetch_quotes(self, tickers: list[str]) -> dict[str, Quote]:
        wanted = {pair: t for t, pair in self.listed_pairs(tickers).items()}
        if not wanted:
            return {}
        body = self.get_json(ENDPOINTS["tickers"], {"instType": "SPOT"}, kind=KIND_QUOTES)
        return parse_tickers(body, wanted)

    def fetch_candles(self, ticker: str, interval: str, limit: int) -> list[Candle]:
        count = max(1, min(limit, self.max_candles))
        params = {"instId": self.pair(ticker), "bar": self.interval(interval), "limit": count}
        body = self.get_json(ENDPOINTS["candles"], params, kind=KIND_CANDLES)
        return parse_candles(body)[-count:]
