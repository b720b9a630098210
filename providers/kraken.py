"""Kraken spot public REST: tickers (batch by comma list) and OHLC, in real USD.

Kraken signals every error inside HTTP 200 (`"error":[...]`), and answers under its canonical pair
name rather than the altname we sent (XBTUSD -> XXBTZUSD), so results are read through an alias map.
"""
from __future__ import annotations

import re
import time
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
    opt_num,
    pct_change,
    price,
)
from .coins import column

NAME = "kraken"

ENDPOINTS = {
    "ticker": "/0/public/Ticker",   # ?pair=XBTUSD,ETHUSD ; one unknown pair fails the whole call
    "ohlc": "/0/public/OHLC",       # ?pair=XBTUSD&interval=<minutes> ; at most 720 rows, ascending
}

# Assets that predate Kraken's naming change keep X/Z prefixes in result keys: XBTUSD -> XXBTZUSD.
LEGACY_ASSETS = frozenset({"XBT", "ETH", "XRP", "LTC", "XLM", "XMR", "ETC", "ZEC", "MLN", "REP"})

ALTNAMES: dict[str, str] = column("kraken")     # ticker -> request altname, e.g. BTC -> XBTUSD


def result_key(altname: str) -> str:
    """The canonical pair name Kraken answers under for a USD altname."""
    base = altname[:-3]
    return f"X{base}ZUSD" if base in LEGACY_ASSETS else altname


# Result key or altname -> ticker. USDTZUSD is how Kraken has keyed USDTUSD (UNCONFIRMED).
ALIASES: dict[str, str] = {
    **{alt: t for t, alt in ALTNAMES.items()},
    **{result_key(alt): t for t, alt in ALTNAMES.items()},
    "USDTZUSD": "USDT",
}

RATE_LIMIT_ERRORS = ("EAPI:Rate limit exceeded", "EGeneral:Too many requests")
THROTTLED = re.compile(r"EService:Throttled:\s*(\d+(?:\.\d+)?)")


def check_errors(body: Any, now: float | None = None) -> None:
    """Turn a non-empty `error` array into a typed error (warnings, `W...`, are not errors)."""
    if not isinstance(body, dict):
        return
    raw = body.get("error") or []
    errors = [str(e) for e in ([raw] if isinstance(raw, str) else raw) if str(e).startswith("E")]
    if not errors:
        return
    text = "; ".join(errors)
    for err in errors:
        if err.startswith("EQuery:Unknown asset pair"):
            raise UnknownSymbol(NAME, text)
        if err.startswith(RATE_LIMIT_ERRORS):
            raise RateLimited(NAME, text)
        throttled = THROTTLED.match(err)
        if throttled:
            until = float(throttled.group(1))
            wait = max(0.0, until - (time.time() if now is None else now))
            raise RateLimited(NAME, text, retry_after=wait)
    raise UpstreamError(NAME, text)


def _result(body: Any) -> dict:
    """The `result` object, or the typed error the body carries instead."""
    check_errors(body)
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict):
        raise MalformedResponse(NAME, "answer has no `result` object")
    return result


def parse_entry(entry: Any, ticker: str, now: float | None = None) -> Quote:
    """One ticker entry -> Quote: last is c[0], change vs today's open `o`, volume v[1] in USD."""
    if not isinstance(entry, dict) or not isinstance(entry.get("c"), list) or not entry["c"]:
        raise MalformedResponse(NAME, f"ticker entry for {ticker} has no last trade `c`")
    last = price(entry["c"][0], NAME, f"{ticker} last")
    volumes = entry.get("v")
    volume = opt_num(volumes[1]) if isinstance(volumes, list) and len(volumes) > 1 else None
    return Quote(symbol=ticker, price=last, source=NAME,
                 timestamp=time.time() if now is None else now, quote_currency="USD",
                 change_24h_pct=pct_change(last, opt_num(entry.get("o"))),
                 volume_24h=volume * last if volume is not None else None)


def parse_ticker(body: Any, ticker: str, now: float | None = None) -> Quote:
    """A single-pair answer -> Quote, found by alias, or by position when it is the only entry
    and its key still names this coin against USD (never another pair such as XBTUSDT)."""
    result = _result(body)
    altname = ALTNAMES.get(ticker, "")
    for key in (result_key(altname), altname):
        if key in result:
            return parse_entry(result[key], ticker, now)
    if len(result) == 1:
        key = next(iter(result))
        if ALIASES.get(key, ticker) == ticker and _usd_pair_of(key, altname[:-3]):
            return parse_entry(result[key], ticker, now)
    raise MalformedResponse(NAME, f"no entry for {ticker} among {sorted(result)[:5]}")


def _usd_pair_of(key: str, base: str) -> bool:
    """Whether a result key reads as `base` against plain USD (X/Z prefixes allowed)."""
    return bool(base) and key.endswith("USD") and base in key[:-3]


def parse_tickers(body: Any, wanted: set[str], now: float | None = None) -> dict[str, Quote]:
    """A batch answer -> {ticker: Quote}; entries are matched through ALIASES, bad ones skipped."""
    return collect_quotes(((ALIASES[k], e) for k, e in _result(body).items()
                           if ALIASES.get(k) in wanted),
                          lambda entry, ticker: parse_entry(entry, ticker, now), NAME)


def parse_ohlc(body: Any) -> list[Candle]:
    """Rows [time s, o, h, l, c, vwap, VOLUME, count] under the pair key (beside `last`)."""
    rows = [v for k, v in _result(body).items() if k != "last" and isinstance(v, list)]
    if len(rows) != 1:
        raise MalformedResponse(NAME, "OHLC answer does not hold exactly one pair")
    return candle_rows(rows[0], NAME, "tohlcwvn", time_ms=False)


class Kraken(Provider):
    name = NAME
    label = "Kraken"
    env_prefix = "KRAKEN"
    default_base_url = "https://api.kraken.com"
    quote_currency = "USD"
    symbols = ALTNAMES
    intervals = {"1m": "1", "5m": "5", "15m": "15", "30m": "30",
                 "1h": "60", "4h": "240", "1d": "1440", "1w": "10080"}
    capabilities = frozenset({"quote", "quotes", "candles"})
    max_candles = 720
    rate_limit = RateLimit(
        requests=15, per_seconds=15,
        note="public endpoints ~1 request/s per IP with a small burst: UNCONFIRMED (secondary "
             "sources), budgeted as 15 per 15 s so one quiet second is not a cooldown; errors "
             "arrive under HTTP 200 as EAPI:Rate limit exceeded / EService:Throttled: <ts>",
        cooldown_s=15, ban_s=600)

    def check_body(self, body: Any, resp: Any) -> None:
        check_errors(body)

    def fetch_quote(self, ticker: str) -> Quote:
        body = self.get_json(ENDPOINTS["ticker"], {"pair": self.pair(ticker)}, kind=KIND_QUOTE)
        return parse_ticker(body, ticker.upper())

    def fetch_quotes(self, tickers: list[str]) -> dict[str, Quote]:
        wanted = set(self.listed_pairs(tickers))
        if not wanted:
            return {}
        pairs = ",".join(sorted(self.symbols[t] for t in wanted))
        body = self.get_json(ENDPOINTS["ticker"], {"pair": pairs}, kind=KIND_QUOTES)
        return parse_tickers(body, wanted)

    def fetch_candles(self, ticker: str, interval: str, limit: int) -> list[Candle]:
        """No limit parameter: Kraken returns up to 720 recent rows; keep the last `limit`."""
        count = max(1, min(limit, self.max_candles))
        params = {"pair": self.pair(ticker), "interval": self.interval(interval)}
        body = self.get_json(ENDPOINTS["ohlc"], params, kind=KIND_CANDLES)
        return parse_ohlc(body)[-count:]
