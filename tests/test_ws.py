"""The /ws price feed of the running app, in the old protocol: connected on open; subscribe ->
subscribed -> price ticks (every second here, WS_TICK_S=1); unsubscribe -> unsubscribed; ping ->
pong; bad JSON, a bad symbol or an unknown type -> an error message, and the connection stays
open. Uses the `websockets` client (uvicorn needs the package to serve WebSockets anyway)."""
from __future__ import annotations

import json
import re
import time

import pytest
from websockets.sync.client import connect


@pytest.fixture
def ws(app_server):
    url = app_server.url.replace("http://", "ws://") + "/ws"
    with connect(url, open_timeout=10, close_timeout=2) as conn:
        yield conn


def receive(conn, timeout: float = 5.0) -> dict:
    return json.loads(conn.recv(timeout=timeout))


def receive_until(conn, kind: str, timeout: float = 5.0) -> dict:
    """The next message of `kind`, skipping price ticks of other subscriptions in between."""
    deadline = time.monotonic() + timeout
    while True:
        message = receive(conn, max(0.1, deadline - time.monotonic()))
        if message["type"] == kind:
            return message


def send(conn, message) -> None:
    conn.send(message if isinstance(message, str) else json.dumps(message))


def test_connected_message(ws):
    hello = receive(ws)
    assert hello["type"] == "connected"
    assert re.fullmatch(r"[0-9a-f]{12}", hello["client_id"]), hello
    assert '"subscribe"' in hello["message"] and "every 1 s" in hello["message"], hello
    assert abs(hello["timestamp"] - time.time()) < 60
    assert hello["tick_s"] == 1.0


def test_subscribe_ticks_and_unsubscribe(ws):
    receive(ws)
    send(ws, {"type": "subscribe", "symbol": "xrp"})
    assert receive(ws) == {"type": "subscribed", "symbol": "XRP", "tick_s": 1.0}
    ticks = [receive_until(ws, "price", timeout=5) for _ in range(2)]
    for tick in ticks:
        assert tick["symbol"] == "XRP" and tick["price"] > 0, tick
        assert tick["source"] in {"binance", "coinbase", "kraken", "okx", "kucoin", "bybit",
                                  "coinpaprika", "cryptocompare", "coingecko"}, tick
        assert tick["quote_currency"] in ("USD", "USDT") and tick["stale"] is False, tick
        # fresh for 5 s, then served while refreshed behind, never older than the stale window
        assert tick["cached"] in (True, False) and 0 <= tick["age_s"] < 60, tick
        assert abs(tick["timestamp"] - time.time()) < 3600, tick
        assert tick["consensus"]["status"] == "ok" and tick["source"] in tick["consensus"]["sources"]
    send(ws, {"type": "unsubscribe", "symbol": "XRP"})
    gone = receive_until(ws, "unsubscribed")
    assert gone["symbol"] == "XRP" and gone["was_subscribed"] is True
    assert gone["subscriptions"] == []
    send(ws, {"type": "ping"})                  # no tick may follow the unsubscribe
    assert receive(ws, timeout=3)["type"] == "pong"
    with pytest.raises(TimeoutError):
        receive(ws, timeout=1.5)


def test_ping_pong(ws):
    receive(ws)
    send(ws, {"type": "ping"})
    pong = receive(ws)
    assert pong["type"] == "pong" and abs(pong["timestamp"] - time.time()) < 60


@pytest.mark.parametrize("message,words", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ("[" * 30000, "not valid JSON"),
    ({"type": "subscribe", "symbol": "NOTACOIN"}, "symbol: NOTACOIN is not listed"),
    ({"type": "subscribe", "symbol": "B$C"}, "symbol: 'B$C' is not a ticker"),
    ({"type": "subscribe"}, "symbol: required"),
    ({"type": "unsubscribe"}, "symbol: required"),
    ({"type": "launch_rockets"}, "unknown message type"),
    ({"symbol": "BTC"}, "unknown message type"),
])
def test_bad_messages_get_an_error_and_the_connection_stays_open(ws, message, words):
    receive(ws)
    send(ws, message)
    error = receive(ws)
    assert error["type"] == "error" and words in error["message"], error
    send(ws, {"type": "ping"})
    assert receive(ws)["type"] == "pong"


def test_status_counts_the_feed(app_server, ws):
    """The status payload's queue section shows this connection and its subscription."""
    import requests

    receive(ws)
    send(ws, {"type": "subscribe", "symbol": "BTC"})
    receive_until(ws, "subscribed")
    queue = requests.get(app_server.url + "/api/system/status", timeout=10).json()[
        "infrastructure"]["queue"]
    assert queue["ws_clients"] >= 1 and queue["ws_subscriptions"] >= 1
