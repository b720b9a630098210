"""What every provider module shares: the normalized dataclasses, the typed errors, and the
`Provider` base class that turns HTTP answers into those errors.

A provider module subclasses `Provider`, declares its endpoints, symbol map, documented rate limit
and capabilities, and implements only the fetch methods it really has. It never routes, caches or
retries: the `http` object handed to it by `routing/` does caching and budgets.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Callable, ClassVar, Iterable, Mapping, Protocol, TypeVar

T = TypeVar("T")

# Canonical candle intervals every caller may ask for; each provider maps the ones it has.
INTERVALS: dict[str, int] = {
    "1m": 60, "5m": 300, "15m": 900, "30m": 1800,
    "1h": 3600, "4h": 14400, "1d": 86400, "1w": 604800,
}

# Kinds of request; the routing layer maps each to a cache expiry and a metrics bucket.
KIND_QUOTE = "quote"
KIND_QUOTES = "quotes"
KIND_CANDLES = "candles"
KIND_TOP = "top"
KIND_FEAR_GREED = "fear_greed"
KIND_NEWS = "news"
KIND_SYMBOLS = "symbols"


# ---------------------------------------------------------------------------- normalized data

@dataclass(frozen=True)
class Quote:
    symbol: str
    price: float                      # in USD (or USDT when quote_currency says so)
    source: str                       # provider name
    timestamp: float                  # epoch seconds of the data
    quote_currency: str = "USD"       # "USD" or "USDT", as the source really quotes
    change_24h_pct: float | None = None   # always percent: 3.1 means +3.1 %
    volume_24h: float | None = None       # 24h volume in the quote currency
    market_cap: float | None = None


@dataclass(frozen=True)
class Candle:
    timestamp: int                    # open time, epoch seconds
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class TopCoin:
    rank: int
    symbol: str
    name: str
    price: float
    market_cap: float
    change_24h_pct: float | None = None
    volume_24h: float | None = None
    source: str = ""


@dataclass(frozen=True)
class FearGreed:
    value: int                        # 0..100
    classification: str               # as the source words it ("Extreme Fear" .. "Extreme Greed")
    timestamp: int                    # epoch seconds of the day the value is for
    source: str = ""
    time_until_update_s: int | None = None


@dataclass(frozen=True)
class NewsItem:
    title: str
    url: str
    source: str                       # provider name
    published: float                  # epoch seconds
    summary: str = ""
    publisher: str = ""               # outlet named by the feed, when it says


# ---------------------------------------------------------------------------- typed errors

class ProviderError(Exception):
    """Base of every error a provider module raises. `kind` feeds the metrics' failure buckets."""
    kind: ClassVar[str] = "http"

    def __init__(self, provider: str, message: str, *, status: int | None = None):
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.status = status


class UnknownSymbol(ProviderError):
    """The provider does not list this ticker (not a health problem)."""
    kind = "unknown_symbol"


class Unsupported(ProviderError):
    """The provider has no endpoint for this request (kind or interval)."""
    kind = "unsupported"


class RateLimited(ProviderError):
    """The provider said we are over its limit; `retry_after` seconds when it told us."""
    kind = "rate_limit"

    def __init__(self, provider: str, message: str, *, retry_after: float | None = None,
                 status: int | None = None):
        super().__init__(provider, message, status=status)
        self.retry_after = retry_after


class Banned(RateLimited):
    """The provider banned this IP for a while (Binance 418, Bybit 403)."""
    kind = "banned"


class UpstreamError(ProviderError):
    """A 5xx, an unexpected 4xx, a connection failure, or a body-level error that is not ours."""
    kind = "http"


class UpstreamTimeout(UpstreamError):
    kind = "timeout"


class MalformedResponse(ProviderError):
    """HTML instead of JSON, missing fields, non-numeric or non-positive prices."""
    kind = "malformed"


class NotConfigured(ProviderError):
    """The provider needs configuration (an API key) that is not set, or rejected it."""
    kind = "config"


# ---------------------------------------------------------------------------- parsing helpers

def num(value: Any, provider: str, what: str) -> float:
    """A finite float from a JSON number or numeric string, else MalformedResponse."""
    if value is None or isinstance(value, bool):
        raise MalformedResponse(provider, f"{what} is missing")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise MalformedResponse(provider, f"{what} is not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(out):
        raise MalformedResponse(provider, f"{what} is not finite: {value!r}")
    return out


def opt_num(value: Any) -> float | None:
    """A float when the value is numeric, else None (for optional fields like market cap)."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def price(value: Any, provider: str, what: str = "price") -> float:
    """A price must be a finite number above zero."""
    out = num(value, provider, what)
    if out <= 0:
        raise MalformedResponse(provider, f"{what} is not positive: {value!r}")
    return out


def pct_change(last: float, open_: float | None) -> float | None:
    """24h change in percent from a last price and the price 24h ago (or the day's open)."""
    if open_ is None or open_ <= 0:
        return None
    return (last - open_) / open_ * 100.0


def ms_to_s(value: Any, provider: str, what: str = "timestamp") -> float:
    return num(value, provider, what) / 1000.0


def ascending(candles: list[Candle]) -> list[Candle]:
    """Candles sorted oldest first with duplicates (same open time) dropped."""
    seen: dict[int, Candle] = {}
    for c in candles:
        seen[c.timestamp] = c
    return [seen[t] for t in sorted(seen)]


def usable(items: Iterable[Any], parse: Callable[[Any], T], provider: str, what: str, *,
           allow_empty: bool = False) -> list[T]:
    """Every item of a list answer that parses. One malformed item is skipped, not fatal; when
    none parses (or, unless `allow_empty`, there is none), the answer itself is malformed."""
    out: list[T] = []
    first_error: MalformedResponse | None = None
    count = 0
    for item in items:
        count += 1
        try:
            out.append(parse(item))
        except MalformedResponse as exc:
            first_error = first_error or exc
    if not out and (count or not allow_empty):
        detail = f" (first: {first_error.message})" if first_error else ""
        raise MalformedResponse(provider, f"{what}: none of {count} items is usable{detail}")
    return out


def collect_quotes(pairs: Iterable[tuple[str, Any]], parse: Callable[[Any, str], "Quote"],
                   provider: str) -> dict[str, "Quote"]:
    """{ticker: Quote} from the (ticker, item) pairs of a batch answer (see `usable`)."""
    return dict(usable(pairs, lambda pair: (pair[0], parse(pair[1], pair[0])), provider,
                       "batch quotes", allow_empty=True))


def candle_rows(rows: Any, provider: str, columns: str, *, time_ms: bool) -> list[Candle]:
    """Positional candle rows -> ascending O-H-L-C-V candles. `columns` names each leading
    column in the provider's own order, e.g. "tochlv" for KuCoin, "tlhocv" for Coinbase."""
    if not isinstance(rows, list):
        raise MalformedResponse(provider, "candles answer is not an array")
    at = {name: i for i, name in enumerate(columns) if name in "tohlcv"}
    candles = []
    for row in rows:
        if not isinstance(row, list) or len(row) < len(columns):
            raise MalformedResponse(provider, f"candle row is not [{', '.join(columns)}, ...]: "
                                    f"{row!r:.80}")
        t = num(row[at["t"]], provider, "candle time")
        candles.append(Candle(timestamp=int(t / 1000 if time_ms else t),
                              open=price(row[at["o"]], provider, "open"),
                              high=price(row[at["h"]], provider, "high"),
                              low=price(row[at["l"]], provider, "low"),
                              close=price(row[at["c"]], provider, "close"),
                              volume=num(row[at["v"]], provider, "volume")))
    if not candles:
        raise MalformedResponse(provider, "candles answer holds no candles")
    return ascending(candles)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (now if now is not None else time.time()))


# ---------------------------------------------------------------------------- provider base

@dataclass(frozen=True)
class RateLimit:
    """A provider's documented limit: `requests` per `per_seconds` (weights count as requests)."""
    requests: int
    per_seconds: float
    note: str = ""
    cooldown_s: float = 60.0          # how long to back off after a 429 that gives no Retry-After
    ban_s: float = 600.0              # how long a ban lasts when the provider does not say


class HTTP(Protocol):
    """What routing hands a provider: a GET that returns a `requests.Response`-like object.

    `kind` picks the cache expiry; `weight` is the request's cost against the provider budget.
    """

    def get(self, url: str, *, params: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None, kind: str = KIND_QUOTE,
            weight: int = 1, expire_after: float | None = None) -> Any: ...


class Provider:
    name: ClassVar[str]                       # registry key and the `source` in answers
    label: ClassVar[str]                      # human name
    env_prefix: ClassVar[str]                 # "<PREFIX>_BASE_URL" overrides the origin
    default_base_url: ClassVar[str]           # scheme + host[:port] only
    rate_limit: ClassVar[RateLimit]
    quote_currency: ClassVar[str] = "USD"
    symbols: ClassVar[dict[str, str]] = {}    # ticker -> provider's id / pair
    intervals: ClassVar[dict[str, str]] = {}  # canonical interval -> provider's
    capabilities: ClassVar[frozenset[str]] = frozenset()
    max_candles: ClassVar[int] = 300
    api_key_env: ClassVar[str | None] = None  # env var holding a key, when the API takes one
    requires_key: ClassVar[bool] = False      # enabled only when the key is set
    weight: ClassVar[float] = 1.0             # routing share; lower = protected
    venue_kind: ClassVar[str] = "exchange"    # "aggregator" when it repackages exchanges' prices
    refresh_s: ClassVar[float] = 0.0          # its quotes change at most this often (0 = live)
    user_agent: ClassVar[str] = "crypto-data-source/1.0 (+https://huggingface.co/spaces)"

    def __init__(self, http: HTTP, base_url: str | None = None):
        self.http = http
        self.base_url = (base_url or os.environ.get(f"{self.env_prefix}_BASE_URL")
                         or self.default_base_url).rstrip("/")

    # -- configuration -----------------------------------------------------------------------
    @classmethod
    def api_key(cls) -> str | None:
        return os.environ.get(cls.api_key_env) if cls.api_key_env else None

    @classmethod
    def configured(cls) -> bool:
        return not cls.requires_key or bool(cls.api_key())

    def supports(self, kind: str, interval: str | None = None) -> bool:
        if kind not in self.capabilities:
            return False
        return interval is None or interval in self.intervals

    def lists(self, ticker: str) -> bool:
        return ticker.upper() in self.symbols

    def pair(self, ticker: str) -> str:
        try:
            return self.symbols[ticker.upper()]
        except KeyError:
            raise UnknownSymbol(self.name, f"{ticker.upper()} is not listed on {self.label}") from None

    def listed_pairs(self, tickers: Iterable[str]) -> dict[str, str]:
        """Ticker -> this provider's pair for the tickers it lists (a batch asks only for these)."""
        return {t.upper(): self.symbols[t.upper()] for t in tickers if self.lists(t)}

    def interval(self, interval: str) -> str:
        try:
            return self.intervals[interval]
        except KeyError:
            raise Unsupported(self.name, f"interval {interval} is not offered by {self.label}; "
                              f"it has {', '.join(self.intervals)}") from None

    # -- HTTP ------------------------------------------------------------------------------
    def get_json(self, path: str, params: Mapping[str, Any] | None = None, *,
                 kind: str = KIND_QUOTE, weight: int = 1,
                 headers: Mapping[str, str] | None = None,
                 expire_after: float | None = None) -> Any:
        """GET base_url+path and return the decoded JSON, or raise a typed error.

        Status handling is shared; body-level errors (HTTP 200 with an error inside) are the
        provider's `check_body`.
        """
        hdrs = {"User-Agent": self.user_agent, "Accept": "application/json"}
        hdrs.update(headers or {})
        resp = self.http.get(self.base_url + path, params=params, headers=hdrs, kind=kind,
                             weight=weight, expire_after=expire_after)
        body = self.decode(resp)
        self.check_status(resp, body)
        self.check_body(body, resp)
        return body

    def decode(self, resp: Any) -> Any:
        text = resp.text if hasattr(resp, "text") else ""
        try:
            return json.loads(text) if text else None
        except ValueError:
            if resp.status_code == 200:
                ctype = resp.headers.get("Content-Type", "")
                raise MalformedResponse(self.name, f"expected JSON, got {ctype or 'text'}: "
                                        f"{text[:60]!r}", status=resp.status_code) from None
            return text  # non-JSON error page: status handling decides

    def check_status(self, resp: Any, body: Any) -> None:
        """Map HTTP status to typed errors. Providers extend this for their own signals."""
        status = resp.status_code
        if status == 200:
            return
        retry = parse_retry_after(resp.headers.get("Retry-After"))
        detail = self.error_text(body) or f"HTTP {status}"
        if status == 429:
            raise RateLimited(self.name, f"rate limited: {detail}",
                              retry_after=retry, status=status)
        if status == 418:
            raise Banned(self.name, f"IP banned: {detail}",
                         retry_after=retry if retry is not None else self.rate_limit.ban_s,
                         status=status)
        if status in (401, 402, 403, 451):
            raise NotConfigured(self.name, f"access refused: {detail}", status=status)
        if status == 404:
            raise UnknownSymbol(self.name, f"not found: {detail}", status=status)
        raise UpstreamError(self.name, detail, status=status)

    def check_body(self, body: Any, resp: Any) -> None:
        """Raise for errors the provider reports inside an HTTP 200. Default: none."""

    @staticmethod
    def error_text(body: Any) -> str:
        """A short human message out of an error body, whatever its shape."""
        if isinstance(body, dict):
            for key in ("msg", "message", "Message", "error", "retMsg", "error_message"):
                val = body.get(key)
                if isinstance(val, str) and val:
                    return val[:200]
                if isinstance(val, list) and val:
                    return "; ".join(map(str, val))[:200]
            status = body.get("status")
            if isinstance(status, dict):
                return str(status.get("error_message") or status)[:200]
        if isinstance(body, str):
            text = re.sub(r"<(script|style)\b.*?</\1>|<[^>]+>", " ", body, flags=re.S | re.I)
            text = " ".join(text.split())
            return (f"HTML page: {text}" if text != body.strip() else text)[:120]
        return ""

    # -- capabilities (override what the provider really has) ------------------------------
    def fetch_quote(self, ticker: str) -> Quote:
        raise Unsupported(self.name, "single quotes")

    def fetch_quotes(self, tickers: list[str]) -> dict[str, Quote]:
        """Many quotes in as few upstream calls as the API allows. Unlisted tickers are left out."""
        raise Unsupported(self.name, "batch quotes")

    def fetch_candles(self, ticker: str, interval: str, limit: int) -> list[Candle]:
        raise Unsupported(self.name, "candles")

    def fetch_top(self, limit: int) -> list[TopCoin]:
        raise Unsupported(self.name, "top coins")

    def fetch_fear_greed(self) -> FearGreed:
        raise Unsupported(self.name, "fear & greed")

    def fetch_news(self, ticker: str | None, limit: int) -> list[NewsItem]:
        raise Unsupported(self.name, "news")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.base_url}>"


@dataclass
class ProviderInfo:
    """A plain description of a provider for status pages."""
    name: str
    label: str
    capabilities: list[str]
    rate_limit: str
    quote_currency: str
    symbols: int
    intervals: list[str] = field(default_factory=list)
