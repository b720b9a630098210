"""The REST contract as callers meet it, against the running app: the OpenAPI lists what is really
answered (and schemathesis finds no server error nor schema violation), wrong methods get 405,
/api/docs works offline, undecodable text is a 400, a stale Gradio event id costs no traceback,
and Gradio API calls keep no memory once answered."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bench.clients import OK, gradio_call, loopback_session
from bench.memory import gradio_calls, rss_mb


def test_openapi_lists_the_answers_really_sent(app_server):
    spec = requests.get(app_server.url + "/api/openapi.json", timeout=10).json()
    codes = {(path, method): set(op["responses"]) for path, ops in spec["paths"].items()
             for method, op in ops.items()}
    for path in ("/api/market/price", "/api/market/prices", "/api/market/ohlc"):
        assert codes[(path, "get")] == {"200", "400", "503"}
        retry = spec["paths"][path]["get"]["responses"]["503"]["headers"]["Retry-After"]
        assert retry["required"] is True and retry["schema"]["type"] == "integer"
    assert codes[("/api/sentiment/analyze", "post")] == {"200", "400", "413"}
    assert all("422" not in c for c in codes.values())
    assert "HTTPValidationError" not in json.dumps(spec)


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", "/api/market/price?symbol=BTC", "GET"),
    ("POST", "/api/market/ohlc", "GET"),
    ("PUT", "/api/health", "GET, HEAD"),
    ("GET", "/api/sentiment/analyze", "POST"),
])
def test_a_wrong_method_is_405_with_allow(app_server, method, path, allow):
    resp = requests.request(method, app_server.url + path, timeout=10)
    assert resp.status_code == 405, resp.text
    assert resp.headers["Allow"] == allow
    assert resp.json()["error"] == "method_not_allowed"


def test_api_docs_need_no_internet(app_server):
    page = requests.get(app_server.url + "/api/docs", timeout=10)
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)|url:\s*'([^']+)'""", page.text)
    urls = [a or b for a, b in urls]
    assert len(urls) >= 4, urls
    assert not [u for u in urls if "//" in u], urls          # no CDN, no other host
    for u in urls:
        assert requests.get(app_server.url + u, timeout=10).status_code == 200, u


@pytest.mark.parametrize("body", [
    b'{"text": "\\ud800"}', b'{"text": "BTC \\udfff moons"}', b'{"texts": ["ok", "\\ud83d"]}',
])
def test_a_lone_surrogate_is_a_400_naming_the_parameter(app_server, body):
    resp = requests.post(app_server.url + "/api/sentiment/analyze", data=body, timeout=10)
    assert resp.status_code == 400, resp.text
    err = resp.json()
    assert err["param"] in ("text", "texts") and "surrogate" in err["detail"]


def test_a_lone_surrogate_over_gradio_is_an_invalid_input_error(app_server):
    with loopback_session() as http:
        reply = gradio_call(http, app_server.url, "analyze_sentiment", ["\ud800 pump"], 30)
    assert reply.kind == "invalid_input", reply
    assert "surrogate" in reply.error and reply.error.startswith("Invalid input: text")


def test_an_unknown_event_id_is_a_short_404_without_a_traceback(app_server):
    before = len(app_server.log())
    for _ in range(20):
        resp = requests.get(f"{app_server.url}/gradio_api/call/get_price/deadbeef0123",
                            timeout=10)
        assert resp.status_code == 404 and resp.json()["error"] == "unknown_event"
    with loopback_session() as http:                 # a result read twice: the second is gone
        post = http.post(f"{app_server.url}/gradio_api/call/get_price", json={"data": ["BTC"]},
                         timeout=10)
        event_id = post.json()["event_id"]
        first = http.get(f"{app_server.url}/gradio_api/call/get_price/{event_id}", timeout=30)
        again = http.get(f"{app_server.url}/gradio_api/call/get_price/{event_id}", timeout=30)
    assert "event: complete" in first.text
    assert again.status_code == 404
    written = app_server.log()[before:]
    assert "Traceback" not in written and len(written) < 2000, written[-3000:]


def test_schemathesis_finds_no_server_error_nor_schema_violation(app_server, tmp_path):
    """Every REST operation, bounded examples, deterministic: 0 failures on the checks that
    hold this API to its OpenAPI (server errors, status codes, content types, headers, response
    schemas, unsupported methods)."""
    # The venv's own script first: scripts/test runs the venv's python without putting its bin/
    # on PATH, so a bare which() finds nothing on a fresh machine.
    beside = Path(sys.executable).parent / "schemathesis"
    exe = str(beside) if beside.exists() else shutil.which("schemathesis")
    assert exe, "schemathesis is in requirements-dev.txt"
    report = tmp_path / "schemathesis.json"
    run = subprocess.run(
        [exe, "run", f"{app_server.url}/api/openapi.json", "--checks",
         "not_a_server_error,status_code_conformance,content_type_conformance,"
         "response_headers_conformance,response_schema_conformance,unsupported_method",
         "--max-examples", "15", "--generation-deterministic", "--no-color",
         "--report", "json", "--report-json-path", str(report)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path)   # its crash cache too
    result = json.loads(report.read_text())
    print(f"schemathesis: {result['test_cases']}, operations {result['operations']}")
    assert result["exit_code"] == 0 and result["complete"], run.stdout[-4000:]
    assert result["operations"]["tested"] >= 7
    assert result["test_cases"]["generated"] >= 100
    assert result["test_cases"]["with_failures"] == 0 and not result["failures"]


def test_gradio_api_calls_keep_no_memory(app_server):
    """2,000 calls of /gradio_api/call/get_price, each a new Gradio session: the app's resident
    memory may not grow by more than 30 MB (each call kept ~140 kB before: ~280 MB)."""
    gradio_calls(app_server.url, 200)                 # warm-up: caches, pools, allocator
    before = rss_mb(app_server.process.pid)
    answered = gradio_calls(app_server.url, 2000)
    growth = rss_mb(app_server.process.pid) - before
    print(f"RSS growth over 2,000 Gradio calls: {growth:.1f} MB")
    assert answered == 2000
    assert growth <= 30.0, growth
