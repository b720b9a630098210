"""The router's stored state in isolation: metrics as a status page reads them (alone and summed
over a fleet), the answer store and the quote book (saved, reloaded, shared), and the DATA_DIR
that heals (damaged SQLite files moved aside with their WAL, a full disk, unreadable tables).
Real SQLite files in tmp_path; the clocks are stepped; the fleet is a SharedState that answers
with fixed data. Part of the mutation test set (setup.cfg [mutmut])."""
from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
from types import SimpleNamespace

import pytest

import routing.answers as answers_mod
import routing.metrics as metrics_mod
import routing.persistence as persistence_mod
import routing.quotebook as quotebook_mod
from providers.base import Quote
from routing.answers import AnswerStore, encode
from routing.metrics import FILE as METRICS_FILE, Metrics
from routing.persistence import MEMORY, SQLITE, Persistence, connect
from routing.quotebook import QuoteBook
from routing.shared import SharedState
from tests.clock import SteppedClock

T0 = 1_700_000_000.0


@pytest.fixture
def clock():
    return SteppedClock(T0)


class Fleet(SharedState):
    """Another replica's view of the fleet: fixed answers, and a record of what was sent."""

    def __init__(self, others=(), series=None, errors=None, book=None, fetched=None,
                 answers=None):
        super().__init__("me")
        self.answers = answers or {}
        self.answer_reads: list[str] = []
        self.others = list(others)
        self.series = series
        self.errors = errors
        self.book = book or {}
        self.fetched = fetched or {}
        self.sent: list[tuple] = []
        self.book_reads: list[str] = []

    def others_metrics(self):
        return self.others

    def fleet_series(self):
        return self.series

    def fleet_errors(self):
        return self.errors

    def answer_get(self, key):
        self.answer_reads.append(key)
        return self.answers.get(key)

    def answer_put(self, key, source, fetched_at, value):
        self.sent.append(("answer", key, source, fetched_at, value))

    def book_put(self, venue, rows, fetched_at):
        self.sent.append(("book", venue, rows, fetched_at))

    def book_get(self, coin):
        self.book_reads.append(coin)
        return self.book.get(coin)

    def book_fetched(self, venue):
        return self.fetched.get(venue, 0.0)


def frozen_time(monkeypatch, module, now: float, monotonic: float = 0.0) -> SimpleNamespace:
    """`module` reads this wall clock (and monotonic clock) instead of the real ones."""
    fake = SimpleNamespace(time=lambda: fake.now, monotonic=lambda: fake.mono, now=now,
                           mono=monotonic)
    monkeypatch.setattr(module, "time", fake)
    return fake


def quote(symbol="BTC", price=100.0, ts=1.0) -> Quote:
    return Quote(symbol, price, "v", ts, "USD")


def saved_rows(path, select):
    conn = connect(path)
    try:
        return conn.execute(select).fetchall()
    finally:
        conn.close()


# -- metrics: what one replica shows ----------------------------------------------------------

def test_latencies_are_shown_to_a_tenth_of_a_millisecond(clock):
    m = Metrics(Persistence(None), clock=clock)
    for ms in (100.0, 200.0, 100.37):
        m.upstream_call("a", ms, 200)
    assert m.provider_view("a")["latency_ms"] == {"avg": 133.5, "p50": 100.4, "p95": 190.0}


def test_rates_are_shown_to_four_places_and_times_to_their_unit(clock, monkeypatch):
    fake = frozen_time(monkeypatch, metrics_mod, T0)
    m = Metrics(Persistence(None), clock=clock)
    m.started_at = T0 - 100.44
    m.user_request(10.0, cache_hit=True)
    m.user_request(0.0, cache_hit=False)
    m.user_request(0.0, cache_hit=False)
    m.upstream_call("a", 1.0, 200)
    m.upstream_call("b", 1.0, 200)
    m.upstream_call("b", 1.0, 200)
    m.attempt("a")
    m.success("a")
    m.failure("a", "http", "HTTP 500", "x")
    m.failure("a", "timeout", "slow", "x")
    t = m.totals_view()
    assert t["cache_hit_rate"] == 0.3333 and t["upstream_per_request"] == 1.0
    assert t["avg_response_ms"] == 3.33 and t["uptime_s"] == 100.4
    m.upstream_call("c", 1.0, 200)
    assert m.totals_view()["upstream_per_request"] == 1.3333
    v = m.provider_view("a")
    assert v["success_rate_all"] == 0.3333 and v["share"] == 0.25
    assert m.provider_view("b")["share"] == 0.5
    fake.now = T0 + 0.06
    assert m.totals_view()["uptime_s"] == 100.5


def test_failure_text_is_cut_at_300_characters(clock):
    m = Metrics(Persistence(None), clock=clock)
    m.failure("a", "http", "x" * 250, "x")
    assert m.provider_view("a")["last_error"] == "x" * 250
    m.failure("a", "http", "y" * 300, "x")
    assert m.provider_view("a")["last_error"] == "y" * 300
    m.failure("a", "http", "z" * 301, "x")
    assert m.provider_view("a")["last_error"] == "z" * 299 + "…"
    assert m.errors_view()[-1]["message"] == "z" * 299 + "…"


def test_epochs_in_failure_text_are_read_on_the_metrics_clock():
    # the router's clock says 2001: an epoch of that day is a time, one of 2023 is not
    m = Metrics(Persistence(None), clock=SteppedClock(1_000_000_000.0))
    m.failure("a", "http", "retry at 1000000060", "x")
    assert m.provider_view("a")["last_error"] == "retry at 01:47 UTC"
    m.failure("a", "http", "retry at 1700000000", "x")
    assert m.provider_view("a")["last_error"] == "retry at 1700000000"


def test_every_counted_failure_marks_the_metrics_for_saving(clock):
    m = Metrics(Persistence(None), clock=clock)
    m._dirty = False
    m.failure("a", "unknown_symbol", "no such coin", "x")
    assert m._dirty is True
    m._dirty = False
    m.failure("a", "http", "HTTP 500", "x")
    assert m._dirty is True


def test_successes_and_upstream_calls_mark_the_metrics_for_saving(clock):
    m = Metrics(Persistence(None), clock=clock)
    m._dirty = False
    m.success("a")
    assert m._dirty is True
    m._dirty = False
    m.upstream_call("a", 1.0, 200)
    assert m._dirty is True


def test_a_provider_keeps_its_last_100_outcomes_and_200_errors(clock):
    m = Metrics(Persistence(None), clock=clock)
    for i in range(101):
        clock.set(T0 + i)
        m.success("a")
    assert len(m.outcomes("a")) == 100 and m.outcomes("a")[0] == (T0 + 1, True)
    for i in range(201):
        clock.set(T0 + 200 + i)
        m.failure("a", "http", f"e{i}", "x")
    errors = m.errors_view()
    assert len(errors) == 200 and errors[0]["message"] == "e1"
    assert len(m.outcomes("a")) == 100


def test_errors_since_a_clock_that_starts_at_zero():
    clock = SteppedClock(0.5)
    m = Metrics(Persistence(None), clock=clock)
    m.failure("a", "http", "early", "x")
    assert [e["message"] for e in m.errors_view()] == ["early"]
    assert m.errors_view(since=0.5) == []


# -- metrics: the fleet --------------------------------------------------------------------------

def test_a_providers_counters_add_up_over_the_fleet(clock):
    m = Metrics(Persistence(None), clock=clock)
    m.attempt("a")
    m.upstream_call("a", 100.0, 200)
    m.success("a")
    clock.advance(10)
    m.failure("a", "http", "local down", "x")
    m.http_cache_hit("a")
    m.budget_skip("a")
    m.hedge("a")
    m.shared = Fleet(others=[
        {"totals": {"upstream_calls": 5},
         "providers": {"a": {"requests": 3, "successes": 2, "upstream_calls": 4,
                             "http_cache_hits": 1, "rate_limit_answers": 1, "budget_skips": 0,
                             "failures": {"http": 1, "rate_limit": 1},
                             "last_success": T0 + 20, "last_error": "their error",
                             "last_error_at": T0 + 30, "last_status": 429}}},
        {"totals": {}},                                           # knows nothing of "a"
        {"providers": {"a": {"requests": 1, "last_error": "same instant",
                             "last_error_at": T0 + 30, "last_status": 500}}},
        {"providers": {"a": {"successes": 0}, "b": {"requests": 9}}},
    ])
    v = m.provider_view("a")
    assert v == {
        "requests": 5, "successes": 3, "failures": {"http": 2, "rate_limit": 1},
        "upstream_calls": 5, "http_cache_hits": 2, "rate_limit_hits": 1, "budget_skips": 1,
        "hedges": 1, "success_rate_all": 0.5,
        "latency_ms": {"avg": 100.0, "p50": 100.0, "p95": 100.0},
        "share": 0.8333,                              # 5 of the fleet's 6 upstream calls
        "last_success": T0 + 20, "last_error": "their error", "last_error_at": T0 + 30,
        "last_status": 429,
    }


def test_what_other_replicas_never_saw_keeps_this_replicas_values(clock):
    m = Metrics(Persistence(None), clock=clock)
    m.upstream_call("z", 10.0, 200)
    m.shared = Fleet(others=[{"providers": {"z": {"requests": 1}}}])
    v = m.provider_view("z")
    assert v["requests"] == 1 and v["upstream_calls"] == 1 and v["share"] == 1.0
    assert v["last_success"] is None and v["last_error"] is None
    assert v["last_error_at"] is None and v["last_status"] == 200


def test_totals_add_up_over_the_fleet(clock, monkeypatch):
    frozen_time(monkeypatch, metrics_mod, T0)
    m = Metrics(Persistence(None), clock=clock)
    m.started_at = T0 - 5
    m.user_request(20.0, cache_hit=False)
    m.shared = Fleet(others=[
        {"totals": {"requests": 2, "cache_hits": 1, "upstream_calls": 3, "stale": 1,
                    "errors": 1, "hedges": 2, "note": "not a count"},
         "response_ms_sum": 40.0},
        {"providers": {}},
    ])
    assert m.totals_view() == {
        "requests": 3, "cache_hits": 1, "cache_hit_rate": 0.3333, "upstream_calls": 3,
        "upstream_per_request": 1.0, "avg_response_ms": 20.0, "stale_answers": 1,
        "errors": 1, "hedges": 2, "uptime_s": 5.0,
    }


def test_the_fleets_series_with_what_this_replica_has_not_pushed(clock, monkeypatch):
    now = T0 + 30.0
    frozen_time(monkeypatch, metrics_mod, now)
    minute = int(now // 60)
    cutoff = minute - 24 * 60
    m = Metrics(Persistence(None), clock=clock)
    m.shared = Fleet(series={(minute, "b"): 2, (minute - 1, "a"): 1, (cutoff, "edge"): 5,
                             (cutoff + 1, "in"): 3})
    m.upstream_call("b", 1.0, 200)
    m.upstream_call("a", 1.0, 200)
    assert m.series_view() == [
        {"minute": (cutoff + 1) * 60, "provider": "in", "calls": 3},
        {"minute": (minute - 1) * 60, "provider": "a", "calls": 1},
        {"minute": minute * 60, "provider": "a", "calls": 1},
        {"minute": minute * 60, "provider": "b", "calls": 3},
    ]
    assert m.series_view(hours=1) == m.series_view()[1:]


def test_upstream_calls_wait_for_the_fleet_counted_per_minute(clock, monkeypatch):
    fake = frozen_time(monkeypatch, metrics_mod, T0 + 30.0)
    minute = int((T0 + 30.0) // 60)
    m = Metrics(Persistence(None), clock=clock)
    m.upstream_call("a", 1.0, 200)              # alone: nothing waits for a fleet
    assert m._series_delta == {}
    m.shared = Fleet(series={})
    m.upstream_call("a", 1.0, 200)
    m.upstream_call("a", 1.0, 200)
    fake.now = T0 + 90.0
    m.upstream_call("a", 1.0, 200)
    assert m._series_delta == {(minute, "a"): 2, (minute + 1, "a"): 1}
    assert m.series_view() == [{"minute": minute * 60, "provider": "a", "calls": 2},
                               {"minute": (minute + 1) * 60, "provider": "a", "calls": 1}]


def test_the_fleets_errors_with_this_replicas_unpushed_ones_oldest_first(clock):
    m = Metrics(Persistence(None), clock=clock)
    m.shared = Fleet(errors=[
        {"time": T0 + 5, "provider": "b", "kind": "http", "message": "from b",
         "action": "tried the next provider", "extra": "dropped"},
        {"time": T0, "provider": "c", "kind": "timeout", "message": "from c", "action": "x"},
        {"time": int(T0 + 1), "provider": "d", "kind": "http", "message": 503,
         "action": "x"},
    ])
    clock.advance(3)
    m.failure("a", "http", "mine", "cooldown 60 s")
    errors = m.errors_view(since=T0)
    assert errors == [
        {"time": T0 + 1, "provider": "d", "kind": "http", "message": "503", "action": "x"},
        {"time": T0 + 3, "provider": "a", "kind": "http", "message": "mine",
         "action": "cooldown 60 s"},
        {"time": T0 + 5, "provider": "b", "kind": "http", "message": "from b",
         "action": "tried the next provider"},
    ]
    assert [e["message"] for e in m.errors_view()] == ["from c", "503", "mine", "from b"]


def test_errors_wait_for_the_fleet_in_order_and_at_most_200(clock):
    m = Metrics(Persistence(None), clock=clock)
    m.shared = Fleet(errors=[])
    m.failure("a", "http", "first", "x")
    clock.advance(1)
    m.failure("a", "http", "second", "x")
    assert [e["message"] for e in m._error_queue] == ["first", "second"]
    assert [e["message"] for e in m.errors_view()] == ["first", "second"]
    for i in range(205):
        m.failure("b", "http", f"e{i}", "x")
    assert len(m._error_queue) == 200
    assert m._error_queue[0]["message"] == "e5" and m._error_queue[-1]["message"] == "e204"


# -- metrics: saved and reloaded --------------------------------------------------------------

def test_a_snapshot_stores_exactly_the_provider_fields(tmp_path, clock):
    m = Metrics(Persistence(tmp_path), flush_every_s=3600, clock=clock)
    m.failure("a", "http", "HTTP 500", "x")
    m.close()
    [(data,)] = saved_rows(tmp_path / METRICS_FILE, "SELECT data FROM metrics")
    saved = json.loads(data)["providers"]["a"]
    assert sorted(saved) == sorted([
        "requests", "successes", "failures", "upstream_calls", "http_cache_hits",
        "rate_limit_answers", "budget_skips", "hedges", "latencies", "last_success",
        "last_error", "last_error_at", "last_status", "outcomes", "errors"])
    assert saved["failures"] == {"http": 1}


def test_a_snapshot_without_totals_still_loads(tmp_path, clock):
    Metrics(Persistence(tmp_path), flush_every_s=3600, clock=clock).close()
    conn = connect(tmp_path / METRICS_FILE)
    with conn:
        conn.execute("UPDATE metrics SET data = ? WHERE id = 1",
                     (json.dumps({"response_ms_sum": 7.5}),))
    conn.close()
    persistence = Persistence(tmp_path)
    m = Metrics(persistence, flush_every_s=3600, clock=clock)
    try:
        assert m.response_ms_sum == 7.5 and m.totals_view()["requests"] == 0
        assert persistence.view()["dropped"] == []
    finally:
        m.close()


def test_unreadable_metrics_are_dropped_with_the_reason(tmp_path, clock):
    conn = sqlite3.connect(tmp_path / METRICS_FILE)
    conn.execute("CREATE TABLE metrics (id INTEGER PRIMARY KEY, other TEXT)")
    conn.commit()
    conn.close()
    persistence = Persistence(tmp_path)
    m = Metrics(persistence, flush_every_s=3600, clock=clock)
    m._stop.set()
    [d] = persistence.view()["dropped"]
    assert (d["file"], d["what"], d["error"]) == (METRICS_FILE, "metrics",
                                                  "OperationalError: no such column: data")


def test_a_damaged_metrics_snapshot_is_dropped_with_the_reason(tmp_path, clock):
    Metrics(Persistence(tmp_path), flush_every_s=3600, clock=clock).close()
    conn = connect(tmp_path / METRICS_FILE)
    with conn:
        conn.execute("UPDATE metrics SET data = ? WHERE id = 1",
                     (json.dumps({"providers": {"a": {"requests": "many"}}}),))
    conn.close()
    persistence = Persistence(tmp_path)
    m = Metrics(persistence, flush_every_s=3600, clock=clock)
    try:
        [d] = persistence.view()["dropped"]
        assert (d["file"], d["what"], d["error"]) == (METRICS_FILE, "metrics",
                                                      "TypeError: 'many' is not a count")
    finally:
        m.close()


# -- the answer store ---------------------------------------------------------------------------

def test_the_store_holds_exactly_its_cap(clock, monkeypatch):
    monkeypatch.setattr(answers_mod, "MAX_ENTRIES", 1500)
    store = AnswerStore(Persistence(None), clock=clock)
    for i in range(1500):
        store.put(f"k:{i}", quote(), "a", fetched_at=float(i))
    assert len(store) == 1500 and store.get("k:0") is not None


def test_answers_evicted_before_a_save_are_not_written(tmp_path, clock, monkeypatch):
    monkeypatch.setattr(answers_mod, "MAX_ENTRIES", 1000)
    store = AnswerStore(Persistence(tmp_path), flush_every_s=3600, clock=clock)
    for i in range(1001):
        store.put(f"k:{i}", quote(), "a", fetched_at=float(i))
    store.close()
    assert saved_rows(tmp_path / "answers.sqlite", "SELECT key FROM answers") == [("k:1000",)]


def test_counts_are_by_the_first_part_of_the_key(clock):
    store = AnswerStore(Persistence(None), clock=clock)
    store.put("candles:BTC:1h", [], "a")
    store.put("candles:ETH:1d", [], "a")
    store.put("quote:BTC", quote(), "a")
    assert store.counts() == {"candles": 2, "quote": 1}


def test_an_unreadable_row_does_not_hide_the_rows_after_it(tmp_path, clock):
    Persistence(tmp_path).file("answers.sqlite", answers_mod.SCHEMA)
    conn = connect(tmp_path / "answers.sqlite")
    with conn:
        conn.execute("INSERT INTO answers VALUES ('bad', 's', 1.0, 'not json')")
        conn.execute("INSERT INTO answers VALUES ('quote:BTC', 'alpha', 5.0, ?)",
                     (json.dumps(encode(quote())),))
    conn.close()
    store = AnswerStore(Persistence(tmp_path), flush_every_s=3600, clock=clock)
    try:
        assert len(store) == 1 and store.get("quote:BTC").value == quote()
        assert store.get("quote:BTC").source == "alpha"
    finally:
        store.close()


def test_an_unreadable_answers_table_is_dropped_with_the_reason(tmp_path, clock):
    conn = sqlite3.connect(tmp_path / "answers.sqlite")
    conn.execute("CREATE TABLE answers (key TEXT PRIMARY KEY)")
    conn.commit()
    conn.close()
    persistence = Persistence(tmp_path)
    store = AnswerStore(persistence, flush_every_s=3600, clock=clock)
    try:
        assert len(store) == 0
        [d] = persistence.view()["dropped"]
        assert (d["file"], d["what"], d["error"]) == ("answers.sqlite", "answers",
                                                      "OperationalError: no such column: source")
    finally:
        store._stop.set()


def test_an_answer_goes_to_the_fleet_as_stored(clock):
    fleet = Fleet()
    store = AnswerStore(Persistence(None), clock=clock, shared=fleet)
    store.put("quote:BTC", quote(), "alpha")
    store.put("quote:ETH", quote("ETH"), "beta", fetched_at=T0 - 5)
    assert fleet.sent == [("answer", "quote:BTC", "alpha", T0, encode(quote())),
                          ("answer", "quote:ETH", "beta", T0 - 5, encode(quote("ETH")))]


def test_a_fresh_local_answer_needs_no_fleet_read(clock):
    fleet = Fleet()
    store = AnswerStore(Persistence(None), clock=clock, shared=fleet)
    store.put("quote:BTC", quote(price=1.0), "alpha")
    clock.advance(5)
    assert store.get("quote:BTC", fresh_s=5.5).value.price == 1.0
    assert fleet.answer_reads == []


def test_an_answer_as_old_as_fresh_asks_the_fleet_for_a_newer_one(clock):
    fleet = Fleet()
    store = AnswerStore(Persistence(None), clock=clock, shared=fleet)
    store.put("quote:BTC", quote(price=1.0), "alpha")
    fleet.answers["quote:BTC"] = ("beta", T0 + 4, encode(quote(price=2.0)))
    clock.advance(5)
    got = store.get("quote:BTC", fresh_s=5.0)
    assert (got.source, got.fetched_at, got.value.price) == ("beta", T0 + 4, 2.0)
    assert fleet.answer_reads == ["quote:BTC"]
    clock.advance(10)
    assert store.get("quote:BTC", fresh_s=5.0).source == "beta"    # stale here too: asked
    assert fleet.answer_reads == ["quote:BTC", "quote:BTC"]


def test_an_answer_only_the_fleet_has_is_taken(clock):
    fleet = Fleet(answers={"quote:ETH": ("beta", T0 - 1, encode(quote("ETH")))})
    store = AnswerStore(Persistence(None), clock=clock, shared=fleet)
    got = store.get("quote:ETH", fresh_s=30.0)
    assert (got.key, got.source, got.fetched_at, got.value) == ("quote:ETH", "beta", T0 - 1,
                                                                quote("ETH"))
    assert store.get("quote:SOL", fresh_s=30.0) is None
    assert fleet.answer_reads == ["quote:ETH", "quote:SOL"]
    assert store.get("quote:ETH", fresh_s=30.0) == got and len(fleet.answer_reads) == 2


def test_the_local_answer_wins_a_tie_and_over_an_unreadable_one(clock):
    fleet = Fleet()
    store = AnswerStore(Persistence(None), clock=clock, shared=fleet)
    store.put("quote:BTC", quote(price=1.0), "alpha")
    fleet.answers["quote:BTC"] = ("beta", T0, encode(quote(price=2.0)))
    assert store.get("quote:BTC").source == "alpha"
    fleet.answers["quote:BTC"] = ("beta", T0 + 1, {"t": "NoSuchType", "d": {}})
    assert store.get("quote:BTC").source == "alpha"
    fleet.answers["quote:BTC"] = ("beta", T0 + 1, encode(quote(price=2.0)))
    assert store.get("quote:BTC").value.price == 2.0
    fleet.answers.clear()
    assert store.get("quote:BTC").source == "beta"          # kept here once taken


def test_the_background_savers_default_periods_names_and_daemons(tmp_path, monkeypatch):
    periods = []
    monkeypatch.setattr(AnswerStore, "_save_loop", lambda self, every: periods.append(every))
    monkeypatch.setattr(QuoteBook, "_save_loop", lambda self, every: periods.append(every))
    monkeypatch.setattr(Metrics, "_flush_loop", lambda self, every: periods.append(every))
    persistence = Persistence(tmp_path)
    stores = [AnswerStore(persistence), QuoteBook(persistence), Metrics(persistence)]
    for s in stores:
        s._thread.join(timeout=5)
    assert periods == [2.0, 2.0, 5.0]
    assert [(s._thread.name, s._thread.daemon) for s in stores] == [
        ("answers.sqlite-flush", True), ("quotes.sqlite-flush", True), ("metrics-flush", True)]
    assert not stores[2]._dirty                       # a fresh start has nothing to save
    for s in stores:
        s.close()


def test_closing_metrics_waits_at_most_five_seconds_for_the_saver(tmp_path, clock):
    m = Metrics(Persistence(tmp_path), flush_every_s=3600, clock=clock)
    real = m._thread
    m._thread = JoinRecorder()
    m.close()
    real.join(timeout=5)
    assert m._thread.timeouts == [5] and not real.is_alive()


def test_a_metrics_table_of_another_shape_fails_saving_with_the_reason(tmp_path, clock):
    conn = sqlite3.connect(tmp_path / METRICS_FILE)
    conn.execute("CREATE TABLE metrics (id INTEGER PRIMARY KEY, data TEXT)")
    conn.commit()
    conn.close()
    persistence = Persistence(tmp_path)
    m = Metrics(persistence, flush_every_s=3600, clock=clock)
    m._stop.set()
    m.user_request(1.0, cache_hit=True)
    m.flush()
    assert persistence.view()["last_save_error"]["error"] == (
        "table metrics has no column named saved_at")
    assert m._dirty


def test_a_failed_save_of_answers_is_retried_and_then_done(tmp_path, clock):
    persistence = Persistence(tmp_path)
    store = AnswerStore(persistence, flush_every_s=3600, clock=clock)
    path = tmp_path / "answers.sqlite"
    try:
        store.put("quote:BTC", quote(), "alpha")
        path.rename(tmp_path / "aside")
        path.mkdir()                          # the file is now a directory: saving fails
        store.flush()
        assert persistence.view()["saving"] == "failing"
        assert persistence.view()["last_save_error"]["file"] == "answers.sqlite"
        path.rmdir()
        (tmp_path / "aside").rename(path)
        store.flush()
        assert persistence.view()["saving"] == "ok"
        assert saved_rows(path, "SELECT key FROM answers") == [("quote:BTC",)]
        assert store._dirty == set()          # written once: nothing left to write again
    finally:
        store._stop.set()


class JoinRecorder:
    def __init__(self):
        self.timeouts = []

    def join(self, timeout=None):
        self.timeouts.append(timeout)


def test_closing_waits_at_most_five_seconds_for_the_saver(tmp_path, clock):
    store = AnswerStore(Persistence(tmp_path), flush_every_s=3600, clock=clock)
    real = store._thread
    store._thread = JoinRecorder()
    store.close()
    real.join(timeout=5)
    assert store._thread.timeouts == [5] and not real.is_alive()


class StopAfter:
    """A stop event for a save loop: says "not yet" `ticks` times, then "stop"."""

    def __init__(self, ticks: int):
        self.ticks, self.waits = ticks, []

    def wait(self, timeout=None):
        self.waits.append(timeout)
        return len(self.waits) > self.ticks


def test_the_save_loop_waits_its_period_between_saves(tmp_path, clock):
    store = AnswerStore(Persistence(tmp_path), flush_every_s=3600, clock=clock)
    real_stop = store._stop
    try:
        store.put("quote:BTC", quote(), "alpha")
        store._stop = StopAfter(1)
        store._save_loop(0.25)
        assert store._stop.waits == [0.25, 0.25]
        assert saved_rows(tmp_path / "answers.sqlite", "SELECT key FROM answers") == [
            ("quote:BTC",)]
    finally:
        store._stop = real_stop
        store.close()


# -- the quote book -----------------------------------------------------------------------------

def write_quotes(tmp_path, rows) -> None:
    Persistence(tmp_path).file("quotes.sqlite", quotebook_mod.SCHEMA)
    conn = connect(tmp_path / "quotes.sqlite")
    with conn:
        conn.executemany("INSERT INTO quotes VALUES (?, ?, ?, ?, ?)", rows)
    conn.close()


def test_a_reloaded_book_knows_each_venues_latest_snapshot(tmp_path, clock):
    q = json.dumps(encode(quote()))
    write_quotes(tmp_path, [("a", "XRP", 1.0, 0.0, "garbage"),
                            ("a", "BTC", T0 + 5, 0.0, q), ("a", "ETH", T0, 0.0, q),
                            ("b", "BTC", 0.5, 2.0, q)])
    book = QuoteBook(Persistence(tmp_path), clock=clock, flush_every_s=3600)
    try:
        assert book.last_fetch("a") == T0 + 5 and book.last_fetch("b") == 0.5
        assert sorted(book.coins()) == ["BTC", "ETH"] and len(book) == 3
        assert book.get("b", "BTC").lag_s == 2.0
    finally:
        book.close()


def test_an_unreadable_quotes_table_is_dropped_with_the_reason(tmp_path, clock):
    conn = sqlite3.connect(tmp_path / "quotes.sqlite")
    conn.execute("CREATE TABLE quotes (venue TEXT, coin TEXT)")
    conn.commit()
    conn.close()
    persistence = Persistence(tmp_path)
    book = QuoteBook(persistence, clock=clock, flush_every_s=3600)
    try:
        assert len(book) == 0
        [d] = persistence.view()["dropped"]
        assert (d["file"], d["what"], d["error"]) == (
            "quotes.sqlite", "quotes", "OperationalError: no such column: fetched_at")
    finally:
        book._stop.set()


def test_book_times_near_zero_are_kept_as_they_are():
    book = QuoteBook(clock=SteppedClock(0.5))
    book.put("a", {"BTC": quote()})
    assert book.last_fetch("a") == 0.5


def test_a_quote_stamped_at_one_second_has_a_lag(clock, monkeypatch):
    frozen_time(monkeypatch, quotebook_mod, T0 + 100)
    book = QuoteBook(clock=clock)
    book.put("a", {"BTC": quote(ts=1.0), "ETH": quote("ETH", ts=0.0)})
    assert book.get("a", "BTC").lag_s == T0 + 99 and book.get("a", "ETH").lag_s == 0.0


def test_a_snapshot_goes_to_the_fleet_with_its_lags(clock, monkeypatch):
    frozen_time(monkeypatch, quotebook_mod, T0 + 100)
    fleet = Fleet()
    book = QuoteBook(clock=clock, shared=fleet)
    btc, eth = quote(ts=T0 + 97), quote("ETH", ts=0.0)
    book.put("a", {"BTC": btc, "ETH": eth})
    book.put("b", {"BTC": btc}, fetched_at=T0 - 7)
    assert fleet.sent == [
        ("book", "a", {"BTC": (T0, 3.0, encode(btc)), "ETH": (T0, 0.0, encode(eth))}, T0),
        ("book", "b", {"BTC": (T0 - 7, 3.0, encode(btc))}, T0 - 7),
    ]


def test_the_last_fetch_of_a_venue_is_the_latest_of_any_replica(clock):
    book = QuoteBook(clock=clock, shared=Fleet(fetched={"a": T0 + 9, "b": T0 - 9}))
    book.put("a", {"BTC": quote()})
    book.put("b", {"BTC": quote()})
    assert book.last_fetch("a") == T0 + 9 and book.last_fetch("b") == T0
    assert book.last_fetch("c") == 0.0


def test_the_shared_book_is_read_per_coin_at_most_every_period(clock, monkeypatch):
    monkeypatch.setattr(quotebook_mod, "SHARED_READ_EVERY_S", 0.5)
    fake = frozen_time(monkeypatch, quotebook_mod, T0, monotonic=1.0)
    remote = {"x": (T0, 0.0, encode(quote(price=7.0)))}
    fleet = Fleet(book={"BTC": remote})
    book = QuoteBook(clock=clock, shared=fleet)
    assert set(book.quotes("BTC")) == {"x"} and book.get("x", "BTC").quote.price == 7.0
    assert book.version("BTC") == 1 and fleet.book_reads == ["BTC"]
    fake.mono = 1.25
    book.quotes("BTC")
    book.quotes("ETH")
    assert fleet.book_reads == ["BTC", "ETH"]
    fake.mono = 1.5                                        # exactly one period later
    book.version("BTC")
    assert fleet.book_reads == ["BTC", "ETH", "BTC"]
    book.reread()
    book.quotes("BTC")
    assert fleet.book_reads == ["BTC", "ETH", "BTC", "BTC"]


# -- the DATA_DIR -------------------------------------------------------------------------------

def damaged_freelist(path) -> int:
    """A database SQLite opens but whose integrity check fails; returns the true freelist size."""
    conn = connect(path)
    conn.execute("CREATE TABLE t (a, b)")
    with conn:
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x" * 100) for i in range(2000)])
    with conn:
        conn.execute("DELETE FROM t WHERE a < 1000")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    free = int.from_bytes(data[36:40], "big")
    with open(path, "r+b") as f:
        f.seek(36)
        f.write((free + 5).to_bytes(4, "big"))
    return free


def test_a_file_failing_its_integrity_check_is_moved_aside_with_the_check_words(tmp_path):
    path = tmp_path / "x.sqlite"
    free = damaged_freelist(path)
    damaged = path.read_bytes()
    p = Persistence(tmp_path)
    assert p.file("x.sqlite", "CREATE TABLE IF NOT EXISTS q (a);") == path
    [entry] = p.view()["quarantined"]
    assert entry["error"] == ("integrity check failed: *** in database main ***\n"
                              f"Main freelist: size is {free} but should be {free + 5}")
    assert (tmp_path / entry["moved_to"]).read_bytes() == damaged
    assert saved_rows(path, "SELECT name FROM sqlite_master") == [("q",)]
    assert p.mode == SQLITE


def test_a_damaged_files_long_error_is_cut_to_200(tmp_path):
    name = "t" + "x" * 250
    path = tmp_path / "x.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE {name} (a)")
    conn.commit()
    conn.close()
    data = path.read_bytes()
    path.write_bytes(data.replace(b"CREATE TABLE " + name.encode(),
                                  b"CREATE TABLX " + name.encode()))
    p = Persistence(tmp_path)
    assert p.file("x.sqlite") == path
    [entry] = p.view()["quarantined"]
    assert entry["error"] == ("malformed database schema (" + name)[:200]


def test_the_wal_of_a_damaged_file_open_elsewhere_moves_with_it(tmp_path):
    path = tmp_path / "x.sqlite"
    damaged_freelist(path)
    other = connect(path)          # another process still has it open: its WAL stays
    try:
        other.execute("SELECT count(*) FROM sqlite_master").fetchone()
        p = Persistence(tmp_path)
        assert p.file("x.sqlite") == path
        moved = p.view()["quarantined"][0]["moved_to"]
        names = sorted(f.name for f in tmp_path.iterdir())
        assert f"{moved}-wal" in names and f"{moved}-shm" in names
        assert names.count("x.sqlite") == 1
    finally:
        other.close()


def test_a_damaged_file_whose_wal_cannot_move_means_memory(tmp_path, monkeypatch):
    path = tmp_path / "x.sqlite"
    damaged_freelist(path)
    other = connect(path)
    real_replace = os.replace

    def replace(src, dst):
        if str(src).endswith("-wal"):
            raise PermissionError(13, "Permission denied")
        return real_replace(src, dst)
    try:
        other.execute("SELECT count(*) FROM sqlite_master").fetchone()
        p = Persistence(tmp_path)
        monkeypatch.setattr(persistence_mod.os, "replace", replace)
        assert p.file("x.sqlite") is None
        assert p.mode == MEMORY and p.view()["quarantined"] == []
        assert p.reason.startswith("x.sqlite is damaged (integrity check failed")
        assert p.reason.endswith("and cannot be moved aside: permission denied")
    finally:
        other.close()


@pytest.mark.parametrize("error, reason", [
    (sqlite3.DatabaseError("raised by Python, not SQLite"),
     "cannot open x.sqlite: raised by Python, not SQLite"),
    (OSError(28, "No space left on device"), "cannot open x.sqlite: no space left on device"),
])
def test_an_error_opening_a_file_means_memory_with_its_words(tmp_path, monkeypatch, error,
                                                             reason):
    def fail(path, schema):
        raise error
    p = Persistence(tmp_path)
    monkeypatch.setattr(persistence_mod, "_check", fail)
    assert p.file("x.sqlite") is None
    assert (p.mode, p.reason, p.view()["quarantined"]) == (MEMORY, reason, [])


def test_connections_wait_ten_seconds_for_a_lock(tmp_path):
    conn = connect(tmp_path / "x.sqlite")
    try:
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


@pytest.mark.parametrize("limit, mode", [(4096, SQLITE), (4095, MEMORY)])
def test_a_data_dir_must_take_a_4_kib_write(tmp_path, limit, mode):
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
        try:
            p = Persistence(tmp_path)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
    finally:
        signal.signal(signal.SIGXFSZ, old_handler)
    assert p.mode == mode and list(tmp_path.iterdir()) == []
    if mode == MEMORY:
        assert p.reason == f"DATA_DIR {tmp_path} is not usable: file too large"

