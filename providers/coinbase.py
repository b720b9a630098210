"""Coinbase Exchange public market data: 24h product stats and candles, in real USD.

There is no batch ticker, so "quotes" is not a capability. /stats has no change field and no time:
the change is computed from `last` and `open`, and the timestamp is the time we read it.
"""
from __future__ import annotations

import time
from typing import Any

from .base import (
    KIND_CANDLES,
    KIND_QUOTE,
    Candle,
    MalformedResponse,
    Provider,
    Quote,
    RateLimit,
    candle_rows,
    opt_num,
    pct_change,
    price,
)
from .coins import listed

NAME = "coinbase"

ENDPOINTS = {
    "stats": "/products/{product_id}/stats",       # open, high, low, last, volume (base, 24h)
    "candles": "/products/{product_id}/candles",   # ?granularity= ; max 300 rows, newest first
}


def parse_stats(body: Any, ticker: str, now: float | None = None) -> Quote:
    """/stats -> Quote; change from last vs open, volume converted to USD with the last price."""
    if not isinstance(body, dict):
        raise MalformedResponse(NAME, f"stats for {ticker} is not an object")
    last = price(body.get("last"), NAME, f"{ticker} last")
    volume = opt_num(body.get("volume"))
    return Quote(symbol=ticker, price=last, source=NAME,
                 timestamp=time.time() if now is None else now, quote_currency="USD",
                 change_24h_pct=pct_change(last, opt_num(body.get("open"))),
                 volume_24h=volume * last if volume is not None else None)


def parse_candles(body: Any) -> list[Candle]:
    """Rows [time s, LOW, HIGH, open, close, volume] (newest first) -> ascending OHLCV candles."""
    return candle_rows(body, NAME, "tlhocv", time_ms=False)


class Coinbase(Provider):
    name = NAME
    label = "Coinbase Exchange"
    env_prefix = "COINBASE"
    default_base_url = "https://api.exchange.coinbase.com"
    quote_currency = "USD"
    symbols = listed("coinbase", "{t}-USD")
    intervals = {"1m": "60", "5m": "300", "15m": "900", "1h": "3600", "1d": "86400"}
    capabilities = frozenset({"quote", "candles"})
    max_candles = 300
    rate_limit = RateLimit(
        requests=10, per_seconds=1,
        note="public endpoints: 10 requests/s per IP, bursts to 15 (lazy-fill token bucket); "
             "429 {\"message\":\"Public rate limit exceeded\"}",
        cooldown_s=5, ban_s=600)

    def fetch_quote(self, ticker: str) -> Quote:
        path = ENDPOINTS["stats"].format(product_id=self.pair(ticker))
        return parse_stats(self.get_json(path, kind=KIND_QUOTE), ticker.upper())

    def fetch_candles(self, ticker: str, interval: str, limit: int) -> list[Candle]:
        """No limit parameter: the default answer is the latest 300, sliced to `limit`.

        Leaving out start/end keeps the URL stable, so the router's cache can serve repeats.
        """
        count = max(1, min(limit, self.max_candles))
        path = ENDPOINTS["candles"].format(product_id=self.pair(ticker))
        body = self.get_json(path, {"granularity": self.interval(interval)}, kind=KIND_CANDLES)
        return parse_candles(body)[-count:]
