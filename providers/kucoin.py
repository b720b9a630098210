"""KuCoin spot public market data: 24h stats, all tickers (filtered here) and candles, in USDT.

Quirks that matter: `changeRate` is a fraction, candle rows are time, open, CLOSE, high, low, and an
unknown symbol is HTTP 200 with `"data": null`. Endpoints carry documented weights.
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
    price,
)
from .coins import listed

NAME = "kucoin"

# path, weight
ENDPOINTS = {
    "stats": ("/api/v1/market/stats", 15),             # ?symbol=BTC-USDT
    "all_tickers": ("/api/v1/market/allTickers", 15),  # every symbol; snapshot refreshed every 2 s
    "candles": ("/api/v1/market/candles", 3),          # ?symbol=&type= ; <= 1500 rows, newest first
}

OK = "200000"
TOO_MANY_REQUESTS = "429000"
BAD_PARAMETER = "400100"     # with "This pair is not provided at present" for an unknown pair


def check_envelope(body: Any, retry_after: float | None = None) -> None:
    """A `code` other than "200000" is an error; `data: null` means the symbol is unknown."""
    if not isinstance(body, dict):
        return
    code = str(body.get("code", OK))
    if code == TOO_MANY_REQUESTS:
        raise RateLimited(NAME, f"{code} {body.get('msg') or ''}".strip(), retry_after=retry_after)
    message = f"{code} {body.get('msg') or ''}".strip()
    if code == BAD_PARAMETER and "pair" in message.lower():
        raise UnknownSymbol(NAME, message[:200])
    if code != OK:
        raise UpstreamError(NAME, message[:200])
    if "data" in body and body["data"] is None:
        raise UnknownSymbol(NAME, "no data for this symbol")


def reset_after(resp: Any) -> float | None:
    """`gw-ratelimit-reset` is milliseconds until the quota refills."""
    headers = getattr(resp, "headers", None) or {}
    value = opt_num(headers.get("gw-ratelimit-reset"))
    return max(0.0, value / 1000.0) if value is not None else None


def _data(body: Any) -> Any:
    check_envelope(body)
    if not isinstance(body, dict) or "data" not in body:
        raise MalformedResponse(NAME, "answer has no `data`")
    return body["data"]


def parse_item(item: Any, ticker: str, timestamp: Any) -> Quote:
    """A stats or allTickers item -> Quote; changeRate is a fraction, volValue is in USDT."""
    if not isinstance(item, dict):
        raise MalformedResponse(NAME, f"ticker for {ticker} is not an object")
    rate = opt_num(item.get("changeRate"))
    return Quote(symbol=ticker, price=price(item.get("last"), NAME, f"{ticker} last"),
                 source=NAME, timestamp=ms_to_s(timestamp, NAME, f"{ticker} time"),
                 quote_currency="USDT", change_24h_pct=rate * 100.0 if rate is not None else None,
                 volume_24h=opt_num(item.get("volValue")))


def parse_stats(body: Any, ticker: str) -> Quote:
    """/stats -> Quote. For an unknown symbol KuCoin may send all-null fields (UNCONFIRMED)."""
    data = _data(body)
    if not isinstance(data, dict):
        raise MalformedResponse(NAME, f"stats for {ticker} is not an object")
    if all(data.get(k) is None for k in ("last", "buy", "sell", "vol")):
        raise UnknownSymbol(NAME, f"no market data for {ticker} (every stats field is null)")
    return parse_item(data, ticker, data.get("time"))


def parse_all_tickers(body: Any, wanted: dict[str, str]) -> dict[str, Quote]:
    """allTickers -> {ticker: Quote} for the symbols in `wanted` (symbol -> ticker)."""
    data = _data(body)
    items = data.get("ticker") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise MalformedResponse(NAME, "allTickers answer has no `ticker` array")
    return collect_quotes(((wanted[i["symbol"]], i) for i in items
                           if isinstance(i, dict) and i.get("symbol") in wanted),
                          lambda item, ticker: parse_item(item, ticker, data.get("time")), NAME)


def parse_candles(body: Any) -> list[Candle]:
    """Rows [time s, open, CLOSE, high, low, volume, turnover], newest first -> ascending OHLCV."""
    return candle_rows(_data(body), NAME, "tochlv", time_ms=False)


class KuCoin(Provider):
    name = NAME
    label = "KuCoin"
    env_prefix = "KUCOIN"
    default_base_url = "https://api.kucoin.com"
    quote_currency = "USDT"
    symbols = listed("kucoin", "{t}-USDT")
    intervals = {"1m": "1min", "5m": "5min", "15m": "15min", "30m": "30min",
                 "1h": "1hour", "4h": "4hour", "1d": "1day", "1w": "1week"}
    capabilities = frozenset({"quote", "quotes", "candles"})
    refresh_s = 2.0                       # allTickers is a snapshot refreshed every 2 s
    max_candles = 1500
    rate_limit = RateLimit(
        requests=2000, per_seconds=30,
        note="public pool per IP, assumed 2000 weight / 30 s (UNCONFIRMED); weights: stats 15, "
             "allTickers 15, candles 3; 429 code 429000 with gw-ratelimit-reset (ms)",
        cooldown_s=30, ban_s=600)

    def check_status(self, resp: Any, body: Any) -> None:
        """A 429 says how long to wait in `gw-ratelimit-reset` (ms), not in Retry-After."""
        if resp.status_code == 429:
            reset = reset_after(resp)
            if reset is not None:
                raise RateLimited(self.name, f"rate limited: {self.error_text(body) or 'HTTP 429'}",
                                  retry_after=reset, status=429)
        super().check_status(resp, body)

    def check_body(self, body: Any, resp: Any) -> None:
        check_envelope(body, retry_after=reset_after(resp))

    def fetch_quote(self, ticker: str) -> Quote:
        path, weight = ENDPOINTS["stats"]
        body = self.get_json(path, {"symbol": self.pair(ticker)}, kind=KIND_QUOTE, weight=weight)
        return parse_stats(body, ticker.upper())

    def fetch_quotes(self, tickers: list[str]) -> dict[str, Quote]:
        wanted = {pair: t for t, pair in self.listed_pairs(tickers).items()}
        if not wanted:
            return {}
        path, weight = ENDPOINTS["all_tickers"]
        return parse_all_tickers(self.get_json(path, kind=KIND_QUOTES, weight=weight), wanted)

    def fetch_candles(self, ticker: str, interval: str, limit: int) -> list[Candle]:
        """No limit parameter: the default answer is the latest rows, sliced to `limit`.

        Leaving out startAt/endAt keeps the URL stable, so the router's cache can serve repeats.
        """
        count = max(1, min(limit, self.max_candles))
        path, weight = ENDPOINTS["candles"]
        params = {"symbol": self.pair(ticker), "type": self.interval(interval)}
        body = self.get_json(path, params, kind=KIND_CANDLES, weight=weight)
        return parse_candles(body)[-count:]
