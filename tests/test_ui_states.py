"""One source of truth for provider states, and the words people read about them.

Over real HTTP: a provider made to fail in the simulator (POST /_sim/fault) shows the same state,
success rate, reason and error count in /api/system/status, in /provider_stats and in the UI
builders fed those two answers; never-called providers are "idle" everywhere; MCP tool results are
JSON. In process against the simulator: the all-sources-down message of the watchlist, and every
panel's handler, when a refresh fails or hits the deadline, keeping what the panel shows (not a
placeholder) with a message saying why and how old that content is."""
from __future__ import annotations

import asyncio
import html
import json
import os
import re
import time
from types import SimpleNamespace

import pytest
import requests

from routing import build_router
from routing.service import MarketService
from ui import ai_models, common, prices, providers as providers_tab, status_drawer, tables
from ui import formatting as fmt

SMALL = "okx,kraken,coinbase,alternative_me"
EPOCH = re.compile(r"\d{10,}")
EXCEPTION_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception)\b")


@pytest.fixture(scope="module")
def small_app(sim_server, tmp_path_factory):
    """`python app.py` with four providers and MCP on, for this module only (its faults must not
    leak into the session app)."""
    from tests.conftest import launch_app

    sim_server.reset()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROVIDERS", SMALL)
        mp.setenv("GRADIO_MCP_SERVER", "True")
        server = launch_app(sim_server, tmp_path_factory.mktemp("small-app"))
    yield server
    server.stop()
    sim_server.reset()


def status_of(url: str) -> dict:
    return requests.get(f"{url}/api/system/status", timeout=10).json()


def stats_of(client) -> list[dict]:
    return client.predict(api_name="/provider_stats")


def by_name(rows: list[dict]) -> dict[str, dict]:
    return {r["name"]: r for r in rows}


def test_a_failing_provider_reads_the_same_everywhere(small_app, sim_server):
    from gradio_client import Client

    client = Client(small_app.url, verbose=False, analytics_enabled=False)
    try:
        # never called: one word, one reason, in both answers
        status, stats = status_of(small_app.url), stats_of(client)
        for row in status["providers_detailed"]:
            if row["name"] in SMALL.split(","):
                assert (row["status"], row["reason"]) == ("idle", "not used yet"), row
                assert by_name(stats)[row["name"]]["state"] == "idle"
        assert status["overall_summary"] == "All systems operational"

        resp = requests.post(f"{sim_server.url('okx')}/_sim/fault", json={"fault": "error500"},
                             timeout=5)
        assert resp.status_code == 200
        symbols = ["BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "LTC", "DOT", "LINK", "AVAX",
                   "UNI", "ATOM", "BCH", "XLM", "ETC", "FIL", "AAVE", "ALGO"]
        for symbol in symbols:             # cache misses rotate until OKX has been tried
            assert requests.get(f"{small_app.url}/api/market/price", params={"symbol": symbol},
                                timeout=30).status_code == 200
            okx = by_name(stats_of(client))["okx"]
            if okx["recent_failures"]:
                break
        else:
            pytest.fail("the rotation never tried OKX")

        status, stats = status_of(small_app.url), stats_of(client)
        okx_stats = by_name(stats)["okx"]
        okx_status = by_name(status["providers_detailed"])["okx"]
        assert okx_stats["state"] == okx_status["status"] == "down"
        assert okx_stats["success_rate"] == 0.0 and okx_status["success_rate"] == 0.0
        assert okx_stats["recent_calls"] == okx_status["recent_calls"] >= 1
        assert okx_stats["reason"] == okx_status["reason"]
        assert "failed" in okx_status["reason"] and "HTTP 500" in okx_status["reason"]
        assert "<" not in okx_status["reason"] and "html" not in okx_status["reason"].lower()
        listed = sum(e["count"] for e in status["error_details"] if e["provider"] == "okx")
        assert listed == okx_status["errors_last_hour"] == okx_stats["errors_last_hour"] >= 1
        assert status["performance"]["provider_errors_last_hour"] == sum(
            e["count"] for e in status["error_details"])
        assert status["performance"]["fastest_provider"] not in (None, "okx")
        assert status["overall_health"] != "online"
        assert "OKX (down)" in status["overall_summary"]

        # the UI builders, fed exactly these answers, say the same
        service = SimpleNamespace(system_status=lambda: status, provider_stats=lambda: stats,
                                  traffic=lambda: {"totals": {}, "per_minute": []})
        overall, providers_html, *_ = status_drawer.drawer_view(service)
        line = re.search(r'<div class="drawer-provider" data-state="down">.*?OKX.*?</div>',
                         providers_html)
        assert line and fmt.plain(okx_status["reason"], 160).replace("'", "&#x27;") in line[0]
        assert "All systems operational" not in overall
        table = tables.providers(stats)
        row = table[table["Provider"] == "OKX"].iloc[0]
        assert row["State"] == "● down" and row["Success %"] == 0.0     # a number, shown "0.0%"
        assert "0.0%" in tables.styled(table).to_html()
        assert row["Last error"] == fmt.plain(okx_stats["reason"])
        cards = providers_tab.summary_cards(stats, {})
        assert "OKX down" in cards
    finally:
        client.close()
        sim_server.clear_faults()


def test_mcp_tools_answer_json_and_describe_their_parameters(small_app):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def session():
        async with streamablehttp_client(f"{small_app.url}/gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as s:
                await s.initialize()
                tools = {t.name: t for t in (await s.list_tools()).tools}
                price = await s.call_tool("get_price", {"symbol": "eth"})
                stats = await s.call_tool("provider_stats", {})
                venues = await s.call_tool("get_venues", {"symbol": "eth"})
                return tools, price, stats, venues

    tools, price, stats, venues = asyncio.run(asyncio.wait_for(session(), 60))
    assert set(tools) == {"get_price", "get_prices", "get_venues", "get_ohlc", "get_top_coins",
                          "get_fear_greed", "provider_stats", "system_status",
                          "analyze_sentiment", "news_sentiment"}
    answer = json.loads(price.content[0].text)          # JSON, not a Python repr
    assert answer["symbol"] == "ETH" and answer["price"] > 0
    assert answer["stale"] is False and isinstance(answer["cached"], bool)
    rows = json.loads(stats.content[0].text)
    assert {r["name"] for r in rows} >= set(SMALL.split(","))
    interval = tools["get_ohlc"].inputSchema["properties"]["interval"]
    assert "1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w" in interval["description"]
    assert "Returns: symbol, timeframe, ohlc" in tools["get_ohlc"].description
    assert ",," not in tools["provider_stats"].description
    spread = json.loads(venues.content[0].text)          # JSON too, one record per venue
    assert spread["symbol"] == "ETH" and spread["venues"]
    assert all(v["price_usd"] > 0 for v in spread["venues"] if v["used"])
    assert "Returns: symbol, consensus (as in get_price), served" in tools["get_venues"].description


# -- the all-down message, in process against the simulator --------------------------------------
@pytest.fixture
def service(sim, tmp_path):
    env = {**os.environ, **sim.env(), "PROVIDERS": "binance,okx"}
    router = build_router(tmp_path / "data", env=env)
    yield MarketService(router)
    router.close()


def check_sentence(text: str) -> None:
    assert len(text) < 240, text
    assert not EPOCH.search(text), text
    assert not EXCEPTION_NAME.search(text), text


def test_all_price_sources_down_shows_old_prices_and_when_it_retries(service, sim):
    fresh = service.prices(["BTC", "ETH"])
    assert all(not r["stale"] for r in fresh)
    sim.set_fault("binance", "error500")
    sim.set_fault("okx", "error500")
    router = service.router
    for ticker in ("BTC", "ETH"):                        # both answers are now two minutes old
        stored = router.answers.get(f"quote:{ticker}")
        router.answers.put(f"quote:{ticker}", stored.value, stored.source,
                           fetched_at=time.time() - 125)
        for venue, bq in router.book.quotes(ticker).items():     # and so are the venues' quotes
            router.book.put(venue, {ticker: bq.quote}, fetched_at=time.time() - 125)
    router.session.cache.clear()

    _, head, _ = prices.watchlist_view(service, ("BTC", "ETH"))
    sentence = re.search(r'ui-msg-warn" role="status">([^<]*)<', head)[1]
    check_sentence(sentence)
    assert sentence.startswith("All 2 price sources are failing right now; showing prices from ")
    assert re.search(r"from \d\d:\d\d UTC\. Next retry in \d+ s\.$", sentence), sentence
    assert re.search(r">2 min [5-9] s old</span>", head)      # the age line, counting on
    assert "<details" in head and "<b>Binance</b>" in head and "<b>OKX</b>" in head
    assert "priced at" not in head and "from binance" not in head and "from okx" not in head
    assert "2/2 priced" in head


def test_all_price_sources_down_with_nothing_saved_is_a_clear_empty_state(service, sim):
    sim.set_fault("binance", "html")
    sim.set_fault("okx", "malformed")
    table, head, shown = prices.watchlist_view(service, ("SOL",))
    sentence = re.search(r'ui-msg-error" role="status">([^<]*)<', head)[1]
    check_sentence(sentence)
    assert re.fullmatch(r"All 2 price sources are failing right now; there is nothing saved to "
                        r"show yet\. Next retry in \d+ s\.", sentence), sentence
    details = re.findall(r"<li><b>(\w+)</b>: ([^<]*)</li>", head)
    assert {name for name, _ in details} == {"binance", "okx"}
    for _, why in details:
        check_sentence(why)
        assert "html" not in why.lower() or "web page" in why
    assert table.value["data"][0][0] == "unavailable"
    assert shown is None                 # a placeholder: nothing for a later failure to keep


# -- a failed refresh keeps what the panel shows, in process against the simulator ----------------
# The browser keeps a panel's content when its handler answers "keep" for it (gr.skip()); the
# panel's gr.State says what it shows ({"at": epoch of the data, "what": ...}).
DEADLINE_S = 1.5
AGE_LINE = re.compile(r'(?P<what>[\w ]+) from (?P<clock>\d\d:\d\d:\d\d) UTC, <span class="ui-age" '
                      r'data-at="(?P<at>[\d.]+)" data-now="(?P<now>[\d.]+)">(?P<age>[^<]+)</span>')


def hanging_service(sim, providers: str | None = None) -> MarketService:
    """A fresh router (nothing cached) with a short deadline over the simulator, whose providers
    the caller makes hang: each call ends by its deadline with nothing to show."""
    env = {**os.environ, **sim.env()}
    if providers:
        env["PROVIDERS"] = providers
    return MarketService(build_router(env=env, persist=False, deadline_s=DEADLINE_S))


def hang_everything(sim) -> None:
    for name in sim.base_urls:
        sim.set_fault(name, "timeout", seconds=DEADLINE_S + 3)


def age_of(head: str) -> re.Match:
    found = AGE_LINE.search(head)
    assert found, head
    return found


def kept_message(head: str) -> str:
    return html.unescape(re.search(r'ui-msg-warn" role="status">([^<]*)<', head)[1])


@pytest.fixture
def services(sim):
    made = []

    def make(providers: str | None = None) -> MarketService:
        made.append(hanging_service(sim, providers))
        return made[-1]

    yield make
    for s in made:
        s.router.close()


def test_a_watchlist_refresh_past_the_deadline_keeps_the_prices_shown(service, services, sim):
    table, head, last = prices.watchlist_view(service, ("BTC", "ETH"))
    assert table.value["data"][0][0] == "BTC" and last["what"] == "prices"
    line = age_of(head)
    assert float(line["at"]) == pytest.approx(last["at"], abs=0.1)
    assert line["clock"] == time.strftime("%H:%M:%S", time.gmtime(last["at"]))

    hang_everything(sim)
    shown_at = last["at"]
    table, head, kept_last = prices.watchlist_view(services("binance,okx"), ("BTC", "ETH"),
                                                   True, last)
    assert common.kept(table)                      # the browser keeps its rows: no placeholder
    assert kept_last == last                       # and still knows how old they are
    sentence = kept_message(head)
    check_sentence(sentence)
    assert re.fullmatch(r"All 2 price sources are failing right now; showing prices from "
                        r"\d\d:\d\d UTC\. Next retry in \d+ s\.", sentence), sentence
    line = age_of(head)
    assert line["what"].endswith("prices") and float(line["at"]) == pytest.approx(shown_at, 0.1)
    assert float(line["now"]) - float(line["at"]) >= DEADLINE_S - 0.1   # the wait is in the age
    assert "deadline" in head                      # the per-source reasons say why
    assert "unavailable" not in head


def test_a_failed_chart_refresh_keeps_the_chart_and_its_venues(service, services, sim):
    figure, head, last = prices.chart_view(service, "ETH", "1h", 50)
    assert figure.data[0].type == "candlestick" and last["what"] == "ETH 1h candles"
    assert not common.kept(prices.venues_view(service, "ETH", has_chart=True))
    # a symbol the router refuses: said as an error naming the parameter; the chart stays
    figure, head, kept_last = prices.chart_view(service, "NOSUCHCOIN", "1h", 50, last)
    assert common.kept(figure) and kept_last == last
    error = html.unescape(re.search(r'ui-msg-error" role="status">([^<]*)<', head)[1])
    assert error.startswith("symbol: ") and "NOSUCHCOIN" in error
    assert error.endswith("(still showing the last ETH 1h candles)")

    hang_everything(sim)
    hung = services("binance,okx")
    figure, head, kept_last = prices.chart_view(hung, "ETH", "1h", 50, last)
    assert common.kept(figure) and kept_last == last
    assert re.fullmatch(r"All 2 candle sources are failing right now; showing candles from "
                        r"\d\d:\d\d UTC\. Next retry in \d+ s\.", kept_message(head)), head
    assert float(age_of(head)["at"]) == pytest.approx(last["at"], abs=0.1)
    assert common.kept(prices.venues_view(hung, "ETH", has_chart=True))
    # with no chart on screen yet, the failure is said in the chart itself
    figure, head, nothing = prices.chart_view(hung, "ETH", "1h", 50, None)
    assert not common.kept(figure) and nothing is None and "ui-msg-error" in head


@pytest.mark.parametrize("view, what", [(lambda s, last: prices.top_view(s, True, last),
                                         "market caps"),
                                        (prices.fear_greed_view, "index")])
def test_failed_top_coins_and_fear_greed_refreshes_keep_what_is_shown(sim, services, view,
                                                                      what):
    healthy = services()
    content, head, last = view(healthy, None)
    assert not common.kept(content) and last["what"] == what
    assert float(age_of(head)["at"]) == pytest.approx(last["at"], abs=0.1)

    hang_everything(sim)
    content, head, kept_last = view(services(), last)
    assert common.kept(content) and kept_last == last
    assert re.search(r"sources? (is|are) failing right now; showing .* from \d\d:\d\d UTC\.",
                     kept_message(head)), head
    assert float(age_of(head)["at"]) == pytest.approx(last["at"], abs=0.1)


def broken(*_args, **_kwargs):
    raise RuntimeError("database is locked")


def test_failed_provider_statistics_drawer_and_news_refreshes_keep_what_is_shown():
    """The panels that read the router's own state (and the news) keep their content the same
    way when their service call breaks."""
    last = common.shown("statistics", time.time() - 42)
    *content, head, kept_last = providers_tab.providers_view(
        SimpleNamespace(provider_stats=broken, traffic=broken), True, last)
    assert all(common.kept(c) for c in content) and kept_last == last
    assert kept_message(head).startswith("Couldn't refresh, still showing the last statistics: "
                                         "something went wrong on our side")
    assert re.search(r"\b4[2-4] s old</span>", head)

    at = time.time() - 30
    *sections, footer, kept_at = status_drawer.drawer_view(SimpleNamespace(system_status=broken),
                                                           at)
    assert len(sections) == 7 and all(common.kept(s) for s in sections) and kept_at == at
    assert "Couldn't refresh, still showing the last status" in html.unescape(footer)
    assert float(age_of(footer)["at"]) == pytest.approx(at, abs=0.1)

    last = common.shown("headlines for BTC", time.time() - 5)
    head, frame, shares, gauge, kept_last = ai_models.news_view(broken, "BTC", 10, last)
    assert all(common.kept(c) for c in (frame, shares, gauge)) and kept_last == last
    assert "still showing the last headlines for BTC" in html.unescape(head)
