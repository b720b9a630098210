"""The synchronous router and everything under it: cached session, budgets, cooldowns, breakers,
metrics. `build_router()` assembles it from the environment."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from providers import REGISTRY, enabled_names, provider_class

from .answers import AnswerStore
from .errors import InvalidInput, NoProviderAvailable
from .metrics import Metrics
from .persistence import Persistence
from .quotebook import QuoteBook
from .router import DEADLINE_S, STALE_WINDOW_S, Answer, Router
from .session import build_session
from .shared import build_state

__all__ = ["Answer", "InvalidInput", "NoProviderAvailable", "Router", "build_router"]


def build_router(data_dir: str | Path | None = None, env: dict[str, str] | None = None,
                 *, deadline_s: float | None = None, persist: bool = True,
                 clock: Callable[[], float] = time.time) -> Router:
    """One router per process: providers from the registry, filtered by `PROVIDERS` and by
    whether their API key is set; state under `DATA_DIR` (default ./data), or in memory when
    that is not usable (the status says why). `clock` (epoch seconds) is the one the router,
    its answers and its quote book read; tests pass one they can step. `deadline_s` (else
    ROUTER_DEADLINE_S, else 10) bounds every user call; ROUTER_STALE_WINDOW_S (default 60) is
    how old a quote may be served while it is refreshed. REDIS_URL (redis:// or rediss://)
    puts what replicas share in Redis (routing/shared.py); REPLICA_ID names this process in
    the fleet (default hostname-port-pid)."""
    env = dict(os.environ if env is None else env)
    if deadline_s is None:
        deadline_s = _seconds(env, "ROUTER_DEADLINE_S", DEADLINE_S)
    stale_window_s = _seconds(env, "ROUTER_STALE_WINDOW_S", STALE_WINDOW_S)
    persistence = Persistence(Path(data_dir or env.get("DATA_DIR") or "./data")
                              if persist else None)
    state = build_state(env)
    shared = state if state.backend != "local" else None
    session = build_session(persistence, shared=shared)
    metrics = Metrics(persistence, clock=clock)
    metrics.shared = shared
    answers = AnswerStore(persistence, clock=clock, shared=shared)
    book = QuoteBook(persistence, clock=clock, shared=shared)
    wanted = set(enabled_names(env))
    providers, disabled = [], {}
    for name in REGISTRY:
        cls = provider_class(name)
        if name not in wanted:
            disabled[name] = "not in PROVIDERS"
        elif cls.requires_key and not env.get(cls.api_key_env or ""):
            disabled[name] = f"needs {cls.api_key_env}"
        else:
            base = env.get(f"{cls.env_prefix}_BASE_URL")
            providers.append(cls(http=None, base_url=base))  # http is set by the router
    return Router(providers, session, metrics, answers, disabled=disabled, deadline_s=deadline_s,
                  stale_window_s=stale_window_s, book=book, clock=clock, state=state)


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    """A positive number of seconds from the environment; a bad value is refused loudly."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value
