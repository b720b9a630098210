"""Shared state on a real Redis: two routers in this process (two build_router calls, separate
DATA_DIRs, one REDIS_URL) behave as one towards the providers, over real HTTP against the
simulator. Redis trouble (stopped, never there, back again) costs no answer. No mock of Redis:
the `redis_server` fixture runs Debian's redis-server on a free port."""
from __future__ import annotations

import logging
import os
import threading
import time

import pytest

from bench.processes import RedisProcess, free_port
from routing import NoProviderAvailable, build_router
from routing.service import MarketService
from routing.shared import redact_url

SYNC_BOUND_S = 1.0          # a change made by one replica is seen by the others within this


def upstream_total(sim) -> int:
    return sum(s["requests"] for s in sim.stats().values())


def until(check, timeout: float, every: float = 0.02):
    """Poll `check()` until it is truthy (its value) or `timeout` passes (its last value)."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= end:
            return value
        time.sleep(every)


@pytest.fixture
def fleet(sim, tmp_path, redis_server):
    """make(name, url, providers="") -> a router with its own DATA_DIR on the shared Redis
    (closed before the Redis server stops)."""
    made = []

    def make(name: str, url: str, providers: str = "", **extra: str):
        env = {**os.environ, **sim.env(), "REDIS_URL": url, "REPLICA_ID": name, **extra}
        env.pop("PROVIDERS", None)
        if providers:
            env["PROVIDERS"] = providers
        router = build_router(tmp_path / f"data-{name}", env=env)
        made.append(router)
        return router

    yield make
    for r in made:
        r.close()


class PasswordRedis(RedisProcess):
    """A redis-server with requirepass: it answers PING with NOAUTH once it is up."""

    def ping(self) -> bool:
        import socket
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False


def shared_view(router) -> dict:
    return MarketService(router).system_status()["infrastructure"]["shared_state"]


def test_answer_fetched_by_one_replica_is_served_by_another(fleet, sim, redis_server):
    a, b = fleet("A", redis_server.url), fleet("B", redis_server.url)
    first = a.get_quote("BTC")
    assert not first.cached
    calls = upstream_total(sim)
    assert calls >= 1
    second = b.get_quote("BTC")
    assert second.cached and second.value.price == first.value.price
    assert second.source == first.source
    candles = b.get_candles("ETH", "1h", 20)
    calls = upstream_total(sim)
    again = a.get_candles("ETH", "1h", 20)
    assert upstream_total(sim) == calls                  # B's fetch served A: no upstream call
    assert again.cached and [c.close for c in again.value] == [c.close for c in candles.value]


def test_cooldown_set_via_one_replica_is_honoured_by_the_other_within_1s(fleet, sim,
                                                                          redis_server):
    a = fleet("A", redis_server.url, providers="binance")
    b = fleet("B", redis_server.url, providers="binance,kraken")
    sim.set_fault("binance", "rate_limit", retry_after=30)
    with pytest.raises(NoProviderAvailable):
        a.get_candles("BTC", "1h", 20)
    assert sim.stats()["binance"]["rate_limited"] == 1
    blocked = a.health["binance"].blocked_until
    assert blocked > time.time() + 25
    seen = until(lambda: b.health["binance"].blocked_until >= blocked - 0.1, SYNC_BOUND_S)
    assert seen, "B did not see A's cooldown within 1 s"
    row = next(p for p in b.provider_status() if p["name"] == "binance")
    assert row["state"] == "rate_limited"
    assert row["cooldown_until"] == pytest.approx(blocked, abs=0.1)
    before = sim.stats()["binance"]["requests"]
    answer = b.get_candles("BTC", "1h", 20)
    assert answer.source == "kraken"
    assert sim.stats()["binance"]["requests"] == before    # B never asked the cooling provider


def test_breaker_opened_via_one_replica_is_seen_by_the_other(fleet, sim, redis_server):
    a = fleet("A", redis_server.url, providers="okx")
    b = fleet("B", redis_server.url, providers="okx,kraken")
    sim.set_fault("okx", "error500")
    for interval in ("1h", "4h", "1d"):
        with pytest.raises(NoProviderAvailable):
            a.get_candles("BTC", interval, 20)
    assert a.health["okx"].open_until > time.time()
    opened = until(lambda: b.health["okx"].open_until >= a.health["okx"].open_until - 0.1,
                   SYNC_BOUND_S)
    assert opened, "B did not see A's open breaker within 1 s"
    assert b.health["okx"].unavailable_reason().startswith("breaker open until")
    before = sim.stats()["okx"]["requests"]
    assert b.get_candles("ETH", "1h", 20).source == "kraken"
    assert sim.stats()["okx"]["requests"] == before


def test_two_replicas_never_spend_more_than_one_budget(fleet, sim, redis_server):
    a = fleet("A", redis_server.url, providers="coingecko")
    b = fleet("B", redis_server.url, providers="coingecko")
    ba, bb = a.health["coingecko"].budget, b.health["coingecko"].budget
    capacity = ba.capacity
    assert capacity == bb.capacity == 24                # 80 % of 30 per minute
    spent = 0
    for i in range(capacity * 2):
        spent += (ba if i % 2 else bb).try_spend()
    assert spent == capacity
    assert ba.remaining() == bb.remaining() == 0
    assert 55 < ba.wait_s() <= 60.01 and 55 < bb.wait_s() <= 60.01   # the window's minute
    time.sleep(0.06)                                      # past the 50 ms reading cache
    row = next(p for p in b.provider_status() if p["name"] == "coingecko")
    assert row["rate_limit"]["budget"] == 24 and row["rate_limit"]["remaining"] == 0


def test_budget_shared_over_http_no_provider_rate_limit(fleet, sim, redis_server):
    """Many distinct misses split over both replicas with CoinGecko alone: at most one budget
    of calls reaches it in the window, and it never answers 429."""
    a = fleet("A", redis_server.url, providers="coingecko")
    b = fleet("B", redis_server.url, providers="coingecko")
    served = refused = 0
    coins = sorted(a.known_symbols("candles"))[:16]
    assert len(coins) == 16
    for i, (coin, interval) in enumerate((c, iv) for c in coins for iv in ("30m", "4h")):
        try:
            (a if i % 2 else b).get_candles(coin, interval, 10)
            served += 1
        except NoProviderAvailable as exc:
            refused += 1
            assert "budget" in str(exc)
    stats = sim.stats()["coingecko"]
    assert stats["rate_limited"] == 0
    assert stats["requests"] <= 24 and served == stats["requests"]
    assert refused == 32 - served > 0


def at_once(n: int, routers, call) -> tuple[list, list]:
    """`call(router)` from n threads released together, alternating over `routers`: (results,
    exceptions raised)."""
    results, errors = [], []
    barrier = threading.Barrier(n)

    def ask(router):
        barrier.wait()
        try:
            results.append(call(router))
        except Exception as exc:               # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(routers[i % len(routers)],))
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results, errors


def test_single_flight_across_replicas_one_upstream_call(fleet, sim, redis_server):
    a = fleet("A", redis_server.url, providers="binance")
    b = fleet("B", redis_server.url, providers="binance")
    sim.set_latency("binance", 0.3)          # long enough for every caller to arrive meanwhile
    results, errors = at_once(8, (a, b), lambda r: r.get_candles("BTC", "1h", 30))
    assert errors == []
    assert len(results) == 8
    assert sim.stats()["binance"]["requests"] == 1
    assert len({tuple(c.close for c in r.value) for r in results}) == 1
    assert sum(not r.cached for r in results) == 1


def test_cold_quote_single_flight_across_replicas(fleet, sim, redis_server):
    """Concurrent misses on one coin at both replicas make one snapshot round between them
    (the round asks at most 3 venues when the book is cold), not one per replica."""
    a, b = fleet("A", redis_server.url), fleet("B", redis_server.url)
    prices, errors = at_once(6, (a, b), lambda r: r.get_quote("ETH").value.price)
    assert errors == [] and len(prices) == 6
    assert 1 <= upstream_total(sim) <= 3


def test_fleet_metrics_and_replica_list(fleet, sim, redis_server):
    a, b = fleet("A", redis_server.url), fleet("B", redis_server.url)
    a.get_quote("BTC")
    a.get_quote("BTC")
    b.get_quote("BTC")
    b.get_fear_greed()
    b.get_fear_greed()
    upstream = upstream_total(sim)

    def fleet_numbers():
        perf = MarketService(a).system_status()["performance"]
        return perf if perf["requests"] == 5 and perf["upstream_calls"] == upstream else None

    perf = until(fleet_numbers, 2.0)
    assert perf, MarketService(a).system_status()["performance"]
    assert perf["cache_hits"] == 3                       # A's 2nd, B's BTC and B's 2nd F&G
    status = MarketService(b).system_status()
    assert status["performance"]["requests"] == 5
    ids = {r["id"]: r for r in status["replicas"]}
    assert set(ids) == {"A", "B"}
    assert all(r["alive"] and r["age_s"] < 5 and r["uptime_s"] >= 0 for r in ids.values())
    view = status["infrastructure"]["shared_state"]
    assert view == {**view, "backend": "redis", "state": "connected", "replica_id": "B",
                    "lost_since": None, "replicas_seen": 2, "budget_share": 1.0,
                    "url": redis_server.url}
    assert status["infrastructure"]["cache_backend"] == "redis"
    series = MarketService(b).traffic()["per_minute"]
    assert sum(row["calls"] for row in series) == upstream


def test_fleet_error_list(fleet, sim, redis_server):
    a = fleet("A", redis_server.url, providers="binance")
    b = fleet("B", redis_server.url, providers="binance")
    sim.set_fault("binance", "error500")
    with pytest.raises(NoProviderAvailable):
        a.get_candles("BTC", "1h", 20)

    def b_sees_it():
        return [e for e in MarketService(b).system_status()["error_details"]
                if "binance" in str(e).lower()]

    assert until(b_sees_it, 2.0), MarketService(b).system_status()["error_details"]


def test_redis_stopped_both_fall_back_then_rejoin(fleet, sim, redis_server, caplog):
    caplog.set_level(logging.INFO, logger="routing.shared")
    a, b = fleet("A", redis_server.url), fleet("B", redis_server.url)
    a.get_quote("BTC")
    assert until(lambda: shared_view(a)["replicas_seen"] == 2
                 and shared_view(b)["replicas_seen"] == 2, 3.0)
    full = a.health["binance"].budget.capacity
    fg_a, fg_b = a.health["alternative_me"].budget, b.health["alternative_me"].budget
    assert fg_a.capacity == 48                          # 80 % of 60 per minute; unused here
    assert sum(fg_a.try_spend() for _ in range(5)) == 5   # through Redis
    redis_server.stop()
    stopped = time.time()
    lost = until(lambda: shared_view(a)["state"] == "lost" and shared_view(b)["state"] == "lost",
                 SYNC_BOUND_S)
    assert lost, (shared_view(a), shared_view(b))
    for r in (a, b):
        view = shared_view(r)
        assert view["budget_share"] == 0.5 and view["replicas_seen"] == 2
        assert stopped - 0.1 <= view["lost_since"] <= stopped + SYNC_BOUND_S
        assert r.health["binance"].budget.capacity == full // 2
        row = next(p for p in r.provider_status() if p["name"] == "binance")
        assert row["rate_limit"]["budget"] == full // 2 and row["rate_limit"]["budget_full"] == full
    # each spends only its share now: 48 // 2 a minute, A's 5 through Redis included
    assert sum(fg_a.try_spend() for _ in range(60)) == 24 - 5
    assert sum(fg_b.try_spend() for _ in range(60)) == 24
    assert fg_a.remaining() == fg_b.remaining() == 0 and fg_a.capacity == 24
    # users see nothing: answers keep coming, from the local copies and the providers
    assert b.get_quote("BTC").value.price > 0
    assert a.get_quote("ETH").value.price > 0
    assert b.get_candles("SOL", "1h", 10).value
    for r in (a, b):
        assert r.metrics.totals_view()["errors"] == 0
    warnings = [rec for rec in caplog.records if rec.levelno == logging.WARNING
                and rec.name == "routing.shared"]
    assert len(warnings) == 2                             # one per replica
    assert all("unreachable" in w.getMessage() for w in warnings)

    redis_server.start()
    back = until(lambda: shared_view(a)["state"] == "connected"
                 and shared_view(b)["state"] == "connected", 3.0)
    assert back, (shared_view(a), shared_view(b))
    assert shared_view(a)["budget_share"] == 1.0
    assert a.health["binance"].budget.capacity == full
    rejoined = [rec for rec in caplog.records if "rejoined" in rec.getMessage()]
    assert len(rejoined) == 2
    # shared again: what B fetches now, A serves
    b.get_candles("XRP", "4h", 10)
    calls = upstream_total(sim)
    assert a.get_candles("XRP", "4h", 10).cached and upstream_total(sim) == calls


def test_redis_unreachable_at_start_then_joins(sim, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="routing.shared")
    port = free_port()
    url = f"redis://:s3cret-pw@127.0.0.1:{port}/0"
    env = {**os.environ, **sim.env(), "REDIS_URL": url, "REPLICA_ID": "lonely"}
    router = build_router(tmp_path / "data", env=env)
    server = None
    try:
        status = MarketService(router).system_status()
        view = status["infrastructure"]["shared_state"]
        assert view["state"] == "lost" and view["backend"] == "redis"
        assert view["url"] == f"redis://:***@127.0.0.1:{port}/0"
        assert view["lost_since"] is not None and view["budget_share"] == 1.0
        assert [r["id"] for r in status["replicas"]] == ["lonely"]
        assert router.get_quote("BTC").value.price > 0           # serves on local state
        server = PasswordRedis(tmp_path / "redis", port=port,
                               executable="/usr/bin/redis-server")
        server.argv += ["--requirepass", "s3cret-pw"]
        server.start()
        assert until(lambda: shared_view(router)["state"] == "connected", 3.0)
        assert shared_view(router)["lost_since"] is None
        text = caplog.text + str(MarketService(router).system_status())
        assert "s3cret-pw" not in text
        assert "***" in caplog.text
    finally:
        router.close()
        if server is not None:
            server.stop()


def test_redis_url_is_checked_and_redacted():
    assert redact_url("rediss://user:pw@host:6380/1") == "rediss://user:***@host:6380/1"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    with pytest.raises(ValueError, match="REDIS_URL must start with redis:// or rediss://"):
        build_router(None, env={"REDIS_URL": "http://127.0.0.1:6379"}, persist=False)


def test_status_drawer_says_how_state_is_shared():
    from ui.status_drawer import shared_state_line

    assert "this process only" in shared_state_line({"backend": "local"}, [])
    up = shared_state_line({"backend": "redis", "state": "connected",
                            "url": "redis://:***@db:6379/0"},
                           [{"alive": True}, {"alive": True}, {"alive": False}])
    assert "redis://:***@db:6379/0: 2 replicas alive" in up
    lost = shared_state_line({"backend": "redis", "state": "lost", "url": "redis://db:6379/0",
                              "lost_since": 0.0 + 3 * 3600 + 120, "budget_share": 1 / 3}, [])
    assert "unreachable since 03:02:00 UTC: local state, each provider budget at 33%" in lost


def test_local_budget_reports_its_refill_from_what_was_spent():
    """The local budget's wait is read from its spend ledger: a spent budget says when the
    oldest spend leaves the window (the bucket's own `waiting` knows only its last refusal)."""
    from providers.base import RateLimit
    from routing.health import ProviderBudget

    budget = ProviderBudget(RateLimit(10, 60.0))          # 80 %: 8 per minute
    assert budget.capacity == 8 and budget.wait_s() == 0.0
    assert all(budget.try_spend() for _ in range(7))
    assert budget.remaining() == 1 and budget.wait_s() == 0.0
    assert budget.try_spend()
    assert budget.remaining() == 0
    assert 59 < budget.wait_s() <= 60                     # spent, before any refusal
    assert not budget.try_spend() and 59 < budget.wait_s() <= 60
    share = ProviderBudget(RateLimit(10, 60.0), capacity=3)
    assert share.capacity == 3 and sum(share.try_spend() for _ in range(5)) == 3


def test_local_backend_without_redis_url(sim, tmp_path):
    env = {**os.environ, **sim.env(), "REPLICA_ID": "solo"}
    env.pop("REDIS_URL", None)
    router = build_router(tmp_path / "data", env=env)
    try:
        status = MarketService(router).system_status()
        assert status["infrastructure"]["shared_state"] == {
            **status["infrastructure"]["shared_state"], "backend": "local", "state": "local",
            "url": None, "replica_id": "solo", "lost_since": None, "replicas_seen": 1,
            "budget_share": 1.0}
        assert [r["id"] for r in status["replicas"]] == ["solo"]
        assert status["infrastructure"]["cache_backend"] == "sqlite"
    finally:
        router.close()




def test_lock_left_by_a_dead_replica_delays_but_never_fails(fleet, sim, redis_server):
    """A replica killed mid-fetch leaves its single-flight lock behind: another replica waits
    a moment for the answer that will never come, then fetches itself."""
    import redis

    from routing.shared import PREFIX

    b = fleet("B", redis_server.url, providers="binance")
    dead = redis.Redis.from_url(redis_server.url)
    assert dead.set(f"{PREFIX}flight:candles:BTC:1h", "killed", px=5000, nx=True)
    assert b.state.lock("candles:BTC:1h", 5.0) is None          # the key B's fetch takes
    answer = b.get_candles("BTC", "1h", 20)
    assert len(answer.value) == 20 and not answer.cached and not answer.stale
    assert sim.stats()["binance"]["requests"] == 1
    assert dead.get(f"{PREFIX}flight:candles:BTC:1h") == b"killed"   # left alone, not stolen
    dead.close()


def test_api_keys_never_reach_redis(fleet, sim, redis_server, caplog, monkeypatch):
    """Keys stay out of the shared store as they stay out of the SQLite files: requests-cache's
    Redis backend keys and stores responses with the same redaction."""
    import redis

    secrets = {"COINGECKO_API_KEY": "cg-SECRET-1111", "COINCAP_API_KEY": "cc-SECRET-2222",
               "CRYPTOCOMPARE_API_KEY": "cr-SECRET-3333"}
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    a = fleet("A", redis_server.url, providers="coingecko,coincap,cryptocompare")
    with caplog.at_level(logging.DEBUG):
        for t in ("BTC", "ETH", "SOL"):
            a.get_quote(t)
        a.get_top_coins(10)
        for coin in ("BTC", "ETH", "SOL", "XRP", "ADA", "DOGE"):
            a.get_candles(coin, "4h", 10)
    used = {p["name"] for p in a.provider_status() if p.get("upstream_calls")}
    assert "coingecko" in used and len(used) >= 2, used     # keyed calls went out
    assert set(sim.header_values("coingecko", "x-cg-demo-api-key")) == {"cg-SECRET-1111"}
    a.state.sync_once()                                  # metrics and heartbeat pushed too
    client = redis.Redis.from_url(redis_server.url)
    keys = client.keys("*")
    assert any(k.startswith(b"cryptohub:http:") for k in keys)   # the HTTP cache is there
    blob = b""
    for k in keys:
        kind = client.type(k)
        blob += k
        if kind == b"string":
            blob += client.get(k)
        elif kind == b"hash":
            blob += b"".join(f + v for f, v in client.hgetall(k).items())
        elif kind == b"list":
            blob += b"".join(client.lrange(k, 0, -1))
        elif kind == b"zset":
            blob += b"".join(m for m, _ in client.zrange(k, 0, -1, withscores=True))
    client.close()
    for v in secrets.values():
        assert v.encode() not in blob
        assert v not in caplog.text
