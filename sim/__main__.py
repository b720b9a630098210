"""`python -m sim`: run every simulated provider in the foreground.

Prints one `<NAME>_BASE_URL=http://127.0.0.1:<port>` line per provider (ready to `export`, or
to feed an env file), then serves until Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from .simulator import APPS, Simulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None,
                        help="first port; providers take N, N+1, ... (default or 0: each "
                             "provider on a free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--latency-scale", type=float, default=1.0,
                        help="multiply each provider's typical latency (0 = answer at once)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated market")
    parser.add_argument("--no-limits", action="store_true",
                        help="do not enforce the providers' rate limits")
    parser.add_argument("--timeout-seconds", type=float, default=12.0,
                        help="how long the 'timeout' fault holds an answer (default 12)")
    args = parser.parse_args(argv)
    if args.port is not None and not 0 <= args.port <= 65535 - len(APPS) + 1:
        parser.error(f"--port must be 0 (free ports) or 1 to {65535 - len(APPS) + 1}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sim = Simulator(seed=args.seed, latency_scale=args.latency_scale, limits=not args.no_limits,
                    host=args.host, port=args.port, timeout_seconds=args.timeout_seconds)
    try:
        sim.start()
    except OSError as exc:
        print(f"sim: cannot bind: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    for key, url in sim.env().items():
        print(f"{key}={url}")
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
