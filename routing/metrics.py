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
from typing import Callable

from .persistence import Persistence, connect
from .status import NOT_HEALTH_KINDS, humanize

FILE = "metrics.sqlite"
SCHEMA = "CREATE TABLE IF NOT EXISTS metrics (id INTEGER PRIMARY KEY, saved_at REAL, data TEXT);"

LATENCY_WINDOW = 500          # latencies kept per provider for p50/p95
SERIES_HOURS = 24
OUTCOMES_KEPT = 100           # per provider: (time, succeeded), for the recent success rate
ERRORS_KEPT = 200             # per provider: the error list the status shows


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
        self.outcomes: deque[tuple[float, bool]] = deque(maxlen=OUTCOMES_KEPT)
        self.errors: deque[dict] = deque(maxlen=ERRORS_KEPT)

    def to_json(self) -> dict:
        d = dict(self.__dict__)
        d["failures"] = dict(self.failures)
        for key in ("latencies", "outcomes", "errors"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ProviderStats":
        """Rebuild from a saved snapshot; a field of the wrong type raises TypeError (the caller
        then drops the whole snapshot rather than serve nonsense counts)."""
        s = cls()
        for k, v in d.items():
            if k == "failures":
                s.failures = Counter({str(kind): _count(n) for kind, n in v.items()})
            elif k == "latencies":
                s.latencies.extend(_number(x) for x in v)
            elif k == "outcomes":
                s.outcomes.extend((_number(t), bool(ok)) for t, ok in v)
            elif k == "errors":
                s.errors.extend(_error(e) for e in v)
            elif k == "last_status":
                s.last_status = None if v is None else _count(v)
            elif isinstance(getattr(s, k, None), str):
                if not isinstance(v, str):
                    raise TypeError(f"{k} is not text")
                setattr(s, k, v)
            elif isinstance(getattr(s, k, None), (int, float)):
                setattr(s, k, _number(v) if isinstance(getattr(s, k), float) else _count(v))
        return s


def _number(v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{v!r} is not a number")
    return float(v)


def _health(h: dict) -> dict:
    """A saved ProviderHealth snapshot with the types restore() relies on."""
    return {"blocked_until": _number(h.get("blocked_until", 0.0)),
            "open_until": _number(h.get("open_until", 0.0)),
            "opens": _count(h.get("opens", 0)),
            "block_state": str(h.get("block_state", "rate_limited")),
            "block_reason": str(h.get("block_reason", ""))}


def _error(e: dict) -> dict:
    """A saved recent-error record with the fields the status page reads."""
    return {"time": _number(e["time"]),
            **{k: str(e[k]) for k in ("provider", "kind", "message", "action")}}


def _count(v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{v!r} is not a count")
    return v


class Metrics:
    def __init__(self, persistence: Persistence, flush_every_s: float = 5.0,
                 clock: Callable[[], float] = time.time):
        """`clock` (epoch seconds) stamps call outcomes and errors: the router's own, so the
        status reads their ages on the same clock as its cooldowns."""
        self.persistence = persistence
        self.path: Path | None = persistence.file(FILE, SCHEMA)
        self.clock = clock
        self._lock = threading.Lock()
        self.started_at = time.time()
        self.providers: dict[str, ProviderStats] = {}
        self.totals: Counter[str] = Counter()   # requests, cache_hits, upstream_calls, stale, errors
        self.response_ms_sum = 0.0
        self.series: dict[int, Counter[str]] = {}  # minute (epoch // 60) -> provider -> calls
        self.health_state: dict[str, dict] = {}    # provider -> ProviderHealth.snapshot()
        self.health_source = None                  # callable giving fresh health snapshots
        # With shared state (routing/shared.py), what has not reached the fleet's store yet:
        self.shared = None
        self._series_delta: Counter[tuple[int, str]] = Counter()
        self._error_queue: list[dict] = []
        self._dirty = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.path is not None:
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
            if self.shared is not None:
                self._series_delta[(minute, provider)] += 1
            self._dirty = True

    def http_cache_hit(self, provider: str) -> None:
        with self._lock:
            self._p(provider).http_cache_hits += 1

    def attempt(self, provider: str) -> None:
        with self._lock:
            self._p(provider).requests += 1

    def success(self, provider: str) -> None:
        now = self.clock()
        with self._lock:
            p = self._p(provider)
            p.successes += 1
            p.last_success = now
            p.outcomes.append((now, True))
            self._dirty = True

    def failure(self, provider: str, kind: str, message: str, action: str) -> None:
        """A failed call. Its message is stored as people will read it (humanize); a symbol or
        interval the provider does not have is counted but is neither an outcome nor an error."""
        now = self.clock()
        text = humanize(message, now, 300)
        with self._lock:
            p = self._p(provider)
            p.failures[kind] += 1
            if kind in NOT_HEALTH_KINDS:
                self._dirty = True
                return
            if kind in ("rate_limit", "banned"):
                p.rate_limit_answers += 1
            p.last_error = text
            p.last_error_at = now
            p.outcomes.append((now, False))
            p.errors.append({"time": now, "provider": provider, "kind": kind, "message": text,
                             "action": action})
            if self.shared is not None:
                self._error_queue.append(p.errors[-1])
                del self._error_queue[:-ERRORS_KEPT]
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

    # -- the fleet (shared state) ---------------------------------------------------------------
    def take_shared(self) -> tuple[dict, Counter, list[dict]]:
        """(this replica's counters, series and errors not yet pushed) for the shared store,
        which sums every replica's counters; the pending parts are handed over and cleared."""
        with self._lock:
            snap = {"totals": dict(self.totals), "response_ms_sum": self.response_ms_sum,
                    "providers": {n: _counters(p) for n, p in self.providers.items()}}
            series, self._series_delta = self._series_delta, Counter()
            errors, self._error_queue = self._error_queue, []
        return snap, series, errors

    def give_back(self, series: Counter, errors: list[dict]) -> None:
        """A push that failed: keep its parts for the next one."""
        with self._lock:
            self._series_delta.update(series)
            self._error_queue[:0] = errors
            del self._error_queue[:-ERRORS_KEPT]

    def _others(self) -> list[dict]:
        return self.shared.others_metrics() if self.shared is not None else []

    # -- reading ------------------------------------------------------------------------------
    def provider_view(self, name: str) -> dict:
        """Lifetime counters (of the fleet, with shared state) and this replica's latencies of
        one provider (the recent verdict is status.assess's, fed by outcomes())."""
        others = [o.get("providers", {}).get(name) for o in self._others()]
        others = [o for o in others if o]
        total_up = sum(o.get("totals", {}).get("upstream_calls", 0) for o in self._others())
        with self._lock:
            p = self._p(name)
            c = _counters(p)
            lat = list(p.latencies)
            total_up += self.totals["upstream_calls"]
        for o in others:
            for k in _SUMMED:
                c[k] += o.get(k, 0)
            for kind, n in o.get("failures", {}).items():
                c["failures"][kind] = c["failures"].get(kind, 0) + n
            c["last_success"] = max(c["last_success"], o.get("last_success", 0.0))
            if o.get("last_error_at", 0.0) > c["last_error_at"]:
                for k in ("last_error", "last_error_at", "last_status"):
                    c[k] = o.get(k)
        attempts = c["successes"] + sum(n for k, n in c["failures"].items()
                                        if k not in NOT_HEALTH_KINDS)
        return {
            "requests": c["requests"], "successes": c["successes"],
            "failures": c["failures"], "upstream_calls": c["upstream_calls"],
            "http_cache_hits": c["http_cache_hits"],
            "rate_limit_hits": c["rate_limit_answers"], "budget_skips": c["budget_skips"],
            "hedges": c["hedges"],
            "success_rate_all": round(c["successes"] / attempts, 4) if attempts else None,
            "latency_ms": {"avg": round(sum(lat) / len(lat), 1) if lat else None,
                           "p50": _r(percentile(lat, 0.5)), "p95": _r(percentile(lat, 0.95))},
            "share": round(c["upstream_calls"] / total_up, 4) if total_up else 0.0,
            "last_success": c["last_success"] or None, "last_error": c["last_error"] or None,
            "last_error_at": c["last_error_at"] or None, "last_status": c["last_status"],
        }

    def totals_view(self) -> dict:
        """Totals of this replica, or of the whole fleet with shared state."""
        others = self._others()
        with self._lock:
            t = Counter(self.totals)
            ms_sum = self.response_ms_sum
        for o in others:
            t.update({k: v for k, v in o.get("totals", {}).items() if isinstance(v, int)})
            ms_sum += o.get("response_ms_sum", 0.0)
        with self._lock:
            req = t["requests"]
            return {
                "requests": req, "cache_hits": t["cache_hits"],
                "cache_hit_rate": round(t["cache_hits"] / req, 4) if req else 0.0,
                "upstream_calls": t["upstream_calls"],
                "upstream_per_request": round(t["upstream_calls"] / req, 4) if req else 0.0,
                "avg_response_ms": round(ms_sum / req, 2) if req else None,
                "stale_answers": t["stale"], "errors": t["errors"], "hedges": t["hedges"],
                "uptime_s": round(time.time() - self.started_at, 1),
            }

    def series_view(self, hours: int = SERIES_HOURS) -> list[dict]:
        """Upstream calls per provider per minute, oldest first: [{minute, provider, calls}]."""
        cutoff = int(time.time() // 60) - hours * 60
        fleet = self.shared.fleet_series() if self.shared is not None else None
        with self._lock:
            if fleet is None:
                return [{"minute": m * 60, "provider": p, "calls": n}
                        for m in sorted(self.series) if m > cutoff
                        for p, n in sorted(self.series[m].items())]
            merged = Counter(fleet)
            merged.update(self._series_delta)
        return [{"minute": m * 60, "provider": p, "calls": n}
                for (m, p), n in sorted(merged.items()) if m > cutoff]

    def outcomes(self, name: str) -> list[tuple[float, bool]]:
        with self._lock:
            return list(self._p(name).outcomes)

    def errors_view(self, since: float = 0.0) -> list[dict]:
        """Every kept provider error since `since` (epoch), oldest first: the fleet's with
        shared state."""
        fleet = self.shared.fleet_errors() if self.shared is not None else None
        with self._lock:
            if fleet is None:
                out = [e for p in self.providers.values() for e in p.errors if e["time"] > since]
            else:
                out = [_error(e) for e in fleet + self._error_queue if e["time"] > since]
        return sorted(out, key=lambda e: e["time"])

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
                "health": self.health_state,
            }
            self._dirty = False
        return json.dumps(data)   # encoded outside the lock: requests keep recording meanwhile

    def _load(self) -> None:
        try:
            conn = connect(self.path)
            try:
                row = conn.execute("SELECT data FROM metrics WHERE id = 1").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            self.persistence.drop(FILE, "metrics", exc)
            return
        if not row:
            return
        try:
            data = json.loads(row[0])
            providers = {n: ProviderStats.from_json(d)
                         for n, d in data.get("providers", {}).items()}
            totals = Counter({k: _count(v) for k, v in data.get("totals", {}).items()})
            response_ms_sum = _number(data.get("response_ms_sum", 0.0))
            series = {int(m): Counter({p: _count(n) for p, n in c.items()})
                      for m, c in data.get("series", {}).items()}
            health = {str(n): _health(h) for n, h in data.get("health", {}).items()}
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            self.persistence.drop(FILE, "metrics", exc)
            return
        self.providers, self.totals, self.response_ms_sum = providers, totals, response_ms_sum
        self.series, self.health_state = series, health

    def flush(self) -> None:
        """Write a snapshot; a failure (a full disk) is reported once and retried next tick."""
        if self.path is None:
            return
        payload = self._snapshot()
        with self.persistence.saving(FILE):
            conn = connect(self.path)
            try:
                with conn:
                    conn.execute("INSERT OR REPLACE INTO metrics (id, saved_at, data) "
                                 "VALUES (1, ?, ?)", (time.time(), payload))
            finally:
                conn.close()
        if FILE in self.persistence.failing:
            self._dirty = True

    def _flush_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            if self._dirty:
                self.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.flush()


_SUMMED = ("requests", "successes", "upstream_calls", "http_cache_hits", "rate_limit_answers",
           "budget_skips", "hedges")


def _counters(p: ProviderStats) -> dict:
    """The counters of one provider that add up across replicas, and its last events."""
    out = {k: getattr(p, k) for k in _SUMMED}
    out.update(failures=dict(p.failures), last_success=p.last_success,
               last_error=p.last_error, last_error_at=p.last_error_at,
               last_status=p.last_status)
    return out


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)
