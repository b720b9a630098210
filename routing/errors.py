"""Errors the router raises to callers: bad input (a 400) and no provider available (a 503)."""
from __future__ import annotations

import math
import time

from .status import outage_message


class InvalidInput(ValueError):
    """A caller's parameter is not acceptable; never sent upstream."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message

    def to_dict(self) -> dict:
        return {"error": "invalid_input", "param": self.param, "detail": str(self)}


class NoProviderAvailable(RuntimeError):
    """Every provider failed or is blocked and nothing was cached: says why, and when to retry."""

    def __init__(self, what: str, reasons: dict[str, str], retry_after: float):
        self.what = what
        self.reasons = reasons
        self.retry_after = max(1.0, retry_after)
        listed = "; ".join(f"{p}: {r}" for p, r in reasons.items()) or "no provider offers it"
        super().__init__(f"no provider could answer {what} ({listed}); "
                         f"retry in {math.ceil(self.retry_after)} s")   # as Retry-After

    def sentence(self, now: float | None = None, data_at: float | None = None) -> str:
        """The short message for people (under 240 characters, no provider list): e.g. "All 9
        price sources are failing right now; there is nothing saved to show yet. Next retry in
        14 s." The per-provider reasons are the details. `data_at`: when the data the caller
        still shows was fetched (a UI keeps its last content)."""
        return outage_message(self.what, len(self.reasons), data_at=data_at,
                              retry_in_s=math.ceil(self.retry_after),   # as Retry-After
                              now=time.time() if now is None else now)

    def to_dict(self) -> dict:
        return {"error": "no_provider_available", "detail": str(self),
                "retry_after_s": round(self.retry_after, 1), "providers": self.reasons}
