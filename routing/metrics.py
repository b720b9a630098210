"""Measured numbers about the router, kept in memory and written to SQLite off the request path.

Everything shown on a status page comes from here; nothing is a constant. A background thread
writes a snapshot every few seconds (and at close), so a cache hit never touches the disk.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter, deque
from pathlib import Path

LATENCY_WINDOW = 500          # latencies kept per provider for p50/p95
SERIES_HOURS = 24
RECENT_ERRORS = 50


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


class ProviderStats:
    def __init__(self):
        self.requests = 0             # attempts the router made on this provider
        self.successes = 0
        self.failures: Counter[str] = Counter()   # kind -> count
        self.upstream_calls = 0       # real network sends
        self.http_cache_hits = 0      # answered from the HTTP cache, no network
        self.rate_limit_answers = 0   # 429 / ban / body-level rate limits the provider sent
        self.budget_skips = 0         # times our own budget said no
        self.hedges = 0               # times it was asked because an earlier pick was slow
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)   # ms per upstream call
        self.last_success = 0.0
        self.last_error = ""
        self.last_error_at = 0.0
        self.last_status: int | None = None

    def to_json(self) -> dict:
        d = dict(self.__dict__)
        d["failures"] = dict(self.failures)
        d["latencies"] = list(self.latencies)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ProviderStats":
        s = cls()
        for k, v in d.items():
            if k == "failures":
                s.failures = Counter(v)
            elif k == "latencies":
                s.latencies.extend(v)
            elif hasattr(s, k):
                setattr(s, k, v)
        return s


class Metrics:
    def __init__(self, path: Path | None, flush_every_s: float = 5.0):
        self.path = path
        self._lock = threading.Lock()
        self.started_at = time.time()
        self.providers: dict[str, ProviderStats] = {}
        self.totals: Counter[str] = Counter()   # requests, cache_hits, upstream_calls, stale, errors
        self.response_ms_sum = 0.0
        self.series: dict[int, Counter[str]] = {}  # minute (epoch // 60) -> provider -> calls
        self.recent_errors: deque[dict] = deque(maxlen=RECENT_ERRORS)
        self.health_state: dict[str, dict] = {}    # provider -> ProviderHealth.snapshot()
        self.health_source = None                  # callable giving fresh health snapshots
        self._dirty = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if path is not None:
            self._load()
            self._thread = threading.Thread(target=self._flush_loop, args=(flush_every_s,),
                                            name="metrics-flush", daemon=True)
            self._thread.start()

    # -- recording (all in memory) -------------------------------------------------------------
    def _p(self, name: str) -> ProviderStats:
        st = self.providers.get(name)
        if st is None:
            st = self.providers[name] = ProviderStats()
        return st

    def user_request(self, elapsed_ms: float, *, cache_hit: bool, stale: bool = False,
                     error: bool = False) -> None:
        with self._lock:
            self.totals["requests"] += 1
            self.response_ms_sum += elapsed_ms
            if cache_hit:
                self.totals["cache_hits"] += 1
            if stale:
                self.totals["stale"] += 1
            if error:
                self.totals["errors"] += 1
            self._dirty = True

    def upstream_call(self, provider: str, ms: float, status: int | None) -> None:
        minute = int(time.time() // 60)
        with self._lock:
            p = self._p(provider)
            p.upstream_calls += 1
            p.latencies.append(ms)
            p.last_status = status
            self.totals["upstream_calls"] += 1
            self.series.setdefault(minute, Counter())[provider] += 1
            self._dirty = True

    def http_cache_hit(self, provider: str) -> None:
        with self._lock:
            self._p(provider).http_cache_hits += 1

    def attempt(self, provider: str) -> None:
        with self._lock:
            self._p(provider).requests += 1

    def success(self, provider: str) -> None:
        with self._lock:
            p = self._p(provider)
            p.successes += 1
            p.last_success = time.time()
            self._dirty = True

    def failure(self, provider: str, kind: str, message: str, action: str) -> None:
        with self._lock:
            p = self._p(provider)
            p.failures[kind] += 1
            if kind in ("rate_limit", "banned"):
                p.rate_limit_answers += 1
            p.last_error = message[:300]
            p.last_error_at = time.time()
            self.recent_errors.append({"time": p.last_error_at, "provider": provider,
                                       "kind": kind, "message": message[:300], "action": action})
            self._dirty = True

    def budget_skip(self, provider: str) -> None:
        with self._lock:
            self._p(provider).budget_skips += 1

    def hedge(self, provider: str) -> None:
        """`provider` was asked too because the earlier pick had not answered in its p95."""
        with self._lock:
            self._p(provider).hedges += 1
            self.totals["hedges"] += 1
            self._dirty = True

    def latency_p95_ms(self, provider: str) -> float | None:
        with self._lock:
            return percentile(list(self._p(provider).latencies), 0.95)

    # -- reading ------------------------------------------------------------------------------
    def provider_view(self, name: str) -> dict:
        with self._lock:
            p = self._p(name)
            lat = list(p.latencies)
            total_up = self.totals["upstream_calls"]
            attempts = p.successes + sum(p.failures.values())
            return {
                "requests": p.requests, "successes": p.successes,
                "failures": dict(p.failures), "upstream_calls": p.upstream_calls,
                "http_cache_hits": p.http_cache_hits,
                "rate_limit_hits": p.rate_limit_answers, "budget_skips": p.budget_skips,
                "hedges": p.hedges,
                "success_rate": round(p.successes / attempts, 4) if attempts else None,
                "latency_ms": {"avg": round(sum(lat) / len(lat), 1) if lat else None,
                               "p50": _r(percentile(lat, 0.5)), "p95": _r(percentile(lat, 0.95))},
                "share": round(p.upstream_calls / total_up, 4) if total_up else 0.0,
                "last_success": p.last_success or None, "last_error": p.last_error or None,
                "last_error_at": p.last_error_at or None, "last_status": p.last_status,
            }

    def totals_view(self) -> dict:
        with self._lock:
            t = self.totals
            req = t["requests"]
            return {
                "requests": req, "cache_hits": t["cache_hits"],
                "cache_hit_rate": round(t["cache_hits"] / req, 4) if req else 0.0,
                "upstream_calls": t["upstream_calls"],
                "upstream_per_request": round(t["upstream_calls"] / req, 4) if req else 0.0,
                "avg_response_ms": round(self.response_ms_sum / req, 2) if req else None,
                "stale_answers": t["stale"], "errors": t["errors"], "hedges": t["hedges"],
                "uptime_s": round(time.time() - self.started_at, 1),
            }

    def series_view(self, hours: int = SERIES_HOURS) -> list[dict]:
        """Upstream calls per provider per minute, oldest first: [{minute, provider, calls}]."""
        cutoff = int(time.time() // 60) - hours * 60
        with self._lock:
            return [{"minute": m * 60, "provider": p, "calls": n}
                    for m in sorted(self.series) if m > cutoff
                    for p, n in sorted(self.series[m].items())]

    def errors_view(self) -> list[dict]:
        with self._lock:
            return list(self.recent_errors)

    # -- persistence --------------------------------------------------------------------------
    def _snapshot(self) -> str:
        if self.health_source is not None:
            self.health_state = self.health_source()
        cutoff = int(time.time() // 60) - SERIES_HOURS * 60
        with self._lock:
            for m in [m for m in self.series if m <= cutoff]:
                del self.series[m]
            data = {
                "providers": {n: p.to_json() for n, p in self.providers.items()},
                "totals": dict(self.totals), "response_ms_sum": self.response_ms_sum,
                "series": {str(m): dict(c) for m, c in self.series.items()},
                "recent_errors": list(self.recent_errors),
                "health": self.health_state,
            }
            self._dirty = False
        return json.dumps(data)   # encoded outside the lock: requests keep recording meanwhile

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS metrics (id INTEGER PRIMARY KEY, saved_at REAL, "
                     "data TEXT)")
        return conn

    def _load(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            row = conn.execute("SELECT data FROM metrics WHERE id = 1").fetchone()
        conn.close()
        if not row:
            return
        data = json.loads(row[0])
        self.providers = {n: ProviderStats.from_json(d) for n, d in data.get("providers", {}).items()}
        self.totals = Counter(data.get("totals", {}))
        self.response_ms_sum = data.get("response_ms_sum", 0.0)
        self.series = {int(m): Counter(c) for m, c in data.get("series", {}).items()}
        self.recent_errors.extend(data.get("recent_errors", []))
        self.health_state = data.get("health", {})

    def flush(self) -> None:
        if self.path is None:
            return
        payload = self._snapshot()
        conn = self._connect()
        try:
            with conn:
                conn.execute("INSERT OR REPLACE INTO metrics (id, saved_at, data) VALUES (1, ?, ?)",
                             (time.time(), payload))
        finally:
            conn.close()

    def _flush_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            if self._dirty:
                try:
                    self.flush()
                except sqlite3.Error:
                    pass  # retried at the next tick; the in-memory numbers stay right

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.flush()


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)
