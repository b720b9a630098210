"""`python -m bench`: the deployment checklist's targets as a repeatable load scenario against
the app and the simulator (each in its own process), with baselines; writes the report to
bench/results/ (latest.json, latest.md and a timestamped copy).

    python -m bench                 20 req/s for 120 s, 16 threads (about 3 min in all)
    python -m bench --quick         10 req/s for 15 s, smaller baselines (about 30-40 s)
    python -m bench --replicas 3    one replica, three independent, three on one Redis and
                                    three with Redis killed halfway (bench/replicas.py)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .report import (judge_targets, load_previous, machine_info, run_interruptibly,
                     write_report)
from .scenario import Config, progress, run


def parse_args(argv: list[str] | None = None) -> Config:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="a short run with the same report shape (marked quick: true)")
    p.add_argument("--rate", type=float, help="arrivals per second (default 20; quick 10)")
    p.add_argument("--seconds", type=float, help="length of the load (default 120; quick 15)")
    p.add_argument("--threads", type=int, help="client threads (default 16)")
    p.add_argument("--baseline-seconds", type=float,
                   help="how much of the single-price schedule the CoinGecko baselines replay "
                        "(default 20; quick 5)")
    p.add_argument("--seed", type=int, help="seed of the request schedule (default 1)")
    p.add_argument("--out", type=Path, help="report directory (default bench/results)")
    p.add_argument("--replicas", type=int, metavar="N",
                   help="instead: the fleet benchmark with N replicas (bench/replicas.py; "
                        "`python -m bench --replicas 3 --help` for its options)")
    args = p.parse_args(argv)
    values = Config.quick_defaults() if args.quick else {}
    for name in ("rate", "seconds", "threads", "baseline_seconds", "seed", "out"):
        given = getattr(args, name)
        if given is not None:
            values[name] = given
    cfg = Config(quick=args.quick, **values)
    if cfg.rate <= 0 or cfg.seconds <= 0 or cfg.threads < 1:
        p.error("--rate and --seconds must be positive and --threads at least 1")
    return cfg


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a == "--replicas" or a.startswith("--replicas=") for a in argv):
        from .replicas import main as fleet_main
        return fleet_main(argv)
    cfg = parse_args(argv)
    machine = machine_info()
    report = run_interruptibly(run, cfg, "the simulator and the app")
    if report is None:
        return 130
    report["machine"] = machine
    report["previous"] = load_previous(cfg.out, cfg.quick)
    report["targets"] = judge_targets(report)
    written = write_report(report, cfg.out)
    met = sum(t["met"] for t in report["targets"])
    progress(f"{met} of {len(report['targets'])} targets met; report: "
             + ", ".join(str(p) for p in written.values()))
    for t in report["targets"]:
        print(f"  [{'met' if t['met'] else 'NOT MET'}] {t['target']}: {t['measured']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
