"""`python -m bench --replicas N`: what several replicas cost the providers, four ways.

One schedule, four configurations, one simulator at the providers' real limits:

    one          one `python app.py`
    independent  N `python app.py` with no REDIS_URL (each its own cache, budgets, cooldowns)
    redis        N `python app.py` on one REDIS_URL (shared state)
    redis-killed the same, with redis-server SIGKILLed halfway through the load

Clients spread the schedule round-robin over the replicas (request i goes to replica i mod N).
Upstream calls and rate-limit answers are the simulator's own counters (what the providers
would see), never the app's. Every configuration starts from nothing: fresh app processes, fresh
DATA_DIRs, a fresh redis-server, and the simulator reset (counters and rate-limit windows).

    python -m bench --replicas 3            20 single prices/s for 40 s (about 4 min in all)
    python -m bench --replicas 3 --quick    8 single prices/s for 10 s (about 2 min)

Writes bench/results/replicas-latest[-quick].{json,md} and a timestamped copy (untracked).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import requests

from .clients import CONNECTION_ERROR, OK, TIMEOUT, loopback_session
from .openloop import START_LEAD_S, Timed, run_open_loop, summarize
from .processes import AppProcess, RedisProcess, SimProcess
from .report import machine_info, run_interruptibly, table, write_report
from .scenario import SIM_SEED, send
from .workload import PlannedRequest, price_schedule

CONFIGURATIONS = ("one", "independent", "redis", "redis-killed")
LABELS = {"one": "one replica", "independent": "{n} independent (no REDIS_URL)",
          "redis": "{n} on one Redis", "redis-killed": "{n} on Redis, Redis killed halfway"}
TARGET_RATIO = 1.3            # upstream calls per 1,000 requests, against one replica's


@dataclass
class FleetConfig:
    replicas: int = 3
    rate: float = 20.0
    seconds: float = 40.0
    threads: int = 16
    seed: int = 1
    quick: bool = False
    timeout_s: float = 15.0
    kill_at: float = 0.5                   # share of the load after which Redis is killed
    configurations: tuple[str, ...] = CONFIGURATIONS
    out: Path = field(default_factory=lambda: Path(__file__).resolve().parent / "results")

    @classmethod
    def quick_defaults(cls) -> dict:
        return {"rate": 8.0, "seconds": 10.0, "threads": 8}


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> FleetConfig:
    p = argparse.ArgumentParser(prog="python -m bench",
                                description=__doc__.splitlines()[0])
    p.add_argument("--replicas", type=int, required=True, help="replicas in the fleet (2 or more)")
    p.add_argument("--quick", action="store_true", help="a short run with the same report shape")
    p.add_argument("--rate", type=float, help="single prices per second (default 20; quick 8)")
    p.add_argument("--seconds", type=float, help="length of the load (default 40; quick 10)")
    p.add_argument("--threads", type=int, help="client threads (default 16; quick 8)")
    p.add_argument("--seed", type=int, help="seed of the request schedule (default 1)")
    p.add_argument("--kill-at", type=float,
                   help="share of the load after which Redis is killed (default 0.5)")
    p.add_argument("--only", help="comma list of configurations to run (default all: "
                                  + ",".join(CONFIGURATIONS) + ")")
    p.add_argument("--out", type=Path, help="report directory (default bench/results)")
    args = p.parse_args(argv)
    values = FleetConfig.quick_defaults() if args.quick else {}
    for name in ("rate", "seconds", "threads", "seed", "kill_at", "out"):
        given = getattr(args, name)
        if given is not None:
            values[name] = given
    if args.only:
        chosen = tuple(c.strip() for c in args.only.split(",") if c.strip())
        unknown = [c for c in chosen if c not in CONFIGURATIONS]
        if unknown or not chosen:
            p.error(f"--only: unknown configuration(s) {unknown}; allowed: "
                    + ", ".join(CONFIGURATIONS))
        values["configurations"] = tuple(c for c in CONFIGURATIONS if c in chosen)
    cfg = FleetConfig(replicas=args.replicas, quick=args.quick, **values)
    if cfg.replicas < 2:
        p.error("--replicas must be at least 2 (one replica is always measured beside it)")
    if cfg.rate <= 0 or cfg.seconds <= 0 or cfg.threads < 1:
        p.error("--rate and --seconds must be positive and --threads at least 1")
    if not 0 < cfg.kill_at < 1:
        p.error("--kill-at must be between 0 and 1")
    return cfg


# -- one configuration ---------------------------------------------------------------------------

def _status(base: str) -> dict | None:
    """A replica's /api/system/status, or None when it does not answer (e.g. it was killed)."""
    try:
        with loopback_session() as http:
            r = http.get(f"{base}/api/system/status", timeout=15)
        return r.json() if r.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None


def _sim_totals(stats: dict) -> dict:
    """Upstream calls and rate-limit answers over every simulated provider."""
    by_status: Counter[str] = Counter()
    for s in stats.values():
        by_status.update(s.get("by_status", {}))
    return {"calls": sum(s.get("requests", 0) for s in stats.values()),
            "rate_limited": sum(s.get("rate_limited", 0) for s in stats.values()),
            "by_provider": {name: s.get("requests", 0) for name, s in sorted(
                stats.items(), key=lambda kv: -kv[1].get("requests", 0)) if s.get("requests")},
            "rate_limited_by_provider": {name: s["rate_limited"] for name, s in stats.items()
                                         if s.get("rate_limited")},
            "by_status": dict(sorted(by_status.items()))}


def _diff(after: dict, before: dict) -> dict:
    """Per-provider counters of `after` minus `before` (requests, rate_limited, by_status)."""
    out = {}
    for name, s in after.items():
        b = before.get(name, {})
        out[name] = {"requests": s.get("requests", 0) - b.get("requests", 0),
                     "rate_limited": s.get("rate_limited", 0) - b.get("rate_limited", 0),
                     "by_status": {k: v - b.get("by_status", {}).get(k, 0)
                                   for k, v in s.get("by_status", {}).items()}}
    return out


def _load_figures(timed: list[Timed], elapsed_s: float, upstream_calls: int,
                  replicas: int) -> dict:
    kinds = Counter(t.result.kind for t in timed)
    answered = [t for t in timed if t.result.kind not in (TIMEOUT, CONNECTION_ERROR)]
    ok = kinds.get(OK, 0)
    errors = {k: v for k, v in kinds.items() if k != OK}
    examples = [{"request": t.item.index, "replica": t.item.index % replicas,
                 "kind": t.result.kind,
                 "error": (t.result.error or "")[:200]} for t in timed if t.result.kind != OK][:5]
    sent = len(timed)
    return {"requests": sent, "ok": ok, "user_errors": sum(errors.values()),
            "errors_by_kind": errors, "error_examples": examples,
            "throughput_per_s": round(ok / elapsed_s, 2) if elapsed_s else None,
            "latency_ms": summarize([t.latency_ms for t in answered]),
            "upstream_calls": upstream_calls,
            "upstream_per_1000": round(upstream_calls / sent * 1000, 1) if sent else None,
            "stale_answers": sum(1 for t in timed if t.result.kind == OK
                                 and isinstance(t.result.body, dict)
                                 and t.result.body.get("stale"))}


def _shared_view(status: dict | None) -> dict | None:
    """What a replica says about the shared state (None before the seam exists)."""
    if not status:
        return None
    shared = (status.get("infrastructure") or {}).get("shared_state")
    replicas = status.get("replicas")
    return {"shared_state": shared,
            "replicas_alive": (sum(1 for r in replicas if r.get("alive"))
                               if isinstance(replicas, list) else None),
            "app_requests": (status.get("performance") or {}).get("requests")}


def run_configuration(name: str, cfg: FleetConfig, sim: SimProcess, workdir: Path,
                      plan: list[PlannedRequest], stop: threading.Event | None) -> dict:
    """Start the replicas (and Redis), reset the simulator, run the schedule round-robin over
    the replicas, read the simulator's counters; everything stopped whatever happens."""
    n = 1 if name == "one" else cfg.replicas
    root = workdir / name
    redis = None
    apps: list[AppProcess] = []
    killed_at_s = None
    try:
        env: dict[str, str] = {}
        if name.startswith("redis"):
            redis = RedisProcess(root / "redis")
            redis.start()
            env["REDIS_URL"] = redis.url
        for i in range(n):
            extra = {**env, "REPLICA_ID": f"{name}-{i}"} if env else {}
            apps.append(AppProcess(root / f"app-{i}", sim.base_urls, extra_env=extra))
        progress(f"[{name}] starting {n} app process(es)"
                 + (f" on {redis.url}" if redis else ""))
        for app in apps:
            app.start()
        startup = [round(app.wait_healthy(), 1) for app in apps]
        sim.reset()
        before = sim.stats()
        progress(f"[{name}] load: {cfg.rate:g} single prices/s for {cfg.seconds:g} s, "
                 f"round-robin over {n}")
        kill_stats: dict = {}
        killer = None
        if name == "redis-killed":
            kill_after = START_LEAD_S + cfg.seconds * cfg.kill_at
            mark_kill = time.monotonic()

            def kill_redis() -> None:
                nonlocal killed_at_s
                redis.kill()
                killed_at_s = round(time.monotonic() - mark_kill - START_LEAD_S, 2)
                kill_stats.update(sim.stats())
                progress(f"[{name}] redis-server killed (SIGKILL) at {killed_at_s:g} s")
            killer = threading.Timer(kill_after, kill_redis)
            killer.daemon = True
            killer.start()
        mark = time.monotonic()
        timed = run_open_loop([(r.due_s, r) for r in plan],
                              lambda r, http: send(r, http, apps[r.index % n].base,
                                                   cfg.timeout_s), cfg.threads, stop)
        elapsed = time.monotonic() - mark - START_LEAD_S
        if killer is not None:
            killer.cancel()
            killer.join(timeout=10)
        after = sim.stats()
        if redis is not None:
            time.sleep(1.0)       # the replicas push their counters to Redis every 0.25 s
        statuses = [_status(app.base) for app in apps]
    finally:
        for proc in (*apps, redis):
            if proc is not None:
                proc.stop()
    diff = _diff(after, before)
    totals = _sim_totals(diff)
    result = {"name": name, "label": LABELS[name].format(n=n), "replicas": n,
              "redis": redis is not None, "startup_s": startup,
              **_load_figures(timed, elapsed, totals["calls"], n),
              "provider_rate_limit_answers": totals["rate_limited"],
              "upstream_by_provider": totals["by_provider"],
              "rate_limited_by_provider": totals["rate_limited_by_provider"],
              "upstream_by_status": totals["by_status"],
              "replica_views": [_shared_view(s) for s in statuses]}
    if name == "redis-killed":
        result["redis_killed_at_s"] = killed_at_s
        if kill_stats:
            first = _sim_totals(_diff(kill_stats, before))
            second = _sim_totals(_diff(after, kill_stats))
            cut = killed_at_s if killed_at_s is not None else cfg.seconds * cfg.kill_at
            n_first = sum(1 for r in plan if r.due_s < cut)
            n_second = len(plan) - n_first
            after_kill = [t for t in timed if t.item.due_s >= cut]
            result["halves"] = {
                "before_kill": {"requests": n_first, "upstream_calls": first["calls"],
                                "rate_limited": first["rate_limited"]},
                "after_kill": {"requests": n_second, "upstream_calls": second["calls"],
                               "rate_limited": second["rate_limited"],
                               "user_errors": sum(1 for t in after_kill if t.result.kind != OK),
                               "latency_ms": summarize([t.latency_ms for t in after_kill])}}
    return result


# -- the run -------------------------------------------------------------------------------------

def run(cfg: FleetConfig, stop: threading.Event | None = None) -> dict:
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    plan = price_schedule(cfg.rate, cfg.seconds, cfg.seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        workdir = Path(tmp)
        sim = None
        try:
            progress("starting the simulator (python -m sim --latency-scale 1.0, real limits)")
            sim = SimProcess(workdir, seed=SIM_SEED)
            sim.start()
            for name in cfg.configurations:
                if stop is not None and stop.is_set():
                    break
                results.append(run_configuration(name, cfg, sim, workdir, plan, stop))
                r = results[-1]
                progress(f"[{name}] {r['requests']} requests, {r['upstream_calls']} upstream "
                         f"calls ({r['upstream_per_1000']} per 1,000), "
                         f"{r['provider_rate_limit_answers']} rate-limit answers, "
                         f"{r['user_errors']} user errors")
        finally:
            if sim is not None:
                sim.stop()
    one = next((r for r in results if r["name"] == "one"), None)

    def ratio(per_1000: float | None) -> float | None:
        if per_1000 is None or not one or not one["upstream_per_1000"]:
            return None
        return round(per_1000 / one["upstream_per_1000"], 2)
    for r in results:
        r["ratio_to_one"] = ratio(r["upstream_per_1000"])
        for half in (r.get("halves") or {}).values():
            half["upstream_per_1000"] = (round(half["upstream_calls"] / half["requests"] * 1000,
                                               1) if half["requests"] else None)
            half["ratio_to_one"] = ratio(half["upstream_per_1000"])
    return {"schema": 1, "kind": "replicas", "quick": cfg.quick,
            "started_at": started.isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - t0, 1),
            "config": {**{k: (str(v) if isinstance(v, Path) else v)
                          for k, v in asdict(cfg).items()},
                       "requests": len(plan), "workload": "single prices (price_schedule), "
                       "half REST half Gradio API, Zipf over the top 50 coins",
                       "sim_latency_scale": 1.0, "sim_limits": "real"},
            "configurations": results,
            "command": command_line(cfg)}


def command_line(cfg: FleetConfig) -> str:
    parts = ["python -m bench", f"--replicas {cfg.replicas}"]
    if cfg.quick:
        parts.append("--quick")
    defaults = FleetConfig(replicas=cfg.replicas, **(FleetConfig.quick_defaults()
                                                     if cfg.quick else {}))
    for name in ("rate", "seconds", "threads", "seed", "kill_at"):
        if getattr(cfg, name) != getattr(defaults, name):
            parts.append(f"--{name.replace('_', '-')} {getattr(cfg, name):g}")
    if cfg.configurations != CONFIGURATIONS:
        parts.append("--only " + ",".join(cfg.configurations))
    return " ".join(parts)


def judge(report: dict) -> list[dict]:
    """The issue's targets, per configuration that has them."""
    targets = []
    for r in report["configurations"]:
        label = r["label"]
        targets.append({"target": f"{label}: user errors 0", "measured": r["user_errors"],
                        "met": r["user_errors"] == 0})
        if r["name"] == "one":
            continue
        targets.append({"target": f"{label}: provider rate-limit answers 0",
                        "measured": r["provider_rate_limit_answers"],
                        "met": r["provider_rate_limit_answers"] == 0})
        # with Redis killed the replicas are independent from then on: the shared target
        # applies to the half before the kill
        shared = (r.get("halves") or {}).get("before_kill", r) if r["name"] == "redis-killed" \
            else r if r["name"] == "redis" else None
        if shared is not None and shared.get("ratio_to_one") is not None:
            when = " (before the kill)" if r["name"] == "redis-killed" else ""
            targets.append({"target": f"{label}: upstream calls per 1,000 requests{when} ≤ "
                                      f"{TARGET_RATIO:g}× one replica's",
                            "measured": f"{shared['ratio_to_one']:g}×",
                            "met": shared["ratio_to_one"] <= TARGET_RATIO})
    return targets


def to_markdown(report: dict) -> str:
    cfg = report["config"]
    m = report.get("machine") or {}
    rows = []
    for r in report["configurations"]:
        lat = r["latency_ms"]
        rows.append([r["label"], r["requests"], r["upstream_calls"], r["upstream_per_1000"],
                     f"{r['ratio_to_one']:g}×" if r["ratio_to_one"] is not None else "",
                     r["provider_rate_limit_answers"], r["user_errors"], r["throughput_per_s"],
                     lat["p50"], lat["p95"]])
    lines = [f"# Fleet report{' (quick)' if report['quick'] else ''}: "
             f"{cfg['replicas']} replicas", "",
             f"`{report['command']}`, {report['started_at']}, {report['duration_s']:g} s in all. "
             f"{cfg['requests']} single prices at {cfg['rate']:g}/s for {cfg['seconds']:g} s "
             f"({cfg['workload']}), clients round-robin over the replicas, {cfg['threads']} "
             "client threads; the simulator (`python -m sim`) at the providers' real limits and "
             "latencies. Upstream calls and rate-limit answers are the simulator's own counts.",
             f"Machine: {m.get('nproc')} cores, {m.get('cpu_model')}, Python {m.get('python')}, "
             f"load average {m.get('loadavg_1_5_15')} at the start.", "",
             table(["Configuration", "Requests", "Upstream calls", "per 1,000 requests",
                    "vs one replica", "Provider rate-limit answers", "User errors",
                    "Throughput (ok/s)", "p50 (ms)", "p95 (ms)"], rows), ""]
    lines += ["## Targets", ""] + [f"- [{'met' if t['met'] else 'NOT MET'}] {t['target']}: "
                                   f"{t['measured']}" for t in report.get("targets", [])] + [""]
    lines += ["## Details", ""]
    for r in report["configurations"]:
        lines.append(f"**{r['label']}**: started in {r['startup_s']} s; upstream by provider "
                     f"{json.dumps(r['upstream_by_provider'])}; rate-limit answers by provider "
                     f"{json.dumps(r['rate_limited_by_provider'])}; errors "
                     f"{json.dumps(r['errors_by_kind'])}; stale answers {r['stale_answers']}.")
        views = [v for v in r["replica_views"] if v]
        if any(v.get("shared_state") for v in views):
            states = [f"{(v['shared_state'] or {}).get('replica_id')}: "
                      f"{(v['shared_state'] or {}).get('state')} (budget share "
                      f"{(v['shared_state'] or {}).get('budget_share')}, "
                      f"{v['replicas_alive']} alive, app-counted requests {v['app_requests']})"
                      for v in views]
            lines.append(f"Shared state after the load: {'; '.join(states)}.")
        halves = r.get("halves")
        if halves:
            b, a = halves["before_kill"], halves["after_kill"]
            lines.append(
                f"Redis killed at {r.get('redis_killed_at_s')} s. Before: {b['requests']} "
                f"requests, {b['upstream_calls']} upstream calls ({b.get('upstream_per_1000')} "
                f"per 1,000, {b.get('ratio_to_one')}× one replica's), {b['rate_limited']} "
                f"rate-limit answers. After, each replica on its own state at its budget share: "
                f"{a['requests']} requests, {a['upstream_calls']} upstream calls "
                f"({a.get('upstream_per_1000')} per 1,000, {a.get('ratio_to_one')}×), "
                f"{a['rate_limited']} rate-limit answers, {a['user_errors']} user errors, "
                f"p50 {a['latency_ms']['p50']} ms, p95 {a['latency_ms']['p95']} ms.")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    machine = machine_info()
    report = run_interruptibly(run, cfg, "the simulator, the apps and Redis")
    if report is None:
        return 130
    report["machine"] = machine
    report["targets"] = judge(report)
    written = write_report(report, cfg.out, prefix="replicas-", markdown=to_markdown)
    md = to_markdown(report)
    print(md.split("## Targets")[0].rstrip())
    print()
    for t in report["targets"]:
        print(f"  [{'met' if t['met'] else 'NOT MET'}] {t['target']}: {t['measured']}")
    progress("report: " + ", ".join(str(p) for p in written.values()))
    return 0
