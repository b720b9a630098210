"""What the app's numbers are compared with, measured in the same run:

- naive: the single-price schedule sent straight to CoinGecko, as a script with a bare client;
- careful: the same through requests-cache (memory, the app's quote TTL), CoinGecko alone;
- serving floor: a constant endpoint next to a cached get_price, on the REST and Gradio paths;
- in-process: the router's own cost for a cache hit, without any HTTP.
"""
from __future__ import annotations

import os
import random
import statistics
import tempfile
import threading
import time
from collections import Counter
from typing import Callable

import requests
import requests_cache

from providers.base import KIND_QUOTE
from routing.router import ANSWER_TTL_S

from .clients import OK, Reply, gradio_call, loopback_session, rest_get
from .openloop import run_open_loop, summarize
from .processes import SimProcess
from .workload import coingecko_ids

CAREFUL_EXPIRE_S = ANSWER_TTL_S[KIND_QUOTE]     # the same expiry as the app's quotes
CALL_TIMEOUT_S = 10.0
FLOOR_SYMBOL = "BTC"


# -- CoinGecko alone ----------------------------------------------------------------------------

def _coingecko_phase(sim: SimProcess, schedule: list[tuple[float, str]], threads: int,
                     get: Callable[[requests.Session, str, dict], requests.Response],
                     stop: threading.Event | None) -> dict:
    """Replay the schedule against the simulated CoinGecko (reset first, so its rate-limit
    window and counters belong to this phase alone)."""
    sim.reset("coingecko")
    url = f"{sim.url('coingecko')}/api/v3/simple/price"
    ids = coingecko_ids()

    def call(ticker: str, http: requests.Session) -> tuple[str, bool]:
        try:
            r = get(http, url, {"ids": ids[ticker], "vs_currencies": "usd"})
        except requests.Timeout:
            return "timeout", False
        except requests.RequestException as exc:
            return type(exc).__name__, False
        return str(r.status_code), bool(getattr(r, "from_cache", False))

    timed = run_open_loop(schedule, call, threads, stop)
    upstream = sim.stats().get("coingecko", {})
    outcomes = Counter(t.result[0] for t in timed)
    sent = len(timed)
    ok = outcomes.get("200", 0)
    return {
        "requests": sent,
        "ok": ok,
        "rate_limited_429": outcomes.get("429", 0),
        "other_errors": sent - ok - outcomes.get("429", 0),
        "error_rate": round((sent - ok) / sent, 4) if sent else None,
        "outcomes": dict(outcomes.most_common()),
        "served_from_cache": sum(1 for t in timed if t.result[1]),
        "upstream_requests": upstream.get("requests", 0),
        "upstream_rate_limited": upstream.get("rate_limited", 0),
        "latency_ms": summarize([t.latency_ms for t in timed]),
    }


def naive_coingecko(sim: SimProcess, schedule: list[tuple[float, str]], threads: int,
                    stop: threading.Event | None = None) -> dict:
    """Every price straight to /api/v3/simple/price?ids=<id>&vs_currencies=usd, no cache."""
    return _coingecko_phase(sim, schedule, threads,
                            lambda http, url, params: http.get(url, params=params,
                                                               timeout=CALL_TIMEOUT_S), stop)


def careful_coingecko(sim: SimProcess, schedule: list[tuple[float, str]], threads: int,
                      stop: threading.Event | None = None) -> dict:
    """One shared CachedSession (memory backend, the quote expiry) in front of CoinGecko."""
    cached = requests_cache.CachedSession(backend="memory", expire_after=CAREFUL_EXPIRE_S)
    cached.trust_env = False
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(10, threads))
    cached.mount("http://", adapter)
    try:
        result = _coingecko_phase(sim, schedule, threads,
                                  lambda _http, url, params: cached.get(
                                      url, params=params, timeout=CALL_TIMEOUT_S), stop)
    finally:
        cached.close()
    result["expire_after_s"] = CAREFUL_EXPIRE_S
    return result


# -- serving floor ------------------------------------------------------------------------------

def _probes(base: str) -> dict[tuple[str, str], Callable[[requests.Session], Reply]]:
    return {
        ("rest", "floor"): lambda http: rest_get(http, base, "/api/ping", None, CALL_TIMEOUT_S),
        ("rest", "price"): lambda http: rest_get(http, base, "/api/market/price",
                                                 {"symbol": FLOOR_SYMBOL}, CALL_TIMEOUT_S),
        ("gradio", "floor"): lambda http: gradio_call(http, base, "ping", [], CALL_TIMEOUT_S),
        ("gradio", "price"): lambda http: gradio_call(http, base, "get_price", [FLOOR_SYMBOL],
                                                      CALL_TIMEOUT_S),
    }


def _floor_ok(reply: Reply) -> bool:
    return reply.kind == OK and isinstance(reply.body, dict) and reply.body.get("pong") is True


def serving_floor(base: str, calls: int, warmup: int) -> dict:
    """`calls` sequential calls per probe after `warmup` rounds, interleaved in a shuffled order
    each round, so drift, noise and the after-effects of the previous call (a Gradio call's
    stream winding down) hit all four alike. Price calls that missed the cache (the quote TTL
    ran out) are left out of the cached median and counted."""
    probes = _probes(base)
    keys = list(probes)
    times: dict[tuple[str, str], list[float]] = {k: [] for k in keys}
    misses = Counter()
    failures: dict[tuple[str, str], str] = {}
    rng = random.Random(calls)
    # One keep-alive connection per path: a Gradio call's event stream must not cost the REST
    # probe that follows it a fresh connection.
    with loopback_session() as rest, loopback_session() as gradio:
        http = {"rest": rest, "gradio": gradio}
        for _ in range(warmup):
            for key in keys:
                reply = probes[key](http[key[0]])
                ok = _floor_ok(reply) if key[1] == "floor" else reply.kind == OK
                if not ok:
                    failures.setdefault(key, f"{reply.kind} {reply.http_status}: "
                                             f"{(reply.error or '')[:160]}")
        live = [k for k in keys if k not in failures]
        for i in range(calls):
            order = rng.sample(live, len(live))
            for key in order:
                t = time.perf_counter()
                reply = probes[key](http[key[0]])
                ms = (time.perf_counter() - t) * 1000
                if key[1] == "price" and not (reply.kind == OK and reply.body.get("cached")):
                    misses[key[0]] += 1
                    continue
                if reply.kind == OK:
                    times[key].append(ms)
    out = {}
    for path in ("rest", "gradio"):
        floor, price = times[(path, "floor")], times[(path, "price")]
        f_med = statistics.median(floor) if floor else None
        p_med = statistics.median(price) if price else None
        out[path] = {
            "floor_available": (path, "floor") not in failures,
            "floor_error": failures.get((path, "floor")),
            "floor_median_ms": _r(f_med), "floor_p95_ms": summarize(floor, 2)["p95"],
            "cached_price_median_ms": _r(p_med), "cached_price_p95_ms": summarize(price, 2)["p95"],
            "cached_price_error": failures.get((path, "price")),
            "ratio_price_to_floor": round(p_med / f_med, 2) if f_med and p_med else None,
            "floor_calls": len(floor), "price_calls": len(price),
            "price_cache_misses_excluded": misses[path],
        }
    return {"calls_per_probe": calls, "warmup_rounds": warmup, "symbol": FLOOR_SYMBOL, **out}


# -- the router in this process -----------------------------------------------------------------

def in_process_quote(base_urls: dict[str, str], calls: int) -> dict:
    """router.get_quote on a cache hit, timed one call at a time after one miss, with this
    process's own router against the simulator."""
    from routing import build_router

    with tempfile.TemporaryDirectory(prefix="bench-router-") as data_dir:
        router = build_router(data_dir, env={**os.environ, **base_urls})
        try:
            t = time.perf_counter()
            first = router.get_quote(FLOOR_SYMBOL)
            first_ms = (time.perf_counter() - t) * 1000
            samples = []
            misses = 0
            for _ in range(calls):
                t0 = time.perf_counter_ns()
                answer = router.get_quote(FLOOR_SYMBOL)
                samples.append((time.perf_counter_ns() - t0) / 1000)
                misses += not answer.cached
        finally:
            router.close()
    return {"calls": calls, "symbol": FLOOR_SYMBOL, "first_call_ms": round(first_ms, 1),
            "first_call_cached": first.cached, "first_source": first.source,
            "cache_misses": misses, "median_us": round(statistics.median(samples), 1),
            "p99_us": summarize(samples)["p99"], "mean_us": round(statistics.fmean(samples), 1),
            "calls_per_s": round(1e6 / statistics.fmean(samples))}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def hung_batches(sim, venues: list[str], sizes: tuple[int, ...], hang_s: float) -> dict:
    """Batch latency with every quote venue hanging: a fresh in-process router (cold cache, so
    nothing can be served from memory) asks for batches of `sizes` coins; each call should end
    by the router's one deadline with a clear error, however many coins it names."""
    from routing import NoProviderAvailable, build_router

    from .workload import TICKER_POOL, top_tickers

    tickers = top_tickers(TICKER_POOL)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-router-") as data_dir:
        router = build_router(data_dir, env={**os.environ, **sim.base_urls})
        try:
            for name in venues:
                sim.set_fault(name, "timeout", seconds=hang_s)
            for n in sizes:
                t = time.perf_counter()
                try:
                    answers, errors = router.get_quotes(tickers[:n])
                    outcome = f"{len(answers)} answered, {len(errors)} errors"
                except NoProviderAvailable as exc:
                    outcome = f"NoProviderAvailable, retry after {exc.retry_after:.0f} s"
                rows.append({"coins": n, "ms": round((time.perf_counter() - t) * 1000, 1),
                             "outcome": outcome})
        finally:
            for name in venues:
                sim.set_fault(name, None)
            deadline_s = router.deadline_s
            router.close()
    return {"deadline_s": deadline_s, "hang_s": hang_s, "batches": rows}
