"""The Gradio UI: three tabs (Prices, Providers, AI Models) and the status drawer on the right.

`build_blocks()` composes them; app.py passes `THEME`, `CSS` and `HEAD` to `launch()` (Gradio 6
takes styling there, not in `Blocks()`). UI modules call service functions only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import gradio as gr

from ai.sentiment import SentimentModel
from routing.service import MarketService

from . import ai_models, prices, providers, status_drawer
from .common import PRIVATE

__all__ = ["build_blocks", "THEME", "CSS", "HEAD", "TITLE"]

TITLE = "Crypto Market Data"
SIMULATED_BANNER = "Simulated market data (sim/ on loopback) — not live prices"

THEME = gr.themes.Soft(
    primary_hue="indigo", secondary_hue="emerald", neutral_hue="slate", radius_size="md",
    font=[gr.themes.LocalFont("IBM Plex Sans"), "ui-sans-serif", "system-ui", "sans-serif"],
    font_mono=[gr.themes.LocalFont("IBM Plex Mono"), "ui-monospace", "monospace"],
).set(block_padding="10px 12px", layout_gap="12px")

HEAD = ""   # nothing extra in <head>; kept so app.py can pass it unchanged

CSS = (Path(__file__).parent / "style.css").read_text(encoding="utf-8")


def _header(simulated: bool) -> None:
    gr.HTML(f'<div class="app-header"><h1>{TITLE}</h1><span class="app-sub">'
            "Prices, candles and sentiment from many free public APIs through one router: "
            "cached, rotated, rate-limit safe. System status is in the drawer on the right."
            "</span></div>")
    if simulated:
        gr.HTML(f'<div class="sim-banner" id="sim-banner">⚠ {SIMULATED_BANNER}</div>')


def _set_timers(states: list[bool]) -> Callable[[], tuple]:
    return lambda: tuple(gr.Timer(active=on) for on in states)


def build_blocks(service: MarketService, sentiment: SentimentModel,
                 news: Callable[[str | None, int], dict], *, simulated: bool = False,
                 register_api: Callable[[], None] | None = None) -> gr.Blocks:
    """The whole UI. `register_api()` is called inside the Blocks context, after the UI events,
    so the public gr.api endpoints live next to the (private) UI handlers."""
    with gr.Blocks(title=TITLE) as demo:
        _header(simulated)
        with gr.Tabs(elem_id="main-tabs"):
            with gr.Tab("Prices", id="prices", elem_id="tab-prices") as prices_tab:
                price_parts = prices.build(demo, service)
            with gr.Tab("Providers", id="providers", elem_id="tab-providers") as providers_tab:
                provider_parts = providers.build(demo, service)
            with gr.Tab("AI Models", id="ai-models", elem_id="tab-ai-models") as ai_tab:
                ai_parts = ai_models.build(demo, sentiment, news)
        status_drawer.build(demo, service)

        # Polling timers run only on the visible tab (the AI tab's own handler runs its timer
        # only while the model loads); selecting a tab also refreshes what it shows.
        tabs = [(prices_tab, price_parts), (providers_tab, provider_parts), (ai_tab, ai_parts)]
        for tab, parts in tabs:
            own = [parts["timer"]] if parts["timer_follows_tab"] else []
            others = [p["timer"] for t, p in tabs if t is not tab]
            tab.select(_set_timers([True] * len(own) + [False] * len(others)), None,
                       own + others, queue=False, **PRIVATE)
            for fn, inputs, outputs in parts["on_select"]:
                tab.select(fn, inputs, outputs, concurrency_limit=None, **PRIVATE)

        if register_api is not None:
            register_api()
    return demo
