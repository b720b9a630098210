"""Prices tab: a live watchlist, a candlestick chart for any symbol, top coins, Fear & Greed."""
from __future__ import annotations

import re
import time
from typing import Any

import gradio as gr

from routing.service import MarketService

from . import figures, tables
from . import formatting as fmt
from .common import (LIVE_HEAD, LOADING, PRIVATE, WIDE_SCREEN_JS_LAST, Notice, age_html,
                     attempt, keep, kept_head, live, new_table, section, show_all_box, shown,
                     table, without_fixed_age)

WATCHLIST = ("BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "AVAX", "LINK", "DOT")
INTERVALS = ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"]
DEFAULT_SYMBOL, DEFAULT_INTERVAL = "BTC", "1h"
WATCHLIST_EVERY_S = 10.0
TOP_LIMIT = 20
CHART_HEIGHT = 500
VENUES_HEIGHT = 300
SYMBOL_RE = re.compile(r"^[A-Za-z0-9]{1,15}$")


def _data_at(answer: dict, now: float) -> float:
    """When the answer's data was true, from its own age."""
    return now - float(answer.get("age_s") or 0.0)


def _freshness(answer: dict) -> str:
    """Whether what the panel shows is a stale fallback (its age is in the age line)."""
    return "⚠ stale" if answer.get("stale") else ""


def _stale_notice(service: MarketService, what: str, answer: dict,
                  next_try_s: float) -> Notice | None:
    """When the answer is a stale fallback, the backend's sentence for it (all sources failing,
    what is shown, next retry) with each source's reason folded under it. `next_try_s` is this
    panel's refresh period: when it asks again. The age is left to the head's live age line."""
    if not answer.get("stale"):
        return None
    outage, _ = attempt(service.outage, what, time.time() - (answer.get("age_s") or 0.0),
                        next_try_s)
    return Notice(without_fixed_age(outage["message"]), outage["details"]) if outage else None


# -- handlers (plain functions of the service, so they can be called without a browser) ------------
def watchlist_view(service: MarketService, symbols: tuple[str, ...] = WATCHLIST,
                   show_all: bool = True, last: dict | None = None):
    """(table, head, what the table now shows). `last` is what it showed before (None: only a
    placeholder): when the refresh fails that stays on screen and the head says why."""
    rows, error = attempt(service.prices, list(symbols))
    now = time.time()
    if error and last:
        return keep(), kept_head("Watchlist", error, last, now), last
    if error:
        return (table(tables.placeholder(tables.WATCHLIST_COLUMNS, "unavailable"), show_all),
                section("Watchlist", error=error), None)
    df = tables.watchlist(rows)
    priced = [r for r in rows if "error" not in r]
    sources = sorted({r["source"] for r in priced if not r.get("stale")})
    missing = [r["symbol"] for r in rows if "error" in r]
    stale = [r["symbol"] for r in priced if r.get("stale")]
    oldest = max((r.get("age_s") or 0.0 for r in priced), default=None)
    notice = None
    if priced and len(stale) == len(priced):       # nothing fresh: every source failed
        notice = _stale_notice(service, "quote", max(priced, key=lambda r: r.get("age_s") or 0),
                               WATCHLIST_EVERY_S)
    parts = [f"{len(priced)}/{len(rows)} priced",
             f"from {', '.join(sources)}" if sources else "",
             disagreement(rows),
             f"stale: {', '.join(stale)}" if stale and not notice else "",
             f"unavailable: {', '.join(missing)}" if missing else "",
             f"refreshes about every {WATCHLIST_EVERY_S:.0f} s · click a row to chart it"]
    if oldest is None and last:         # not one coin priced: the last prices stay
        return keep(), kept_head("Watchlist", f"none of the {len(rows)} coins could be priced.",
                                 last, now), last
    if oldest is None:
        return table(df, show_all), section("Watchlist", parts, warning=notice), None
    return (table(df, show_all),
            section("Watchlist", parts, warning=notice, age=age_html("prices", now - oldest, now)),
            shown("prices", now - oldest))


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


def venues_view(service: MarketService, symbol: str, has_chart: bool = False):
    """The Venues chart for the charted coin: each venue's deviation from the consensus. When
    it fails and a chart is already shown, that chart stays (its title names its coin)."""
    data, error = attempt(service.venues, symbol or "")
    if error and has_chart:
        return keep()
    if error:
        return figures.empty_figure("No venue quotes: see the message above",
                                    f"{(symbol or '').strip().upper() or '?'} · venues",
                                    VENUES_HEIGHT)
    return figures.venues_chart(data, VENUES_HEIGHT)


def chart_view(service: MarketService, symbol: str, interval: str, limit: Any,
               last: dict | None = None):
    """(figure, head, what the chart now shows); as watchlist_view, a failure keeps the chart
    already shown (the head names what it shows)."""
    answer, error = attempt(service.ohlc, symbol or "", interval or "", limit)
    now = time.time()
    if error and last:
        return keep(), kept_head("Chart", error, last, now), last
    if error:
        title = f"{(symbol or '').strip().upper() or '?'} · {interval}"
        return (figures.empty_figure("No chart: see the message above", title, CHART_HEIGHT),
                section("Chart", error=error), None)
    pace = MarketService.fresh_for_s("candles", answer["timeframe"])
    parts = [f"{answer['count']} × {answer['timeframe']} candles for {answer['symbol']}",
             f"from {answer['source']}", _freshness(answer),
             f"refreshes about every {fmt.every(pace)}", "times in UTC"]
    notice = _stale_notice(service, f"candles {answer['symbol']} {answer['timeframe']}", answer,
                           pace)
    what = f"{answer['symbol']} {answer['timeframe']} candles"
    at = _data_at(answer, now)
    return (figures.candlestick(answer, CHART_HEIGHT),
            section("Chart", parts, warning=notice, age=age_html(what, at, now)), shown(what, at))


def top_view(service: MarketService, show_all: bool = True, last: dict | None = None):
    """(table, head, what the table now shows), as watchlist_view."""
    title = "Top coins by market cap"
    answer, error = attempt(service.top_coins, TOP_LIMIT)
    now = time.time()
    if error and last:
        return keep(), kept_head(title, error, last, now), last
    if error:
        return (table(tables.placeholder(tables.TOP_COINS_COLUMNS, "unavailable"), show_all, True),
                section(title, error=error), None)
    parts = [f"top {answer['count']}", f"from {answer['source']}", _freshness(answer),
             f"refreshes about every {fmt.every(MarketService.fresh_for_s('top'))}"]
    at = _data_at(answer, now)
    return table(tables.top_coins(answer), show_all, True), section(
        title, parts,
        warning=_stale_notice(service, "top", answer, MarketService.fresh_for_s("top")),
        age=age_html("market caps", at, now)), shown("market caps", at)


def fear_greed_view(service: MarketService, last: dict | None = None):
    """(gauge, head, what the gauge now shows), as watchlist_view."""
    answer, error = attempt(service.fear_greed)
    now = time.time()
    if error and last:
        return keep(), kept_head("Fear & Greed", error, last, now), last
    if error:
        return (figures.fear_greed_gauge({"error": "Fear & Greed unavailable"}),
                section("Fear & Greed", error=error), None)
    parts = [f"from {answer['source']}", _freshness(answer),
             f"next value in {fmt.seconds(answer.get('time_until_update_s'))}"
             if answer.get("time_until_update_s") else "",
             f"refreshes about every {fmt.every(MarketService.fresh_for_s('fear_greed'))}"]
    at = _data_at(answer, now)
    return figures.fear_greed_gauge(answer), section(
        "Fear & Greed", parts,
        warning=_stale_notice(service, "fear", answer, MarketService.fresh_for_s("fear_greed")),
        age=age_html("index", at, now)), shown("index", at)


def link_choice(params: dict) -> tuple[str, str]:
    """(symbol, interval) asked for by a shared link's ?symbol=&interval=, each falling back to
    the default when absent or not plausible."""
    sym = str(params.get("symbol") or "").strip()
    iv = str(params.get("interval") or "").strip()
    return (sym.upper() if SYMBOL_RE.match(sym) else DEFAULT_SYMBOL,
            iv if iv in INTERVALS else DEFAULT_INTERVAL)


# The address bar follows the chart's symbol and interval, so the view can be shared as a link.
URL_FOLLOWS_CHART = """(symbol, interval) => {
  const url = new URL(window.location.href);
  if (symbol) url.searchParams.set("symbol", String(symbol).trim().toUpperCase());
  if (interval) url.searchParams.set("interval", interval);
  window.history.replaceState(window.history.state, "", url);
}"""


# -- layout and wiring --------------------------------------------------------------------------
def build(demo: gr.Blocks, service: MarketService,
          symbols: tuple[str, ...] = WATCHLIST) -> dict[str, Any]:
    """Create the tab's components (inside the caller's gr.Tab) and wire their events.

    Returns its timers, whether they follow the tab's visibility, the handlers to run when the
    tab is selected as (fn, inputs, outputs, the panel head that says "refreshing…"), and the
    main components. Each live panel has its own timer at the pace its data changes: the
    watchlist every 10 s, the chart at its interval's cache expiry, top coins and Fear & Greed
    at theirs; and a gr.State saying what it shows, so a failed refresh keeps that."""
    watch_head = gr.HTML(section("Watchlist", [LOADING]), elem_id="watchlist-head",
                         elem_classes=[LIVE_HEAD])
    watch_all = show_all_box("watchlist-all")
    watch = new_table(tables.WATCHLIST_COLUMNS, elem_id="watchlist", max_height=460)
    timer = gr.Timer(WATCHLIST_EVERY_S)

    chart_head = gr.HTML(section("Chart", [LOADING]), elem_id="chart-head",
                         elem_classes=[LIVE_HEAD])
    with gr.Row(equal_height=True, elem_classes=["controls-row"]):
        symbol = gr.Textbox(value=DEFAULT_SYMBOL, label="Symbol", placeholder="BTC", max_lines=1,
                            scale=2, min_width=120, elem_id="chart-symbol")
        interval = gr.Dropdown(INTERVALS, value=DEFAULT_INTERVAL, label="Interval", scale=1,
                               min_width=100, elem_id="chart-interval")
        # No minimum/maximum here: the router validates, and its message names the range.
        limit = gr.Number(value=120, label="Candles", precision=0, scale=1, min_width=100,
                          elem_id="chart-limit")
        show = gr.Button("Show chart", variant="primary", scale=1, min_width=120,
                         elem_id="chart-button")
    chart = gr.Plot(figures.empty_figure(LOADING, height=CHART_HEIGHT), show_label=False,
                    elem_id="price-chart")
    venues = gr.Plot(figures.empty_figure(LOADING, "Venues", VENUES_HEIGHT), show_label=False,
                     elem_id="venues-chart")
    chart_timer = gr.Timer(MarketService.fresh_for_s("candles", DEFAULT_INTERVAL))

    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=480):
            top_head = gr.HTML(section("Top coins by market cap", [LOADING]),
                               elem_id="top-coins-head", elem_classes=[LIVE_HEAD])
            top_all = show_all_box("top-coins-all")
            top = new_table(tables.TOP_COINS_COLUMNS, elem_id="top-coins", max_height=420,
                            wrap=True)
        with gr.Column(scale=2, min_width=280):
            fg_head = gr.HTML(section("Fear & Greed", [LOADING]), elem_id="fear-greed-head",
                              elem_classes=[LIVE_HEAD])
            fear_greed = gr.Plot(figures.empty_figure(LOADING, "Fear & Greed index", 280),
                                 show_label=False, elem_id="fear-greed")
    top_timer = gr.Timer(MarketService.fresh_for_s("top"))
    fg_timer = gr.Timer(MarketService.fresh_for_s("fear_greed"))

    watch_last, chart_last, top_last, fg_last = (gr.State(None) for _ in range(4))

    def refresh_watchlist(show_all, last):
        return watchlist_view(service, symbols, show_all, last)

    def refresh_chart(sym, iv, n, last):
        figure, head, now_shown = chart_view(service, sym, iv, n, last)
        return (figure, head, venues_view(service, sym, has_chart=now_shown is not None),
                gr.Timer(MarketService.fresh_for_s("candles", iv if iv in INTERVALS else None)),
                now_shown)

    def load_chart(n, last, request: gr.Request):
        """First chart of the page: the one a shared link asks for (?symbol=ETH&interval=4h)."""
        sym, iv = link_choice(dict(request.query_params) if request else {})
        return (sym, iv, *refresh_chart(sym, iv, n, last))

    def chart_from_row(iv, n, last, evt: gr.SelectData):
        row = evt.row_value or []
        sym = str(row[0]) if row else ""
        if not sym.isalnum():          # the "Loading…" or error placeholder row
            return (gr.skip(),) * 6
        return (sym, *refresh_chart(sym, iv, n, last))

    def refresh_top(show_all, last):
        return top_view(service, show_all, last)

    def refresh_fear_greed(last):
        return fear_greed_view(service, last)

    watch_io = ([watch_all, watch_last], [watch, watch_head, watch_last])
    chart_in = [symbol, interval, limit, chart_last]
    chart_outputs = [chart, chart_head, venues, chart_timer, chart_last]
    top_io = ([top_all, top_last], [top, top_head, top_last])
    fg_io = ([fg_last], [fear_greed, fg_head, fg_last])
    demo.load(refresh_watchlist, *watch_io, js=WIDE_SCREEN_JS_LAST, **live(watch_head))
    demo.load(load_chart, [limit, chart_last], [symbol, interval, *chart_outputs],
              **live(chart_head))
    demo.load(refresh_top, *top_io, js=WIDE_SCREEN_JS_LAST, **live(top_head))
    demo.load(refresh_fear_greed, *fg_io, **live(fg_head))
    timer.tick(refresh_watchlist, *watch_io, **live(watch_head))
    chart_timer.tick(refresh_chart, chart_in, chart_outputs, **live(chart_head))
    top_timer.tick(refresh_top, *top_io, **live(top_head))
    fg_timer.tick(refresh_fear_greed, *fg_io, **live(fg_head))
    watch_all.input(refresh_watchlist, *watch_io, **live(watch_head))
    top_all.input(refresh_top, *top_io, **live(top_head))
    gr.on([show.click, symbol.submit, interval.input, limit.submit], refresh_chart,
          chart_in, chart_outputs, **live(chart_head))
    watch.select(chart_from_row, [interval, limit, chart_last], [symbol, *chart_outputs],
                 **live(chart_head))
    gr.on([symbol.change, interval.change], None, [symbol, interval], None,
          js=URL_FOLLOWS_CHART, **PRIVATE)
    return {"timers": [timer, chart_timer, top_timer, fg_timer], "timer_follows_tab": True,
            "on_select": [(refresh_watchlist, *watch_io, watch_head),
                          (refresh_top, *top_io, top_head),
                          (refresh_fear_greed, *fg_io, fg_head)],
            "show_all": [watch_all, top_all], "watchlist": watch, "chart": chart,
            "venues": venues, "top": top, "fear_greed": fear_greed, "symbol": symbol,
            "interval": interval}
