"""alternative.me Crypto Fear & Greed Index: one value a day (updated at 00:00 UTC), no key.

Numbers arrive as strings, and errors travel in `metadata.error` rather than the status.
"""
from __future__ import annotations

from typing import Any

from .base import (
    KIND_FEAR_GREED,
    FearGreed,
    MalformedResponse,
    Provider,
    RateLimit,
    UpstreamError,
    num,
    opt_num,
)

NAME = "alternative_me"

ENDPOINTS: dict[str, str] = {
    # ?limit=1 (0 = whole history), newest first; value/timestamp/time_until_update are strings
    "fng": "/fng/",
}


def parse_fear_greed(body: Any) -> FearGreed:
    """The newest entry of a /fng/ answer; `time_until_update` exists on that entry only."""
    if not isinstance(body, dict):
        raise MalformedResponse(NAME, "fng: expected an object")
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and metadata.get("error"):
        raise UpstreamError(NAME, str(metadata["error"])[:200])
    data = body.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise MalformedResponse(NAME, "fng: data holds no entry")
    entry = data[0]
    value = num(entry.get("value"), NAME, "fng value")
    if not 0 <= value <= 100 or value != int(value):
        raise MalformedResponse(NAME, f"fng value is not an integer in 0..100: {value!r}")
    classification = entry.get("value_classification")
    if not isinstance(classification, str) or not classification:
        raise MalformedResponse(NAME, "fng value_classification is missing")
    until = opt_num(entry.get("time_until_update"))
    return FearGreed(
        value=int(value), classification=classification,
        timestamp=int(num(entry.get("timestamp"), NAME, "fng timestamp")), source=NAME,
        time_until_update_s=int(until) if until is not None and until >= 0 else None)


class AlternativeMe(Provider):
    name = NAME
    label = "alternative.me"
    env_prefix = "ALTERNATIVE_ME"
    default_base_url = "https://api.alternative.me"
    rate_limit = RateLimit(60, 60.0, note="60 req/min over a 10-minute window (third-party "
                           "quote of the official page); no rate headers")
    symbols: dict[str, str] = {}          # the index has no symbol
    capabilities = frozenset({"fear_greed"})

    def fetch_fear_greed(self) -> FearGreed:
        body = self.get_json(ENDPOINTS["fng"], {"limit": 1}, kind=KIND_FEAR_GREED)
        return parse_fear_greed(body)
