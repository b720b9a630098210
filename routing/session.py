"""The one cached HTTP session per process, and the per-provider handle providers call.

requests-cache sits in front; our budget check sits below it (in `send`), so an HTTP cache hit
spends no provider quota, and a real network call that the budget refuses never leaves the
process. Expiry is chosen per kind of request; API keys are never in cache keys or stored.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import requests
from requests_cache import CacheMixin, SQLiteCache

from providers.base import (KIND_CANDLES, KIND_FEAR_GREED, KIND_NEWS, KIND_QUOTE, KIND_QUOTES,
                            KIND_SYMBOLS, KIND_TOP, ProviderError, UpstreamError, UpstreamTimeout)

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 8.0

# Seconds an HTTP answer stays fresh, per kind; candles override this per interval.
EXPIRY_S: dict[str, float] = {
    KIND_QUOTE: 5, KIND_QUOTES: 5, KIND_CANDLES: 60, KIND_TOP: 60,
    KIND_FEAR_GREED: 3600, KIND_NEWS: 300, KIND_SYMBOLS: 86400,
}

# Key parameters and headers of every provider: never part of a cache key, redacted when stored.
SECRET_PARAMS = (
    "Authorization", "Proxy-Authorization", "X-API-Key", "X-Auth-Token", "X-API-Token",
    "X-Access-Token", "access_token", "api_key", "apikey", "apiKey",
    "x-cg-demo-api-key", "x_cg_demo_api_key", "x-cg-pro-api-key", "x_cg_pro_api_key",
    "authorization", "X-MBX-APIKEY", "OK-ACCESS-KEY", "KC-API-KEY", "X-BAPI-API-KEY",
)


class BudgetExhausted(ProviderError):
    """Our own budget for this provider is spent: skip it, never wait."""
    kind = "budget"


class _CallContext(threading.local):
    """Per-thread facts about the call in progress, set by the provider handle."""
    provider: str | None = None
    weight: int = 1
    budget: Callable[[int], bool] | None = None
    on_send: Callable[[float, int | None], None] | None = None


_ctx = _CallContext()


class _BudgetGate:
    """Sits below CacheMixin: runs only for real network sends."""

    def send(self, request, **kwargs):  # type: ignore[override]
        if _ctx.budget is not None and not _ctx.budget(_ctx.weight):
            raise BudgetExhausted(_ctx.provider or "?", "request budget for this window is spent")
        start = time.perf_counter()
        status = None
        try:
            resp = super().send(request, **kwargs)  # type: ignore[misc]
            status = resp.status_code
            return resp
        finally:
            if _ctx.on_send is not None:
                _ctx.on_send((time.perf_counter() - start) * 1000.0, status)


class RoutedSession(CacheMixin, _BudgetGate, requests.Session):
    """requests-cache's session with the budget gate under it."""


def build_session(data_dir: Path | None) -> RoutedSession:
    """SQLite (WAL) under DATA_DIR when given, else memory; stale entries kept for fallback."""
    if data_dir is None:
        backend: Any = "memory"
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        backend = SQLiteCache(str(data_dir / "http_cache.sqlite"), wal=True, busy_timeout=10_000)
    session = RoutedSession(
        backend=backend,
        expire_after=EXPIRY_S[KIND_QUOTE],
        allowable_codes=(200,),
        ignored_parameters=SECRET_PARAMS,
        stale_if_error=False,
    )
    adapter = requests.adapters.HTTPAdapter(pool_connections=32, pool_maxsize=64, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class ProviderHTTP:
    """What a provider module gets as `http`: GET through the shared session, tagged with the
    provider so budget, timing and cache hits are booked to it."""

    def __init__(self, session: RoutedSession, name: str,
                 budget: Callable[[int], bool] | None = None,
                 on_send: Callable[[str, float, int | None], None] | None = None,
                 on_cache_hit: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.time):
        self.session = session
        self.clock = clock               # the router's clock, which its deadlines are read on
        self.name = name
        self.budget = budget
        self.on_send = on_send
        self.on_cache_hit = on_cache_hit
        self.local = threading.local()   # .deadline (epoch s) and .expire_after set by the router

    def get(self, url: str, *, params: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None, kind: str = KIND_QUOTE,
            weight: int = 1, expire_after: float | None = None) -> Any:
        expire = expire_after
        if expire is None:
            expire = getattr(self.local, "expire_after", None) or EXPIRY_S.get(kind, 10)
        deadline = getattr(self.local, "deadline", None)
        read = READ_TIMEOUT_S
        if deadline is not None:
            read = max(0.2, min(READ_TIMEOUT_S, deadline - self.clock()))
        _ctx.provider, _ctx.weight, _ctx.budget = self.name, weight, self.budget
        _ctx.on_send = (lambda ms, status: self.on_send(self.name, ms, status)) \
            if self.on_send else None
        try:
            resp = self.session.get(url, params=params, headers=headers,
                                    timeout=(min(CONNECT_TIMEOUT_S, read), read),
                                    expire_after=expire)
        except requests.Timeout:
            raise UpstreamTimeout(self.name, f"no answer within {read:.1f} s") from None
        except requests.ConnectionError as exc:
            raise UpstreamError(self.name, f"connection failed ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise UpstreamError(self.name, f"request failed ({type(exc).__name__})") from None
        finally:
            _ctx.provider, _ctx.budget, _ctx.on_send = None, None, None
        if getattr(resp, "from_cache", False) and self.on_cache_hit:
            self.on_cache_hit(self.name)
        return resp
