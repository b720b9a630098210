"""Number and time formatting shared by the tables, figures and the status drawer, so a price or a
share reads the same everywhere. Pure functions; a missing value becomes an em dash."""
from __future__ import annotations

import math
import re
import time

DASH = "—"
DOT = "●"

# Provider state -> colour of its dot (the old drawer's 🟢 🟡 🔴 ⚫, drawn with CSS / Styler so it
# shows the same in every browser, with or without an emoji font).
STATE_COLOR = {
    "online": "#16a34a", "degraded": "#eab308", "cooldown": "#f97316", "rate_limited": "#dc2626",
    "down": "#dc2626", "idle": "#6366f1", "disabled": "#64748b",
}


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def price(value: object, currency: str = "$") -> str:
    """$86,589.50 from $10 up, 4 decimals down to a cent ($2.1834, $0.5234), and 4 significant
    digits below a cent ($0.00001234), never scientific notation."""
    x = _number(value)
    if x is None:
        return DASH
    a = abs(x)
    if a >= 10 or a == 0:
        body = f"{a:,.2f}"
    elif a >= 0.01:
        body = f"{a:.4f}"
    else:
        body = f"{a:.{3 - math.floor(math.log10(a))}f}"
    return f"{'-' if x < 0 else ''}{currency}{body}"


def compact(value: object, currency: str = "") -> str:
    """1.23 T / 4.56 B / 7.89 M / 12.3 K, with an optional currency prefix."""
    x = _number(value)
    if x is None:
        return DASH
    a = abs(x)
    for limit, suffix in ((1e12, " T"), (1e9, " B"), (1e6, " M"), (1e3, " K")):
        if a >= limit:
            body = f"{a / limit:.2f}{suffix}"
            break
    else:
        body = f"{a:.2f}" if a % 1 else f"{a:.0f}"
    return f"{'-' if x < 0 else ''}{currency}{body}"


def pct(value: object, *, signed: bool = True, ratio: bool = False) -> str:
    """+3.12% (value already in percent), or from a 0..1 ratio when ratio=True."""
    x = _number(value)
    if x is None:
        return DASH
    if ratio:
        x *= 100
    return f"{x:+.2f}%" if signed else f"{x:.2f}%"


def ms(value: object) -> str:
    x = _number(value)
    if x is None:
        return DASH
    return f"{x:.0f} ms" if x >= 10 else f"{x:.1f} ms"


def seconds(value: object) -> str:
    """Age or duration: 4.2 s, 3 min 5 s, 2 h 10 min."""
    x = _number(value)
    if x is None:
        return DASH
    if x < 60:
        return f"{x:.1f} s" if x < 10 else f"{x:.0f} s"
    if x < 3600:
        return f"{int(x // 60)} min {int(x % 60)} s"
    if x < 86400:
        return f"{int(x // 3600)} h {int(x % 3600 // 60)} min"
    return f"{int(x // 86400)} d {int(x % 86400 // 3600)} h"


def every(value: object) -> str:
    """A refresh period as people say it: 10 s, 2 min, 1 h."""
    x = _number(value)
    if x is None:
        return DASH
    if x < 60:
        return f"{x:.0f} s"
    if x < 3600:
        return f"{x / 60:.0f} min"
    return f"{x / 3600:.0f} h"


def clock(epoch: object) -> str:
    """UTC wall clock of an epoch: 14:05:09Z."""
    x = _number(epoch)
    if x is None or x <= 0:
        return DASH
    return time.strftime("%H:%M:%SZ", time.gmtime(x))


def stamp(epoch: object) -> str:
    """UTC date and time of an epoch: 2026-11-29 14:05 UTC."""
    x = _number(epoch)
    if x is None or x <= 0:
        return DASH
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(x))


def ago(epoch: object, now: float | None = None) -> str:
    """How long ago an epoch was: 3 s ago, 5 min ago."""
    x = _number(epoch)
    if x is None or x <= 0:
        return "never"
    delta = max(0.0, (time.time() if now is None else now) - x)
    if delta < 60:
        return f"{delta:.0f} s ago"
    if delta < 3600:
        return f"{delta // 60:.0f} min ago"
    if delta < 86400:
        return f"{delta // 3600:.0f} h ago"
    return f"{delta // 86400:.0f} d ago"


def state_label(state: object) -> str:
    """● online, ● rate limited ... (the dot is coloured by the table's Styler)."""
    return f"{DOT} {str(state or 'unknown').replace('_', ' ')}"


def plain(text: object, limit: int = 160) -> str:
    """One readable line from an error message: markup removed, spaces collapsed, shortened."""
    s = re.sub(r"<[^>]*(>|$)", " ", str(text or ""))
    s = re.sub(r"\s+", " ", s).strip()
    return s if len(s) <= limit else s[: limit - 1] + "…"


def integer(value: object) -> str:
    x = _number(value)
    return DASH if x is None else f"{x:,.0f}"
