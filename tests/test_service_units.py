"""Edges of the service functions, the status words, the consensus arithmetic, the health gates,
validation, the outage sentence and build_router's environment that the other unit tests leave
open: exact values people read (sentences, counts, prices, seconds), each checked on a stepped
clock with in-process venues. Part of the mutation test set (setup.cfg [mutmut])."""
from __future__ import annotations

import os
import time

import pytest

from providers.base import KIND_FEAR_GREED, KIND_TOP, RateLimit
from routing import build_router, status, validate
from routing.consensus import (AGGREGATOR, EXCHANGE, VenueQuote, check, consensus,
                               weighted_median)
from routing.errors import InvalidInput, NoProviderAvailable
from routing.health import ProviderHealth
from routing.persistence import Persistence
from routing.service import MarketService
from routing.session import build_session
from tests.clock import SteppedClock
from tests.test_routing_units import Venue

T0 = 1_700_000_000.0              # 2023-11-14 22:13:20 UTC
OLD = 1_000_000_000.0             # 2001-09-09 01:46:40 UTC: a "now" far from the real clock




# -- status words -------------------------------------------------------------------------------

def test_a_number_that_is_no_time_keeps_its_decimals():
    assert status.humanize("volume 9999999999.25 traded", now=T0) == "volume 9999999999.25 traded"
    assert status.humanize("at 1700000060.5", now=T0) == "at 22:14 UTC"


def test_an_error_page_keeps_what_was_said_before_it_without_its_spacing():
    text = "upstream said:\t<html><body>Bad gateway</body></html>"
    assert status.humanize(text, now=T0) == ("upstream said; answered with a web page instead "
                                             "of data")


def test_epoch_numbers_in_reasons_are_read_against_the_assessed_now():
    """assess words every provider text at its own `now`, not at the wall clock: a time in an
    error, a refusal or a deviation becomes a clock time when it is near that `now`."""
    down = status.assess(label="Alpha", enabled=True, outcomes=[(OLD - 1, False)],
                         gate={}, last_error="HTTP 503: retry at 1000000060",
                         last_success=None, now=OLD)
    assert down["reason"] == "the last call failed (HTTP 503: retry at 01:47 UTC)"
    refused = status.assess(label="Alpha", enabled=True, outcomes=[],
                            gate={"blocked_until": OLD + 600, "block_state": "disabled",
                                  "block_reason": "key revoked at 1000000060"},
                            last_error=None, last_success=None, now=OLD)
    assert refused["reason"] == ("Alpha refused access (key revoked at 01:47 UTC); trying "
                                 "again until 01:56 UTC (in 10 min)")
    off = status.assess(label="Alpha", enabled=True, outcomes=[(OLD - 1, True)],
                        gate={"deviation": "BTC 5.0 % above the median since 1000000060"},
                        last_error=None, last_success=OLD - 1, now=OLD)
    assert (off["state"], off["reason"]) == ("degraded",
                                             "BTC 5.0 % above the median since 01:47 UTC")


def test_an_unknown_request_kind_is_worded_as_data():
    assert status.topic("venues SOL") == ("data", "data")
    assert status.outage_message("venues SOL", 3, data_at=T0 - 120, retry_in_s=None,
                                 now=T0) == ("All 3 data sources are failing right now; "
                                             "showing data from 22:11 UTC (2 min old).")


# -- the outage sentence ------------------------------------------------------------------------

def test_the_outage_sentence_names_the_data_still_shown_and_its_age():
    e = NoProviderAvailable("quote BTC", {"alpha": "down", "beta": "rate limited"}, 14.2)
    assert e.sentence(now=T0, data_at=T0 - 120) == (
        "All 2 price sources are failing right now; showing prices from 22:11 UTC (2 min old). "
        "Next retry in 15 s.")
    assert e.sentence(now=T0) == ("All 2 price sources are failing right now; there is nothing "
                                  "saved to show yet. Next retry in 15 s.")
    # without `now`, the age is counted on the wall clock
    assert e.sentence(data_at=time.time() - 120).endswith(" (2 min old). Next retry in 15 s.")


# -- validation names its parameter -------------------------------------------------------------

def test_interval_and_limit_errors_name_their_parameter_by_default():
    with pytest.raises(InvalidInput) as e:
        validate.interval(5)
    assert e.value.param == "interval" and str(e.value).startswith("interval: must be one of ")
    with pytest.raises(InvalidInput) as e:
        validate.interval("7y")
    assert e.value.param == "interval"
    with pytest.raises(InvalidInput) as e:
        validate.limit("many", (1, 10))
    assert e.value.param == "limit"
    assert str(e.value) == "limit: 'many' is not an integer; use 1 to 10"
    with pytest.raises(InvalidInput) as e:
        validate.limit(11, (1, 10))
    assert e.value.to_dict() == {"error": "invalid_input", "param": "limit",
                                 "detail": "limit: 11 is out of range; use 1 to 10"}


# -- consensus arithmetic -----------------------------------------------------------------------

def q(venue, price, age=1.0, volume=None, kind=EXCHANGE, cur="USD") -> VenueQuote:
    return VenueQuote(venue, kind, cur, price, age, volume)


LIMITS = {EXCHANGE: 10.0, AGGREGATOR: 20.0}


def test_a_small_reported_volume_is_a_small_weight():
    """A venue reporting 0.5 coins of volume weighs 0.5 coins, not the typical volume."""
    quotes = [q("a", 100.0, volume=0.5), q("b", 101.0, volume=10.0), q("c", 102.0, volume=10.0),
              q("d", 103.0, volume=10.0)]
    c = consensus(quotes, None)
    assert c.price == 102.0 and c.status == "ok" and c.sources == ("a", "b", "c", "d")


def test_consensus_uses_the_age_limits_it_is_given_and_reports_them():
    c = consensus([q("a", 100.0, age=5), q("b", 100.0, age=5), q("c", 101.0, age=15)], None,
                  max_age_s=LIMITS)
    assert c.sources == ("a", "b") and c.status == "degraded"
    assert c.excluded == {"c": "stale: 15 s old (max 10 s)"}
    assert c.max_age_s == LIMITS and c.to_dict()["max_age_s"] == LIMITS
    usdt_only = consensus([q("a", 100.0, age=5, cur="USDT")], None, max_age_s=LIMITS)
    assert usdt_only.status == "no_usd_rate" and usdt_only.max_age_s == LIMITS
    stale = consensus([q("a", 100.0, age=50)], None, max_age_s=LIMITS)
    assert stale.status == "stale" and stale.price == 100.0 and stale.max_age_s == LIMITS


def test_check_converts_usdt_quotes_on_both_sides():
    ok = check(q("a", 100.1), [q("b", 100.0, cur="USDT"), q("c", 100.0, cur="USDT")], 1.001)
    assert (ok.ok, ok.others) == (True, 2)
    assert ok.reason in ("0.0 % below the median of 2 venues",
                         "0.0 % above the median of 2 venues")
    usdt = check(q("a", 100.0, cur="USDT"), [q("b", 100.2), q("c", 100.2)], 1.002)
    assert (usdt.ok, usdt.others) == (True, 2)


def test_check_uses_the_age_limits_it_is_given():
    c = check(q("a", 100.0), [q("b", 120.0, age=30), q("c", 120.0, age=30)], None,
              max_age_s=LIMITS)
    assert c == type(c)(None, "cannot check: 0 other fresh vote(s), 2 needed", None, 0)


def test_a_quote_exactly_on_the_band_edge_agrees():
    c = check(q("a", 100.25), [q("b", 100.0), q("c", 100.0)], None)
    assert c == type(c)(True, "0.2 % above the median of 2 venues", 25.0, 2)


def test_weighted_median_midpoint_tolerance_is_relative_and_inclusive():
    # half the weight is missed by 5e-4 of 2e9: within 1e-12 of the total, so the midpoint
    assert weighted_median([1.0, 2.0], [1e9, 1e9 + 1e-3]) == 1.5
    # missed by exactly 1e-12 of the total (2**-40 of 0.909...): still the midpoint
    total, d = 0.9094947017729282, 2.0 ** -40
    assert 1e-12 * total == d
    assert weighted_median([1.0, 2.0], [total / 2 + d, total / 2 - d]) == 1.5


# -- health gates -------------------------------------------------------------------------------

class FakeTime:
    """routing.health's `time` module with a monotonic clock the test sets."""

    def __init__(self, mono: float):
        self.mono = mono

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return time.time()

    def strftime(self, *a):
        return time.strftime(*a)

    def gmtime(self, *a):
        return time.gmtime(*a)


@pytest.fixture
def mono(monkeypatch):
    import routing.health as health_module
    fake = FakeTime(100.0)
    monkeypatch.setattr(health_module, "time", fake)
    return fake


def test_wait_s_is_when_the_oldest_spend_leaves_the_window(mono):
    b = ProviderHealth("p", RateLimit(10, 60)).budget           # capacity 8, 60 s window
    assert b.try_spend(1)                                       # t=100
    mono.mono = 110.0
    assert b.try_spend(3)
    mono.mono = 120.0
    assert b.try_spend(3)                                       # 7 of 8 spent: one more fits
    mono.mono = 130.0
    assert b.remaining() == 1 and b.wait_s() == 0.0
    assert b.try_spend(1)                                       # full
    assert b.remaining() == 0 and b.wait_s() == 30.0            # when the t=100 unit leaves
    mono.mono = 159.5
    assert b.wait_s() == 0.5
    mono.mono = 160.5                                           # it left: one fits again
    assert b.remaining() == 1 and b.wait_s() == 0.0


def test_wait_s_counts_as_many_old_spends_as_one_more_unit_needs(mono):
    """A ledger over the capacity (pyrate-limiter's window can let a spend in a moment before
    the ledger drops the old one) waits for enough of the oldest spends to leave."""
    b = ProviderHealth("p", RateLimit(5, 60)).budget            # capacity 4
    b._used = [(100.0, 2), (110.0, 2), (120.0, 2)]              # 6 spent: 3 must leave
    mono.mono = 130.0
    assert b.wait_s() == 40.0                                   # after the t=110 spend


def test_a_restored_cooldown_keeps_its_reason(clock):
    h = ProviderHealth("p", RateLimit(10, 60), clock=clock)
    h.restore({"blocked_until": T0 + 9, "block_state": "rate_limited",
               "block_reason": "HTTP 429: slow down"})
    assert (h.blocked_until, h.block_state, h.block_reason) == (T0 + 9, "rate_limited",
                                                                "HTTP 429: slow down")
    assert h.unavailable_reason() == "rate limited until 22:13:29Z (HTTP 429: slow down)"
    bare = ProviderHealth("p", RateLimit(10, 60), clock=clock)
    bare.restore({"blocked_until": T0 + 9})
    assert bare.snapshot() == {"blocked_until": T0 + 9, "block_state": "rate_limited",
                               "block_reason": "", "open_until": 0.0, "opens": 0,
                               "changed_at": 0.0}


def test_a_failed_probe_after_a_restart_reopens_the_breaker(clock):
    """A breaker restored from disk has no failures counted: its half-open probe failing (at
    the very second it reopens) still opens it again, for the next, doubled period."""
    h = ProviderHealth("p", RateLimit(10, 60), clock=clock)
    h.restore({"open_until": T0 + 5, "opens": 2, "block_reason": "HTTP 500"})
    clock.set(T0 + 5)
    assert h.claim()
    h.failure("HTTP 502")
    assert (h.opens, h.open_until, h.block_reason) == (3, T0 + 5 + 60, "HTTP 502")
    assert h.gate()["probe_in_flight"] is False


def test_gate_changes_are_told_with_the_name_and_snapshot(clock):
    told = []
    h = ProviderHealth("p", RateLimit(10, 60), clock=clock,
                       on_change=lambda name, snap: told.append((name, snap)))
    for _ in range(3):
        h.failure("boom")
    assert told == [("p", {"blocked_until": 0.0, "block_state": "", "block_reason": "boom",
                           "open_until": T0 + 15, "opens": 1, "changed_at": T0})]
    clock.set(T0 + 15)
    assert h.claim()
    h.release_probe()
    assert h.gate()["probe_in_flight"] is False
    clock.set(T0 + 16)
    h.success()
    assert told[-1] == ("p", {"blocked_until": 0.0, "block_state": "", "block_reason": "boom",
                              "open_until": 0.0, "opens": 0, "changed_at": T0 + 16})
    assert h.changed_at == T0 + 16
    n = len(told)
    h.success()                                  # nothing was open: nothing to tell
    assert len(told) == n


def test_the_recent_outcomes_drop_the_oldest(clock):
    h = ProviderHealth("p", RateLimit(10, 60), clock=clock)
    h.success()
    for _ in range(20):
        h.deviating("off")
    assert h.recent == [False] * 20


# -- build_router ---------------------------------------------------------------------------------

def test_build_router_accepts_a_deadline_under_a_second(tmp_path):
    router = build_router(tmp_path, env={"PROVIDERS": "binance", "ROUTER_DEADLINE_S": "0.5",
                                         "ROUTER_STALE_WINDOW_S": "0.25"}, persist=False)
    try:
        assert router.deadline_s == 0.5 and router.stale_window_s == 0.25
    finally:
        router.close()


def test_build_router_with_redis_url_shares_every_store(tmp_path, clock):
    """REDIS_URL puts the HTTP cache, metrics, answers, quote book and gates behind the one
    shared state (here a Redis that is not there: it runs lost, on local state)."""
    from routing.session import SharedHTTPCache
    router = build_router(tmp_path, env={"PROVIDERS": "binance",
                                         "REDIS_URL": "redis://127.0.0.1:1/0",
                                         "REPLICA_ID": "r1"}, persist=False, clock=clock)
    try:
        state = router.state
        assert state.backend == "redis" and state.replica_id == "r1"
        assert isinstance(router.session.cache, SharedHTTPCache)
        assert router.session.cache.state is state
        assert router.metrics.shared is state
        assert router.answers.shared is state and router.book.shared is state
    finally:
        router.close()


# -- the service -------------------------------------------------------------------------------

def test_top_coins_defaults_to_20(make):
    prices = {f"C{i}": float(100 - i) for i in range(25)}
    svc = MarketService(make(Venue("ranker", prices, capabilities={KIND_TOP})))
    out = svc.top_coins()
    assert out["count"] == 20 and [c["symbol"] for c in out["coins"]][-1] == "C19"


def test_a_fresh_top_list_gives_market_cap_without_asking_the_shared_store(make):
    class Shared:
        def __init__(self):
            self.asked, self.rows = [], {}

        def answer_get(self, key):
            self.asked.append(key)
            return self.rows.get(key)

        def answer_put(self, key, source, fetched_at, value):
            self.rows[key] = (source, fetched_at, value)

    router = make(Venue("alpha", {"BTC": 50_000.0}), Venue("ranker", {"BTC": 50_000.0},
                                                          capabilities={KIND_TOP}))
    router.answers.shared = shared = Shared()
    svc = MarketService(router)
    svc.top_coins(1)
    shared.asked.clear()
    row = svc.price("BTC")
    assert row["market_cap"] == 50_000_000.0 and row["market_cap_source"] == "ranker"
    assert "top" not in shared.asked


def test_system_status_of_a_disabled_provider_and_the_shared_state(make):
    router = make(Venue("alpha", capabilities={KIND_FEAR_GREED}),
                  disabled={"paid": "needs PAID_KEY"})
    s = MarketService(router).system_status()
    paid = {r["name"]: r for r in s["providers_detailed"]}["paid"]
    assert (paid["outliers"], paid["rate_limit_hits"], paid["share"]) == (0, 0, 0.0)
    assert s["infrastructure"]["shared_state"] == router.state.view()
    assert s["infrastructure"]["shared_state"]["state"] == "local"
    assert [r["id"] for r in s["replicas"]] == [router.state.replica_id]


class UpState:
    """A shared state that answers (Redis reachable) or not, without a server: the counting
    code only asks `connected` and `call`."""
    prefix = "t:"

    def __init__(self, connected: bool):
        import redis
        self.connected = connected
        self.client = redis.Redis(host="127.0.0.1", port=1)    # never used: no call reaches it

    def call(self, fn, default=None):
        return fn(self.client) if self.connected else default


def shared_cache(monkeypatch, router, connected: bool, shared_entries: int):
    from requests_cache import BaseCache

    from routing.session import SharedHTTPCache
    local = BaseCache()
    local.responses["one"] = "cached locally"
    cache = SharedHTTPCache(UpState(connected), local)
    monkeypatch.setattr(cache, "responses", {f"k{i}": i for i in range(shared_entries)},
                        raising=False)
    monkeypatch.setattr(router.session, "cache", cache)
    return cache


def test_http_cache_entries_are_counted_in_redis_while_it_answers(make, monkeypatch):
    router = make(Venue("alpha"))
    shared_cache(monkeypatch, router, connected=True, shared_entries=3)
    svc = MarketService(router)
    assert svc._cache_backend() == "redis"
    assert svc._http_cache_entries() == 3
    assert svc.system_status()["infrastructure"]["cache_backend"] == "redis"


def test_http_cache_entries_are_counted_locally_while_redis_is_lost(make, monkeypatch):
    router = make(Venue("alpha"))
    shared_cache(monkeypatch, router, connected=False, shared_entries=3)
    svc = MarketService(router)
    assert svc._cache_backend() == "memory"
    assert svc._http_cache_entries() == 1


# -- the HTTP cache's SQLite file (a loopback server gives real responses to store) --------------

@pytest.fixture
def server():
    from tests.fake_upstream import JSONServer
    s = JSONServer({"price": "1.5"})
    yield s
    s.close()


@pytest.fixture
def sqlite_session(tmp_path):
    persistence = Persistence(tmp_path)
    session = build_session(persistence, prune_every_s=3600)
    session.persistence = persistence
    yield session
    session.close()


def store(cache, server, n: int, expires_in_s: float = 3600.0, prefix: str = "k") -> None:
    import requests
    from datetime import datetime, timedelta, timezone
    resp = requests.get(server.url + "/x")
    when = datetime.now(timezone.utc) + timedelta(seconds=expires_in_s)
    for i in range(n):
        cache.save_response(resp, cache_key=f"{prefix}{i:03d}", expires=when + timedelta(seconds=i))


def live_bytes(cache) -> tuple[int, int]:
    """(bytes in used pages, bytes in free pages) of the cache file, as prune counts them."""
    with cache.responses.connection() as con:
        page, pages, free = (con.execute(f"PRAGMA {p}").fetchone()[0]
                             for p in ("page_size", "page_count", "freelist_count"))
    return (pages - free) * page, free * page


def test_the_http_cache_file_is_wal_with_a_busy_timeout_and_misses_give_the_default(
        sqlite_session):
    cache = sqlite_session.cache
    with cache.responses.connection() as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
        assert con.execute("PRAGMA synchronous").fetchone()[0] == 1      # NORMAL, as WAL allows
    assert cache.get_response("absent", default="missing") == "missing"
    assert cache.get_response("absent") is None


def test_pruning_evicts_the_share_over_80_percent_of_the_cap(sqlite_session, server):
    cache = sqlite_session.cache
    store(cache, server, 10)
    live, _ = live_bytes(cache)
    done = cache.prune(live // 2)           # 0.8 x half the live size may stay: 6 of 10 go
    assert done["evicted"] == 6 and done["expired"] == 0
    assert sorted(cache.responses.keys()) == ["k006", "k007", "k008", "k009"]


def test_a_file_exactly_at_its_cap_is_neither_evicted_nor_vacuumed(sqlite_session, server):
    cache = sqlite_session.cache
    store(cache, server, 10)
    cache.prune(10 * 2**20)                 # checkpointed: the file holds every page
    size = os.path.getsize(cache.responses.db_path)
    live, free = live_bytes(cache)
    assert (live, free) == (size, 0)
    done = cache.prune(size)
    assert done == {"expired": 0, "evicted": 0, "vacuumed": False, "bytes": size}
    assert len(cache.responses) == 10


def test_free_pages_do_not_count_towards_the_cap(sqlite_session, server):
    cache = sqlite_session.cache
    store(cache, server, 40, expires_in_s=-3600, prefix="old")   # pruned: their pages freed
    store(cache, server, 3)
    done = cache.prune(10 * 2**20)
    assert done["expired"] == 40 and not done["vacuumed"]
    live, free = live_bytes(cache)
    assert free > 0
    done = cache.prune(live)
    assert done["evicted"] == 0 and len(cache.responses) == 3


def test_a_failing_save_is_booked_to_the_http_cache_file(sqlite_session, server):
    import requests
    cache = sqlite_session.cache
    resp = requests.get(server.url + "/x")
    cache.responses.close()
    cache.redirects.close()
    path = cache.responses.db_path
    for leftover in (path, f"{path}-wal", f"{path}-shm"):
        if os.path.exists(leftover):
            os.remove(leftover)
    os.mkdir(path)                          # the file cannot be opened any more
    cache.save_response(resp, cache_key="k")
    view = sqlite_session.persistence.view()
    assert view["saving"] == "failing"
    assert view["last_save_error"]["file"] == "http_cache.sqlite"


def test_a_provider_get_spends_a_weight_of_one_and_times_the_send(tmp_path, server, clock,
                                                                   monkeypatch):
    import routing.session as session_module
    from routing.session import ProviderHTTP

    class Ticks:
        """perf_counter stepping 0.25 s per read: every send lasts exactly 250 ms."""
        now = 0.0

        def perf_counter(self):
            self.now += 0.25
            return self.now

        def time(self):
            return time.time()

    monkeypatch.setattr(session_module, "time", Ticks())
    session = build_session(Persistence(None), prune_every_s=3600)
    asked, sent = [], []
    http = ProviderHTTP(session, "p", budget=lambda w: asked.append(w) or True,
                        on_send=lambda *a: sent.append(a), clock=clock)
    try:
        http.get(server.url + "/t")
        http.get(server.url + "/heavy", weight=5)
    finally:
        session.close()
    assert asked == [1, 5]
    assert sent == [("p", 250.0, 200), ("p", 250.0, 200)]


def test_a_failing_disk_while_pruning_is_reported_and_pruning_goes_on(sqlite_session):
    """An SQLite error inside prune's transaction (here: the table is gone) is said in the
    persistence status; the pruner keeps running for the next round."""
    import sqlite3

    from routing.session import _prune_loop

    cache = sqlite_session.cache
    with cache.responses.connection(commit=True) as con:
        con.execute(f"DROP TABLE {cache.responses.table_name}")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        cache.prune(10 * 2**20)
    persistence = sqlite_session.persistence
    _prune_loop(sqlite_session, persistence, 10 * 2**20, 0.0, Rounds(2))
    view = persistence.view()
    assert view["saving"] == "failing"
    assert view["last_save_error"]["file"] == "http_cache.sqlite"
    assert "no such table" in view["last_save_error"]["error"]
    cache.responses.init_db()                 # the disk works again: so does pruning
    assert cache.prune(10 * 2**20)["expired"] == 0


# -- providers/base.py: an error names the provider whose answer it is about ----------------------

def test_a_bad_candle_or_price_names_its_provider():
    from providers.base import MalformedResponse, candle_rows, price
    with pytest.raises(MalformedResponse) as e:
        candle_rows([[1000, -1, 2, 0.5, 1, 3]], "kucoin", "tohlcv", time_ms=False)
    assert (e.value.provider, str(e.value)) == ("kucoin", "kucoin: open is not positive: -1")
    with pytest.raises(MalformedResponse) as e:
        price("n/a", "binance")
    assert (e.value.provider, str(e.value)) == ("binance",
                                                "binance: price is not a number: 'n/a'")


def test_a_prune_that_fails_midway_deletes_nothing_and_leaves_the_file_writable(
        sqlite_session, server):
    """Pruning is one transaction: when a statement fails (here the row count is refused by an
    authorizer), the expired answers already deleted come back, and the next save is not held
    up by a transaction left open."""
    import sqlite3

    import requests
    cache = sqlite_session.cache
    store(cache, server, 5, expires_in_s=-3600, prefix="old")
    store(cache, server, 5)

    def no_count(action, _arg1, arg2, _db, _source):
        refused = action == sqlite3.SQLITE_FUNCTION and arg2 == "count"
        return sqlite3.SQLITE_DENY if refused else sqlite3.SQLITE_OK

    con = cache.responses._connection
    con.set_authorizer(no_count)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            cache.prune(1)
    finally:
        con.set_authorizer(None)
    assert len(cache.responses) == 10
    cache.save_response(requests.get(server.url + "/x"), cache_key="after")
    assert len(cache.responses) == 11


def test_closing_the_session_waits_at_most_5_s_for_the_pruner(tmp_path):
    class Pruner:
        def __init__(self):
            self.joined = []

        def join(self, timeout=None):
            self.joined.append(timeout)

    session = build_session(Persistence(None), prune_every_s=3600)
    real, session.pruner = session.pruner, Pruner()
    session.close()
    real.join(5)
    assert session.pruner.joined == [5] and not real.is_alive()


def test_every_providers_key_parameter_is_left_out_of_the_cache(sqlite_session, server):
    """CoinGecko's demo key (x_cg_demo_api_key) is not in requests-cache's own list: a second
    key still hits the cache, and no key reaches the file."""
    from routing.session import ProviderHTTP
    http = ProviderHTTP(sqlite_session, "coingecko")
    http.get(server.url + "/p", params={"ids": "bitcoin", "x_cg_demo_api_key": "SECRET-1"})
    again = http.get(server.url + "/p", params={"ids": "bitcoin", "x_cg_demo_api_key": "SECRET-2"})
    assert again.from_cache and len(server.paths) == 1
    with cache_rows(sqlite_session.cache) as rows:
        assert not any(b"SECRET" in bytes(v) for v in rows)


class cache_rows:
    """The raw stored values of the cache file, read by a connection of its own."""

    def __init__(self, cache):
        import sqlite3
        self.con = sqlite3.connect(cache.responses.db_path)
        self.table = cache.responses.table_name

    def __enter__(self):
        return [row[0] for row in self.con.execute(f"SELECT value FROM {self.table}")]

    def __exit__(self, *exc):
        self.con.close()


def test_a_shared_http_cache_keeps_the_local_one_behind_it():
    from requests_cache import BaseCache

    from routing.session import SharedHTTPCache
    session = build_session(Persistence(None), prune_every_s=3600, shared=UpState(True))
    try:
        assert isinstance(session.cache, SharedHTTPCache)
        assert type(session.cache.local) is BaseCache
    finally:
        session.close()


def test_a_base_url_keeps_a_host_ending_in_x():
    v = Venue("alpha")
    from providers.base import Provider
    Provider.__init__(v, http=None, base_url="http://sim-X/")
    assert v.base_url == "http://sim-X"


# -- health: the ledger's window, defaults, reasons read at the given time -------------------------

def test_the_ledger_window_is_the_limits_seconds_and_a_spend_at_its_start_has_left(mono):
    b = ProviderHealth("p", RateLimit(10, 60)).budget           # capacity 8, 60 s
    assert b.try_spend()                                         # t=100, weight 1
    assert b.remaining() == 7
    mono.mono = 110.0
    for _ in range(7):
        assert b.try_spend()
    mono.mono = 159.95
    assert b.remaining() == 0 and b.wait_s() == pytest.approx(0.05)
    mono.mono = 160.0                                            # exactly 60 s later: gone
    assert b.remaining() == 1 and b.wait_s() == 0.0


def test_a_fresh_health_has_plain_values_and_uses_the_budget_given(clock):
    from routing.health import ProviderBudget
    budget = ProviderBudget(RateLimit(10, 60), capacity=3)
    h = ProviderHealth("p", RateLimit(10, 60), clock=clock, budget=budget)
    assert h.budget is budget
    assert h.gate() == {"blocked_until": 0.0, "block_state": "", "block_reason": "",
                        "open_until": 0.0, "probe_in_flight": False, "budget_remaining": 3,
                        "budget_refill_s": 0.0, "deviation": ""}


def test_unavailable_reasons_word_their_times_at_the_given_now():
    clock = SteppedClock(OLD)
    h = ProviderHealth("p", RateLimit(10, 60), clock=clock)
    h.block(600, "rate_limited", "retry at 1000000060")
    assert h.unavailable_reason() == "rate limited until 01:56:40Z (retry at 01:47 UTC)"
    assert h.unavailable_reason(now=OLD + 600) is None          # the given time, not the clock
    long = "x" * 130
    h.block(700, "rate_limited", long)
    assert h.unavailable_reason() == f"rate limited until 01:58:20Z ({'x' * 119}…)"
    b = ProviderHealth("p", RateLimit(10, 60), clock=clock)
    for _ in range(3):
        b.failure("HTTP 500 since 1000000060")
    assert b.unavailable_reason() == "breaker open until 01:46:55Z (HTTP 500 since 01:47 UTC)"
    b.failure(long)
    assert b.unavailable_reason() == f"breaker open until 01:47:10Z ({'x' * 119}…)"


# -- the pruner: what it prunes, with which cap ---------------------------------------------------

class Rounds:
    """stop.wait() for `_prune_loop`: `n` rounds, then stop (no waiting)."""

    def __init__(self, n):
        self.n = n

    def wait(self, _timeout):
        self.n -= 1
        return self.n < 0


def test_the_pruner_cuts_the_local_sqlite_file_behind_a_shared_cache(tmp_path, server):
    from routing.session import _prune_loop
    persistence = Persistence(tmp_path)
    session = build_session(persistence, prune_every_s=3600, shared=UpState(False))
    try:
        local = session.cache.local
        store(local, server, 4)
        _prune_loop(session, persistence, 1, 0.0, Rounds(1))     # over any cap: all evicted
        assert len(local.responses) == 0
        assert persistence.view()["saving"] == "ok"
    finally:
        session.close()


def test_the_pruner_drops_expired_answers_from_a_memory_cache(server):
    from routing.session import _prune_loop
    persistence = Persistence(None)
    session = build_session(persistence, prune_every_s=3600)
    try:
        store(session.cache, server, 2, expires_in_s=-3600, prefix="old")
        store(session.cache, server, 1)
        _prune_loop(session, persistence, 1, 0.0, Rounds(1))
        assert list(session.cache.responses.keys()) == ["k000"]
    finally:
        session.close()


def test_the_pruner_cap_is_the_one_given_else_the_environments(monkeypatch):
    import routing.session as session_module
    caps = []
    monkeypatch.setattr(session_module, "_prune_loop",
                        lambda _session, _persistence, cap, _every, _stop: caps.append(cap))
    monkeypatch.setenv("HTTP_CACHE_MAX_MB", "2")
    for max_bytes in (None, 1234):
        session = build_session(Persistence(None), max_bytes=max_bytes, prune_every_s=3600)
        session.pruner.join(5)
        session.close()
    assert caps == [2 * 2**20, 1234]


def test_the_session_pools_connections_for_every_provider_at_once():
    session = build_session(Persistence(None), prune_every_s=3600)
    try:
        for url in ("http://venue.test/", "https://venue.test/"):
            adapter = session.get_adapter(url)
            assert (adapter._pool_connections, adapter._pool_maxsize) == (32, 64)
            assert adapter.max_retries.total == 0
    finally:
        session.close()


def test_an_expired_answer_is_not_served_when_the_upstream_fails(server):
    """The router decides about stale answers (and says so); the HTTP cache never hands one
    back in place of an error."""
    from datetime import datetime, timedelta, timezone

    from providers.base import UpstreamError
    from routing.session import ProviderHTTP
    session = build_session(Persistence(None), prune_every_s=3600)
    try:
        http = ProviderHTTP(session, "p")
        http.get(server.url + "/t")
        [key] = list(session.cache.responses.keys())
        session.cache.save_response(session.cache.responses[key], cache_key=key,
                                    expires=datetime.now(timezone.utc) - timedelta(hours=1))
        server.close()
        with pytest.raises(UpstreamError, match="connection failed"):
            http.get(server.url + "/t")
    finally:
        session.close()


def test_a_prune_round_under_the_cap_keeps_saving_ok(sqlite_session):
    """A round that evicts nothing and shrinks nothing is a healthy save of the HTTP cache."""
    from routing.session import _prune_loop

    persistence = sqlite_session.persistence
    _prune_loop(sqlite_session, persistence, 10 * 2**20, 0.0, Rounds(2))
    view = persistence.view()
    assert view["saving"] == "ok", view
    assert view.get("last_save_error") is None, view
