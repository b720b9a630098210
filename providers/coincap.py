"""CoinCap v3: quotes with market cap and the top list by rank. Keyed: enabled only when
COINCAP_API_KEY is set, and the key travels as a Bearer header, never in the URL.

v3 has no OHLC (`/assets/{slug}/history` is price only), so there are no candles here.
"""
from __future__ import annotations

import time
from typing import Any, Mapping

from .base import (
    KIND_QUOTE,
    KIND_QUOTES,
    KIND_TOP,
    MalformedResponse,
    NotConfigured,
    Provider,
    Quote,
    RateLimit,
    TopCoin,
    UnknownSymbol,
    UpstreamError,
    collect_quotes,
    num,
    opt_num,
    price,
    usable,
)
from .coins import column

NAME = "coincap"

ENDPOINTS: dict[str, str] = {
    "asset": "/v3/assets/{slug}",   # {"data": {...}, "timestamp": ms}; every number a string
    "assets": "/v3/assets",         # ?ids=a,b | ?limit=N -> {"data": [...]} in rank order
}

SYMBOLS: dict[str, str] = column("coincap")


def check_error(body: Any) -> None:
    """The error shapes CoinCap puts in a body: `{"error": "x not found"}`, and the v2
    deprecation notice (`data` holding only `message`) a stale host may still send."""
    if not isinstance(body, dict):
        return
    error = body.get("error")
    if error:
        message = str(error)[:200]
        if "not found" in message.lower():
            raise UnknownSymbol(NAME, message)
        raise UpstreamError(NAME, message)
    data = body.get("data")
    if isinstance(data, dict) and set(data) == {"message"}:
        raise UpstreamError(NAME, str(data["message"])[:200])


def body_time(body: Any) -> float:
    """The answer's `timestamp` (ms) in seconds, or now when it is missing."""
    stamp = opt_num(body.get("timestamp")) if isinstance(body, dict) else None
    return stamp / 1000.0 if stamp else time.time()


def parse_asset(item: Any, ticker: str, timestamp: float) -> Quote:
    """One asset object (numbers as strings) -> Quote."""
    if not isinstance(item, dict):
        raise MalformedResponse(NAME, f"{ticker}: asset is not an object")
    return Quote(
        symbol=ticker, price=price(item.get("priceUsd"), NAME, f"{ticker} priceUsd"), source=NAME,
        timestamp=timestamp, quote_currency="USD",
        change_24h_pct=opt_num(item.get("changePercent24Hr")),
        volume_24h=opt_num(item.get("volumeUsd24Hr")),
        market_cap=opt_num(item.get("marketCapUsd")) or None)


def parse_asset_body(body: Any, ticker: str) -> Quote:
    """`/v3/assets/{slug}` -> Quote."""
    check_error(body)
    if not isinstance(body, dict) or "data" not in body:
        raise MalformedResponse(NAME, "asset answer has no data")
    return parse_asset(body["data"], ticker, body_time(body))


def asset_list(body: Any) -> list:
    check_error(body)
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise MalformedResponse(NAME, "assets answer has no data array")
    return items


def parse_assets(body: Any, ids: Mapping[str, str]) -> dict[str, Quote]:
    """Quotes by ticker for `ids` (ticker -> slug); missing slugs are left out, a malformed
    asset is skipped unless all are."""
    wanted = {slug: ticker for ticker, slug in ids.items()}
    stamp = body_time(body)
    return collect_quotes(((wanted[i["id"]], i) for i in asset_list(body)
                           if isinstance(i, dict) and i.get("id") in wanted),
                          lambda item, ticker: parse_asset(item, ticker, stamp), NAME)


def parse_top_coin(item: Any) -> TopCoin:
    if not isinstance(item, dict) or not item.get("symbol"):
        raise MalformedResponse(NAME, "asset without symbol")
    symbol = str(item["symbol"]).upper()
    return TopCoin(
        rank=int(num(item.get("rank"), NAME, f"{symbol} rank")), symbol=symbol,
        name=str(item.get("name") or symbol),
        price=price(item.get("priceUsd"), NAME, f"{symbol} priceUsd"),
        market_cap=num(item.get("marketCapUsd"), NAME, f"{symbol} marketCapUsd"),
        change_24h_pct=opt_num(item.get("changePercent24Hr")),
        volume_24h=opt_num(item.get("volumeUsd24Hr")), source=NAME)


def parse_top(body: Any, limit: int) -> list[TopCoin]:
    """The first `limit` assets by `rank` (a string in v2, a number in some v3 examples)."""
    coins = usable(asset_list(body), parse_top_coin, NAME, "assets")
    return sorted(coins, key=lambda c: c.rank)[:limit]


class CoinCap(Provider):
    name = NAME
    label = "CoinCap"
    env_prefix = "COINCAP"
    default_base_url = "https://rest.coincap.io"
    rate_limit = RateLimit(100, 60.0, note="UNCONFIRMED: v3 bills credits; free-tier size unknown "
                           "(4 000/month or 50 prepaid credits are both quoted)")
    symbols = SYMBOLS
    capabilities = frozenset({"quote", "quotes", "top"})
    venue_kind = "aggregator"
    api_key_env = "COINCAP_API_KEY"
    requires_key = True

    def key_header(self) -> dict[str, str]:
        key = self.api_key()
        if not key:
            raise NotConfigured(NAME, f"{self.api_key_env} is not set")
        return {"Authorization": f"Bearer {key}"}

    def check_body(self, body: Any, resp: Any) -> None:
        check_error(body)

    def fetch_quote(self, ticker: str) -> Quote:
        slug = self.pair(ticker)
        body = self.get_json(ENDPOINTS["asset"].format(slug=slug), kind=KIND_QUOTE,
                             headers=self.key_header())
        return parse_asset_body(body, ticker.upper())

    def fetch_quotes(self, tickers: list[str]) -> dict[str, Quote]:
        ids = self.listed_pairs(tickers)
        if not ids:
            return {}
        headers = self.key_header()
        body = self.get_json(ENDPOINTS["assets"], {"ids": ",".join(sorted(set(ids.values())))},
                             kind=KIND_QUOTES, headers=headers)
        return parse_assets(body, ids)

    def fetch_top(self, limit: int) -> list[TopCoin]:
        headers = self.key_header()
        body = self.get_json(ENDPOINTS["assets"], {"limit": max(limit, 1)}, kind=KIND_TOP,
                             headers=headers)
        return parse_top(body, limit)
