"""Bybit v5 market data for the spot category: tickers (one, or all filtered here) and klines, USDT.

Bybit reports errors in `retCode` under HTTP 200, `price24hPcnt` is a fraction, and going over the
600-per-5-s IP limit is an HTTP 403 ban of at least ten minutes.
"""
from __future__ import annotations

import time
from typing import Any

from .base import (
    KIND_CANDLES,
    KIND_QUOTE,
    KIND_QUOTES,
    Banned,
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
    parse_retry_after,
    price,
)
from .coins import listed

NAME = "bybit"

ENDPOINTS = {
    "tickers": "/v5/market/tickers",   # ?category=spot[&symbol=BTCUSDT] ; no symbol = every ticker
    "kline": "/v5/market/kline",       # ?category=spot&symbol=&interval=&limit=<=1000; newest first
}

CATEGORY = "spot"                      # the API defaults to `linear`, so always say spot
PARAMETER_ERROR = "10001"              # also "Not supported symbols"
TOO_MANY_VISITS = "10006"
BAN_S = 600.0


def limit_reset_after(resp: Any, now: float | None = None) -> float | None:
    """Seconds until `X-Bapi-Limit-Reset-Timestamp` (epoch ms), when the header is present."""
    headers = getattr(resp, "headers", None) or {}
    reset_ms = opt_num(headers.get("X-Bapi-Limit-Reset-Timestamp"))
    if reset_ms is None:
        return None
    return max(0.0, reset_ms / 1000.0 - (time.time() if now is None else now))


def check_envelope(body: Any, retry_after: float | None = None) -> None:
    """A `retCode` other than 0 is an error even under HTTP 200."""
    if not isinstance(body, dict) or str(body.get("retCode", 0)) == "0":
        return
    code, msg = str(body.get("retCode")), str(body.get("retMsg") or "")
    text = f"{code} {msg}".strip()
    if code == PARAMETER_ERROR and "not supported symbol" in msg.lower():
        raise UnknownSymbol(NAME, text)
    if code == TOO_MANY_VISITS:
        raise RateLimited(NAME, text, retry_after=retry_after)
    raise UpstreamError(NAME, text)


def _result_list(body: Any) -> list:
    """`result.list`, or the typed error the envelope carries instead."""
    check_envelope(body)
    result = body.get("result") if isinstance(body, dict) else None
    rows = result.get("list") if isinstance(result, dict) else None
    if not isinstance(rows, list):
        raise MalformedResponse(NAME, "answer has no `result.list` array")
    return rows


def parse_item(item: Any, ticker: str, timestamp: Any) -> Quote:
    """A spot ticker -> Quote; price24hPcnt is a fraction, turnover24h is in USDT."""
    if not isinstance(item, dict):
        raise MalformedResponse(NAME, f"ticker for {ticker} is not an object")
    fraction = opt_num(item.get("price24hPcnt"))
    return Quote(symbol=ticker, price=price(item.get("lastPrice"), NAME, f"{ticker} lastPrice"),
                 source=NAME, timestamp=ms_to_s(timestamp, NAME, "envelope time"),
                 quote_currency="USDT",
                 change_24h_pct=fraction * 100.0 if fraction is not None else None,
                 volume_24h=opt_num(item.get("turnover24h")))


def parse_ticker(body: Any, ticker: str) -> Quote:
    rows = _result_list(body)
    if not rows:
        raise MalformedResponse(NAME, f"ticker answer for {ticker} has an empty list")
    return parse_item(rows[0], ticker, body.get("time"))


def parse_tickers(body: Any, wanted: dict[str, str]) -> dict[str, Quote]:
    """Every spot ticker -> {ticker: Quote} for the symbols in `wanted` (symbol -> ticker)."""
    stamp = body.get("time") if isinstance(body, dict) else None
    return collect_quotes(((wanted[i["symbol"]], i) for i in _result_list(body)
                           if isinstance(i, dict) and i.get("symbol") in wanted),
                          lambda item, ticker: parse_item(item, ticker, stamp), NAME)


def parse_kline(body: Any) -> list[Candle]:
    """Rows [start ms, open, high, low, close, volume, turnover], newest first -> ascending."""
    return candle_rows(_result_list(body), NAME, "tohlcv", time_ms=True)


class Bybit(Provider):
    name = NAME
    label = "Bybit"
    env_prefix = "BYBIT"
    default_base_url = "https://api.bybit.com"
    quote_currency = "USDT"
    symbols = listed("bybit", "{t}USDT")
    intervals = {"1m": "1", "5m": "5", "15m": "15", "30m": "30",
                 "1h": "60", "4h": "240", "1d": "D", "1w": "W"}
    capabilities = frozenset({"quote", "quotes", "candles"})
    max_candles = 1000
    rate_limit = RateLimit(
        requests=600, per_seconds=5,
        note="600 requests per 5 s per IP across api.bybit.com; over it: HTTP 403 "
             "\"access too frequent\", banned for at least 10 minutes",
        cooldown_s=10, ban_s=BAN_S)

    def check_status(self, resp: Any, body: Any) -> None:
        """HTTP 403 is Bybit's IP ban for going over the limit, not a refused configuration."""
        if resp.status_code == 403:
            retry = parse_retry_after(resp.headers.get("Retry-After"))
            raise Banned(self.name, f"IP banned: {self.error_text(body) or 'HTTP 403'}",
                         retry_after=retry if retry is not None else self.rate_limit.ban_s,
                         status=403)
        super().check_status(resp, body)

    def check_body(self, body: Any, resp: Any) -> None:
        check_envelope(body, retry_after=limit_reset_after(resp))

    def fetch_quote(self, ticker: str) -> Quote:
        params = {"category": CATEGORY, "symbol": self.pair(ticker)}
        return parse_ticker(self.get_json(ENDPOINTS["tickers"], params, kind=KIND_QUOTE),
                            ticker.upper())

    def fetch_quotes(self, tickers: list[str]) -> dict[str, Quote]:
        wanted = {pair: t for t, pair in self.listed_pairs(tickers).items()}
        if not wanted:
            return {}
        body = self.get_json(ENDPOINTS["tickers"], {"category": CATEGORY}, kind=KIND_QUOTES)
        return parse_tickers(body, wanted)

    def fetch_candles(self, ticker: str, interval: str, limit: int) -> list[Candle]:
        count = max(1, min(limit, self.max_candles))
        params = {"category": CATEGORY, "symbol": self.pair(ticker),
                  "interval": self.interval(interval), "limit": count}
        body = self.get_json(ENDPOINTS["kline"], params, kind=KIND_CANDLES)
        return parse_kline(body)[-count:]
