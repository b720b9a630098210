"""Three `python app.py` processes on one Redis, over real HTTP, against the session simulator
at its real limits: one set of limits for the fleet, and Redis trouble that is not an outage.

The fleet is started once for the module (three processes cost time) and the tests run in file
order, each leaving it usable for the next: the cooldown test waits its cooldown out, the Redis
tests bring Redis back, the budget test spends CoinGecko's minute, and the kill -9 test comes
last.

The enabled providers are narrowed to CoinGecko, Coinbase and CoinPaprika so that each test can
aim at one provider: among them only CoinGecko serves 30m and 4h candles (limit 30 calls per
60 s, so the app's budget is 24), and it answers a rate limit with 429 and `retry-after`.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bench.workload import top_tickers
from tests.conftest import launch_app, running_redis

PROVIDERS = "coingecko,coinbase,coinpaprika"
IDS = ("a", "b", "c")
COINS = top_tickers(50)
# Coins Coinbase lists too: Coinbase (no resting interval, no 60 s window) can always add a
# vote, so the loads below never depend on CoinGecko's or CoinPaprika's minute.
BOTH = ["BTC", "ETH", "XRP", "SOL", "DOGE", "ADA", "LINK", "XLM", "SUI", "BCH", "AVAX", "LTC"]
GECKO_CAPACITY = 24                 # floor(30 calls per 60 s x the 0.8 safety margin)
PROPAGATION_S = 1.0                 # the bound for cooldowns and for falling back
SAFETY_S = 60.0                     # a generous cap on waits for things with no fixed bound


@pytest.fixture(scope="module")
def fleet_redis(tmp_path_factory):
    yield from running_redis(tmp_path_factory, "fleet-redis")


@pytest.fixture(scope="module")
def fleet(sim_server, fleet_redis, tmp_path_factory):
    """Replicas a, b, c: each its own DATA_DIR and port, all on one REDIS_URL. Started side by
    side; every one stopped at the end."""
    sim_server.reset()

    def start(replica_id: str):
        root = tmp_path_factory.mktemp(f"replica-{replica_id}")
        return launch_app(sim_server, root, timeout=120.0, extra_env={
            "REDIS_URL": fleet_redis.url, "REPLICA_ID": replica_id, "PROVIDERS": PROVIDERS})

    with ThreadPoolExecutor(len(IDS)) as pool:
        futures = [pool.submit(start, rid) for rid in IDS]
    apps = []
    try:
        for f in futures:
            apps.append(f.result())
        yield dict(zip(IDS, apps))
    finally:
        for f in futures:
            if f.exception() is None:
                f.result().stop()


# -- helpers --------------------------------------------------------------------------------------

def status(app) -> dict:
    r = requests.get(f"{app.url}/api/system/status", timeout=15)
    r.raise_for_status()
    return r.json()


def shared(st: dict) -> dict:
    view = (st.get("infrastructure") or {}).get("shared_state")
    assert view is not None, "no infrastructure.shared_state in /api/system/status"
    return view


def provider(st: dict, name: str) -> dict:
    return next(p for p in st["providers_detailed"] if p["name"] == name)


def price(app, symbol: str) -> requests.Response:
    return requests.get(f"{app.url}/api/market/price", params={"symbol": symbol}, timeout=20)


def candles(app, symbol: str, interval: str) -> requests.Response:
    return requests.get(f"{app.url}/api/market/ohlc",
                        params={"symbol": symbol, "timeframe": interval, "limit": 10}, timeout=20)


def sim_counts(sim, name: str | None = None) -> dict:
    stats = sim.stats()
    if name:
        return {"requests": stats[name]["requests"], "rate_limited": stats[name]["rate_limited"]}
    return {"requests": sum(s["requests"] for s in stats.values()),
            "rate_limited": sum(s["rate_limited"] for s in stats.values())}


def settled_sim_requests(sim, quiet_s: float = 0.5) -> int:
    """The simulator's request total once nothing has arrived for `quiet_s` (background
    confirmations and refreshes of an answer just given are over)."""
    deadline = time.monotonic() + 10
    last = sim_counts(sim)["requests"]
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = sim_counts(sim)["requests"]
        if now == last:
            return now
        last = now
    return last


def load(apps: list, symbols: list[str], rate: float, seconds: float,
         during: tuple[float, callable] | None = None) -> list[tuple[int, dict | str]]:
    """Single prices at `rate`/s for `seconds`, request i to apps[i % len(apps)], from a few
    threads; `during` = (after_s, action) runs the action that far into the load. Returns
    (HTTP status, body) per request."""
    n = int(rate * seconds)
    start = time.monotonic() + 0.1
    results: list = [None] * n

    def one(i: int) -> None:
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        try:
            r = price(apps[i % len(apps)], symbols[i % len(symbols)])
            results[i] = (r.status_code, r.json() if r.headers.get(
                "content-type", "").startswith("application/json") else r.text[:200])
        except requests.RequestException as exc:
            results[i] = (0, f"{type(exc).__name__}: {exc}")

    timer = None
    if during:
        timer = threading.Timer(max(0.0, start + during[0] - time.monotonic()), during[1])
        timer.start()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))
    if timer:
        timer.join()
    return results


def errors(results) -> list:
    return [r for r in results if r[0] != 200]


def wait_for(check, what: str, timeout_s: float = SAFETY_S, every_s: float = 0.2):
    """Poll `check()` until it returns a truthy value (returned) or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (requests.RequestException, AssertionError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every_s)
    pytest.fail(f"{what}: not seen within {timeout_s:g} s (last: {last!r})")


# -- the tests, in order --------------------------------------------------------------------------

def test_every_replica_is_on_redis(fleet, fleet_redis):
    for rid, app in fleet.items():
        view = shared(status(app))
        assert view["backend"] == "redis" and view["state"] == "connected", view
        assert view["replica_id"] == rid
        assert str(fleet_redis.port) in view["url"]
    st = wait_for(lambda: (lambda s: s if sum(r["alive"] for r in s["replicas"]) == 3 else None)(
        status(fleet["a"])), "three live replicas in replica a's list", timeout_s=30)
    assert sorted(r["id"] for r in st["replicas"] if r["alive"]) == list(IDS)
    assert shared(st)["replicas_seen"] == 3 and shared(st)["budget_share"] == 1.0


def test_a_price_fetched_by_one_replica_is_served_by_another(fleet, sim_server):
    sim_server.reset()
    coin = "LTC"
    first = price(fleet["a"], coin)
    assert first.status_code == 200, first.text
    assert first.json()["cached"] is False
    before = settled_sim_requests(sim_server)
    second = price(fleet["b"], coin)
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["cached"] is True, body
    assert (body["price"], body["source"], body["timestamp"]) == (
        first.json()["price"], first.json()["source"], first.json()["timestamp"])
    assert sim_counts(sim_server)["requests"] == before   # b asked no provider


def test_candles_fetched_by_one_replica_are_served_by_another(fleet, sim_server):
    sim_server.reset()
    first = candles(fleet["b"], "DOT", "1h")
    assert first.status_code == 200, first.text
    before = settled_sim_requests(sim_server)
    second = candles(fleet["c"], "DOT", "1h")
    assert second.status_code == 200, second.text
    assert second.json()["cached"] is True
    assert second.json()["ohlc"] == first.json()["ohlc"]
    assert sim_counts(sim_server)["requests"] == before


def test_a_cooldown_set_by_one_replica_is_honoured_by_the_others(fleet, sim_server):
    """CoinGecko answers replica a with 429 and retry-after: 8; within a second b and c show it
    cooling down, and asking them for CoinGecko-only candles sends it nothing."""
    sim_server.reset()
    sim_server.set_fault("coingecko", "rate_limit", retry_after=8)
    try:
        r = candles(fleet["a"], COINS[0], "4h")
        told = time.monotonic()
        assert r.status_code == 503, r.text          # CoinGecko was the only one with 4h
        assert sim_counts(sim_server, "coingecko") == {"requests": 1, "rate_limited": 1}
        while True:
            asked = time.monotonic()
            views = {rid: provider(status(fleet[rid]), "coingecko") for rid in ("b", "c")}
            if all(v["status"] == "rate_limited" for v in views.values()):
                break
            assert asked - told <= PROPAGATION_S, f"not cooling down on b and c: {views}"
            time.sleep(0.1)
        for v in views.values():                      # the provider's deadline, not a default
            assert v["cached_until"] == pytest.approx(time.time() + 8, abs=3), v
        for rid, coin in (("b", COINS[1]), ("c", COINS[2])):
            r = candles(fleet[rid], coin, "4h")
            assert r.status_code == 503 and "Retry-After" in r.headers, r.text
        assert sim_counts(sim_server, "coingecko")["requests"] == 1
    finally:
        sim_server.set_fault("coingecko", None)
    wait_for(lambda: all(provider(status(app), "coingecko")["status"] != "rate_limited"
                         for app in fleet.values()), "the CoinGecko cooldown over everywhere",
             timeout_s=20)


def test_redis_stopped_mid_load_is_no_outage(fleet, fleet_redis, sim_server):
    """Redis stopped 2 s into 6 s of single prices: every answer 200, every replica on local
    state within about a second, spending a third of each budget, no rate-limit answer."""
    symbols = BOTH[:8]
    # every replica answers every coin once first (24 = 3 x 8 requests), as replicas that were
    # serving have; while Redis is away each serves its own copies while it refreshes them
    load(list(fleet.values()), symbols, rate=8, seconds=3)
    sim_server.reset()
    stopped = {}

    def stop_redis() -> None:
        stopped["at"] = time.time()
        fleet_redis.stop()
    results = load(list(fleet.values()), symbols, rate=8, seconds=6, during=(2.0, stop_redis))
    assert errors(results) == [], errors(results)[:5]
    assert sim_counts(sim_server)["rate_limited"] == 0
    for rid, app in fleet.items():
        view = shared(status(app))
        assert view["state"] == "lost", (rid, view)
        assert stopped["at"] - 0.5 <= view["lost_since"] <= stopped["at"] + PROPAGATION_S, \
            (rid, view)
        assert view["budget_share"] == pytest.approx(1 / 3, abs=0.01), view
        assert view["replicas_seen"] == 3, view
        st = status(app)
        for name, full in (("coingecko", GECKO_CAPACITY), ("coinbase", 8), ("coinpaprika", 8)):
            budget = provider(st, name)["budget"]
            assert (budget["budget_full"], budget["budget"]) == (full, full // 3), (rid, budget)


def test_redis_back_on_the_same_port_replicas_rejoin(fleet, fleet_redis):
    if fleet_redis.alive():
        fleet_redis.stop()
        wait_for(lambda: all(shared(status(app))["state"] == "lost" for app in fleet.values()),
                 "every replica on local state")
    fleet_redis.start()
    for rid, app in fleet.items():
        view = wait_for(lambda: (lambda v: v if v["state"] == "connected" else None)(
            shared(status(app))), f"replica {rid} back on Redis")
        assert view["lost_since"] is None and view["budget_share"] == 1.0, view
    st = wait_for(lambda: (lambda s: s if sorted(r["id"] for r in s["replicas"] if r["alive"])
                           == list(IDS) else None)(status(fleet["b"])),
                  "all three replicas in the fresh Redis")
    assert shared(st)["replicas_seen"] == 3
    for app in fleet.values():
        assert price(app, "ETH").status_code == 200


def test_the_fleet_spends_one_budget(fleet, sim_server):
    """40 different CoinGecko-only candle series asked at once, spread over the three replicas:
    each replica alone would spend its own 24 (72 > the 30 CoinGecko accepts), one shared budget
    spends at most 24, so CoinGecko answers no request with a rate limit."""
    sim_server.reset()
    series = [(coin, iv) for coin in COINS[3:23] for iv in ("30m", "4h")]
    apps = [fleet[rid] for rid in IDS]
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda i: candles(apps[i % 3], *series[i]), range(len(series))))
    codes = [r.status_code for r in replies]
    assert set(codes) <= {200, 503}, [r.text for r in replies if r.status_code not in (200, 503)]
    gecko = sim_counts(sim_server, "coingecko")
    assert gecko["rate_limited"] == 0, gecko
    assert 0 < gecko["requests"] <= GECKO_CAPACITY, gecko
    assert codes.count(200) <= gecko["requests"]      # each answered series cost a call
    assert codes.count(503) >= len(series) - GECKO_CAPACITY   # the rest waited for the budget
    for app in apps:                                   # every replica sees the one budget spent
        budget = provider(status(app), "coingecko")["budget"]
        assert budget["budget"] == GECKO_CAPACITY and budget["remaining"] == 0, budget


def test_kill_9_one_replica_mid_load_the_others_keep_serving(fleet):
    """Replica c is SIGKILLed 2 s into 6 s of single prices sent to a and b: every answer 200,
    and c's heartbeat ages out of the replicas list (alive false)."""
    symbols = BOTH
    results = load([fleet["a"], fleet["b"]], symbols, rate=8, seconds=6,
                   during=(2.0, fleet["c"].process.kill))
    fleet["c"].process.wait(timeout=10)
    assert errors(results) == [], errors(results)[:5]

    def c_dead():
        rows = {r["id"]: r for r in status(fleet["a"])["replicas"]}
        return rows if "c" in rows and rows["c"]["alive"] is False else None
    rows = wait_for(c_dead, "replica c aged out of replica a's list")
    assert rows["a"]["alive"] and rows["b"]["alive"]
    assert rows["c"]["age_s"] > rows["a"]["age_s"]
