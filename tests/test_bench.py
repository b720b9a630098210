"""`python -m bench --quick` end to end (simulator and app as subprocesses, about 30-40 s).

Asserts correctness only, never speed: no user-visible 429, no 5xx, every deliberate bad input
rejected with a 4xx / error event naming its parameter, and a report whose numbers add up.
"""
from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """Run the quick scenario once; on a timeout, SIGTERM first so the bench stops its own
    children, then SIGKILL."""
    out = tmp_path_factory.mktemp("bench-results")
    proc = subprocess.Popen([sys.executable, "-m", "bench", "--quick", "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        log, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            log, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            log, _ = proc.communicate()
        pytest.fail(f"python -m bench --quick did not finish in {RUN_TIMEOUT_S} s:\n{log[-3000:]}")
    assert proc.returncode == 0, f"python -m bench --quick failed:\n{log[-3000:]}"
    return out, json.loads((out / "latest-quick.json").read_text()), log


def test_report_files_exist(quick_run):
    out, _, _ = quick_run
    assert (out / "latest-quick.md").read_text().startswith("# Load scenario report (quick)")
    assert len(list(out.glob("run-*-quick.json"))) == 1
    assert len(list(out.glob("run-*-quick.md"))) == 1


def test_report_numbers_add_up(quick_run):
    """The report's figures agree with each other and with the machine: counts that must sum
    do, shares are the calls they describe, and the app counted the same upstream calls as the
    simulator received."""
    _, report, _ = quick_run
    assert report["quick"] is True
    assert report["machine"]["nproc"] == os.cpu_count()
    assert report["machine"]["python"] == platform.python_version()
    load = report["load"]
    sent = load["requests_sent"]
    assert sum(load["by_type"].values()) == sum(load["by_path"].values()) == sent
    assert load["by_type"]["bad_input"] == load["bad_input"]["sent"]
    assert load["latency_ms"]["all"]["n"] == load["requests_answered"] - load["bad_input"]["sent"]
    up = report["upstream"]
    rows = up["by_provider"]
    assert sum(r["upstream_calls"] for r in rows.values()) == up["upstream_calls"]
    assert all(r["upstream_calls"] == r["sim_requests"] for r in rows.values()), rows
    for r in rows.values():
        assert r["share"] == pytest.approx(r["upstream_calls"] / up["upstream_calls"], abs=1e-3)
    assert up["coingecko_share"] == rows["coingecko"]["share"]
    assert up["per_1000_user_requests"] == pytest.approx(1000 * up["upstream_calls"] / sent,
                                                         abs=0.1)
    assert up["provider_rate_limit_answers"] == sum(r["sim_rate_limited"] for r in rows.values())
    naive = report["baselines"]["naive_coingecko"]
    assert naive["ok"] + naive["rate_limited_429"] + naive["other_errors"] == naive["requests"]
    floor = report["baselines"]["serving_floor"]
    for path in ("rest", "gradio"):
        f = floor[path]
        assert f["ratio_price_to_floor"] == pytest.approx(
            f["cached_price_median_ms"] / f["floor_median_ms"], abs=0.01)
    assert report["baselines"]["in_process"]["cache_misses"] == 0
    met = {t["target"]: t["met"] for t in report["targets"]}
    assert met["No user-visible 429"] is (load["user_visible_429"] == 0)
    assert met["CoinGecko share of upstream calls ≤ 5% (checklist: < 10%)"] is (
        up["coingecko_share"] <= 0.05)
    assert met["Upstream calls per 1,000 user requests ≤ 25"] is (
        up["per_1000_user_requests"] <= 25)


def test_every_request_was_sent_and_answered(quick_run):
    _, report, _ = quick_run
    load = report["load"]
    assert load["requests_sent"] == load["requests_planned"] > 0
    assert load["by_path"].get("rest", 0) > 0 and load["by_path"].get("gradio", 0) > 0


def test_no_user_visible_429_and_no_5xx(quick_run):
    _, report, _ = quick_run
    load = report["load"]
    assert load["user_visible_429"] == 0, load["errors_by_kind"]
    assert load["server_errors_5xx"] == 0, load["errors_by_kind"]


def test_every_bad_input_got_a_clear_rejection(quick_run):
    _, report, _ = quick_run
    bad = report["load"]["bad_input"]
    assert bad["sent"] >= 6                      # each bad case on each path at least once
    assert bad["unclear"] == 0, bad["unclear_examples"]
    assert bad["clear_rejection"] == bad["sent"]
