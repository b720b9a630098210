"""The router's non-quote serving path (`_serve`: candles, top coins, Fear & Greed, news) in
detail: the fleet-wide single flight, one try on one provider, hedging on the router's own
monotonic clock, response times, Retry-After, the HTTP cache lifetime, the status rows, the state
seam, and the fetch and refresh pools (hung work never holds up a caller or close()).
In-process venues as in test_routing_units.py; another replica is a scripted shared state
(`Fleet`), and the `time` the router reads is a stand-in (`RouterTime`) where a test needs exact
instants. Part of the fast unit tests of the mutation test set (setup.cfg [mutmut])."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

import routing.health as health_module
import routing.router as router_module
from providers.base import (KIND_CANDLES, KIND_FEAR_GREED, KIND_NEWS, KIND_QUOTE, KIND_QUOTES,
                            KIND_TOP, Candle, FearGreed, UpstreamError)
from routing import NoProviderAvailable
from routing.answers import AnswerStore, encode
from routing.metrics import Metrics
from routing.persistence import Persistence
from routing.quotebook import QuoteBook
from routing.router import Router
from routing.session import build_session
from routing.shared import LocalState, SharedBudget
from tests.clock import SteppedClock
from tests.fake_upstream import reply
from tests.test_routing_units import T0, Venue, only

FG = "fear_greed"            # the Fear & Greed answer's key (and its kind)


class Fleet(LocalState):
    """Shared state as one replica sees it, without Redis: the answers every replica wrote (a
    dict), and the fleet-wide single-flight lock answered from a script: each step is a token
    (granted), None (another replica holds it) or a callable run at that moment (the other
    replica's answer landing, time passing) that returns one. The last step repeats. Every round
    trip is recorded."""

    def __init__(self, *steps):
        super().__init__("test-replica")
        self.steps = list(steps) or [True]
        self.answers: dict[str, tuple] = {}
        self.answer_gets: list[str] = []
        self.locks: list[tuple[str, float]] = []
        self.unlocks: list = []
        self.budget_for = None

    def answer_get(self, key):
        self.answer_gets.append(key)
        return self.answers.get(key)

    def answer_put(self, key, source, fetched_at, value):
        self.answers[key] = (source, fetched_at, value)

    def lock(self, key, ttl_s):
        self.locks.append((key, ttl_s))
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        return step() if callable(step) else step

    def unlock(self, token):
        self.unlocks.append(token)

    def budget(self, name, rate_limit):
        if self.budget_for is not None:
            return self.budget_for(name, rate_limit)
        return super().budget(name, rate_limit)


class RouterTime:
    """The `time` module as routing.router sees it: perf_counter moves 0.25 s per read (so every
    response time is exactly 250 ms), monotonic stands still until `move` (so a hedge happens
    exactly when a test says), everything else is the real module."""

    def __init__(self):
        self._mu = threading.Lock()
        self.mono = 1000.0
        self.perf = 0.0
        self._pending = 0.0

    def perf_counter(self) -> float:
        with self._mu:
            self.perf += 0.25
            return self.perf

    def monotonic(self) -> float:
        with self._mu:
            value = self.mono
            self.mono += self._pending
            self._pending = 0.0
            return value

    def move(self, seconds: float) -> None:
        """Time moves on by `seconds` right after the next read: a read already made (a hedge
        time just computed) keeps the old instant, every later one sees the new."""
        with self._mu:
            self._pending += seconds

    def __getattr__(self, name):
        return getattr(time, name)


@pytest.fixture
def clock():
    return SteppedClock(T0)


@pytest.fixture
def rt(monkeypatch):
    fake = RouterTime()
    monkeypatch.setattr(router_module, "time", fake)
    return fake


@pytest.fixture
def make(clock):
    made = []

    def build(*venues: Venue, fleet: Fleet | None = None, session=None, **kw) -> Router:
        kw.setdefault("deadline_s", 2.0)      # a broken loop exit then costs 2 s, not 10
        persistence = Persistence(None)
        router = Router(venues, session or build_session(persistence, prune_every_s=3600),
                        Metrics(persistence, clock=clock),
                        AnswerStore(persistence, clock=clock, shared=fleet),
                        book=QuoteBook(clock=clock), clock=clock, state=fleet, **kw)
        made.append(router)
        return router

    yield build
    for r in made:
        r.close()


def fear(source: str = "other", value: int = 77) -> FearGreed:
    return FearGreed(value, "Greed", 1_699_999_000, source, 3600)


def until(cond, bound_s: float = 10.0) -> bool:
    """Wait for another thread to reach a state (a safety bound, never a timing assert)."""
    end = time.monotonic() + bound_s
    while not cond():
        if time.monotonic() > end:
            return False
        time.sleep(0.005)
    return True


# -- a fresh answer and the key lock ------------------------------------------------------------

def test_a_fresh_answer_is_served_at_once_while_the_same_key_is_being_fetched(make, clock):
    v = only(KIND_FEAR_GREED)
    router = make(v, deadline_s=0.2)
    router.get_fear_greed()
    clock.advance(10)
    lock = router._key_lock(FG)
    lock.acquire()                          # another call is fetching it right now
    try:
        ans = router.get_fear_greed()
    finally:
        lock.release()
    assert ans.cached and not ans.stale and ans.age_s == 10.0 and ans.source == "solo"
    assert ans.value.value == 42 and len(v.calls) == 1


def test_a_fresh_hit_costs_no_round_trip_to_the_fleet(make):
    fleet = Fleet()
    v = only(KIND_FEAR_GREED)
    router = make(v, fleet=fleet)
    router.get_fear_greed()
    asked = len(fleet.answer_gets)
    assert asked >= 1 and fleet.answers[FG][0] == "solo"
    hit = router.get_fear_greed()
    assert hit.cached and len(fleet.answer_gets) == asked


def test_an_answer_that_landed_while_waiting_for_the_key_is_served_without_the_fleet_lock(make):
    fleet = Fleet("token")
    v = only(KIND_FEAR_GREED)
    router = make(v, fleet=fleet, deadline_s=10.0)
    got = {}
    lock = router._key_lock(FG)
    lock.acquire()                          # this replica's other call is fetching it
    waiter = threading.Thread(target=lambda: got.update(ans=router.get_fear_greed()))
    try:
        waiter.start()
        assert until(lambda: fleet.answer_gets == [FG])    # it missed and waits for the key
        router.answers.put(FG, fear("other"), "other")      # the other call's answer
    finally:
        lock.release()
    waiter.join(timeout=10)
    ans = got["ans"]
    assert ans.source == "other" and ans.value.value == 77
    assert ans.cached and not ans.stale and ans.age_s == 0.0
    assert v.calls == [] and fleet.locks == [] and fleet.answer_gets == [FG]
    assert fleet.unlocks == [None]
    t = router.metrics.totals_view()
    assert t["requests"] == 1 and t["cache_hits"] == 1 and t["stale_answers"] == 0


# -- the fleet-wide single flight ---------------------------------------------------------------

def test_an_answer_landing_as_the_fleet_lock_is_taken_is_served_and_the_lock_given_back(make):
    v = only(KIND_FEAR_GREED)
    router = None

    def lands():
        router.answers.put(FG, fear("other"), "other")
        return "token"

    fleet = Fleet(lands)
    router = make(v, fleet=fleet)
    ans = router.get_fear_greed()
    assert ans.source == "other" and ans.cached and not ans.stale and ans.value.value == 77
    assert v.calls == []
    assert fleet.locks == [(FG, 2.0)]                    # the deadline caps the lock's life
    assert fleet.unlocks == ["token", None]
    assert fleet.answer_gets == [FG, FG]                  # the landed one costs no round trip


def test_another_replicas_answer_is_awaited_while_it_holds_the_lock(make, clock):
    v = only(KIND_FEAR_GREED)

    def held_elsewhere():
        fleet.answers[FG] = ("other", clock(), encode(fear("other")))   # its answer lands
        return None

    fleet = Fleet(held_elsewhere, None)
    router = make(v, fleet=fleet, deadline_s=10.0)
    ans = router.get_fear_greed()
    assert ans.source == "other" and ans.cached and not ans.stale and ans.value.value == 77
    assert v.calls == []
    assert fleet.locks == [(FG, 5.0)]                     # FLIGHT_TTL_S under a 10 s deadline
    t = router.metrics.totals_view()
    assert t["requests"] == 1 and t["cache_hits"] == 1


def test_when_the_other_replica_stays_silent_we_fetch_too_after_the_wait(make, monkeypatch):
    monkeypatch.setattr(router_module, "REFRESH_WAIT_S", 0.1)
    fleet = Fleet(None)                                   # its holder is gone
    v = only(KIND_FEAR_GREED)
    router = make(v, fleet=fleet)
    ans = router.get_fear_greed()
    assert ans.source == "solo" and not ans.cached and len(v.calls) == 1
    assert len(fleet.locks) >= 2 and fleet.unlocks == [True]


def test_a_deadline_passing_while_another_replica_holds_the_lock_names_it(make, clock):
    def held_elsewhere():
        clock.advance(10)                                 # the whole deadline goes by
        return None

    fleet = Fleet(held_elsewhere)
    v = only(KIND_FEAR_GREED)
    router = make(v, fleet=fleet, deadline_s=10.0)
    with pytest.raises(NoProviderAvailable) as e:
        router.get_fear_greed()
    assert e.value.what == "fear & greed"
    assert e.value.reasons == {"router": "another replica's fetch of fear & greed is still "
                                         "in flight"}
    assert e.value.retry_after == 5.0 and v.calls == [] and fleet.locks == [(FG, 5.0)]


def test_a_lock_freed_just_before_the_deadline_is_still_taken(make, clock):
    def held_elsewhere():
        clock.advance(9.5)                                # half a second left
        return None

    fleet = Fleet(held_elsewhere, "token")
    v = only(KIND_FEAR_GREED)
    router = make(v, fleet=fleet, deadline_s=10.0)
    ans = router.get_fear_greed()
    assert ans.source == "solo" and not ans.cached and len(v.calls) == 1
    assert fleet.locks == [(FG, 5.0), (FG, 5.0)] and fleet.unlocks == ["token"]


def test_a_failure_while_taking_the_flight_unlocks_nothing_and_frees_the_key(make):
    def lost():
        raise RuntimeError("shared store gone")

    fleet = Fleet(lost)
    router = make(only(KIND_FEAR_GREED), fleet=fleet)
    with pytest.raises(RuntimeError):
        router.get_fear_greed()
    assert fleet.unlocks == [None]
    lock = router._key_lock(FG)
    assert lock.acquire(blocking=False)
    lock.release()


# -- what one fetch costs and how long the HTTP cache keeps it ----------------------------------

class RecordingSession:
    """Stands in for the routed session: answers every GET with candles, records what it was
    asked (the HTTP cache lifetime in particular)."""

    def __init__(self):
        self.calls: list[dict] = []

    def get(self, url, *, params=None, headers=None, timeout=None, expire_after=None):
        self.calls.append({"url": url, "params": dict(params or {}), "timeout": timeout,
                           "expire_after": expire_after})
        return reply([[1000 * i, 1.0, 2.0, 0.5, float(i), 3.0] for i in range(300)])

    def close(self):
        pass


class CandleFeed(Venue):
    def fetch_candles(self, ticker, interval, limit):
        rows = self.get_json(f"/candles/{ticker}", {"interval": interval, "limit": limit},
                             kind=KIND_CANDLES)
        return [Candle(*row) for row in rows]


def test_the_http_cache_keeps_candles_as_long_as_the_router_does(make):
    session = RecordingSession()
    v = CandleFeed("feed", capabilities={KIND_CANDLES})
    router = make(v, session=session)
    ans = router.get_candles("BTC", "1h", 10)
    assert len(ans.value) == 10 and ans.value[-1].close == 299.0
    router.get_candles("BTC", "1d", 10)
    assert [c["expire_after"] for c in session.calls] == [120.0, 600.0]
    assert session.calls[0]["url"] == "http://feed.invalid/candles/BTC"


class FromHTTPCache(Venue):
    """Answers from the HTTP cache: no upstream send, a cache hit booked instead."""

    def _call(self, *what):
        self.calls.append(what)
        self.http.on_cache_hit(self.name)


def test_an_answer_without_an_upstream_send_is_a_cache_hit(make):
    router = make(FromHTTPCache("cache", capabilities={KIND_FEAR_GREED}))
    ans = router.get_fear_greed()
    assert ans.cached and not ans.stale and ans.source == "cache"
    t = router.metrics.totals_view()
    assert t["requests"] == 1 and t["cache_hits"] == 1 and t["upstream_calls"] == 0
    assert router.metrics.provider_view("cache")["http_cache_hits"] == 1


def test_sends_of_a_failed_try_count_against_the_answer(make):
    first = only(KIND_FEAR_GREED, "first", weight=2.0)
    first.fail = UpstreamError("first", "HTTP 500")
    cache = FromHTTPCache("cache", capabilities={KIND_FEAR_GREED})
    router = make(first, cache)
    ans = router.get_fear_greed()
    assert ans.source == "cache" and not ans.cached        # `first` went upstream for it
    t = router.metrics.totals_view()
    assert t["requests"] == 1 and t["cache_hits"] == 0 and t["upstream_calls"] == 1


def test_each_kind_of_request_has_its_own_rotation(make):
    a = Venue("a", capabilities={KIND_TOP, KIND_FEAR_GREED})
    b = Venue("b", capabilities={KIND_TOP, KIND_FEAR_GREED})
    router = make(a, b)
    assert router.get_top_coins(2).source == "a"
    assert router.get_fear_greed().source == "a"           # its own first pick, not b's turn


def test_a_deadline_passing_in_a_failed_try_leaves_the_rest_untried(make, clock):
    class SlowFailure(Venue):
        def _call(self, *what):
            clock.advance(2.0)                             # the call's whole deadline
            super()._call(*what)

    first = SlowFailure("first", capabilities={KIND_FEAR_GREED}, weight=3.0)
    first.fail = UpstreamError("first", "HTTP 500")
    b, c = only(KIND_FEAR_GREED, "b"), only(KIND_FEAR_GREED, "c")
    router = make(first, b, c)
    with pytest.raises(NoProviderAvailable) as e:
        router.get_fear_greed()
    assert e.value.reasons == {"first": "HTTP 500",
                               "b": "not tried: the call's deadline passed",
                               "c": "not tried: the call's deadline passed"}
    assert b.calls == c.calls == []


# -- hedging on the router's monotonic clock ----------------------------------------------------

def test_the_pick_is_not_hedged_before_its_delay(make, rt):
    asked = threading.Event()

    class Patient(Venue):
        def _call(self, *what):
            asked.wait(0.3)                  # gives a premature hedge time to happen
            super()._call(*what)

    class Next(Venue):
        def _call(self, *what):
            asked.set()
            super()._call(*what)

    a = Patient("a", capabilities={KIND_FEAR_GREED}, weight=5.0)
    b = Next("b", capabilities={KIND_FEAR_GREED})
    router = make(a, b, deadline_s=10.0)
    ans = router.get_fear_greed()
    assert ans.source == "a" and b.calls == []
    assert router.metrics.totals_view()["hedges"] == 0


def test_the_next_venue_is_asked_once_the_pick_is_silent_for_its_p95_and_served_first(make, rt):
    release, finished = threading.Event(), threading.Event()

    class Hung(Venue):
        def _call(self, *what):
            super()._call(*what)
            rt.move(0.3)                     # silent for exactly its hedge delay
            try:
                assert release.wait(3), "never released"   # safety bound only
            finally:
                finished.set()

    a = Hung("a", capabilities={KIND_FEAR_GREED}, weight=5.0)
    b = only(KIND_FEAR_GREED, "b")
    router = make(a, b, deadline_s=30.0)
    router.metrics.upstream_call("a", 100.0, 200)          # p95 100 ms: hedged after 0.3 s
    try:
        ans = router.get_fear_greed()
        assert not finished.is_set()         # served while the pick still hangs
        assert ans.source == "b" and not ans.cached
        assert router.metrics.provider_view("b")["hedges"] == 1
    finally:
        release.set()
    assert router.join_fetches(timeout=10)


# -- response times (perf_counter moves 250 ms per read) -----------------------------------------

def test_response_times_are_booked_in_milliseconds(make, clock, rt):
    v = only(KIND_FEAR_GREED)
    router = make(v)
    router.get_fear_greed()                                 # fetched
    assert router.metrics.totals_view()["avg_response_ms"] == 250.0
    router.get_fear_greed()                                 # a cache hit
    assert router.metrics.response_ms_sum == 500.0
    clock.advance(3600)
    v.fail = UpstreamError("solo", "HTTP 500")
    assert router.get_fear_greed().stale                    # stale
    assert router.metrics.response_ms_sum == 750.0
    router.answers._items.clear()
    with pytest.raises(NoProviderAvailable):               # an error
        router.get_fear_greed()
    t = router.metrics.totals_view()
    assert router.metrics.response_ms_sum == 1000.0 and t["avg_response_ms"] == 250.0
    assert t["requests"] == 4 and t["cache_hits"] == 2 and t["errors"] == 1


# -- Retry-After ----------------------------------------------------------------------------------

def spend_all(router: Router, name: str) -> None:
    budget = router.health[name].budget
    while budget.try_spend(1):
        pass


def test_retry_after_is_the_budget_refill_when_nothing_is_blocked(make):
    v = only(KIND_TOP)
    router = make(v)
    spend_all(router, "solo")
    with pytest.raises(NoProviderAvailable) as e:
        router.get_top_coins(2)
    assert e.value.reasons["solo"].startswith("request budget spent; refills in")
    assert 50.0 < e.value.retry_after <= 60.0 and v.calls == []


def test_a_cooldown_ending_within_a_second_is_a_retry_in_one_second(make):
    v = only(KIND_TOP)
    router = make(v)
    router.health["solo"].block(0.5, "rate_limited", "429")
    with pytest.raises(NoProviderAvailable) as e:
        router.get_top_coins(2)
    assert e.value.retry_after == 1.0                       # not the 5 s of "no idea"


def test_retry_after_at_the_instant_a_cooldown_ends_is_the_budget(make, clock):
    v = only(KIND_TOP)
    router = make(v)
    router.health["solo"].block(30, "rate_limited", "429")
    spend_all(router, "solo")
    clock.advance(30)                                       # the cooldown ends right now
    assert router.health["solo"].reopens_at() == clock()
    with pytest.raises(NoProviderAvailable) as e:
        router.get_top_coins(2)
    assert 50.0 < e.value.retry_after <= 60.0


@pytest.mark.parametrize("single, batch, retry", [(30, 40, 30.0), (40, 30, 30.0)])
def test_a_quote_outage_retries_after_the_venues_that_list_the_coin(make, single, batch, retry):
    q1 = Venue("q1", capabilities={KIND_QUOTE})
    q2 = Venue("q2", capabilities={KIND_QUOTES})
    other = Venue("other", {"BTC": 50_000.0}, capabilities={KIND_QUOTES})
    candles = Venue("candles", capabilities={KIND_CANDLES})
    router = make(q1, q2, other, candles)
    router.health["q1"].block(single, "rate_limited", "429")
    router.health["q2"].block(batch, "rate_limited", "429")
    router.health["other"].block(10, "rate_limited", "429")
    router.health["candles"].block(20, "rate_limited", "429")
    with pytest.raises(NoProviderAvailable) as e:
        router.get_quote("SOL")
    assert e.value.retry_after == retry


# -- the public calls' defaults and keys --------------------------------------------------------

def test_top_coins_default_to_twenty(make):
    v = Venue("big", {f"C{i}": float(100 - i) for i in range(30)}, capabilities={KIND_TOP})
    router = make(v)
    ans = router.get_top_coins()
    assert len(ans.value) == 20 and ans.value[-1].symbol == "C19"


def test_answers_are_kept_under_their_kind(make):
    router = make(Venue("solo", capabilities={KIND_FEAR_GREED, KIND_TOP, KIND_NEWS}))
    router.get_fear_greed()
    router.get_top_coins(3)
    router.get_news(None, 2)
    assert router.answers.counts() == {FG: 1, KIND_TOP: 1, KIND_NEWS: 1}


def test_known_symbols_are_listed_once_per_kind(make):
    class Counted(Venue):
        asked = 0

        def supports(self, kind, interval=None):
            Counted.asked += 1
            return super().supports(kind, interval)

    router = make(Counted("a", {"BTC": 1.0}), Counted("b", {"ETH": 2.0}, capabilities={KIND_TOP}))
    assert router.known_symbols() == frozenset({"BTC"})
    assert router.known_symbols(KIND_TOP) == frozenset({"ETH"})
    asked = Counted.asked
    assert router.known_symbols() == frozenset({"BTC"})
    assert router.known_symbols(KIND_TOP) == frozenset({"ETH"})
    assert Counted.asked == asked


# -- status rows ----------------------------------------------------------------------------------

def test_a_disabled_providers_errors_of_the_last_hour_are_counted(make, clock):
    router = make(only(KIND_FEAR_GREED), disabled={"paid": "needs PAID_KEY"})
    router.metrics.failure("paid", "upstream", "HTTP 500", "tried the next provider")
    clock.advance(10)
    rows = {r["name"]: r for r in router.provider_status()}
    assert rows["paid"]["errors_last_hour"] == 1 and rows["solo"]["errors_last_hour"] == 0


def test_status_shows_the_full_budget_next_to_this_replicas_share(make):
    fleet = Fleet()
    lost = SimpleNamespace(connected=False, share_of=2)    # the fleet's store is lost: half each
    fleet.budget_for = lambda name, rate_limit: SharedBudget(name, rate_limit, lost)
    router = make(only(KIND_FEAR_GREED), fleet=fleet)
    row = router.provider_status()[0]
    assert row["rate_limit"]["budget"] == 40 and row["rate_limit"]["budget_full"] == 80
    assert row["rate_limit"]["remaining"] == 40


def test_status_refill_time_is_rounded_to_the_millisecond(make, monkeypatch):
    mono = {"now": 5000.0}
    monkeypatch.setattr(health_module, "time",
                        SimpleNamespace(monotonic=lambda: mono["now"], time=time.time,
                                        strftime=time.strftime, gmtime=time.gmtime))
    router = make(only(KIND_FEAR_GREED))
    spend_all(router, "solo")
    mono["now"] += 12.3456
    row = router.provider_status()[0]
    assert row["rate_limit"]["refill_s"] == 47.654 and row["rate_limit"]["remaining"] == 0
    assert row["state"] == "cooldown"


# -- one try on one provider (_attempt) -----------------------------------------------------------

def test_a_try_whose_turn_comes_at_the_deadline_is_not_sent(make, clock):
    v = only(KIND_FEAR_GREED)
    router = make(v)
    reasons: dict[str, str] = {}
    got = router._attempt(v, "fear & greed", v.fetch_fear_greed, clock(),
                          reasons, 3600.0)
    assert got == (False, None) and v.calls == []
    assert reasons == {"solo": "not tried: the call's deadline passed"}


def test_a_second_probe_of_a_half_open_breaker_is_not_sent(make, clock):
    v = only(KIND_FEAR_GREED)
    router = make(v)
    h = router.health["solo"]
    for _ in range(3):
        h.failure("HTTP 500")
    clock.advance(15)                                       # the breaker is half-open now
    assert h.claim()                                        # another call's probe is out
    reasons: dict[str, str] = {}
    got = router._attempt(v, "fear & greed", v.fetch_fear_greed,
                          clock() + 10, reasons, 3600.0)
    assert got == (False, None) and v.calls == []
    assert reasons == {"solo": "breaker half-open, probe in flight"}


def test_a_provider_without_the_coin_passes_it_to_the_next(make):
    from providers.base import UnknownSymbol
    first = Venue("first", capabilities={KIND_CANDLES}, weight=2.0)
    first.fail = UnknownSymbol("first", "BTC is not listed")
    second = Venue("second", capabilities={KIND_CANDLES})
    router = make(first, second)
    ans = router.get_candles("BTC", "1h", 5)
    assert ans.source == "second" and len(ans.value) == 5 and len(first.calls) == 1


@pytest.mark.parametrize("error, message, action, kind", [
    ("rate", "rate limited: wait", "cooldown 30 s, tried the next provider", "rate_limit"),
    ("config", "access refused: HTTP 401", "disabled for 10 min", "config"),
    ("shape", "the answer did not have the expected shape", "tried the next provider",
     "malformed"),
])
def test_each_failure_is_listed_with_what_was_done_about_it(make, clock, error, message,
                                                             action, kind):
    from providers.base import NotConfigured, RateLimited
    v = only(KIND_FEAR_GREED)
    v.fail = {"rate": RateLimited("solo", "rate limited: wait", retry_after=30.0),
              "config": NotConfigured("solo", "access refused: HTTP 401"),
              "shape": KeyError("value")}[error]
    router = make(v)
    with pytest.raises(NoProviderAvailable):
        router.get_fear_greed()
    errors = router.status_snapshot()["errors"]
    assert [(e["provider"], e["kind"], e["message"], e["action"]) for e in errors] == \
        [("solo", kind, message, action)]


def test_a_cooldown_or_refusal_keeps_the_providers_words(make, clock):
    from providers.base import Banned, NotConfigured
    banned, refused = only(KIND_FEAR_GREED, "banned"), only(KIND_TOP, "refused")
    banned.fail = Banned("banned", "IP banned: go away")
    refused.fail = NotConfigured("refused", "access refused: HTTP 401")
    router = make(banned, refused)
    with pytest.raises(NoProviderAvailable):
        router.get_fear_greed()
    with pytest.raises(NoProviderAvailable):
        router.get_top_coins(2)
    rows = {r["name"]: r for r in router.provider_status()}
    assert rows["banned"]["reason"].startswith("IP banned by Banned")
    assert rows["refused"]["reason"].startswith("Refused refused access (access refused: "
                                                "HTTP 401); trying again")
    with pytest.raises(NoProviderAvailable) as e:
        router.get_fear_greed()
    assert e.value.reasons["banned"].endswith("(IP banned: go away)")


def test_a_fetch_may_read_until_the_calls_deadline(make):
    session = RecordingSession()
    router = make(CandleFeed("feed", capabilities={KIND_CANDLES}), session=session)
    router.get_candles("BTC", "1h", 10)
    # the whole 2 s deadline is left on the router's (stepped) clock
    assert [c["timeout"] for c in session.calls] == [(2.0, 2.0)]


# -- the rotation (_order) --------------------------------------------------------------------------

def test_the_rest_follow_by_weight_and_a_hedge_takes_the_best(make):
    a = only(KIND_TOP, "a", weight=0.5)
    b = only(KIND_TOP, "b", weight=1.0)
    c = only(KIND_TOP, "c", weight=2.0)
    router = make(a, b, c)
    assert [p.name for p in router._order(KIND_TOP, [a, b, c], {})] == ["c", "b", "a"]
    assert [p.name for p in router._order(KIND_TOP, [a, b, c], {}, charge=False)] == \
        ["c", "b", "a"]


# -- set-up and the state seam --------------------------------------------------------------------

class Recorded(Fleet):
    """A Fleet that also records the gate changes it is told and whom it syncs for."""

    def __init__(self, *steps):
        super().__init__(*steps)
        self.gates: list[tuple[str, dict]] = []
        self.budgets: list[str] = []
        self.attached = None

    def gate_changed(self, name, snapshot):
        self.gates.append((name, snapshot))

    def budget(self, name, rate_limit):
        self.budgets.append(name)
        return super().budget(name, rate_limit)

    def attach(self, router):
        self.attached = router


def test_the_state_seam_gets_the_budgets_gates_and_the_router(make, clock):
    fleet = Recorded()
    v = only(KIND_FEAR_GREED)
    router = make(v, fleet=fleet)
    assert fleet.budgets == ["solo"] and fleet.attached is router
    router.health["solo"].block(30, "rate_limited", "429")
    assert [(n, s["blocked_until"]) for n, s in fleet.gates] == [("solo", T0 + 30)]


def test_a_router_built_with_defaults_has_a_local_state_and_a_book_on_its_clock(clock):
    persistence = Persistence(None)
    router = Router([Venue("alpha"), Venue("beta"), Venue("gamma")],
                    build_session(persistence, prune_every_s=3600),
                    Metrics(persistence, clock=clock), AnswerStore(persistence, clock=clock),
                    clock=clock)
    try:
        assert router.state.view()["replica_id"] == "local"
        ans = router.get_quote("BTC")
        assert ans.fetched_at == T0 and router.book.get("alpha", "ETH").fetched_at == T0
    finally:
        router.close()


def test_a_router_without_providers_refuses_every_symbol(make):
    from routing import InvalidInput
    router = make()
    with pytest.raises(InvalidInput) as e:
        router.get_quote("BTC")
    assert e.value.param == "symbol"


def test_finished_fetches_are_forgotten(make):
    router = make(only(KIND_FEAR_GREED), only(KIND_TOP, "top"))
    router.get_fear_greed()
    router.get_top_coins(2)
    assert router.join_fetches(timeout=10)
    assert until(lambda: not router._inflight, 2.0)


# -- the pools: hung fetches and refreshes never hold up a caller or close() -----------------------

def test_seven_hung_fetches_still_leave_room_for_the_one_that_answers(make, rt):
    release = threading.Event()

    class Hung(Venue):
        def _call(self, *what):
            super()._call(*what)
            rt.move(1.0)                      # silent past its hedge delay
            assert release.wait(3), "never released"       # safety bound only

    hung = [Hung(f"h{i}", capabilities={KIND_FEAR_GREED}, weight=10.0 - i) for i in range(7)]
    fast = only(KIND_FEAR_GREED, "fast", weight=0.5)
    router = make(*hung, fast, deadline_s=30.0)
    for h in hung:
        router.metrics.upstream_call(h.name, 100.0, 200)   # p95 100 ms: hedged after 0.3 s
    try:
        ans = router.get_fear_greed()
        assert ans.source == "fast" and router.metrics.totals_view()["hedges"] == 7
    finally:
        release.set()
    assert router.join_fetches(timeout=10)


def test_a_hung_background_refresh_holds_up_neither_join_nor_close(clock, rt):
    release, finished = threading.Event(), threading.Event()

    class Hung(Venue):
        def _call(self, *what):
            super()._call(*what)
            try:
                assert release.wait(3), "never released"   # safety bound only
            finally:
                finished.set()

    v = Hung("solo")
    persistence = Persistence(None)
    router = Router([v], build_session(persistence, prune_every_s=3600),
                    Metrics(persistence, clock=clock), AnswerStore(persistence, clock=clock),
                    book=QuoteBook(clock=clock), clock=clock, deadline_s=0.2)
    try:
        router.refresh_in_background(["BTC"])
        assert until(lambda: v.calls)                      # its snapshot is out, and hangs
        assert not router.join_refreshes(timeout=0.05)
        router.close()          # waits its deadline for the refresh, then leaves it behind
        assert not finished.is_set()
    finally:
        release.set()


def test_close_drops_the_background_refreshes_that_had_not_started(clock, rt):
    coins = ["AAA", "BBB", "CCC", "DDD", "EEE"]
    release = threading.Event()

    class Hung(Venue):
        def _call(self, *what):
            super()._call(*what)
            assert release.wait(3), "never released"       # safety bound only

    v = Hung("solo", {c: float(i + 1) for i, c in enumerate(coins)})
    persistence = Persistence(None)
    router = Router([v], build_session(persistence, prune_every_s=3600),
                    Metrics(persistence, clock=clock), AnswerStore(persistence, clock=clock),
                    book=QuoteBook(clock=clock), clock=clock, deadline_s=0.2)
    try:
        for c in coins:
            router.refresh_in_background([c])   # one each: four refresh workers, EEE waits
        assert until(lambda: v.calls)           # the first snapshot is out, and hangs
        router.close()
    finally:
        release.set()
    router._bg.shutdown(wait=True)              # what had started runs to its end
    assert [c for c in coins if router.answers.get(f"quote:{c}") is not None] == coins[:4]


def test_close_drops_the_fetches_that_had_not_started(clock):
    coins = [f"C{i:02d}" for i in range(33)]
    release = threading.Event()

    class Hung(Venue):
        def _call(self, *what):
            super()._call(*what)
            assert release.wait(3), "never released"       # safety bound only

    v = Hung("solo", {c: 1.0 for c in coins}, capabilities={KIND_CANDLES})
    persistence = Persistence(None)
    router = Router([v], build_session(persistence, prune_every_s=3600),
                    Metrics(persistence, clock=clock), AnswerStore(persistence, clock=clock),
                    book=QuoteBook(clock=clock), clock=clock, deadline_s=0.3)

    def ask(coin):
        with pytest.raises(NoProviderAvailable):
            router.get_candles(coin, "1h", 5)

    callers = [threading.Thread(target=ask, args=(c,)) for c in coins]
    try:
        for t in callers:
            t.start()
        for t in callers:
            t.join(timeout=10)                  # each gave up at its deadline
        assert until(lambda: len(v.calls) == 32)    # 32 fetch workers hang, one fetch waits
        router.close()
    finally:
        release.set()
    router._pool.shutdown(wait=True)
    assert len(v.calls) == 32
