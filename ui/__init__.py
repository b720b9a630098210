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
from .common import PRIVATE, wide_screen_js

__all__ = ["build_blocks", "THEME", "CSS", "HEAD", "TITLE"]

TITLE = "Crypto Market Data"
SIMULATED_BANNER = "Simulated market data (sim/ on loopback) — not live prices"

# Soft's greys and indigo-500 text read at 2.6-4.5:1; these keep every text at >= 4.5:1 (WCAG AA)
# on its own background, light and dark (checked with axe-core in tests/test_browser.py).
THEME = gr.themes.Soft(
    primary_hue="indigo", secondary_hue="emerald", neutral_hue="slate", radius_size="md",
    font=[gr.themes.LocalFont("IBM Plex Sans"), "ui-sans-serif", "system-ui", "sans-serif"],
    font_mono=[gr.themes.LocalFont("IBM Plex Mono"), "ui-monospace", "monospace"],
).set(
    block_padding="10px 12px", layout_gap="12px",
    body_text_color_subdued="*neutral_600", body_text_color_subdued_dark="*neutral_300",
    input_placeholder_color="*neutral_500", input_placeholder_color_dark="*neutral_400",
    block_label_text_color="*primary_700", block_title_text_color="*primary_700",
    color_accent="*primary_600",
    button_primary_background_fill="*primary_600",
    button_primary_background_fill_hover="*primary_700",
    button_primary_background_fill_dark="*primary_600",
    button_primary_background_fill_hover_dark="*primary_700",
    checkbox_label_background_fill_selected="*primary_600",
    button_secondary_background_fill_hover_dark="*primary_600",
    link_text_color="*secondary_700", link_text_color_active="*secondary_700",
    link_text_color_visited="*secondary_700", link_text_color_dark="*secondary_300",
    link_text_color_active_dark="*secondary_300", link_text_color_visited_dark="*secondary_300",
)

# Keyboard access to the status drawer: Escape closes it and gives focus back to the button that
# opens it (Gradio's Sidebar has no key handling of its own).
HEAD = """<script>
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const drawer = document.getElementById("status-drawer");
  if (!drawer || !drawer.classList.contains("open")) return;
  drawer.querySelector(".toggle-button")?.click();
  document.getElementById("open-status")?.focus();
});
</script>"""

# The header button toggles the drawer through the Sidebar's own toggle (so its expand/collapse
# events run), then puts the focus inside the drawer when it opened.
OPEN_DRAWER_JS = """() => {
  const drawer = document.getElementById("status-drawer");
  drawer?.querySelector(".toggle-button")?.click();
  setTimeout(() => {
    if (drawer?.classList.contains("open")) document.getElementById("drawer-refresh")?.focus();
  }, 350);
}"""

CSS = (Path(__file__).parent / "style.css").read_text(encoding="utf-8")


def _header(simulated: bool) -> None:
    with gr.Row(equal_height=True, elem_classes=["app-header-row"]):
        gr.HTML(f'<div class="app-header"><h1>{TITLE}</h1><span class="app-sub">'
                "Prices, candles and sentiment from many free public APIs through one router: "
                "cached, rotated, rate-limit safe.</span></div>", scale=1, min_width=240)
        opener = gr.Button("System status", variant="secondary", size="sm", scale=0,
                           min_width=140, elem_id="open-status")
    opener.click(None, js=OPEN_DRAWER_JS)
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
        boxes = [box for _, parts in tabs for box in parts["show_all"]]
        demo.load(None, None, boxes, js=wide_screen_js(len(boxes)), **PRIVATE)
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
