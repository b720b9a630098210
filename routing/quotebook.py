"""The quote book: the last quote of every venue for every coin, from their snapshot calls.

One miss asks a venue for every coin it lists in one call; the book keeps each coin's quote per
venue, with when we fetched it and how old the venue's own data was then, so the consensus can
weigh venues against each other and a later miss on another coin needs no call. Held in memory
(a read never touches the disk), written to SQLite by a background thread, loaded at start.

The clock is a parameter (default `time.time`) so tests can move time without sleeping.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable

from providers.base import Quote

from .answers import decode, encode
from .persistence import Persistence, SavedRows

SHARED_READ_EVERY_S = 0.05   # a coin's shared book is read at most this often (one miss reads
                              # it for every venue it weighs)
KEEP_S = 3600.0               # a venue's quote is dropped when nothing replaced it for an hour
FILE = "quotes.sqlite"
SCHEMA = ("CREATE TABLE IF NOT EXISTS quotes (venue TEXT, coin TEXT, fetched_at REAL, "
          "lag_s REAL, value TEXT, PRIMARY KEY (venue, coin));")


@dataclass(frozen=True)
class BookQuote:
    venue: str
    quote: Quote
    fetched_at: float         # book clock, when we received it
    lag_s: float              # how old the venue's data already was when we received it

    def age(self, now: float) -> float:
        """Age of the data: time since our fetch plus the venue's own lag (a CoinGecko quote
        is as old as its last_updated_at, not as our call)."""
        return max(0.0, now - self.fetched_at) + self.lag_s

    def fetch_age(self, now: float) -> float:
        return max(0.0, now - self.fetched_at)


class QuoteBook(SavedRows):
    FILE = FILE
    SCHEMA = SCHEMA
    INSERT = "INSERT OR REPLACE INTO quotes VALUES (?, ?, ?, ?, ?)"

    def __init__(self, persistence: Persistence | None = None, *,
                 clock: Callable[[], float] = time.time, flush_every_s: float = 2.0,
                 shared: Any = None):
        """`shared` (routing/shared.py) also holds the book, so every replica reads the
        snapshots any of them took; the local copy stays the fallback."""
        self._open(persistence if persistence is not None else Persistence(None))
        self.clock = clock
        self.shared = shared
        self._read_at: dict[str, float] = {}                  # coin -> last read of `shared`
        self._coins: dict[str, dict[str, BookQuote]] = {}     # coin -> venue -> quote
        self._versions: dict[str, int] = {}
        self._fetched: dict[str, float] = {}                  # venue -> last snapshot time
        if self.path is not None:
            self._load()
        self._start_saving(flush_every_s)

    def now(self) -> float:
        return self.clock()

    def put(self, venue: str, quotes: dict[str, Quote], fetched_at: float | None = None) -> None:
        """Store a venue's snapshot (or a single quote): one entry per coin."""
        when = self.clock() if fetched_at is None else fetched_at
        wall = time.time()                  # the venues' timestamps are wall-clock epochs
        rows = {}
        with self._lock:
            for coin, q in quotes.items():
                lag = max(0.0, wall - q.timestamp) if q.timestamp > 0 else 0.0
                self._coins.setdefault(coin, {})[venue] = BookQuote(venue, q, when, lag)
                self._versions[coin] = self._versions.get(coin, 0) + 1
                self._dirty.add((venue, coin))
                rows[coin] = (when, lag, encode(q))
            self._fetched[venue] = max(self._fetched.get(venue, 0.0), when)
            self._prune(when)
        if self.shared is not None:
            self.shared.book_put(venue, rows, when)

    def quotes(self, coin: str) -> dict[str, BookQuote]:
        """Venue -> its last quote of `coin` (a copy), with what other replicas fetched."""
        self._sync(coin)
        return dict(self._coins.get(coin, {}))

    def _sync(self, coin: str) -> None:
        """Take in what other replicas stored for `coin` (at most every 50 ms)."""
        if self.shared is not None:
            now = time.monotonic()
            if now - self._read_at.get(coin, 0.0) >= SHARED_READ_EVERY_S:
                self._read_at[coin] = now
                self._merge(coin, self.shared.book_get(coin))

    def reread(self) -> None:
        """Read the shared book afresh on the next look (another replica's round just ended)."""
        self._read_at.clear()

    def _merge(self, coin: str, remote: dict | None) -> None:
        """Take the shared book's newer quotes into the local copy (and its saved file)."""
        if not remote:
            return
        mine = self._coins.get(coin, {})
        newer = {v: r for v, r in remote.items()
                 if v not in mine or mine[v].fetched_at < r[0]}
        if not newer:
            return
        with self._lock:
            venues = self._coins.setdefault(coin, {})
            for venue, (when, lag, value) in newer.items():
                try:
                    venues[venue] = BookQuote(venue, decode(value), when, lag)
                except (KeyError, TypeError, ValueError, AttributeError):
                    continue
                self._dirty.add((venue, coin))
            self._versions[coin] = self._versions.get(coin, 0) + 1

    def get(self, venue: str, coin: str) -> BookQuote | None:
        return self._coins.get(coin, {}).get(venue)

    def version(self, coin: str) -> int:
        """Changes whenever a quote of `coin` is stored, here or by another replica (for
        callers that memoize)."""
        self._sync(coin)
        return self._versions.get(coin, 0)

    def last_fetch(self, venue: str) -> float:
        """Book time of the venue's last snapshot by any replica (0 when never)."""
        mine = self._fetched.get(venue, 0.0)
        if self.shared is not None:
            return max(mine, self.shared.book_fetched(venue))
        return mine

    def coins(self) -> list[str]:
        return list(self._coins)

    def __len__(self) -> int:
        return sum(len(v) for v in list(self._coins.values()))

    def _prune(self, now: float) -> None:
        for coin, venues in list(self._coins.items()):
            for venue, bq in list(venues.items()):
                if now - bq.fetched_at > KEEP_S:
                    del venues[venue]
            if not venues:
                del self._coins[coin]

    # -- persistence --------------------------------------------------------------------------
    def _load(self) -> None:
        for venue, coin, fetched_at, lag, value in self._read(
                "SELECT venue, coin, fetched_at, lag_s, value FROM quotes", "quotes"):
            try:
                bq = BookQuote(str(venue), decode(json.loads(value)), float(fetched_at),
                               float(lag))
            except (KeyError, TypeError, ValueError, AttributeError):
                continue          # a row from an older schema: refetched when needed
            self._coins.setdefault(str(coin), {})[bq.venue] = bq
            self._fetched[bq.venue] = max(self._fetched.get(bq.venue, 0.0), bq.fetched_at)

    def _row(self, key: tuple[str, str]) -> tuple | None:
        venue, coin = key
        bq = self._coins.get(coin, {}).get(venue)
        return None if bq is None else (venue, coin, bq.fetched_at, bq.lag_s,
                                        json.dumps(encode(bq.quote)))
