"""`python -m bench --quick` end to end (simulator and app as subprocesses, about 30-40 s).

Asserts correctness only, never speed: no user-visible 429, no 5xx, every deliberate bad input
rejected with a 4xx / error event naming its parameter, and a report with the expected shape.
"""
from __future__ import annotations

import json
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


def test_report_has_the_expected_keys(quick_run):
    _, report, _ = quick_run
    assert report["quick"] is True
    for key in ("started_at", "duration_s", "machine", "config", "app", "load", "upstream",
                "baselines", "targets"):
        assert key in report, key
    assert {"nproc", "cpu_model", "python"} <= set(report["machine"])
    load = report["load"]
    for key in ("requests_sent", "requests_answered", "errors_by_kind", "user_visible_429",
                "server_errors_5xx", "timeouts", "no_provider_503", "stale_answers",
                "bad_input", "latency_ms"):
        assert key in load, key
    assert {"all", "path:rest", "path:gradio", "type:price", "type:prices", "type:ohlc",
            "type:status"} <= set(load["latency_ms"])
    upstream = report["upstream"]
    for key in ("by_provider", "coingecko_share", "cache_hit_rate", "per_1000_user_requests",
                "provider_rate_limit_answers"):
        assert key in upstream, key
    baselines = report["baselines"]
    assert baselines["naive_coingecko"]["requests"] > 0
    assert "rate_limited_429" in baselines["careful_single_provider"]
    assert {"rest", "gradio"} <= set(baselines["serving_floor"])
    assert baselines["in_process"]["median_us"] > 0
    assert all({"target", "wanted", "measured", "met"} <= set(t) for t in report["targets"])


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
