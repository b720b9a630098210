"""Prices tab: a live watchlist, a candlestick chart for any symbol, top coins, Fear & Greed."""
from __future__ import annotations

import time
from typing import Any

import gradio as gr

from routing.service import MarketService

from . import figures, tables
from . import formatting as fmt
from .common import LOADING, READ, attempt, section

WATCHLIST = ("BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "AVAX", "LINK", "DOT")
INTERVALS = ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"]
WATCHLIST_EVERY_S = 10.0
TOP_LIMIT = 20
CHART_HEIGHT = 500
VENUES_HEIGHT = 300


def _freshness(answer: dict) -> str:
    if answer.get("stale"):
        return f"⚠ stale ({fmt.seconds(answer.get('age_s'))} old)"
    if answer.get("cached"):
        return f"cached {fmt.seconds(answer.get('age_s'))} ago"
    return "live"


# -- handlers (plain functions of the service, so they can be called without a browser) ------------
def watchlist_view(service: MarketService, symbols: tuple[str, ...] = WATCHLIST):
    rows, error = attempt(service.prices, list(symbols))
    if error:
        return (tables.placeholder(tables.WATCHLIST_COLUMNS, "unavailable"),
                section("Watchlist", error=error))
    df = with_consensus(tables.watchlist(rows), rows)
    sources = sorted({r["source"] for r in rows if r.get("source")})
    missing = [r["symbol"] for r in rows if "error" in r]
    stale = [r["symbol"] for r in rows if r.get("stale")]
    parts = [f"{len(rows) - len(missing)}/{len(rows)} priced at {fmt.clock(time.time())}",
             f"from {', '.join(sources) or '—'}",
             disagreement(rows),
             f"stale: {', '.join(stale)}" if stale else "",
             f"unavailable: {', '.join(missing)}" if missing else "",
             f"refreshes every {WATCHLIST_EVERY_S:.0f} s · click a row to chart it"]
    return tables.styled(df), section("Watchlist", parts)


def with_consensus(df, rows: list[dict]):
    """The watchlist with each coin's consensus: its USD price, spread in bps and how many
    venues agreed, "⚠" and the venue left out when one disagreed."""
    if len(df) != len(rows):             # the placeholder row of an empty list
        return df
    prices, spreads, venues = [], [], []
    for r in rows:
        c = r.get("consensus") or {}
        out = [v for v, why in (c.get("excluded") or {}).items() if why.startswith("outlier")]
        prices.append(fmt.price(c.get("price")) if c.get("price") else fmt.DASH)
        spreads.append(f"{c['spread_bps']:.1f}" if c.get("spread_bps") is not None else fmt.DASH)
        n = len(c.get("sources") or [])
        venues.append((f"⚠ {n} ({', '.join(out)} out)" if out else str(n)) if c else fmt.DASH)
    at = list(df.columns).index("Price") + 1 if "Price" in df.columns else len(df.columns)
    df = df.copy()
    df.insert(at, "Venues", venues)
    df.insert(at, "Spread (bps)", spreads)
    df.insert(at, "Consensus", prices)
    return df


def disagreement(rows: list[dict]) -> str:
    """"venues disagree: BTC (okx)" for the coins whose consensus left a venue out as an
    outlier, else the least agreement seen, e.g. "consensus of 3-7 venues"."""
    marked, counts = [], []
    for r in rows:
        c = r.get("consensus") or {}
        outliers = [v for v, why in (c.get("excluded") or {}).items() if why.startswith("outlier")]
        if outliers:
            marked.append(f"{r['symbol']} ({', '.join(outliers)})")
        if c.get("sources"):
            counts.append(len(c["sources"]))
    if marked:
        return "⚠ venues disagree: " + "; ".join(marked)
    if counts:
        return f"consensus of {min(counts)}-{max(counts)} venues" if min(counts) != max(counts) \
            else f"consensus of {counts[0]} venues"
    return ""


def venues_view(service: MarketService, symbol: str):
    """The Venues chart for the charted coin: each venue's deviation from the consensus."""
    data, error = attempt(service.venues, symbol or "")
    if error:
        return figures.empty_figure("No venue quotes: see the message above",
                                    f"{(symbol or '').strip().upper() or '?'} · venues",
                                    VENUES_HEIGHT)
    return figures.venues_chart(data, VENUES_HEIGHT)


def chart_view(service: MarketService, symbol: str, interval: str, limit: Any):
    answer, error = attempt(service.ohlc, symbol or "", interval or "", limit)
    if error:
        title = f"{(symbol or '').strip().upper() or '?'} · {interval}"
        return (figures.empty_figure("No chart: see the message above", title, CHART_HEIGHT),
                section("Chart", error=error))
    parts = [f"{answer['count']} × {answer['timeframe']} candles for {answer['symbol']}",
             f"from {answer['source']}", _freshness(answer), "times in UTC"]
    return figures.candlestick(answer, CHART_HEIGHT), section("Chart", parts)


def top_view(service: MarketService):
    title = "Top coins by market cap"
    answer, error = attempt(service.top_coins, TOP_LIMIT)
    if error:
        return (tables.placeholder(tables.TOP_COINS_COLUMNS, "unavailable"),
                section(title, error=error))
    return tables.styled(tables.top_coins(answer)), section(
        title, [f"top {answer['count']}", f"from {answer['source']}", _freshness(answer)])


def fear_greed_view(service: MarketService):
    answer, error = attempt(service.fear_greed)
    if error:
        return (figures.fear_greed_gauge({"error": "Fear & Greed unavailable"}),
                section("Fear & Greed", error=error))
    parts = [f"from {answer['source']}", _freshness(answer),
             f"next in {fmt.seconds(answer.get('time_until_update_s'))}"
             if answer.get("time_until_update_s") else ""]
    return figures.fear_greed_gauge(answer), section("Fear & Greed", parts)


# -- layout and wiring --------------------------------------------------------------------------
def build(demo: gr.Blocks, service: MarketService,
          symbols: tuple[str, ...] = WATCHLIST) -> dict[str, Any]:
    """Create the tab's components (inside the caller's gr.Tab) and wire their events.

    Returns its timer, whether that timer should follow the tab's visibility, the handlers to run
    when the tab is selected as (fn, inputs, outputs), and the main components."""
    watch_head = gr.HTML(section("Watchlist", [LOADING]), elem_id="watchlist-head")
    watch = gr.Dataframe(tables.placeholder(tables.WATCHLIST_COLUMNS, LOADING),
                         interactive=False, show_label=False, elem_id="watchlist",
                         elem_classes=["compact-table"], max_height=460)
    timer = gr.Timer(WATCHLIST_EVERY_S)

    chart_head = gr.HTML(section("Chart", [LOADING]), elem_id="chart-head")
    with gr.Row(equal_height=True, elem_classes=["controls-row"]):
        symbol = gr.Textbox(value="BTC", label="Symbol", placeholder="BTC", max_lines=1,
                            scale=2, min_width=120, elem_id="chart-symbol")
        interval = gr.Dropdown(INTERVALS, value="1h", label="Interval", scale=1, min_width=100,
                               elem_id="chart-interval")
        # No minimum/maximum here: the router validates, and its message names the range.
        limit = gr.Number(value=120, label="Candles", precision=0, scale=1, min_width=100,
                          elem_id="chart-limit")
        show = gr.Button("Show chart", variant="primary", scale=1, min_width=120,
                         elem_id="chart-button")
    chart = gr.Plot(figures.empty_figure(LOADING, height=CHART_HEIGHT), show_label=False,
                    elem_id="price-chart")
    venues = gr.Plot(figures.empty_figure(LOADING, "Venues", VENUES_HEIGHT), show_label=False,
                     elem_id="venues-chart")

    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=480):
            top_head = gr.HTML(section("Top coins by market cap", [LOADING]))
            top = gr.Dataframe(tables.placeholder(tables.TOP_COINS_COLUMNS, LOADING),
                               interactive=False, show_label=False, elem_id="top-coins",
                               elem_classes=["compact-table"], max_height=420)
        with gr.Column(scale=2, min_width=280):
            fg_head = gr.HTML(section("Fear & Greed", [LOADING]))
            fear_greed = gr.Plot(figures.empty_figure(LOADING, "Fear & Greed index", 280),
                                 show_label=False, elem_id="fear-greed")

    def refresh_watchlist():
        return watchlist_view(service, symbols)

    def refresh_chart(sym, iv, n):
        return (*chart_view(service, sym, iv, n), venues_view(service, sym))

    def chart_from_row(iv, n, evt: gr.SelectData):
        row = evt.row_value or []
        sym = str(row[0]) if row else ""
        if not sym.isalnum():          # the "Loading…" or error placeholder row
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return (sym, *chart_view(service, sym, iv, n), venues_view(service, sym))

    def refresh_market():
        return (*top_view(service), *fear_greed_view(service))

    market_outputs = [top, top_head, fear_greed, fg_head]
    demo.load(refresh_watchlist, None, [watch, watch_head], **READ)
    demo.load(refresh_chart, [symbol, interval, limit], [chart, chart_head, venues], **READ)
    demo.load(refresh_market, None, market_outputs, **READ)
    timer.tick(refresh_watchlist, None, [watch, watch_head], **READ)
    gr.on([show.click, symbol.submit, interval.input, limit.submit], refresh_chart,
          [symbol, interval, limit], [chart, chart_head, venues], **READ)
    watch.select(chart_from_row, [interval, limit], [symbol, chart, chart_head, venues], **READ)
    return {"timer": timer, "timer_follows_tab": True,
            "on_select": [(refresh_watchlist, None, [watch, watch_head]),
                          (refresh_market, None, market_outputs)],
            "watchlist": watch, "chart": chart, "venues": venues, "top": top,
            "fear_greed": fear_greed}
