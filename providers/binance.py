"""Binance spot public REST (`/api/v3`): 24h tickers (single and batch) and klines.

Everything is quoted in USDT. Requests cost weight against one 6000/min per-IP budget, so each
call passes its documented weight to the router's budget.
"""
from __future__ import annotations

import json
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
    UnknownSymbol,
    candle_rows,
    collect_quotes,
    ms_to_s,
    opt_num,
    price,
)
from .coins import listed

NAME = "binance"

ENDPOINTS = {
    "ticker_24h": "/api/v3/ticker/24hr",   # ?symbol=BTCUSDT or ?symbols=["BTCUSDT","ETHUSDT"]
    "klines": "/api/v3/klines",            # ?symbol=&interval=&limit= (max 1000), ascending
}

WEIGHT_KLINES = 2
INVALID_SYMBOL = -1121


def ticker_weight(count: int) -> int:
    """Documented weight of /ticker/24hr: 2 for 1-20 symbols, 40 for 21-100, 80 beyond."""
    if count <= 20:
        return 2
    return 40 if count <= 100 else 80


def parse_ticker(body: Any, ticker: str) -> Quote:
    """One FULL 24hr ticker object -> Quote (priceChangePercent is already a percent)."""
    if not isinstance(body, dict):
        raise MalformedResponse(NAME, f"24hr ticker for {ticker} is not an object")
    last = price(body.get("lastPrice"), NAME, f"{ticker} lastPrice")
    return Quote(symbol=ticker, price=last, source=NAME,
                 timestamp=ms_to_s(body.get("closeTime"), NAME, f"{ticker} closeTime"),
                 quote_currency="USDT",
                 change_24h_pct=opt_num(body.get("priceChangePercent")),
                 volume_24h=opt_num(body.get("quoteVolume")))


def parse_tickers(body: Any, wanted: dict[str, str]) -> dict[str, Quote]:
    """The batch array -> {ticker: Quote} for the symbols in `wanted` (symbol -> ticker)."""
    if not isinstance(body, list):
        raise MalformedResponse(NAME, "batch 24hr ticker answer is not an array")
    return collect_quotes(((wanted[i["symbol"]], i) for i in body
                           if isinstance(i, dict) and i.get("symbol") in wanted), parse_ticker, NAME)


def parse_klines(body: Any) -> list[Candle]:
    """Rows [openTime ms, open, high, low, close, volume, closeTime, ...] -> ascending candles."""
    return candle_rows(body, NAME, "tohlcv", time_ms=True)


class Binance(Provider):
    name = NAME
    label = "Binance"
    env_prefix = "BINANCE"
    default_base_url = "https://api.binance.com"
    quote_currency = "USDT"
    symbols = listed("binance", "{t}USDT")
    intervals = {"1m": "1m", "5m": "5m", "15m": "15m", "30m": "30m",
                 "1h": "1h", "4h": "4h", "1d": "1d", "1w": "1w"}
    capabilities = frozenset({"quote", "quotes", "candles"})
    max_candles = 1000
    rate_limit = RateLimit(
        requests=6000, per_seconds=60,
        note="REQUEST_WEIGHT 6000/min per IP; 24hr ticker 2 (1-20 symbols) / 40 (21-100), "
             "klines 2; 429 and 418 carry Retry-After",
        cooldown_s=60, ban_s=600)

    def check_status(self, resp: Any, body: Any) -> None:
        """-1121 under HTTP 400 is an unknown symbol, not a client bug."""
        if (resp.status_code == 400 and isinstance(body, dict)
                and body.get("code") == INVALID_SYMBOL):
            raise UnknownSymbol(self.name, self.error_text(body) or "Invalid symbol.", status=400)
        super().check_status(resp, body)

    def fetch_quote(self, ticker: str) -> Quote:
        symbol = self.pair(ticker)
        body = self.get_json(ENDPOINTS["ticker_24h"], {"symbol": symbol},
                             kind=KIND_QUOTE, weight=ticker_weight(1))
        return parse_ticker(body, ticker.upper())

    def fetch_quotes(self, tickers: list[str]) -> dict[str, Quote]:
        wanted = {pair: t for t, pair in self.listed_pairs(tickers).items()}
        if not wanted:
            return {}
        symbols = json.dumps(sorted(wanted), separators=(",", ":"))
        body = self.get_json(ENDPOINTS["ticker_24h"], {"symbols": symbols},
                             kind=KIND_QUOTES, weight=ticker_weight(len(wanted)))
        return parse_tickers(body, wanted)

    def fetch_candles(self, ticker: str, interval: str, limit: int) -> list[Candle]:
        count = max(1, min(limit, self.max_candles))
        params = {"symbol": self.pair(ticker), "interval": self.interval(interval), "limit": count}
        body = self.get_json(ENDPOINTS["klines"], params, kind=KIND_CANDLES, weight=WEIGHT_KLINES)
        return parse_klines(body)[-count:]
