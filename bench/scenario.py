"""The load scenario against the app as users run it, and the whole run's order of phases.

Order: simulator; in-process router micro-benchmark (machine still quiet); app started, and
while it boots, the two CoinGecko baselines (they measure 429s, not latency); a warm-up (each
candle series of the workload and one batch of the 50 coins, as a running Space has them);
every simulated provider reset; the open-loop load; the app's and the simulator's counters read
(differences over the load only); the skewed-venue phase (one venue quotes every coin 5 % high
while single prices are asked); the hanging-venues phase (five of the nine quote venues hold
every answer, the "timeout" fault, while single prices are asked); the serving floor; batch
latency with every quote venue hanging (an in-process router, cold); everything stopped.

Every price answer is checked against the truth: the simulated market is a pure function of
(seed, coin, time), so the reference USD price at the answer's own timestamp is known here.
"""
from __future__ import annotations

import re
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import requests

from sim.market import Market

from . import baselines
from .clients import (CONNECTION_ERROR, ERROR_KINDS, INVALID_INPUT, NO_PROVIDER, OK,
                      RATE_LIMITED, SERVER_ERROR, TIMEOUT, Reply, gradio_call, loopback_session,
                      rest_get)
from .openloop import Timed, run_open_loop, summarize
from .processes import AppProcess, SimProcess
from .workload import (BAD_INPUT_EVERY, BATCH_SIZE, CANDLE_INTERVALS, CANDLE_LIMIT,
                       CANDLE_SYMBOLS, REQUEST_MIX, TICKER_POOL, ZIPF_S, PlannedRequest,
                       build_schedule, price_schedule, single_price_schedule, top_tickers)

BAD_INPUT_ACCEPTED = "bad_input_accepted"      # deliberate bad input answered as if valid
SIM_SEED = 0
OFF_LIMIT = 0.01                               # an answer this far from the truth is wrong
QUOTE_VENUES = ("binance", "coinbase", "kraken", "okx", "kucoin", "bybit", "coinpaprika",
                "cryptocompare", "coingecko")


@dataclass
class Config:
    rate: float = 20.0
    seconds: float = 120.0
    threads: int = 16
    quick: bool = False
    seed: int = 1
    baseline_seconds: float = 20.0
    floor_calls: int = 300
    floor_warmup: int = 30
    inprocess_calls: int = 20_000
    timeout_s: float = 15.0
    skew_venue: str = "okx"
    skew_pct: float = 5.0
    skew_seconds: float = 40.0
    skew_rate: float = 5.0
    hang_venues: tuple[str, ...] = ("binance", "okx", "kucoin", "bybit", "coinbase")
    hang_s: float = 60.0                   # how long a hanging venue holds each answer
    hang_seconds: float = 30.0
    hang_rate: float = 5.0
    hang_batches: tuple[int, ...] = (2, 10, 50)
    out: Path = field(default_factory=lambda: Path(__file__).resolve().parent / "results")

    @classmethod
    def quick_defaults(cls) -> dict:
        """About 30 s in all (most of it the app's start-up): same phases, fewer calls."""
        return {"rate": 10.0, "seconds": 15.0, "baseline_seconds": 5.0, "floor_calls": 50,
                "floor_warmup": 10, "inprocess_calls": 2_000, "skew_seconds": 20.0,
                "hang_seconds": 15.0}


def files_mb(folder: Path, name: str) -> float:
    """MB on disk of SQLite file `name` in `folder` with its -wal/-shm/-journal side files."""
    return round(sum(f.stat().st_size for f in folder.glob(f"{name}*") if f.is_file()) / 1e6, 2)


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# -- one request, as a user sends it ------------------------------------------------------------

def send(req: PlannedRequest, http: requests.Session, base: str, timeout: float) -> Reply:
    if req.path == "rest":
        if req.kind == "price":
            return rest_get(http, base, "/api/market/price", {"symbol": req.symbols[0]}, timeout)
        if req.kind == "prices":
            return rest_batch(http, base, req.symbols, timeout)
        if req.kind == "ohlc":
            return rest_get(http, base, "/api/market/ohlc", {
                "symbol": req.symbols[0], "timeframe": req.interval, "limit": req.limit}, timeout)
        return rest_get(http, base, "/api/system/status", None, timeout)
    if req.kind == "price":
        return gradio_call(http, base, "get_price", [req.symbols[0]], timeout)
    if req.kind == "prices":
        return gradio_call(http, base, "get_prices", [",".join(req.symbols)], timeout)
    if req.kind == "ohlc":
        return gradio_call(http, base, "get_ohlc", [req.symbols[0], req.interval, req.limit],
                           timeout)
    return gradio_call(http, base, "system_status", [], timeout)


def rest_batch(http: requests.Session, base: str, symbols: tuple[str, ...],
               timeout: float) -> Reply:
    """The batch route: one GET for all the symbols; its rows are the price answers."""
    reply = rest_get(http, base, "/api/market/prices", {"symbols": ",".join(symbols)}, timeout)
    if reply.kind == OK and isinstance(reply.body, dict):
        return Reply(OK, reply.body.get("prices", []), reply.http_status)
    return reply


def names_param(reply: Reply, param: str) -> bool:
    """A clear rejection: a 4xx / an "Invalid input" error event that names the parameter."""
    if reply.kind != INVALID_INPUT:
        return False
    if reply.param == param:
        return True
    return re.search(rf"\b{re.escape(param)}\b", reply.error or "") is not None


# -- what the load phase saw --------------------------------------------------------------------

def price_rows(req: PlannedRequest, reply: Reply) -> list[dict]:
    if reply.kind != OK or req.kind not in ("price", "prices"):
        return []
    rows = reply.body if isinstance(reply.body, list) else [reply.body]
    return [r for r in rows if isinstance(r, dict)]


def summarize_load(timed: list[Timed], planned: int, elapsed_s: float) -> dict:
    errors: dict[str, Counter] = {}
    bad_sent = bad_clear = 0
    unclear: list[dict] = []
    stale = Counter()
    batch_row_errors = 0
    sources: Counter[str] = Counter()
    latency: dict[str, list[float]] = {}
    for t in timed:
        req: PlannedRequest = t.item
        reply: Reply = t.result
        kind = reply.kind
        if req.bad_param is not None:
            bad_sent += 1
            if names_param(reply, req.bad_param):
                bad_clear += 1
                kind = OK                    # the right answer to bad input
            else:
                if kind == OK:
                    kind = BAD_INPUT_ACCEPTED
                if len(unclear) < 10:
                    unclear.append({"path": req.path, "kind": req.kind, "param": req.bad_param,
                                    "got": reply.kind, "http_status": reply.http_status,
                                    "error": (reply.error or "")[:200]})
        if kind != OK:
            errors.setdefault(kind, Counter())[req.path] += 1
        rows = price_rows(req, reply)
        for row in rows:
            if "error" in row:
                batch_row_errors += 1
            elif row.get("source"):
                sources[row["source"]] += 1
        answers = rows if req.kind != "ohlc" else (
            [reply.body] if reply.kind == OK and isinstance(reply.body, dict) else [])
        if any(a.get("stale") for a in answers):
            stale[req.path] += 1
        if reply.kind in (TIMEOUT, CONNECTION_ERROR):
            continue
        if req.bad_param:                  # kept apart: "all" and the paths are valid requests
            keys = ("type:bad_input", f"{req.path}:bad_input")
        else:
            keys = ("all", f"path:{req.path}", f"type:{req.kind}", f"{req.path}:{req.kind}")
        for key in keys:
            latency.setdefault(key, []).append(t.latency_ms)
    answered = sum(1 for t in timed if t.result.kind not in (TIMEOUT, CONNECTION_ERROR))
    by_kind = {k: {"rest": c["rest"], "gradio": c["gradio"], "total": sum(c.values())}
               for k, c in sorted(errors.items())}

    def total(kind: str) -> int:
        return by_kind.get(kind, {}).get("total", 0)

    return {
        "requests_planned": planned,
        "requests_sent": len(timed),
        "requests_answered": answered,
        "offered_rate_per_s": round(len(timed) / elapsed_s, 2) if elapsed_s else None,
        "by_type": dict(Counter(("bad_input" if t.item.bad_param else t.item.kind)
                                for t in timed)),
        "by_path": dict(Counter(t.item.path for t in timed)),
        "user_visible_errors": sum(v["total"] for v in by_kind.values()),
        "errors_by_kind": by_kind,
        "user_visible_429": total(RATE_LIMITED),
        "server_errors_5xx": total(SERVER_ERROR),
        "timeouts": total(TIMEOUT),
        "no_provider_503": total(NO_PROVIDER),
        "connection_errors": total(CONNECTION_ERROR),
        "stale_answers": sum(stale.values()),
        "stale_by_path": dict(stale),
        "batch_rows_with_error": batch_row_errors,
        "bad_input": {"sent": bad_sent, "clear_rejection": bad_clear,
                      "unclear": bad_sent - bad_clear, "unclear_examples": unclear},
        "answer_sources": dict(sources.most_common()),
        "distinct_sources": len(sources),
        "latency_ms": {k: summarize(v) for k, v in sorted(latency.items())},
        "start_lag_ms": summarize([t.lag_ms for t in timed]),
    }


def upstream_summary(status: dict, sim_stats: dict, user_requests: int,
                     before: dict | None = None) -> dict:
    """Upstream calls as the app counts them (its /api/system/status) next to what each
    simulated provider received and how often it answered with a rate limit. With `before`
    (the status at the start of the load), the app's counters are differences over the load."""
    perf = dict(status.get("performance", {}))
    base_perf = (before or {}).get("performance", {})
    base_rows = {p["name"]: p for p in (before or {}).get("providers_detailed", [])}
    if before is not None:
        for key in ("requests", "cache_hits", "upstream_calls"):
            if perf.get(key) is not None:
                perf[key] -= base_perf.get(key) or 0
        if perf.get("requests"):
            perf["cache_hit_rate"] = round(perf.get("cache_hits", 0) / perf["requests"], 4)
    total_calls = sum(p.get("upstream_calls", 0) - base_rows.get(p["name"], {}).get(
        "upstream_calls", 0) for p in status.get("providers_detailed", []))
    rows = {}
    for p in status.get("providers_detailed", []):
        name = p["name"]
        sim = sim_stats.get(name, {})
        calls = p.get("upstream_calls", 0) - base_rows.get(name, {}).get("upstream_calls", 0)
        if p.get("status") == "disabled" and not calls:
            continue
        rows[name] = {"upstream_calls": calls,
                      "share": round(calls / total_calls, 4) if total_calls else 0.0,
                      "status": p.get("status"), "reason": p.get("reason"),
                      "rate_limit_hits": p.get("rate_limit_hits", 0)
                      - base_rows.get(name, {}).get("rate_limit_hits", 0),
                      "outliers": p.get("outliers", 0),
                      "sim_requests": sim.get("requests", 0),
                      "sim_rate_limited": sim.get("rate_limited", 0)}
    total = perf.get("upstream_calls")
    if total is None:
        total = sum(r["upstream_calls"] for r in rows.values())
    sim_total = sum(s.get("requests", 0) for s in sim_stats.values())
    cg = rows.get("coingecko", {})
    return {
        "by_provider": dict(sorted(rows.items(), key=lambda kv: -kv[1]["upstream_calls"])),
        "upstream_calls": total,
        "coingecko_share": cg.get("share", 0.0),
        "coingecko_share_sim": round(sim_stats.get("coingecko", {}).get("requests", 0)
                                     / sim_total, 4) if sim_total else 0.0,
        "per_1000_user_requests": round(total / user_requests * 1000, 1) if user_requests
        else None,
        "cache_hit_rate": perf.get("cache_hit_rate"),
        "app_requests": perf.get("requests"),
        "app_avg_response_ms": perf.get("avg_response_ms"),
        "app_upstream_per_request": perf.get("upstream_per_request"),
        "provider_rate_limit_answers": sum(s.get("rate_limited", 0) for s in sim_stats.values()),
        "sim_requests": sim_total,
        "overall_health": status.get("overall_health"),
    }


def fetch_status(base: str) -> dict:
    with loopback_session() as http:
        r = http.get(f"{base}/api/system/status", timeout=30)
        r.raise_for_status()
        return r.json()


def true_usd(market: Market, row: dict) -> tuple[float, float] | None:
    """(the answer's price in USD at the market's own tether rate, the reference price), both
    at the answer's data timestamp; None for a row without a price."""
    if not isinstance(row.get("price"), (int, float)) or not row.get("symbol"):
        return None
    t = row.get("timestamp") or time.time()
    try:
        ref = market.price(row["symbol"], t)
    except KeyError:
        return None
    rate = market.price("USDT", t) if row.get("quote_currency") == "USDT" else 1.0
    return row["price"] * rate, ref


def truth_summary(timed: list[Timed], market: Market, skewed: str | None = None,
                  skewed_since: float | None = None) -> dict:
    """How many price answers (single and batch rows) were more than 1 % off the true price,
    the worst deviation, how many the skewed venue served from a fetch made after it began to
    skew (`skewed_since`, perf_counter; a quote it gave before, still served from the cache
    while refreshed, is an honest one), and the consensus statuses seen."""
    checked = off = from_skewed = 0
    worst = 0.0
    examples: list[dict] = []
    statuses: Counter[str] = Counter()
    for t in timed:
        for row in price_rows(t.item, t.result):
            pair = true_usd(market, row)
            if pair is None:
                continue
            usd, ref = pair
            checked += 1
            dev = abs(usd / ref - 1)
            worst = max(worst, dev)
            statuses[(row.get("consensus") or {}).get("status", "none")] += 1
            fetched = t.done - float(row.get("age_s") or 0.0)
            if skewed and row.get("source") == skewed and (skewed_since is None
                                                          or fetched >= skewed_since):
                from_skewed += 1
            if dev > OFF_LIMIT:
                off += 1
                if len(examples) < 5:
                    examples.append({"symbol": row["symbol"], "source": row.get("source"),
                                     "off_pct": round(dev * 100, 2)})
    return {"answers_checked": checked, "off_by_more_than_1pct": off,
            "worst_off_pct": round(worst * 100, 3), "served_by_skewed_venue": from_skewed,
            "consensus_status": dict(statuses), "examples": examples}


def warm_up(base: str, timeout: float) -> int:
    """What a running Space already holds: each candle series of the workload once and one
    batch of the top coins. Kept out of the load's figures."""
    sent = 0
    with loopback_session() as http:
        for symbol in top_tickers(TICKER_POOL)[:CANDLE_SYMBOLS]:
            for interval in CANDLE_INTERVALS:
                rest_get(http, base, "/api/market/ohlc", {"symbol": symbol, "timeframe": interval,
                                                          "limit": CANDLE_LIMIT}, timeout)
                sent += 1
        rest_get(http, base, "/api/market/prices",
                 {"symbols": ",".join(top_tickers(TICKER_POOL))}, timeout)
    return sent + 1


# -- the run ------------------------------------------------------------------------------------

def run(cfg: Config, stop: threading.Event | None = None) -> dict:
    """Every phase in order; the simulator and the app are stopped whatever happens."""
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    plan = build_schedule(cfg.rate, cfg.seconds, cfg.seed)
    baseline_schedule = single_price_schedule(plan, cfg.baseline_seconds)
    phases: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        sim = app = None
        try:
            progress("starting the simulator (python -m sim --latency-scale 1.0)")
            sim = SimProcess(workdir, seed=SIM_SEED)
            sim.start()
            progress(f"in-process router: {cfg.inprocess_calls} cached get_quote calls")
            mark = time.monotonic()
            in_process = baselines.in_process_quote(sim.base_urls, cfg.inprocess_calls)
            phases["in_process"] = time.monotonic() - mark
            progress("starting the app (python app.py)")
            app = AppProcess(workdir, sim.base_urls)
            app.start()
            progress(f"while it boots: naive CoinGecko baseline, {len(baseline_schedule)} calls")
            mark = time.monotonic()
            naive = baselines.naive_coingecko(sim, baseline_schedule, cfg.threads, stop)
            progress(f"careful single-provider baseline (requests-cache, {baselines.CAREFUL_EXPIRE_S:g} s)")
            careful = baselines.careful_coingecko(sim, baseline_schedule, cfg.threads, stop)
            phases["baselines"] = time.monotonic() - mark
            startup_s = app.wait_healthy()
            progress(f"app healthy {startup_s:.1f} s after start; warming up")
            warmed = warm_up(app.base, cfg.timeout_s)
            before = fetch_status(app.base)
            progress(f"warm-up: {warmed} requests; resetting the simulator")
            sim.reset()
            progress(f"open-loop load: {cfg.rate:g} req/s for {cfg.seconds:g} s, "
                     f"{cfg.threads} threads ({len(plan)} requests)")
            mark = time.monotonic()
            timed = run_open_loop([(r.due_s, r) for r in plan],
                                  lambda r, http: send(r, http, app.base, cfg.timeout_s),
                                  cfg.threads, stop)
            phases["load"] = time.monotonic() - mark
            status = fetch_status(app.base)
            http_cache_mb = files_mb(workdir / "app-data", "http_cache.sqlite")
            sim_stats = sim.stats()
            progress(f"skewed venue: {cfg.skew_venue} quotes every coin {cfg.skew_pct:g} % high; "
                     f"{cfg.skew_rate:g} single prices/s for {cfg.skew_seconds:g} s")

            def prices_phase(name: str, rate: float, seconds: float, seed_offset: int):
                """Single prices at `rate` for `seconds` (its own seed); phases[name] its time."""
                mark = time.monotonic()
                plan = price_schedule(rate, seconds, cfg.seed + seed_offset)
                timed = run_open_loop([(r.due_s, r) for r in plan],
                                      lambda r, http: send(r, http, app.base, cfg.timeout_s),
                                      cfg.threads, stop)
                phases[name] = time.monotonic() - mark
                return plan, timed

            sim.set_fault(cfg.skew_venue, "skew", pct=cfg.skew_pct)
            skew_since = time.perf_counter()
            skew_plan, skew_timed = prices_phase("skew", cfg.skew_rate, cfg.skew_seconds, 1)
            skew_status = fetch_status(app.base)
            sim.set_fault(cfg.skew_venue, None)
            progress(f"hanging venues: {', '.join(cfg.hang_venues)} hold every answer "
                     f"{cfg.hang_s:g} s; {cfg.hang_rate:g} single prices/s for "
                     f"{cfg.hang_seconds:g} s")
            for venue in cfg.hang_venues:
                sim.set_fault(venue, "timeout", seconds=cfg.hang_s)
            hang_plan, hang_timed = prices_phase("hang", cfg.hang_rate, cfg.hang_seconds, 2)
            hang_status = fetch_status(app.base)
            for venue in cfg.hang_venues:
                sim.set_fault(venue, None)
            progress(f"serving floor: {cfg.floor_calls} calls per probe, interleaved")
            mark = time.monotonic()
            floor = baselines.serving_floor(app.base, cfg.floor_calls, cfg.floor_warmup)
            phases["serving_floor"] = time.monotonic() - mark
            progress(f"every quote venue hanging: batches of {cfg.hang_batches} coins, "
                     "in-process router")
            mark = time.monotonic()
            batches = baselines.hung_batches(sim, list(QUOTE_VENUES), cfg.hang_batches,
                                             cfg.hang_s)
            phases["hung_batches"] = time.monotonic() - mark
        finally:
            for proc in (app, sim):
                if proc is not None:
                    proc.stop()
    load = summarize_load(timed, len(plan), phases["load"])
    market = Market(SIM_SEED)
    load["truth"] = truth_summary(timed, market)
    skew_load = summarize_load(skew_timed, len(skew_plan), phases["skew"])
    skew_row = next((p for p in skew_status.get("providers_detailed", [])
                     if p["name"] == cfg.skew_venue), {})
    skew = {"venue": cfg.skew_venue, "pct": cfg.skew_pct, "requests": len(skew_plan),
            "seconds": cfg.skew_seconds, "errors": skew_load["user_visible_errors"],
            "answer_sources": skew_load["answer_sources"],
            "latency_ms": skew_load["latency_ms"].get("all"),
            "truth": truth_summary(skew_timed, market, cfg.skew_venue, skew_since),
            "venue_state": skew_row.get("status"), "venue_reason": skew_row.get("reason"),
            "venue_outliers": skew_row.get("outliers", 0)}
    hang_load = summarize_load(hang_timed, len(hang_plan), phases["hang"])
    hang = {"venues": list(cfg.hang_venues), "of": len(QUOTE_VENUES), "requests": len(hang_plan),
            "seconds": cfg.hang_seconds, "errors": hang_load["user_visible_errors"],
            "answer_sources": hang_load["answer_sources"],
            "latency_ms": hang_load["latency_ms"].get("all"),
            "hedges": (hang_status.get("performance", {}).get("hedges", 0)
                       - skew_status.get("performance", {}).get("hedges", 0)),
            "hedges_by_provider": hang_status.get("performance", {}).get("hedges_by_provider"),
            "healthy_latency_ms": load["latency_ms"].get("all"),
            "healthy_hedges": (status.get("performance", {}).get("hedges", 0)
                               - before.get("performance", {}).get("hedges", 0)),
            "batches_all_hanging": batches}
    return {
        "schema": 1,
        "quick": cfg.quick,
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t0, 1),
        "config": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
                   "mix": dict(REQUEST_MIX), "zipf_s": ZIPF_S, "ticker_pool": TICKER_POOL,
                   "batch_size": BATCH_SIZE, "candle_symbols": CANDLE_SYMBOLS,
                   "candle_intervals": list(CANDLE_INTERVALS), "candle_limit": CANDLE_LIMIT,
                   "bad_input_every": BAD_INPUT_EVERY, "sim_latency_scale": 1.0},
        "app": {"startup_s": round(startup_s, 1), "http_cache_mb_after_load": http_cache_mb},
        "phases_s": {k: round(v, 1) for k, v in phases.items()},
        "load": load,
        "upstream": upstream_summary(status, sim_stats, load["requests_sent"], before),
        "skew": skew,
        "hang": hang,
        "warm_up_requests": warmed,
        "baselines": {"naive_coingecko": naive, "careful_single_provider": careful,
                      "serving_floor": floor, "in_process": in_process},
        "error_kinds": list(ERROR_KINDS) + [BAD_INPUT_ACCEPTED],
    }
