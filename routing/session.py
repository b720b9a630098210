"""The one cached HTTP session per process, and the per-provider handle providers call.

requests-cache sits in front; our budget check sits below it (in `send`), so an HTTP cache hit
spends no provider quota, and a real network call that the budget refuses never leaves the
process. Expiry is chosen per kind of request; API keys are never in cache keys or stored.
"""
from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import time
from typing import Any, Callable, Mapping

import requests
from requests_cache import BaseCache, CacheMixin, RedisCache, SQLiteCache

from providers.base import (KIND_CANDLES, KIND_FEAR_GREED, KIND_NEWS, KIND_QUOTE, KIND_QUOTES,
                            KIND_SYMBOLS, KIND_TOP, ProviderError, UpstreamError, UpstreamTimeout)

from .persistence import Persistence

log = logging.getLogger("routing.session")

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 8.0

# Seconds an HTTP answer stays fresh, per kind; candles override this per interval.
EXPIRY_S: dict[str, float] = {
    KIND_QUOTE: 5, KIND_QUOTES: 5, KIND_CANDLES: 60, KIND_TOP: 60,
    KIND_FEAR_GREED: 3600, KIND_NEWS: 300, KIND_SYMBOLS: 86400,
}

FILE = "http_cache.sqlite"
MAX_MB_ENV = "HTTP_CACHE_MAX_MB"
DEFAULT_MAX_MB = 50.0
PRUNE_EVERY_S = 60.0
# A batch that names its coins in one of these parameters is not stored: the router keeps each
# coin's quote, and a stored subset would almost never be asked for again, only pile up.
BATCH_LIST_PARAMS = ("symbols", "pair", "ids", "fsyms")

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
    store: bool = True                  # whether the answer may be written to the HTTP cache


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


class GuardedSQLiteCache(SQLiteCache):
    """requests-cache's SQLite backend, where a disk that fails (full, I/O error) makes a cache
    miss or an unsaved answer, never a failed request; failures are reported once."""

    def __init__(self, path: str, persistence: Persistence, **kwargs: Any):
        super().__init__(path, **kwargs)
        self.persistence = persistence

    def get_response(self, key: str, default=None):
        try:
            return super().get_response(key, default)
        except sqlite3.Error as exc:
            self.persistence.save_failed(FILE, exc)
            return default

    def save_response(self, response, cache_key=None, expires=None):
        with self.persistence.saving(FILE):
            super().save_response(response, cache_key, expires)

    def prune(self, max_bytes: int) -> dict:
        """Delete expired answers; past `max_bytes`, the answers that expire first; shrink the
        file when it is over the cap. Returns what was done (for tests and the log)."""
        db = self.responses
        failed: BaseException | None = None
        with db._lock, db.connection(commit=True) as con:
            try:
                expired = con.execute(f"DELETE FROM {db.table_name} WHERE expires <= ?",
                                      (int(time.time()),)).rowcount
                page = con.execute("PRAGMA page_size").fetchone()[0]
                pages, free = (con.execute(f"PRAGMA {p}").fetchone()[0]
                               for p in ("page_count", "freelist_count"))
                live = (pages - free) * page
                evicted = 0
                if live > max_bytes:
                    rows = con.execute(f"SELECT COUNT(*) FROM {db.table_name}").fetchone()[0]
                    evicted = math.ceil(rows * (1 - 0.8 * max_bytes / live))
                    con.execute(f"DELETE FROM {db.table_name} WHERE key IN (SELECT key FROM "
                                f"{db.table_name} ORDER BY expires LIMIT ?)", (evicted,))
            except BaseException as exc:
                # requests-cache's transaction rolls back and swallows an OperationalError, and
                # leaves it open on any other error (every later write then waits forever): end
                # it here and raise after it, so persistence.saving() reports an SQLite error
                # and the pruner thread lives on
                con.rollback()
                failed = exc
        if failed is not None:
            raise failed
        self._prune_redirects()
        vacuumed = os.path.getsize(db.db_path) > max_bytes
        if vacuumed:
            db.vacuum()
        with db.connection() as con:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return {"expired": expired, "evicted": evicted, "vacuumed": vacuumed,
                "bytes": os.path.getsize(db.db_path)}


_MISS, _LOST = object(), object()


class SharedHTTPCache(RedisCache):
    """requests-cache's Redis backend for the fleet, with this replica's own cache (SQLite or
    memory) behind it: used whenever Redis is lost, so losing Redis costs cache hits, never a
    failed request. Keys and redaction are requests-cache's, as for SQLite."""

    def __init__(self, state: Any, local: BaseCache, ttl_offset: int = 60):
        super().__init__(namespace=f"{state.prefix}http", connection=state.client, ttl=True,
                         ttl_offset=ttl_offset)
        self.state = state
        self.local = local

    def _shared(self, fn: Callable[[], Any]) -> Any:
        return self.state.call(lambda _client: fn(), _LOST) if self.state.connected else _LOST

    def get_response(self, key: str, default=None):
        got = self._shared(lambda: super(SharedHTTPCache, self).get_response(key, _MISS))
        if got is _LOST:
            return self.local.get_response(key, default)
        return default if got is _MISS else got

    def save_response(self, response, cache_key=None, expires=None):
        done = self._shared(lambda: super(SharedHTTPCache, self).save_response(
            response, cache_key, expires))
        if done is _LOST:
            self.local._settings = self._settings
            self.local.save_response(response, cache_key, expires)

    def delete(self, *keys: str, **kwargs: Any):
        self._shared(lambda: super(SharedHTTPCache, self).delete(*keys, **kwargs))
        self.local.delete(*keys, **kwargs)

    def contains(self, key=None, request=None, url=None):
        got = self._shared(lambda: super(SharedHTTPCache, self).contains(key, request, url))
        return self.local.contains(key, request, url) if got is _LOST else got

    def close(self):
        self.local.close()


class RoutedSession(CacheMixin, _BudgetGate, requests.Session):
    """requests-cache's session with the budget gate under it, and a thread that keeps the
    cache's file under its size cap."""

    pruner: threading.Thread | None = None
    _stop_pruning: threading.Event | None = None

    def close(self) -> None:
        if self._stop_pruning is not None:
            self._stop_pruning.set()
        if self.pruner is not None:
            self.pruner.join(timeout=5)
        try:
            super().close()
        except sqlite3.Error:
            pass  # closing a connection to a failing disk: nothing left to save


def max_cache_bytes(env: Mapping[str, str] | None = None) -> int:
    """HTTP_CACHE_MAX_MB (default 50) in bytes; a bad value falls back to the default."""
    raw = (os.environ if env is None else env).get(MAX_MB_ENV, "").strip()
    mb = DEFAULT_MAX_MB
    if raw:
        try:
            mb = float(raw)
            if not math.isfinite(mb) or mb <= 0:
                raise ValueError
        except ValueError:
            log.warning("%s=%r is not a positive number of MB; using %g", MAX_MB_ENV, raw,
                        DEFAULT_MAX_MB)
            mb = DEFAULT_MAX_MB
    return int(mb * 1024 * 1024)


def build_session(persistence: Persistence, *, max_bytes: int | None = None,
                  prune_every_s: float = PRUNE_EVERY_S, shared: Any = None) -> RoutedSession:
    """SQLite (WAL) under DATA_DIR when it is usable, else memory; with `shared` (a RedisState),
    Redis in front of that local cache. A background thread prunes the local cache's expired
    answers every `prune_every_s` and keeps its file under `max_bytes`."""
    path = persistence.file(FILE)
    backend: Any = BaseCache()
    if path is not None:
        backend = GuardedSQLiteCache(str(path), persistence, wal=True, busy_timeout=10_000)
    if shared is not None:
        backend = SharedHTTPCache(shared, backend)
    session = RoutedSession(
        backend=backend,
        expire_after=EXPIRY_S[KIND_QUOTE],
        allowable_codes=(200,),
        ignored_parameters=SECRET_PARAMS,
        stale_if_error=False,
        filter_fn=lambda _response: _ctx.store,
    )
    adapter = requests.adapters.HTTPAdapter(pool_connections=32, pool_maxsize=64, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    cap = max_cache_bytes() if max_bytes is None else max_bytes
    session._stop_pruning = stop = threading.Event()
    session.pruner = threading.Thread(target=_prune_loop, args=(session, persistence, cap,
                                                                prune_every_s, stop),
                                      name="http-cache-prune", daemon=True)
    session.pruner.start()
    return session


def _prune_loop(session: RoutedSession, persistence: Persistence, cap: int, every: float,
                stop: threading.Event) -> None:
    cache = getattr(session.cache, "local", session.cache)    # Redis expires its own
    while not stop.wait(every):
        with persistence.saving(FILE):
            if isinstance(cache, GuardedSQLiteCache):
                done = cache.prune(cap)
                if done["evicted"] or done["vacuumed"]:
                    log.info("HTTP cache over %.0f MB: %d answers evicted, file now %.1f MB",
                             cap / 2**20, done["evicted"], done["bytes"] / 2**20)
            else:
                cache.delete(expired=True)


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
        _ctx.store = not (kind == KIND_QUOTES and params
                          and any(p in params for p in BATCH_LIST_PARAMS))
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
            _ctx.provider, _ctx.budget, _ctx.on_send, _ctx.store = None, None, None, True
        if getattr(resp, "from_cache", False) and self.on_cache_hit:
            self.on_cache_hit(self.name)
        return resp
