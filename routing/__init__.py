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
from .router import Answer, Router
from .session import build_session

__all__ = ["Answer", "InvalidInput", "NoProviderAvailable", "Router", "build_router"]


def build_router(data_dir: str | Path | None = None, env: dict[str, str] | None = None,
                 *, deadline_s: float = 10.0, persist: bool = True,
                 clock: Callable[[], float] = time.time) -> Router:
    """One router per process: providers from the registry, filtered by `PROVIDERS` and by
    whether their API key is set; state under `DATA_DIR` (default ./data), or in memory when
    that is not usable (the status says why). `clock` (epoch seconds) is the one the router,
    its answers and its quote book read; tests pass one they can step."""
    env = dict(os.environ if env is None else env)
    persistence = Persistence(Path(data_dir or env.get("DATA_DIR") or "./data")
                              if persist else None)
    session = build_session(persistence)
    metrics = Metrics(persistence, clock=clock)
    answers = AnswerStore(persistence, clock=clock)
    book = QuoteBook(persistence, clock=clock)
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
                  book=book, clock=clock)
