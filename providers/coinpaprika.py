"""CoinPaprika v1 (free plan, no key): quotes with market cap and the top list by rank.

Historical OHLCV is a paid feature (402 on Free), so there are no candles here.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Mapping

from .base import (
    KIND_QUOTE,
    KIND_QUOTES,
    KIND_TOP,
    MalformedResponse,
    Provider,
    Quote,
    RateLimit,
    TopCoin,
    collect_quotes,
    num,
    opt_num,
    price,
    usable,
)
from .coins import column

NAME = "coinpaprika"

ENDPOINTS: dict[str, str] = {
    "ticker": "/v1/tickers/{id}",   # one coin; unknown id -> 404 {"error":"id not found"}
    "tickers": "/v1/tickers",       # every active coin (Free: at most 2000); no id filter
}

SYMBOLS: dict[str, str] = column("coinpaprika")


def rfc3339(value: Any) -> float | None:
    """Epoch seconds from `2025-06-25T10:47:48Z` (UTC when no offset), or None if unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def usd(item: Any, what: str) -> dict:
    """The `quotes.USD` object of a ticker, or MalformedResponse."""
    quotes = item.get("quotes") if isinstance(item, dict) else None
    block = quotes.get("USD") if isinstance(quotes, dict) else None
    if not isinstance(block, dict):
        raise MalformedResponse(NAME, f"{what}: quotes.USD is missing")
    return block


def parse_ticker(item: Any, ticker: str | None = None) -> Quote:
    """A /v1/tickers object -> Quote (symbol from the body unless the caller names it)."""
    if not isinstance(item, dict):
        raise MalformedResponse(NAME, f"ticker: expected an object, got {type(item).__name__}")
    symbol = ticker or str(item.get("symbol") or "").upper()
    block = usd(item, symbol or "ticker")
    return Quote(
        symbol=symbol, price=price(block.get("price"), NAME, f"{symbol} price"), source=NAME,
        timestamp=rfc3339(item.get("last_updated")) or time.time(), quote_currency="USD",
        change_24h_pct=opt_num(block.get("percent_change_24h")),
        volume_24h=opt_num(block.get("volume_24h")),
        market_cap=opt_num(block.get("market_cap")) or None)


def parse_tickers(body: Any, ids: Mapping[str, str]) -> dict[str, Quote]:
    """Quotes by ticker out of the full /v1/tickers array for `ids` (ticker -> coin id).
    Ids not in the array are left out; a malformed item is skipped unless all are."""
    if not isinstance(body, list):
        raise MalformedResponse(NAME, "tickers: expected an array")
    wanted = {coin_id: ticker for ticker, coin_id in ids.items()}
    return collect_quotes(((wanted[i["id"]], i) for i in body
                           if isinstance(i, dict) and i.get("id") in wanted), parse_ticker, NAME)


def parse_top_coin(item: Any) -> TopCoin:
    if not isinstance(item, dict) or not item.get("symbol"):
        raise MalformedResponse(NAME, "tickers: item without symbol")
    symbol = str(item["symbol"]).upper()
    block = usd(item, symbol)
    return TopCoin(
        rank=int(num(item.get("rank"), NAME, f"{symbol} rank")), symbol=symbol,
        name=str(item.get("name") or symbol),
        price=price(block.get("price"), NAME, f"{symbol} price"),
        market_cap=num(block.get("market_cap"), NAME, f"{symbol} market_cap"),
        change_24h_pct=opt_num(block.get("percent_change_24h")),
        volume_24h=opt_num(block.get("volume_24h")), source=NAME)


def parse_top(body: Any, limit: int) -> list[TopCoin]:
    """The first `limit` ranked coins (rank >= 1), sorted by rank client-side."""
    if not isinstance(body, list):
        raise MalformedResponse(NAME, "tickers: expected an array")
    ranked = [i for i in body if isinstance(i, dict) and (opt_num(i.get("rank")) or 0) >= 1]
    ranked.sort(key=lambda i: float(i["rank"]))
    return usable(ranked, parse_top_coin, NAME, "ranked tickers")[:limit]


class CoinPaprika(Provider):
    name = NAME
    label = "CoinPaprika"
    env_prefix = "COINPAPRIKA"
    default_base_url = "https://api.coinpaprika.com"
    rate_limit = RateLimit(10, 1.0, note="10 req/s per IP on every plan; Free plan 20 000 "
                           "calls/month")
    symbols = SYMBOLS
    capabilities = frozenset({"quote", "quotes", "top"})
    venue_kind = "aggregator"
    refresh_s = 60.0                      # free-plan data changes every ~5 min; look each minute

    def fetch_quote(self, ticker: str) -> Quote:
        coin_id = self.pair(ticker)
        body = self.get_json(ENDPOINTS["ticker"].format(id=coin_id), kind=KIND_QUOTE)
        return parse_ticker(body, ticker.upper())

    def fetch_quotes(self, tickers: list[str]) -> dict[str, Quote]:
        ids = self.listed_pairs(tickers)
        if not ids:
            return {}
        return parse_tickers(self.get_json(ENDPOINTS["tickers"], kind=KIND_QUOTES), ids)

    def fetch_top(self, limit: int) -> list[TopCoin]:
        return parse_top(self.get_json(ENDPOINTS["tickers"], kind=KIND_TOP), limit)
