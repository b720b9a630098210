"""The state seam: what replicas of this service share, and where it lives.

Everything the router remembers that another replica must see (answers and the quote book,
provider budgets, cooldowns and breakers, single-flight locks, metrics, the replica list) goes
through one `SharedState`. `LocalState` is the embedded default: every method is a no-op or
answers "nothing shared", so the router keeps its in-process state (saved to SQLite under
DATA_DIR) exactly as before. `RedisState`, chosen by `REDIS_URL`, writes that state through to
Redis and reads it back, so a fleet behaves as one process towards the providers.

Redis trouble is not an outage. Every Redis call is guarded by short socket timeouts; the first
failure flips the replica to `lost` (one warning), after which every call answers locally at
once: the local copies (answers, book, gates, HTTP cache) stay warm because writes always land
locally too, and each budget falls back to its share (capacity // replicas last seen alive). A
background thread pings Redis while lost and rejoins when it answers (one info line). Redis holds
only what can be rebuilt; nothing in it is needed for a correct answer.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit, urlunsplit

from pyrate_limiter import Limiter, Rate
from pyrate_limiter.buckets.redis_bucket import LuaScript, RedisBucket
from pyrate_limiter.limiter import SingleBucketFactory

from providers.base import RateLimit

from .health import ProviderBudget

if TYPE_CHECKING:
    import redis

log = logging.getLogger("routing.shared")

REDIS_TIMEOUT_S = 0.3         # every Redis call: a dead server costs at most this, once
SYNC_EVERY_S = 0.25           # gates pulled, metrics pushed, Redis pinged while lost
HEARTBEAT_EVERY_S = 1.0
ALIVE_S = 5.0                 # a replica whose heartbeat is older is not counted alive
FORGET_S = 3600.0             # replicas and their metrics not heard of for this long are dropped
ANSWER_KEEP_S = 7200          # answers kept in Redis (the stale fallback of the whole fleet)
BOOK_KEEP_S = 3600            # quote book entries (quotebook.KEEP_S)
ERRORS_KEPT = 1000            # recent provider errors of the fleet
SERIES_KEEP_S = 24 * 3600
PREFIX = "cryptohub:"


def redact_url(url: str | None) -> str | None:
    """REDIS_URL with any password replaced by ***, safe for logs and the status."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query,
                       parts.fragment))


_made = itertools.count(1)


def default_replica_id(env: dict[str, str]) -> str:
    """hostname-port-pid: unique per process on a host, readable in the status (a second
    router in the same process, as in tests, gets a -2 suffix)."""
    port = env.get("GRADIO_SERVER_PORT") or env.get("PORT") or "0"
    n = next(_made)
    return f"{socket.gethostname()}-{port}-{os.getpid()}" + (f"-{n}" if n > 1 else "")


class SharedState:
    """The seam the router and its stores ask. This base is the local backend: nothing is
    shared, every read answers None (use your own copy), every write is a no-op."""

    backend = "local"

    def __init__(self, replica_id: str):
        self.replica_id = replica_id
        self.started_at = time.time()

    @property
    def connected(self) -> bool:
        return False

    # -- answers and the quote book -------------------------------------------------------------
    def answer_get(self, key: str) -> tuple[str, float, Any] | None:
        return None

    def answer_put(self, key: str, source: str, fetched_at: float, value: Any) -> None:
        pass

    def book_get(self, coin: str) -> dict[str, tuple[float, float, Any]] | None:
        return None

    def book_put(self, venue: str, rows: dict[str, tuple[float, float, Any]],
                 fetched_at: float) -> None:
        pass

    def book_fetched(self, venue: str) -> float:
        return 0.0

    # -- budgets, gates, single flight ----------------------------------------------------------
    def budget(self, name: str, rate_limit: RateLimit) -> ProviderBudget:
        return ProviderBudget(rate_limit)

    def gate_changed(self, name: str, snapshot: dict) -> None:
        pass

    def lock(self, key: str, ttl_s: float) -> Any:
        """A fleet-wide lock on `key`, or None when another replica holds it. Locally there is
        no one else: always granted."""
        return True

    def unlock(self, token: Any) -> None:
        pass

    # -- metrics --------------------------------------------------------------------------------
    def others_metrics(self) -> list[dict]:
        """The counters other replicas published (none locally)."""
        return []

    def fleet_series(self) -> dict[tuple[int, str], int] | None:
        return None

    def fleet_errors(self) -> list[dict] | None:
        return None

    # -- life cycle and status ------------------------------------------------------------------
    def attach(self, router: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def budget_share(self) -> float:
        return 1.0

    def view(self) -> dict:
        return {"backend": self.backend, "state": "local", "url": None,
                "replica_id": self.replica_id, "since": round(self.started_at, 3),
                "lost_since": None, "replicas_seen": 1, "budget_share": 1.0}

    def replicas(self) -> list[dict]:
        now = time.time()
        return [{"id": self.replica_id, "started_at": round(self.started_at, 3),
                 "uptime_s": round(now - self.started_at, 1), "last_heartbeat": round(now, 3),
                 "age_s": 0.0, "alive": True}]


LocalState = SharedState


# pyrate-limiter's own script, counting every spend from the window's start on (its upper bound
# is "now"): a spend stamped a millisecond ahead by another replica, or by a caller that read
# the clock just before us, must still count, or two replicas admit one unit too many.
_COUNT = "redis.call('ZCOUNT', bucket, window_start, now)"
if _COUNT not in LuaScript.PUT_ITEM:
    raise RuntimeError("pyrate-limiter's Redis script changed: check routing/shared.py PUT_ITEM")
PUT_ITEM = LuaScript.PUT_ITEM.replace(_COUNT, "redis.call('ZCOUNT', bucket, window_start, '+inf')")


class RedisTimeBucket(RedisBucket):
    """pyrate-limiter's Redis bucket on the fleet's clock: Redis TIME (via the offset the state
    measures every tick), so replicas on hosts whose clocks differ still agree on the window."""

    def __init__(self, *args: Any, clock_ms: Callable[[], int], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._clock_ms = clock_ms

    def now(self) -> int:
        return self._clock_ms()


class SharedBudget:
    """One provider's budget for the fleet: pyrate-limiter's Redis bucket while Redis answers,
    else a local budget of this replica's share (capacity // replicas last seen alive)."""

    def __init__(self, name: str, rate_limit: RateLimit, state: "RedisState"):
        self.name = name
        self.rate_limit = rate_limit
        self.state = state
        proto = ProviderBudget(rate_limit)
        self.full_capacity = proto.capacity
        self.window_ms = proto.window_ms
        self.key = f"{PREFIX}budget:{name}"
        self._bucket: RedisTimeBucket | None = None
        self._limiter: Limiter | None = None
        self._fallback: ProviderBudget | None = None
        self._lock = threading.Lock()
        self._reading: tuple[float, int, float] = (0.0, 0, 0.0)   # (taken at, used, wait_s)
        self._spent: list[tuple[float, int]] = []     # own spends through Redis (monotonic, w)

    @property
    def capacity(self) -> int:
        """The capacity this replica may spend now: the full budget, or its share while lost."""
        if self.state.connected:
            return self.full_capacity
        return self._local().capacity

    def _local(self) -> ProviderBudget:
        with self._lock:
            if self._fallback is None:
                share = max(1, self.full_capacity // max(1, self.state.share_of))
                self._fallback = ProviderBudget(self.rate_limit, capacity=share)
                # what this replica spent through Redis in the window still counts
                self._fallback.carry(self._spent)
            return self._fallback

    def rejoined(self) -> None:
        with self._lock:
            self._fallback = None
            self._bucket = self._limiter = None     # Redis may have restarted: scripts reloaded

    def _redis_limiter(self, client: "redis.Redis") -> Limiter:
        if self._limiter is None:
            rates = [Rate(self.full_capacity, self.window_ms)]
            self._bucket = RedisTimeBucket(rates, client, self.key,
                                           client.script_load(PUT_ITEM),
                                           clock_ms=self.state.now_ms)
            # the leak runs in the state's sync thread, where a dead Redis is handled
            self._limiter = Limiter(SingleBucketFactory(self._bucket, schedule_leak=False))
        return self._limiter

    def try_spend(self, weight: int = 1) -> bool:
        weight = max(1, min(int(weight), self.full_capacity))
        if self.state.connected:
            ok = self.state.call(lambda c: self._spend_redis(c, weight), None)
            if ok is not None:
                self._reading = (0.0, 0, 0.0)
                if ok:
                    now = time.monotonic()
                    with self._lock:
                        self._spent = [(t, w) for t, w in self._spent
                                       if t > now - self.window_ms / 1000.0]
                        self._spent.append((now, weight))
                return ok
        return self._local().try_spend(weight)

    def _spend_redis(self, client: "redis.Redis", weight: int) -> bool:
        from redis.exceptions import NoScriptError
        try:
            return bool(self._redis_limiter(client).try_acquire("budget", weight,
                                                                blocking=False))
        except NoScriptError:          # Redis restarted and forgot the script
            self._limiter = None
            return bool(self._redis_limiter(client).try_acquire("budget", weight,
                                                                blocking=False))

    def _read(self) -> tuple[int, float] | None:
        """(units spent in the window, seconds until one more fits), read from Redis at most
        every 50 ms (the spend itself is always decided by Redis, atomically)."""
        taken, used, wait = self._reading
        if time.monotonic() - taken < 0.05:
            return used, wait
        got = self.state.call(self._read_redis, None)
        if got is None:
            return None
        self._reading = (time.monotonic(), *got)
        return got

    def _read_redis(self, client: "redis.Redis") -> tuple[int, float]:
        now = self.state.now_ms()
        stamps = [int(s) for _, s in client.zrangebyscore(
            self.key, now - self.window_ms, "+inf", withscores=True)]
        used = len(stamps)
        if used < self.full_capacity:
            return used, 0.0
        # one more fits once all but capacity-1 of the spent units have left the window (the
        # script's window includes its start, hence the +1 ms)
        oldest_needed = stamps[used - self.full_capacity]
        return used, max(0.0, (oldest_needed + self.window_ms + 1 - now) / 1000.0)

    def remaining(self) -> int:
        if self.state.connected:
            got = self._read()
            if got is not None:
                return max(0, self.full_capacity - got[0])
        return self._local().remaining()

    def wait_s(self) -> float:
        if self.state.connected:
            got = self._read()
            if got is not None:
                return got[1]
        return self._local().wait_s()

    def leak(self, client: "redis.Redis") -> None:
        client.zremrangebyscore(self.key, 0, self.state.now_ms() - self.window_ms)
        client.pexpire(self.key, self.window_ms * 2)


class RedisState(SharedState):
    """Shared state in Redis (`REDIS_URL`), with local fallback. See the module docstring."""

    backend = "redis"
    prefix = PREFIX

    def __init__(self, url: str, replica_id: str, *, timeout_s: float = REDIS_TIMEOUT_S,
                 sync_every_s: float = SYNC_EVERY_S):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        super().__init__(replica_id)
        scheme = urlsplit(url).scheme
        if scheme not in ("redis", "rediss"):
            raise ValueError(f"REDIS_URL must start with redis:// or rediss://, got "
                             f"{scheme or 'no scheme'}://")
        self.url = url
        self.safe_url = redact_url(url)
        self._secret = urlsplit(url).password
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0), health_check_interval=0)
        self._errors = (redis.RedisError, OSError)
        self.sync_every_s = sync_every_s
        self._mu = threading.Lock()
        self.state = "connected"
        self.since = time.time()
        self.lost_since: float | None = None
        self.replicas_seen = 1
        self.share_of = 1                  # replicas seen alive when Redis was lost
        self.offset_s = 0.0                # Redis TIME - local time
        self._budgets: list[SharedBudget] = []
        self._router: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._replicas: list[dict] = []
        self._fetched: dict[str, float] = {}
        self._fetched_at = 0.0
        self._fleet_cache: dict[str, tuple[float, Any]] = {}
        self._last_heartbeat = 0.0
        self._last_prune = 0.0
        try:
            self._measure_offset()
            self._heartbeat()
        except self._errors as exc:
            self._lose(exc)
        else:
            log.info("Shared state: Redis at %s, replica %s, %d replica(s) alive", self.safe_url,
                     replica_id, self.replicas_seen)

    # -- guarded calls --------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.state == "connected"

    def call(self, fn: Callable[["redis.Redis"], Any], default: Any = None) -> Any:
        """fn(client), or `default` when Redis is lost or fails now (which marks it lost)."""
        if self.state != "connected":
            return default
        try:
            return fn(self.client)
        except self._errors as exc:
            self._lose(exc)
            return default

    def _lose(self, exc: BaseException) -> None:
        with self._mu:
            first = self.state != "lost"
            if first:
                now = time.time()
                self.state, self.since, self.lost_since = "lost", now, now
                self.share_of = max(1, self.replicas_seen)
        if first:
            log.warning("Shared state: Redis at %s is unreachable (%s); this replica runs on "
                        "local state, each provider budget at 1/%d, until Redis answers again",
                        self.safe_url, self._clean(exc), self.share_of)

    def _clean(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"[:200]
        return text.replace(self._secret, "***") if self._secret else text

    def _rejoin(self) -> None:
        for b in self._budgets:
            b.rejoined()
        with self._mu:
            lost_for = time.time() - (self.lost_since or time.time())
            self.state, self.since, self.lost_since = "connected", time.time(), None
        self._republish_gates()
        log.info("Shared state: Redis at %s answers again after %.1f s; rejoined the fleet",
                 self.safe_url, lost_for)

    # -- clocks ---------------------------------------------------------------------------------
    def _measure_offset(self) -> None:
        t0 = time.time()
        s, us = self.client.time()
        t1 = time.time()
        self.offset_s = s + us / 1e6 - (t0 + t1) / 2

    def now(self) -> float:
        """Epoch seconds on Redis's clock (the fleet's)."""
        return time.time() + self.offset_s

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    # -- answers and the quote book -------------------------------------------------------------
    def answer_get(self, key: str) -> tuple[str, float, Any] | None:
        raw = self.call(lambda c: c.get(f"{PREFIX}answer:{key}"))
        if raw is None:
            return None
        d = json.loads(raw)
        return d["s"], float(d["f"]), d["v"]

    def answer_put(self, key: str, source: str, fetched_at: float, value: Any) -> None:
        data = json.dumps({"s": source, "f": fetched_at, "v": value})
        self.call(lambda c: c.set(f"{PREFIX}answer:{key}", data, ex=ANSWER_KEEP_S))

    def book_get(self, coin: str) -> dict[str, tuple[float, float, Any]] | None:
        raw = self.call(lambda c: c.hgetall(f"{PREFIX}book:{coin}"))
        if raw is None:
            return None
        out = {}
        for venue, value in raw.items():
            d = json.loads(value)
            out[venue.decode()] = (float(d["f"]), float(d["l"]), d["q"])
        return out

    def book_put(self, venue: str, rows: dict[str, tuple[float, float, Any]],
                 fetched_at: float) -> None:
        def write(c: "redis.Redis") -> None:
            pipe = c.pipeline(transaction=False)
            for coin, (when, lag, quote) in rows.items():
                key = f"{PREFIX}book:{coin}"
                pipe.hset(key, venue, json.dumps({"f": when, "l": lag, "q": quote}))
                pipe.expire(key, BOOK_KEEP_S)
            pipe.hset(f"{PREFIX}book-fetched", venue, fetched_at)
            pipe.execute()
        self.call(write)
        self._fetched[venue] = max(self._fetched.get(venue, 0.0), fetched_at)

    def book_fetched(self, venue: str) -> float:
        """When any replica last took this venue's snapshot (read at most every 0.25 s)."""
        if time.monotonic() - self._fetched_at > self.sync_every_s:
            raw = self.call(lambda c: c.hgetall(f"{PREFIX}book-fetched"))
            self._fetched_at = time.monotonic()
            if raw:
                self._fetched = {k.decode(): float(v) for k, v in raw.items()}
        return self._fetched.get(venue, 0.0)

    # -- budgets, gates, single flight ----------------------------------------------------------
    def budget(self, name: str, rate_limit: RateLimit) -> SharedBudget:
        b = SharedBudget(name, rate_limit, self)
        self._budgets.append(b)
        return b

    def budget_share(self) -> float:
        return 1.0 if self.connected else 1.0 / max(1, self.share_of)

    def gate_changed(self, name: str, snapshot: dict) -> None:
        """A cooldown or breaker changed here: every replica applies it on its next pull."""
        data = json.dumps(self._to_fleet_clock(snapshot))
        self.call(lambda c: c.hset(f"{PREFIX}gates", name, data))

    def _to_fleet_clock(self, snap: dict) -> dict:
        out = dict(snap)
        for k in ("blocked_until", "open_until", "changed_at"):
            if out.get(k):
                out[k] = out[k] + self.offset_s
        return out

    def _from_fleet_clock(self, snap: dict) -> dict:
        out = dict(snap)
        for k in ("blocked_until", "open_until", "changed_at"):
            if out.get(k):
                out[k] = float(out[k]) - self.offset_s
        return out

    def _pull_gates(self, client: "redis.Redis") -> None:
        if self._router is None:
            return
        raw = client.hgetall(f"{PREFIX}gates")
        for name, value in raw.items():
            h = self._router.health.get(name.decode())
            if h is not None:
                h.apply_shared(self._from_fleet_clock(json.loads(value)))

    def _republish_gates(self) -> None:
        """After a rejoin (Redis may have restarted empty): our live cooldowns and breakers."""
        if self._router is None:
            return
        for name, h in self._router.health.items():
            snap = h.snapshot()
            if snap["blocked_until"] > time.time() or snap["open_until"] > time.time():
                self.gate_changed(name, snap)

    def lock(self, key: str, ttl_s: float) -> Any:
        """redis-py's lock (SET NX PX, released by token): one upstream fetch per key in the
        fleet. Granted when Redis is lost: then single flight is per replica."""
        lock = self.client.lock(f"{PREFIX}flight:{key}", timeout=max(0.1, ttl_s),
                                blocking=False)
        got = self.call(lambda c: lock.acquire(blocking=False), None)
        if got is None:
            return True
        return lock if got else None

    def unlock(self, token: Any) -> None:
        if token is True or token is None:
            return
        from redis.exceptions import LockError

        def release(_client: "redis.Redis") -> None:
            try:
                token.release()
            except LockError:
                pass    # it expired meanwhile: someone else may hold it now, which is fine
        self.call(release)

    # -- metrics --------------------------------------------------------------------------------
    def others_metrics(self) -> list[dict]:
        return self._cached("others", lambda c: [
            json.loads(v) for k, v in c.hgetall(f"{PREFIX}metrics").items()
            if k.decode() != self.replica_id]) or []

    def fleet_series(self) -> dict[tuple[int, str], int] | None:
        def read(c: "redis.Redis") -> dict[tuple[int, str], int]:
            out = {}
            for field, n in c.hgetall(f"{PREFIX}series").items():
                minute, provider = field.decode().split(":", 1)
                out[(int(minute), provider)] = int(n)
            return out
        return self._cached("series", read)

    def fleet_errors(self) -> list[dict] | None:
        return self._cached("errors", lambda c: [
            json.loads(v) for v in c.lrange(f"{PREFIX}errors", 0, -1)])

    def _cached(self, name: str, fn: Callable[["redis.Redis"], Any]) -> Any:
        """A fleet reading, read again at most once per sync period (status pages poll); the
        last one known while Redis is lost, None before the first."""
        at, value = self._fleet_cache.get(name, (0.0, None))
        if self.connected and time.monotonic() - at >= self.sync_every_s:
            fresh = self.call(fn, None)
            if fresh is not None:
                self._fleet_cache[name] = (time.monotonic(), fresh)
                value = fresh
        return value

    def _push_metrics(self, client: "redis.Redis") -> None:
        metrics = self._router.metrics
        snap, series, errors = metrics.take_shared()
        pipe = client.pipeline(transaction=False)
        snap["replica"], snap["at"] = self.replica_id, self.now()
        pipe.hset(f"{PREFIX}metrics", self.replica_id, json.dumps(snap))
        for (minute, provider), n in series.items():
            pipe.hincrby(f"{PREFIX}series", f"{minute}:{provider}", n)
        for e in errors:
            pipe.lpush(f"{PREFIX}errors", json.dumps({**e, "replica": self.replica_id}))
        if errors:
            pipe.ltrim(f"{PREFIX}errors", 0, ERRORS_KEPT - 1)
        try:
            pipe.execute()
        except self._errors:
            metrics.give_back(series, errors)      # pushed once Redis answers again
            raise
        for name in ("series", "errors"):        # re-read: they now hold what we pushed
            at, value = self._fleet_cache.get(name, (0.0, None))
            self._fleet_cache[name] = (0.0, value)

    # -- heartbeat, replicas, sync --------------------------------------------------------------
    def _heartbeat(self) -> None:
        now = self.now()
        beat = json.dumps({"id": self.replica_id, "started_at": self.started_at + self.offset_s,
                           "last_heartbeat": now})
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(f"{PREFIX}replicas", self.replica_id, beat)
        pipe.hgetall(f"{PREFIX}replicas")
        _, raw = pipe.execute()
        rows = []
        for k, v in raw.items():
            d = json.loads(v)
            age = now - float(d["last_heartbeat"])
            if age > FORGET_S:
                self.client.hdel(f"{PREFIX}replicas", k)
                self.client.hdel(f"{PREFIX}metrics", k)
                continue
            rows.append({"id": d["id"], "started_at": round(float(d["started_at"]), 3),
                         "uptime_s": round(now - float(d["started_at"]), 1),
                         "last_heartbeat": round(float(d["last_heartbeat"]), 3),
                         "age_s": round(max(0.0, age), 3), "alive": age <= ALIVE_S})
        rows.sort(key=lambda r: (r["started_at"], r["id"]))
        self._replicas = rows
        self.replicas_seen = max(1, sum(r["alive"] for r in rows))
        self._last_heartbeat = time.monotonic()

    def attach(self, router: Any) -> None:
        """Start syncing for this router: gates pulled, metrics pushed, heartbeat, rejoin."""
        self._router = router
        self._thread = threading.Thread(target=self._sync_loop, name="shared-state-sync",
                                        daemon=True)
        self._thread.start()

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.sync_every_s):
            try:
                self.sync_once()
            except Exception:       # a bug here must not stop syncing silently
                log.exception("Shared state sync failed")

    def sync_once(self) -> None:
        """One tick: while lost, ping (and rejoin when Redis answers); while connected, pull
        the gates, push metrics, beat the heart."""
        if self.state != "connected":
            try:
                self.client.ping()
                self._measure_offset()
            except self._errors:
                return
            self._rejoin()
        self.call(self._sync_connected)

    def _sync_connected(self, client: "redis.Redis") -> None:
        self._pull_gates(client)
        if time.monotonic() - self._last_heartbeat >= HEARTBEAT_EVERY_S:
            self._measure_offset()
            self._heartbeat()
            for b in self._budgets:
                b.leak(client)
        self._push_metrics(client)
        if time.monotonic() - self._last_prune > 600:
            self._last_prune = time.monotonic()
            cutoff = int((self.now() - SERIES_KEEP_S) // 60)
            old = [f for f in client.hkeys(f"{PREFIX}series")
                   if int(f.split(b":", 1)[0]) < cutoff]
            if old:
                client.hdel(f"{PREFIX}series", *old)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._router is not None:
            self.call(self._push_metrics)
        self.call(lambda c: c.hdel(f"{PREFIX}replicas", self.replica_id))
        self.client.close()

    # -- status ---------------------------------------------------------------------------------
    def view(self) -> dict:
        with self._mu:
            return {"backend": "redis", "state": self.state, "url": self.safe_url,
                    "replica_id": self.replica_id, "since": round(self.since, 3),
                    "lost_since": None if self.lost_since is None else round(self.lost_since, 3),
                    "replicas_seen": self.replicas_seen if self.state == "connected"
                    else self.share_of,
                    "budget_share": round(self.budget_share(), 4)}

    def replicas(self) -> list[dict]:
        """The replicas of the last heartbeat round; while Redis is lost, the ones last seen,
        ageing (so they turn not alive), and this one fresh."""
        if self.connected or not self._replicas:
            return list(self._replicas) or super().replicas()
        now = self.now()
        out = []
        for r in self._replicas:
            if r["id"] == self.replica_id:
                r = {**r, "last_heartbeat": round(now, 3), "uptime_s": round(
                    now - r["started_at"], 1)}
            age = max(0.0, now - r["last_heartbeat"])
            out.append({**r, "age_s": round(age, 3), "alive": age <= ALIVE_S})
        return out


def build_state(env: dict[str, str]) -> SharedState:
    """RedisState when REDIS_URL is set, else the local backend."""
    replica_id = env.get("REPLICA_ID", "").strip() or default_replica_id(env)
    url = env.get("REDIS_URL", "").strip()
    if not url:
        return LocalState(replica_id)
    return RedisState(url, replica_id)


__all__ = ["LocalState", "RedisState", "SharedState", "build_state", "redact_url"]
