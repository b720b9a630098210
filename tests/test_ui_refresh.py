"""A slow or failing refresh never blanks what the browser shows: `python app.py` against its own
simulator, driven by Playwright with the system Chromium (the `browser` fixture).

The providers are made slow, then made to hang, through the simulator's HTTP control route
(POST /_sim/latency, /_sim/fault). Switching to another tab and back starts a refresh of the
watchlist that takes seconds; the DOM is read every 100 ms while it runs: the watchlist rows
keep their old values, the charts stay drawn, nothing covers them, the head says "refreshing…"
and the age keeps counting. After the refresh (new prices, or all sources failing past the
deadline) the rows are there with an honest age: newer data when it came, the old data's age when
it did not."""
from __future__ import annotations

import re
import time

import pytest

from tests.browser import TIMEOUT_MS, expect, first_column, open_page, open_tab

SLOW_S = 2.5           # every provider answers this late: a refresh takes seconds, then succeeds
DEADLINE_S = 5.0       # the app's deadline per user call (ROUTER_DEADLINE_S)
HANG_S = 12.0          # a hanging provider holds its answer this long: past the deadline
QUOTE_TTL_S = 5.0      # how long the router serves a quote from its cache (routing.router)

# One reading of the Prices tab: the watchlist's symbols and prices, the charts' trace types,
# whether anything covers the table (a visible Gradio status tracker, a dimmed block), and the
# watchlist head's note and age line.
READ_PRICES = """() => {
  const cells = (col) => [...document.querySelectorAll(
      `#watchlist [role=gridcell][data-col='${col}']`)].map(c => c.innerText.trim());
  const traces = (id) => {
    const g = document.querySelector(`#${id} .js-plotly-plot`);
    return g && g.data ? g.data.map(t => t.type) : [];
  };
  const head = document.querySelector('#watchlist-head');
  const note = head && head.querySelector('.ui-refreshing');
  const age = head && head.querySelector('.ui-age');
  const table = document.querySelector('#watchlist');
  const covers = [...document.querySelectorAll('#watchlist .wrap, #price-chart .wrap')]
      .filter(w => !w.classList.contains('hide') && getComputedStyle(w).display !== 'none'
                   && getComputedStyle(w).opacity !== '0');
  return {
    symbols: cells(0), prices: cells(1), chart: traces('price-chart'),
    venues: traces('venues-chart'),
    refreshing: !!note && getComputedStyle(note).display !== 'none',
    dimmed: table ? getComputedStyle(table).opacity : null,
    covered: covers.length,
    age: age ? age.textContent : null,
    at: age ? parseFloat(age.dataset.at) : null,
    head: head ? head.innerText : '',
  };
}"""

AGE = re.compile(r"^(\d+(?:\.\d)?) s old$|^(\d+) min (\d+) s old$")


def seconds_old(text: str | None) -> float:
    match = AGE.match(text or "")
    assert match, f"not an age: {text!r}"
    if match[1]:
        return float(match[1])
    return int(match[2]) * 60 + int(match[3])


@pytest.fixture(scope="module")
def slow_app(tmp_path_factory):
    """The app on its own simulator (its faults touch no other test), with a 5 s deadline and
    quotes served from cache only while fresh (a 1 s stale window), so that a refresh past a
    quote's 5 s freshness really waits for the providers."""
    from sim import Simulator
    from tests.conftest import launch_app

    with Simulator(latency_scale=0.0, seed=13) as sim:
        server = launch_app(sim, tmp_path_factory.mktemp("slow-app"), extra_env={
            "ROUTER_DEADLINE_S": str(DEADLINE_S), "ROUTER_STALE_WINDOW_S": "1"})
        try:
            yield server
        finally:
            server.stop()


def watch_refresh(page, limit_s: float = 30.0) -> list[dict]:
    """Readings every 100 ms from now until the watchlist's head no longer says refreshing
    (having said it at least once); `limit_s` is only a safety net."""
    readings = []
    stop = time.monotonic() + limit_s
    while time.monotonic() < stop:
        readings.append(page.evaluate(READ_PRICES))
        seen = any(r["refreshing"] for r in readings)
        if seen and not readings[-1]["refreshing"]:
            return readings
        page.wait_for_timeout(100)
    pytest.fail(f"the watchlist refresh did not end within {limit_s:.0f} s: {readings[-1]}")


def switch_away_and_back(page) -> None:
    """To Providers (the Prices timers stop) until the cached quotes are past their freshness,
    then back to Prices: its select handler refreshes the watchlist."""
    open_tab(page, "Providers")
    expect(first_column(page, "provider-table").first).not_to_have_text("Loading…")
    page.wait_for_timeout((QUOTE_TTL_S + 1.5) * 1000)
    open_tab(page, "Prices")


def assert_kept_while_refreshing(readings: list[dict], before: dict) -> None:
    """Every reading taken while the head says refreshing shows the rows and charts as before."""
    during = [r for r in readings if r["refreshing"]]
    assert len(during) >= 3, f"the refresh was too quick to watch: {readings}"
    for r in during:
        assert r["symbols"] == before["symbols"], r
        assert r["prices"] == before["prices"], r        # the old values, not blanks or dashes
        assert r["chart"] == ["candlestick", "bar"] and r["venues"] == ["bar"], r
        assert r["covered"] == 0 and r["dimmed"] == "1", r
        assert "refreshing…" in r["head"]
        assert r["at"] == before["at"], r                 # the age line still dates the old data
    ages = [seconds_old(r["age"]) for r in during]
    assert ages == sorted(ages) and ages[-1] > ages[0], ages    # and it keeps counting,
    assert ages[0] >= QUOTE_TTL_S + 1.5 - 0.5, ages     # the time on the other tab included


def test_a_slow_refresh_after_a_tab_switch_keeps_the_watchlist_and_charts(browser, slow_app):
    with open_page(browser, slow_app.url) as page:
        expect(page.locator("#price-chart .js-plotly-plot")).to_be_visible()
        expect(page.locator("#venues-chart .js-plotly-plot")).to_be_visible()
        expect(page.locator("#watchlist-head")).to_contain_text("refreshes about every 10 s")
        expect(page.locator("#watchlist-head .ui-refreshing")).to_be_hidden()
        page.wait_for_function(
            "() => document.querySelector('#price-chart .js-plotly-plot')?.data?.length === 2"
            " && document.querySelector('#venues-chart .js-plotly-plot')?.data?.length > 0",
            timeout=TIMEOUT_MS)

        slow_app.sim_control("latency", {"seconds": SLOW_S, "all": True})
        switch_away_and_back(page)
        readings = watch_refresh(page)
        before = readings[0]
        assert len(before["symbols"]) == 10 and before["symbols"][0] == "BTC", before
        assert all(p.startswith("$") for p in before["prices"]), before
        assert_kept_while_refreshing(readings, before)

        after = readings[-1]                              # the slow providers did answer
        assert after["symbols"] == before["symbols"] and after["covered"] == 0
        assert all(p.startswith("$") for p in after["prices"]), after
        assert after["at"] > before["at"] + QUOTE_TTL_S   # newer data, and its own age
        assert seconds_old(after["age"]) < seconds_old(readings[-2]["age"])
        assert re.search(r"prices from \d\d:\d\d:\d\d UTC, ", after["head"]), after["head"]
        assert not page.page_errors, page.page_errors


def test_a_refresh_that_hits_the_deadline_keeps_the_old_prices_and_their_age(browser, slow_app):
    with open_page(browser, slow_app.url) as page:
        slow_app.sim_control("latency", {"seconds": 0, "all": True})
        expect(page.locator("#watchlist-head .ui-age")).to_be_visible()
        first = page.evaluate(READ_PRICES)

        slow_app.sim_control("fault", {"fault": "timeout", "seconds": HANG_S, "all": True})
        try:
            switch_away_and_back(page)
            readings = watch_refresh(page)
            before = readings[0]
            assert before["symbols"] == first["symbols"] and before["at"] == first["at"]
            assert_kept_while_refreshing(readings, before)

            after = readings[-1]                          # every source failed past the deadline
            assert after["symbols"] == before["symbols"] and after["covered"] == 0
            assert after["prices"] == before["prices"], after   # the same old prices, still there
            assert "failing" in after["head"], after["head"]
            assert after["at"] == pytest.approx(before["at"], abs=1.0)   # dated as before
            assert seconds_old(after["age"]) >= seconds_old(readings[-2]["age"]) - 1.0
            assert not page.page_errors, page.page_errors
        finally:
            slow_app.sim_control("fault", {"fault": None, "all": True})
