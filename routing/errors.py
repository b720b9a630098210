"""Errors the router raises to callers: bad input (a 400) and no provider available (a 503)."""
from __future__ import annotations

import math


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

    def to_dict(self) -> dict:
        return {"error": "no_provider_available", "detail": str(self),
                "retry_after_s": round(self.retry_after, 1), "providers": self.reasons}
