"""The router's small parts in isolation: input validation, the errors callers get, the health
gates (cooldown, breaker, probe), the answer store and quote book with their SQLite rows, the
persistence rules for a damaged or unusable DATA_DIR, the HTTP session's per-provider handle,
the repeat filter and build_router's environment. Stepped clocks, tmp_path files, no network
(the session is pointed at a closed local port). Part of the mutation test set."""
from __future__ import annotations

import json
import logging
import socket
import sqlite3
import time

import pytest
import requests

from providers.base import Quote, RateLimit, TopCoin, UpstreamError, UpstreamTimeout
from routing import build_router, log_repeats, validate
from routing.answers import AnswerStore, decode, encode
from routing.errors import InvalidInput, NoProviderAvailable
from routing.health import ProviderHealth
from routing.persistence import MEMORY, SQLITE, Persistence, connect
from routing.quotebook import KEEP_S, QuoteBook
from routing.session import (DEFAULT_MAX_MB, EXPIRY_S, BudgetExhausted, ProviderHTTP,
                             build_session, max_cache_bytes)
from tests.clock import SteppedClock

T0 = 1_700_000_000.0
KNOWN = frozenset({"BTC", "ETH", "SOL"})


# -- validate -----------------------------------------------------------------------------------

def test_symbol_is_trimmed_and_upper_cased():
    assert validate.symbol(" btc ", KNOWN) == "BTC"
    assert validate.symbol("Eth", KNOWN) == "ETH"


def test_a_bad_or_unknown_symbol_names_the_parameter():
    with pytest.raises(InvalidInput) as e:
        validate.symbol("BT-C", KNOWN)
    assert e.value.param == "symbol"
    assert e.value.message == "'BT-C' is not a ticker; use 1-15 letters or digits, e.g. BTC"
    with pytest.raises(InvalidInput) as e:
        validate.symbol(None, KNOWN, "coin")
    assert e.value.param == "coin" and e.value.message.startswith("'None' is not a ticker")
    with pytest.raises(InvalidInput) as e:
        validate.symbol("A" * 16, KNOWN)
    assert e.value.message.startswith(f"'{'A' * 16}' is not a ticker")
    with pytest.raises(InvalidInput) as e:
        validate.symbol("x" * 60 + "!", KNOWN)
    assert e.value.message.startswith(repr("x" * 40) + " is not a ticker")
    with pytest.raises(InvalidInput) as e:
        validate.symbol("doge", KNOWN)
    assert e.value.message == ("DOGE is not listed by any enabled provider; known tickers "
                               "include BTC, ETH, SOL, ...")
    many = frozenset(f"C{i:02d}" for i in range(20))
    with pytest.raises(InvalidInput) as e:
        validate.symbol("ZZ", many)
    assert e.value.message.endswith("include " + ", ".join(sorted(many)[:12]) + ", ...")


def test_symbols_from_a_list_or_a_comma_string():
    assert validate.symbols("btc, eth ETH,,sol", KNOWN) == ["BTC", "ETH", "SOL"]
    assert validate.symbols(("sol", "btc"), KNOWN) == ["SOL", "BTC"]
    assert validate.symbols(["BTC"] * 50, KNOWN) == ["BTC"]
    for bad in ("", " , ", [], None, 5):
        with pytest.raises(InvalidInput) as e:
            validate.symbols(bad, KNOWN)
        assert e.value.param == "symbols"
        assert e.value.message == "give 1 to 50 tickers, as a list or comma-separated, e.g. BTC,ETH"
    with pytest.raises(InvalidInput) as e:
        validate.symbols(["BTC"] * 51, KNOWN, "coins")
    assert e.value.param == "coins" and e.value.message == "51 tickers given; at most 50 per call"
    with pytest.raises(InvalidInput) as e:
        validate.symbols(["BTC", "NOPE"], KNOWN)
    assert e.value.param == "symbols" and e.value.message.startswith("NOPE is not listed")


def test_interval_is_canonical():
    assert validate.interval(" 1h ") == "1h"
    assert validate.interval("1H") == "1h"
    assert validate.interval("1W") == "1w"
    with pytest.raises(InvalidInput) as e:
        validate.interval("1M")             # a month is not a minute
    assert e.value.message.startswith("'1M' is not supported; use one of 1m, 5m, 15m")
    with pytest.raises(InvalidInput) as e:
        validate.interval(60, "timeframe")
    assert e.value.param == "timeframe"
    assert e.value.message == "must be one of 1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w"
    with pytest.raises(InvalidInput) as e:
        validate.interval("y" * 30)
    assert e.value.message.startswith(repr("y" * 20) + " is not supported")


def test_limit_is_an_integer_in_bounds():
    assert validate.limit("50", (1, 500)) == 50
    assert validate.limit(1, (1, 500)) == 1 and validate.limit(500, (1, 500)) == 500
    assert validate.limit(7.0, (1, 10)) == 7
    for bad, says in [(True, "'True' is not an integer; use 1 to 10"),
                      (2.5, "'2.5' is not an integer; use 1 to 10"),
                      ("x" * 30, f"{'x' * 20!r} is not an integer; use 1 to 10"),
                      (None, "'None' is not an integer; use 1 to 10"),
                      (0, "0 is out of range; use 1 to 10"), (11, "11 is out of range; use 1 to 10")]:
        with pytest.raises(InvalidInput) as e:
            validate.limit(bad, (1, 10), "n")
        assert e.value.param == "n" and e.value.message == says
    assert validate.CANDLE_LIMIT == (1, 500) and validate.TOP_LIMIT == (1, 100)
    assert validate.NEWS_LIMIT == (1, 50) and validate.BATCH_MAX == 50


# -- errors -------------------------------------------------------------------------------------

def test_invalid_input_to_dict():
    e = InvalidInput("limit", "0 is out of range")
    assert str(e) == "limit: 0 is out of range"
    assert e.to_dict() == {"error": "invalid_input", "param": "limit",
                           "detail": "limit: 0 is out of range"}


def test_no_provider_available_says_why_and_when():
    e = NoProviderAvailable("quote BTC", {"a": "HTTP 500", "b": "rate limited"}, 14.2)
    assert str(e) == "no provider could answer quote BTC (a: HTTP 500; b: rate limited); retry in 15 s"
    assert e.to_dict() == {"error": "no_provider_available", "detail": str(e),
                           "retry_after_s": 14.2, "providers": {"a": "HTTP 500", "b": "rate limited"}}
    assert e.sentence(now=T0) == ("All 2 price sources are failing right now; there is "
                                  "nothing saved to show yet. Next retry in 15 s.")
    assert "Next retry in" in e.sentence()
    low = NoProviderAvailable("top 5 coins", {}, 0.2)
    assert low.retry_after == 1.0
    assert str(low) == "no provider could answer top 5 coins (no provider offers it); retry in 1 s"
    assert low.sentence(now=T0).startswith("The market-cap source is failing right now")


# -- health gates -------------------------------------------------------------------------------

@pytest.fixture
def clock():
    return SteppedClock(T0)


def health(clock) -> ProviderHealth:
    return ProviderHealth("p", RateLimit(10, 60), clock=clock)


def test_budget_is_80_percent_of_the_limit_and_never_zero():
    assert ProviderHealth("p", RateLimit(10, 60)).budget.capacity == 8
    assert ProviderHealth("p", RateLimit(1, 60)).budget.capacity == 1
    b = ProviderHealth("p", RateLimit(5, 1)).budget
    assert b.capacity == 4 and b.window_ms == 1000
    assert b.try_spend(9)                      # a weight over the capacity costs the capacity
    assert b.remaining() == 0 and not b.try_spend(1)


def test_budget_spends_weights():
    b = ProviderHealth("p", RateLimit(10, 60)).budget
    assert b.try_spend(3) and b.remaining() == 5
    assert b.try_spend(0) and b.remaining() == 4          # a weight of 0 still costs one
    assert not b.try_spend(5) and b.remaining() == 4


def test_a_block_holds_until_its_time_and_keeps_the_later_one(clock):
    h = health(clock)
    h.block(30, "rate_limited", "HTTP 429: slow down")
    h.block(10, "rate_limited", "again")
    assert h.blocked_until == T0 + 30 and h.block_reason == "again"
    assert h.unavailable_reason() == "rate limited until 22:13:50Z (again)"
    assert h.reopens_at() == T0 + 30
    clock.advance(29.9)
    assert h.unavailable_reason() is not None
    clock.advance(0.1)
    assert h.unavailable_reason() is None
    h.block(600, "disabled", "access refused")
    assert h.unavailable_reason().startswith("disabled until ")


def test_breaker_opens_at_three_and_doubles_to_five_minutes(clock):
    h = health(clock)
    h.failure("e1")
    h.failure("e2")
    assert h.open_until == 0.0 and h.consecutive_failures == 2 and h.unavailable_reason() is None
    h.failure("e3")
    assert h.open_until == T0 + 15 and h.opens == 1 and h.block_reason == "e3"
    assert h.unavailable_reason() == "breaker open until 22:13:35Z (e3)"
    periods = []
    for _ in range(7):
        clock.set(h.open_until)
        assert h.claim()                         # the half-open probe
        assert h.unavailable_reason() == "breaker half-open, probe in flight"
        assert not h.claim()
        h.failure("again")
        periods.append(h.open_until - clock())
    assert periods == [30.0, 60.0, 120.0, 240.0, 300.0, 300.0, 300.0]
    clock.set(h.open_until)
    assert h.claim()
    h.release_probe()
    assert h.claim()
    h.success()
    assert (h.open_until, h.opens, h.consecutive_failures, h.probe_in_flight) == (0.0, 0, 0, False)
    assert h.unavailable_reason() is None and h.claim() and h.claim()


def test_a_block_ends_a_probe(clock):
    h = health(clock)
    for _ in range(3):
        h.failure("x")
    clock.advance(15)
    assert h.claim()
    h.block(5, "rate_limited", "429")
    assert not h.probe_in_flight
    assert h.reopens_at() == T0 + 20


def test_health_factor_is_the_smoothed_recent_success_rate(clock):
    h = health(clock)
    assert h.health_factor() == 1.0
    h.failure("x")
    assert h.health_factor() == 0.75
    for _ in range(30):
        h.failure("x")
    assert len(h.recent) == 20 and h.health_factor() == pytest.approx(3 / 23)
    for _ in range(30):
        h.deviating("off")
    assert h.health_factor() == pytest.approx(3 / 23)
    h.success()
    assert h.recent[-1] is True and h.recent[0] is False and len(h.recent) == 20
    assert h.deviation == "off"
    h.agreeing()
    assert h.deviation == ""


def test_health_factor_floor():
    h = ProviderHealth("p", RateLimit(10, 60))
    h.recent = [False] * 100
    assert h.health_factor() == pytest.approx(0.1)            # 3/103 would be below the floor
    h.recent = [False] * 20
    assert h.health_factor() == pytest.approx(3 / 23)


def test_gate_snapshot_and_restore(clock):
    h = health(clock)
    h.deviating("BTC off")
    for _ in range(3):
        h.failure("boom")
    h.block(20, "rate_limited", "429")
    assert h.gate() == {"blocked_until": T0 + 20, "block_state": "rate_limited",
                        "block_reason": "429", "open_until": T0 + 15, "probe_in_flight": False,
                        "budget_remaining": 8, "budget_refill_s": 0.0, "deviation": "BTC off"}
    snap = h.snapshot()
    assert snap == {"blocked_until": T0 + 20, "block_state": "rate_limited",
                    "block_reason": "429", "open_until": T0 + 15, "opens": 1,
                    "changed_at": T0}     # when the gates last changed (the fleet compares it)
    fresh = health(clock)
    fresh.restore(snap)
    assert fresh.snapshot() == {**snap, "changed_at": 0.0}   # a restart's own changes restamp
    later = health(SteppedClock(T0 + 16))
    later.restore(snap)
    assert later.blocked_until == T0 + 20 and later.open_until == 0.0 and later.opens == 0
    gone = health(SteppedClock(T0 + 100))
    gone.restore(snap)
    assert gone.snapshot() == {"blocked_until": 0.0, "block_state": "", "block_reason": "",
                               "open_until": 0.0, "opens": 0, "changed_at": 0.0}
    partial = health(clock)
    partial.restore({"blocked_until": T0 + 5, "open_until": T0 + 9})
    assert partial.snapshot() == {"blocked_until": T0 + 5, "block_state": "rate_limited",
                                  "block_reason": "", "open_until": T0 + 9, "opens": 1,
                                  "changed_at": 0.0}


# -- answers and the quote book -----------------------------------------------------------------

def quote(symbol="BTC", price=100.0, ts=None, currency="USD") -> Quote:
    return Quote(symbol, price, "v", time.time() if ts is None else ts, currency)


def test_encode_and_decode_round_trip():
    value = [TopCoin(1, "BTC", "Bitcoin", 1.0, 2.0), TopCoin(2, "ETH", "Ether", 3.0, 4.0)]
    assert decode(json.loads(json.dumps(encode(value)))) == value
    assert decode(encode(quote(ts=5.0))) == quote(ts=5.0)
    assert encode(quote(ts=5.0))["t"] == "Quote"


def test_answer_store_ages_counts_and_restart(tmp_path, clock):
    store = AnswerStore(Persistence(tmp_path), flush_every_s=3600, clock=clock)
    s = store.put("quote:BTC", quote(ts=1.0), "alpha")
    assert s.fetched_at == T0 and s.source == "alpha" and s.key == "quote:BTC"
    store.put("quote:ETH", quote("ETH", ts=1.0), "beta", fetched_at=T0 - 10)
    store.put("top", [TopCoin(1, "BTC", "Bitcoin", 1.0, 2.0)], "gecko")
    assert store.counts() == {"quote": 2, "top": 1} and len(store) == 3
    assert store.get("quote:ETH").age(T0) == 10.0 and store.get("quote:ETH").age(T0 - 20) == 0.0
    assert store.get("nope") is None
    store.close()
    again = AnswerStore(Persistence(tmp_path), flush_every_s=3600, clock=clock)
    try:
        assert again.get("quote:ETH") == store.get("quote:ETH")
        assert again.get("top").value[0].name == "Bitcoin" and len(again) == 3
    finally:
        again.close()


def test_answer_store_drops_unreadable_rows_and_keeps_the_rest(tmp_path, clock):
    store = AnswerStore(Persistence(tmp_path), flush_every_s=3600, clock=clock)
    store.put("quote:BTC", quote(ts=1.0), "alpha")
    store.close()
    conn = connect(tmp_path / "answers.sqlite")
    with conn:
        conn.execute("INSERT INTO answers VALUES ('bad1', 's', 1.0, '{\"t\": \"Nope\", \"d\": {}}')")
        conn.execute("INSERT INTO answers VALUES ('bad2', 's', 1.0, 'not json')")
        conn.execute("INSERT INTO answers VALUES ('bad3', 's', 'x', '{}')")
    conn.close()
    again = AnswerStore(Persistence(tmp_path), flush_every_s=3600, clock=clock)
    try:
        assert again.counts() == {"quote": 1}
    finally:
        again.close()


def test_answer_store_in_memory_writes_nothing(tmp_path, clock):
    store = AnswerStore(Persistence(None), clock=clock)
    store.put("quote:BTC", quote(), "a")
    store.flush()
    store.close()
    assert store.path is None and store._thread is None and list(tmp_path.iterdir()) == []


def test_answer_store_evicts_the_oldest_thousand_past_its_cap(clock, monkeypatch):
    import routing.answers as answers
    monkeypatch.setattr(answers, "MAX_ENTRIES", 1500)
    store = AnswerStore(Persistence(None), clock=clock)
    for i in range(1501):
        store.put(f"k:{i}", quote(), "a", fetched_at=float(i))
    assert len(store) == 501 and store.get("k:999") is None and store.get("k:1000") is not None


def test_quote_book_keeps_each_venues_last_quote(clock):
    book = QuoteBook(clock=clock)
    wall = time.time()
    book.put("a", {"BTC": quote(ts=wall - 3), "ETH": quote("ETH", ts=0)})
    assert book.version("BTC") == 1 and book.version("SOL") == 0
    bq = book.get("a", "BTC")
    assert bq.fetched_at == T0 and bq.lag_s == pytest.approx(3, abs=1)
    assert book.get("a", "ETH").lag_s == 0.0           # no timestamp: no lag known
    clock.advance(2)
    assert bq.fetch_age(clock()) == 2.0 and bq.age(clock()) == pytest.approx(5, abs=1)
    assert bq.fetch_age(T0 - 5) == 0.0
    book.put("b", {"BTC": quote(price=101.0, ts=wall)}, fetched_at=T0 + 1)
    assert set(book.quotes("BTC")) == {"a", "b"} and book.version("BTC") == 2
    assert book.last_fetch("b") == T0 + 1 and book.last_fetch("c") == 0.0
    book.put("b", {"SOL": quote("SOL", ts=wall)}, fetched_at=T0 - 100)
    assert book.last_fetch("b") == T0 + 1               # an older snapshot does not go back
    assert sorted(book.coins()) == ["BTC", "ETH", "SOL"] and len(book) == 4
    copy = book.quotes("BTC")
    copy.clear()
    assert len(book.quotes("BTC")) == 2
    assert book.now() == T0 + 2 and book.get("zz", "BTC") is None


def test_quote_book_forgets_quotes_not_replaced_for_an_hour(clock):
    book = QuoteBook(clock=clock)
    book.put("a", {"BTC": quote()})
    book.put("b", {"ETH": quote("ETH")}, fetched_at=T0 + KEEP_S)
    assert book.get("a", "BTC") is not None                # exactly an hour: kept
    book.put("b", {"ETH": quote("ETH")}, fetched_at=T0 + KEEP_S + 1)
    assert book.get("a", "BTC") is None and book.coins() == ["ETH"]


def test_quote_book_survives_a_restart(tmp_path, clock):
    book = QuoteBook(Persistence(tmp_path), clock=clock, flush_every_s=3600)
    book.put("a", {"BTC": quote(ts=time.time() - 2)})
    book.put("b", {"BTC": quote(price=99.0)}, fetched_at=T0 + 3)
    book.close()
    conn = connect(tmp_path / "quotes.sqlite")
    with conn:
        conn.execute("INSERT INTO quotes VALUES ('c', 'BTC', 1.0, 0.0, 'garbage')")
    conn.close()
    again = QuoteBook(Persistence(tmp_path), clock=clock, flush_every_s=3600)
    try:
        assert set(again.quotes("BTC")) == {"a", "b"}
        assert again.get("b", "BTC").quote.price == 99.0
        assert again.get("a", "BTC").lag_s == pytest.approx(2, abs=1)
        assert again.last_fetch("b") == T0 + 3 and again.last_fetch("a") == T0
    finally:
        again.close()


# -- persistence --------------------------------------------------------------------------------

def test_a_usable_data_dir_is_sqlite(tmp_path):
    p = Persistence(tmp_path / "new" / "dir")
    assert p.mode == SQLITE and p.reason is None
    assert [f.name for f in (tmp_path / "new" / "dir").iterdir()] == []   # the probe is gone
    path = p.file("x.sqlite", "CREATE TABLE t (a);")
    assert path == tmp_path / "new" / "dir" / "x.sqlite"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]
    conn.close()
    assert p.view() == {"mode": "sqlite", "data_dir": str(tmp_path / "new" / "dir"),
                        "reason": None, "quarantined": [], "dropped": [], "saving": "ok",
                        "last_save_error": None}


def test_no_data_dir_is_memory():
    p = Persistence(None)
    assert p.mode == MEMORY and p.reason == "persistence turned off"
    assert p.file("x.sqlite") is None
    assert p.view()["data_dir"] is None


def test_an_unusable_data_dir_is_memory_with_the_reason(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with caplog.at_level("WARNING", logger="routing.persistence"):
        p = Persistence(blocker / "sub")
    assert p.mode == MEMORY
    assert p.reason == f"DATA_DIR {blocker / 'sub'} is not usable: not a directory"
    assert p.file("x.sqlite") is None
    assert "keeping state in memory only" in caplog.text
    p._to_memory("again")
    assert p.reason == f"DATA_DIR {blocker / 'sub'} is not usable: not a directory"


def test_a_damaged_file_is_moved_aside_and_started_afresh(tmp_path, caplog):
    (tmp_path / "x.sqlite").write_bytes(b"this is not a database" * 100)
    p = Persistence(tmp_path)
    with caplog.at_level("WARNING", logger="routing.persistence"):
        path = p.file("x.sqlite", "CREATE TABLE t (a);")
    assert path == tmp_path / "x.sqlite" and p.mode == SQLITE
    [entry] = p.view()["quarantined"]
    assert entry["file"] == "x.sqlite" and entry["moved_to"].startswith("x.sqlite.corrupt-")
    assert entry["error"] == "file is not a database" and abs(entry["at"] - time.time()) < 60
    assert (tmp_path / entry["moved_to"]).read_bytes().startswith(b"this is not")
    assert "x.sqlite is damaged (file is not a database): moved aside to" in caplog.text
    # a second damaged copy within the same second gets its own name
    (tmp_path / "x.sqlite").unlink()
    (tmp_path / "x.sqlite").write_bytes(b"junk" * 1000)
    p.file("x.sqlite")
    names = [q["moved_to"] for q in p.view()["quarantined"]]
    assert len(set(names)) == 2


def test_a_damaged_file_that_cannot_be_moved_means_memory(tmp_path, monkeypatch):
    import routing.persistence as persistence
    (tmp_path / "x.sqlite").write_bytes(b"junk" * 1000)
    p = Persistence(tmp_path)

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(persistence.os, "replace", refuse)
    assert p.file("x.sqlite") is None
    assert p.mode == MEMORY and p.reason.startswith("x.sqlite is damaged (file is not a database) "
                                                    "and cannot be moved aside: permission denied")


def test_a_file_that_cannot_be_opened_means_memory(tmp_path):
    (tmp_path / "x.sqlite").mkdir()
    p = Persistence(tmp_path)
    assert p.file("x.sqlite") is None and p.mode == MEMORY
    assert p.reason == "cannot open x.sqlite: unable to open database file"


def test_saving_failures_are_said_once_per_streak(tmp_path, caplog):
    p = Persistence(tmp_path)
    with caplog.at_level("INFO", logger="routing.persistence"):
        for _ in range(3):
            with p.saving("a.sqlite"):
                raise OSError(28, "No space left on device")
        assert caplog.text.count("Saving a.sqlite failed (no space left on device)") == 1
        v = p.view()
        assert v["saving"] == "failing" and v["last_save_error"]["file"] == "a.sqlite"
        assert v["last_save_error"]["error"] == "no space left on device"
        with p.saving("a.sqlite"):
            pass
    assert p.view()["saving"] == "ok" and "Saving a.sqlite works again" in caplog.text
    with p.saving("b.sqlite"):
        raise sqlite3.OperationalError("disk I/O error")
    assert p.view()["last_save_error"]["error"] == "disk I/O error"
    with pytest.raises(ValueError):
        with p.saving("c.sqlite"):
            raise ValueError("not a disk problem")


def test_drop_is_reported(tmp_path, caplog):
    p = Persistence(tmp_path)
    with caplog.at_level("WARNING", logger="routing.persistence"):
        p.drop("m.sqlite", "metrics", TypeError("x" * 300))
    [d] = p.view()["dropped"]
    assert d["file"] == "m.sqlite" and d["what"] == "metrics"
    assert d["error"] == ("TypeError: " + "x" * 300)[:200]
    assert "m.sqlite: the saved metrics cannot be read (TypeError: xxx" in caplog.text


# -- the HTTP handle providers get ---------------------------------------------------------------

def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_budget_never_leaves_the_process(clock):
    session = build_session(Persistence(None), prune_every_s=3600)
    sent = []
    http = ProviderHTTP(session, "p", budget=lambda w: False,
                        on_send=lambda *a: sent.append(a), clock=clock)
    try:
        with pytest.raises(BudgetExhausted) as e:
            http.get(f"http://127.0.0.1:{closed_port()}/x")
        assert e.value.provider == "p" and e.value.kind == "budget"
        assert e.value.message == "request budget for this window is spent"
        assert sent == []
    finally:
        session.close()


def test_connection_failures_become_upstream_errors_and_are_timed(clock):
    session = build_session(Persistence(None), prune_every_s=3600)
    weights, sent = [], []
    http = ProviderHTTP(session, "p", budget=lambda w: weights.append(w) or True,
                        on_send=lambda *a: sent.append(a), clock=clock)
    try:
        with pytest.raises(UpstreamError) as e:
            http.get(f"http://127.0.0.1:{closed_port()}/x", weight=4)
        assert type(e.value) is UpstreamError
        assert e.value.message == "connection failed (ConnectionError)"
        assert e.value.provider == "p"
        assert weights == [4]
        [(name, ms, status)] = sent
        assert name == "p" and ms >= 0 and status is None
        with pytest.raises(UpstreamError) as e:
            http.get("http://[::1")
        assert e.value.message == "request failed (InvalidURL)" and e.value.provider == "p"
    finally:
        session.close()


def test_a_timeout_names_the_read_time_left_before_the_deadline(clock, monkeypatch):
    session = build_session(Persistence(None), prune_every_s=3600)
    http = ProviderHTTP(session, "p", clock=clock)
    seen = {}

    def timeout(*args, **kwargs):
        seen.update(kwargs)
        raise requests.ReadTimeout("slow")
    monkeypatch.setattr(session, "get", timeout)
    try:
        http.local.deadline = T0 + 2.5
        with pytest.raises(UpstreamTimeout) as e:
            http.get("http://x.invalid/a", kind="candles")
        assert e.value.message == "no answer within 2.5 s"
        assert seen["timeout"] == (2.5, 2.5) and seen["expire_after"] == EXPIRY_S["candles"]
        http.local.deadline = T0 + 100
        http.local.expire_after = 7
        with pytest.raises(UpstreamTimeout):
            http.get("http://x.invalid/a")
        assert seen["timeout"] == (3.0, 8.0) and seen["expire_after"] == 7
        http.local.deadline = T0 - 1
        with pytest.raises(UpstreamTimeout) as e:
            http.get("http://x.invalid/a", expire_after=1)
        assert seen["timeout"] == (0.2, 0.2) and seen["expire_after"] == 1
        http.local.deadline = None
        http.local.expire_after = None
        with pytest.raises(UpstreamTimeout):
            http.get("http://x.invalid/a", kind="other")
        assert seen["timeout"] == (3.0, 8.0) and seen["expire_after"] == 10
    finally:
        session.close()


def test_max_cache_bytes_from_the_environment(caplog):
    assert max_cache_bytes({}) == int(DEFAULT_MAX_MB * 1024 * 1024)
    assert max_cache_bytes({"HTTP_CACHE_MAX_MB": " 2 "}) == 2 * 1024 * 1024
    assert max_cache_bytes({"HTTP_CACHE_MAX_MB": "0.5"}) == 512 * 1024
    with caplog.at_level("WARNING", logger="routing.session"):
        for bad in ("0", "-1", "nan", "inf", "lots"):
            assert max_cache_bytes({"HTTP_CACHE_MAX_MB": bad}) == 50 * 1024 * 1024
    assert "HTTP_CACHE_MAX_MB='lots' is not a positive number of MB; using 50" in caplog.text


def test_the_session_expiry_table():
    assert EXPIRY_S == {"quote": 5, "quotes": 5, "candles": 60, "top": 60, "fear_greed": 3600,
                        "news": 300, "symbols": 86400}


# -- build_router from the environment ------------------------------------------------------------

def test_build_router_enables_what_providers_says_and_names_the_rest(tmp_path):
    router = build_router(tmp_path, env={"PROVIDERS": "binance,kraken",
                                         "KRAKEN_BASE_URL": "http://127.0.0.1:9"},
                          deadline_s=3.0)
    try:
        assert set(router.providers) == {"binance", "kraken"}
        assert router.providers["kraken"].base_url == "http://127.0.0.1:9"
        assert router.disabled["okx"] == "not in PROVIDERS"
        assert router.deadline_s == 3.0 and router.stale_window_s == 60.0
        assert router.metrics.path == tmp_path / "metrics.sqlite"
    finally:
        router.close()


def test_build_router_reads_its_seconds_from_the_environment(tmp_path):
    router = build_router(tmp_path, env={"PROVIDERS": "binance", "ROUTER_DEADLINE_S": "4.5",
                                         "ROUTER_STALE_WINDOW_S": " 30 "}, persist=False)
    try:
        assert router.deadline_s == 4.5 and router.stale_window_s == 30.0
        assert router.metrics.path is None and list(tmp_path.iterdir()) == []
    finally:
        router.close()
    for bad, says in [("abc", "ROUTER_DEADLINE_S must be a number of seconds, got 'abc'"),
                      ("0", "ROUTER_DEADLINE_S must be positive, got '0'"),
                      ("-2", "ROUTER_DEADLINE_S must be positive, got '-2'")]:
        with pytest.raises(ValueError) as e:
            build_router(tmp_path, env={"ROUTER_DEADLINE_S": bad})
        assert str(e.value) == says


def test_build_router_leaves_out_a_provider_whose_key_is_missing(tmp_path):
    from providers import REGISTRY, provider_class
    keyed = [n for n in REGISTRY if provider_class(n).requires_key]
    if not keyed:
        return
    name = keyed[0]
    cls = provider_class(name)
    router = build_router(tmp_path, env={"PROVIDERS": name}, persist=False)
    try:
        assert router.disabled[name] == f"needs {cls.api_key_env}" and name not in router.providers
    finally:
        router.close()
    router = build_router(tmp_path, env={"PROVIDERS": name, cls.api_key_env: "k"}, persist=False)
    try:
        assert name in router.providers
    finally:
        router.close()


# -- the repeat filter ----------------------------------------------------------------------------

def record(msg, level=logging.WARNING, name="t", exc=None) -> logging.LogRecord:
    r = logging.LogRecord(name, level, __file__, 1, msg, None, None)
    if exc is not None:
        r.exc_info = (type(exc), exc, None)
    return r


def test_repeat_filter_window_count_and_forgetting(monkeypatch):
    clock = SteppedClock(1000.0)
    f = log_repeats.RepeatFilter(window_s=60, clock=clock)
    assert f.filter(record("boom"))
    assert not f.filter(record("boom")) and not f.filter(record("boom"))
    assert f.filter(record("boom", name="other"))
    assert f.filter(record("boom", level=logging.ERROR))
    assert f.filter(record("boom", exc=KeyError("k")))
    assert f.filter(record("boom", level=logging.INFO)) and f.filter(record("boom", logging.INFO))
    clock.advance(59.9)
    assert not f.filter(record("boom"))
    clock.advance(0.1)
    r = record("boom")
    assert f.filter(r)
    assert r.getMessage() == "boom (and 3 more like it in the last 60 s)" and r.args is None
    clock.advance(60)
    r = record("boom")
    assert f.filter(r) and r.getMessage() == "boom"
    monkeypatch.setattr(log_repeats, "MAX_KEYS", 3)
    edge = log_repeats.RepeatFilter(window_s=10, clock=clock)
    edge.filter(record("e0"))
    clock.advance(10)
    edge.filter(record("e1"))
    edge.filter(record("e2"))                 # at the cap, not over it: nothing forgotten
    assert len(edge._seen) == 3
    g = log_repeats.RepeatFilter(window_s=10, clock=clock)
    for i in range(3):
        g.filter(record(f"m{i}"))
    clock.advance(10)
    g.filter(record("m3"))                 # over the cap: the expired ones go
    assert list(g._seen) == [("t", logging.WARNING, "m3", "")]
    for i in (4, 5, 6):
        g.filter(record(f"m{i}"))          # none expired: the oldest goes
    assert [k[2] for k in g._seen] == ["m4", "m5", "m6"]


def test_install_attaches_one_filter_to_every_handler():
    logger = logging.getLogger("unit-install")
    h1, h2 = logging.NullHandler(), logging.NullHandler()
    logger.addHandler(h1)
    logger.addHandler(h2)
    try:
        f = log_repeats.install(logger, window_s=5)
        assert h1.filters == [f] and h2.filters == [f] and f.window_s == 5
    finally:
        logger.removeHandler(h1)
        logger.removeHandler(h2)


# -- the HTTP cache (a real loopback server) ------------------------------------------------------

@pytest.fixture
def server():
    from tests.fake_upstream import JSONServer
    s = JSONServer({"price": "1.5"})
    yield s
    s.close()


def test_an_http_cache_hit_spends_no_budget_and_keys_never_hold_api_keys(tmp_path, server, clock):
    persistence = Persistence(tmp_path)
    session = build_session(persistence, prune_every_s=3600)
    asked, sent, hits = [], [], []
    http = ProviderHTTP(session, "p", budget=lambda w: asked.append(w) or True,
                        on_send=lambda *a: sent.append(a), on_cache_hit=hits.append, clock=clock)
    try:
        first = http.get(server.url + "/t", params={"s": "BTC", "apikey": "SECRET-1"},
                         headers={"X-Test": "yes"})
        assert first.json() == {"price": "1.5"} and not first.from_cache
        assert server.paths == ["/t?s=BTC&apikey=SECRET-1"]
        assert server.headers[0]["X-Test"] == "yes"
        again = http.get(server.url + "/t", params={"s": "BTC", "apikey": "SECRET-2"})
        assert again.from_cache and hits == ["p"] and len(asked) == 1 and len(sent) == 1
        assert sent[0][0] == "p" and sent[0][2] == 200 and 0.01 < sent[0][1] < 10_000
        # a batch naming its coins is not stored: asked again every time
        for _ in range(2):
            http.get(server.url + "/b", params={"symbols": "BTC,ETH"}, kind="quotes")
        assert len(server.paths) == 3
        http.get(server.url + "/b", params={"other": "1"}, kind="quotes")
        assert http.get(server.url + "/b", params={"other": "1"}, kind="quotes").from_cache
    finally:
        session.close()
    assert b"SECRET" not in (tmp_path / "http_cache.sqlite").read_bytes()
    assert not session.pruner.is_alive()


def test_pruning_drops_expired_answers_then_the_soonest_to_expire(tmp_path, server):
    from datetime import datetime, timedelta, timezone
    persistence = Persistence(tmp_path)
    session = build_session(persistence, prune_every_s=3600)
    try:
        cache = session.cache
        resp = requests.get(server.url + "/x")
        past = datetime.now(timezone.utc) - timedelta(hours=1)
        future = datetime.now(timezone.utc) + timedelta(hours=1)
        for i in range(3):
            cache.save_response(resp, cache_key=f"old{i}", expires=past)
        for i in range(4):
            cache.save_response(resp, cache_key=f"new{i}", expires=future + timedelta(seconds=i))
        done = cache.prune(10 * 2**20)
        assert done["expired"] == 3 and done["evicted"] == 0 and not done["vacuumed"]
        assert done["bytes"] == (tmp_path / "http_cache.sqlite").stat().st_size
        assert sorted(cache.responses.keys()) == ["new0", "new1", "new2", "new3"]
        done = cache.prune(1)                       # over any cap: everything goes
        assert done["expired"] == 0 and done["evicted"] == 4 and done["vacuumed"]
        assert list(cache.responses.keys()) == []
    finally:
        session.close()


def test_a_failing_cache_disk_is_a_miss_not_an_error(tmp_path, server):
    persistence = Persistence(tmp_path)
    session = build_session(persistence, prune_every_s=3600)
    try:
        cache = session.cache
        resp = requests.get(server.url + "/x")
        with cache.responses.connection(commit=True) as con:
            con.execute(f"DROP TABLE {cache.responses.table_name}")
        assert cache.get_response("k", default="missing") == "missing"
        assert persistence.view()["saving"] == "failing"
        assert persistence.view()["last_save_error"]["file"] == "http_cache.sqlite"
        assert "no such table" in persistence.view()["last_save_error"]["error"]
        cache.save_response(resp, cache_key="k")
        assert persistence.view()["last_save_error"]["file"] == "http_cache.sqlite"
        http = ProviderHTTP(session, "p")
        assert http.get(server.url + "/y").json() == {"price": "1.5"}
    finally:
        session.close()


def test_the_pruner_thread_keeps_the_cache_under_its_cap(tmp_path, server):
    persistence = Persistence(tmp_path)
    session = build_session(persistence, max_bytes=1, prune_every_s=0.01)
    try:
        assert session.pruner.name == "http-cache-prune" and session.pruner.daemon
        http = ProviderHTTP(session, "p")
        http.get(server.url + "/z")
        deadline = time.monotonic() + 10                 # safety bound only
        while list(session.cache.responses.keys()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert list(session.cache.responses.keys()) == []
    finally:
        session.close()


def test_restore_reads_every_saved_field_and_needs_none(clock):
    h = health(clock)
    h.restore({"blocked_until": T0 + 9, "block_state": "disabled", "block_reason": "401",
               "open_until": T0 + 30, "opens": 4})
    assert h.snapshot() == {"blocked_until": T0 + 9, "block_state": "disabled",
                            "block_reason": "401", "open_until": T0 + 30, "opens": 4,
                            "changed_at": 0.0}
    edge = health(clock)
    edge.restore({"blocked_until": T0, "open_until": T0})       # ending now: nothing to restore
    assert edge.blocked_until == 0.0 and edge.open_until == 0.0
    empty = health(clock)
    empty.restore({})
    assert empty.snapshot()["opens"] == 0 and empty.blocked_until == 0.0
    only_breaker = health(clock)
    only_breaker.restore({"open_until": T0 + 5, "block_reason": "HTTP 500"})
    assert only_breaker.opens == 1 and only_breaker.block_reason == "HTTP 500"


def test_an_oserror_without_errno_is_said_as_it_is(tmp_path):
    p = Persistence(tmp_path)
    p.save_failed("f.sqlite", OSError("the disk went away"))
    assert p.view()["last_save_error"]["error"] == "the disk went away"


def test_a_pruned_quote_is_not_written(tmp_path, clock):
    book = QuoteBook(Persistence(tmp_path), clock=clock, flush_every_s=3600)
    book.put("a", {"BTC": quote()})
    book.put("b", {"ETH": quote("ETH")}, fetched_at=T0 + KEEP_S + 1)   # prunes a's BTC
    book.close()
    conn = connect(tmp_path / "quotes.sqlite")
    rows = conn.execute("SELECT venue, coin FROM quotes").fetchall()
    conn.close()
    assert rows == [("b", "ETH")]


def test_quarantine_names_by_utc_second_then_counts(tmp_path, monkeypatch):
    import routing.persistence as persistence
    fixed = time.gmtime(T0)
    monkeypatch.setattr(persistence.time, "gmtime", lambda *a: fixed)
    p = Persistence(tmp_path)
    for _ in range(3):
        (tmp_path / "x.sqlite").write_bytes(b"junk" * 1000)
        p.file("x.sqlite")
    assert [q["moved_to"] for q in p.view()["quarantined"]] == [
        "x.sqlite.corrupt-20231114T221320", "x.sqlite.corrupt-20231114T221320-2",
        "x.sqlite.corrupt-20231114T221320-3"]
    assert all(len(str(q["at"]).split(".")[-1]) <= 3 for q in p.view()["quarantined"])


def test_a_hung_upstream_times_out_by_the_deadline(server, clock):
    server.delay = 3.0
    session = build_session(Persistence(None), prune_every_s=3600)
    http = ProviderHTTP(session, "p", clock=clock)
    http.local.deadline = T0 + 0.3
    try:
        with pytest.raises(UpstreamTimeout) as e:
            http.get(server.url + "/slow")
        assert e.value.provider == "p" and e.value.message == "no answer within 0.3 s"
    finally:
        session.close()


def test_save_errors_are_stamped_to_the_millisecond_and_cut_to_200(tmp_path, monkeypatch):
    import routing.persistence as persistence
    p = Persistence(tmp_path)
    monkeypatch.setattr(persistence.time, "time", lambda: 1_700_000_000.123456)
    p.save_failed("f.sqlite", sqlite3.OperationalError("e" * 300))
    assert p.view()["last_save_error"] == {"file": "f.sqlite", "error": "e" * 200,
                                           "at": 1_700_000_000.123}


# -- status words and verdicts (routing/status.py) ------------------------------------------------

from routing import status  # noqa: E402


def test_in_words_and_until_words_edges():
    assert status.in_words(-5) == "0 s" and status.in_words(0.4) == "0 s"
    assert status.in_words(59.4) == "59 s" and status.in_words(60) == "1 min"
    assert status.in_words(90) == "2 min" and status.in_words(3599) == "60 min"
    assert status.in_words(3600) == "1 h 0 min" and status.in_words(3660) == "1 h 1 min"
    assert status.in_words(7199) == "1 h 59 min" and status.in_words(3659.9) == "1 h 0 min"
    assert status.until_words(T0 + 59.6, T0) == "for 60 s more"
    assert status.until_words(T0 + 60, T0) == "until 22:14 UTC (in 1 min)"


def test_epoch_numbers_are_times_only_within_ten_years():
    ten_years = 10 * 365 * 86400
    edge = int(T0 - ten_years)
    assert status.humanize(f"at {edge}", now=T0) == f"at {status.utc_clock(edge)}"
    assert status.humanize(f"id {edge - 1}", now=T0) == f"id {edge - 1}"
    beyond = int(T0 - ten_years - 2 * 86400)               # 10 years and 2 days: an id
    assert status.humanize(f"id {beyond}", now=T0) == f"id {beyond}"
    assert status.humanize("at 1700000000123.5 ms", now=T0) == "at 22:13 UTC ms"


def test_recent_outcomes_keep_the_last_hour_inclusive():
    assert status.recent_outcomes([(T0 - 3600, True), (T0 - 3601, False)], T0) == [True]


def gate(**kw):
    return {"blocked_until": 0.0, "open_until": 0.0, **kw}


def verdict(outcomes=(), g=None, last_error=None, enabled=True, **kw):
    return status.assess(label="Venue", enabled=enabled, outcomes=list(outcomes),
                         gate=gate() if g is None else g, last_error=last_error,
                         last_success=kw.pop("last_success", None), now=T0, **kw)


def test_assess_disabled_and_refused():
    v = verdict(enabled=False, outcomes=[(T0, False)])
    assert (v["state"], v["reason"], v["recent_calls"]) == ("disabled", "not enabled", 0)
    v = verdict(g=gate(blocked_until=T0 + 120, block_state="disabled",
                       block_reason="x" * 100))
    assert v["reason"] == (f"Venue refused access ({'x' * 79}…); trying again until "
                           "22:15 UTC (in 2 min)")
    assert v["until"] == T0 + 120
    v = verdict(g=gate(blocked_until=T0, block_state="disabled"))
    assert v["state"] == "idle" and v["until"] is None


def test_assess_rate_limited_and_banned():
    v = verdict(g=gate(blocked_until=T0 + 30, block_reason="HTTP 429"))
    assert v["reason"] == "rate limited by Venue for 30 s more" and v["state"] == "rate_limited"
    v = verdict(g=gate(blocked_until=T0 + 30, block_reason="IP BANNED"))
    assert v["reason"] == "IP banned by Venue for 30 s more"
    assert verdict(g=gate(blocked_until=T0))["state"] == "idle"


def test_assess_down_paused_and_trial():
    v = verdict(g=gate(open_until=T0 + 15))
    assert v["reason"] == "paused after repeated failures for 15 s more"
    assert verdict(g=gate(open_until=T0))["state"] == "degraded"
    fails = [(T0 - 5, False), (T0 - 4, False), (T0 - 3, False)]
    v = verdict(fails, g=gate(open_until=T0 + 15), last_error="HTTP 500")
    assert v["reason"] == "3 of the last 3 calls failed (HTTP 500); paused for 15 s more"
    v = verdict(fails, g=gate(open_until=T0 - 1))
    assert v["state"] == "down"
    assert v["reason"] == "3 of the last 3 calls failed; one trial call is allowed now"
    v = verdict(fails)
    assert v["reason"] == "3 of the last 3 calls failed"
    v = verdict([(T0, False)], last_error="e" * 200)
    assert v["reason"] == f"the last call failed ({'e' * 119}…)"


def test_assess_deviation_budget_and_recovery():
    v = verdict([(T0, True)], g=gate(deviation="y" * 200))
    assert v["state"] == "degraded" and v["reason"] == "y" * 159 + "…"
    v = verdict([(T0, True)], g=gate(budget_remaining=0, budget_refill_s=12.0))
    assert v["state"] == "cooldown" and v["until"] == T0 + 12.0
    assert v["reason"] == "our own request budget for Venue is spent; it refills in 12 s"
    v = verdict([(T0, True)], g=gate(budget_remaining=0, budget_refill_s=0.0))
    assert v["until"] is None and v["reason"].endswith("refills in 0 s")
    assert verdict([(T0, True)], g=gate(budget_remaining=1))["state"] == "online"
    assert verdict([(T0, True)], g=gate())["state"] == "online"
    v = verdict([(T0, True)], g=gate(open_until=T0 - 5))
    assert v["reason"] == "recovering: one trial call after repeated failures"


def test_assess_online_words_and_rate():
    v = verdict([(T0, True), (T0, True)])
    assert v["reason"] == "2 of the last 2 calls succeeded" and v["can_be_fastest"]
    assert verdict([(T0, True)])["reason"] == "the last call succeeded"
    v = verdict([(T0, True)] * 2 + [(T0, False)])
    assert v["success_rate"] == 0.6667 and v["state"] == "degraded"
    v = verdict([(T0, True)] * 20 + [(T0, False)] + [(T0, True)] * 2)
    assert v["success_rate"] == 0.95
    v = verdict(g=gate(), last_success=T0 - 7200)
    assert v["reason"] == "no calls in the last hour; last answer at 20:13 UTC"
    assert not v["can_be_fastest"] and v["until"] is None


def row(name, state, rate=None, label=None):
    return {"name": name, "label": label, "state": state, "success_rate": rate}


def test_overall_banner():
    assert status.overall([]) == {"health": "offline", "summary": "No provider is enabled",
                                  "enabled": 0, "online": 0, "problems": 0}
    assert status.overall([row("a", "disabled")])["health"] == "offline"
    seven = [row(f"p{i}", "online") for i in range(7)] + [row(f"d{i}", "down") for i in range(3)]
    assert status.overall(seven)["health"] == "degraded"
    five = [row(f"p{i}", "online") for i in range(5)] + [row(f"d{i}", "down") for i in range(5)]
    b = status.overall(five)
    assert b["health"] == "partial"
    assert b["summary"] == ("5 of 10 providers have problems: d0 (down), d1 (down), d2 (down), "
                            "d3 (down) and 1 more")
    four = [row("a", "online")] + [row(f"d{i}", "degraded", 0.5, f"D{i}") for i in range(4)]
    assert status.overall(four)["summary"] == (
        "4 of 5 providers have problems: D0 (50 % of recent calls succeeded), D1 (50 % of recent "
        "calls succeeded), D2 (50 % of recent calls succeeded), D3 (50 % of recent calls "
        "succeeded)")
    assert status.overall([row("a", "degraded")])["summary"] == \
        "1 of 1 providers have problems: a (degraded)"


def test_retry_after_in_the_payload_to_a_tenth():
    assert NoProviderAvailable("x", {}, 14.26).to_dict()["retry_after_s"] == 14.3


def test_quarantine_is_stamped_to_the_millisecond(tmp_path, monkeypatch):
    import routing.persistence as persistence
    (tmp_path / "x.sqlite").write_bytes(b"junk" * 1000)
    p = Persistence(tmp_path)
    monkeypatch.setattr(persistence.time, "time", lambda: 1_700_000_000.123456)
    p.file("x.sqlite")
    assert p.view()["quarantined"][0]["at"] == 1_700_000_000.123


def test_a_drop_is_stamped_to_the_millisecond(tmp_path, monkeypatch):
    import routing.persistence as persistence
    p = Persistence(tmp_path)
    monkeypatch.setattr(persistence.time, "time", lambda: 1_700_000_000.123456)
    p.drop("m.sqlite", "metrics", ValueError("bad"))
    assert p.view()["dropped"][0]["at"] == 1_700_000_000.123


def test_build_router_defaults_its_state_and_shares_the_clock(tmp_path, monkeypatch, clock):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROVIDERS", "binance")
    monkeypatch.delenv("DATA_DIR", raising=False)
    monkeypatch.delenv("ROUTER_DEADLINE_S", raising=False)
    router = build_router(clock=clock)
    try:
        assert set(router.providers) == {"binance"} and router.deadline_s == 10.0
        assert str(router.metrics.path) == "data/metrics.sqlite"
        assert str(router.book.path) == "data/quotes.sqlite"
        assert str(router.answers.path) == "data/answers.sqlite"
        assert router.metrics.clock is clock and router.answers.clock is clock
        assert router.book.clock is clock and router.clock is clock
    finally:
        router.close()
    elsewhere = tmp_path / "elsewhere"
    router = build_router(env={"PROVIDERS": "binance", "DATA_DIR": str(elsewhere)})
    try:
        assert router.book.path == elsewhere / "quotes.sqlite"
    finally:
        router.close()


def test_humanize_edges():
    assert status.humanize(None) == ""
    assert status.humanize(f"until {int(time.time())}") == f"until {status.utc_clock(time.time())}"
    assert status.humanize("HTTP 502 from BOX <html><body>bad</body></html>") == \
        "HTTP 502 from BOX; answered with a web page instead of data"
    assert status.humanize("bad BOX KeyError: 'price'") == \
        "bad BOX: the answer did not have the expected shape"
    assert status.humanize("KeyError: 'price'") == "the answer did not have the expected shape"
    assert status.humanize("a" * 160) == "a" * 160
    assert status.humanize("a" * 158 + " " + "b" * 10) == "a" * 158 + "…"
