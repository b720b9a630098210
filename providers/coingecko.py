"""CoinGecko public API (Demo plan): quotes with market cap, the top list and OHLC candles.

It has the tightest budget of all (~30 calls/min), so the router gives it the lowest share.
"""
from __future__ import annotations

import time
from typing import Any, Mapping

from .base import (
    INTERVALS,
    KIND_CANDLES,
    KIND_QUOTE,
    KIND_QUOTES,
    KIND_TOP,
    Candle,
    MalformedResponse,
    Provider,
    Quote,
    RateLimit,
    TopCoin,
    UnknownSymbol,
    ascending,
    collect_quotes,
    num,
    opt_num,
    price,
    usable,
)
from .coins import column

NAME = "coingecko"

ENDPOINTS: dict[str, str] = {
    # ids=a,b&vs_currencies=usd&include_market_cap&include_24hr_vol&include_24hr_change
    # &include_last_updated_at; unknown ids are left out, all unknown -> `{}`
    "simple_price": "/api/v3/simple/price",
    # vs_currency=usd&order=market_cap_desc&per_page=1..250&page=1
    "markets": "/api/v3/coins/markets",
    # vs_currency=usd&days=D -> [[close_ms, open, high, low, close], ...]; unknown id -> 404
    "ohlc": "/api/v3/coins/{id}/ohlc",
}

SYMBOLS: dict[str, str] = column("coingecko")

# CoinGecko picks the OHLC granularity from `days` (1-2 -> 30 min, 3-30 -> 4 h, 31+ -> 4 days);
# the public spec only accepts days in {1, 7, 14, 30, 90, 180, 365}. Shortest span first.
OHLC_DAYS: dict[str, tuple[int, ...]] = {"30m": (1,), "4h": (7, 14, 30)}

SIMPLE_PRICE_FLAGS = {"vs_currencies": "usd", "include_market_cap": "true",
                      "include_24hr_vol": "true", "include_24hr_change": "true",
                      "include_last_updated_at": "true"}


def ohlc_days(interval: str, limit: int) -> int:
    """The shortest allowed `days` whose candles cover `limit` (else the longest)."""
    per_day = 86400 // INTERVALS[interval]
    spans = OHLC_DAYS[interval]
    return next((d for d in spans if d * per_day >= limit), spans[-1])


def parse_coin_price(item: Any, ticker: str) -> Quote:
    """One coin of a simple/price body: `{"usd": .., "usd_24h_change": .., ...}`."""
    if not isinstance(item, dict):
        raise MalformedResponse(NAME, f"{ticker}: expected an object, got {type(item).__name__}")
    return Quote(
        symbol=ticker, price=price(item.get("usd"), NAME, f"{ticker} usd"), source=NAME,
        timestamp=opt_num(item.get("last_updated_at")) or time.time(), quote_currency="USD",
        change_24h_pct=opt_num(item.get("usd_24h_change")),
        volume_24h=opt_num(item.get("usd_24h_vol")),
        market_cap=opt_num(item.get("usd_market_cap")) or None)


def parse_simple_price(body: Any, ids: Mapping[str, str]) -> dict[str, Quote]:
    """Quotes by ticker for `ids` (ticker -> coin id). Absent ids are unknown to CoinGecko and
    left out; a malformed coin is skipped unless every coin is malformed."""
    if not isinstance(body, dict):
        raise MalformedResponse(NAME, "simple/price: expected an object keyed by coin id")
    return collect_quotes(((t, body[i]) for t, i in ids.items() if i in body), parse_coin_price,
                          NAME)


def parse_market(item: Any, position: int) -> TopCoin:
    """One row of coins/markets; rank falls back to the row's position."""
    if not isinstance(item, dict) or not item.get("symbol"):
        raise MalformedResponse(NAME, f"coins/markets row {position} has no symbol")
    symbol = str(item["symbol"]).upper()
    rank = opt_num(item.get("market_cap_rank"))
    return TopCoin(
        rank=int(rank) if rank else position, symbol=symbol, name=str(item.get("name") or symbol),
        price=price(item.get("current_price"), NAME, f"{symbol} current_price"),
        market_cap=num(item.get("market_cap"), NAME, f"{symbol} market_cap"),
        change_24h_pct=opt_num(item.get("price_change_percentage_24h")),
        volume_24h=opt_num(item.get("total_volume")), source=NAME)


def parse_markets(body: Any) -> list[TopCoin]:
    if not isinstance(body, list):
        raise MalformedResponse(NAME, "coins/markets: expected an array")
    coins = usable(enumerate(body, 1), lambda pair: parse_market(pair[1], pair[0]), NAME,
                   "coins/markets")
    return sorted(coins, key=lambda c: c.rank)


def parse_ohlc_row(row: Any, step: int) -> Candle:
    """`[close_ms, o, h, l, c]` -> a Candle stamped with its open time in seconds."""
    if not isinstance(row, list) or len(row) < 5:
        raise MalformedResponse(NAME, f"ohlc row is not [t, o, h, l, c]: {str(row)[:60]}")
    close_s = int(num(row[0], NAME, "ohlc time") // 1000)
    o, h, lo, c = (price(v, NAME, f"ohlc {k}") for k, v in zip("ohlc", row[1:5]))
    return Candle(timestamp=close_s - step, open=o, high=h, low=lo, close=c, volume=0.0)


def parse_ohlc(body: Any, interval: str) -> list[Candle]:
    """Ascending candles; CoinGecko's OHLC has no volume, so volume is 0.0."""
    if not isinstance(body, list):
        raise MalformedResponse(NAME, "ohlc: expected an array of rows")
    step = INTERVALS[interval]
    return ascending(usable(body, lambda row: parse_ohlc_row(row, step), NAME, "ohlc"))


class CoinGecko(Provider):
    name = NAME
    label = "CoinGecko"
    env_prefix = "COINGECKO"
    default_base_url = "https://api.coingecko.com"
    rate_limit = RateLimit(30, 60.0, note="Demo plan ~30 calls/min, varies with traffic; "
                           "keyless reportedly 5-15/min", cooldown_s=60.0)
    symbols = SYMBOLS
    intervals = {iv: iv for iv in OHLC_DAYS}
    capabilities = frozenset({"quote", "quotes", "candles", "top"})
    venue_kind = "aggregator"
    refresh_s = 60.0                      # free /simple/price data changes every 60 s
    max_candles = 180                     # days=30 at 4 h
    api_key_env = "COINGECKO_API_KEY"     # optional Demo key
    weight = 0.2

    def key_header(self) -> dict[str, str]:
        key = self.api_key()
        return {"x-cg-demo-api-key": key} if key else {}

    def simple_price(self, ids: Mapping[str, str], kind: str) -> dict[str, Quote]:
        params = {"ids": ",".join(sorted(set(ids.values()))), **SIMPLE_PRICE_FLAGS}
        body = self.get_json(ENDPOINTS["simple_price"], params, kind=kind,
                             headers=self.key_header())
        return parse_simple_price(body, ids)

    def fetch_quote(self, ticker: str) -> Quote:
        ticker, coin_id = ticker.upper(), self.pair(ticker)
        quote = self.simple_price({ticker: coin_id}, KIND_QUOTE).get(ticker)
        if quote is None:
            raise UnknownSymbol(NAME, f"{ticker} ({coin_id}) is not known to CoinGecko")
        return quote

    def fetch_quotes(self, tickers: list[str]) -> dict[str, Quote]:
        ids = self.listed_pairs(tickers)
        return self.simple_price(ids, KIND_QUOTES) if ids else {}

    def fetch_candles(self, ticker: str, interval: str, limit: int) -> list[Candle]:
        coin_id = self.pair(ticker)
        self.interval(interval)
        params = {"vs_currency": "usd", "days": ohlc_days(interval, limit)}
        body = self.get_json(ENDPOINTS["ohlc"].format(id=coin_id), params, kind=KIND_CANDLES,
                             headers=self.key_header())
        return parse_ohlc(body, interval)[-max(limit, 1):]

    def fetch_top(self, limit: int) -> list[TopCoin]:
        params = {"vs_currency": "usd", "order": "market_cap_desc",
                  "per_page": min(max(limit, 1), 250), "page": 1}
        body = self.get_json(ENDPOINTS["markets"], params, kind=KIND_TOP,
                             headers=self.key_header())
        return parse_markets(body)[:limit]
