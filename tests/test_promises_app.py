"""The README's promises about the running process, each checked so that breaking it fails a
test: the 50-ticker batch limit over REST and the Gradio API, metrics that survive kill -9 once
the background flush ran, a clean SIGTERM, API keys that go upstream and nowhere else, the /ws
limits and its no-provider error, and the README's own `--simulate` and `--mcp` commands."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from providers.coins import COINS

LISTED = sorted(c.ticker for c in COINS)        # every ticker some provider lists: 50


def get(server, path: str, **params) -> requests.Response:
    return requests.get(server.url + path, params=params, timeout=30)


def poll(what: str, check, timeout: float = 30.0, every: float = 0.2):
    """check() until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


# -- batches: up to 50 tickers, over REST and the Gradio API -------------------------------------

def test_rest_batch_of_51_listed_tickers_is_a_400_naming_the_limit(app_server):
    assert len(LISTED) == 50       # the 51st ticker can only be a repeat
    resp = get(app_server, "/api/market/prices", symbols=",".join(LISTED + ["BTC"]))
    assert resp.status_code == 400, resp.text
    assert resp.json() == {"error": "invalid_input", "param": "symbols",
                           "detail": "symbols: 51 tickers given; at most 50 per call"}
    ok = get(app_server, "/api/market/prices", symbols=",".join(LISTED))
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["count"] == 50 and [r["symbol"] for r in body["prices"]] == LISTED
    assert all(r.get("price", 0) > 0 for r in body["prices"]), body


def test_gradio_batch_of_51_listed_tickers_is_an_error_naming_the_limit(app_server):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(app_server.url, verbose=False, analytics_enabled=False)
    try:
        with pytest.raises(AppError) as caught:
            client.predict(",".join(LISTED + ["BTC"]), api_name="/get_prices")
        rows = client.predict(LISTED, api_name="/get_prices")
    finally:
        client.close()
    assert str(caught.value) == "symbols: 51 tickers given; at most 50 per call"
    assert [r["symbol"] for r in rows] == LISTED
    assert all(r.get("price", 0) > 0 for r in rows), rows


# -- persistence: kill -9 after the background flush loses nothing; SIGTERM exits 0 --------------

def saved_totals(data_dir: Path) -> dict:
    """The metrics totals the background thread last wrote (empty before the first write)."""
    path = data_dir / "metrics.sqlite"
    if not path.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT data FROM metrics WHERE id = 1").fetchone()
    except sqlite3.Error:
        return {}
    return json.loads(row[0])["totals"] if row else {}


def saved_answers(data_dir: Path) -> int:
    """How many answers the background thread has written."""
    path = data_dir / "answers.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_metrics_survive_kill_9_once_the_background_flush_ran(app_launcher, sim_server,
                                                             tmp_path):
    """No shutdown hook runs on SIGKILL: what survives is what the background threads wrote
    (metrics every 5 s, answers every 2 s). Then Ctrl-C (SIGINT) ends the restarted app with
    exit code 0 and no traceback."""
    first = app_launcher(sim_server, tmp_path)
    try:
        coins = ["LINK", "DOT", "AVAX", "XLM"]
        before = sum(s["requests"] for s in sim_server.stats().values())
        for coin in coins + coins:          # the first fills the book from venue snapshots,
            assert get(first, "/api/market/price", symbol=coin).status_code == 200
        upstream = sum(s["requests"] for s in sim_server.stats().values()) - before
        perf = get(first, "/api/system/status").json()["performance"]
        assert (perf["requests"], perf["upstream_calls"]) == (8, upstream), perf
        assert 1 <= upstream <= 4, upstream                   # snapshots, not one call per coin
        hit_rate = perf["cache_hit_rate"]
        assert hit_rate >= 0.5, perf
        poll("the background flush writing the 8 requests",
             lambda: saved_totals(tmp_path / "data").get("requests") == 8)
        poll("the background flush writing the 4 quotes",
             lambda: saved_answers(tmp_path / "data") == 4)
    finally:
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=15)
    assert first.process.returncode == -signal.SIGKILL
    assert "Router closed" not in first.log()             # nothing ran at exit

    second = app_launcher(sim_server, tmp_path)
    try:
        status = get(second, "/api/system/status").json()
    finally:
        second.process.send_signal(signal.SIGINT)              # Ctrl-C
        code = second.process.wait(timeout=30)
    assert code == 0, second.log()
    assert "Traceback" not in second.log() and "Router closed" in second.log()
    p = status["performance"]
    assert (p["requests"], p["upstream_calls"], p["cache_hit_rate"]) == (8, upstream, hit_rate), p
    calls = {d["name"]: d["upstream_calls"] for d in status["providers_detailed"]}
    assert sum(calls.values()) == upstream, calls
    assert status["cache"]["entries_by_kind"] == {"quote": 4}


# -- API keys: sent upstream, never logged, returned or stored -----------------------------------

KEYS = {"COINGECKO_API_KEY": "cg-Kq7-DISTINCT-91f3", "CRYPTOCOMPARE_API_KEY": "cc-Zp2-DISTINCT-44aa",
        "COINCAP_API_KEY": "cap-Wm5-DISTINCT-0b6e"}


def test_api_keys_go_upstream_and_nowhere_else(app_launcher, sim_server, tmp_path):
    from tests.test_app_api import call_route

    sim_server.reset()
    server = app_launcher(sim_server, tmp_path, extra_env={
        **KEYS, "PROVIDERS": "coingecko,cryptocompare,coincap,alternative_me"})
    statuses, texts = [], []

    def keep(resp: requests.Response) -> None:
        statuses.append(resp.status_code)
        texts.append(resp.text)

    try:
        for coin in ["BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "LINK", "DOT", "LTC"]:
            keep(get(server, "/api/market/price", symbol=coin))
        keep(get(server, "/api/market/prices", symbols="BNB,TRX,AVAX,UNI"))
        keep(get(server, "/api/market/ohlc", symbol="BTC", timeframe="1d", limit=30))
        keep(get(server, "/api/market/ohlc", symbol="ETH", timeframe="1h", limit=30))
        keep(get(server, "/api/health"))
        keep(get(server, "/api/market/price", symbol="B$C"))
        # One aggregator's snapshot answers every coin: with the other two failing, CoinGecko
        # serves 4 h candles and CoinCap the top coins, so each key is sent at least once.
        for only in ("coingecko", "coincap"):
            for other in {"coingecko", "cryptocompare", "coincap"} - {only}:
                sim_server.set_fault(other, "error500")
            if only == "coingecko":
                keep(get(server, "/api/market/ohlc", symbol="ETH", timeframe="4h", limit=30))
            else:
                event, data = call_route(server.url, "get_top_coins", 10)
                assert event == "complete" and data[0]["source"] == "coincap", data
                texts.append(json.dumps(data))
            sim_server.clear_faults()
        server.sim_control("fault", {"fault": "error500", "all": True})
        try:
            # price snapshots put every coin in the book (a stale answer would be served):
            # candles never asked for have nothing to fall back on
            keep(get(server, "/api/market/ohlc", symbol="SOL", timeframe="1h", limit=30))
        finally:
            server.sim_control("fault", {"fault": None, "all": True})   # keeps the counters
        status = get(server, "/api/system/status")
        keep(status)
        for name in ("provider_stats", "system_status"):
            event, data = call_route(server.url, name)
            assert event == "complete", data
            texts.append(json.dumps(data))
    finally:
        code = server.stop()
    assert code == 0, server.log()
    assert statuses == [200] * 13 + [400, 200, 503, 200], statuses
    used = {d["name"]: d["upstream_calls"] for d in status.json()["providers_detailed"]}
    assert all(used[n] > 0 for n in ("coingecko", "cryptocompare", "coincap")), {n: used[n] for n in ("coingecko", "cryptocompare", "coincap")}

    # Sent upstream, the way each provider wants it ...
    assert set(sim_server.header_values("coingecko", "x-cg-demo-api-key")) == {
        KEYS["COINGECKO_API_KEY"]}
    assert set(sim_server.header_values("cryptocompare", "authorization")) == {
        f"Apikey {KEYS['CRYPTOCOMPARE_API_KEY']}"}
    assert set(sim_server.header_values("coincap", "authorization")) == {
        f"Bearer {KEYS['COINCAP_API_KEY']}"}
    # ... and nowhere else: not in any answer, the app's log, or any file under DATA_DIR.
    answers = "\n".join(texts)
    log = server.log()
    assert "SMART_ROUTING: Selected coingecko" in log
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert {"http_cache.sqlite", "metrics.sqlite", "answers.sqlite"} <= {p.name for p in files}
    stored = b"".join(p.read_bytes() for p in files)
    for key in KEYS.values():
        assert key not in answers
        assert key not in log
        assert key.encode() not in stored


# -- /ws: 20 subscriptions, 64 KiB messages, the no-provider error -------------------------------

def ws_url(server) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


def receive_until(conn, kind: str, timeout: float = 10.0) -> dict:
    """The next message of `kind`, skipping price ticks in between."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(conn.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message["type"] == kind:
            return message


def test_ws_holds_20_subscriptions_and_refuses_the_21st(app_server):
    with connect(ws_url(app_server), open_timeout=10, close_timeout=2) as ws:
        receive_until(ws, "connected")
        for coin in LISTED[:20]:
            ws.send(json.dumps({"type": "subscribe", "symbol": coin}))
            assert receive_until(ws, "subscribed")["symbol"] == coin
        ws.send(json.dumps({"type": "subscribe", "symbol": LISTED[20]}))
        refused = receive_until(ws, "error")
        assert refused["param"] == "symbol"
        assert refused["message"] == ("at most 20 subscriptions per connection; unsubscribe "
                                      "from one first")
        ws.send(json.dumps({"type": "unsubscribe", "symbol": LISTED[0]}))
        assert len(receive_until(ws, "unsubscribed")["subscriptions"]) == 19
        ws.send(json.dumps({"type": "subscribe", "symbol": LISTED[20]}))
        assert receive_until(ws, "subscribed")["symbol"] == LISTED[20]


def test_ws_accepts_a_60_kib_message_and_closes_on_one_over_64_kib(app_server):
    with connect(ws_url(app_server), open_timeout=10, close_timeout=2,
                 max_size=None) as ws:
        receive_until(ws, "connected")
        ws.send(json.dumps({"type": "ping", "pad": "x" * (60 * 1024)}))
        assert receive_until(ws, "pong")["type"] == "pong"
    with connect(ws_url(app_server), open_timeout=10, close_timeout=2) as ws:
        receive_until(ws, "connected")
        ws.send(json.dumps({"type": "ping", "pad": "x" * (64 * 1024)}))
        with pytest.raises(ConnectionClosed) as closed:
            receive_until(ws, "pong")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009   # message too big


def test_ws_no_provider_error_says_when_to_retry_and_the_feed_keeps_trying(app_launcher,
                                                                           sim_server, tmp_path):
    server = app_launcher(sim_server, tmp_path)
    try:
        server.sim_control("fault", {"fault": "error500", "all": True})
        try:
            with connect(ws_url(server), open_timeout=10, close_timeout=2) as ws:
                receive_until(ws, "connected")
                ws.send(json.dumps({"type": "subscribe", "symbol": "ETC"}))
                errors = [receive_until(ws, "error"), receive_until(ws, "error")]
                server.sim_control("reset", {"all": True})
                price = receive_until(ws, "price", timeout=60)
        finally:
            server.sim_control("reset", {"all": True})
    finally:
        server.stop()
    for error in errors:                   # at subscribe, then again at the next tick
        assert error["symbol"] == "ETC"
        assert isinstance(error["retry_after_s"], int) and error["retry_after_s"] >= 1
        assert error["message"].startswith("no provider could answer quote ETC")
        assert error["message"].endswith(f"retry in {error['retry_after_s']} s")
    assert price["symbol"] == "ETC" and price["price"] > 0 and price["cached"] is False


# -- the README's own commands -------------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_python_app_py_simulate_answers_prices(tmp_path):
    """`python app.py --simulate`, with only the documented host/port variables set: its own
    simulator on loopback, a real price over HTTP."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_BASE_URL")}
    env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               DATA_DIR=str(tmp_path / "data"), SENTIMENT_MODEL="none", HF_HUB_OFFLINE="1",
               GRADIO_ANALYTICS_ENABLED="False", NO_PROXY="127.0.0.1,localhost")
    log_path = tmp_path / "app.log"
    root = Path(__file__).resolve().parents[1]
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "app.py", "--simulate"], cwd=root, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def price():
            if process.poll() is not None:
                pytest.fail(f"app.py --simulate exited:\n{log_path.read_text()}")
            try:
                r = requests.get(url + "/api/market/price", params={"symbol": "BTC"}, timeout=10)
            except requests.RequestException:
                return None
            return r
        resp = poll("python app.py --simulate answering", price, timeout=90)
        status = requests.get(url + "/api/system/status", timeout=10).json()
    finally:
        process.terminate()
        code = process.wait(timeout=20)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["symbol"] == "BTC" and answer["price"] > 0
    rows = status["providers_detailed"]
    assert answer["source"] in {r["name"] for r in rows}
    assert code == 0, log_path.read_text()
    assert "Simulated providers on" in log_path.read_text()


def test_python_app_py_mcp_serves_tools_to_an_mcp_client(app_launcher, sim_server, tmp_path):
    import asyncio

    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    server = app_launcher(sim_server, tmp_path, args=("--mcp",))

    async def use_tools():
        async with streamablehttp_client(server.url + "/gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                result = await session.call_tool("get_price", {"symbol": "BTC"})
                return tools, result

    try:
        tools, result = asyncio.run(asyncio.wait_for(use_tools(), 60))
    finally:
        server.stop()
    assert {t.name for t in tools.tools} == {
        "get_price", "get_prices", "get_ohlc", "get_top_coins", "get_fear_greed",
        "provider_stats", "system_status", "analyze_sentiment", "news_sentiment", "get_venues"}
    assert not result.isError
    answer = json.loads(result.content[0].text)           # JSON, not the dict's repr
    assert answer["symbol"] == "BTC" and answer["price"] > 0
    assert answer["source"] in {"binance", "coinbase", "kraken", "okx", "kucoin", "bybit",
                                "coinpaprika", "cryptocompare", "coingecko"}
