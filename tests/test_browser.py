"""The UI in a real browser: `python app.py` against the simulator (the `app_server`
fixture), driven by Playwright with the system Chromium. Every tab must show data, bad input must
show a message, and the status drawer must open with its six sections. One screenshot per tab
and one of the open drawer go to artifacts/ (git-ignored)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.checks import require

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:     # the browser fixture reports it: a skip locally, a failure under CI
    expect = sync_playwright = None

CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TIMEOUT_MS = 30_000
SECTIONS = ["All Providers", "AI Models", "Infrastructure", "Cache & Resources", "Recent Errors",
            "Performance"]


@pytest.fixture(scope="module")
def browser():
    require(sync_playwright is not None, "playwright is not installed (requirements-dev.txt)")
    require(os.access(CHROMIUM, os.X_OK),
            f"no Chromium at {CHROMIUM} (Debian package chromium, or set CHROMIUM_PATH)")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, app_server):
    """One page for the module: the tabs are visited in order like a user would."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(app_server.url + "/")
    pg.page_errors = errors
    yield pg
    context.close()


def first_column(page, table_id: str):
    """The first-column cells of a gr.Dataframe (Gradio 6 renders rows as role=row divs)."""
    return page.locator(f"#{table_id} [role=gridcell][data-col='0']")


def plot_types(page, plot_id: str) -> list[str]:
    """The plotly trace types drawn in a gr.Plot (plotly keeps them on the graph div)."""
    selector = f"#{plot_id} .js-plotly-plot"
    page.wait_for_function(
        f"() => {{ const g = document.querySelector('{selector}');"
        " return g && g.data && g.data.length > 0; }", timeout=TIMEOUT_MS)
    return page.evaluate(f"() => document.querySelector('{selector}').data.map(t => t.type)")


def open_tab(page, name: str) -> None:
    tab = page.get_by_role("tab", name=name)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")


def test_prices_tab_shows_watchlist_chart_top_coins_and_fear_greed(page):
    open_tab(page, "Prices")
    symbols = first_column(page, "watchlist")
    expect(symbols.first).to_have_text("BTC")
    assert symbols.count() >= 8
    price = page.locator("#watchlist [role=gridcell][data-row='0'][data-col='1']")
    expect(price).to_have_text(re.compile(r"^\s*\$[\d,]+\.\d{2,4}\s*$"))
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
    page.screenshot(path=str(ARTIFACTS / "tab-prices.png"), full_page=True)


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
    page.screenshot(path=str(ARTIFACTS / "tab-providers.png"), full_page=True)


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
    page.mouse.move(0, 0)                          # no hover colour in the screenshot
    page.screenshot(path=str(ARTIFACTS / "tab-ai-models.png"), full_page=True)


def test_status_drawer_opens_with_its_six_sections(page):
    open_tab(page, "Prices")
    drawer = page.locator("#status-drawer")
    page.locator("#status-drawer button.toggle-button").click()
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
    page.wait_for_timeout(500)                     # let the slide-in animation finish
    page.screenshot(path=str(ARTIFACTS / "status-drawer.png"))
    assert not page.page_errors, page.page_errors
