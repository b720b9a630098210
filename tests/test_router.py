"""Router behaviour over real HTTP against the simulator: rotation, budgets, cooldowns, breakers,
stale answers, errors, validation, concurrency, persistence and secrets."""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from providers.coins import COINS
from routing import InvalidInput, NoProviderAvailable, build_router
from tests.checks import assert_candle_series
from tests.clock import SteppedClock

WIDELY_LISTED = [c.ticker for c in COINS if c.binance and c.coinbase and c.okx and c.kucoin
                 and c.bybit and c.kraken][:30]


@pytest.fixture
def make_router(sim, tmp_path, monkeypatch):
    made = []

    def make(providers: str = "", data_dir: Path | None = None, **kw):
        env = {**os.environ, **sim.env()}
        if providers:
            env["PROVIDERS"] = providers
        router = build_router(data_dir or tmp_path / "data", env=env, **kw)
        made.append(router)
        return router

    yield make
    for r in made:
        try:
            r.close()
        except Exception:
            pass


def upstream_total(sim) -> int:
    return sum(s["requests"] for s in sim.stats().values())


def test_rotation_spreads_load_and_protects_coingecko(make_router, sim):
    """Each refresh (a quote older than its 5 s) goes to the next venue of the rotation."""
    clock = SteppedClock()
    router = make_router(clock=clock)
    sources = Counter()
    for ticker in WIDELY_LISTED[:30]:
        clock.advance(6)
        sources[router.get_quote(ticker).source] += 1
    assert sum(sources.values()) == 30
    assert len(sources) >= 5, sources
    assert sources["coingecko"] <= 3, sources
    shares = {p["name"]: p["share"] for p in router.provider_status() if p["enabled"]}
    assert shares.get("coingecko", 0) <= 0.10


def test_cache_hit_makes_no_upstream_call(make_router, sim, caplog):
    router = make_router()
    first = router.get_quote("BTC")
    before = upstream_total(sim)
    with caplog.at_level(logging.INFO, logger="routing"):
        second = router.get_quote("btc")
    assert upstream_total(sim) == before
    assert second.cached and not first.cached
    assert second.value.price == first.value.price and second.source == first.source
    assert any(r.getMessage().startswith("Cache hit quote BTC") for r in caplog.records)


def test_selection_is_logged(make_router, sim, caplog):
    router = make_router()
    with caplog.at_level(logging.INFO, logger="routing"):
        a = router.get_quote("ETH")
    assert f"SMART_ROUTING: Selected {a.source} for quote ETH" in caplog.text


def test_price_answer_is_normalized(make_router, sim):
    clock = SteppedClock()
    router = make_router(clock=clock)
    seen = set()
    for t in WIDELY_LISTED[:12]:
        clock.advance(6)
        a = router.get_quote(t)
        q = a.value
        seen.add(a.source)
        assert q.symbol == t and q.price > 0 and q.quote_currency in ("USD", "USDT")
        assert abs(q.timestamp - time.time()) < 3600
        if q.change_24h_pct is not None:
            assert -60 < q.change_24h_pct < 60, (a.source, q.change_24h_pct)
    assert len(seen) >= 5


def test_batch_fills_many_symbols_with_one_upstream_call_per_venue(make_router, sim):
    router = make_router(providers="binance,kraken,okx")
    before = upstream_total(sim)
    answers, errors = router.get_quotes(["BTC", "ETH", "SOL", "XRP", "ADA", "DOGE"])
    assert not errors and set(answers) == {"BTC", "ETH", "SOL", "XRP", "ADA", "DOGE"}
    # a cold book: each of the three venues is asked once, for every coin it lists
    assert upstream_total(sim) - before == 3
    assert all(a.consensus.status == "ok" for a in answers.values())
    # the batch also fills the single-quote cache, and the book answers coins not asked yet
    before = upstream_total(sim)
    assert router.get_quote("SOL").cached
    assert router.get_quote("LINK").cached
    assert upstream_total(sim) == before


def test_budget_prevents_429_and_skips_without_waiting(make_router, sim):
    router = make_router(providers="kraken,coinbase")
    kraken = router.health["kraken"].budget
    assert kraken.capacity == 12           # 80 % of Kraken's 15 per 15 s
    # Spend kraken's whole budget, then every further miss must avoid it at once.
    while kraken.try_spend(1):
        pass
    before = sim.stats()["kraken"]["requests"]
    start = time.perf_counter()
    for t in WIDELY_LISTED[:6]:
        assert router.get_quote(t).source == "coinbase"
    assert time.perf_counter() - start < 5
    assert sim.stats()["kraken"]["requests"] == before
    skips = {p["name"]: p["budget_skips"] for p in router.provider_status() if p["enabled"]}
    assert skips["kraken"] >= 6 and skips["coinbase"] == 0, skips


def test_heavy_miss_load_never_meets_a_provider_limit(make_router, sim):
    router = make_router()
    for i in range(3):
        for t in WIDELY_LISTED:
            router.answers._items.pop(f"quote:{t}", None)
            router.session.cache.clear()
            router.get_quote(t)
    assert all(s["rate_limited"] == 0 for s in sim.stats().values()), sim.stats()


def test_rate_limit_cools_down_with_retry_after_and_never_reaches_caller(make_router, sim):
    clock = SteppedClock()
    router = make_router(providers="binance,coinbase", clock=clock)
    sim.set_fault("binance", "rate_limit", retry_after=2)
    sources = [router.get_quote(t).source for t in WIDELY_LISTED[:4]]
    assert set(sources) == {"coinbase"}
    h = router.health["binance"]
    assert h.blocked_until - clock() == pytest.approx(2, abs=0.01)
    row = next(p for p in router.provider_status() if p["name"] == "binance")
    assert row["state"] == "rate_limited" and row["rate_limit_hits"] == 1
    calls = sim.stats()["binance"]["requests"]
    clock.advance(1.9)
    router.get_quote(WIDELY_LISTED[5])
    assert sim.stats()["binance"]["requests"] == calls     # never retried while cooling down
    sim.clear_faults()
    clock.advance(0.2)
    used = {router.get_quote(t).source for t in WIDELY_LISTED[6:12]}
    assert "binance" in used


def test_ban_uses_documented_ban_time(make_router, sim):
    router = make_router(providers="bybit,okx")
    sim.set_fault("bybit", "ban")
    for t in WIDELY_LISTED[:4]:
        assert router.get_quote(t).source == "okx"
    assert router.health["bybit"].blocked_until - time.time() > 500   # Bybit: at least 10 min


def test_malformed_and_wrong_prices_fall_back(make_router, sim):
    router = make_router(providers="coinbase,kraken")
    sim.set_fault("coinbase", "html")
    sim.set_fault("kraken", "wrong_price", price=0)
    with pytest.raises(NoProviderAvailable) as err:
        router.get_quote("BTC")
    assert set(err.value.reasons) == {"coinbase", "kraken"}
    kinds = next(p for p in router.provider_status() if p["name"] == "coinbase")["failures"]
    assert kinds.get("malformed") == 1


def test_stale_answer_when_all_fail(make_router, sim):
    clock = SteppedClock()
    router = make_router(providers="binance,okx", clock=clock)
    fresh = router.get_quote("BTC")
    sim.set_fault("binance", "error500")
    sim.set_fault("okx", "error500")
    clock.advance(120)
    router.session.cache.clear()
    stale = router.get_quote("BTC")
    assert stale.stale and stale.cached and stale.age_s >= 120
    assert stale.value.price == fresh.value.price
    assert router.metrics.totals_view()["stale_answers"] == 1


def test_all_down_without_cache_lists_reasons_and_reopen_time(make_router, sim):
    router = make_router(providers="binance,okx,coinbase")
    sim.set_fault("binance", "rate_limit", retry_after=30)
    sim.set_fault("okx", "error500")
    sim.set_fault("coinbase", "down")
    with pytest.raises(NoProviderAvailable) as err:
        router.get_quote("ETH")
    exc = err.value
    assert set(exc.reasons) == {"binance", "okx", "coinbase"}
    assert "rate limited" in exc.reasons["binance"]
    assert 25 <= exc.retry_after <= 31
    assert "retry in" in str(exc)


def test_deadline_bounds_a_call(make_router, sim):
    router = make_router(providers="kucoin,bybit", deadline_s=2.0)
    sim.set_fault("kucoin", "timeout", seconds=6)
    sim.set_fault("bybit", "timeout", seconds=6)
    start = time.perf_counter()
    with pytest.raises(NoProviderAvailable):
        router.get_quote("SOL")
    assert time.perf_counter() - start < 4.5


@pytest.mark.parametrize("call", [
    lambda r: r.get_quote("BTC-USD"),
    lambda r: r.get_quote(""),
    lambda r: r.get_quote("A" * 16),
    lambda r: r.get_quote("NOTACOIN"),
    lambda r: r.get_quote(None),
    lambda r: r.get_quotes([]),
    lambda r: r.get_quotes(["BTC"] * 51),                 # listed, but one too many
    lambda r: r.get_candles("BTC", "2h", 10),
    lambda r: r.get_candles("BTC", "1h", 0),
    lambda r: r.get_candles("BTC", "1h", 501),
    lambda r: r.get_candles("BTC", "1h", "ten"),
    lambda r: r.get_top_coins(1000),
    lambda r: r.get_news("BTC", 0),
])
def test_bad_input_is_rejected_before_any_upstream_call(make_router, sim, call):
    router = make_router()
    before = upstream_total(sim)
    with pytest.raises(InvalidInput) as err:
        call(router)
    assert err.value.param in ("symbol", "symbols", "interval", "limit")
    assert upstream_total(sim) == before


def test_candles_top_and_fear_greed(make_router, sim):
    router = make_router()
    a = router.get_candles("BTC", "1h", 50)
    assert_candle_series(a.value, 50, 3600)
    top = router.get_top_coins(10)
    assert [c.rank for c in top.value] == list(range(1, 11))
    assert top.value[0].symbol == "BTC"
    fg = router.get_fear_greed()
    assert 0 <= fg.value.value <= 100 and fg.source == "alternative_me"
    assert router.get_fear_greed().cached


def test_32_threads_200_calls_no_error_and_counters_add_up(make_router, sim):
    router = make_router()
    symbols = WIDELY_LISTED[:20]
    errors: list[BaseException] = []
    start_calls = upstream_total(sim)

    def worker(i: int):
        for j in range(200):
            try:
                router.get_quote(symbols[(i + j) % len(symbols)])
            except BaseException as exc:  # every failure is a test failure
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    totals = router.metrics.totals_view()
    assert totals["requests"] == 32 * 200
    assert totals["errors"] == 0
    per_provider = sum(p.get("upstream_calls", 0) for p in router.provider_status())
    assert totals["upstream_calls"] == per_provider == upstream_total(sim) - start_calls
    successes = sum(p.get("successes", 0) for p in router.provider_status())
    misses = totals["requests"] - totals["cache_hits"]
    assert misses <= successes
    assert totals["cache_hit_rate"] > 0.9


def test_metrics_and_answers_survive_a_restart(make_router, sim, tmp_path):
    data = tmp_path / "persist"
    r1 = make_router(data_dir=data)
    for t in WIDELY_LISTED[:5]:
        r1.get_quote(t)
    r1.get_quote("BTC")
    before = r1.metrics.totals_view()
    shares = {p["name"]: p["upstream_calls"] for p in r1.provider_status()}
    r1.close()
    r2 = make_router(data_dir=data)
    after = r2.metrics.totals_view()
    assert (after["requests"], after["cache_hits"], after["upstream_calls"]) == \
        (before["requests"], before["cache_hits"], before["upstream_calls"])
    assert {p["name"]: p["upstream_calls"] for p in r2.provider_status()} == shares
    calls = upstream_total(sim)
    assert r2.get_quote("BTC").cached
    assert upstream_total(sim) == calls
    assert sum(row["calls"] for row in r2.metrics.series_view()) == before["upstream_calls"]


def test_cache_hit_writes_nothing_to_disk(make_router, sim, tmp_path):
    data = tmp_path / "quiet"
    router = make_router(data_dir=data)
    router.get_quote("BTC")
    router.metrics.flush()
    router.answers.flush()
    router.book.flush()
    stamp = {p: p.stat().st_mtime_ns for p in data.iterdir()}
    for _ in range(200):
        router.get_quote("BTC")
    assert {p: p.stat().st_mtime_ns for p in data.iterdir()} == stamp


def test_api_keys_never_in_cache_files_logs_or_status(make_router, sim, tmp_path, monkeypatch,
                                                      caplog):
    secrets = {"COINGECKO_API_KEY": "cg-SECRET-1111", "COINCAP_API_KEY": "cc-SECRET-2222",
               "CRYPTOCOMPARE_API_KEY": "cr-SECRET-3333"}
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    data = tmp_path / "secret"
    clock = SteppedClock()
    router = make_router(providers="coingecko,coincap,cryptocompare", data_dir=data, clock=clock)
    with caplog.at_level(logging.DEBUG):
        for t in WIDELY_LISTED[:20]:
            clock.advance(6)
            router.get_quote(t)
        router.get_top_coins(10)
    used = {p["name"] for p in router.provider_status() if p.get("upstream_calls")}
    assert {"coingecko", "coincap", "cryptocompare"} <= used
    router.close()
    blob = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
    status = repr(router.provider_status())
    for v in secrets.values():
        assert v.encode() not in blob
        assert v not in caplog.text
        assert v not in status


def test_batch_with_nothing_answerable_is_one_clear_error(make_router, sim):
    router = make_router(providers="binance,okx")
    sim.set_fault("binance", "error500")
    sim.set_fault("okx", "error500")
    with pytest.raises(NoProviderAvailable) as err:
        router.get_quotes(["ETH", "SOL"])
    assert set(err.value.reasons) == {"binance", "okx"}


def test_candles_are_fetched_in_fixed_sizes_so_shorter_requests_hit_the_cache(make_router, sim):
    router = make_router(providers="binance")
    first = router.get_candles("ETH", "1h", 30)
    assert len(first.value) == 30 and not first.cached
    calls = upstream_total(sim)
    for n in (10, 45, 50):
        a = router.get_candles("ETH", "1h", n)
        assert a.cached and len(a.value) == n and a.value[-1] == first.value[-1]
    assert upstream_total(sim) == calls
    assert not router.get_candles("ETH", "1h", 51).cached   # the next size up is a new fetch


def test_a_batch_counts_as_a_cache_hit_only_when_nothing_went_upstream(make_router, sim):
    router = make_router(providers="coinbase")        # no batch endpoint: one fetch per coin
    router.get_quotes(["BTC", "ETH"])
    assert router.metrics.totals_view()["cache_hits"] == 0
    router.get_quotes(["BTC", "ETH"])
    totals = router.metrics.totals_view()
    assert (totals["requests"], totals["cache_hits"], totals["upstream_calls"]) == (2, 1, 2)
