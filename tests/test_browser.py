"""The UI in a real browser: `python app.py` against the simulator (the `app_server` fixture),
driven by Playwright with the system Chromium, axe-core (node_modules/, pinned in package.json)
injected into the page.

Every tab shows data, bad input shows a message, and the status drawer opens with its six
sections. At 390, 768 and 1440 px, light and dark, no view scrolls sideways and axe finds no
serious or critical violation; tables sort numbers as numbers; the drawer opens by keyboard and by
tap and Escape closes it. Screenshots go to artifacts/ (git-ignored), named view-width-theme.

A missing Playwright, Chromium or axe-core fails the run (the `browser` fixture, tests/browser.py).
"""
from __future__ import annotations

import re

import pytest

from tests.browser import ARTIFACTS, ROOT, TIMEOUT_MS, expect, first_column, open_page, open_tab
from tests.checks import require

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SECTIONS = ["All Providers", "AI Models", "Infrastructure", "Cache & Resources", "Recent Errors",
            "Performance"]
BLOCKING = ("serious", "critical")


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        require(False, f"axe-core not found at {AXE}; run `npm ci` at the repository root")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(browser, app_server):
    """One wide page for the functional tests: the tabs are visited in order like a user would."""
    with open_page(browser, app_server.url) as pg:
        yield pg


def column(page, table_id: str, index: int) -> list[str]:
    return page.locator(f"#{table_id} [role=gridcell][data-col='{index}']").all_inner_texts()


def plot_types(page, plot_id: str) -> list[str]:
    """The plotly trace types drawn in a gr.Plot (plotly keeps them on the graph div)."""
    selector = f"#{plot_id} .js-plotly-plot"
    page.wait_for_function(
        f"() => {{ const g = document.querySelector('{selector}');"
        " return g && g.data && g.data.length > 0; }", timeout=TIMEOUT_MS)
    return page.evaluate(f"() => document.querySelector('{selector}').data.map(t => t.type)")


def settled(page) -> None:
    """No component is waiting for an answer, and none is fading back in (Gradio shows pending
    ones at 20 % opacity, and contrast is measured on what is painted)."""
    page.wait_for_function(
        "() => !document.querySelector('.pending') && !document.getAnimations().some("
        "a => a instanceof CSSTransition && a.playState === 'running')", timeout=TIMEOUT_MS)


def drawer_is_open(page) -> bool:
    return "open" in (page.locator("#status-drawer").get_attribute("class") or "").split()


# -- what each view shows --------------------------------------------------------------------------
def show_prices(page) -> None:
    open_tab(page, "Prices")
    expect(first_column(page, "watchlist").first).to_have_text("BTC")
    expect(page.locator("#top-coins [role=gridcell][data-row='0']").first).not_to_have_text(
        re.compile("Loading"))
    expect(page.locator("#price-chart [data-testid=plotly]")).to_be_visible()
    expect(page.locator("#chart-head")).to_contain_text("candles for")


def show_providers(page) -> None:
    open_tab(page, "Providers")
    expect(first_column(page, "provider-table").first).not_to_have_text(re.compile("Loading"))
    expect(page.locator("#provider-cards")).to_contain_text("Upstream calls")


def show_ai_models(page) -> None:
    open_tab(page, "AI Models")
    expect(page.locator("#model-status .badge")).to_be_visible()
    expect(page.locator("#news-head")).to_contain_text("headlines for", timeout=60_000)


def show_drawer(page) -> None:
    if not drawer_is_open(page):
        page.locator("#open-status").click()
    expect(page.locator("#status-drawer")).to_have_class(re.compile(r"\bopen\b"))
    expect(page.locator("#drawer-all-providers")).to_contain_text("Binance")
    page.wait_for_timeout(400)                     # let the slide-in animation finish


def show_api(page) -> None:
    open_tab(page, "API")
    reference = page.locator("#api-reference")
    expect(reference).to_contain_text("/get_venues")
    expect(reference).to_contain_text("gradio_api/call/v2/get_price")


VIEWS = [("prices", show_prices), ("providers", show_providers), ("ai-models", show_ai_models),
         ("api", show_api), ("drawer", show_drawer)]


# -- checks ----------------------------------------------------------------------------------------
def sideways_overflow(page) -> str | None:
    width, inner = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]")
    return None if width <= inner else f"page is {width} px wide in a {inner} px window"


def axe_violations(page, axe_source: str) -> list[dict]:
    """axe-core's serious and critical violations on the whole page, Gradio's parts included."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source)
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map(
            v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => ({
              target: n.target.join(' '),
              data: (n.any[0] && n.any[0].data && n.any[0].data.contrastRatio)
                ? `${n.any[0].data.fgColor} on ${n.any[0].data.bgColor}`
                  + ` = ${n.any[0].data.contrastRatio}:1` : ''}))}))""")
    return [v for v in found if v["impact"] in BLOCKING]


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"  {v['id']} ({v['impact']}, {len(v['nodes'])} elements): {v['help']}")
        lines += [f"      {n['target'][-110:]} {n['data']}" for n in v["nodes"][:6]]
    return "\n".join(lines)


# -- every view, at every width, in both themes ----------------------------------------------------
@pytest.mark.parametrize("width, theme", [(390, "light"), (390, "dark"), (768, "light"),
                                          (1440, "light"), (1440, "dark")])
def test_every_view_fits_the_screen_and_has_no_serious_accessibility_violation(
        browser, app_server, axe_source, width, theme):
    problems = []
    with open_page(browser, app_server.url, width, theme) as pg:
        for name, show in VIEWS:
            show(pg)
            settled(pg)
            if overflow := sideways_overflow(pg):
                problems.append(f"{name}: {overflow}")
            if found := axe_violations(pg, axe_source):
                problems.append(f"{name}: axe found\n{describe(found)}")
            pg.screenshot(path=str(ARTIFACTS / f"{name}-{width}-{theme}.png"),
                          full_page=name != "drawer")
        if width <= 768:                           # a phone's drawer covers the whole screen
            box = pg.locator("#status-drawer").bounding_box()
            if not box or box["x"] > 1 or box["width"] < width - 1:
                problems.append(f"drawer: covers {box} of a {width} px screen")
        assert not pg.page_errors, pg.page_errors
    assert not problems, f"at {width} px, {theme}:\n" + "\n".join(problems)


# -- the tabs' content -----------------------------------------------------------------------------
def test_prices_tab_shows_watchlist_chart_top_coins_and_fear_greed(page):
    open_tab(page, "Prices")
    symbols = first_column(page, "watchlist")
    expect(symbols.first).to_have_text("BTC")
    assert symbols.count() >= 8
    price = page.locator("#watchlist [role=gridcell][data-row='0'][data-col='1']")
    expect(price).to_have_text(re.compile(r"^\s*\$[\d,]+\.\d{2,4}\s*$"))
    change = page.locator("#watchlist [role=gridcell][data-row='0'][data-col='5']")
    expect(change).to_have_text(re.compile(r"^\s*[▲▼■]\s[+-]\d+\.\d{2}%\s*$"))
    expect(page.locator("#watchlist-head")).to_contain_text("priced")
    expect(page.locator("#price-chart [data-testid=plotly]")).to_be_visible()
    assert plot_types(page, "price-chart") == ["candlestick", "bar"]
    expect(page.locator("#chart-head")).to_contain_text("candles for BTC")
    expect(page.locator("#venues-chart [data-testid=plotly]")).to_be_visible()
    assert plot_types(page, "venues-chart") == ["bar"]
    consensus = page.locator("#watchlist [role=gridcell][data-row='0'][data-col='2']")
    expect(consensus).to_have_text(re.compile(r"^\s*\$[\d,]+\.\d{2,4}\s*$"))
    expect(first_column(page, "top-coins").first).to_have_text("1")
    assert first_column(page, "top-coins").count() >= 5
    assert plot_types(page, "fear-greed") == ["indicator"]


def test_prices_tab_shows_bad_input_as_a_message(page):
    open_tab(page, "Prices")
    page.locator("#chart-symbol textarea, #chart-symbol input").first.fill("NOSUCHCOIN")
    page.locator("#chart-button").click()
    error = page.locator("#chart-head .ui-msg-error")
    expect(error).to_contain_text("symbol")
    expect(error).to_contain_text("NOSUCHCOIN")
    expect(error).not_to_contain_text("Traceback")
    page.locator("#chart-symbol textarea, #chart-symbol input").first.fill("ETH")
    page.locator("#chart-button").click()
    expect(page.locator("#chart-head")).to_contain_text("candles for ETH")


def number(text: str) -> float | None:
    """The value a cell shows: $88,869.65, ▼ -1.80%, $1.77 T, 12.5% ... (None for a dash)."""
    scale = {"T": 1e12, "B": 1e9, "M": 1e6, "K": 1e3}
    match = re.search(r"([+-]?[\d,]*\.?\d+)\s*([TBMK])?", text.replace("−", "-"))
    if not match:
        return None
    return float(match.group(1).replace(",", "")) * scale.get(match.group(2) or "", 1.0)


def header_menu(page, table_id: str, index: int, item: str) -> None:
    """Pick an item of a column's header menu (⋮), as a user does."""
    page.locator(f"#{table_id} th[data-heading='{index}']").click()
    page.locator(f"#{table_id} th[data-heading='{index}'] .cell-menu-button").click()
    page.get_by_role("menuitem", name=item).click()


def sort_by(page, table_id: str, index: int, direction: str) -> list[float]:
    """Sort a table by one column only and read that column back as numbers."""
    header_menu(page, table_id, index, "Clear sort")     # a second sort would only break ties
    header_menu(page, table_id, index, f"Sort {direction}")
    values = [number(t) for t in column(page, table_id, index)]
    return [v for v in values if v is not None]


@pytest.mark.parametrize("header", ["Price", "24h %", "Market cap"])
def test_tables_sort_numbers_as_numbers(page, header):
    open_tab(page, "Prices")
    expect(page.locator("#top-coins [role=gridcell][data-row='0']").first).not_to_have_text(
        re.compile("Loading"))
    headers = [h.strip() for h in page.locator("#top-coins th").all_inner_texts()]
    index = next(i for i, h in enumerate(headers) if h.startswith(header))
    up = sort_by(page, "top-coins", index, "ascending")
    assert len(up) >= 8 and up == sorted(up), f"{header} ascending: {up}"
    down = sort_by(page, "top-coins", index, "descending")
    assert down == sorted(down, reverse=True), f"{header} descending: {down}"
    assert up[0] < down[0]


def test_providers_tab_shows_share_time_series_and_table(page):
    open_tab(page, "Providers")
    names = first_column(page, "provider-table")
    expect(names.first).not_to_have_text("Loading…")
    assert names.count() >= 5
    expect(page.locator("#provider-table")).to_contain_text("online")
    expect(page.locator("#provider-share [data-testid=plotly]")).to_be_visible()
    assert plot_types(page, "provider-share") == ["pie"]
    assert set(plot_types(page, "provider-series")) == {"bar"}
    expect(page.locator("#provider-cards")).to_contain_text("Upstream calls")


def test_show_all_columns_switches_between_key_and_all_columns(page):
    open_tab(page, "Providers")
    box = page.locator("#provider-table-all input")
    expect(box).to_be_checked()                    # a wide screen starts with every column
    expect(page.locator("#provider-table th")).to_have_count(11)
    box.uncheck()
    expect(page.locator("#provider-table th")).to_have_count(4)
    assert [h.strip() for h in page.locator("#provider-table th").all_inner_texts()] == [
        "Provider", "State", "Share %", "Success %"]
    box.check()
    expect(page.locator("#provider-table th")).to_have_count(11)


def test_ai_models_tab_shows_status_analysis_and_news(page):
    open_tab(page, "AI Models")
    status = page.locator("#model-status")
    expect(status.locator(".badge")).to_have_text("Loaded", timeout=60_000)   # tiny local model
    expect(status).to_contain_text("transformers")
    headlines = page.locator("#news-table [role=gridcell][data-col='1']")
    expect(headlines.first).not_to_have_text("")
    assert headlines.count() >= 3
    expect(page.locator("#news-head")).to_contain_text("headlines for BTC")
    assert plot_types(page, "news-shares") == ["bar", "bar", "bar"]
    assert plot_types(page, "news-fear-greed") == ["indicator"]
    page.locator("#analyze-text textarea").fill("Bitcoin rallies as ETF inflows surge")
    page.locator("#analyze-button").click()
    expect(page.locator("#analyze-result")).to_contain_text("engine: transformers")
    page.locator("#analyze-text textarea").fill("   ")
    page.locator("#analyze-button").click()
    expect(page.locator("#analyze-result .ui-msg-error")).to_contain_text("empty")


# -- the status drawer -----------------------------------------------------------------------------
def test_status_drawer_opens_with_its_six_sections(page):
    open_tab(page, "Prices")
    drawer = page.locator("#status-drawer")
    page.locator("#open-status").click()
    expect(drawer).to_have_class(re.compile(r"\bopen\b"))
    titles = drawer.locator("button.label-wrap")
    expect(titles).to_have_count(len(SECTIONS))
    assert [t.replace("▼", "").strip() for t in titles.all_inner_texts()] == SECTIONS
    for title in SECTIONS:
        expect(titles.filter(has_text=title)).to_be_visible()
    providers = page.locator("#drawer-all-providers")
    expect(providers).to_contain_text("Binance")
    expect(providers.locator(".drawer-provider").first).to_be_visible()
    expect(page.locator("#drawer-performance")).to_contain_text("Cache hit")
    expect(drawer).to_contain_text("Last update:")
    page.keyboard.press("Escape")
    expect(drawer).not_to_have_class(re.compile(r"\bopen\b"))
    assert not page.page_errors, page.page_errors


def test_status_drawer_by_keyboard_alone(browser, app_server):
    """The opener is among the first tab stops; Enter opens the drawer and moves the focus into
    it; Escape closes it and gives the focus back."""
    with open_page(browser, app_server.url, 1440) as pg:
        drawer = pg.locator("#status-drawer")
        stops = []
        for _ in range(4):
            pg.keyboard.press("Tab")
            stops.append(pg.evaluate("() => document.activeElement && document.activeElement.id"))
            if stops[-1] == "open-status":
                break
        assert stops[-1] == "open-status", f"tab stops before the opener: {stops}"
        pg.keyboard.press("Enter")
        expect(drawer).to_have_class(re.compile(r"\bopen\b"))
        pg.wait_for_function("() => document.activeElement?.closest('#status-drawer') !== null")
        pg.keyboard.press("Escape")
        expect(drawer).not_to_have_class(re.compile(r"\bopen\b"))
        pg.wait_for_function("() => document.activeElement?.id === 'open-status'")


def test_status_drawer_opens_by_tap_and_covers_a_phone(browser, app_server):
    with open_page(browser, app_server.url, 390, has_touch=True, is_mobile=True) as pg:
        opener = pg.locator("#open-status")
        box = opener.bounding_box()
        assert box and 0 <= box["x"] and box["x"] + box["width"] <= 390, box
        opener.tap()
        drawer = pg.locator("#status-drawer")
        expect(drawer).to_have_class(re.compile(r"\bopen\b"))
        expect(pg.locator("#drawer-all-providers")).to_contain_text("Binance")
        pg.wait_for_timeout(400)                   # the slide-in animation
        box = drawer.bounding_box()
        assert box and box["x"] <= 1 and box["width"] >= 389, box
        drawer.locator(".toggle-button").tap()
        expect(drawer).not_to_have_class(re.compile(r"\bopen\b"))


# -- every provider down ---------------------------------------------------------------------------
EPOCH = re.compile(r"\b1[5-9]\d{8}(\.\d+)?\b")


def test_all_providers_down_gives_short_messages_without_raw_epochs(browser, app_launcher,
                                                                    axe_source, tmp_path):
    """With every simulated provider down, each message the Prices tab shows is one readable
    sentence: under 240 characters, no epoch seconds; and the error state passes axe too."""
    from sim import Simulator

    with Simulator(latency_scale=0.0, seed=11) as sim:
        for name in sim.base_urls:
            sim.set_fault(name, "down")
        server = app_launcher(sim, tmp_path)
        try:
            with open_page(browser, server.url, 390, wait_for_data=False) as pg:
                messages = pg.locator("#tab-prices .ui-msg-error")
                expect(messages.first).to_be_visible(timeout=60_000)
                expect(pg.locator("#chart-head .ui-msg-error")).to_be_visible(timeout=60_000)
                texts = [t.strip() for t in messages.all_inner_texts()]
                settled(pg)
                overflow = sideways_overflow(pg)
                violations = axe_violations(pg, axe_source)
                pg.screenshot(path=str(ARTIFACTS / "all-down-390-light.png"), full_page=True)
        finally:
            server.stop()
    assert not overflow, overflow
    assert not violations, f"axe found, with every provider down:\n{describe(violations)}"
    assert texts
    for text in texts:
        assert len(text) < 240, f"{len(text)} characters: {text}"
        assert not EPOCH.search(text), f"raw epoch in: {text}"
