"""Prices tab: a live watchlist, a candlestick chart for any symbol, top coins, Fear & Greed."""
from __future__ import annotations

import time
from typing import Any

import gradio as gr

from routing.service import MarketService

from . import figures, tables
from . import formatting as fmt
from .common import (LOADING, READ, WIDE_SCREEN_JS, attempt, new_table, section, show_all_box,
                     table)

WATCHLIST = ("BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "AVAX", "LINK", "DOT")
INTERVALS = ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"]
WATCHLIST_EVERY_S = 10.0
TOP_LIMIT = 20
CHART_HEIGHT = 500


def _freshness(answer: dict) -> str:
    if answer.get("stale"):
        return f"⚠ stale ({fmt.seconds(answer.get('age_s'))} old)"
    if answer.get("cached"):
        return f"cached {fmt.seconds(answer.get('age_s'))} ago"
    return "live"


# -- handlers (plain functions of the service, so they can be called without a browser) ------------
def watchlist_view(service: MarketService, symbols: tuple[str, ...] = WATCHLIST,
                   show_all: bool = True):
    rows, error = attempt(service.prices, list(symbols))
    if error:
        return (table(tables.placeholder(tables.WATCHLIST_COLUMNS, "unavailable"), show_all),
                section("Watchlist", error=error))
    df = tables.watchlist(rows)
    sources = sorted({r["source"] for r in rows if r.get("source")})
    missing = [r["symbol"] for r in rows if "error" in r]
    stale = [r["symbol"] for r in rows if r.get("stale")]
    parts = [f"{len(rows) - len(missing)}/{len(rows)} priced at {fmt.clock(time.time())}",
             f"from {', '.join(sources) or '—'}",
             f"stale: {', '.join(stale)}" if stale else "",
             f"unavailable: {', '.join(missing)}" if missing else "",
             f"refreshes every {WATCHLIST_EVERY_S:.0f} s · click a row to chart it"]
    return table(df, show_all), section("Watchlist", parts)


def chart_view(service: MarketService, symbol: str, interval: str, limit: Any):
    answer, error = attempt(service.ohlc, symbol or "", interval or "", limit)
    if error:
        title = f"{(symbol or '').strip().upper() or '?'} · {interval}"
        return (figures.empty_figure("No chart: see the message above", title, CHART_HEIGHT),
                section("Chart", error=error))
    parts = [f"{answer['count']} × {answer['timeframe']} candles for {answer['symbol']}",
             f"from {answer['source']}", _freshness(answer), "times in UTC"]
    return figures.candlestick(answer, CHART_HEIGHT), section("Chart", parts)


def top_view(service: MarketService, show_all: bool = True):
    title = "Top coins by market cap"
    answer, error = attempt(service.top_coins, TOP_LIMIT)
    if error:
        return (table(tables.placeholder(tables.TOP_COINS_COLUMNS, "unavailable"), show_all, True),
                section(title, error=error))
    return table(tables.top_coins(answer), show_all, True), section(
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
    watch_all = show_all_box("watchlist-all")
    watch = new_table(tables.WATCHLIST_COLUMNS, elem_id="watchlist", max_height=460)
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

    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=480):
            top_head = gr.HTML(section("Top coins by market cap", [LOADING]))
            top_all = show_all_box("top-coins-all")
            top = new_table(tables.TOP_COINS_COLUMNS, elem_id="top-coins", max_height=420,
                            wrap=True)
        with gr.Column(scale=2, min_width=280):
            fg_head = gr.HTML(section("Fear & Greed", [LOADING]))
            fear_greed = gr.Plot(figures.empty_figure(LOADING, "Fear & Greed index", 280),
                                 show_label=False, elem_id="fear-greed")

    def refresh_watchlist(show_all):
        return watchlist_view(service, symbols, show_all)

    def refresh_chart(sym, iv, n):
        return chart_view(service, sym, iv, n)

    def chart_from_row(iv, n, evt: gr.SelectData):
        row = evt.row_value or []
        sym = str(row[0]) if row else ""
        if not sym.isalnum():          # the "Loading…" or error placeholder row
            return gr.skip(), gr.skip(), gr.skip()
        return (sym, *chart_view(service, sym, iv, n))

    def refresh_top(show_all):
        return top_view(service, show_all)

    def refresh_market(show_all):
        return (*top_view(service, show_all), *fear_greed_view(service))

    market_outputs = [top, top_head, fear_greed, fg_head]
    demo.load(refresh_watchlist, watch_all, [watch, watch_head], js=WIDE_SCREEN_JS, **READ)
    demo.load(refresh_chart, [symbol, interval, limit], [chart, chart_head], **READ)
    demo.load(refresh_market, top_all, market_outputs, js=WIDE_SCREEN_JS, **READ)
    timer.tick(refresh_watchlist, watch_all, [watch, watch_head], **READ)
    watch_all.input(refresh_watchlist, watch_all, [watch, watch_head], **READ)
    top_all.input(refresh_top, top_all, [top, top_head], **READ)
    gr.on([show.click, symbol.submit, interval.input, limit.submit], refresh_chart,
          [symbol, interval, limit], [chart, chart_head], **READ)
    watch.select(chart_from_row, [interval, limit], [symbol, chart, chart_head], **READ)
    return {"timer": timer, "timer_follows_tab": True,
            "on_select": [(refresh_watchlist, watch_all, [watch, watch_head]),
                          (refresh_market, top_all, market_outputs)],
            "show_all": [watch_all, top_all], "watchlist": watch, "chart": chart, "top": top,
            "fear_greed": fear_greed}
