"""Shareable views in a real browser (Playwright, system Chromium, the session app): a link with
?symbol=&interval=&tab= opens that view, the address bar follows the user's choices, and the
live panels say how old their data is and how often they refresh."""
from __future__ import annotations

import re

import pytest

from tests.browser import TIMEOUT_MS, expect


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.page_errors = errors
    yield pg
    context.close()


def symbol_box(page):
    return page.locator("#chart-symbol textarea, #chart-symbol input").first


def test_a_link_opens_the_view_it_names(page, app_server):
    page.goto(app_server.url + "/?symbol=eth&interval=4h&tab=providers")
    expect(page.get_by_role("tab", name="Providers")).to_have_attribute(
        "aria-selected", "true", timeout=TIMEOUT_MS)
    expect(page.locator("#provider-table [role=gridcell][data-col='0']").first).not_to_have_text(
        "Loading…")
    page.get_by_role("tab", name="Prices").click()
    expect(symbol_box(page)).to_have_value("ETH")
    expect(page.locator("#chart-interval input")).to_have_value("4h")
    head = page.locator("#chart-head")
    expect(head).to_contain_text("× 4h candles for ETH")
    expect(head).to_contain_text("refreshes about every 5 min")    # the 4h candles' cache expiry
    expect(page.locator("#top-coins-head")).to_contain_text("refreshes about every 1 min")
    expect(page.locator("#fear-greed-head")).to_contain_text(
        re.compile(r"index from \d\d:\d\d:\d\d UTC, [\d.]+ (s|min|h)"))
    expect(page.locator("#watchlist-head")).to_contain_text(
        re.compile(r"prices from \d\d:\d\d:\d\d UTC, [\d.]+ (s|min)"))
    page.wait_for_function("() => location.search.includes('tab=prices')", timeout=TIMEOUT_MS)
    assert not page.page_errors, page.page_errors


def test_the_address_bar_follows_the_users_choices(page, app_server):
    page.goto(app_server.url + "/")
    expect(page.locator("#chart-head")).to_contain_text("candles for BTC")
    symbol_box(page).fill("SOL")
    page.locator("#chart-button").click()
    expect(page.locator("#chart-head")).to_contain_text("candles for SOL")
    page.wait_for_function("() => location.search.includes('symbol=SOL')", timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Providers").click()
    page.wait_for_function("() => location.search.includes('tab=providers')",
                           timeout=TIMEOUT_MS)
    shared = page.url
    assert re.search(r"symbol=SOL", shared) and re.search(r"interval=1h", shared), shared

    page.goto(shared)                                   # the shared link shows the same view
    expect(page.get_by_role("tab", name="Providers")).to_have_attribute("aria-selected", "true")
    page.get_by_role("tab", name="Prices").click()
    expect(page.locator("#chart-head")).to_contain_text("candles for SOL")
    assert not page.page_errors, page.page_errors


def test_a_link_with_nonsense_falls_back_to_the_defaults(page, app_server):
    page.goto(app_server.url + "/?symbol=%3Cscript%3E&interval=7m&tab=nowhere")
    expect(page.locator("#chart-head")).to_contain_text("candles for BTC")
    expect(page.locator("#chart-interval input")).to_have_value("1h")
    expect(page.get_by_role("tab", name="Prices")).to_have_attribute("aria-selected", "true")
    assert not page.page_errors, page.page_errors
