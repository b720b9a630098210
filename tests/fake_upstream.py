"""A scripted stand-in for routing's HTTP object: status-level provider tests, no server."""
from __future__ import annotations

import json
import time
from typing import Any

from requests.structures import CaseInsensitiveDict


class FakeResponse:
    """What `Provider.get_json` reads from a response: status, text and headers."""

    def __init__(self, status_code: int = 200, text: str = "", headers: dict | None = None):
        self.status_code = status_code
        self.text = text
        self.headers = CaseInsensitiveDict(headers or {})


def reply(body: Any = None, status: int = 200, headers: dict | None = None,
          text: str | None = None) -> FakeResponse:
    """A JSON answer from `body`, or a raw `text` one (HTML error pages)."""
    hdrs = dict(headers or {})
    if text is None:
        text = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    else:
        hdrs.setdefault("Content-Type", "text/html; charset=UTF-8")
    return FakeResponse(status, text, hdrs)


class FakeHTTP:
    """Answers each GET with the next scripted response (the last one repeats) and records it."""

    def __init__(self, *responses: FakeResponse):
        self.responses = list(responses)
        self.calls: list[dict] = []

    def get(self, url, *, params=None, headers=None, kind="quote", weight=1, expire_after=None):
        self.calls.append({"url": url, "params": dict(params or {}),
                           "headers": dict(headers or {}), "kind": kind, "weight": weight})
        return self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]

    def sent_in_url(self, secret: str) -> bool:
        """Whether `secret` appears in any URL or query parameter (where caches key on it)."""
        return any(secret in call["url"] or secret in json.dumps(call["params"])
                   for call in self.calls)


class JSONServer:
    """A tiny real HTTP server on loopback answering every GET with `body` as JSON, counting
    requests (for the session and HTTP-cache tests, where a scripted object cannot stand in)."""

    def __init__(self, body: Any):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.paths.append(self.path)
                server.headers.append(dict(self.headers))
                if server.delay:
                    time.sleep(server.delay)      # a hung upstream
                data = json.dumps(server.body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.body = body
        self.delay = 0.0
        self.paths: list[str] = []
        self.headers: list[dict] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
