"""A scripted stand-in for routing's HTTP object: status-level provider tests, no server."""
from __future__ import annotations

import json
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
