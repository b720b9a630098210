"""Providers tab: how upstream requests are spread over the providers, over time, and each
provider's health, latency, budget and cooldown."""
from __future__ import annotations

import time
from typing import Any

import gradio as gr

from routing.service import MarketService

from . import figures, tables
from . import formatting as fmt
from .common import (LIVE_HEAD, LOADING, WIDE_SCREEN_JS_LAST, age_html, attempt, esc, keep,
                     kept_head, live, message, new_table, section, show_all_box, shown, table)

REFRESH_EVERY_S = 5.0
WINDOW_MINUTES = 60


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary_cards(stats: list[dict], performance: dict) -> str:
    """A row of headline numbers above the charts."""
    enabled = [p for p in stats if p.get("enabled", True) and p.get("state") != "disabled"]
    online = sum(p.get("state") == "online" for p in enabled)
    idle = sum(p.get("state") == "idle" for p in enabled)
    by_state: dict[str, list[str]] = {}
    for p in enabled:
        by_state.setdefault(p.get("state_label") or str(p.get("state")), []).append(
            p.get("label") or p["name"])
    notes = [f"{', '.join(names)} {word}" for word, names in by_state.items()
             if word not in ("online", "idle")]
    cards = [
        ("Providers online", f"{online} / {len(enabled)}",
         "; ".join(notes) or (f"{idle} not used yet" if idle else "no problems")),
        ("Upstream calls", fmt.integer(sum(p.get("upstream_calls") or 0 for p in stats)),
         _plural(sum(1 for p in stats if p.get("upstream_calls")), "provider") + " used"),
        ("Cache hit rate", fmt.pct(performance.get("cache_hit_rate"), signed=False, ratio=True),
         f"{fmt.integer(performance.get('requests'))} user requests"),
        ("Upstream / request", f"{performance.get('upstream_per_request') or 0:.2f}",
         f"avg answer {fmt.ms(performance.get('avg_response_ms'))}"),
        ("Rate-limit answers", fmt.integer(sum(p.get("rate_limit_hits") or 0 for p in stats)),
         f"{len(stats) - len(enabled)} providers disabled" if len(stats) > len(enabled)
         else "all providers enabled"),
        ("Outliers", fmt.integer(sum(p.get("outliers") or 0 for p in stats)),
         ", ".join(f"{p.get('label') or p['name']} {p['outliers']}" for p in stats
                   if p.get("outliers")) or "every quote agreed with the other venues"),
    ]
    body = "".join(f'<div class="stat-card"><div class="stat-label">{esc(label)}</div>'
                   f'<div class="stat-value">{esc(value)}</div>'
                   f'<div class="stat-note">{esc(note)}</div></div>'
                   for label, value, note in cards)
    return f'<div class="stat-cards">{body}</div>'


def providers_view(service: MarketService, show_all: bool = True, last: dict | None = None):
    """(cards, share figure, time-series figure, table, meta, what they now show) for the tab's
    outputs; the table shows its key columns only unless `show_all`. When the statistics fail
    and older ones are shown (`last`), those stay and the meta says why."""
    stats, error = attempt(service.provider_stats)
    now = time.time()
    if error and last:
        return keep(), keep(), keep(), keep(), kept_head("Providers", error, last, now), last
    if error:
        empty = figures.empty_figure("Provider statistics unavailable")
        unavailable = tables.placeholder(tables.PROVIDER_COLUMNS, "unavailable")
        return (message(error, "error"), empty, empty, table(unavailable, show_all, True),
                section("Providers", error=error), None)
    traffic, _ = attempt(service.traffic)
    performance = (traffic or {}).get("totals") or {}
    series = (traffic or {}).get("per_minute")
    colors = figures.provider_colors(p["name"] for p in stats)
    labels = {p["name"]: p.get("label") or p["name"] for p in stats}
    return (summary_cards(stats, performance),
            figures.provider_share(stats, colors),
            figures.calls_timeseries(series or [], colors, labels, WINDOW_MINUTES),
            table(tables.providers(stats), show_all, True),
            section("Providers", [f"refreshes about every {REFRESH_EVERY_S:.0f} s while this tab "
                                  "is open", "share = part of all real upstream calls"],
                    age=age_html("statistics", now, now)),
            shown("statistics", now))


def build(demo: gr.Blocks, service: MarketService) -> dict[str, Any]:
    """The tab's components and events; returns them as prices.build does."""
    cards = gr.HTML(message(LOADING), elem_id="provider-cards")
    with gr.Row(equal_height=True):
        share = gr.Plot(figures.empty_figure(LOADING, "Upstream requests by provider", 380),
                        show_label=False, elem_id="provider-share", scale=2, min_width=320)
        series = gr.Plot(figures.empty_figure(LOADING, "Upstream calls per minute", 380),
                         show_label=False, elem_id="provider-series", scale=3, min_width=420)
    head = gr.HTML(section("Providers", [LOADING]), elem_id="providers-head",
                   elem_classes=[LIVE_HEAD])
    show_all = show_all_box("provider-table-all")
    grid = new_table(tables.PROVIDER_COLUMNS, elem_id="provider-table", wrap=True,
                     max_height=820)
    timer = gr.Timer(REFRESH_EVERY_S, active=False)

    last = gr.State(None)
    inputs, outputs = [show_all, last], [cards, share, series, grid, head, last]

    def refresh(all_columns, shown_before):
        return providers_view(service, all_columns, shown_before)

    demo.load(refresh, inputs, outputs, js=WIDE_SCREEN_JS_LAST, **live(head))
    timer.tick(refresh, inputs, outputs, **live(head))
    show_all.input(refresh, inputs, outputs, **live(head))
    return {"timers": [timer], "timer_follows_tab": True,
            "on_select": [(refresh, inputs, outputs, head)],
            "show_all": [show_all], "table": grid, "share": share, "series": series}
