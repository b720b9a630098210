"""Pure table builders: service answers (plain dicts) -> pandas DataFrames of display strings.

Values are formatted here, once, so every table reads the same ($ prices, signed % with two
decimals, volumes as 1.23 B). An empty input gives a one-row frame that says so, never an error.
"""
from __future__ import annotations

from typing import Iterable

import pandas as pd

from . import formatting as fmt

WATCHLIST_COLUMNS = ["Symbol", "Price", "24h %", "Volume 24h", "Market cap", "Source", "Age (s)",
                     "Cached", "Stale"]
TOP_COINS_COLUMNS = ["#", "Coin", "Price", "24h %", "Market cap", "Volume 24h", "Source"]
PROVIDER_COLUMNS = ["Provider", "State", "Share %", "Calls", "p50 / p95 ms", "Success %",
                    "Rate-limit hits", "Budget left / cap", "Cooldown until (UTC)", "Last error"]
ERROR_COLUMNS = ["Provider", "Count", "Kind", "Last message", "Router action", "Last seen"]
HEADLINE_COLUMNS = ["Published (UTC)", "Headline", "Sentiment", "Score", "Source"]



def placeholder(columns: list[str], message: str) -> pd.DataFrame:
    """A one-row frame with the message in the first column: a readable empty or loading table."""
    return pd.DataFrame([[message] + [""] * (len(columns) - 1)], columns=columns)


def _age(value: object) -> str:
    x = fmt._number(value)
    return fmt.DASH if x is None else f"{x:.1f}"


def watchlist(rows: Iterable[dict], empty: str = "No symbols to show") -> pd.DataFrame:
    """One row per price answer; a symbol nobody could price says why in the Source column."""
    out = []
    for r in rows:
        if "error" in r:
            out.append([r.get("symbol", "?"), fmt.DASH, fmt.DASH, fmt.DASH, fmt.DASH,
                        f"unavailable: {str(r['error'])[:120]}", fmt.DASH, "", ""])
            continue
        quote = r.get("quote_currency") or "USD"
        out.append([
            r.get("symbol", "?"),
            fmt.price(r.get("price")),
            fmt.pct(r.get("change_24h_pct")),
            fmt.compact(r.get("volume_24h"), "$"),
            fmt.compact(r.get("market_cap"), "$"),
            (r.get("source") or fmt.DASH) + (f" ({quote})" if quote != "USD" else ""),
            _age(r.get("age_s")),
            "✓" if r.get("cached") else "",
            "⚠ stale" if r.get("stale") else "",
        ])
    return pd.DataFrame(out, columns=WATCHLIST_COLUMNS) if out else placeholder(
        WATCHLIST_COLUMNS, empty)


def top_coins(data: dict | None, empty: str = "No coins to show") -> pd.DataFrame:
    """The service's top_coins answer ranked by market cap."""
    coins = (data or {}).get("coins") or []
    out = [[
        str(c.get("rank", "")),
        f"{c.get('name') or c.get('symbol')} ({c.get('symbol', '?')})",
        fmt.price(c.get("price")),
        fmt.pct(c.get("change_24h_pct")),
        fmt.compact(c.get("market_cap"), "$"),
        fmt.compact(c.get("volume_24h"), "$"),
        c.get("source") or fmt.DASH,
    ] for c in coins]
    return pd.DataFrame(out, columns=TOP_COINS_COLUMNS) if out else placeholder(
        TOP_COINS_COLUMNS, empty)


def _budget(p: dict) -> str:
    rl = p.get("rate_limit") or {}
    if "budget" not in rl:
        return fmt.DASH
    return f"{rl.get('remaining', 0):,} / {rl['budget']:,}"


def _ms(value: object) -> str:
    x = fmt._number(value)
    return fmt.DASH if x is None else f"{x:.0f}" if x >= 10 else f"{x:.1f}"


def _provider_order(p: dict) -> tuple:
    return (not p.get("enabled", True), -(p.get("share") or 0.0), p.get("name", ""))


def providers(stats: Iterable[dict], empty: str = "No providers configured") -> pd.DataFrame:
    """provider_stats() rows: enabled providers by share of upstream calls, disabled ones last."""
    out = []
    for p in sorted(stats, key=_provider_order):
        lat = p.get("latency_ms") or {}
        until = p.get("cooldown_until") or p.get("breaker_open_until")
        # the backend's sentence for any state but a healthy one; else the last error, if any
        error = (p.get("reason") if p.get("state") not in ("online", "idle")
                 else p.get("last_error"))
        out.append([
            p.get("label") or p.get("name", "?"),
            fmt.state_label(p.get("state")),
            fmt.pct(p.get("share"), signed=False, ratio=True),
            fmt.integer(p.get("upstream_calls", 0)),
            f"{_ms(lat.get('p50'))} / {_ms(lat.get('p95'))}",
            fmt.pct(p.get("success_rate"), signed=False, ratio=True),
            fmt.integer(p.get("rate_limit_hits", 0)),
            _budget(p),
            fmt.clock(until) if until else "",
            fmt.plain(error) if error else "",
        ])
    return pd.DataFrame(out, columns=PROVIDER_COLUMNS) if out else placeholder(
        PROVIDER_COLUMNS, empty)


def recent_errors(details: Iterable[dict], empty: str = "No recent errors") -> pd.DataFrame:
    """system_status()['error_details']: one row per (provider, kind), newest first."""
    out = [[
        e.get("provider", "?"),
        fmt.integer(e.get("count")),
        e.get("type") or e.get("kind") or "?",
        fmt.plain(e.get("message"), 200),
        e.get("action") or "",
        fmt.ago(e.get("last_seen") or e.get("time")),
    ] for e in details]
    return pd.DataFrame(out, columns=ERROR_COLUMNS) if out else placeholder(ERROR_COLUMNS, empty)


def _short_stamp(epoch: object) -> str:
    """11-29 07:53: the year is noise for headlines of the last days."""
    text = fmt.stamp(epoch)
    return text if text == fmt.DASH else text[5:].replace(" UTC", "")


SENTIMENT_COLOR = {"bullish": "#16a34a", "neutral": "#64748b", "bearish": "#dc2626"}


def headlines(news: dict | None, empty: str = "No headlines") -> pd.DataFrame:
    """news_sentiment()['headlines'] as a table, newest first as the service orders them."""
    items = (news or {}).get("headlines") or []
    out = [[
        _short_stamp(h.get("published")),
        h.get("title", ""),
        f"{fmt.DOT} {h['label']}" if h.get("label") else fmt.DASH,
        f"{h['score']:.2f}" if isinstance(h.get("score"), (int, float)) else fmt.DASH,
        h.get("publisher") or h.get("source") or fmt.DASH,
    ] for h in items]
    return pd.DataFrame(out, columns=HEADLINE_COLUMNS) if out else placeholder(
        HEADLINE_COLUMNS, empty)


def _cell_colour(column: str, value: object) -> str:
    text = str(value)
    if column == "24h %":
        colour = "#16a34a" if text.startswith("+") else "#dc2626" if text.startswith("-") else ""
    elif column == "State":
        colour = fmt.STATE_COLOR.get(text.removeprefix(f"{fmt.DOT} ").replace(" ", "_"), "")
    elif column == "Sentiment":
        colour = SENTIMENT_COLOR.get(text.removeprefix(f"{fmt.DOT} "), "")
    elif column == "Stale":
        colour = "#d97706" if text else ""
    else:
        colour = ""
    return f"color: {colour}; font-weight: 600" if colour else ""


STYLED_COLUMNS = ("24h %", "State", "Sentiment", "Stale")


def styled(df: pd.DataFrame):
    """A Styler colouring changes (green up / red down), provider states and sentiment labels;
    the colours read on light and dark backgrounds."""
    styler = df.style
    for column in (c for c in STYLED_COLUMNS if c in df.columns):
        styler = styler.map(lambda v, c=column: _cell_colour(c, v), subset=[column])
    return styler
