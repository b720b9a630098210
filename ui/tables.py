"""Pure table builders: service answers (plain dicts) -> typed pandas DataFrames, and the Styler
that formats them for display.

Numbers stay numbers (float64, NaN when missing) so a table sorts $0.18 < $1.99 < $11.84; the
Styler gives each cell its display text ($ prices, ▲ +3.12%, 1.23 B), which Gradio shows while it
sorts on the value. Each table has a few key columns (what a phone shows) and the rest. An empty
input gives a one-row frame that says so in its first text column, never an error.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, NamedTuple

import pandas as pd

from . import formatting as fmt


class Column(NamedTuple):
    name: str
    number: bool = False          # float64 values, sorted as numbers, right-aligned
    key: bool = False             # shown when the table shows only its key columns
    width: int = 10               # relative width, for column_widths


WATCHLIST = (Column("Symbol", key=True, width=9), Column("Price", True, True, 13),
             Column("Consensus", True, width=13), Column("Spread (bps)", True, width=8),
             Column("Venues", width=10),
             Column("24h %", True, True, 11), Column("Volume 24h", True, width=12),
             Column("Market cap", True, width=12), Column("Source", width=16),
             Column("Age (s)", True, width=8), Column("Cached", width=8), Column("Stale", width=9))
TOP_COINS = (Column("#", True, width=5), Column("Coin", key=True, width=18),
             Column("Price", True, True, 15), Column("24h %", True, True, 14),
             Column("Market cap", True, width=14), Column("Volume 24h", True, width=14),
             Column("Source", width=14))
PROVIDERS = (Column("Provider", key=True, width=16), Column("State", key=True, width=13),
             Column("Share %", True, True, 9), Column("Calls", True, width=6),
             Column("p50 ms", True, width=6), Column("p95 ms", True, width=6),
             Column("Success %", True, True, 10), Column("Rate-limit hits", True, width=7),
             Column("Budget left / cap", True, width=12),
             Column("Cooldown until (UTC)", width=9), Column("Last error", width=13))
ERRORS = (Column("Provider", key=True), Column("Count", True, True), Column("Kind", key=True),
          Column("Last message", key=True, width=30), Column("Router action", width=20),
          Column("Last seen"))
HEADLINES = (Column("Published (UTC)", width=14), Column("Headline", key=True, width=38),
             Column("Sentiment", key=True, width=18), Column("Score", True, width=11),
             Column("Source", width=13))

WATCHLIST_COLUMNS = [c.name for c in WATCHLIST]
TOP_COINS_COLUMNS = [c.name for c in TOP_COINS]
PROVIDER_COLUMNS = [c.name for c in PROVIDERS]
ERROR_COLUMNS = [c.name for c in ERRORS]
HEADLINE_COLUMNS = [c.name for c in HEADLINES]
SCHEMAS = {tuple(c.name for c in s): s
           for s in (WATCHLIST, TOP_COINS, PROVIDERS, ERRORS, HEADLINES)}

NAN = float("nan")


def _frame(rows: list[list], schema: tuple[Column, ...]) -> pd.DataFrame:
    """rows -> a frame whose number columns are float64 (None -> NaN) and text columns str."""
    df = pd.DataFrame(rows, columns=[c.name for c in schema])
    for c in schema:
        df[c.name] = (pd.to_numeric(df[c.name], errors="coerce").astype("float64") if c.number
                      else df[c.name].fillna("").astype(str))
    return df


def _schema(columns: Iterable[str]) -> tuple[Column, ...]:
    """The columns of the table these names are (or are a part of), in the given order."""
    names = tuple(columns)
    if names in SCHEMAS:
        return SCHEMAS[names]
    for schema in SCHEMAS.values():
        by_name = {c.name: c for c in schema}
        if all(n in by_name for n in names):
            return tuple(by_name[n] for n in names)
    return tuple(Column(n) for n in names)


def placeholder(columns: list[str], message: str) -> pd.DataFrame:
    """A one-row frame with the message in the first text column: a readable empty or loading
    table with the same column types as the full one."""
    schema = _schema(columns)
    first = next((i for i, c in enumerate(schema) if not c.number), 0)
    row = [None if c.number else "" for c in schema]
    row[first] = message
    return _frame([row], schema)


def _num(value: object) -> float:
    x = fmt._number(value)
    return NAN if x is None else x


def _venues(consensus: dict) -> str:
    """How many venues agreed; "⚠ 3 (okx out)" when the consensus left one out as an outlier."""
    if not consensus:
        return fmt.DASH
    n = len(consensus.get("sources") or [])
    out = [v for v, why in (consensus.get("excluded") or {}).items()
           if str(why).startswith("outlier")]
    return f"⚠ {n} ({', '.join(out)} out)" if out else str(n)


def watchlist(rows: Iterable[dict], empty: str = "No symbols to show") -> pd.DataFrame:
    """One row per price answer, with its cross-venue consensus (USD price, spread in bps, venues
    that agreed); a symbol nobody could price says why in the Source column."""
    out = []
    for r in rows:
        if "error" in r:
            out.append([r.get("symbol", "?"), NAN, NAN, NAN, fmt.DASH, NAN, NAN, NAN,
                        f"unavailable: {str(r['error'])[:120]}", NAN, "", ""])
            continue
        quote = r.get("quote_currency") or "USD"
        consensus = r.get("consensus") or {}
        out.append([
            r.get("symbol", "?"),
            _num(r.get("price")),
            _num(consensus.get("price") or None),
            _num(consensus.get("spread_bps")),
            _venues(consensus),
            _num(r.get("change_24h_pct")),
            _num(r.get("volume_24h")),
            _num(r.get("market_cap")),
            (r.get("source") or fmt.DASH) + (f" ({quote})" if quote != "USD" else ""),
            _num(r.get("age_s")),
            "✓ cached" if r.get("cached") else "",
            "⚠ stale" if r.get("stale") else "",
        ])
    return _frame(out, WATCHLIST) if out else placeholder(WATCHLIST_COLUMNS, empty)


def top_coins(data: dict | None, empty: str = "No coins to show") -> pd.DataFrame:
    """The service's top_coins answer ranked by market cap."""
    coins = (data or {}).get("coins") or []
    out = [[
        _num(c.get("rank")),
        f"{c.get('name') or c.get('symbol')} ({c.get('symbol', '?')})",
        _num(c.get("price")),
        _num(c.get("change_24h_pct")),
        _num(c.get("market_cap")),
        _num(c.get("volume_24h")),
        c.get("source") or fmt.DASH,
    ] for c in coins]
    return _frame(out, TOP_COINS) if out else placeholder(TOP_COINS_COLUMNS, empty)


def _provider_order(p: dict) -> tuple:
    return (not p.get("enabled", True), -(p.get("share") or 0.0), p.get("name", ""))


def providers(stats: Iterable[dict], empty: str = "No providers configured") -> pd.DataFrame:
    """provider_stats() rows: enabled providers by share of upstream calls, disabled ones last.
    Share and success are percentages (0-100); the budget column holds what is left."""
    out = []
    for p in sorted(stats, key=_provider_order):
        lat = p.get("latency_ms") or {}
        rl = p.get("rate_limit") or {}
        until = p.get("cooldown_until") or p.get("breaker_open_until")
        # the backend's sentence for any state but a healthy one; else the last error, if any
        error = (p.get("reason") if p.get("state") not in ("online", "idle")
                 else p.get("last_error"))
        share, success = _num(p.get("share")), _num(p.get("success_rate"))
        out.append([
            p.get("label") or p.get("name", "?"),
            fmt.state_label(p.get("state")),
            share * 100,
            _num(p.get("upstream_calls", 0)),
            _num(lat.get("p50")),
            _num(lat.get("p95")),
            success * 100,
            _num(p.get("rate_limit_hits", 0)),
            _num(rl.get("remaining", 0)) if "budget" in rl else NAN,
            fmt.clock(until) if until else "",
            fmt.plain(error) if error else "",
        ])
    frame = _frame(out, PROVIDERS) if out else placeholder(PROVIDER_COLUMNS, empty)
    # The cap is not a column of its own: it is shown next to what is left ("4,794 / 4,800").
    frame.attrs["budget_caps"] = [(p.get("rate_limit") or {}).get("budget")
                                  for p in sorted(stats, key=_provider_order)]
    return frame


def recent_errors(details: Iterable[dict], empty: str = "No recent errors") -> pd.DataFrame:
    """system_status()['error_details']: one row per (provider, kind), newest first."""
    out = [[
        e.get("provider", "?"),
        _num(e.get("count")),
        e.get("type") or e.get("kind") or "?",
        fmt.plain(e.get("message"), 200),
        e.get("action") or "",
        fmt.ago(e.get("last_seen") or e.get("time")),
    ] for e in details]
    return _frame(out, ERRORS) if out else placeholder(ERROR_COLUMNS, empty)


def _short_stamp(epoch: object) -> str:
    """11-29 07:53: the year is noise for headlines of the last days."""
    text = fmt.stamp(epoch)
    return text if text == fmt.DASH else text[5:].replace(" UTC", "")


SENTIMENT_MARK = {"bullish": "▲", "neutral": "■", "bearish": "▼"}


def headlines(news: dict | None, empty: str = "No headlines") -> pd.DataFrame:
    """news_sentiment()['headlines'] as a table, newest first as the service orders them."""
    items = (news or {}).get("headlines") or []
    out = [[
        _short_stamp(h.get("published")),
        h.get("title", ""),
        f"{SENTIMENT_MARK.get(h['label'], fmt.DOT)}\u00a0{h['label']}" if h.get("label")
        else fmt.DASH,
        _num(h.get("score")),
        h.get("publisher") or h.get("source") or fmt.DASH,
    ] for h in items]
    return _frame(out, HEADLINES) if out else placeholder(HEADLINE_COLUMNS, empty)


# -- display ---------------------------------------------------------------------------------------
def _blank(formatter: Callable[[float], str]) -> Callable[[object], str]:
    """A formatter that shows a missing number as an em dash (or nothing in a placeholder)."""
    def show(value: object) -> str:
        x = fmt._number(value)
        return fmt.DASH if x is None else formatter(x)
    return show


def change(x: float) -> str:
    """▲ +3.12% / ▼ -1.80%: the arrow and the sign carry the direction, not only the colour."""
    arrow = "▲" if x > 0 else "▼" if x < 0 else "■"
    return f"{arrow}\u00a0{fmt.pct(x)}"          # no line break between arrow and number


def _ms(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}"


FORMATS: dict[str, Callable[[float], str]] = {
    "Price": fmt.price, "Consensus": fmt.price, "Spread (bps)": lambda x: f"{x:.1f}",
    "24h %": change,
    "Volume 24h": lambda x: fmt.compact(x, "$"), "Market cap": lambda x: fmt.compact(x, "$"),
    "Age (s)": lambda x: f"{x:.1f}", "#": lambda x: f"{x:.0f}",
    "Share %": lambda x: f"{x:.1f}%", "Success %": lambda x: f"{x:.1f}%",
    "Calls": fmt.integer, "Rate-limit hits": fmt.integer, "Count": fmt.integer,
    "p50 ms": _ms, "p95 ms": _ms, "Score": lambda x: f"{x:.2f}",      # the label's confidence
}

# Text colours are CSS variables (style.css sets them for light and dark, at >= 4.5:1 contrast).
UP, DOWN, WARN, MUTED = "var(--ui-up)", "var(--ui-down)", "var(--ui-warn)", "var(--ui-muted)"
# Keys are routing.status.STATES' words (the State column shows "● <word>").
STATE_TONE = {"online": UP, "degraded": WARN, "cooldown": WARN, "rate limited": DOWN,
              "down": DOWN, "idle": MUTED, "disabled": MUTED}
SENTIMENT_TONE = {"bullish": UP, "neutral": MUTED, "bearish": DOWN}


def _tone(column: str, value: object) -> str:
    if column == "24h %":
        x = fmt._number(value)
        return "" if x is None or x == 0 else UP if x > 0 else DOWN
    text = str(value)
    if column == "State":
        return STATE_TONE.get(text.split(" ", 1)[-1], "")
    if column == "Sentiment":
        return SENTIMENT_TONE.get(text.split("\u00a0", 1)[-1], "")
    if column == "Stale":
        return WARN if text else ""
    if column == "Venues":
        return WARN if text.startswith("⚠") else ""
    return ""


STYLED_COLUMNS = ("24h %", "State", "Sentiment", "Stale", "Venues")


def key_columns(columns: Iterable[str]) -> list[str]:
    return [c.name for c in _schema(columns) if c.key]


def visible(df: pd.DataFrame, show_all: bool = True) -> pd.DataFrame:
    """All columns, or only the key ones (what fits a phone)."""
    return df if show_all else df[key_columns(df.columns)]


def datatypes(columns: Iterable[str]) -> list[str]:
    """gr.Dataframe datatype per column: "number" sorts numerically."""
    return ["number" if c.number else "str" for c in _schema(columns)]


def widths(columns: Iterable[str]) -> list[str]:
    """gr.Dataframe column_widths in %, from the columns' relative widths."""
    schema = _schema(columns)
    total = sum(c.width for c in schema) or 1
    return [f"{100 * c.width / total:.0f}%" for c in schema]


def styled(df: pd.DataFrame):
    """A Styler that keeps the typed values and gives each cell its display text; changes are
    coloured up/down with ▲▼ and a sign, provider states and sentiment labels by tone."""
    formats = {c: _blank(FORMATS[c]) for c in df.columns if c in FORMATS}
    styler = df.style.format(formats)
    if "Budget left / cap" in df.columns:
        caps = df.attrs.get("budget_caps") or []
        for i, (label, left) in enumerate(df["Budget left / cap"].items()):
            cap = caps[i] if i < len(caps) else None
            text = (fmt.DASH if math.isnan(left) else
                    f"{left:,.0f} / {cap:,}" if cap is not None else f"{left:,.0f}")
            styler = styler.format(lambda _v, t=text: t,
                                   subset=pd.IndexSlice[[label], ["Budget left / cap"]])
    for column in (c for c in STYLED_COLUMNS if c in df.columns):
        styler = styler.map(lambda v, c=column: (f"color: {_tone(c, v)}; font-weight: 600"
                                                 if _tone(c, v) else ""), subset=[column])
    return styler
