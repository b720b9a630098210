"""Input validation: runs before anything else so bad input never reaches a provider."""
from __future__ import annotations

import re

from providers.base import INTERVALS

from .errors import InvalidInput

SYMBOL_RE = re.compile(r"^[A-Za-z0-9]{1,15}$")
CANDLE_LIMIT = (1, 500)
TOP_LIMIT = (1, 100)
NEWS_LIMIT = (1, 50)
BATCH_MAX = 50


def symbol(value: object, known: set[str] | frozenset[str], param: str = "symbol") -> str:
    """An upper-case ticker that matches the pattern and that some enabled provider lists."""
    if not isinstance(value, str) or not SYMBOL_RE.match(value.strip()):
        raise InvalidInput(param, f"{str(value)[:40]!r} is not a ticker; use 1-15 letters or "
                           "digits, e.g. BTC")
    ticker = value.strip().upper()
    if ticker not in known:
        raise InvalidInput(param, f"{ticker} is not listed by any enabled provider; "
                           f"known tickers include {', '.join(sorted(known)[:12])}, ...")
    return ticker


def symbols(values: object, known: set[str] | frozenset[str], param: str = "symbols") -> list[str]:
    """A list (or comma string) of 1..BATCH_MAX valid tickers, de-duplicated in order."""
    if isinstance(values, str):
        values = [v for v in values.replace(" ", ",").split(",") if v]
    if not isinstance(values, (list, tuple)) or not values:
        raise InvalidInput(param, "give 1 to 50 tickers, as a list or comma-separated, e.g. BTC,ETH")
    if len(values) > BATCH_MAX:
        raise InvalidInput(param, f"{len(values)} tickers given; at most {BATCH_MAX} per call")
    out: list[str] = []
    for v in values:
        t = symbol(v, known, param)
        if t not in out:
            out.append(t)
    return out


def interval(value: object, param: str = "interval") -> str:
    allowed = ", ".join(INTERVALS)
    if not isinstance(value, str):
        raise InvalidInput(param, f"must be one of {allowed}")
    v = value.strip()
    if v not in INTERVALS and v.lower() in INTERVALS and v != "1M":
        v = v.lower()
    if v not in INTERVALS:
        raise InvalidInput(param, f"{value[:20]!r} is not supported; use one of {allowed}")
    return v


def limit(value: object, bounds: tuple[int, int], param: str = "limit") -> int:
    lo, hi = bounds
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        n = int(value)  # accepts "50" from query strings
    except (TypeError, ValueError):
        raise InvalidInput(param, f"{str(value)[:20]!r} is not an integer; use {lo} to {hi}") from None
    if not lo <= n <= hi:
        raise InvalidInput(param, f"{n} is out of range; use {lo} to {hi}")
    return n
