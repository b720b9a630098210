"""`python -m bench --replicas 2 --quick` end to end, shortened: the simulator, one replica, two
independent replicas, two on one redis-server and two with that server killed halfway, each
`python app.py` in its own process (about 1.5 min).

Asserts what the fleet promises and that the report's numbers add up, never speed: no user
error in any configuration, the Redis replicas on Redis (and on local state at half the budget
once it is killed), the fleet's counters in every Redis replica's status, and upstream figures
that are the simulator's own counts.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.checks import require

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 300
ARGS = ["--replicas", "2", "--quick", "--rate", "6", "--seconds", "8"]


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory):
    require(shutil.which("redis-server") is not None or Path("/usr/bin/redis-server").exists(),
            "redis-server is not installed (Debian package redis-server)")
    out = tmp_path_factory.mktemp("fleet-results")
    proc = subprocess.Popen([sys.executable, "-m", "bench", *ARGS, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        log, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)          # the bench stops its own children first
        try:
            log, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            log, _ = proc.communicate()
        pytest.fail(f"python -m bench {' '.join(ARGS)} did not finish in {RUN_TIMEOUT_S} s:\n"
                    f"{log[-3000:]}")
    assert proc.returncode == 0, f"python -m bench {' '.join(ARGS)} failed:\n{log[-3000:]}"
    return out, json.loads((out / "replicas-latest-quick.json").read_text()), log


def by_name(report: dict) -> dict:
    return {c["name"]: c for c in report["configurations"]}


def test_four_configurations_on_one_schedule(fleet_run):
    out, report, log = fleet_run
    runs = by_name(report)
    assert list(runs) == ["one", "independent", "redis", "redis-killed"]
    assert [runs[n]["replicas"] for n in runs] == [1, 2, 2, 2]
    planned = report["config"]["requests"]
    assert planned == 48
    for r in runs.values():
        assert r["requests"] == planned
    md = (out / "replicas-latest-quick.md").read_text()
    assert md.startswith("# Fleet report (quick): 2 replicas")
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 4                       # header, rule, one row per configuration
    assert "`python -m bench --replicas 2 --quick --rate 6 --seconds 8`" in md
    assert md.split("## Targets")[0].rstrip() in log  # the same table printed


def test_no_user_error_and_no_rate_limit_answer_anywhere(fleet_run):
    _, report, _ = fleet_run
    for r in report["configurations"]:
        assert r["user_errors"] == 0 and r["ok"] == r["requests"], (r["name"],
                                                                    r["error_examples"])
        assert r["provider_rate_limit_answers"] == 0, r["rate_limited_by_provider"]


def test_upstream_figures_are_the_simulators_counts(fleet_run):
    _, report, _ = fleet_run
    runs = by_name(report)
    one = runs["one"]["upstream_per_1000"]
    for r in runs.values():
        assert r["upstream_calls"] == sum(r["upstream_by_provider"].values()) > 0
        # answered calls; one still in flight when the counters were read has no status yet
        assert sum(r["upstream_by_status"].values()) <= r["upstream_calls"]
        assert r["upstream_per_1000"] == pytest.approx(1000 * r["upstream_calls"]
                                                       / r["requests"], abs=0.1)
        assert r["ratio_to_one"] == pytest.approx(r["upstream_per_1000"] / one, abs=0.01)
    halves = runs["redis-killed"]["halves"]
    assert halves["before_kill"]["requests"] + halves["after_kill"]["requests"] == \
        runs["redis-killed"]["requests"]
    assert halves["before_kill"]["upstream_calls"] + halves["after_kill"]["upstream_calls"] == \
        runs["redis-killed"]["upstream_calls"]
    assert halves["after_kill"]["user_errors"] == 0
    for t in report["targets"]:
        if "≤ 1.3×" in t["target"]:
            ratio = float(t["measured"].rstrip("×"))
            assert t["met"] is (ratio <= 1.3)


def test_each_configuration_ran_on_the_state_it_names(fleet_run):
    """One and independent replicas on local state with their own counters; Redis replicas
    connected with the fleet's counters; after the kill, each on local state at half the
    budget."""
    _, report, _ = fleet_run
    runs = by_name(report)
    for name in ("one", "independent"):
        views = runs[name]["replica_views"]
        assert [v["shared_state"]["backend"] for v in views] == ["local"] * len(views)
        assert sum(v["app_requests"] for v in views) == runs[name]["requests"]
    for v in runs["redis"]["replica_views"]:
        s = v["shared_state"]
        assert (s["backend"], s["state"], s["replicas_seen"], s["budget_share"]) == (
            "redis", "connected", 2, 1.0), s
        assert v["replicas_alive"] == 2
        assert abs(v["app_requests"] - runs["redis"]["requests"]) <= 2, v   # the fleet's
    killed_at = runs["redis-killed"]["redis_killed_at_s"]
    assert killed_at == pytest.approx(report["config"]["seconds"] / 2, abs=2)
    for v in runs["redis-killed"]["replica_views"]:
        s = v["shared_state"]
        assert (s["backend"], s["state"], s["budget_share"]) == ("redis", "lost", 0.5), s
        assert s["lost_since"] is not None
