"""The router's own cache of normalized answers, whichever provider gave them.

A fresh answer is served without an upstream call; an old one is kept as the stale fallback when
every provider fails. Held in memory, written to SQLite by a background thread, loaded at start,
so answers survive a restart and a cache hit never touches the disk.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any, Callable

from providers.base import Candle, FearGreed, NewsItem, Quote, TopCoin

from .persistence import Persistence, SavedRows

_TYPES = {cls.__name__: cls for cls in (Quote, Candle, TopCoin, FearGreed, NewsItem)}
MAX_ENTRIES = 20_000
FILE = "answers.sqlite"
SCHEMA = ("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, source TEXT, "
          "fetched_at REAL, value TEXT);")


@dataclass(frozen=True)
class Stored:
    key: str
    value: Any                 # a dataclass or a list of them
    source: str
    fetched_at: float          # epoch seconds when it came from upstream

    def age(self, now: float) -> float:
        return max(0.0, now - self.fetched_at)


def encode(value: Any) -> Any:
    if isinstance(value, list):
        return [encode(v) for v in value]
    return {"t": type(value).__name__, "d": dataclasses.asdict(value)}


def decode(data: Any) -> Any:
    if isinstance(data, list):
        return [decode(v) for v in data]
    return _TYPES[data["t"]](**data["d"])


class AnswerStore(SavedRows):
    """`clock` stamps new answers (epoch seconds); the router reads ages with the same clock."""

    FILE = FILE
    SCHEMA = SCHEMA
    INSERT = "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)"

    def __init__(self, persistence: Persistence, flush_every_s: float = 2.0,
                 clock: Callable[[], float] = time.time, shared: Any = None):
        """`shared` (routing/shared.py) also holds every answer, so one replica's fetch is
        served by all; the local copy stays the fallback."""
        self._open(persistence)
        self.clock = clock
        self.shared = shared
        self._items: dict[str, Stored] = {}
        if self.path is not None:
            self._load()
        self._start_saving(flush_every_s)

    def get(self, key: str, fresh_s: float | None = None) -> Stored | None:
        """The newest answer for `key`, here or (with shared state) from another replica. A
        local one younger than `fresh_s` is taken as is: nothing newer can matter to the
        caller, and a cache hit then costs no round trip to the shared store."""
        local = self._items.get(key)
        if self.shared is None or (local is not None and fresh_s is not None
                                   and local.age(self.clock()) < fresh_s):
            return local
        remote = self.shared.answer_get(key)
        if remote is None:
            return local
        source, fetched_at, value = remote
        if local is not None and local.fetched_at >= fetched_at:
            return local
        try:
            item = Stored(key, decode(value), source, fetched_at)
        except (KeyError, TypeError, ValueError, AttributeError):
            return local      # written by another version of the app: ours is refetched
        self._keep(item)
        return item

    def put(self, key: str, value: Any, source: str, fetched_at: float | None = None) -> Stored:
        item = Stored(key, value, source, self.clock() if fetched_at is None else fetched_at)
        if self.shared is not None:
            self.shared.answer_put(key, source, item.fetched_at, encode(value))
        self._keep(item)
        return item

    def _keep(self, item: Stored) -> None:
        key = item.key
        with self._lock:
            self._items[key] = item
            self._dirty.add(key)
            if len(self._items) > MAX_ENTRIES:
                oldest = sorted(self._items.values(), key=lambda s: s.fetched_at)[:1000]
                for s in oldest:
                    self._items.pop(s.key, None)

    def counts(self) -> dict[str, int]:
        """Entries per kind (the key prefix before ':')."""
        out: dict[str, int] = {}
        for key in list(self._items):
            kind = key.split(":", 1)[0]
            out[kind] = out.get(kind, 0) + 1
        return out

    def __len__(self) -> int:
        return len(self._items)

    # -- persistence --------------------------------------------------------------------------
    def _load(self) -> None:
        for key, source, fetched_at, value in self._read(
                "SELECT key, source, fetched_at, value FROM answers", "answers"):
            try:
                self._items[key] = Stored(str(key), decode(json.loads(value)), str(source),
                                          float(fetched_at))
            except (KeyError, TypeError, ValueError, AttributeError):
                continue  # a row from an older schema: drop it, it will be refetched

    def _row(self, key: str) -> tuple | None:
        s = self._items.get(key)
        return None if s is None else (s.key, s.source, s.fetched_at, json.dumps(encode(s.value)))
