"""The Redis shared-state seam in isolation: routing/shared.py and the parts of the stores that talk
to it (the quote book's merge, the gates' apply_shared, the budget's carry, the metrics' hand-over,
the HTTP cache shared by replicas). What lands in Redis under which key and for how long is read
back with redis-py; budgets are checked to the unit (80 % margin, per-replica share while Redis is
lost); the fleet's clock, locks, gates, metrics and cached answers cross between two RedisStates.

Against a real redis-server: one for the module (flushed before every test), and a test's own
(`redis_server`) when it stops Redis. No router, no HTTP, no app: a `Node` wires health, metrics
and the state the way build_router does. The wall and monotonic clocks of routing.shared,
routing.health and routing.metrics stand still until a test moves them (Redis keeps its real
clock), so readings, sync periods and heartbeats happen exactly when a test says. Part of the
mutation test set."""
from __future__ import annotations

import datetime
import io
import itertools
import json
import logging
import math
import os
import socket
import threading
import time as real_time
from collections import Counter

import pytest
import redis
import requests
import urllib3

import routing.health as health_module
import routing.metrics as metrics_module
import routing.shared as shared
from bench.processes import free_port
from providers.base import Quote, RateLimit
from routing.health import ProviderBudget, ProviderHealth
from routing.metrics import Metrics, _counters
from routing.persistence import Persistence
from routing.quotebook import QuoteBook
from routing.session import build_session
from routing.shared import RedisState, SharedState, build_state, default_replica_id, redact_url
from tests.conftest import running_redis

SYNC_S = 0.25          # the states' sync period (a binary fraction: exact sums on the still clock)
HOST, PID = socket.gethostname(), os.getpid()


# -- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def module_redis(tmp_path_factory):
    yield from running_redis(tmp_path_factory, "shared-units")


@pytest.fixture
def url(module_redis):
    """The module's Redis, emptied for this test."""
    client = redis.Redis.from_url(module_redis.url)
    client.flushall()
    client.close()
    return module_redis.url


@pytest.fixture
def db(url):
    """redis-py on the module's Redis, to read back what the code under test wrote."""
    client = redis.Redis.from_url(url)
    yield client
    client.close()


class StillClock:
    """`time` as routing.shared, routing.health and routing.metrics see it: wall and monotonic
    seconds that move only when the test moves them. The wall starts at this second + 0.4567 (so
    rounding to 3 or 4 places differs); monotonic at 100 000 s (a host up for a day: the first
    prune is due)."""

    def __init__(self):
        self.wall = float(int(real_time.time())) + 0.4567
        self.mono = 100_000.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def __getattr__(self, name):
        return getattr(real_time, name)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    still = StillClock()
    monkeypatch.setattr(shared, "time", still)
    monkeypatch.setattr(health_module, "time", still)
    monkeypatch.setattr(metrics_module, "time", still)
    return still


@pytest.fixture
def fleet():
    """make(url, replica_id) -> a RedisState with short timeouts, closed after the test."""
    made: list[RedisState] = []

    def make(redis_url: str, replica_id: str, *, sync_every_s: float = SYNC_S,
             timeout_s: float = 0.2) -> RedisState:
        state = RedisState(redis_url, replica_id, timeout_s=timeout_s, sync_every_s=sync_every_s)
        made.append(state)
        return state

    yield make
    for state in made:
        state.close()


class Node:
    """A replica's router as far as its state sees it, wired as build_router and Router.add do:
    per provider a ProviderHealth on the node's clock with the state's budget and gate hook, and
    Metrics that know the state. With `thread=False` the sync thread ends as soon as it starts
    and the test runs each sync round itself (`tick`)."""

    def __init__(self, state: RedisState, clock: StillClock, providers: dict | None = None, *,
                 skew_s: float = 0.0, thread: bool = False):
        self.state = state
        self.now = lambda: clock.wall + skew_s
        providers = providers or {"binance": RateLimit(1200, 60.0), "okx": RateLimit(20, 2.0)}
        self.health = {
            name: ProviderHealth(name, rl, clock=self.now, budget=state.budget(name, rl),
                                 on_change=state.gate_changed)
            for name, rl in providers.items()}
        self.metrics = Metrics(Persistence(None), clock=self.now)
        self.metrics.shared = state
        if not thread:
            state._stop.set()
        state.attach(self)

    def tick(self) -> None:
        self.state.sync_once()


def until(check, timeout: float = 5.0):
    end = real_time.monotonic() + timeout
    while not check() and real_time.monotonic() < end:
        real_time.sleep(0.01)
    return check()


def quote(price: float, venue: str, symbol: str = "BTC", timestamp: float = 0.0) -> Quote:
    return Quote(symbol, price, venue, timestamp)


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "routing.shared" and r.levelno == logging.WARNING]


# -- the URL, the replica id, the backend -------------------------------------------------------

def test_redact_url_hides_the_password_and_nothing_else():
    assert redact_url(None) is None
    assert redact_url("") == ""
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert redact_url("redis://cache-user@db:6379/0") == "redis://cache-user@db:6379/0"
    assert redact_url("rediss://app:pa55@db.example:6380/2?ssl_cert_reqs=none#frag") == \
        "rediss://app:***@db.example:6380/2?ssl_cert_reqs=none#frag"
    assert redact_url("redis://:pa55@db/0") == "redis://:***@db/0"
    assert redact_url("redis://:pa55@/0") == "redis://:***@/0"


def test_default_replica_id_is_host_port_pid_numbered_after_the_first(monkeypatch):
    monkeypatch.setattr(shared, "_made", itertools.count(1))
    assert default_replica_id({"GRADIO_SERVER_PORT": "7861", "PORT": "8080"}) == \
        f"{HOST}-7861-{PID}"
    assert default_replica_id({"PORT": "8080"}) == f"{HOST}-8080-{PID}-2"
    assert default_replica_id({}) == f"{HOST}-0-{PID}-3"


def test_build_state_chooses_the_backend_from_redis_url(url, db, monkeypatch):
    monkeypatch.setattr(shared, "_made", itertools.count(1))
    local = build_state({})
    assert type(local) is SharedState and local.backend == "local"
    assert local.replica_id == f"{HOST}-0-{PID}"
    named = build_state({"REPLICA_ID": "  web-2 ", "REDIS_URL": "  "})
    assert type(named) is SharedState and named.replica_id == "web-2"
    remote = build_state({"REPLICA_ID": "web-3", "REDIS_URL": f" {url} "})
    try:
        assert isinstance(remote, RedisState) and remote.connected
        assert remote.replica_id == "web-3" and remote.url == url
        assert db.hkeys("cryptohub:replicas") == [b"web-3"]
    finally:
        remote.close()
    assert db.hkeys("cryptohub:replicas") == []


def test_local_state_shares_nothing(clock):
    state = SharedState("solo")
    assert state.started_at == clock.wall and not state.connected
    assert state.answer_get("price:BTC") is None and state.book_get("BTC") is None
    assert state.book_fetched("binance") == 0.0
    assert state.lock("candles:BTC:1h", 5.0) is True
    assert state.others_metrics() == [] and state.fleet_series() is None
    assert state.fleet_errors() is None and state.budget_share() == 1.0
    budget = state.budget("kraken", RateLimit(10, 60.0))
    assert type(budget) is ProviderBudget and budget.capacity == 8
    state.started_at = clock.wall - 100.54
    assert state.view() == {"backend": "local", "state": "local", "url": None,
                            "replica_id": "solo", "since": round(clock.wall - 100.54, 3),
                            "lost_since": None, "replicas_seen": 1, "budget_share": 1.0}
    assert state.replicas() == [{"id": "solo", "started_at": round(clock.wall - 100.54, 3),
                                 "uptime_s": 100.5, "last_heartbeat": round(clock.wall, 3),
                                 "age_s": 0.0, "alive": True}]


# -- connecting, losing Redis, the fleet's clock ---------------------------------------------------

def test_redis_url_must_be_redis_or_rediss():
    for bad, scheme in (("http://127.0.0.1:6379", "http"), ("//127.0.0.1:6379/0", "no scheme")):
        with pytest.raises(ValueError) as e:
            RedisState(bad, "x")
        assert str(e.value) == f"REDIS_URL must start with redis:// or rediss://, got {scheme}://"


def test_redis_unreachable_at_start_runs_on_local_state(fleet, clock, caplog):
    caplog.set_level(logging.INFO, logger="routing.shared")
    port = free_port()
    state = fleet(f"rediss://:pw-1234@127.0.0.1:{port}/0", "lonely")
    assert state.state == "lost" and not state.connected
    assert state.view() == {"backend": "redis", "state": "lost",
                            "url": f"rediss://:***@127.0.0.1:{port}/0", "replica_id": "lonely",
                            "since": round(clock.wall, 3), "lost_since": round(clock.wall, 3),
                            "replicas_seen": 1, "budget_share": 1.0}
    assert state.replicas() == [{"id": "lonely", "started_at": round(clock.wall, 3),
                                 "uptime_s": 0.0, "last_heartbeat": round(clock.wall, 3),
                                 "age_s": 0.0, "alive": True}]
    # every call answers at once, locally
    state.answer_put("price:BTC", "binance", clock.wall, {"price": 1.0})
    assert state.answer_get("price:BTC") is None and state.book_get("BTC") is None
    assert state.lock("candles:BTC:1h", 5.0) is True
    assert state.others_metrics() == [] and state.fleet_series() is None
    assert state.fleet_errors() is None
    # a cooldown set meanwhile is this replica's own (nothing to publish to)
    node = Node(state, clock)
    node.health["binance"].block(30.0, "rate_limited", "HTTP 429")
    assert node.health["binance"].blocked_until == clock.wall + 30.0
    assert state.budget("binance", RateLimit(1200, 60.0)).capacity == 960
    messages = warnings_of(caplog)
    assert len(messages) == 1
    assert f"rediss://:***@127.0.0.1:{port}/0" in messages[0] and "1/1" in messages[0]
    assert "pw-1234" not in caplog.text


def start_in_thread(make, redis_url: str, replica_id: str, bound_s: float = 2.0) -> RedisState:
    """make(redis_url, replica_id) from a thread; fails when it takes longer than `bound_s`
    (ten times the states' 0.2 s socket timeouts, well under redis-py's own 5 s defaults)."""
    made = {}
    starter = threading.Thread(target=lambda: made.setdefault("state", make(redis_url,
                                                                             replica_id)))
    starter.start()
    starter.join(bound_s)
    assert not starter.is_alive(), f"RedisState still waiting on {redis_url} after {bound_s} s"
    return made["state"]


def test_a_server_that_never_answers_costs_one_timeout_and_no_retry(fleet):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []

    def accept():
        while True:
            try:
                accepted.append(listener.accept()[0])       # and never answered
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        state = start_in_thread(fleet, f"redis://127.0.0.1:{listener.getsockname()[1]}/0",
                                "slow")
        assert state.state == "lost"
        assert len(accepted) == 1                             # one attempt: no retry
    finally:
        listener.close()
        for conn in accepted:
            conn.close()


def test_a_server_that_never_accepts_costs_one_connect_timeout(fleet):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)   # the queue is full
    try:
        state = start_in_thread(fleet, f"redis://127.0.0.1:{port}/0", "unaccepted")
        assert state.state == "lost"
    finally:
        filler.close()
        listener.close()


def test_error_text_never_shows_the_password(fleet):
    port = free_port()
    with_password = fleet(f"redis://:hunter2-pw@127.0.0.1:{port}/0", "a")
    assert with_password._clean(OSError("AUTH hunter2-pw refused")) == "OSError: AUTH *** refused"
    assert with_password._clean(ValueError("x" * 300)) == ("ValueError: " + "x" * 300)[:200]
    without = fleet(f"redis://127.0.0.1:{port}/0", "b")
    assert without._clean(OSError("connection refused")) == "OSError: connection refused"


def test_losing_redis_is_reported_once_with_the_share_of_each_budget(fleet, clock,
                                                                        redis_server, caplog):
    caplog.set_level(logging.INFO, logger="routing.shared")
    a = fleet(redis_server.url, "A")
    b = fleet(redis_server.url, "B")
    node = Node(a, clock)
    assert (a.replicas_seen, b.replicas_seen) == (1, 2)    # A met B at no heartbeat yet
    clock.mono += 1.0
    node.tick()
    assert a.replicas_seen == 2
    redis_server.stop()
    clock.wall += 3.0
    assert a.answer_get("price:BTC") is None              # the first failing call
    lost_at = clock.wall
    assert a.view() == {"backend": "redis", "state": "lost", "url": redis_server.url,
                        "replica_id": "A", "since": round(lost_at, 3),
                        "lost_since": round(lost_at, 3), "replicas_seen": 2,
                        "budget_share": 0.5}
    clock.wall += 7.0
    a._lose(redis.ConnectionError("a second call failing meanwhile"))
    assert a.view()["lost_since"] == a.view()["since"] == round(lost_at, 3)
    messages = warnings_of(caplog)
    assert len(messages) == 1
    assert redis_server.url in messages[0] and "1/2" in messages[0]


def test_the_fleet_clock_is_redis_time_whatever_the_host_says(fleet, url, db, clock):
    clock.wall = real_time.time() + 3600.25          # this host's clock is an hour ahead
    state = fleet(url, "ahead")
    sec, usec = db.time()
    assert state.offset_s == pytest.approx(sec + usec / 1e6 - clock.wall, abs=0.05)
    assert state.now() == pytest.approx(sec + usec / 1e6, abs=0.05)
    assert state.now_ms() == int(state.now() * 1000)
    # the host's clock is put right (NTP): the next heartbeat measures the offset again
    node = Node(state, clock)
    clock.wall -= 3600.0
    clock.mono += 1.0
    node.tick()
    sec, usec = db.time()
    assert state.now() == pytest.approx(sec + usec / 1e6, abs=0.05)
    assert state.offset_s == pytest.approx(sec + usec / 1e6 - clock.wall, abs=0.05)


# -- answers and the quote book --------------------------------------------------------------------

def test_answers_are_shared_for_two_hours(fleet, url, db):
    a, b = fleet(url, "A"), fleet(url, "B")
    value = {"symbol": "BTC", "price": 64000.5}
    a.answer_put("price:BTC", "binance", 1_700_000_000.25, value)
    assert b.answer_get("price:BTC") == ("binance", 1_700_000_000.25, value)
    assert json.loads(db.get("cryptohub:answer:price:BTC")) == {
        "s": "binance", "f": 1_700_000_000.25, "v": value}
    assert 7_190_000 < db.pttl("cryptohub:answer:price:BTC") <= 7_200_000
    assert b.answer_get("price:ETH") is None
    a.answer_put("fear_greed", "alternative_me", 1_700_000_000, [1, 2])
    got = b.answer_get("fear_greed")
    assert got == ("alternative_me", 1_700_000_000.0, [1, 2]) and isinstance(got[1], float)


def test_book_rows_are_shared_per_coin_for_an_hour(fleet, url, db):
    a, b = fleet(url, "A"), fleet(url, "B")
    btc, eth = {"t": "Quote", "d": {"price": 1.5}}, {"t": "Quote", "d": {"price": 2.5}}
    a.book_put("binance", {"BTC": (1000.5, 1.25, btc), "ETH": (1000.5, 0.0, eth)}, 1000.75)
    assert b.book_get("BTC") == {"binance": (1000.5, 1.25, btc)}
    assert b.book_get("ETH") == {"binance": (1000.5, 0.0, eth)}
    assert b.book_get("SOL") == {}
    assert json.loads(db.hget("cryptohub:book:BTC", "binance")) == {"f": 1000.5, "l": 1.25,
                                                                      "q": btc}
    for coin in ("BTC", "ETH"):
        assert 3_590_000 < db.pttl(f"cryptohub:book:{coin}") <= 3_600_000
    assert db.hgetall("cryptohub:book-fetched") == {b"binance": b"1000.75"}


def test_book_fetched_is_read_at_most_once_per_sync_period(fleet, url, clock):
    a, b = fleet(url, "A"), fleet(url, "B")
    assert b.book_fetched("binance") == 0.0              # read: nothing yet
    a.book_put("binance", {}, 1000.5)
    assert b.book_fetched("binance") == 0.0              # the last reading
    clock.mono += SYNC_S
    assert b.book_fetched("binance") == 0.0              # not older than one period
    clock.mono += 0.01
    assert b.book_fetched("binance") == 1000.5
    a.book_put("kraken", {}, 999.0)
    a.book_put("binance", {}, 1001.0)
    clock.mono += SYNC_S + 0.01
    assert b.book_fetched("kraken") == 999.0 and b.book_fetched("binance") == 1001.0
    assert b.book_fetched("okx") == 0.0


def test_book_fetched_while_lost_is_this_replicas_latest(fleet, clock):
    state = fleet(f"redis://127.0.0.1:{free_port()}/0", "lost")
    state.book_put("kraken", {"BTC": (50.0, 0.0, {})}, 50.0)
    state.book_put("kraken", {"BTC": (40.0, 0.0, {})}, 40.0)
    clock.mono += 1.0
    assert state.book_fetched("kraken") == 50.0 and state.book_fetched("okx") == 0.0
    assert state.book_get("BTC") is None


def test_quote_book_takes_each_venues_newer_quote_from_the_fleet(fleet, url, db, clock, tmp_path):
    a, b = fleet(url, "A"), fleet(url, "B")
    book_a = QuoteBook(clock=clock.time, shared=a)
    book_b = QuoteBook(Persistence(tmp_path), clock=clock.time, shared=b, flush_every_s=3600)
    t = clock.wall
    book_b.put("kraken", {"BTC": quote(100.0, "kraken")}, fetched_at=t - 10)
    book_b.put("coinbase", {"BTC": quote(101.0, "coinbase")}, fetched_at=t)
    book_b.put("okx", {"BTC": quote(99.0, "okx")}, fetched_at=t - 5)
    assert book_b.version("BTC") == 3                     # its own three puts, nothing newer
    wall = real_time.time()
    book_a.put("kraken", {"BTC": quote(200.0, "kraken", timestamp=wall - 2.5)}, fetched_at=t - 1)
    book_a.put("coinbase", {"BTC": quote(201.0, "coinbase")}, fetched_at=t - 3)
    book_a.put("okx", {"BTC": quote(199.0, "okx")}, fetched_at=t - 5)
    book_a.put("bybit", {"BTC": quote(202.0, "bybit"), "ETH": quote(3000.0, "bybit", "ETH")},
               fetched_at=t - 2)
    book_b.reread()
    got = book_b.quotes("BTC")
    # newer wins (kraken), older is ignored (coinbase), a tie keeps B's own (okx), new is taken
    assert {v: q.quote.price for v, q in got.items()} == {
        "kraken": 200.0, "coinbase": 101.0, "okx": 99.0, "bybit": 202.0}
    kraken = got["kraken"]
    assert kraken.venue == "kraken" and kraken.fetched_at == t - 1
    assert kraken.quote == quote(200.0, "kraken", timestamp=wall - 2.5)
    assert kraken.lag_s == book_a.get("kraken", "BTC").lag_s and kraken.lag_s >= 2.5
    assert book_b.version("BTC") == 4                     # one merge, one new version
    eth = book_b.quotes("ETH")
    assert list(eth) == ["bybit"] and eth["bybit"].quote.price == 3000.0
    assert book_b.version("ETH") == 1
    # a row B cannot read is skipped, the rows after it are still taken
    broken = json.dumps({"f": t, "l": 0.0, "q": {"t": "NoSuchType", "d": {}}})
    db.hset("cryptohub:book:SOL", "broken-1", broken)
    book_a.put("kraken", {"SOL": quote(150.0, "kraken", "SOL")}, fetched_at=t)
    db.hset("cryptohub:book:SOL", "broken-2", broken)
    assert {v: q.quote.price for v, q in book_b.quotes("SOL").items()} == {"kraken": 150.0}
    # what B took in is saved with its own rows
    book_b.flush()
    again = QuoteBook(Persistence(tmp_path), clock=clock.time, flush_every_s=3600)
    assert again.get("kraken", "BTC").quote.price == 200.0
    assert again.get("bybit", "ETH").fetched_at == t - 2
    for book in (book_a, book_b, again):
        book.close()


# -- budgets ---------------------------------------------------------------------------------------

def test_one_budget_for_the_whole_fleet_on_the_fleet_clock(fleet, url, db, clock):
    clock.wall = real_time.time() + 3600.0                # these hosts' clocks are an hour ahead
    a, b = fleet(url, "A"), fleet(url, "B")
    rl = RateLimit(32, 60.0)                              # 80 %: 25 a minute
    ba, bb = a.budget("coingecko", rl), b.budget("coingecko", rl)
    assert (ba.name, ba.key, ba.full_capacity, ba.capacity, ba.window_ms) == (
        "coingecko", "cryptohub:budget:coingecko", 25, 25, 60_000)
    assert ba.remaining() == 25 and ba.wait_s() == 0.0
    granted = sum((ba if i % 2 else bb).try_spend() for i in range(40))
    assert granted == 25 and db.zcard(ba.key) == 25
    assert ba.remaining() == bb.remaining() == 0
    stamps = [int(score) for _, score in db.zrange(ba.key, 0, -1, withscores=True)]
    assert set(stamps) <= {a.now_ms(), b.now_ms()}       # Redis time, not the hosts' clocks
    sec, usec = db.time()
    assert abs(min(stamps) - (sec * 1000 + usec // 1000)) < 1000
    # one more fits once the oldest spend leaves the window (which includes its start)
    assert ba.wait_s() == (min(stamps) + 60_000 + 1 - a.now_ms()) / 1000.0
    assert 59.9 < ba.wait_s() <= 60.001


def test_a_spend_weighs_at_least_one_and_at_most_the_whole_budget(fleet, url, db):
    state = fleet(url, "A")
    kraken = state.budget("kraken", RateLimit(10, 60.0))      # 8
    assert kraken.try_spend() and db.zcard(kraken.key) == 1
    assert kraken.try_spend(0) and db.zcard(kraken.key) == 2
    assert kraken.try_spend(2.9) and db.zcard(kraken.key) == 4
    assert kraken.remaining() == 4
    assert not kraken.try_spend(5) and db.zcard(kraken.key) == 4
    assert kraken.remaining() == 4 and kraken.wait_s() == 0.0
    okx = state.budget("okx", RateLimit(10, 60.0))
    assert okx.try_spend(50) and db.zcard(okx.key) == 8
    assert okx.remaining() == 0 and not okx.try_spend()


def test_a_full_budget_says_when_its_oldest_spend_leaves_the_window(fleet, url, db):
    state = fleet(url, "A")
    budget = state.budget("kraken", RateLimit(5, 10.0))   # 4 per 10 s
    now = state.now_ms()
    db.zadd(budget.key, {f"other:{i}": now - 9_500 for i in range(4)})   # another replica's
    assert budget.remaining() == 0 and not budget.try_spend()
    assert budget.wait_s() == 0.501                       # 500 ms, and the window's start


def test_remaining_is_read_from_redis_at_most_every_50_ms(fleet, url, clock):
    a, b = fleet(url, "A"), fleet(url, "B")
    rl = RateLimit(20, 60.0)                              # 16
    ba, bb = a.budget("binance", rl), b.budget("binance", rl)
    assert ba.remaining() == 16
    assert bb.try_spend(3)
    assert ba.remaining() == 16 and ba.wait_s() == 0.0    # A's reading is not 50 ms old
    clock.mono += 0.06
    assert ba.remaining() == 13
    assert ba.try_spend(13)
    assert ba.remaining() == 0 and bb.remaining() == 0    # own spends are read at once
    assert ba.wait_s() > 59.0


def test_a_redis_that_forgot_the_budget_script_is_given_it_again(fleet, url, db):
    state = fleet(url, "A")
    budget = state.budget("binance", RateLimit(10, 60.0))
    assert budget.try_spend()
    db.script_flush()                                     # as after a Redis restart
    assert budget.try_spend(3) and db.zcard(budget.key) == 4
    assert state.connected and budget.remaining() == 4
    assert all(m.startswith(b"budget:") for m in db.zrange(budget.key, 0, -1))
    assert budget.try_spend(4)                            # the budget is spent (8)
    db.script_flush()
    assert not budget.try_spend() and db.zcard(budget.key) == 8     # refused at once


def test_the_sync_round_drops_spends_older_than_the_window(fleet, url, db, clock):
    state = fleet(url, "A")
    node = Node(state, clock, {"kraken": RateLimit(10, 10.0)})     # 8 per 10 s
    budget = node.health["kraken"].budget
    assert budget.try_spend(2)
    now = state.now_ms()
    db.zadd(budget.key, {"gone:1": now - 11_000, "gone:2": now - 10_500, "kept:1": now - 9_000})
    clock.mono += 1.0                                     # a heartbeat round
    node.tick()
    assert sorted(m for m in db.zrange(budget.key, 0, -1) if not m.startswith(b"budget")) == \
        [b"kept:1"]
    assert db.zcard(budget.key) == 3
    assert 15_000 < db.pttl(budget.key) <= 20_000         # twice the window


def test_losing_redis_leaves_each_replica_its_share_and_rejoining_the_whole(fleet, clock,
                                                                             redis_server, caplog):
    caplog.set_level(logging.INFO, logger="routing.shared")
    rl = RateLimit(32, 60.0)                              # 25 a minute
    a, b = fleet(redis_server.url, "A"), fleet(redis_server.url, "B")
    na, nb = Node(a, clock, {"coingecko": rl}), Node(b, clock, {"coingecko": rl})
    clock.mono += 1.0
    na.tick()                                             # A's heartbeat sees both
    ba, bb = na.health["coingecko"].budget, nb.health["coingecko"].budget
    assert ba.try_spend(5) and ba.try_spend(2)            # through Redis
    redis_server.stop()
    assert ba.remaining() == 12 - 7                       # 25 // 2, less what A spent
    assert not a.connected and ba.capacity == 12 and a.budget_share() == 0.5
    assert sum(ba.try_spend() for _ in range(20)) == 5
    assert ba.remaining() == 0 and ba.wait_s() == 60.0
    assert sum(bb.try_spend() for _ in range(20)) == 12   # B spent nothing through Redis
    redis_server.start()
    na.tick()                                             # Redis answers: rejoined
    assert a.connected and a.budget_share() == 1.0 and ba.capacity == 25
    assert ba.try_spend(4) and ba.remaining() == 21       # a fresh Redis: the fleet's budget
    rejoined = [r.getMessage() for r in caplog.records if "rejoined" in r.getMessage()]
    assert len(rejoined) == 1 and redis_server.url in rejoined[0]
    redis_server.stop()
    clock.mono += 0.06                                    # past the last reading
    assert ba.remaining() == 12 - 11                      # lost again: its share, less 5+2+4
    assert ba.capacity == 12 and not ba.try_spend(2) and ba.try_spend()


def test_carry_counts_spends_made_elsewhere_within_the_window_up_to_capacity(clock):
    budget = ProviderBudget(RateLimit(10, 60.0))              # 8
    now = clock.mono
    budget.carry([(now - 61.0, 4), (now - 59.0, 3), (now - 1.0, 2)])
    assert budget.remaining() == 3
    budget.carry([(now, 4)])                                  # does not fit: never waits
    assert budget.remaining() == 3
    assert sum(budget.try_spend() for _ in range(5)) == 3
    assert budget.wait_s() == 1.0                             # when the spend at now-59 leaves


# -- gates ---------------------------------------------------------------------------------------

def test_cooldowns_and_breakers_cross_replicas_on_the_fleet_clock(fleet, url, db, clock):
    clock.wall += 30.0
    a = fleet(url, "A")                                   # A's host runs 30 s ahead
    clock.wall -= 30.0
    na = Node(a, clock, {"binance": RateLimit(1200, 60.0), "okx": RateLimit(20, 2.0),
                         "coincap": RateLimit(200, 60.0)}, skew_s=30.0)
    clock.wall -= 20.0
    b = fleet(url, "B")                                   # B's host runs 20 s behind
    clock.wall += 20.0
    nb = Node(b, clock, skew_s=-20.0)
    na.health["binance"].block(60.0, "rate_limited", "HTTP 429")
    stored = json.loads(db.hget("cryptohub:gates", "binance"))
    assert stored == {**na.health["binance"].snapshot(),
                      "blocked_until": na.health["binance"].blocked_until + a.offset_s}
    assert stored["open_until"] == 0.0 and stored["changed_at"] == 0.0
    na.health["coincap"].block(10.0, "disabled", "HTTP 403")      # B does not run coincap
    for _ in range(3):
        na.health["okx"].failure("HTTP 500")
    nb.health["okx"].failure("HTTP 502")
    nb.tick()
    h = nb.health["binance"]
    assert h.blocked_until == pytest.approx(clock.wall - 20.0 + 60.0, abs=0.05)
    assert (h.block_state, h.block_reason) == ("rate_limited", "HTTP 429")
    okx = nb.health["okx"]
    assert okx.open_until == pytest.approx(clock.wall - 20.0 + 15.0, abs=0.05)
    assert okx.changed_at == pytest.approx(clock.wall - 20.0, abs=0.05)
    assert (okx.opens, okx.block_reason, okx.consecutive_failures) == (1, "HTTP 500", 1)
    assert okx.unavailable_reason().startswith("breaker open until")
    # A's breaker closes a second later: B's closes too, its own failure count with it
    clock.wall += 1.0
    na.health["okx"].success()
    nb.tick()
    assert (okx.open_until, okx.opens, okx.consecutive_failures) == (0.0, 0, 0)
    assert okx.unavailable_reason() is None


def test_apply_shared_takes_a_later_cooldown_and_the_last_breaker_change(clock):
    h = ProviderHealth("okx", RateLimit(20, 2.0), clock=clock.time)

    def gates():
        return (h.blocked_until, h.block_state, h.block_reason, h.open_until, h.opens,
                h.changed_at)

    h.apply_shared({})
    assert gates() == (0.0, "", "", 0.0, 0, 0.0)
    h.apply_shared({"blocked_until": 100.0})
    assert gates()[:3] == (100.0, "rate_limited", "")
    h.apply_shared({"blocked_until": 100.0, "block_state": "disabled", "block_reason": "x"})
    h.apply_shared({"blocked_until": 90.0, "block_state": "disabled", "block_reason": "y"})
    assert gates()[:3] == (100.0, "rate_limited", "")          # not later: kept
    h.apply_shared({"blocked_until": 150.5, "block_state": "disabled", "block_reason": "HTTP 403"})
    assert gates()[:3] == (150.5, "disabled", "HTTP 403")
    h.apply_shared({"open_until": 500.0, "opens": 2})           # no change time: not newer
    assert gates()[3:] == (0.0, 0, 0.0)
    h.failure("HTTP 502")
    h.failure("HTTP 502")
    assert h.consecutive_failures == 2 and h.open_until == 0.0
    h.apply_shared({"open_until": 515.0, "opens": 2, "changed_at": 500.0,
                    "block_reason": "HTTP 500"})
    assert gates()[2:] == ("HTTP 500", 515.0, 2, 500.0) and h.consecutive_failures == 2
    h.apply_shared({"open_until": 999.0, "opens": 3, "changed_at": 500.0, "block_reason": "z"})
    assert gates()[2:] == ("HTTP 500", 515.0, 2, 500.0)          # the same change: kept
    h.apply_shared({"open_until": 530.0, "changed_at": 501.0})
    assert gates()[2:] == ("HTTP 500", 530.0, 0, 501.0)
    h.apply_shared({"changed_at": 502.0})                       # closed elsewhere
    assert gates()[3:] == (0.0, 0, 502.0) and h.consecutive_failures == 0


def test_live_gates_are_published_again_when_redis_comes_back_empty(fleet, clock, redis_server):
    rl = RateLimit(1200, 60.0)
    state = fleet(redis_server.url, "A")
    node = Node(state, clock, {n: rl for n in ("binance", "kraken", "okx", "coinbase")})
    redis_server.stop()
    node.tick()
    assert not state.connected
    h, t = node.health, clock.wall
    h["binance"].block(30.0, "rate_limited", "HTTP 429")      # live cooldown
    h["kraken"].block(-1.0, "rate_limited", "HTTP 429")       # over
    clock.wall = t - 15.0
    for _ in range(3):
        h["coinbase"].failure("HTTP 500")                     # a breaker open until now
    clock.wall = t
    h["coinbase"].block(0.0, "rate_limited", "HTTP 429")      # a cooldown until now
    for _ in range(3):
        h["okx"].failure("HTTP 503")                          # open for 15 s
    binance, okx = h["binance"].snapshot(), h["okx"].snapshot()
    redis_server.start()
    node.tick()
    assert state.connected
    client = redis.Redis.from_url(redis_server.url)
    gates = {k.decode(): json.loads(v) for k, v in client.hgetall("cryptohub:gates").items()}
    client.close()
    assert set(gates) == {"binance", "okx"}
    assert gates["binance"] == {**binance, "blocked_until": binance["blocked_until"] +
                                state.offset_s}
    assert gates["okx"] == {**okx, "open_until": okx["open_until"] + state.offset_s,
                            "changed_at": okx["changed_at"] + state.offset_s}


# -- single-flight locks ---------------------------------------------------------------------------

def test_a_lock_is_exclusive_in_the_fleet_until_released_or_expired(fleet, url, db):
    a, b = fleet(url, "A"), fleet(url, "B")
    key = "cryptohub:flight:candles:BTC:1h"
    token = a.lock("candles:BTC:1h", 5.0)
    assert token is not None and token is not True
    assert b.lock("candles:BTC:1h", 5.0) is None
    assert 4_000 < db.pttl(key) <= 5_000
    other = b.lock("candles:ETH:1h", 5.0)
    assert other is not None and other is not True
    a.unlock(token)
    assert not db.exists(key)
    short = b.lock("candles:BTC:1h", 0.01)                # raised to 0.1 s
    assert short is not None and 0 < db.pttl(key) <= 100
    real_time.sleep(0.15)
    assert not db.exists(key)
    again = a.lock("candles:BTC:1h", 5.0)
    assert again is not None and again is not True
    b.unlock(short)                                       # expired meanwhile: A's lock stays
    a.unlock(True)                                        # granted locally: nothing to release
    a.unlock(None)                                        # refused: nothing to release
    assert db.exists(key) and b.lock("candles:BTC:1h", 5.0) is None


def test_a_lock_is_granted_when_redis_fails_under_it(fleet, redis_server):
    state = fleet(redis_server.url, "A")
    redis_server.stop()
    assert state.lock("candles:BTC:1h", 5.0) is True and not state.connected
    state.unlock(True)


# -- metrics --------------------------------------------------------------------------------------

def test_metrics_pushed_by_one_replica_are_read_by_the_others(fleet, url, db, clock):
    a, b = fleet(url, "A"), fleet(url, "B")
    na, nb = Node(a, clock), Node(b, clock)
    m = na.metrics
    m.user_request(10.0, cache_hit=True)
    m.user_request(30.0, cache_hit=False)
    m.upstream_call("binance", 12.0, 200)
    m.upstream_call("binance", 14.0, 200)
    m.upstream_call("okx", 20.0, 503)
    m.failure("okx", "http", "HTTP 503", "retry")
    (minute,) = m.series
    na.tick()
    snap = json.loads(db.hget("cryptohub:metrics", "A"))
    assert snap["totals"] == {"requests": 2, "cache_hits": 1, "upstream_calls": 3}
    assert snap["response_ms_sum"] == 40.0 and snap["replica"] == "A" and snap["at"] == a.now()
    assert snap["providers"] == {n: _counters(p) for n, p in m.providers.items()}
    assert snap["providers"]["okx"]["failures"] == {"http": 1}
    assert db.hgetall("cryptohub:series") == {f"{minute}:binance".encode(): b"2",
                                              f"{minute}:okx".encode(): b"1"}
    error = {**m.providers["okx"].errors[0], "replica": "A"}
    assert [json.loads(e) for e in db.lrange("cryptohub:errors", 0, -1)] == [error]
    assert b.others_metrics() == [snap] and a.others_metrics() == []
    assert b.fleet_series() == {(minute, "binance"): 2, (minute, "okx"): 1}
    assert b.fleet_errors() == [error]
    assert nb.metrics.totals_view()["requests"] == 2
    # a second push adds to the series and replaces the counters
    m.upstream_call("binance", 9.0, 200)
    na.tick()
    assert db.hget("cryptohub:series", f"{minute}:binance") == b"3"
    assert json.loads(db.hget("cryptohub:metrics", "A"))["totals"]["upstream_calls"] == 4
    assert db.llen("cryptohub:errors") == 1


def test_fleet_readings_are_cached_one_period_and_kept_while_lost(fleet, clock, redis_server):
    a, b = fleet(redis_server.url, "A"), fleet(redis_server.url, "B")
    na, _ = Node(a, clock), Node(b, clock)
    assert b.others_metrics() == [] and b.fleet_series() == {} and b.fleet_errors() == []
    assert a.fleet_series() == {} and a.fleet_errors() == []
    na.metrics.upstream_call("binance", 5.0, 200)
    na.metrics.failure("binance", "http", "HTTP 500", "retry")
    (minute,) = na.metrics.series
    na.tick()
    # the pusher reads its own push at once; the others within one sync period
    assert a.fleet_series() == {(minute, "binance"): 1} and len(a.fleet_errors()) == 1
    assert b.others_metrics() == [] and b.fleet_series() == {} and b.fleet_errors() == []
    clock.mono += SYNC_S
    assert [o["replica"] for o in b.others_metrics()] == ["A"]
    assert b.fleet_series() == {(minute, "binance"): 1} and len(b.fleet_errors()) == 1
    na.metrics.upstream_call("binance", 5.0, 200)
    na.tick()
    redis_server.stop()
    clock.mono += SYNC_S
    # Redis lost: the last readings known, not nothing
    assert a.fleet_series() == {(minute, "binance"): 1} and not a.connected
    assert b.fleet_series() == {(minute, "binance"): 1} and len(b.others_metrics()) == 1
    assert len(b.fleet_errors()) == 1 and not b.connected


def test_the_fleet_keeps_its_last_1000_errors_newest_first(fleet, url, db, clock):
    db.lpush("cryptohub:errors", *[json.dumps({
        "time": float(i), "provider": "kraken", "kind": "http", "message": f"old {i}",
        "action": "retry", "replica": "Z"}) for i in range(999)])
    a, b = fleet(url, "A"), fleet(url, "B")
    node = Node(a, clock)
    node.metrics.failure("binance", "http", "HTTP 500 first", "retry")
    node.metrics.failure("binance", "http", "HTTP 500 second", "retry")
    node.tick()
    assert db.llen("cryptohub:errors") == 1000
    errors = b.fleet_errors()
    assert len(errors) == 1000
    assert [e["message"] for e in errors[:3]] == ["HTTP 500 second", "HTTP 500 first", "old 998"]
    assert errors[-1]["message"] == "old 1"


def test_a_push_redis_refuses_is_kept_whole_and_pushed_once_later(fleet, clock, redis_server):
    state = fleet(redis_server.url, "A")
    node = Node(state, clock)
    client = redis.Redis.from_url(redis_server.url)
    m = node.metrics
    m.upstream_call("binance", 5.0, 200)
    m.failure("binance", "http", "HTTP 502", "retry")
    (minute,) = m.series
    try:
        client.execute_command("ACL", "SETUSER", "default", "-hset", "-hincrby", "-lpush",
                               "-ltrim")
        node.tick()                                       # every write of the push refused
        assert not state.connected
    finally:
        client.execute_command("ACL", "SETUSER", "default", "+@all")
    assert not client.exists("cryptohub:series", "cryptohub:errors", "cryptohub:metrics")
    m.upstream_call("binance", 6.0, 200)
    node.tick()                                           # rejoined: kept and new, once
    assert state.connected
    assert client.hgetall("cryptohub:series") == {f"{minute}:binance".encode(): b"2"}
    assert [json.loads(e)["message"] for e in client.lrange("cryptohub:errors", 0, -1)] == \
        ["HTTP 502"]
    client.close()


def test_take_shared_hands_over_the_pending_parts_and_give_back_keeps_their_order(clock):
    m = Metrics(Persistence(None), clock=clock.time)
    m.shared = SharedState("solo")
    m.user_request(7.5, cache_hit=False)
    m.upstream_call("binance", 5.0, 200)
    m.failure("binance", "http", "first", "retry")
    (minute,) = m.series
    snap, series, errors = m.take_shared()
    assert snap == {"totals": {"requests": 1, "upstream_calls": 1}, "response_ms_sum": 7.5,
                    "providers": {"binance": _counters(m.providers["binance"])}}
    assert snap["providers"]["binance"]["upstream_calls"] == 1
    assert series == Counter({(minute, "binance"): 1}) and [e["message"] for e in errors] == \
        ["first"]
    _, nothing, none = m.take_shared()
    assert nothing == Counter() and none == []
    m.failure("binance", "http", "second", "retry")
    m.upstream_call("binance", 5.0, 200)
    m.give_back(series, errors)                           # the push of the first part failed
    _, series, errors = m.take_shared()
    assert series == Counter({(minute, "binance"): 2})
    assert [e["message"] for e in errors] == ["first", "second"]
    m.give_back(Counter(), [{"time": float(i), "provider": "p", "kind": "http",
                             "message": str(i), "action": "a"} for i in range(250)])
    _, _, errors = m.take_shared()
    assert [e["message"] for e in errors] == [str(i) for i in range(50, 250)]


def test_the_first_sync_round_prunes_series_older_than_a_day_then_every_10_minutes(
        fleet, url, db, clock):
    state = fleet(url, "A")
    node = Node(state, clock)
    cutoff = int((state.now() - 24 * 3600) // 60)
    db.hset("cryptohub:series", mapping={f"{cutoff - 1}:binance": 4, f"{cutoff}:binance": 5,
                                         f"{cutoff + 1}:okx": 6})
    node.tick()
    assert db.hgetall("cryptohub:series") == {f"{cutoff}:binance".encode(): b"5",
                                              f"{cutoff + 1}:okx".encode(): b"6"}
    db.hset("cryptohub:series", f"{cutoff - 10}:binance", 7)
    clock.mono += 600.0
    node.tick()
    assert db.hexists("cryptohub:series", f"{cutoff - 10}:binance")
    clock.mono += 0.5
    node.tick()
    assert not db.hexists("cryptohub:series", f"{cutoff - 10}:binance")


# -- heartbeat, replicas, status, life cycle -------------------------------------------------------

def test_the_heartbeat_lists_live_replicas_and_forgets_silent_ones(fleet, url, db, clock):
    a = fleet(url, "A")
    assert json.loads(db.hget("cryptohub:replicas", "A")) == {
        "id": "A", "started_at": a.started_at + a.offset_s, "last_heartbeat": a.now()}
    now = a.now()

    def beat(rid, started_ago, heard_ago):
        return rid, json.dumps({"id": rid, "started_at": now - started_ago,
                                "last_heartbeat": now - heard_ago})

    for rid, value in (beat("E", 9000.0, 3600.5), beat("B", 50.12345, 5.0),
                       beat("C", 60.0, 5.0004), beat("D", 4000.0, 3600.0),
                       beat("F", 10.0, -2.0)):
        db.hset("cryptohub:replicas", rid, value)
    db.hset("cryptohub:metrics", mapping={"E": "{}", "B": "{}"})
    a._heartbeat()
    rows = a.replicas()
    assert [r["id"] for r in rows] == ["D", "C", "B", "F", "A"]      # oldest start first
    by_id = {r["id"]: r for r in rows}
    assert by_id["B"] == {"id": "B", "started_at": round(now - 50.12345, 3), "uptime_s": 50.1,
                          "last_heartbeat": round(now - 5.0, 3), "age_s": 5.0, "alive": True}
    assert by_id["C"]["age_s"] == 5.0 and by_id["C"]["alive"] is False
    assert by_id["D"]["age_s"] == 3600.0 and by_id["D"]["alive"] is False
    assert by_id["F"]["age_s"] == 0.0 and by_id["F"]["alive"] is True
    assert by_id["A"] == {"id": "A", "started_at": round(now, 3), "uptime_s": 0.0,
                          "last_heartbeat": round(now, 3), "age_s": 0.0, "alive": True}
    assert a.replicas_seen == 3 and a.view()["replicas_seen"] == 3
    assert sorted(db.hkeys("cryptohub:replicas")) == [b"A", b"B", b"C", b"D", b"F"]
    assert db.hkeys("cryptohub:metrics") == [b"B"]


def test_a_later_heartbeat_reports_uptime_on_the_fleet_clock(fleet, url, db, clock):
    a = fleet(url, "A")
    node = Node(a, clock)
    clock.wall += 100.04
    clock.mono += 1.0
    node.tick()
    (row,) = a.replicas()
    stored = json.loads(db.hget("cryptohub:replicas", "A"))
    assert stored["last_heartbeat"] == a.now()
    assert row["uptime_s"] == 100.0 and row["age_s"] == 0.0
    assert row["started_at"] == round(stored["started_at"], 3)
    assert stored["started_at"] == pytest.approx(a.now() - 100.04, abs=1e-6)


def test_while_lost_the_replica_list_ages_and_this_replica_stays_fresh(fleet, clock,
                                                                        redis_server):
    a, b = fleet(redis_server.url, "A"), fleet(redis_server.url, "B")
    node = Node(a, clock)
    clock.mono += 1.0
    node.tick()
    before = {r["id"]: r for r in a.replicas()}
    assert set(before) == {"A", "B"} and all(r["alive"] for r in before.values())
    clock.wall += 2.0
    assert {r["id"]: r for r in a.replicas()} == before          # connected: the last round
    redis_server.stop()
    node.tick()
    clock.wall += 4.54
    now = a.now()
    rows = {r["id"]: r for r in a.replicas()}
    assert rows["A"] == {**before["A"], "last_heartbeat": round(now, 3),
                         "uptime_s": round(now - before["A"]["started_at"], 1),
                         "age_s": 0.0, "alive": True}
    assert rows["B"] == {**before["B"], "age_s": round(now - before["B"]["last_heartbeat"], 3),
                         "alive": False}
    assert 6.4 < rows["B"]["age_s"] < 6.7 and 6.4 < rows["A"]["uptime_s"] < 6.7
    # alive up to exactly five seconds of silence
    target = before["B"]["last_heartbeat"] + shared.ALIVE_S
    clock.wall = target - a.offset_s
    for _ in range(100):
        if a.now() == target:
            break
        clock.wall = math.nextafter(clock.wall, math.inf if a.now() < target else -math.inf)
    assert a.now() == target
    assert [r["alive"] for r in a.replicas() if r["id"] == "B"] == [True]
    clock.wall = math.nextafter(clock.wall, math.inf)
    assert [r["alive"] for r in a.replicas() if r["id"] == "B"] == [False]


def test_the_status_view_connected_lost_and_back(fleet, clock, redis_server):
    started = clock.wall
    states = [fleet(redis_server.url, rid) for rid in ("A", "B", "C")]
    a = states[0]
    node = Node(a, clock)
    view = {"backend": "redis", "state": "connected", "url": redis_server.url,
            "replica_id": "A", "since": round(started, 3), "lost_since": None,
            "replicas_seen": 1, "budget_share": 1.0}
    assert a.view() == view
    clock.mono += 1.0
    node.tick()
    assert a.view() == {**view, "replicas_seen": 3}
    redis_server.stop()
    clock.wall += 2.0
    node.tick()
    assert a.view() == {**view, "state": "lost", "since": round(started + 2.0, 3),
                        "lost_since": round(started + 2.0, 3), "replicas_seen": 3,
                        "budget_share": 0.3333}
    assert a.budget("binance", RateLimit(1200, 60.0)).capacity == 960 // 3
    assert a.budget("paprika", RateLimit(1, 60.0)).capacity == 1    # 1 // 3, yet one unit
    redis_server.start()
    clock.wall += 3.0
    node.tick()
    assert a.view() == {**view, "since": round(started + 5.0, 3), "replicas_seen": 3}
    clock.wall += 1.0
    node.tick()                                           # connected: nothing changes
    assert a.view()["since"] == round(started + 5.0, 3)


def test_close_pushes_the_last_counts_and_leaves_the_replica_list(fleet, url, db, clock):
    a, b = fleet(url, "A"), fleet(url, "B")
    node = Node(a, clock)
    node.metrics.user_request(5.0, cache_hit=False)
    a.close()
    assert json.loads(db.hget("cryptohub:metrics", "A"))["totals"] == {"requests": 1}
    assert db.hkeys("cryptohub:replicas") == [b"B"] and not a._thread.is_alive()
    b.close()                                             # never attached: nothing to push
    assert db.hkeys("cryptohub:metrics") == [b"A"] and db.hkeys("cryptohub:replicas") == []


def test_the_sync_thread_applies_another_replicas_cooldown(fleet, url, clock):
    a, b = fleet(url, "A", sync_every_s=0.05), fleet(url, "B")
    na = Node(a, clock, thread=True)
    nb = Node(b, clock)
    assert a._thread.name == "shared-state-sync" and a._thread.daemon and a._thread.is_alive()
    nb.health["binance"].block(30.0, "rate_limited", "HTTP 429")
    assert until(lambda: na.health["binance"].blocked_until > 0)
    assert na.health["binance"].blocked_until == pytest.approx(clock.wall + 30.0, abs=0.05)
    a.close()
    assert not a._thread.is_alive()


# -- the HTTP cache --------------------------------------------------------------------------------

def http_response(url: str, params: dict | None = None, headers: dict | None = None,
                  body: bytes = b'{"price": "64000.5"}') -> requests.Response:
    """A 200 as requests hands it to requests-cache (no network)."""
    request = requests.Request("GET", url, params=params, headers=headers).prepare()
    resp = requests.Response()
    resp.status_code, resp.reason, resp._content = 200, "OK", body
    resp.url, resp.request, resp.encoding = request.url, request, "utf-8"
    resp.headers["Content-Type"] = "application/json"
    resp.elapsed = datetime.timedelta(0)
    resp.raw = urllib3.HTTPResponse(body=io.BytesIO(body), headers=dict(resp.headers),
                                    status=200, reason="OK", preload_content=False,
                                    request_url=request.url)
    return resp


def in_seconds(seconds: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)


def test_http_answers_are_shared_between_replicas_with_a_redis_ttl(fleet, url, db):
    a, b = fleet(url, "A"), fleet(url, "B")
    sa = build_session(Persistence(None), shared=a, prune_every_s=3600)
    sb = build_session(Persistence(None), shared=b, prune_every_s=3600)
    try:
        ca, cb = sa.cache, sb.cache
        resp = http_response("http://venue.test/api/v3/ticker/price", {"symbol": "BTCUSDT"})
        key = ca.create_key(resp.request, verify=False)     # as requests-cache's session does
        ca.save_response(resp, key, in_seconds(10.4))
        got = cb.get_response(key)
        assert (got.status_code, got.content, got.url) == (200, resp.content, resp.url)
        assert cb.contains(key=key) and cb.contains(key="no-such-key") is False
        verified = http_response("http://venue.test/api/v3/ticker/price", {"symbol": "ETHUSDT"})
        cb.save_response(verified, cb.create_key(verified.request), in_seconds(10.4))
        assert ca.contains(request=verified.request) and ca.contains(url=verified.url)
        assert not ca.contains(url=resp.url)              # that one was fetched without verify
        assert sorted(db.keys("cryptohub:http*")) == sorted(
            f"cryptohub:http:{k}".encode() for k in (key, cb.create_key(verified.request)))
        assert 65_000 < db.pttl(f"cryptohub:http:{key}") <= 70_000      # 10 s + 60 s
        assert not ca.local.contains(key=key)             # Redis holds it, not each replica
        missing = object()
        assert cb.get_response("no-such-key", missing) is missing
        assert cb.get_response("no-such-key") is None
        cb.delete(key)
        assert ca.get_response(key) is None and not db.exists(f"cryptohub:http:{key}")
        cb.delete(urls=[verified.url])
        assert not ca.contains(url=verified.url) and db.keys("cryptohub:http*") == []
    finally:
        sa.close()
        sb.close()


def test_the_http_cache_falls_back_to_the_replicas_own_while_redis_is_gone(fleet, clock,
                                                                            redis_server):
    state = fleet(redis_server.url, "A")
    node = Node(state, clock)
    session = build_session(Persistence(None), shared=state, prune_every_s=3600)
    try:
        cache = session.cache
        first = http_response("http://venue.test/api/v3/ticker/price", {"symbol": "BTCUSDT"})
        second = http_response("http://venue.test/api/v3/ticker/price", {"symbol": "ETHUSDT"})
        k1, k2 = cache.create_key(first.request), cache.create_key(second.request, verify=False)
        cache.save_response(first, k1, in_seconds(30))              # into Redis
        redis_server.stop()
        cache.save_response(second, k2, in_seconds(30))             # Redis fails: kept locally
        assert not state.connected and cache.local.contains(key=k2)
        assert cache.local.get_response(k2).expires_delta in (29, 30)
        assert cache.get_response(k2).content == second.content
        assert cache.contains(key=k2) is True and cache.contains(key=k1) is False
        missing = object()
        assert cache.get_response(k1, missing) is missing and cache.get_response(k1) is None
        redis_server.start()
        node.tick()                                                 # rejoined
        assert state.connected and cache.get_response(k2) is None  # Redis came back empty
        redis_server.stop()
        assert cache.get_response(k2).content == second.content     # fails under it: local
        cache.delete(k2)
        assert not cache.local.contains(key=k2) and cache.contains(key=k2) is False
        third = http_response("http://venue.test/api/v3/ticker/price", {"symbol": "SOLUSDT"})
        k3 = cache.create_key(third.request)
        cache.save_response(third, k3, in_seconds(-5))             # kept locally, expired
        assert cache.local.contains(key=k3)
        cache.delete(expired=True)
        assert not cache.local.contains(key=k3)
    finally:
        session.close()


def test_api_keys_never_reach_redis_nor_the_local_copy(fleet, clock, redis_server):
    state = fleet(redis_server.url, "A")
    session = build_session(Persistence(None), shared=state, prune_every_s=3600)
    client = redis.Redis.from_url(redis_server.url)
    try:
        cache = session.cache
        url = "http://venue.test/api/v3/simple/price"
        keyed = http_response(url, {"ids": "bitcoin", "x_cg_demo_api_key": "cg-SECRET-1"},
                              {"X-API-Key": "xk-SECRET-2", "X-MBX-APIKEY": "bn-SECRET-3"})
        key = cache.create_key(keyed.request)
        cache.save_response(keyed, key, in_seconds(30))
        blob = b"".join(k + (client.get(k) or b"") if client.type(k) == b"string" else k
                        for k in client.keys("*"))
        assert b"cryptohub:http:" in blob and b"SECRET" not in blob
        rotated = requests.Request("GET", url, params={"ids": "bitcoin",
                                                        "x_cg_demo_api_key": "cg-OTHER-9"},
                                   headers={"X-API-Key": "xk-OTHER-8"}).prepare()
        assert cache.create_key(rotated) == key           # the key's value is no part of it
        assert "SECRET" not in cache.get_response(key).url
        redis_server.stop()
        other = http_response(url, {"ids": "ethereum", "x_cg_demo_api_key": "cg-SECRET-4"},
                              {"X-API-Key": "xk-SECRET-5"})
        cache.save_response(other, cache.create_key(other.request), in_seconds(30))
        local = cache.local.get_response(cache.create_key(other.request))
        assert "SECRET" not in local.url and "SECRET" not in str(local.request.headers)
    finally:
        client.close()
        session.close()
