"""The load scenario's arrival schedule: what is asked, through which path, and when.

A fixed arrival rate on a clock (request i is due at i / rate seconds), drawn from a seeded RNG
so every run, and every baseline, replays the same schedule.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from providers.coins import COINS

REQUEST_MIX = (("price", 0.70), ("prices", 0.10), ("ohlc", 0.10), ("status", 0.10))
PATHS = ("rest", "gradio")
ZIPF_S = 1.1
TICKER_POOL = 50
BATCH_SIZE = 10
CANDLE_SYMBOLS = 10
CANDLE_INTERVALS = ("1h", "1d")
CANDLE_LIMIT = 100
BAD_INPUT_EVERY = 50

# (path, kind, symbol, interval, limit, the parameter the error must name)
BAD_INPUTS = (
    ("rest", "price", "BTC$", None, None, "symbol"),
    ("gradio", "price", "BTC$", None, None, "symbol"),
    ("rest", "ohlc", "BTC", "7h", CANDLE_LIMIT, "timeframe"),
    ("gradio", "ohlc", "BTC", "7h", CANDLE_LIMIT, "interval"),
    ("rest", "ohlc", "BTC", "1h", 0, "limit"),
    ("gradio", "ohlc", "BTC", "1h", 0, "limit"),
)


@dataclass(frozen=True)
class PlannedRequest:
    index: int
    due_s: float                    # offset from the start of the phase
    kind: str                       # price | prices | ohlc | status
    path: str                       # rest | gradio
    symbols: tuple[str, ...] = ()
    interval: str | None = None
    limit: int | None = None
    bad_param: str | None = None    # set on deliberate bad input: the parameter to be named


def top_tickers(n: int) -> list[str]:
    return [c.ticker for c in sorted(COINS, key=lambda c: c.rank)[:n]]


def coingecko_ids() -> dict[str, str]:
    return {c.ticker: c.coingecko for c in COINS if c.coingecko}


def zipf_weights(n: int, s: float = ZIPF_S) -> list[float]:
    """Rank k is asked in proportion to 1 / k^s: BTC most, the 50th coin rarely."""
    return [1.0 / (k ** s) for k in range(1, n + 1)]


def build_schedule(rate: float, seconds: float, seed: int = 1) -> list[PlannedRequest]:
    """rate x seconds arrivals. 1 in BAD_INPUT_EVERY (at least one of each BAD_INPUTS case) is
    deliberate bad input, spread evenly; the rest follow REQUEST_MIX, half REST, half Gradio."""
    n = int(round(rate * seconds))
    rng = random.Random(seed)
    tickers = top_tickers(TICKER_POOL)
    weights = zipf_weights(len(tickers))
    candle_symbols = tickers[:CANDLE_SYMBOLS]
    kinds = [k for k, _ in REQUEST_MIX]
    mix = [w for _, w in REQUEST_MIX]
    n_bad = min(n, max(len(BAD_INPUTS), n // BAD_INPUT_EVERY)) if n else 0
    bad_at = {int((j + 0.5) * n / n_bad): BAD_INPUTS[j % len(BAD_INPUTS)] for j in range(n_bad)}
    plan = []
    for i in range(n):
        due = i / rate
        if i in bad_at:
            path, kind, symbol, interval, limit, param = bad_at[i]
            plan.append(PlannedRequest(i, due, kind, path, (symbol,), interval, limit, param))
            continue
        kind = rng.choices(kinds, mix)[0]
        path = rng.choice(PATHS)
        if kind == "price":
            plan.append(PlannedRequest(i, due, kind, path, (rng.choices(tickers, weights)[0],)))
        elif kind == "prices":
            plan.append(PlannedRequest(i, due, kind, path, _distinct(rng, tickers, weights,
                                                                     BATCH_SIZE)))
        elif kind == "ohlc":
            plan.append(PlannedRequest(i, due, kind, path, (rng.choice(candle_symbols),),
                                       rng.choice(CANDLE_INTERVALS), CANDLE_LIMIT))
        else:
            plan.append(PlannedRequest(i, due, kind, path))
    return plan


def price_schedule(rate: float, seconds: float, seed: int) -> list[PlannedRequest]:
    """Single prices only (Zipf over the top coins, half REST, half Gradio): the skewed-venue
    phase."""
    rng = random.Random(seed)
    tickers = top_tickers(TICKER_POOL)
    weights = zipf_weights(len(tickers))
    return [PlannedRequest(i, i / rate, "price", PATHS[i % 2], (rng.choices(tickers, weights)[0],))
            for i in range(int(round(rate * seconds)))]


def single_price_schedule(plan: list[PlannedRequest], seconds: float | None = None
                          ) -> list[tuple[float, str]]:
    """The single-price part of the plan (valid symbols only), as (due_s, ticker), optionally
    cut to its first `seconds`: what the baselines replay."""
    return [(r.due_s, r.symbols[0]) for r in plan
            if r.kind == "price" and r.bad_param is None
            and (seconds is None or r.due_s < seconds)]


def _distinct(rng: random.Random, tickers: list[str], weights: list[float], k: int
              ) -> tuple[str, ...]:
    """k different tickers, each drawn with the Zipf weights (a watchlist)."""
    chosen: list[str] = []
    while len(chosen) < k:
        t = rng.choices(tickers, weights)[0]
        if t not in chosen:
            chosen.append(t)
    return tuple(chosen)
