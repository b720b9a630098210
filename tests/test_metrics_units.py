"""routing/metrics.py in isolation: every counter the status pages show, the percentiles, and the
snapshot that survives a restart (or is dropped whole when it is damaged). In memory or on a
tmp_path SQLite file; the clock is stepped. Part of the mutation test set (setup.cfg [mutmut])."""
from __future__ import annotations

from collections import Counter

import json
import sqlite3
import time

import pytest

from routing.metrics import (FILE, LATENCY_WINDOW, ProviderStats, Metrics, _count, _error,
                             _health, _number, percentile)
from routing.persistence import Persistence, connect
from tests.clock import SteppedClock

T0 = 1_700_000_000.0


@pytest.fixture
def clock():
    return SteppedClock(T0)


def mem(clock) -> Metrics:
    return Metrics(Persistence(None), clock=clock)


def disk(tmp_path, clock) -> Metrics:
    # a flush period far beyond the test: only explicit flush()/close() write
    return Metrics(Persistence(tmp_path), flush_every_s=3600, clock=clock)


# -- percentile -----------------------------------------------------------------------------------

def test_percentile_interpolates_between_ranks():
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == pytest.approx(2.5)
    assert percentile([10.0, 20.0], 0.95) == pytest.approx(19.5)
    assert percentile([1.0, 2.0, 3.0], 1.0) == 3.0
    assert percentile([1.0, 2.0, 3.0], 0.0) == 1.0
    assert percentile(list(map(float, range(101))), 0.95) == pytest.approx(95.0)


# -- type checks of saved values ----------------------------------------------------------------

def test_saved_values_must_have_their_types():
    assert _number(3) == 3.0 and isinstance(_number(3), float) and _number(2.5) == 2.5
    assert _count(4) == 4
    for bad in (True, "1", None):
        with pytest.raises(TypeError):
            _number(bad)
    for bad in (False, 1.0, "1"):
        with pytest.raises(TypeError):
            _count(bad)
    assert _health({}) == {"blocked_until": 0.0, "open_until": 0.0, "opens": 0,
                           "block_state": "rate_limited", "block_reason": ""}
    assert _health({"blocked_until": 5, "open_until": 6.5, "opens": 2, "block_state": "disabled",
                    "block_reason": "r"}) == {"blocked_until": 5.0, "open_until": 6.5,
                                              "opens": 2, "block_state": "disabled",
                                              "block_reason": "r"}
    with pytest.raises(TypeError):
        _health({"opens": 1.5})
    assert _error({"time": 1, "provider": "p", "kind": "k", "message": 5, "action": "a",
                   "extra": 1}) == {"time": 1.0, "provider": "p", "kind": "k", "message": "5",
                                    "action": "a"}
    with pytest.raises(KeyError):
        _error({"time": 1, "provider": "p", "kind": "k", "message": "m"})


def test_provider_stats_round_trip():
    s = ProviderStats()
    s.requests, s.successes, s.upstream_calls, s.http_cache_hits = 5, 3, 4, 2
    s.rate_limit_answers, s.budget_skips, s.hedges = 1, 6, 7
    s.failures["http"] = 2
    s.latencies.extend([10.0, 20.0])
    s.last_success, s.last_error, s.last_error_at, s.last_status = 9.5, "boom", 8.0, 503
    s.outcomes.append((1.0, True))
    s.errors.append({"time": 2.0, "provider": "p", "kind": "http", "message": "m",
                     "action": "a"})
    data = json.loads(json.dumps(s.to_json()))
    back = ProviderStats.from_json(data)
    assert back.to_json() == s.to_json()
    assert isinstance(back.failures["missing"], int)      # still a Counter
    assert back.latencies.maxlen == LATENCY_WINDOW
    assert ProviderStats.from_json({"last_status": None}).last_status is None


@pytest.mark.parametrize("field, value", [
    ("requests", 1.5), ("requests", "3"), ("last_error", 5), ("last_success", "x"),
    ("latencies", ["x"]), ("failures", {"http": 1.0}), ("last_status", "500"),
    ("outcomes", [["t", True]]),
])
def test_provider_stats_refuse_wrong_types(field, value):
    with pytest.raises(TypeError):
        ProviderStats.from_json({field: value})


def test_provider_stats_keep_float_fields_float_and_ignore_unknown_keys():
    s = ProviderStats.from_json({"last_success": 3, "requests": 2, "no_such": "x"})
    assert s.last_success == 3.0 and isinstance(s.last_success, float)
    assert s.requests == 2 and not hasattr(s, "no_such")


# -- recording and views ------------------------------------------------------------------------

def test_user_requests_make_the_totals(clock):
    m = mem(clock)
    m.user_request(10.0, cache_hit=True)
    m.user_request(30.0, cache_hit=False, stale=True)
    m.user_request(20.0, cache_hit=False, error=True)
    m.user_request(40.0, cache_hit=True, stale=True, error=True)
    t = m.totals_view()
    assert t["requests"] == 4 and t["cache_hits"] == 2 and t["cache_hit_rate"] == 0.5
    assert t["stale_answers"] == 2 and t["errors"] == 2
    assert t["avg_response_ms"] == 25.0
    assert t["upstream_calls"] == 0 and t["upstream_per_request"] == 0.0 and t["hedges"] == 0
    assert 0 <= t["uptime_s"] < 60


def test_totals_of_nothing_are_zero_not_errors(clock):
    t = mem(clock).totals_view()
    assert t["requests"] == 0 and t["cache_hit_rate"] == 0.0
    assert t["upstream_per_request"] == 0.0 and t["avg_response_ms"] is None


def test_upstream_calls_latency_share_and_series(clock):
    m = mem(clock)
    m.user_request(1.0, cache_hit=False)
    m.user_request(1.0, cache_hit=False)
    for ms in (100.0, 200.0, 300.0):
        m.upstream_call("a", ms, 200)
    m.upstream_call("b", 50.0, 429)
    a, b = m.provider_view("a"), m.provider_view("b")
    assert a["upstream_calls"] == 3 and a["share"] == 0.75 and b["share"] == 0.25
    assert a["latency_ms"] == {"avg": 200.0, "p50": 200.0, "p95": 290.0}
    assert b["last_status"] == 429 and a["last_status"] == 200
    assert m.latency_p95_ms("a") == pytest.approx(290.0)
    assert m.latency_p95_ms("never") is None
    t = m.totals_view()
    assert t["upstream_calls"] == 4 and t["upstream_per_request"] == 2.0
    series = m.series_view()
    minute = int(time.time() // 60) * 60
    assert {(r["provider"], r["calls"]) for r in series} == {("a", 3), ("b", 1)}
    assert all(r["minute"] in (minute, minute - 60) for r in series)
    m.series[int(time.time() // 60) - 25 * 60] = {"old": 9}
    assert "old" not in {r["provider"] for r in m.series_view()}
    assert {r["provider"] for r in m.series_view(hours=26)} == {"a", "b", "old"}


def test_an_unused_provider_view_is_empty_not_an_error(clock):
    v = mem(clock).provider_view("x")
    assert v["requests"] == 0 and v["success_rate_all"] is None and v["share"] == 0.0
    assert v["latency_ms"] == {"avg": None, "p50": None, "p95": None}
    assert v["last_success"] is None and v["last_error"] is None and v["last_error_at"] is None
    assert v["last_status"] is None


def test_outcomes_errors_and_success_rate(clock):
    m = mem(clock)
    m.attempt("a")
    m.attempt("a")
    m.success("a")
    clock.advance(10)
    m.failure("a", "http", "HTTP 503: busy", "tried the next provider")
    m.failure("a", "rate_limit", "slow down", "cooldown 60 s")
    m.failure("a", "banned", "banned", "cooldown 600 s")
    m.failure("a", "unknown_symbol", "no DOGE", "tried the next provider")
    m.failure("a", "unsupported", "no candles", "tried the next provider")
    m.http_cache_hit("a")
    m.budget_skip("a")
    m.budget_skip("a")
    m.hedge("a")
    v = m.provider_view("a")
    assert v["requests"] == 2 and v["successes"] == 1
    assert v["failures"] == {"http": 1, "rate_limit": 1, "banned": 1, "unknown_symbol": 1,
                             "unsupported": 1}
    assert v["rate_limit_hits"] == 2 and v["http_cache_hits"] == 1
    assert v["budget_skips"] == 2 and v["hedges"] == 1 and m.totals_view()["hedges"] == 1
    # the request's own faults (unknown symbol, unsupported) are not the provider's failures
    assert v["success_rate_all"] == 0.25
    assert v["last_success"] == T0 and v["last_error"] == "banned"
    assert v["last_error_at"] == T0 + 10
    assert m.outcomes("a") == [(T0, True), (T0 + 10, False), (T0 + 10, False), (T0 + 10, False)]
    errors = m.errors_view()
    assert [e["kind"] for e in errors] == ["http", "rate_limit", "banned"]
    assert errors[0] == {"time": T0 + 10, "provider": "a", "kind": "http",
                         "message": "HTTP 503: busy", "action": "tried the next provider"}
    assert m.errors_view(since=T0 + 10) == []
    assert len(m.errors_view(since=T0 + 9.9)) == 3


def test_errors_of_all_providers_oldest_first(clock):
    m = mem(clock)
    m.failure("b", "http", "one", "x")
    clock.advance(1)
    m.failure("a", "http", "two", "x")
    clock.advance(1)
    m.failure("b", "http", "three", "x")
    assert [e["message"] for e in m.errors_view()] == ["one", "two", "three"]


def test_failure_messages_are_humanized(clock):
    m = mem(clock)
    m.failure("a", "http", "<b>Bad</b> gateway", "x")
    assert m.provider_view("a")["last_error"] == "Bad gateway"


# -- persistence ---------------------------------------------------------------------------------

def test_memory_metrics_start_no_thread_and_flush_nothing(clock, tmp_path):
    m = mem(clock)
    assert m.path is None and m._thread is None
    m.user_request(1.0, cache_hit=True)
    m.flush()
    m.close()
    assert list(tmp_path.iterdir()) == []


def test_snapshot_survives_a_restart(tmp_path, clock):
    m = disk(tmp_path, clock)
    m.health_source = lambda: {"a": {"blocked_until": T0 + 30, "open_until": 0.0, "opens": 0,
                                     "block_state": "rate_limited", "block_reason": "429"}}
    m.user_request(12.0, cache_hit=True, stale=True)
    m.upstream_call("a", 80.0, 200)
    m.success("a")
    m.failure("a", "http", "HTTP 500", "tried the next provider")
    m.hedge("a")
    m.close()
    again = disk(tmp_path, clock)
    try:
        assert again.totals_view()["requests"] == 1
        assert again.totals_view()["stale_answers"] == 1
        assert again.totals_view()["avg_response_ms"] == 12.0
        assert again.totals_view()["hedges"] == 1
        v = again.provider_view("a")
        assert v["upstream_calls"] == 1 and v["successes"] == 1 and v["hedges"] == 1
        assert v["latency_ms"]["avg"] == 80.0 and v["last_error"] == "HTTP 500"
        assert again.errors_view()[0]["message"] == "HTTP 500"
        assert [r["calls"] for r in again.series_view()] == [1]
        assert again.health_state["a"]["blocked_until"] == T0 + 30
        assert again.health_state["a"]["block_reason"] == "429"
    finally:
        again.close()


def test_old_series_minutes_are_not_saved(tmp_path, clock):
    m = disk(tmp_path, clock)
    now_minute = int(time.time() // 60)
    m.series[now_minute - 24 * 60] = {"old": 1}
    m.series[now_minute - 24 * 60 + 1] = {"kept": 1}
    m.close()
    again = disk(tmp_path, clock)
    try:
        assert set(again.series) == {now_minute - 24 * 60 + 1}
    finally:
        again.close()


def write_snapshot(tmp_path, data) -> None:
    Persistence(tmp_path).file(FILE, "CREATE TABLE IF NOT EXISTS metrics (id INTEGER PRIMARY "
                                     "KEY, saved_at REAL, data TEXT);")
    conn = connect(tmp_path / FILE)
    with conn:
        conn.execute("INSERT OR REPLACE INTO metrics VALUES (1, 0, ?)", (json.dumps(data),))
    conn.close()


@pytest.mark.parametrize("data", [
    {"providers": {"a": {"requests": "many"}}},
    {"totals": {"requests": 1.5}},
    {"response_ms_sum": "x"},
    {"series": {"abc": {"a": 1}}},
    {"series": {"1": {"a": "1"}}},
    {"health": {"a": {"opens": "2"}}},
    {"providers": {"a": {"errors": [{"time": 1}]}}},
    {"providers": []},
])
def test_a_damaged_snapshot_is_dropped_whole_and_said(tmp_path, clock, data):
    write_snapshot(tmp_path, {"totals": {"requests": 3}, **data})
    persistence = Persistence(tmp_path)
    m = Metrics(persistence, flush_every_s=3600, clock=clock)
    try:
        assert m.totals_view()["requests"] == 0
        assert [d["file"] for d in persistence.view()["dropped"]] == [FILE]
        assert persistence.view()["dropped"][0]["what"] == "metrics"
    finally:
        m.close()


def test_a_good_snapshot_loads_with_defaults_for_what_it_lacks(tmp_path, clock):
    write_snapshot(tmp_path, {"totals": {"requests": 3, "cache_hits": 1}})
    m = Metrics(Persistence(tmp_path), flush_every_s=3600, clock=clock)
    try:
        assert m.totals_view()["requests"] == 3 and m.totals_view()["cache_hits"] == 1
        assert m.response_ms_sum == 0.0 and m.series == {} and m.health_state == {}
        assert m.persistence.view()["dropped"] == []
    finally:
        m.close()


def test_an_unreadable_table_is_dropped_and_said(tmp_path, clock):
    conn = sqlite3.connect(tmp_path / FILE)
    conn.execute("CREATE TABLE metrics (id INTEGER PRIMARY KEY, other TEXT)")
    conn.commit()
    conn.close()
    persistence = Persistence(tmp_path)
    m = Metrics(persistence, flush_every_s=3600, clock=clock)
    try:
        assert m.totals_view()["requests"] == 0
        assert persistence.view()["dropped"][0]["file"] == FILE
    finally:
        m._stop.set()


def test_a_failed_flush_keeps_the_data_dirty_for_the_next_tick(tmp_path, clock):
    persistence = Persistence(tmp_path)
    m = Metrics(persistence, flush_every_s=3600, clock=clock)
    try:
        m.user_request(1.0, cache_hit=True)
        (tmp_path / FILE).rename(tmp_path / "aside")
        (tmp_path / FILE).mkdir()            # the file is now a directory: saving fails
        m.flush()
        assert persistence.view()["saving"] == "failing" and m._dirty
        (tmp_path / FILE).rmdir()
        (tmp_path / "aside").rename(tmp_path / FILE)
        m.flush()
        assert persistence.view()["saving"] == "ok" and not m._dirty
    finally:
        m._stop.set()


def test_the_background_thread_flushes_only_when_something_changed(tmp_path, clock):
    m = Metrics(Persistence(tmp_path), flush_every_s=0.01, clock=clock)
    try:
        assert m._thread is not None and m._thread.daemon and m._thread.name == "metrics-flush"
        m.user_request(5.0, cache_hit=False)
        deadline = time.monotonic() + 10       # safety bound only
        row = None
        while row is None and time.monotonic() < deadline:
            time.sleep(0.01)
            conn = connect(tmp_path / FILE)
            row = conn.execute("SELECT data FROM metrics WHERE id = 1").fetchone()
            conn.close()
        assert json.loads(row[0])["totals"] == {"requests": 1}
        assert not m._dirty
    finally:
        m.close()
    assert not m._thread.is_alive()


def test_hedges_add_up_and_mark_the_metrics_for_saving(tmp_path, clock):
    m = disk(tmp_path, clock)
    try:
        m.flush()
        assert not m._dirty
        m.hedge("a")
        assert m._dirty
        m.hedge("a")
        assert m.provider_view("a")["hedges"] == 2 and m.totals_view()["hedges"] == 2
    finally:
        m.close()


def test_series_view_window_edges(clock):
    m = mem(clock)
    while True:
        now_minute = int(time.time() // 60)
        m.series = {now_minute - 24 * 60: Counter({"edge": 1}),
                    now_minute - 24 * 60 + 1: Counter({"in": 1}),
                    now_minute - 24 * 60 - 10: Counter({"out": 1})}
        names = {r["provider"] for r in m.series_view()}
        if int(time.time() // 60) == now_minute:      # no minute turned over meanwhile
            break
    assert names == {"in"}


def test_a_wrong_text_field_says_which():
    with pytest.raises(TypeError) as e:
        ProviderStats.from_json({"last_error": 5})
    assert str(e.value) == "last_error is not text"


def test_http_cache_hits_add_up(clock):
    m = mem(clock)
    m.http_cache_hit("a")
    m.http_cache_hit("a")
    assert m.provider_view("a")["http_cache_hits"] == 2


def test_type_errors_say_what_was_wrong():
    with pytest.raises(TypeError) as e:
        _number("1")
    assert str(e.value) == "'1' is not a number"
    with pytest.raises(TypeError) as e:
        _count(1.5)
    assert str(e.value) == "1.5 is not a count"
