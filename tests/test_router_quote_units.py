"""The router's quote path in detail: which venues a miss asks (and which it leaves alone), which
book quote it serves, what a stale or late answer carries, how the background refresh marks a
quote stale, what the fleet's shared store sees, and the response times the metrics book. The
same in-process venues as test_routing_units.py, a stepped clock, no sleeps for timing; part of
the mutation test set (setup.cfg [mutmut])."""
from __future__ import annotations

import dataclasses
import time
import types

import pytest

import routing.consensus as cons
import routing.router as router_module
from providers.base import (KIND_FEAR_GREED, KIND_QUOTE, KIND_QUOTES, Quote, UnknownSymbol,
                            UpstreamError)
from routing import NoProviderAvailable
from routing.answers import AnswerStore, Stored
from routing.metrics import Metrics
from routing.persistence import Persistence
from routing.quotebook import BookQuote, QuoteBook
from routing.router import Router
from routing.session import build_session
from routing.shared import SharedState
from tests.clock import SteppedClock
from tests.fake_upstream import JSONServer
from tests.test_routing_units import PRICES, T0, HeldVenue, Venue


class FleetState(SharedState):
    """The shared store other replicas write to, held in this process: answers and single-flight
    locks are kept, and every request the router makes of them is recorded."""

    def __init__(self):
        super().__init__("here")
        self.answers: dict[str, tuple] = {}
        self.answer_gets: list[str] = []
        self.held: dict[str, tuple[object, float]] = {}     # key -> (token, expires, monotonic)
        self.granted: list[tuple[str, float]] = []          # (key, ttl) granted to this replica
        self.on_refused = None                               # called once, at the first refusal

    def answer_get(self, key):
        self.answer_gets.append(key)
        return self.answers.get(key)

    def answer_put(self, key, source, fetched_at, value):
        self.answers[key] = (source, fetched_at, value)

    def hold(self, key: str, seconds: float) -> None:
        """Another replica takes `key` for `seconds`."""
        self.held[key] = (object(), time.monotonic() + seconds)

    def lock(self, key, ttl_s):
        held = self.held.get(key)
        if held is not None and held[1] > time.monotonic():
            if self.on_refused is not None:
                refused, self.on_refused = self.on_refused, None
                refused()
            return None
        token = object()
        self.held[key] = (token, time.monotonic() + ttl_s)
        self.granted.append((key, ttl_s))
        return token

    def unlock(self, token):
        for key, (held, _) in list(self.held.items()):
            if held is token:
                del self.held[key]


class LandingAnswers(AnswerStore):
    """An answer store where another caller's answer for a key lands right after this caller's
    first look at it (as when that caller held the coin's lock meanwhile)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.landing: dict[str, Stored] = {}

    def get(self, key, fresh_s=None):
        got = super().get(key, fresh_s)
        item = self.landing.pop(key, None)
        if item is not None:
            self._keep(item)
        return got


class TickingClock(SteppedClock):
    """A stepped clock that, once `tick` is set, moves on by `tick` after every read: time that
    passes between two reads of the clock within one call."""

    tick = 0.0

    def __call__(self) -> float:
        now = super().__call__()
        self.advance(self.tick)
        return now


class Volumed(Venue):
    """A venue that reports a 24 h volume with its quotes."""

    def __init__(self, name, prices=None, *, volume: float, **kw):
        super().__init__(name, prices, **kw)
        self.volume = volume

    def _quote(self, t):
        return dataclasses.replace(super()._quote(t), volume_24h=self.volume)


class Crashing(Venue):
    """A venue whose module has a bug: its snapshot raises what no provider error covers."""
    crash = False

    def fetch_quotes(self, tickers):
        if self.crash:
            raise ZeroDivisionError("float division by zero")
        return super().fetch_quotes(tickers)


class Refusing(Venue):
    """Kraken and Binance refuse a whole batch over one pair they no longer list."""

    def fetch_quotes(self, tickers):
        self._call("quotes", tuple(tickers))
        raise UnknownSymbol(self.name, "unknown pair in the batch")


class Dropping(Venue):
    """Lists coins its snapshot then leaves out."""

    def __init__(self, name, prices=None, *, drops: set[str], **kw):
        super().__init__(name, prices, **kw)
        self.drops = drops

    def fetch_quotes(self, tickers):
        got = super().fetch_quotes(tickers)
        return {t: q for t, q in got.items() if t not in self.drops}


class WebVenue(Venue):
    """Its snapshot is a real GET through the router's HTTP session (and its cache)."""

    def fetch_quotes(self, tickers):
        body = self.get_json("/quotes", kind=KIND_QUOTES)
        return {t: Quote(t, float(body[t]), self.name, time.time()) for t in tickers if t in body}


@pytest.fixture
def clock():
    return SteppedClock(T0)


@pytest.fixture
def make(clock):
    made = []

    def build(*venues, answers=None, state=None, on=None, **kw) -> Router:
        on = on or clock
        kw.setdefault("deadline_s", 2.0)
        persistence = Persistence(None)
        router = Router(venues, build_session(persistence, prune_every_s=3600),
                        Metrics(persistence, clock=on),
                        answers if answers is not None
                        else AnswerStore(persistence, clock=on, shared=state),
                        book=QuoteBook(clock=on), clock=on, state=state, **kw)
        made.append(router)
        return router

    yield build
    for r in made:
        r.close()


def three(**kw):
    return Venue("alpha", **kw), Venue("beta", **kw), Venue("gamma", **kw)


def vote(router: Router, venue: str, prices: dict[str, float], at: float,
         currency: str = "USD") -> None:
    """`venue`'s snapshot of `prices` in the book, fetched at `at` (book time)."""
    now = time.time()
    router.book.put(venue, {t: Quote(t, p, venue, now, currency) for t, p in prices.items()},
                    fetched_at=at)


def asked(*venues: Venue) -> list[int]:
    return [len(v.calls) for v in venues]


# -- ages, the stale window and the background refresh --------------------------------------------

def test_ages_are_given_to_the_millisecond(make, clock):
    fg = Venue("fg", capabilities={KIND_FEAR_GREED})
    router = make(fg, *three())
    router.get_fear_greed()
    router.get_quote("BTC")
    clock.advance(1.23456)
    assert router.get_fear_greed().age_s == 1.235
    assert router.get_quote("BTC").age_s == 1.235
    # the metrics know the venues that were asked, and nothing else
    assert set(router.metrics.providers) == {"fg", "alpha", "beta", "gamma"}


def test_a_quote_exactly_as_old_as_the_stale_window_is_fetched_again(make, clock):
    router = make(*three())
    router.get_quote("BTC")
    clock.advance(60)
    again = router.get_quote("BTC")
    assert not again.cached and not again.stale and again.fetched_at == T0 + 60
    assert router._refreshing == {}


def test_a_refresh_that_worked_clears_the_failure_even_at_the_same_instant(make, clock):
    a, b, c = three()
    router = make(a, b, c)
    router.get_quote("BTC")
    clock.advance(6)
    router.get_quote("BTC")
    assert router.join_refreshes(timeout=10)          # worked at T0 + 6
    clock.advance(5)
    assert not router.get_quote("BTC").stale
    assert router.join_refreshes(timeout=10)          # worked at T0 + 11
    for v in (a, b, c):
        v.fail = UpstreamError(v.name, "HTTP 500")
    clock.advance(6)
    assert not router.get_quote("BTC").stale
    assert router.join_refreshes(timeout=10)          # failed at T0 + 17
    for v in (a, b, c):
        v.fail = None
    assert router.get_quote("BTC").stale              # served while refreshed again
    assert router.join_refreshes(timeout=10)          # worked, also at T0 + 17
    assert router.answers.get("quote:BTC").fetched_at == T0 + 17
    clock.advance(5)
    behind = router.get_quote("BTC")
    assert behind.cached and not behind.stale and behind.age_s == 5.0
    assert router.join_refreshes(timeout=10)


def test_a_refresh_failed_at_the_instant_the_served_quote_was_fetched_keeps_it_stale(make, clock):
    # a coarse clock (15 ms on some systems) stamps both alike: the failure counts as after it
    a, b, c = three()
    router = make(a, b, c)
    router.get_quote("BTC")
    for v in (a, b, c):
        v.fail = UpstreamError(v.name, "HTTP 500")
    clock.advance(6)
    router.get_quote("BTC")
    assert router.join_refreshes(timeout=10)          # failed at T0 + 6
    for v in (a, b, c):
        v.fail = None
    router.answers._items.clear()
    fetched = router.get_quote("BTC")                 # a miss, fetched at T0 + 6
    assert fetched.fetched_at == T0 + 6 and not fetched.cached
    clock.advance(5)
    assert router.get_quote("BTC").stale
    assert router.join_refreshes(timeout=10)


def test_a_crashing_background_refresh_marks_the_quote_stale_and_frees_the_coin(make, clock):
    venues = Crashing("alpha"), Crashing("beta"), Crashing("gamma")
    router = make(*venues)
    router.get_quote("BTC")
    for v in venues:
        v.crash = True
    clock.advance(6)
    assert not router.get_quote("BTC").stale
    assert router.join_refreshes(timeout=10)
    assert router._refreshing == {}
    again = router.get_quote("BTC")
    assert again.stale and again.cached and again.value.price == 50_000.0
    t = router.metrics.totals_view()
    assert t["stale_answers"] == 1 and t["cache_hits"] == 2
    assert router.join_refreshes(timeout=10)


# -- response times ----------------------------------------------------------------------------

@pytest.fixture
def quarter_second_calls(monkeypatch):
    """perf_counter as the router reads it moves on 0.25 s at every read: a user call reads it
    once when it starts and once when it books its time, so each measures exactly 250 ms."""
    ticks = [1_000.0]

    def perf_counter():
        ticks[0] += 0.25
        return ticks[0]
    monkeypatch.setattr(router_module, "time", types.SimpleNamespace(
        perf_counter=perf_counter, monotonic=time.monotonic, sleep=time.sleep, time=time.time))


def test_every_quote_call_books_its_response_time(make, clock, quarter_second_calls):
    a, b, c = three()
    router = make(a, b, c, deadline_s=0.2)
    router.get_quote("BTC")                            # a miss
    assert router.metrics.response_ms_sum == 250.0
    router.get_quote("BTC")                            # a hit
    assert router.metrics.response_ms_sum == 500.0
    router.get_quotes(["BTC", "ETH"])                  # a batch
    assert router.metrics.response_ms_sum == 750.0
    clock.advance(61)
    lock = router._key_lock("quote:BTC")
    lock.acquire()
    try:
        assert router.get_quote("BTC").stale           # late: the coin is busy elsewhere
    finally:
        lock.release()
    assert router.metrics.response_ms_sum == 1_000.0
    assert router.metrics.totals_view()["avg_response_ms"] == 250.0


# -- answers that land meanwhile, and the fleet's shared store ------------------------------------

def test_an_answer_that_lands_while_waiting_for_the_coin_is_served(make, clock):
    fleet = FleetState()
    answers = LandingAnswers(Persistence(None), clock=clock, shared=fleet)
    a, b, c = three()
    router = make(a, b, c, answers=answers, state=fleet)
    for v in ("alpha", "beta", "gamma"):
        vote(router, v, {"BTC": 50_000.0}, T0 - 10)
    q = Quote("BTC", 50_100.0, "beta", time.time())
    answers.landing["quote:BTC"] = Stored("quote:BTC", q, "beta", T0 - 2)
    ans = router.get_quote("BTC")
    assert ans.source == "beta" and ans.value.price == 50_100.0
    assert ans.cached and not ans.stale and ans.age_s == 2.0
    assert ans.consensus.price == 50_000.0 and ans.consensus.votes == 3
    assert asked(a, b, c) == [0, 0, 0]
    assert fleet.answer_gets == ["quote:BTC"]          # a fresh local answer needs no round trip


def test_an_answer_landing_exactly_5_s_old_is_fetched_anew(make, clock):
    answers = LandingAnswers(Persistence(None), clock=clock)
    router = make(*three(), answers=answers)
    q = Quote("BTC", 50_100.0, "beta", time.time())
    answers.landing["quote:BTC"] = Stored("quote:BTC", q, "beta", T0 - 5)
    ans = router.get_quote("BTC")
    assert not ans.cached and ans.fetched_at == T0 and ans.value.price == 50_000.0


def test_fresh_hits_never_ask_the_fleet(make, clock):
    fleet = FleetState()
    router = make(*three(), state=fleet)
    router.get_quote("BTC")
    assert fleet.answers["quote:BTC"][:2] == ("alpha", T0)
    fleet.answer_gets.clear()
    clock.advance(1)
    assert router.get_quote("BTC").cached
    answers, _ = router.get_quotes(["BTC"])
    assert answers["BTC"].cached
    assert fleet.answer_gets == []


def test_a_snapshot_round_takes_the_fleets_lock_and_gives_it_back(make):
    fleet = FleetState()
    router = make(*three(), state=fleet)
    router.get_quote("BTC")
    assert fleet.granted == [("quote:snapshots", 2.0)]
    assert fleet.held == {}
    router.answers._items.clear()
    router.book._coins.clear()
    router.get_quote("ETH")                             # the next round gets it at once
    assert fleet.granted == [("quote:snapshots", 2.0)] * 2 and fleet.held == {}


def test_while_another_replica_runs_the_round_its_book_is_awaited(make):
    fleet = FleetState()
    a, b, c = three()
    router = make(a, b, c, state=fleet)
    fleet.hold("quote:snapshots", 0.3)
    fleet.on_refused = lambda: [vote(router, v, {"BTC": 50_000.0}, T0)
                                for v in ("alpha", "beta", "gamma")]
    ans = router.get_quote("BTC")
    assert ans.value.price == 50_000.0 and ans.cached and ans.source == "alpha"
    assert asked(a, b, c) == [0, 0, 0]
    assert fleet.granted == []                          # it stopped waiting once the book answered


# -- stale and failed quotes ---------------------------------------------------------------------

def test_a_stale_quote_carries_its_coins_consensus(make, clock):
    a, b, c = three()
    router = make(a, b, c)
    router.get_quote("BTC")
    for v in (a, b, c):
        v.fail = UpstreamError(v.name, "HTTP 500")
    clock.advance(61)
    one = router.get_quote("BTC")
    answers, _ = router.get_quotes(["BTC"])
    for ans in (one, answers["BTC"]):
        assert ans.stale and ans.consensus.status == "stale"
        assert ans.consensus.price == 50_000.0
        assert ans.consensus.sources == ("alpha", "beta", "gamma")


def test_a_batch_names_for_each_coin_only_the_venues_that_list_it(make):
    a = Venue("alpha", {"BTC": 50_000.0})
    b = Venue("beta", {"SOL": 100.0})
    c = Venue("gamma", {"ETH": 3_000.0})
    a.fail = UpstreamError("alpha", "HTTP 500")
    b.fail = UpstreamError("beta", "HTTP 503")
    router = make(a, b, c)
    answers, errors = router.get_quotes(["BTC", "SOL", "ETH"])
    assert list(answers) == ["ETH"]
    assert errors == {"BTC": "no provider could answer quote BTC (alpha: HTTP 500); retry in 5 s",
                      "SOL": "no provider could answer quote SOL (beta: HTTP 503); retry in 5 s"}


def test_batch_quotes_from_the_book_are_cached_and_fetched_ones_are_not(make, clock):
    router = make(*three())
    router.get_quote("BTC")
    clock.advance(1)
    answers, _ = router.get_quotes(["BTC", "ETH"])
    assert answers["BTC"].cached is True and answers["ETH"].cached is True
    assert answers["ETH"].fetched_at == T0 and answers["ETH"].age_s == 1.0
    clock.advance(10)
    router.answers._items.clear()
    fetched, _ = router.get_quotes(["SOL"])
    assert fetched["SOL"].cached is False


def test_a_coin_confirmed_by_the_book_does_not_hold_up_the_rest_of_the_batch(make, clock):
    a, b, c = three()
    router = make(a, b, c)
    for v in ("alpha", "beta", "gamma"):
        vote(router, v, {"BTC": 50_000.0}, T0)
    clock.advance(1)
    answers, errors = router.get_quotes(["BTC", "ETH"])
    assert errors == {} and answers["ETH"].value.price == 3_000.0
    assert answers["BTC"].cached and not answers["ETH"].cached


def test_a_cooling_down_venue_is_named_with_its_reason(make):
    v = Venue("alpha")
    router = make(v)
    router.health["alpha"].block(30, "rate_limited", "429")
    with pytest.raises(NoProviderAvailable) as e:
        router.get_quote("BTC")
    assert list(e.value.reasons) == ["alpha"]
    assert e.value.reasons["alpha"].startswith("rate limited until ")
    assert e.value.retry_after == 30.0 and v.calls == []


# -- snapshots -----------------------------------------------------------------------------------

def test_a_venue_without_a_batch_route_is_asked_per_coin(make):
    cb = Venue("cb", capabilities={KIND_QUOTE})
    router = make(cb)
    assert router.get_quote("ETH").value.price == 3_000.0
    assert cb.calls == [("quote", "ETH")]


def test_a_venue_with_only_a_batch_route_answers_single_quotes(make):
    bn = Venue("bn", capabilities={KIND_QUOTES})
    router = make(bn)
    ans = router.get_quote("SOL")
    assert ans.source == "bn" and ans.value.price == 100.0
    assert bn.calls == [("quotes", ("BTC", "ETH", "SOL"))]


def test_a_refused_batch_is_asked_per_coin_where_the_venue_can(make):
    kr = Refusing("kr")
    router = make(kr)
    assert router.get_quote("BTC").value.price == 50_000.0
    assert kr.calls == [("quotes", ("BTC", "ETH", "SOL")), ("quote", "BTC")]
    batch_only = Refusing("bo", capabilities={KIND_QUOTES})
    other = make(batch_only)
    with pytest.raises(NoProviderAvailable) as e:
        other.get_quote("BTC")
    assert e.value.reasons == {"bo": "unknown pair in the batch"}
    assert batch_only.calls == [("quotes", ("BTC", "ETH", "SOL"))]


def test_a_snapshot_missing_the_wanted_coins_names_them(make):
    thin = Dropping("thin", drops={"BTC", "ETH"})
    router = make(thin)
    with pytest.raises(NoProviderAvailable) as e:
        router.get_quotes(["BTC", "ETH"])
    assert e.value.reasons == {"thin": "BTC, ETH missing from Thin's answer"}
    assert router.metrics.provider_view("thin")["failures"] == {"unknown_symbol": 1}
    assert router.health["thin"].consecutive_failures == 0


def test_a_snapshot_served_by_the_http_cache_is_a_cached_answer(make, clock):
    server = JSONServer({"BTC": 50_000.0, "ETH": 3_000.0, "SOL": 100.0})
    try:
        web = WebVenue("web")
        web.base_url = server.url
        router = make(web)
        assert not router.get_quote("BTC").cached
        clock.advance(5)                               # the book no longer serves it
        router.answers._items.clear()
        again = router.get_quote("BTC")
        assert again.cached and again.fetched_at == T0 + 5
        assert len(server.paths) == 1
    finally:
        server.close()


def test_a_miss_is_cached_only_when_no_round_of_it_sent_anything(make, clock):
    server = JSONServer({"BTC": 50_000.0, "ETH": 3_000.0, "SOL": 100.0})
    try:
        web = WebVenue("web")
        web.base_url = server.url
        down = Venue("down", weight=5.0)
        down.fail = UpstreamError("down", "HTTP 500")
        v1, v2 = Venue("v1", weight=0.001), Venue("v2", weight=0.001)
        router = make(down, web, v1, v2)
        web.fetch_quotes(["BTC"])                      # now in the HTTP cache
        vote(router, "v1", {"BTC": 50_000.0}, T0 - 10)
        vote(router, "v2", {"BTC": 50_000.0}, T0 - 10)
        ans = router.get_quote("BTC")                  # down (one send) first, then web (none)
        assert ans.source == "web" and not ans.cached
        assert asked(down, v1, v2) == [1, 0, 0] and len(server.paths) == 1
    finally:
        server.close()


# -- which venues a miss asks ------------------------------------------------------------------

def test_a_single_coin_asks_a_venue_without_a_batch_route_too(make):
    cb = Venue("cb", capabilities={KIND_QUOTE}, weight=5.0)
    bs = [Venue(f"b{i}", capabilities={KIND_QUOTES}) for i in (1, 2, 3)]
    router = make(cb, *bs)
    assert router.get_quote("BTC").source == "cb"
    assert cb.calls == [("quote", "BTC")] and asked(*bs) == [1, 1, 0]


def test_a_batch_asks_the_venues_with_a_batch_route(make):
    cb = Venue("cb", capabilities={KIND_QUOTE}, weight=5.0)
    bs = [Venue(f"b{i}", capabilities={KIND_QUOTES}) for i in (1, 2, 3)]
    router = make(cb, *bs)
    answers, errors = router.get_quotes(["BTC", "ETH"])
    assert not errors and answers["ETH"].consensus.votes == 3
    assert cb.calls == [] and asked(*bs) == [1, 1, 1]


def test_an_unchecked_quote_asks_only_venues_that_add_a_vote(make, clock):
    alpha, beta = Venue("alpha"), Venue("beta")
    agg = Venue("agg", kind="aggregator")
    router = make(alpha, beta, agg)
    vote(router, "alpha", {"BTC": 50_000.0}, T0)       # fresh, but alone: cannot be checked
    clock.advance(1)
    ans = router.get_quote("BTC")
    assert ans.value.price == 50_000.0 and ans.consensus.votes == 3
    assert asked(alpha, beta, agg) == [0, 1, 1]


def test_an_aggregator_adds_a_vote_to_exchanges_only_while_none_of_its_kind_is_in(make, clock):
    e1, e2 = Venue("e1", weight=5.0), Venue("e2")
    g1, g2 = Venue("g1", kind="aggregator", weight=4.0), Venue("g2", kind="aggregator", weight=3.0)
    router = make(e1, g1, g2, e2)
    router.get_quote("BTC")                            # e1 picked, then g1; g2 adds no vote
    assert asked(e1, g1, g2, e2) == [1, 1, 0, 1]


def test_enough_votes_in_the_book_means_one_venue_is_asked(make):
    a, b, c, d = Venue("alpha"), Venue("beta"), Venue("gamma", weight=5.0), Venue("delta")
    router = make(a, b, c, d)
    vote(router, "alpha", {"BTC": 50_000.0}, T0 - 10)
    vote(router, "beta", {"BTC": 50_000.0}, T0 - 10)
    ans = router.get_quote("BTC")
    assert ans.source == "gamma" and ans.consensus.votes == 3
    assert asked(a, b, c, d) == [0, 0, 1, 0]


def test_usdt_votes_count_at_the_books_rate(make):
    usd = Venue("usd", {"USDT": 1.0})
    t1 = Venue("t1", {"BTC": 50_000.0}, currency="USDT")
    t2 = Venue("t2", {"BTC": 50_000.0}, currency="USDT")
    y, z = Venue("y", weight=5.0), Venue("z")
    router = make(usd, t1, t2, y, z)
    vote(router, "usd", {"USDT": 1.0}, T0 - 10)
    vote(router, "t1", {"BTC": 50_000.0}, T0 - 10, "USDT")
    vote(router, "t2", {"BTC": 50_000.0}, T0 - 10, "USDT")
    ans = router.get_quote("BTC")
    assert ans.source == "y" and ans.consensus.votes == 3
    assert asked(usd, t1, t2, y, z) == [0, 0, 0, 1, 0]


def test_a_venue_with_a_fresh_vote_is_not_asked_to_thicken_the_book(make):
    a, b = Venue("alpha", weight=4.0), Venue("beta", weight=5.0)
    c, d = Venue("gamma"), Venue("delta")
    router = make(a, b, c, d)
    vote(router, "alpha", {"BTC": 50_000.0}, T0 - 10)  # votes, but too old to serve
    router.get_quote("BTC")
    assert asked(a, b, c, d) == [0, 1, 1, 1]


def test_without_a_usdt_rate_a_usd_venue_with_a_tether_quote_joins_the_group(make):
    a, b, c = Venue("a", weight=5.0), Venue("b", weight=3.0), Venue("c", weight=2.0)
    u = Venue("u", {**PRICES, "USDT": 1.0}, weight=1.0)
    router = make(a, b, c, u)
    router.get_quote("BTC")
    assert asked(a, b, c, u) == [1, 1, 0, 1]           # at most three at once, u among them
    assert router.usdt_usd() == 1.0


def test_consecutive_misses_rotate_over_the_venues_by_weight(make, clock):
    heavy, light = Venue("heavy", weight=2.0), Venue("light")
    v1, v2 = Venue("v1", weight=0.001), Venue("v2", weight=0.001)
    router = make(heavy, light, v1, v2)
    vote(router, "v1", {"BTC": 50_000.0}, T0 - 10)
    vote(router, "v2", {"BTC": 50_000.0}, T0 - 10)
    sources = []
    for _ in range(3):
        sources.append(router.get_quote("BTC").source)
        clock.advance(10)
        router.answers._items.clear()
    assert sources == ["heavy", "light", "heavy"]
    assert asked(v1, v2) == [0, 0]


# -- hedging -------------------------------------------------------------------------------------

def test_a_quote_hedge_leaves_the_rotation_alone(make):
    slow = HeldVenue("slow", weight=5.0)
    hedge = Venue("hedge", weight=2.0)
    v1, v2 = Venue("v1"), Venue("v2")
    router = make(slow, hedge, v1, v2, deadline_s=1.5)     # the hedge after 0.3 s
    vote(router, "v1", {"BTC": 50_000.0}, T0 - 10)
    vote(router, "v2", {"BTC": 50_000.0}, T0 - 10)
    try:
        ans = router.get_quote("BTC")
    finally:
        slow.release.set()
    assert router.join_fetches(timeout=10)
    assert ans.source == "hedge" and ans.consensus.status == "ok"
    assert router.metrics.totals_view()["hedges"] == 1
    # only the pick was charged: the hedge kept the credit it earned then
    credit = router._rr[KIND_QUOTE]
    assert credit["hedge"] == pytest.approx(2.0 * 0.75)
    assert credit["slow"] == pytest.approx(5.0 * 0.75 - (5.0 + 2.0 + 1.0 + 1.0) * 0.75)


def test_each_quote_hedge_asks_one_more_venue(make):
    held = [HeldVenue(n, weight=w) for n, w in (("slow", 5.0), ("s2", 4.0), ("s3", 3.0))]
    f4, f5 = Venue("f4"), Venue("f5")
    router = make(*held, f4, f5, deadline_s=1.5)     # hedges after 0.3 s and 0.6 s
    try:
        ans = router.get_quote("BTC")
    finally:
        for v in held:
            v.release.set()
    assert router.join_fetches(timeout=10)
    assert ans.source == "f5" and ans.consensus.votes == 2      # unchecked: the last asked
    assert router.metrics.totals_view()["hedges"] == 2
    assert router.metrics.provider_view("f5")["hedges"] == 1


class Impatient(HeldVenue):
    """A hung venue that gives up after `patience` seconds with an error no provider raises: a
    call that waited for it fails."""

    def __init__(self, *args, patience: float, **kw):
        super().__init__(*args, **kw)
        self.patience = patience

    def _call(self, *what):
        Venue._call(self, *what)
        if not self.release.wait(self.patience):
            raise RuntimeError(f"{self.name} was waited for")


def test_a_quote_is_served_once_confirmed_without_waiting_for_the_slowest_venue(make):
    slow = Impatient("slow", weight=5.0, patience=1.5)
    r1, r2, v1 = Venue("r1"), Venue("r2"), Venue("v1", weight=0.001)
    router = make(slow, r1, r2, v1, deadline_s=10.0)
    for _ in range(3):
        router.metrics.upstream_call("slow", 5_000.0, 200)    # its hedge delay: the 2 s maximum
    vote(router, "v1", {"BTC": 50_000.0}, T0 - 10)
    try:
        ans = router.get_quote("BTC")                  # slow, r1 and r2 asked at once
    finally:
        slow.release.set()
    assert router.join_fetches(timeout=10)
    assert ans.source in ("r1", "r2") and ans.consensus.sources == ("v1", "r1", "r2")
    assert asked(slow, r1, r2, v1) == [1, 1, 1, 0]


# -- which book quote is served ------------------------------------------------------------------

def test_the_venues_asked_in_this_call_are_served_first(make, clock):
    a, b, c = Venue("alpha"), Venue("beta"), Venue("gamma", weight=5.0)
    router = make(a, b, c)
    for v in ("alpha", "beta", "gamma"):
        vote(router, v, {"BTC": 49_000.0}, T0 - 100)    # long gone, but first in the book
    vote(router, "alpha", {"BTC": 50_000.0}, T0 - 2)     # fresh, alone: unchecked
    ans = router.get_quote("BTC")
    assert ans.source == "gamma"                         # the rotation's pick, then beta
    assert asked(a, b, c) == [0, 1, 1]


def test_among_earlier_snapshots_the_newest_is_served(make):
    a, b, c = three()
    router = make(a, b, c)
    vote(router, "alpha", {"BTC": 50_000.0}, T0 - 3)
    vote(router, "beta", {"BTC": 50_000.0}, T0 - 2)
    vote(router, "gamma", {"BTC": 50_000.0}, T0 - 1)
    ans = router.get_quote("BTC")
    assert ans.source == "gamma" and ans.cached and ans.age_s == 1.0
    assert asked(a, b, c) == [0, 0, 0]


def test_usdt_quotes_in_the_book_are_checked_at_its_rate(make):
    usd = Venue("usd", {"BTC": 50_000.0, "USDT": 1.0})
    t1 = Venue("t1", {"BTC": 50_000.0}, currency="USDT")
    t2 = Venue("t2", {"BTC": 50_000.0}, currency="USDT")
    spare = Venue("spare", {"BTC": 50_000.0})
    router = make(usd, t1, t2, spare)
    vote(router, "usd", {"BTC": 50_000.0, "USDT": 1.0}, T0 - 1)
    vote(router, "t1", {"BTC": 50_000.0}, T0 - 1, "USDT")
    vote(router, "t2", {"BTC": 50_000.0}, T0 - 1, "USDT")
    ans = router.get_quote("BTC")
    assert ans.source == "usd" and ans.cached
    assert asked(usd, t1, t2, spare) == [0, 0, 0, 0]


def test_a_book_check_uses_the_usdt_rate_of_its_own_instant(make, clock):
    venues = [Venue("u1", {"USDT": 1.004}), Venue("u2", {"USDT": 1.002}),
              Venue("t1", {"BTC": 49_750.0}, currency="USDT"),
              Venue("x1", {"BTC": 50_000.0}), Venue("x2", {"BTC": 50_000.0})]
    router = make(*venues)
    vote(router, "u1", {"USDT": 1.004}, T0)
    vote(router, "u2", {"USDT": 1.002}, T0 + 0.01)
    vote(router, "x1", {"BTC": 50_000.0}, T0 + 58)
    vote(router, "x2", {"BTC": 50_000.0}, T0 + 58)
    vote(router, "t1", {"BTC": 49_750.0}, T0 + 58.5, "USDT")
    clock.set(T0 + 60.05)               # by now the tether quotes are stale: the newest, 1.002
    confirmed, unchecked = router._from_book("BTC", T0 + 59.95, [])
    # at 59.95 s they were fresh: 1.003, and 49 750 USDT is 49 899 USD, within 25 bps of 50 000
    assert confirmed.venue == "t1" and unchecked is None


# -- consensus, the USDT rate and the venues view ------------------------------------------------

@pytest.fixture
def computed(monkeypatch):
    """How many consensuses the router computes (a memoized one costs none)."""
    calls = []
    real = cons.consensus

    def counting(quotes, usdt_usd, **kw):
        calls.append(usdt_usd)
        return real(quotes, usdt_usd, **kw)
    monkeypatch.setattr(cons, "consensus", counting)
    return calls


def test_the_consensus_is_computed_once_per_second_and_book_change(make, clock, computed):
    router = make(*three())
    router.get_quote("BTC")
    computed.clear()
    first = router.consensus("BTC")
    assert router.consensus("BTC") is first and router.get_quote("BTC").consensus is first
    assert computed == []
    clock.advance(1)
    assert router.consensus("BTC") == first and len(computed) == 1
    vote(router, "alpha", {"BTC": 50_000.0}, T0 + 1)
    assert router.consensus("BTC") is not first and len(computed) == 2


def test_the_usdt_rate_is_computed_once_per_second(make, clock, computed):
    router = make(Venue("usd", {"BTC": 50_000.0, "USDT": 1.001}))
    vote(router, "usd", {"USDT": 1.001}, T0)
    assert router.usdt_usd() == 1.001
    assert router.usdt_usd() == 1.001
    assert len(computed) == 1


def test_the_consensus_follows_a_new_usdt_rate_within_the_same_second(make):
    usd = Venue("usd", {"BTC": 50_000.0, "USDT": 1.0})
    t1 = Venue("t1", {"BTC": 50_000.0}, currency="USDT")
    router = make(usd, t1)
    vote(router, "usd", {"BTC": 50_000.0, "USDT": 1.0}, T0)
    vote(router, "t1", {"BTC": 50_000.0}, T0, "USDT")
    assert router.consensus("BTC").price == 50_000.0
    vote(router, "usd", {"USDT": 1.01}, T0)
    c = router.consensus("BTC")
    assert c.usdt_usd == 1.01 and c.price == 50_250.0


def test_the_consensus_converts_at_the_rate_of_its_own_instant(make):
    ticking = TickingClock(T0)
    venues = [Venue("u1", {"USDT": 1.004}), Venue("u2", {"USDT": 1.002}),
              Venue("t1", {"BTC": 50_000.0}, currency="USDT")]
    router = make(*venues, on=ticking)
    vote(router, "u1", {"USDT": 1.004}, T0)
    vote(router, "u2", {"USDT": 1.002}, T0 + 0.01)
    vote(router, "t1", {"BTC": 50_000.0}, T0 + 30, "USDT")
    ticking.set(T0 + 59.95)
    ticking.tick = 0.1                  # a tenth of a second later the tether quotes are stale
    c = router.consensus("BTC")
    assert c.usdt_usd == pytest.approx(1.003) and c.price == pytest.approx(50_150.0)


def test_the_usdt_rate_ignores_venues_no_longer_enabled(make):
    router = make(Venue("u1", {"USDT": 1.002}))
    vote(router, "u1", {"USDT": 1.002}, T0)
    vote(router, "gone", {"USDT": 1.006}, T0)
    assert router.usdt_usd() == 1.002


def test_the_consensus_weighs_venues_by_their_volume(make):
    venues = [Volumed("a", {"BTC": 50_000.0}, volume=1.0),
              Volumed("b", {"BTC": 50_010.0}, volume=1.0),
              Volumed("c", {"BTC": 50_020.0}, volume=10.0)]
    router = make(*venues)
    ans = router.get_quote("BTC")
    assert ans.consensus.price == 50_015.0


def test_venue_rows_give_an_outliers_deviation_and_a_late_venues_reason(make):
    a, b, c = three()
    a.prices["BTC"] = 55_000.0
    late = [Venue(n) for n in ("delta", "epsilon", "zeta")]
    router = make(a, b, c, *late)
    router.get_quote("BTC")
    real, landing, landed = router.consensus, list(late), []

    def then_a_late_snapshot(ticker):
        got = real(ticker)
        venue = landing.pop(0).name                    # lands right after it was taken
        vote(router, venue, {"BTC": 50_000.0}, T0)
        landed.append(venue)
        return got
    router.consensus = then_a_late_snapshot
    view = router.venues("BTC")
    rows = {r["venue"]: r for r in view["venues"]}
    assert rows["alpha"]["deviation_bps"] == 1_000.0 and not rows["alpha"]["used"]
    assert rows[landed[-1]]["reason"] == "no fresh quote to compare"
    assert not rows[landed[-1]]["used"]


# -- outliers ------------------------------------------------------------------------------------

def test_an_outlier_snapshot_is_counted_once_and_the_memory_of_them_is_bounded(make):
    router = make(*three())
    q = Quote("BTC", 55_000.0, "x", time.time())

    def book(venue, at):
        router._book_outlier(BookQuote(venue, q, at, 0.0), "BTC",
                             "10.0 % above the median of 2 venues")

    def outliers(venue):
        return router.metrics.provider_view(venue)["failures"].get("outlier", 0)
    book("alpha", T0)
    book("alpha", T0)
    assert outliers("alpha") == 1
    assert router.health["alpha"].deviation == "BTC quote 10.0 % above the median of 2 venues"
    router._outliers_booked |= {("old", float(i)) for i in range(9_999)}   # 10 000 remembered
    book("beta", T0)                   # the 10 001st: still remembered with the rest
    book("alpha", T0)
    assert outliers("alpha") == 1 and outliers("beta") == 1
    book("alpha", T0 + 1)              # past 10 000: forgotten, then this one remembered
    book("beta", T0)
    assert outliers("alpha") == 2 and outliers("beta") == 2


# -- venues that rest between snapshots ----------------------------------------------------------

def test_a_live_venue_is_asked_even_when_its_last_snapshot_is_stamped_ahead(make):
    a = Venue("alpha")
    router = make(a)
    vote(router, "alpha", {"SOL": 100.0}, T0 + 30)      # another replica's clock runs ahead
    assert router.get_quote("BTC").value.price == 50_000.0
    assert len(a.calls) == 1


def test_a_venue_that_refreshes_every_second_rests_for_that_second(make, clock):
    a = Venue("alpha", refresh_s=1.0)
    router = make(a)
    vote(router, "alpha", {"BTC": 50_000.0}, T0)
    clock.advance(0.5)
    with pytest.raises(NoProviderAvailable) as e:
        router.get_quote("ETH")
    assert e.value.reasons == {} and a.calls == []
    clock.advance(0.5)
    assert router.get_quote("ETH").value.price == 3_000.0
