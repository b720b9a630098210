"""Memory held by the app per Gradio API call: RSS of `python app.py` (read from
/proc/<pid>/status) before and after N calls of `/gradio_api/call/get_price`.

    python -m bench.memory --calls 10000

Each call is a new Gradio session; a server that keeps per-session state grows with every call
until Gradio's session cap, so the figure is RSS growth over the calls, in MB.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .clients import OK, gradio_call, loopback_session
from .processes import AppProcess, SimProcess

SYMBOLS = ("BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "BNB", "LTC")


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MB, from /proc/<pid>/status (VmRSS is in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


def gradio_calls(base: str, calls: int, threads: int = 4) -> int:
    """`calls` get_price calls over the two-step call route; returns how many answered."""
    def run(share: int) -> int:
        ok = 0
        with loopback_session() as http:
            for i in range(share):
                reply = gradio_call(http, base, "get_price", [SYMBOLS[i % len(SYMBOLS)]], 30.0)
                ok += reply.kind == OK
        return ok

    shares = [calls // threads + (1 if i < calls % threads else 0) for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(run, shares))


def measure(calls: int, workdir: Path, warmup: int = 200) -> dict:
    """Start the simulator and the app, warm up, then RSS before and after `calls` calls."""
    sim = SimProcess(workdir, latency_scale=0.0)
    app = None
    try:
        sim.start()
        app = AppProcess(workdir, sim.base_urls).start()
        app.wait_healthy()
        gradio_calls(app.base, warmup)
        before = rss_mb(app.proc.pid)
        started = time.monotonic()
        answered = gradio_calls(app.base, calls)
        elapsed = time.monotonic() - started
        after = rss_mb(app.proc.pid)
        return {"calls": calls, "answered": answered, "rss_before_mb": round(before, 1),
                "rss_after_mb": round(after, 1), "growth_mb": round(after - before, 1),
                "seconds": round(elapsed, 1)}
    finally:
        if app is not None:
            app.stop()
        sim.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--calls", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        print(measure(args.calls, Path(tmp)))


if __name__ == "__main__":
    main()
