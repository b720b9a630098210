"""Calls to the app the way its users make them (a REST GET; the Gradio API's two-step
/gradio_api/call route), each answer sorted into what the user saw: an answer, or one error kind."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import requests

OK = "ok"
INVALID_INPUT = "invalid_input"        # REST 4xx other than 429 / Gradio "Invalid input" event
RATE_LIMITED = "rate_limited_429"      # REST 429 / a Gradio error event that speaks of a limit
NO_PROVIDER = "no_provider_503"        # REST 503 no_provider_available / "No provider available"
SERVER_ERROR = "server_error_5xx"      # any other 5xx / any other Gradio error event
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
ERROR_KINDS = (INVALID_INPUT, RATE_LIMITED, NO_PROVIDER, SERVER_ERROR, TIMEOUT, CONNECTION_ERROR)


@dataclass
class Reply:
    """One user-visible outcome. `body` is the decoded answer (REST JSON, or the Gradio
    endpoint's single output); `error` the error text the user got."""
    kind: str
    body: Any = None
    http_status: int | None = None
    error: str | None = None
    param: str | None = None           # the parameter a REST 400 names


def loopback_session() -> requests.Session:
    """A session that ignores proxy settings: every target here is on 127.0.0.1."""
    http = requests.Session()
    http.trust_env = False
    return http


def rest_get(http: requests.Session, base: str, path: str, params: dict | None,
             timeout: float) -> Reply:
    try:
        r = http.get(base + path, params=params, timeout=timeout)
    except requests.Timeout:
        return Reply(TIMEOUT, error=f"no answer in {timeout:g} s")
    except requests.RequestException as exc:
        return Reply(CONNECTION_ERROR, error=type(exc).__name__)
    try:
        body = r.json()
    except ValueError:
        body = None
    status = r.status_code
    if status == 200:
        return Reply(OK, body, status)
    detail = body.get("detail") if isinstance(body, dict) else r.text[:300]
    param = body.get("param") if isinstance(body, dict) else None
    if status == 429:
        return Reply(RATE_LIMITED, body, status, str(detail))
    if status == 503 and isinstance(body, dict) and body.get("error") == "no_provider_available":
        return Reply(NO_PROVIDER, body, status, str(detail))
    if status >= 500:
        return Reply(SERVER_ERROR, body, status, str(detail))
    return Reply(INVALID_INPUT if 400 <= status < 500 else SERVER_ERROR, body, status,
                 str(detail), param)


def gradio_call(http: requests.Session, base: str, name: str, data: list,
                timeout: float) -> Reply:
    """POST /gradio_api/call/<name> {"data": [...]} -> event_id; then read the SSE stream of
    GET /gradio_api/call/<name>/<event_id> up to its `complete` or `error` event."""
    deadline = time.monotonic() + timeout
    try:
        r = http.post(f"{base}/gradio_api/call/{name}", json={"data": data}, timeout=timeout)
        if r.status_code != 200:
            return _gradio_http_error(r)
        event_id = r.json()["event_id"]
        with http.get(f"{base}/gradio_api/call/{name}/{event_id}", stream=True,
                      timeout=max(0.1, deadline - time.monotonic())) as stream:
            if stream.status_code != 200:
                return _gradio_http_error(stream)
            event = None
            for line in stream.iter_lines(decode_unicode=True):
                if time.monotonic() > deadline:
                    return Reply(TIMEOUT, error=f"no result in {timeout:g} s")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    payload = json.loads(line[5:].strip() or "null")
                    if event == "complete":
                        return Reply(OK, payload[0] if isinstance(payload, list) and payload
                                     else payload, 200)
                    return _gradio_error_event(payload)
        return Reply(CONNECTION_ERROR, error="the event stream ended without a result")
    except requests.Timeout:
        return Reply(TIMEOUT, error=f"no result in {timeout:g} s")
    except (requests.RequestException, ValueError, KeyError) as exc:
        return Reply(CONNECTION_ERROR, error=f"{type(exc).__name__}: {str(exc)[:200]}")


def _gradio_http_error(r: requests.Response) -> Reply:
    status = r.status_code
    kind = (RATE_LIMITED if status == 429 else SERVER_ERROR if status >= 500
            else INVALID_INPUT)
    return Reply(kind, None, status, r.text[:300])


def _gradio_error_event(payload: Any) -> Reply:
    """Sort an `event: error` by the gr.Error title the app sets; an untitled one is a bug."""
    payload = payload if isinstance(payload, dict) else {}
    text = str(payload.get("error"))
    title = payload.get("title") or ""
    if title == "Invalid input":
        kind = INVALID_INPUT
    elif title == "No provider available":
        kind = NO_PROVIDER
    elif "429" in text or "rate limit" in text.lower():
        kind = RATE_LIMITED
    else:
        kind = SERVER_ERROR
    return Reply(kind, payload, 200, f"{title}: {text}" if title else text)
