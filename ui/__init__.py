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
from .common import PRIVATE, live, wide_screen_js

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
// Ages keep counting while a refresh runs. Each age element says when its data was true (data-at)
// and the server's clock as it rendered (data-now); its age is the age then plus the time since
// this browser first saw that rendering (remembered across a tab's re-mount), so a slow or wrong
// browser clock changes nothing. The words match ui/formatting.py seconds().
(() => {
  const firstSeen = new Map();
  const words = (s) => s < 10 ? `${s.toFixed(1)} s` : s < 60 ? `${Math.round(s)} s`
    : s < 3600 ? `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`
    : s < 86400 ? `${Math.floor(s / 3600)} h ${Math.floor(s % 3600 / 60)} min`
    : `${Math.floor(s / 86400)} d ${Math.floor(s % 86400 / 3600)} h`;
  const tick = () => {
    const now = performance.now() / 1000;
    const present = new Set();
    for (const el of document.querySelectorAll(".ui-age[data-at][data-now]")) {
      const key = `${el.dataset.at}/${el.dataset.now}`;
      present.add(key);
      if (!firstSeen.has(key)) firstSeen.set(key, now);
      const age = Math.max(0, el.dataset.now - el.dataset.at) + (now - firstSeen.get(key));
      const text = `${words(age)} old`;
      if (el.textContent !== text) el.textContent = text;
    }
    for (const [key, seen] of firstSeen) {    // forget renderings gone for an hour
      if (!present.has(key) && now - seen > 3600) firstSeen.delete(key);
    }
  };
  setInterval(tick, 1000);
})();
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
        # only while the model loads); selecting a tab also refreshes what it shows, leaving
        # the old content on screen until the new one is in (each `on_select` names the
        # panel head that says "refreshing…").
        tabs = [("prices", price_parts), ("providers", provider_parts), ("ai-models", ai_parts),
                ("api", api_parts)]
        boxes = [box for _, parts in tabs for box in parts.get("show_all", [])]
        demo.load(None, None, boxes, js=wide_screen_js(len(boxes)), **PRIVATE)
        for (tab_id, parts), tab in zip(tabs, (prices_tab, providers_tab, ai_tab, api_tab)):
            timers, states = _timers_for(tabs, tab_id)
            tab.select(_set_timers(states), None, timers, queue=False, **PRIVATE)
            tab.select(None, None, None, js=url_follows_tab(tab_id), **PRIVATE)
            for fn, inputs, outputs, head in parts["on_select"]:
                tab.select(fn, inputs, outputs, **live(head))

        demo.load(None, None, None, js=OPEN_LINKED_TAB, **PRIVATE)

        if register_api is not None:
            register_api()
    return demo
