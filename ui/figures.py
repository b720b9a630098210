"""Pure figure builders: service answers (plain dicts) -> plotly Figures.

Backgrounds are transparent and text is a mid grey so the same figure reads on Gradio's light and
dark themes. Empty or unusable data gives a figure that says so instead of raising.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Iterable

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import formatting as fmt

UP = "#16a34a"
DOWN = "#dc2626"
NEUTRAL = "#94a3b8"
TEXT = "#8590a2"
GRID = "rgba(133, 144, 162, 0.22)"
# Distinct, colour-blind-aware hues that hold up on white and on near-black.
PALETTE = ["#6366f1", "#10b981", "#f59e0b", "#ef4444", "#06b6d4", "#a855f7", "#84cc16",
           "#ec4899", "#14b8a6", "#f97316", "#3b82f6", "#eab308", "#64748b", "#8b5cf6"]

_AXIS = dict(gridcolor=GRID, zerolinecolor=GRID, linecolor=GRID, tickcolor=GRID,
             title_font=dict(size=12))
TEMPLATE = go.layout.Template(layout=dict(
    paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
    font=dict(color=TEXT, size=12, family="ui-sans-serif, system-ui, sans-serif"),
    title=dict(x=0.01, xanchor="left", font=dict(size=15)),
    colorway=PALETTE, xaxis=_AXIS, yaxis=_AXIS,
    margin=dict(l=56, r=16, t=56, b=40),
    legend=dict(bgcolor="rgba(0,0,0,0)"),
    hoverlabel=dict(font=dict(size=12)),
))


def _utc(epoch: float) -> datetime:
    """Naive UTC datetime, so plotly draws the axis in UTC whatever the browser's zone."""
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def empty_figure(message: str, title: str | None = None, height: int = 320) -> go.Figure:
    """A blank figure with the message in the middle: for loading, no data and errors."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14, color=TEXT))
    fig.update_layout(template=TEMPLATE, height=height, title=title,
                      xaxis=dict(visible=False), yaxis=dict(visible=False))
    return fig


def provider_colors(names: Iterable[str]) -> dict[str, str]:
    """A fixed colour per provider (by the order given), shared by every provider chart."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def candlestick(ohlc: dict | None, height: int = 500) -> go.Figure:
    """service.ohlc() -> candles on top, volume bars (green up, red down) underneath."""
    data = ohlc or {}
    candles = data.get("ohlc") or []
    symbol = data.get("symbol", "?")
    timeframe = data.get("timeframe", "")
    title = f"{symbol} · {timeframe} candles"
    if not candles:
        return empty_figure(f"No candles for {symbol} {timeframe}", title, height)
    x = [_utc(c["timestamp"]) for c in candles]
    opens = [c["open"] for c in candles]
    closes = [c["close"] for c in candles]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25],
                        vertical_spacing=0.03)
    fig.add_trace(go.Candlestick(
        x=x, open=opens, high=[c["high"] for c in candles], low=[c["low"] for c in candles],
        close=closes, name=symbol, increasing=dict(line=dict(color=UP), fillcolor=UP),
        decreasing=dict(line=dict(color=DOWN), fillcolor=DOWN)), row=1, col=1)
    fig.add_trace(go.Bar(
        x=x, y=[c["volume"] for c in candles], name="Volume", opacity=0.55,
        marker=dict(color=[UP if c >= o else DOWN for o, c in zip(opens, closes)], line_width=0),
        hovertemplate="%{x}<br>volume %{y:,.2f}<extra></extra>"), row=2, col=1)
    where = data.get("source") or "?"
    if data.get("stale"):
        where += " · stale"
    elif data.get("cached"):
        where += " · cached"
    fig.update_layout(
        template=TEMPLATE, height=height, showlegend=False, bargap=0.15, hovermode="x",
        # The facts on a line of their own, so a phone's narrow chart does not cut them off.
        title=dict(text=f"{title}<br><span style='font-size:12px'>from {where}, "
                        f"last close {fmt.price(closes[-1])}</span>"),
        xaxis=dict(rangeslider=dict(visible=False)),
        margin=dict(l=64, r=16, t=72, b=36))
    fig.update_yaxes(title_text="Price", tickprefix="$", tickformat=_price_tickformat(closes),
                     row=1, col=1)
    fig.update_yaxes(title_text="Volume", tickformat="~s", row=2, col=1)
    return fig


def _price_tickformat(prices: list[float]) -> str:
    """Axis ticks like the tables: whole dollars for big prices, more decimals for small ones."""
    top = max((abs(p) for p in prices), default=0.0)
    if top >= 1000:
        return ",.0f"
    if top >= 10:
        return ",.2f"
    if top >= 0.01:
        return ",.4f"
    return ".3~e" if top < 1e-6 else ",.8~f"


def provider_share(stats: Iterable[dict], colors: dict[str, str] | None = None,
                   height: int = 380) -> go.Figure:
    """provider_stats() -> donut of upstream calls per provider (each slice is its `share`)."""
    rows = [p for p in stats if (p.get("upstream_calls") or 0) > 0]
    title = "Upstream requests by provider"
    if not rows:
        return empty_figure("No upstream calls yet", title, height)
    rows.sort(key=lambda p: -p["upstream_calls"])
    total = sum(p["upstream_calls"] for p in rows)
    colors = colors or provider_colors(p["name"] for p in rows)
    fig = go.Figure(go.Pie(
        labels=[p.get("label") or p["name"] for p in rows],
        values=[p["upstream_calls"] for p in rows],
        customdata=[p["name"] for p in rows],
        marker=dict(colors=[colors.get(p["name"], NEUTRAL) for p in rows],
                    line=dict(color="rgba(0,0,0,0)", width=0)),
        hole=0.58, sort=False, direction="clockwise", textinfo="percent",
        textposition="inside", insidetextorientation="horizontal",
        hovertemplate="%{label}: %{value:,} calls (%{percent})<extra></extra>"))
    fig.add_annotation(text=f"<b>{total:,}</b><br>calls", x=0.5, y=0.5, xref="paper",
                       yref="paper", showarrow=False, font=dict(size=15, color=TEXT))
    fig.update_layout(template=TEMPLATE, title=title, height=height,
                      legend=dict(orientation="v", x=1.0, y=0.5, yanchor="middle"),
                      margin=dict(l=16, r=16, t=56, b=16))
    return fig


def calls_timeseries(series: Iterable[dict], colors: dict[str, str] | None = None,
                     labels: dict[str, str] | None = None, window_minutes: int = 60,
                     now: float | None = None, height: int = 380) -> go.Figure:
    """metrics.series_view() -> upstream calls per minute, one stacked bar segment per provider."""
    now = time.time() if now is None else now
    end_minute = int(now // 60) * 60
    start = end_minute - (window_minutes - 1) * 60
    rows = [r for r in series if r.get("minute", 0) >= start and r.get("calls")]
    title = "Upstream calls per minute"
    subtitle = f"<br><span style='font-size:12px'>last {window_minutes} min, times in UTC</span>"
    if not rows:
        return empty_figure("No upstream calls in this window", title, height)
    per_provider: dict[str, dict[int, int]] = {}
    for r in rows:
        minutes = per_provider.setdefault(r["provider"], {})
        minutes[r["minute"]] = minutes.get(r["minute"], 0) + r["calls"]
    colors = colors or provider_colors(sorted(per_provider))
    labels = labels or {}
    totals = {name: sum(m.values()) for name, m in per_provider.items()}
    fig = go.Figure()
    for name in sorted(per_provider, key=lambda n: -totals[n]):
        minutes = sorted(per_provider[name])
        fig.add_trace(go.Bar(
            x=[_utc(m) for m in minutes], y=[per_provider[name][m] for m in minutes],
            width=[50_000] * len(minutes),   # ms on a date axis: one minute minus a gap
            name=labels.get(name, name), marker=dict(color=colors.get(name, NEUTRAL), line_width=0),
            hovertemplate=f"{labels.get(name, name)}: %{{y}} calls<extra>%{{x|%H:%M}}Z</extra>"))
    first = min(r["minute"] for r in rows)
    left = max(start, min(first, end_minute - 14 * 60))
    fig.update_layout(
        template=TEMPLATE, title=title + subtitle, height=height, barmode="stack", bargap=0.12,
        legend=dict(orientation="h", y=-0.12, x=0, yanchor="top"), hovermode="x",
        xaxis=dict(range=[_utc(left - 30), _utc(end_minute + 30)], tickformat="%H:%M"),
        yaxis=dict(title_text="calls / min", rangemode="tozero"),
        margin=dict(l=56, r=16, t=72, b=40))
    return fig


FEAR_GREED_BANDS = [(0, 25, "#dc2626"), (25, 45, "#f97316"), (45, 55, "#eab308"),
                    (55, 75, "#84cc16"), (75, 100, "#16a34a")]


def fear_greed_gauge(fg: dict | None, height: int = 280) -> go.Figure:
    """service.fear_greed() -> a 0..100 gauge with the source's own classification."""
    fg = fg or {}
    value = fg.get("value")
    if not isinstance(value, (int, float)):
        return empty_figure(fg.get("error") or "Fear & Greed unavailable", "Fear & Greed index",
                            height)
    band = next((c for lo, hi, c in FEAR_GREED_BANDS if value <= hi), UP)
    meta = fg.get("source") or ""
    if fg.get("stale"):
        meta += " · stale"
    fig = go.Figure(go.Indicator(
        mode="gauge+number", value=value,
        number=dict(font=dict(size=40, color=band)),
        title=dict(text=f"Fear & Greed · <b>{fg.get('classification', '')}</b>"
                        + (f"<br><span style='font-size:11px;color:{TEXT}'>{meta}</span>"
                           if meta else ""),
                   font=dict(size=18, color=band)),
        gauge=dict(
            axis=dict(range=[0, 100], tickwidth=1, tickcolor=GRID, tickvals=[0, 25, 50, 75, 100]),
            bar=dict(color="rgba(100,116,139,0.85)", thickness=0.28),
            bgcolor="rgba(0,0,0,0)", borderwidth=0,
            steps=[dict(range=[lo, hi], color=c) for lo, hi, c in FEAR_GREED_BANDS],
            threshold=dict(line=dict(color=band, width=4), thickness=0.9, value=value))))
    fig.update_layout(template=TEMPLATE, height=height, margin=dict(l=36, r=36, t=72, b=8))
    return fig


SENTIMENT_COLORS = {"bullish": UP, "neutral": NEUTRAL, "bearish": DOWN}


def sentiment_shares(aggregate: dict | None, height: int = 200) -> go.Figure:
    """ai.aggregate() -> one 100 % bar split bullish / neutral / bearish."""
    agg = aggregate or {}
    count = agg.get("count") or 0
    title = "Headline sentiment"
    if not count:
        return empty_figure("No headlines analysed", title, height)
    fig = go.Figure()
    for label in ("bullish", "neutral", "bearish"):
        share = float(agg.get(label) or 0.0)
        fig.add_trace(go.Bar(
            x=[share * 100], y=[""], orientation="h", name=label.capitalize(),
            marker=dict(color=SENTIMENT_COLORS[label], line_width=0),
            text=[f"{label} {share * 100:.0f}%" if share >= 0.12 else ""],
            textposition="inside", insidetextanchor="middle", textfont=dict(color="white"),
            hovertemplate=f"{label}: %{{x:.1f}}%<extra></extra>"))
    fig.update_layout(template=TEMPLATE, title=f"{title} ({count} headlines)", height=height,
                      barmode="stack", showlegend=True,
                      legend=dict(orientation="h", y=-0.25, x=0, traceorder="normal"),
                      xaxis=dict(range=[0, 100], ticksuffix="%", showgrid=False),
                      yaxis=dict(showticklabels=False, showgrid=False),
                      margin=dict(l=16, r=16, t=48, b=24))
    return fig


def venues_chart(data: dict | None, height: int = 300) -> go.Figure:
    """service.venues() -> one bar per venue: its deviation from the consensus in bps; used
    venues in grey, excluded ones (outliers, stale quotes) in red with the reason on hover."""
    data = data or {}
    symbol = data.get("symbol", "?")
    rows = [v for v in data.get("venues") or [] if v.get("deviation_bps") is not None]
    c = data.get("consensus") or {}
    if not rows or not c.get("price"):
        return empty_figure(f"No venue quotes for {symbol}", f"{symbol} · venues", height)
    rows.sort(key=lambda v: v["deviation_bps"])
    fig = go.Figure(go.Bar(
        x=[v["deviation_bps"] for v in rows], y=[v["venue"] for v in rows], orientation="h",
        marker=dict(color=[NEUTRAL if v.get("used") else DOWN for v in rows], line_width=0),
        customdata=[[fmt.price(v.get("price_usd")), v.get("quote_currency", ""),
                     fmt.seconds(v.get("age_s")), v.get("reason") or "used"] for v in rows],
        hovertemplate="%{y}: %{x:+.1f} bps<br>%{customdata[0]} USD (quoted in %{customdata[1]})"
                      "<br>age %{customdata[2]}<br>%{customdata[3]}<extra></extra>"))
    band = c.get("band_bps")
    if band:
        for edge in (-band, band):
            fig.add_vline(x=edge, line=dict(color=GRID, dash="dot"))
    title = (f"{symbol} · venues vs consensus {fmt.price(c['price'])} "
             f"({c.get('status')}, spread {c.get('spread_bps', 0):.1f} bps)")
    fig.update_layout(template=TEMPLATE, height=height, title=title, showlegend=False,
                      xaxis=dict(title="deviation from the consensus (bps)", zeroline=True),
                      margin=dict(l=110, r=16, t=56, b=40))
    return fig
