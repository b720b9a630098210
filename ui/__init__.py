"""The Gradio UI: four tabs (Prices, Providers, AI Models, API) and the status drawer on the right.

`build_blocks()` composes them; app.py passes `THEME`, `CSS` and `HEAD` to `launch()` (Gradio 6
takes styling there, not in `Blocks()`). UI modules call service functions only.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import gradio as gr

from ai.sentiment import SentimentModel
from routing.service import MarketService

from . import ai_models, api_reference, prices, providers, status_drawer
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


TAB_IDS = ("prices", "providers", "ai-models", "api")


def _timers_for(tabs: list[tuple[str, dict]], shown: str) -> tuple[list[gr.Timer], list[bool]]:
    """The timers to set when tab `shown` becomes visible and whether each runs: its own run if
    they follow the tab (else they are left to its handlers), every other tab's stop."""
    timers, states = [], []
    for tab_id, parts in tabs:
        if tab_id == shown and not parts["timer_follows_tab"]:
            continue
        timers += parts["timers"]
        states += [tab_id == shown] * len(parts["timers"])
    return timers, states


def _set_timers(states: list[bool]) -> Callable[..., tuple]:
    return lambda: tuple(gr.Timer(active=on) for on in states)


# The tab a shared link names, read once from the address as the page opened: whichever of the
# scripts below runs first reads it, before the address bar is rewritten.
_LINKED_TAB = """if (window.__linkedTab === undefined) {
    window.__linkedTab = new URLSearchParams(window.location.search).get("tab") || "";
  }"""

# On page load, open the tab a shared link names (?tab=providers) by clicking it, so its own
# select handlers run (timers, first refresh) exactly as for a user's click. Gradio may select
# the first tab again while the page settles, so the link's tab is re-opened until it has stayed
# open for a second, unless the user clicks or types meanwhile.
OPEN_LINKED_TAB = """() => {
  %s
  const tab = window.__linkedTab;
  const known = %s;
  if (!known.includes(tab) || tab === known[0]) return;
  let tries = 0, settled = 0, userActed = false;
  const acted = (event) => { if (event.isTrusted) userActed = true; };
  document.addEventListener("pointerdown", acted, true);
  document.addEventListener("keydown", acted, true);
  const done = () => {
    document.removeEventListener("pointerdown", acted, true);
    document.removeEventListener("keydown", acted, true);
  };
  const open = () => {
    if (userActed) return done();
    const button = document.getElementById("tab-" + tab + "-button");
    const first = document.getElementById("tab-" + known[0] + "-button");
    if (button && button.getAttribute("aria-selected") === "true") {
      settled += 1;
    } else {
      settled = 0;
      const onFirst = !first || first.getAttribute("aria-selected") !== "false";
      if (button && onFirst) button.click();
    }
    if (settled < 10 && ++tries < 150) setTimeout(open, 100);
    else done();
  };
  open();
}""" % (_LINKED_TAB, json.dumps(list(TAB_IDS)))


def url_follows_tab(tab_id: str) -> str:
    """JS run when a tab is selected: the address bar gets ?tab=<id> (keeping ?symbol= and
    ?interval=), so the view can be shared."""
    return """() => {
  %s
  const url = new URL(window.location.href);
  url.searchParams.set("tab", "%s");
  window.history.replaceState(window.history.state, "", url);
}""" % (_LINKED_TAB, tab_id)


def build_blocks(service: MarketService, sentiment: SentimentModel,
                 news: Callable[[str | None, int], dict], *, simulated: bool = False,
                 register_api: Callable[[], None] | None = None) -> gr.Blocks:
    """The whole UI. `register_api()` is called inside the Blocks context, after the UI events,
    so the public gr.api endpoints live next to the (private) UI handlers.

    A link opens the view it names: `/?symbol=ETH&interval=4h&tab=providers`; the address bar
    follows the user's choices so the view can be shared."""
    with gr.Blocks(title=TITLE) as demo:
        _header(simulated)
        with gr.Tabs(elem_id="main-tabs"):
            with gr.Tab("Prices", id="prices", elem_id="tab-prices") as prices_tab:
                price_parts = prices.build(demo, service)
            with gr.Tab("Providers", id="providers", elem_id="tab-providers") as providers_tab:
                provider_parts = providers.build(demo, service)
            with gr.Tab("AI Models", id="ai-models", elem_id="tab-ai-models") as ai_tab:
                ai_parts = ai_models.build(demo, sentiment, news)
            with gr.Tab("API", id="api", elem_id="tab-api") as api_tab:
                api_parts = api_reference.build(demo)
        status_drawer.build(demo, service)

        # Polling timers run only on the visible tab (the AI tab's own handler runs its timer
        # only while the model loads); selecting a tab also refreshes what it shows.
        tabs = [("prices", price_parts), ("providers", provider_parts), ("ai-models", ai_parts),
                ("api", api_parts)]
        for (tab_id, parts), tab in zip(tabs, (prices_tab, providers_tab, ai_tab, api_tab)):
            timers, states = _timers_for(tabs, tab_id)
            tab.select(_set_timers(states), None, timers, queue=False, **PRIVATE)
            tab.select(None, None, None, js=url_follows_tab(tab_id), **PRIVATE)
            for fn, inputs, outputs in parts["on_select"]:
                tab.select(fn, inputs, outputs, concurrency_limit=None, **PRIVATE)

        demo.load(None, None, None, js=OPEN_LINKED_TAB, **PRIVATE)

        if register_api is not None:
            register_api()
    return demo
