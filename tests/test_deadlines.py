"""Never late, never down: every user call ends by its deadline whatever the providers do, a
slow pick is hedged, and answers flow again once a fault clears. In process over real HTTP
against the simulator (a short 2 s deadline keeps it quick), plus the app over REST.

The wall-time checks bound a correctness promise (no call outlives its deadline), with slack
for a loaded machine; they are not speed targets (those live in bench/)."""
from __future__ import annotations

import os
import threading
import time

import pytest
import requests

from providers.coins import COINS
from routing import NoProviderAvailable, build_router
from tests.clock import SteppedClock

NINE = ["binance", "coinbase", "kraken", "okx", "kucoin", "bybit", "coinpaprika",
        "cryptocompare", "coingecko"]
FIVE = NINE[:5]                     # five of the nine hanging/failing: the healthy four remain
DEADLINE_S = 2.0
SLACK_S = 1.5                       # thread start-up and a loaded CI machine, never a 2nd deadline
HANG_S = 5.0                        # the simulator holds a "timeout" answer this long
FAULTS = {                          # fault -> its parameters
    "error500": {}, "timeout": {"seconds": HANG_S}, "malformed": {}, "html": {},
    "ban": {"retry_after": 3}, "rate_limit": {"retry_after": 3}, "down": {}, "skew": {"pct": 5},
}


@pytest.fixture
def make_router(sim):
    made = []

    def make(clock=None, providers: list[str] = NINE):
        env = {**os.environ, **sim.env(), "PROVIDERS": ",".join(providers),
               "ROUTER_DEADLINE_S": str(DEADLINE_S)}
        router = build_router(env=env, persist=False, clock=clock or time.time)
        made.append(router)
        return router

    yield make
    for r in made:
        r.close()


def timed(call):
    """(result or the NoProviderAvailable raised, wall seconds)."""
    start = time.monotonic()
    try:
        result = call()
    except NoProviderAvailable as exc:
        result = exc
    return result, time.monotonic() - start


def quote_tickers(router, n: int) -> list[str]:
    known = router.known_symbols()
    return [c.ticker for c in COINS if c.ticker in known][:n]


def test_deadline_comes_from_the_environment(make_router):
    assert make_router().deadline_s == DEADLINE_S


@pytest.mark.parametrize("n", [1, 2, 10, 50])
def test_a_batch_with_every_provider_hanging_ends_by_one_deadline(make_router, sim, n):
    """One deadline per user call, however many coins it asks for."""
    router = make_router()
    tickers = quote_tickers(router, n)
    assert len(tickers) == n
    for name in NINE:
        sim.set_fault(name, "timeout", seconds=HANG_S)
    result, took = timed(lambda: router.get_quotes(tickers))
    assert isinstance(result, NoProviderAvailable), result
    assert took <= DEADLINE_S + SLACK_S, f"{n} coins took {took:.1f} s"
    assert result.retry_after > 0
    assert any("deadline" in why for why in result.reasons.values()), result.reasons


def test_a_slow_pick_is_hedged_and_counted(make_router, sim):
    """Both candle venues known fast (p95 of a few ms, so the hedge delay is its 0.3 s floor);
    then both take 1.5 s: the pick is joined by the other after 0.3 s and the first answer is
    served, one hedge counted in the totals and for the venue asked second."""
    clock = SteppedClock()
    router = make_router(clock, providers=["binance", "okx"])
    for _ in range(4):                        # the rotation alternates: both get latencies
        router.get_candles("BTC", "1m", 10)
        clock.advance(11)
        router.session.cache.clear()
    assert router.metrics.totals_view()["hedges"] == 0
    for name in ("binance", "okx"):
        sim.set_latency(name, 1.5)
    before = {n: sim.stats(n)["requests"] for n in ("binance", "okx")}
    ok_before = {n: router.metrics.provider_view(n)["successes"] for n in before}
    answer = router.get_candles("BTC", "1m", 10)
    assert not answer.cached and not answer.stale and len(answer.value) == 10
    for _ in range(100):                      # the other, later answer lands too (bounded poll)
        if all(router.metrics.provider_view(n)["successes"] == ok_before[n] + 1 for n in before):
            break
        time.sleep(0.05)
    assert {n: sim.stats(n)["requests"] - before[n] for n in before} == {"binance": 1, "okx": 1}
    # the loser's late answer is booked as a success (and stored), not thrown away
    assert {n: router.metrics.provider_view(n)["successes"] - ok_before[n] for n in before} == \
        {"binance": 1, "okx": 1}
    assert router.metrics.totals_view()["hedges"] == 1
    per = {p["name"]: p["hedges"] for p in router.provider_status() if p["enabled"]}
    assert sorted(per.values()) == [0, 1] and per[answer.source] in (0, 1)


def _scope(name: str) -> list[str]:
    return NINE if name == "all" else FIVE


@pytest.mark.parametrize("scope", ["all", "five"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_matrix(make_router, sim, fault, scope):
    """Every fault on every quote venue, and on five of nine: no crash, every call within its
    deadline, a valid or honestly stale answer or NoProviderAvailable with a Retry-After; and
    answers flow again within 20 s once the fault clears."""
    clock = SteppedClock()
    router = make_router(clock)
    warm = router.get_quote("BTC")
    assert not warm.stale
    assert router.join_fetches(timeout=30)     # no warm-up snapshot may land after the jump
    faulty = _scope(scope)
    for name in faulty:
        sim.set_fault(name, fault, **FAULTS[fault])
    clock.advance(61)                          # past the stale window: each call must fetch
    router.session.cache.clear()

    btc, took = timed(lambda: router.get_quote("BTC"))
    assert took <= DEADLINE_S + SLACK_S, f"{fault} on {scope}: {took:.1f} s"
    eth, took = timed(lambda: router.get_quote("ETH"))
    assert took <= DEADLINE_S + SLACK_S, f"{fault} on {scope}: {took:.1f} s"
    if scope == "five" or fault == "skew":
        # four healthy venues remain (or every venue agrees on its skew): fresh answers
        for a in (btc, eth):
            assert not isinstance(a, NoProviderAvailable), a
            assert not a.stale and a.age_s < 5
            if scope == "five":
                assert a.source not in faulty or fault in ("skew",)
    else:
        assert not isinstance(btc, NoProviderAvailable) and btc.stale
        assert btc.value == warm.value and btc.age_s == pytest.approx(61, abs=0.01)
        assert isinstance(eth, NoProviderAvailable) and eth.retry_after > 0

    sim.clear_faults()
    for name in faulty:                       # a ban outlives its fault on the venue's side
        sim.server(name).reset()
    for waited in range(0, 21):
        router.session.cache.clear()
        a, took = timed(lambda: router.get_quote("ETH"))
        assert took <= DEADLINE_S + SLACK_S
        if not isinstance(a, NoProviderAvailable) and not a.stale and a.age_s < 5:
            break
        clock.advance(1)
    else:
        pytest.fail(f"no fresh answer 20 s after {fault} on {scope} cleared")
    # breakers open 15 s, cooldowns 3 s: answers flow again once they have passed
    assert waited <= 16, waited


# -- over the app's REST -------------------------------------------------------------------------

CALLS = 48


@pytest.fixture
def slow_app(sim_server, tmp_path, app_launcher):
    server = app_launcher(sim_server, tmp_path, extra_env={"ROUTER_DEADLINE_S": str(DEADLINE_S)})
    yield server
    server.stop()


def test_rest_answers_503_by_the_deadline_and_health_stays_up(slow_app, sim):
    """Every provider hanging: 48 batch calls at once (more than the 40 worker threads that
    serve sync routes) end in 503 + Retry-After by the deadline, and /api/health answers while
    they are still in flight."""
    for name in sim.servers:
        sim.set_fault(name, "timeout", seconds=HANG_S)
    results: list[tuple[int, str | None, float]] = []
    done = threading.Event()
    lock = threading.Lock()

    def ask(i: int) -> None:
        start = time.monotonic()
        resp = requests.get(f"{slow_app.url}/api/market/prices",
                            params={"symbols": "BTC,ETH,SOL" if i % 2 else "XRP,ADA"},
                            timeout=30)
        with lock:
            results.append((resp.status_code, resp.headers.get("Retry-After"),
                            time.monotonic() - start))
            if len(results) == CALLS:
                done.set()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(CALLS)]
    for t in threads:
        t.start()
    time.sleep(0.3)                            # let them reach the router
    health = requests.get(f"{slow_app.url}/api/health", timeout=30)
    answered_while_busy = not done.is_set()
    for t in threads:
        t.join()
    assert health.status_code == 200 and answered_while_busy
    assert len(results) == CALLS
    for status, retry_after, took in results:
        assert status == 503 and retry_after is not None and int(retry_after) >= 1
    # queued behind the 40 threads, the last ones may wait for a first wave to end: two
    # deadlines at most, never one per coin
    assert max(took for *_, took in results) <= 2 * DEADLINE_S + SLACK_S
