"""The public Gradio API of the running app, over real HTTP: the ten api names through
gradio_client and through the two-step `/gradio_api/call/<name>` route with plain requests, bad
input naming its parameter through both, and the API page listing exactly the ten names."""
from __future__ import annotations

import json
import time

import pytest
import requests

API_NAMES = {"/get_price", "/get_prices", "/get_venues", "/get_ohlc", "/get_top_coins", "/get_fear_greed",
             "/provider_stats", "/system_status", "/analyze_sentiment", "/news_sentiment"}
PRICE_KEYS = {"symbol", "price", "source", "timestamp", "quote_currency", "cached", "age_s",
              "stale"}


@pytest.fixture(scope="module")
def client(app_server):
    from gradio_client import Client

    c = Client(app_server.url, verbose=False, analytics_enabled=False)
    yield c
    c.close()


def call_route(url: str, name: str, *data) -> tuple[str, object]:
    """POST /gradio_api/call/<name> {"data": [...]} -> event_id; read the SSE stream until the
    `complete` or `error` event; return (event, decoded data)."""
    resp = requests.post(f"{url}/gradio_api/call/{name}", json={"data": list(data)}, timeout=10)
    assert resp.status_code == 200, resp.text
    event_id = resp.json()["event_id"]
    event = None
    with requests.get(f"{url}/gradio_api/call/{name}/{event_id}", stream=True,
                      timeout=30) as stream:
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                return event, json.loads(line[len("data:"):])
    raise AssertionError(f"stream for {name} ended without complete/error")


def wait_for_model(url: str, timeout: float = 30.0) -> dict:
    """The tiny model loads in the background; the status payload says when it is in."""
    deadline = time.monotonic() + timeout
    while True:
        ai = requests.get(f"{url}/api/system/status", timeout=10).json()["ai_models"]
        if ai["state"] != "loading" or time.monotonic() > deadline:
            return ai
        time.sleep(0.2)


QUOTE_SOURCES = {"binance", "coinbase", "kraken", "okx", "kucoin", "bybit", "coinpaprika",
                 "cryptocompare", "coingecko"}


def check_price(p: dict, symbol: str) -> None:
    assert PRICE_KEYS <= set(p), p
    assert p["symbol"] == symbol and p["price"] > 0 and p["quote_currency"] in ("USD", "USDT")
    assert p["source"] in QUOTE_SOURCES and p["stale"] is False and p["age_s"] >= 0, p
    assert abs(p["timestamp"] - time.time()) < 3600, p
    c = p["consensus"]
    assert c["status"] in ("ok", "degraded", "single_source") and p["source"] in c["sources"]
    assert abs(c["price"] / (p["price"] * (c["usdt_usd"] if p["quote_currency"] == "USDT"
                                          else 1)) - 1) < 0.01


def check_venues(r: dict) -> None:
    assert r["symbol"] == "ETH" and r["consensus"]["status"] == "ok"
    used = [v for v in r["venues"] if v["used"]]
    assert len(used) >= 3 and all(abs(v["deviation_bps"]) < 25 for v in used)
    assert r["served"]["source"] in {v["venue"] for v in used}


def check_ohlc(r: dict) -> None:
    assert r["symbol"] == "BTC" and r["timeframe"] == "1h" and r["count"] == len(r["ohlc"]) == 5
    assert set(r["ohlc"][0]) >= {"timestamp", "open", "high", "low", "close", "volume"}
    assert [c["timestamp"] for c in r["ohlc"]] == sorted(c["timestamp"] for c in r["ohlc"])


def check_sentiment(r: dict) -> None:
    assert r["label"] in ("bullish", "neutral", "bearish") and 0 <= r["score"] <= 1
    assert r["engine"] == "transformers", r     # the tiny model, loaded in the background


def check_prices(symbols: list[str]):
    def check(rows: list[dict]) -> None:
        assert [r["symbol"] for r in rows] == symbols
        for row, symbol in zip(rows, symbols):
            check_price(row, symbol)
    return check


def check_top(r: dict) -> None:
    assert r["count"] == len(r["coins"]) == 5 and r["coins"][0]["rank"] == 1, r


def check_fear_greed(r: dict) -> None:
    assert 0 <= r["value"] <= 100 and r["classification"], r


def check_providers(rows: list[dict]) -> None:
    states = {p["name"]: p["state"] for p in rows}
    assert set(states) == QUOTE_SOURCES | {"coincap", "alternative_me", "coindesk",
                                           "cointelegraph"}
    assert states["coincap"] == "disabled"             # no COINCAP_API_KEY in the test env
    assert {s for n, s in states.items() if n != "coincap"} <= {"online", "degraded",
                                                                "cooldown", "idle"}, states
    gecko = next(p for p in rows if p["name"] == "coingecko")
    assert (gecko["base_weight"], gecko["rate_limit"]["budget"]) == (0.2, 24)


def check_status(r: dict) -> None:
    assert r["overall_health"] in ("online", "degraded"), r["overall_health"]
    assert len(r["providers_detailed"]) == 13
    perf = r["performance"]
    assert perf["requests"] >= 1 and perf["upstream_calls"] >= 1
    assert 0 <= perf["cache_hit_rate"] <= 1 and perf["avg_response_ms"] > 0
    assert r["infrastructure"]["cache_backend"] == "sqlite"
    assert abs(r["timestamp"] - time.time()) < 60


def check_news(symbol: str, limit: int):
    def check(r: dict) -> None:
        assert r["symbol"] == symbol and 0 < len(r["headlines"]) <= limit, r
        assert r["aggregate"]["count"] == len(r["headlines"])
    return check


# (api name, positional args, check of the result)
CASES = [
    ("get_price", ["btc"], lambda r: check_price(r, "BTC")),
    ("get_prices", ["BTC,ETH"], check_prices(["BTC", "ETH"])),
    ("get_prices", [["SOL", "btc"]], check_prices(["SOL", "BTC"])),
    ("get_venues", ["eth"], check_venues),
    ("get_ohlc", ["BTC", "1h", 5], check_ohlc),
    ("get_top_coins", [5], check_top),
    ("get_fear_greed", [], check_fear_greed),
    ("provider_stats", [], check_providers),
    ("system_status", [], check_status),
    ("analyze_sentiment", ["bitcoin rally to a new high"], check_sentiment),
    ("news_sentiment", ["BTC", 5], check_news("BTC", 5)),
    ("news_sentiment", ["", 20], check_news("MARKET", 20)),
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)]


def test_api_info_lists_the_ten_names_and_no_ui_handler(app_server):
    info = requests.get(f"{app_server.url}/gradio_api/info", timeout=10).json()
    assert set(info["named_endpoints"]) == API_NAMES
    assert info["unnamed_endpoints"] == {}
    everything = requests.get(f"{app_server.url}/gradio_api/info?all_endpoints=True",
                              timeout=10).json()
    # the only undocumented endpoint is the benchmark's constant serving floor
    assert set(everything["named_endpoints"]) == API_NAMES | {"/ping"}
    ohlc = {p["parameter_name"]: p for p in info["named_endpoints"]["/get_ohlc"]["parameters"]}
    assert list(ohlc) == ["symbol", "interval", "limit"]
    assert ohlc["interval"]["parameter_has_default"]
    assert ohlc["interval"]["parameter_default"] == "1h"
    assert ohlc["limit"]["parameter_default"] == 100
    assert ohlc["limit"]["python_type"]["type"] == "int"
    assert not ohlc["symbol"]["parameter_has_default"]


def test_every_endpoint_is_described_for_the_api_page(app_server):
    """The "Use via API" page shows each endpoint's docstring summary."""
    info = requests.get(f"{app_server.url}/gradio_api/info", timeout=10).json()
    for name, endpoint in info["named_endpoints"].items():
        assert len(endpoint.get("description") or "") > 20, name


def test_api_info_describes_every_parameter_and_result(app_server):
    """Each parameter carries its meaning and allowed values and each result its fields (from
    the docstrings), where the API page and clients read them; not Gradio's "1st" Api label."""
    info = requests.get(f"{app_server.url}/gradio_api/info", timeout=10).json()
    for name, endpoint in info["named_endpoints"].items():
        for p in endpoint["parameters"]:
            assert p["label"] == p["parameter_name"], (name, p)
            assert len(p["python_type"]["description"]) > 15, (name, p)
        (result,) = endpoint["returns"]
        assert len(result["python_type"]["description"]) > 20, name
    ohlc = info["named_endpoints"]["/get_ohlc"]
    params = {p["parameter_name"]: p["python_type"]["description"] for p in ohlc["parameters"]}
    assert "1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w" in params["interval"]
    assert "1 to 500" in params["limit"]
    assert ohlc["returns"][0]["python_type"]["description"].startswith(
        "symbol, timeframe, ohlc (list of {timestamp, open, high, low, close, volume}), count")
    stats = info["named_endpoints"]["/provider_stats"]["returns"][0]["python_type"]
    assert "idle" in stats["description"] and "errors_last_hour" in stats["description"]


@pytest.mark.parametrize("name,args,check", CASES, ids=IDS)
def test_every_endpoint_through_gradio_client(app_server, client, name, args, check):
    if name in ("analyze_sentiment", "news_sentiment"):
        assert wait_for_model(app_server.url)["state"] == "loaded"
    check(client.predict(*args, api_name="/" + name))


@pytest.mark.parametrize("name,args,check", CASES, ids=IDS)
def test_every_endpoint_through_the_call_route(app_server, name, args, check):
    if name in ("analyze_sentiment", "news_sentiment"):
        assert wait_for_model(app_server.url)["state"] == "loaded"
    event, data = call_route(app_server.url, name, *args)
    assert event == "complete", data
    assert isinstance(data, list) and len(data) == 1
    check(data[0])


BAD = [
    ("get_price", ["B$C"], "symbol"),
    ("get_price", ["NOTACOIN"], "symbol"),
    ("get_prices", [""], "symbols"),
    ("get_venues", ["B$C"], "symbol"),
    ("get_ohlc", ["BTC", "2h", 10], "interval"),
    ("get_ohlc", ["BTC", "1h", 0], "limit"),
    ("get_top_coins", [1000], "limit"),
    ("analyze_sentiment", ["   "], "text"),
    ("analyze_sentiment", ["x" * 2001], "text"),
    ("news_sentiment", ["BTC", 99], "limit"),
]


@pytest.mark.parametrize("name,args,param", BAD, ids=[f"{n}-{p}-{i}" for i, (n, _, p) in
                                                      enumerate(BAD)])
def test_bad_input_names_the_parameter(app_server, client, name, args, param):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name="/" + name)
    assert str(caught.value).startswith(param), str(caught.value)

    event, data = call_route(app_server.url, name, *args)
    assert event == "error"
    assert data["error"].startswith(param), data
    assert data["title"] == "Invalid input"


def test_no_provider_is_an_error_with_the_retry_time(app_launcher, sim_server, tmp_path):
    """Every provider answers 500 and BCH was never fetched, so nothing (not even a stale answer)
    can serve it: the caller gets the reasons and when to retry, not a crash. On an app of its
    own, so the failures it causes (and the breakers they open) do not leak into other tests."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    server = app_launcher(sim_server, tmp_path)
    client = Client(server.url, verbose=False, analytics_enabled=False)
    server.sim_control("fault", {"fault": "error500", "all": True})
    try:
        with pytest.raises(AppError) as caught:
            client.predict("BCH", api_name="/get_price")
        event, data = call_route(server.url, "get_price", "BCH")
    finally:
        server.sim_control("reset", {"all": True})
        client.close()
        server.stop()
    message = str(caught.value)
    assert "no provider could answer quote BCH" in message and "retry in" in message
    assert "binance" in message
    assert event == "error" and "retry in" in data["error"]
    assert data["title"] == "No provider available"


def test_named_argument_route_fills_defaults(app_server):
    """POST /gradio_api/call/v2/<name> takes named arguments and applies the defaults."""
    resp = requests.post(f"{app_server.url}/gradio_api/call/v2/get_ohlc", json={"symbol": "BTC"},
                         timeout=10)
    assert resp.status_code == 200, resp.text
    event_id = resp.json()["event_id"]
    stream = requests.get(f"{app_server.url}/gradio_api/call/get_ohlc/{event_id}", timeout=30)
    data = json.loads(stream.text.split("event: complete\ndata:", 1)[1].split("\n", 1)[0])
    assert data[0]["timeframe"] == "1h" and data[0]["count"] == 100


@pytest.mark.parametrize("route,body,status,words", [
    ("v2/get_price", {}, 400, "required argument: symbol"),
    ("v2/get_price", {"sym": "BTC"}, 400, "`sym` is not a valid"),
    ("v2/no_such_api", {"symbol": "BTC"}, 404, "no_such_api"),
    ("no_such_api", {"data": ["BTC"]}, 404, "no_such_api"),
])
def test_caller_mistakes_on_the_call_routes_are_4xx(app_server, route, body, status, words):
    """Gradio itself answers these with a bare 500; the app turns them into 400 / 404."""
    resp = requests.post(f"{app_server.url}/gradio_api/call/{route}", json=body, timeout=10)
    assert resp.status_code == status, resp.text
    assert words in resp.json()["detail"]


def test_too_few_positional_values_say_so(app_server):
    """The positional form needs every value, defaults included; the error says how many."""
    event, data = call_route(app_server.url, "get_ohlc", "BTC")
    assert event == "error" and "needed: 3, got: 1" in data["error"]
