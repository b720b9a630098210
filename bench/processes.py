"""The simulator and the app as separate processes, started the way a user starts them and always
stopped: SIGTERM, a bounded wait, then SIGKILL; and, on Linux, killed by the kernel if this
process dies first (so a test's timeout cannot leave servers behind)."""
from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from .clients import loopback_session

REPO_ROOT = Path(__file__).resolve().parent.parent
BASE_URL_LINE = re.compile(r"^([A-Z0-9_]+_BASE_URL)=(http://\S+)$")
STOP_WAIT_S = 15.0


def free_port() -> int:
    """A port nobody listens on right now (bind to 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """preexec_fn: ask the kernel to SIGTERM the child when this process goes away."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def arm() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)
    return arm


class ManagedProcess:
    """One child in its own session (Ctrl-C in the terminal reaches only us; we stop it).
    Bind the object first, then start(), so a failure while starting still gets it stopped."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path,
                 capture_stdout: bool = False):
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.capture_stdout = capture_stdout
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> "ManagedProcess":
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, cwd=REPO_ROOT, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if self.capture_stdout else self._log, stderr=self._log,
            start_new_session=True, preexec_fn=_die_with_parent())
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> int | None:
        """SIGTERM to the child's process group, wait, then SIGKILL; returns the exit code.
        Ctrl-C and SIGTERM are held off meanwhile so a second one cannot cut this short."""
        if self.proc is None:
            return None
        with _signals_held():
            if self.proc.poll() is None:
                self._signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=STOP_WAIT_S)
                except subprocess.TimeoutExpired:
                    self._signal(signal.SIGKILL)
                    self.proc.wait(timeout=STOP_WAIT_S)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            if self._log is not None:
                self._log.close()
        return self.proc.returncode

    def check_waiting(self, name: str, condition: str, deadline: float, timeout_s: float) -> None:
        """While waiting for the child to get ready: fail with its log when it exited or the
        (monotonic) deadline passed."""
        if not self.alive():
            raise RuntimeError(f"{name} exited with {self.proc.returncode}:\n{self.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} {condition} after {timeout_s:.0f} s:\n{self.log_tail()}")

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self.proc.pid, signum)      # the group we created: the child and its own
        except ProcessLookupError:
            pass


@contextlib.contextmanager
def _signals_held():
    """Ignore SIGINT and SIGTERM for the duration (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


class SimProcess(ManagedProcess):
    """`python -m sim --latency-scale F`: real limits and latencies; its BASE_URL lines parsed."""

    def __init__(self, workdir: Path, latency_scale: float = 1.0, seed: int = 0,
                 timeout_s: float = 30.0):
        argv = [sys.executable, "-m", "sim", "--latency-scale", str(latency_scale),
                "--seed", str(seed)]
        super().__init__(argv, child_env(), workdir / "sim.log", capture_stdout=True)
        self.timeout_s = timeout_s
        self.base_urls: dict[str, str] = {}

    def start(self) -> "SimProcess":
        super().start()
        self.base_urls = self._read_base_urls(self.timeout_s)
        return self

    def _read_base_urls(self, timeout_s: float) -> dict[str, str]:
        """Collect the `<NAME>_BASE_URL=...` lines (printed together, then flushed); keep
        draining stdout afterwards so the child can never block on a full pipe."""
        lines: queue.Queue[str | None] = queue.Queue()

        def drain() -> None:
            try:
                for raw in self.proc.stdout:
                    lines.put(raw.decode(errors="replace").strip())
            except (OSError, ValueError):          # the pipe was closed by stop()
                pass
            lines.put(None)

        threading.Thread(target=drain, name="sim-stdout", daemon=True).start()
        urls: dict[str, str] = {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5 if urls else max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                if urls:
                    break                         # the block of lines is over
                continue
            if line is None:
                break
            m = BASE_URL_LINE.match(line)
            if m:
                urls[m.group(1)] = m.group(2)
        if "COINGECKO_BASE_URL" not in urls:
            raise RuntimeError("the simulator printed no COINGECKO_BASE_URL line:\n"
                               + self.log_tail())
        return urls

    def url(self, provider: str) -> str:
        return self.base_urls[f"{provider.upper()}_BASE_URL"]

    def stats(self) -> dict[str, dict]:
        """Every provider's counters: requests, rate_limited, by_status..."""
        with loopback_session() as http:
            r = http.get(f"{self.url('coingecko')}/_sim/stats", params={"all": "1"}, timeout=5)
        r.raise_for_status()
        return r.json()

    def set_fault(self, provider: str, fault: str | None, **params) -> None:
        """Switch a fault on one provider (None clears it), over /_sim/fault."""
        with loopback_session() as http:
            r = http.post(f"{self.url(provider)}/_sim/fault", json={"fault": fault, **params},
                          timeout=5)
        r.raise_for_status()

    def reset(self, provider: str | None = None) -> None:
        """Healthy again with zeroed counters and a fresh rate-limit window: one provider, or
        every one when `provider` is None."""
        target = self.url(provider or "coingecko")
        with loopback_session() as http:
            r = http.post(f"{target}/_sim/reset", json={} if provider else {"all": True},
                          timeout=5)
        r.raise_for_status()


class RedisProcess(ManagedProcess):
    """Debian's `redis-server` on a loopback port with no persistence (`--save "" --appendonly
    no`): state that lives only as long as the process, as the shared state must tolerate.
    `stop()` is SIGTERM, `kill()` SIGKILL; `start()` again brings it back on the same port."""

    def __init__(self, workdir: Path, port: int | None = None,
                 executable: str = "redis-server"):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        workdir.mkdir(parents=True, exist_ok=True)
        argv = [executable, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(workdir),
                "--protected-mode", "no"]
        super().__init__(argv, child_env(), workdir / f"redis-{self.port}.log")

    def start(self, timeout_s: float = 10.0) -> "RedisProcess":
        super().start()
        deadline = time.monotonic() + timeout_s
        while True:
            if self.ping():
                return self
            self.check_waiting("redis-server", "not answering PING", deadline, timeout_s)
            time.sleep(0.05)

    def ping(self) -> bool:
        """True when the server answers PING (a raw RESP exchange: no client library needed)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL, as when the host loses the server; its state is gone."""
        if self.alive():
            self._signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_WAIT_S)
        if self._log is not None:
            self._log.close()


class AppProcess(ManagedProcess):
    """`python app.py` as a user runs it, pointed at the simulator, with fresh state (its own
    DATA_DIR under `workdir`; `extra_env` e.g. REDIS_URL and REPLICA_ID for a fleet)."""

    def __init__(self, workdir: Path, base_urls: dict[str, str], port: int | None = None,
                 extra_env: dict[str, str] | None = None):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        data_dir = workdir / "app-data"
        data_dir.mkdir(parents=True, exist_ok=True)
        env = child_env({**base_urls, "DATA_DIR": str(data_dir), "SENTIMENT_MODEL": "none",
                         "GRADIO_SERVER_PORT": str(self.port),
                         "GRADIO_SERVER_NAME": "127.0.0.1", **(extra_env or {})})
        super().__init__([sys.executable, "app.py"], env, workdir / "app.log")
        self.started = 0.0
        self.healthy_after: float | None = None       # seconds from start to the first 200
        self._healthy = threading.Event()
        self._watch_stop = threading.Event()

    def start(self) -> "AppProcess":
        """Start the app and a thread that notes when /api/health first answers, so the
        start-up time is right even while other phases keep the caller busy."""
        self.started = time.monotonic()
        super().start()
        threading.Thread(target=self._watch_health, name="app-health", daemon=True).start()
        return self

    def _watch_health(self) -> None:
        with loopback_session() as http:
            while not self._watch_stop.is_set() and self.alive():
                try:
                    if http.get(f"{self.base}/api/health", timeout=2).status_code == 200:
                        self.healthy_after = time.monotonic() - self.started
                        self._healthy.set()
                        return
                except requests.RequestException:
                    pass
                self._watch_stop.wait(0.1)

    def wait_healthy(self, timeout_s: float = 120.0) -> float:
        """Block until /api/health has answered 200; returns seconds from start to then."""
        deadline = self.started + timeout_s
        while not self._healthy.wait(timeout=0.25):
            self.check_waiting("app.py", "not healthy", deadline, timeout_s)
        return self.healthy_after

    def stop(self) -> int | None:
        self._watch_stop.set()
        return super().stop()


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment plus `extra`, with loopback kept off any proxy and no analytics calls."""
    env = dict(os.environ)
    no_proxy = ",".join(p for p in (env.get("NO_PROXY", ""), "127.0.0.1,localhost") if p)
    env.update({"NO_PROXY": no_proxy, "no_proxy": no_proxy, "GRADIO_ANALYTICS_ENABLED": "False",
                "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env
