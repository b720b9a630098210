"""The market-data core's headline figures, against the simulator with real latency and limits:

1. provider share over 100 quote refreshes (the quote book's clock moved past the TTL each time);
2. cache hit rate and user-visible errors for 2,000 get_quote calls over 20 symbols in 60 s.

Run: python -m bench.core_figures [--calls 2000] [--seconds 60] [--threads 8]
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from collections import Counter

from providers.coins import COINS
from routing import NoProviderAvailable, build_router
from routing.router import ANSWER_TTL_S
from sim import Simulator


class Clock:
    """The quote book's clock, moved by hand: a refresh without waiting 5 s for it."""

    def __init__(self):
        self.t = time.time()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def provider_share(env: dict, fetches: int = 100) -> dict:
    """`fetches` refreshes, one coin each: the quote book's clock is moved past the quote TTL
    before every call (and the HTTP cache emptied), so each call is a refresh the rotation
    hands to a venue."""
    clock = Clock()
    router = build_router(tempfile.mkdtemp(prefix="bench-share-"), env=env, clock=clock)
    tickers = [c.ticker for c in COINS]
    sources: Counter[str] = Counter()
    errors = 0
    try:
        for i in range(fetches):
            clock.advance(ANSWER_TTL_S["quote"] + 1)
            router.session.cache.clear()
            try:
                sources[router.get_quote(tickers[i % len(tickers)]).source] += 1
            except NoProviderAvailable:
                errors += 1
        total = sum(sources.values())
        return {"fetches": total + errors, "errors": errors,
                "share": {p: round(n / total, 3) for p, n in sources.most_common()},
                "distinct_providers": len(sources),
                "coingecko_share": round(sources["coingecko"] / total, 3) if total else 0.0}
    finally:
        router.close()


def quote_load(env: dict, calls: int = 2000, seconds: float = 60.0, threads: int = 8,
               symbols: int = 20, seed: int = 1) -> dict:
    """Open-loop load: `calls` get_quote calls spread evenly over `seconds`."""
    router = build_router(tempfile.mkdtemp(prefix="bench-load-"), env=env)
    tickers = [c.ticker for c in COINS[:symbols]]
    rng = random.Random(seed)
    plan = [rng.choice(tickers) for _ in range(calls)]
    interval = seconds / calls
    errors: Counter[str] = Counter()
    stale = 0
    lock = threading.Lock()
    next_index = iter(range(calls))
    start = time.perf_counter()

    def worker():
        nonlocal stale
        for i in next_index:
            due = start + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                a = router.get_quote(plan[i])
                if a.stale:
                    with lock:
                        stale += 1
            except Exception as exc:  # every exception a caller would see counts
                with lock:
                    errors[type(exc).__name__] += 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    totals = router.metrics.totals_view()
    shares = {p["name"]: p["share"] for p in router.provider_status() if p.get("upstream_calls")}
    router.close()
    return {"calls": calls, "seconds": round(elapsed, 1), "symbols": symbols,
            "cache_hit_rate": totals["cache_hit_rate"], "upstream_calls": totals["upstream_calls"],
            "user_visible_errors": sum(errors.values()), "errors_by_kind": dict(errors),
            "stale_answers": stale, "avg_response_ms": totals["avg_response_ms"],
            "upstream_share": shares}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--fetches", type=int, default=100)
    args = ap.parse_args(argv)
    with Simulator(latency_scale=1.0, seed=11) as sim:
        env = dict(sim.env())
        share = provider_share(env, args.fetches)
        load = quote_load(env, args.calls, args.seconds, args.threads)
        provider_429s = sum(s["rate_limited"] for s in sim.stats().values())
    report = {"provider_share": share, "quote_load": load, "provider_rate_limit_answers":
              provider_429s}
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
