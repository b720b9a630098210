"""How numbers and times look on the wire: the providers disagree, so each picks its helper."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from email.utils import format_datetime


def price_decimals(value: float, most: int = 8) -> int:
    """Decimals of an exchange tick for a price of this size (~6 significant digits, at least
    2): BTC 90123.45, ETH 3012.55, DOGE 0.181234, SHIB 0.00000883."""
    if value <= 0 or not math.isfinite(value):
        return 2
    return max(2, min(most, 5 - math.floor(math.log10(value))))


def padded(value: float, decimals: int) -> str:
    """Fixed decimals, zero-padded: Binance's "68656.96000000"."""
    return f"{value:.{decimals}f}"


def trimmed(value: float, decimals: int) -> str:
    """Fixed decimals with trailing zeros dropped: OKX/KuCoin/Bybit's "84036.1"."""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def price_text(value: float, most: int = 8, *, pad: bool = False) -> str:
    """A price rounded to its tick, as a string."""
    decimals = price_decimals(abs(value), most)
    return padded(value, decimals) if pad else trimmed(value, decimals)


def sig(value: float, digits: int = 10) -> float:
    """A JSON number with `digits` significant digits (aggregators send long floats)."""
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


def iso_ms(t: float) -> str:
    """2024-04-07T16:49:31.736Z"""
    dt = datetime.fromtimestamp(t, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def iso_s(t: float) -> str:
    """2025-06-25T10:47:48Z"""
    return datetime.fromtimestamp(int(t), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc822(t: float) -> str:
    """RSS pubDate: Mon, 17 Nov 2025 10:00:00 GMT"""
    return format_datetime(datetime.fromtimestamp(int(t), tz=timezone.utc), usegmt=True)


def pct(new: float, old: float) -> float:
    """Percent change; 0 when there is nothing to compare with (a zeroed price)."""
    return (new / old - 1.0) * 100.0 if old else 0.0


def ms(t: float) -> int:
    return int(round(t * 1000))


def parse_time(value: str | None) -> float | None:
    """A time parameter as epoch seconds: unix seconds or milliseconds, or ISO 8601."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    return number / 1000.0 if number > 1e11 else number
