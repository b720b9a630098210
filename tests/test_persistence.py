"""A DATA_DIR that heals: damaged SQLite files are moved aside and recreated, an unusable DATA_DIR
(missing and uncreatable, read-only, full) means state in memory with the status saying so, a
disk that fills up mid-run is logged once and saving resumes when it frees up, and shutdown
always completes. Router-level tests use the simulator in process; start-up tests run
`python app.py` as a user does.

The read-only and full-disk cases need real file systems that say no even to root: a small
tmpfs mounted for the test (`mount -t tmpfs`, which needs root, as CI and the dev machine have).
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
import requests

from providers.base import Quote
from routing import build_router
from routing.persistence import Persistence
from tests.checks import require

FILES = ("answers.sqlite", "metrics.sqlite", "http_cache.sqlite", "quotes.sqlite")


def quote(ticker: str, price: float = 1.0) -> Quote:
    return Quote(symbol=ticker, price=price, source="binance", timestamp=1.0,
                 quote_currency="USDT")


def saved_state(data_dir: Path, sim, n: int = 300) -> None:
    """A DATA_DIR with real content: a router that answered a quote and stored `n` more."""
    router = build_router(data_dir, env={**os.environ, **sim.env()})
    router.get_quote("BTC")
    for i in range(n):
        router.answers.put(f"quote:T{i}", quote(f"T{i}", i + 1.0), "binance")
    router.close()


def truncate(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def corrupt_copies(data_dir: Path, name: str) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if p.name.startswith(f"{name}.corrupt-"))


# -- in process: the router over the simulator ---------------------------------------------------

@pytest.mark.parametrize("damage", ["garbage", "truncated"])
@pytest.mark.parametrize("name", FILES)
def test_a_damaged_file_is_moved_aside_and_recreated(sim, tmp_path, name, damage, caplog):
    data = tmp_path / "data"
    saved_state(data, sim, n=2000)
    path = data / name
    if damage == "garbage":
        path.write_bytes(os.urandom(3000))
    else:
        truncate(path)
    caplog.set_level("WARNING", logger="routing.persistence")

    router = build_router(data, env={**os.environ, **sim.env()})
    try:
        assert router.get_quote("ETH").value.price > 0
        view = router.metrics.persistence.view()
    finally:
        router.close()

    assert view["mode"] == "sqlite"
    assert [q["file"] for q in view["quarantined"]] == [name]
    assert view["quarantined"][0]["moved_to"] in corrupt_copies(data, name)
    assert len(corrupt_copies(data, name)) == 1
    warnings = [r.getMessage() for r in caplog.records if name in r.getMessage()]
    assert len(warnings) == 1 and "moved aside" in warnings[0], warnings
    with sqlite3.connect(path) as conn:                 # recreated, and a database again
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"


def test_a_recreated_file_keeps_what_is_saved_after_it(sim, tmp_path):
    data = tmp_path / "data"
    (data).mkdir()
    (data / "answers.sqlite").write_bytes(b"not a database at all" * 100)
    router = build_router(data, env={**os.environ, **sim.env()})
    router.get_quote("SOL")
    router.close()
    again = build_router(data, env={**os.environ, **sim.env()})
    try:
        assert again.answers.get("quote:SOL") is not None
        assert again.metrics.persistence.view()["quarantined"] == []
    finally:
        again.close()


@pytest.mark.parametrize("row", [
    "{not json", '"a string"', '{"providers": {"binance": {"requests": "many"}}}',
    '{"totals": {"requests": null}}', '{"health": {"binance": {"blocked_until": "soon"}}}',
    '{"providers": {"okx": {"errors": [{"time": 1}]}}}',
    '{"providers": {"okx": {"outcomes": [["then", true]]}}}',
])
def test_a_malformed_metrics_row_starts_metrics_from_zero(sim, tmp_path, row, caplog):
    data = tmp_path / "data"
    saved_state(data, sim, n=0)
    with sqlite3.connect(data / "metrics.sqlite") as conn:
        conn.execute("UPDATE metrics SET data = ? WHERE id = 1", (row,))
    caplog.set_level("WARNING", logger="routing.persistence")
    router = build_router(data, env={**os.environ, **sim.env()})
    try:
        assert router.metrics.totals_view()["requests"] == 0
        router.get_quote("BTC")
        assert router.metrics.totals_view()["requests"] == 1
        view = router.metrics.persistence.view()
    finally:
        router.close()
    assert [d["what"] for d in view["dropped"]] == ["metrics"]
    assert sum("cannot be read" in r.getMessage() for r in caplog.records) == 1


def test_data_dir_under_a_regular_file_means_memory(sim, tmp_path):
    (tmp_path / "file").write_text("x")
    router = build_router(tmp_path / "file" / "data", env={**os.environ, **sim.env()})
    try:
        assert router.get_quote("BTC").value.price > 0
        view = router.metrics.persistence.view()
    finally:
        router.close()
    assert view["mode"] == "memory" and "not a directory" in view["reason"]


# -- real file systems that say no ---------------------------------------------------------------

@pytest.fixture
def tmpfs(tmp_path):
    """Mount small tmpfs file systems under tmp_path; unmounted at the end of the test."""
    mounted: list[Path] = []

    def mount(name: str, size: str, *options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        opts = ",".join((f"size={size}", *options))
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)],
                              capture_output=True, text=True)
        require(done.returncode == 0,
                f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


def remount(point: Path, *options: str) -> None:
    subprocess.run(["mount", "-o", ",".join(("remount", *options)), str(point)], check=True)


def fill(point: Path) -> Path:
    """Write zeros until the file system is full; returns the filler file."""
    filler = point / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    os.close(fd)
    return filler


def stopped(server) -> bool:
    """SIGTERM ended the app after its shutdown ran (uvicorn re-raises the signal once done),
    not a kill after the wait."""
    code = server.stop()
    return code in (0, -15) and "Router closed" in server.log()


def status(server) -> dict:
    resp = requests.get(server.url + "/api/system/status", timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def price(server, symbol: str) -> dict:
    resp = requests.get(server.url + "/api/market/price", params={"symbol": symbol}, timeout=15)
    assert resp.status_code == 200, resp.text
    return resp.json()


# -- python app.py, as users start it ------------------------------------------------------------

def test_app_starts_over_damaged_files(app_launcher, sim_server, tmp_path):
    """Garbage in two files, another truncated: the app starts, answers, and says what it did."""
    data = tmp_path / "data"
    first = app_launcher(sim_server, tmp_path)
    price(first, "BTC")
    assert stopped(first), first.log()
    (data / "answers.sqlite").write_bytes(os.urandom(5000))
    truncate(data / "http_cache.sqlite")
    (data / "quotes.sqlite").write_bytes(b"not a database at all" * 100)

    server = app_launcher(sim_server, tmp_path)
    try:
        assert price(server, "ETH")["price"] > 0
        persistence = status(server)["infrastructure"]["persistence"]
    finally:
        done = stopped(server)
    assert done, server.log()
    assert persistence["mode"] == "sqlite"
    assert sorted(q["file"] for q in persistence["quarantined"]) == [
        "answers.sqlite", "http_cache.sqlite", "quotes.sqlite"]
    for name in ("answers.sqlite", "http_cache.sqlite", "quotes.sqlite"):
        assert len(corrupt_copies(data, name)) == 1, name
    assert server.log().count("is damaged") == 3, server.log()


def test_app_with_data_dir_under_a_regular_file_runs_in_memory(app_launcher, sim_server,
                                                               tmp_path):
    (tmp_path / "plain-file").write_text("not a directory")
    server = app_launcher(sim_server, tmp_path, data_dir=tmp_path / "plain-file" / "data")
    try:
        assert price(server, "BTC")["price"] > 0
        infra = status(server)["infrastructure"]
    finally:
        done = stopped(server)
    assert done, server.log()
    assert infra["persistence"]["mode"] == "memory"
    assert "not a directory" in infra["persistence"]["reason"]
    assert infra["cache_backend"] == "memory"


def test_app_with_a_read_only_data_dir_runs_in_memory(app_launcher, sim_server, tmp_path, tmpfs):
    """Saved state on a file system remounted read-only (root cannot write it either)."""
    point = tmpfs("ro", "4m")
    data = point / "data"
    first = app_launcher(sim_server, tmp_path, data_dir=data)
    price(first, "BTC")
    assert stopped(first), first.log()
    remount(point, "ro")

    server = app_launcher(sim_server, tmp_path, data_dir=data)
    try:
        assert price(server, "ETH")["price"] > 0
        persistence = status(server)["infrastructure"]["persistence"]
    finally:
        done = stopped(server)
    assert done, server.log()
    assert persistence["mode"] == "memory"
    assert "read-only file system" in persistence["reason"], persistence


def test_a_disk_that_fills_up_is_logged_once_and_saving_resumes(app_launcher, sim_server,
                                                                tmp_path, tmpfs):
    """Mid-run the disk fills: answers still come, the status says saving fails, the log says it
    once, shutdown completes; a restart on the full disk runs in memory; with space again, the
    state is saved."""
    point = tmpfs("small", "2m")
    data = point / "data"
    server = app_launcher(sim_server, tmp_path, data_dir=data)
    try:
        price(server, "BTC")
        filler = fill(point)
        for symbol in ("ETH", "SOL", "XRP", "ADA", "DOGE", "LTC", "DOT", "LINK"):
            assert price(server, symbol)["price"] > 0
        failing = _wait_for(lambda: status(server)["infrastructure"]["persistence"],
                            lambda p: p["saving"] == "failing")
    finally:
        done = stopped(server)
    assert done, server.log()
    assert failing["saving"] == "failing", failing
    assert failing["last_save_error"]["file"] in FILES
    log = server.log()
    for name in FILES:
        assert log.count(f"Saving {name} failed") <= 1, log

    full = app_launcher(sim_server, tmp_path, data_dir=data)
    try:
        assert price(full, "BTC")["price"] > 0
        persistence = status(full)["infrastructure"]["persistence"]
    finally:
        assert stopped(full), full.log()
    assert persistence["mode"] == "memory"
    assert "no space left on device" in persistence["reason"], persistence

    filler.unlink()
    healed = app_launcher(sim_server, tmp_path, data_dir=data)
    try:
        price(healed, "BNB")
        persistence = status(healed)["infrastructure"]["persistence"]
    finally:
        assert stopped(healed), healed.log()
    assert persistence["mode"] == "sqlite" and persistence["saving"] == "ok"
    with sqlite3.connect(data / "answers.sqlite") as conn:
        keys = {k for (k,) in conn.execute("SELECT key FROM answers")}
    assert "quote:BNB" in keys


def _wait_for(read, ok, timeout: float = 30.0):
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ok(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_persistence_view_is_plain_json(tmp_path):
    view = Persistence(tmp_path / "d").view()
    assert json.loads(json.dumps(view)) == view
    assert view["mode"] == "sqlite" and view["data_dir"] == str(tmp_path / "d")


def test_the_drawer_line_says_memory_quarantine_and_failing_saves():
    from ui.status_drawer import persistence_line

    assert "memory only: DATA_DIR /x is not usable: read-only file system" in persistence_line(
        {"mode": "memory", "reason": "DATA_DIR /x is not usable: read-only file system"})
    line = persistence_line({"mode": "sqlite", "saving": "failing",
                             "quarantined": [{"file": "answers.sqlite",
                                              "moved_to": "answers.sqlite.corrupt-1"}],
                             "last_save_error": {"error": "database or disk is full"}})
    assert "answers.sqlite was damaged, moved to answers.sqlite.corrupt-1" in line
    assert "saving fails: database or disk is full" in line
    assert ">SQLite<" in persistence_line({"mode": "sqlite", "saving": "ok", "quarantined": []})
