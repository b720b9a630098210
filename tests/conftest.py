"""Shared fixtures: a plain HTTP object for provider modules, the simulator on loopback, the app
as a process, a real redis-server, and Chromium for the browser tests."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class PlainHTTP:
    """The HTTP protocol providers expect, without cache or budgets (for provider tests)."""

    def __init__(self):
        self.session = requests.Session()
        self.calls: list[tuple[str, dict]] = []

    def get(self, url, *, params=None, headers=None, kind="quote", weight=1, expire_after=None):
        self.calls.append((url, dict(params or {})))
        return self.session.get(url, params=params, headers=headers, timeout=(3, 8))


@pytest.fixture
def plain_http():
    return PlainHTTP()


@pytest.fixture(scope="session")
def sim_server():
    """One simulator for the whole test session (no latency so tests stay fast)."""
    from sim import Simulator

    sim = Simulator(latency_scale=0.0, seed=7)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(sim_server, monkeypatch):
    """The shared simulator, reset to healthy, with every <NAME>_BASE_URL pointing at it."""
    sim_server.reset()
    for key, value in sim_server.env().items():
        monkeypatch.setenv(key, value)
    yield sim_server
    sim_server.reset()


# -- the whole app (python app.py) as a subprocess, for the API / REST / WS tests ------------------

class AppServer:
    """A running `python app.py` against the session simulator: its base URL, the simulator, and
    the log it wrote (stdout and stderr)."""

    def __init__(self, url: str, sim, process, log_path: Path):
        self.url = url
        self.sim = sim
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def sim_control(self, action: str, body: dict) -> dict:
        """POST /_sim/<action> on the simulator's HTTP control route (any provider's port)."""
        resp = requests.post(f"{self.sim.url('binance')}/_sim/{action}", json=body, timeout=5)
        resp.raise_for_status()
        return resp.json()

    def stop(self) -> int | None:
        """SIGTERM, as a Space does on restart; the exit code (None if it had to be killed)."""
        import subprocess

        self.process.terminate()
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_app(sim, root: Path, sentiment_model: str = "none", timeout: float = 60.0, *,
               args: tuple[str, ...] = (), extra_env: dict[str, str] | None = None,
               data_dir: Path | None = None) -> AppServer:
    """Start `python app.py [args]` on a free port with providers from `sim` (none when `sim` is
    None), state in `data_dir` (default root/data), /ws ticks every second and `extra_env` on
    top; return once GET /api/health answers (fail with the app's log)."""
    import subprocess
    import time

    port = _free_port()
    env = {**os.environ, **(sim.env() if sim is not None else {}),
           "DATA_DIR": str(data_dir or root / "data"), "SENTIMENT_MODEL": sentiment_model,
           "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(root / "gradio"),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "NO_PROXY": "127.0.0.1,localhost", "WS_TICK_S": "1", **(extra_env or {})}
    log_path = root / f"app-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), *args], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    server = AppServer(f"http://127.0.0.1:{port}", sim, process, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"app.py exited with {process.returncode} before serving:\n{server.log()}")
        try:
            if requests.get(server.url + "/api/health", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"app.py did not answer /api/health within {timeout:.0f} s:\n"
                        f"{server.log()}")
        time.sleep(0.2)


@pytest.fixture
def app_launcher():
    """`launch_app`, for a test that needs its own app process (e.g. to restart it)."""
    return launch_app


@pytest.fixture(scope="session")
def app_server(sim_server, tmp_path_factory):
    """`python app.py` for the whole session: providers from the session simulator, a tiny local
    sentiment model (loaded in the background), state in a temp DATA_DIR, /ws ticks every second."""
    from tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp("app")
    model = build_tiny_model(root / "model", {0: "Bearish", 1: "Neutral", 2: "Bullish"})
    server = launch_app(sim_server, root, sentiment_model=str(model))
    yield server
    server.stop()


# -- a real redis-server (Debian's), for the shared-state tests ----------------------------------

def running_redis(tmp_path_factory, name: str = "redis"):
    """A fresh `redis-server` on a free loopback port, no persistence, for as long as the
    generator runs (`yield from` it in a fixture of any scope); `.url` is its REDIS_URL. Fails
    (never skips) when redis-server is not installed."""
    import shutil

    from bench.processes import RedisProcess
    from checks import require

    exe = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    require(exe is not None, "redis-server is not installed (Debian package redis-server)")
    server = RedisProcess(tmp_path_factory.mktemp(name), executable=exe)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path_factory):
    """A redis-server of the test's own (see running_redis)."""
    yield from running_redis(tmp_path_factory)


# -- Chromium (Debian's), driven by Playwright, for the browser tests -----------------------------

@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module (tests/browser.py); every test opens its own context.
    Fails, never skips, when Playwright or Chromium is missing."""
    from tests.browser import launch

    with launch() as b:
        yield b


# -- a router over in-process venues on a stepped clock, for the fast unit tests ------------------

@pytest.fixture
def clock():
    """The unit tests' clock: it moves only when a test steps it (tests/clock.py)."""
    from tests.clock import SteppedClock
    return SteppedClock(1_700_000_000.0)


@pytest.fixture
def make(clock):
    """make(*venues, **router_kwargs) -> a Router on memory-only state and `clock`, closed after
    the test."""
    from routing.answers import AnswerStore
    from routing.metrics import Metrics
    from routing.persistence import Persistence
    from routing.quotebook import QuoteBook
    from routing.router import Router
    from routing.session import build_session

    made = []

    def build(*venues, **kw):
        # a 2 s deadline (not 10): a mutant that breaks a loop's exit then holds each call
        # for 2 s, which keeps the mutation run short; no test here waits on a deadline
        kw.setdefault("deadline_s", 2.0)
        persistence = Persistence(None)
        router = Router(venues, build_session(persistence, prune_every_s=3600),
                        Metrics(persistence, clock=clock), AnswerStore(persistence, clock=clock),
                        book=QuoteBook(clock=clock), clock=clock, **kw)
        made.append(router)
        return router

    yield build
    for r in made:
        r.close()
