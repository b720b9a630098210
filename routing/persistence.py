"""Where the router's state lives on disk, and what happens when that disk lets us down.

The one place that opens SQLite files under DATA_DIR (answers, metrics, the HTTP cache). A
damaged file is moved aside as `<name>.corrupt-<time>` and recreated; a DATA_DIR that cannot be
written (read-only, missing and uncreatable, full) makes the app keep its state in memory and say
so; a save that fails mid-run (a full disk) is logged once and retried later. None of this stops
the app from starting or from shutting down.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator

log = logging.getLogger("routing.persistence")

SQLITE = "sqlite"
MEMORY = "memory"
# SQLite result codes that mean "this file is not a database we can read", not "the disk said no".
DAMAGED = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})
SIDE_FILES = ("-wal", "-shm", "-journal")


class DamagedFile(sqlite3.DatabaseError):
    """SQLite opened the file but cannot read all of it."""


class Persistence:
    """The state of DATA_DIR as the status page shows it: mode, data_dir, reason, files moved
    aside, the last save that failed. (No key is called "path": gradio_client would take the
    object for a file to download.)"""

    def __init__(self, data_dir: Path | None):
        self.path = data_dir
        self.mode = SQLITE if data_dir is not None else MEMORY
        self.reason: str | None = None if data_dir is not None else "persistence turned off"
        self.quarantined: list[dict] = []
        self.dropped: list[dict] = []              # unreadable saved rows, started afresh
        self.last_save_error: dict | None = None
        self.failing: set[str] = set()             # files whose latest save failed
        self._lock = threading.Lock()
        if data_dir is not None:
            self._check_dir()

    # -- start-up -------------------------------------------------------------------------------
    def _check_dir(self) -> None:
        """DATA_DIR must exist (or be creatable) and take a small write; else: memory."""
        probe = self.path / f".write-probe-{os.getpid()}"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with open(probe, "wb") as f:
                f.write(b"\0" * 4096)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            self._to_memory(f"DATA_DIR {self.path} is not usable: {_oserror(exc)}")
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()

    def _to_memory(self, reason: str) -> None:
        if self.mode == MEMORY:
            return
        self.mode, self.reason = MEMORY, reason
        log.warning("%s; keeping state in memory only (nothing is saved until a restart with a "
                    "usable DATA_DIR)", reason)

    def file(self, name: str, schema: str | None = None) -> Path | None:
        """The path of a usable SQLite file `name` under DATA_DIR, or None: keep it in memory.
        A damaged file is moved aside and a new one created; `schema` (SQL) is applied to it."""
        if self.mode == MEMORY:
            return None
        path = self.path / name
        for attempt in (1, 2):
            try:
                _check(path, schema)
                return path
            except sqlite3.DatabaseError as exc:
                damaged = isinstance(exc, DamagedFile) or \
                    getattr(exc, "sqlite_errorname", "") in DAMAGED
                if attempt == 1 and damaged:
                    if self._quarantine(path, exc):
                        continue
                    return None
                self._to_memory(f"cannot open {name}: {exc}")
                return None
            except OSError as exc:
                self._to_memory(f"cannot open {name}: {_oserror(exc)}")
                return None
        return None

    def _quarantine(self, path: Path, exc: Exception) -> bool:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        target = path.with_name(f"{path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        try:
            os.replace(path, target)
            for suffix in SIDE_FILES:
                side = path.with_name(path.name + suffix)
                if side.exists():
                    os.replace(side, target.with_name(target.name + suffix))
        except OSError as err:
            self._to_memory(f"{path.name} is damaged ({exc}) and cannot be moved aside: "
                            f"{_oserror(err)}")
            return False
        entry = {"file": path.name, "moved_to": target.name, "error": str(exc)[:200],
                 "at": round(time.time(), 3)}
        with self._lock:
            self.quarantined.append(entry)
        log.warning("%s is damaged (%s): moved aside to %s and started afresh", path.name, exc,
                    target.name)
        return True

    def drop(self, name: str, what: str, exc: Exception) -> None:
        """A saved row that cannot be read: say so once; the state starts from zero."""
        entry = {"file": name, "what": what, "error": f"{type(exc).__name__}: {exc}"[:200],
                 "at": round(time.time(), 3)}
        with self._lock:
            self.dropped.append(entry)
        log.warning("%s: the saved %s cannot be read (%s); starting from zero", name, what,
                    entry["error"])

    # -- while running --------------------------------------------------------------------------
    @contextlib.contextmanager
    def saving(self, name: str) -> Iterator[None]:
        """Wrap one save of file `name`: a failure is logged once per failing streak, kept for
        the status, and swallowed (the caller keeps its data and tries again later)."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            self.save_failed(name, exc)
        else:
            self.saved(name)

    def save_failed(self, name: str, exc: BaseException) -> None:
        text = _oserror(exc) if isinstance(exc, OSError) else str(exc)
        with self._lock:
            first = name not in self.failing
            self.failing.add(name)
            self.last_save_error = {"file": name, "error": text[:200], "at": round(time.time(), 3)}
        if first:
            log.warning("Saving %s failed (%s); the state stays in memory and saving is "
                        "retried", name, text)

    def saved(self, name: str) -> None:
        if name in self.failing:
            with self._lock:
                self.failing.discard(name)
            log.info("Saving %s works again", name)

    def view(self) -> dict:
        with self._lock:
            return {"mode": self.mode, "data_dir": str(self.path) if self.path else None,
                    "reason": self.reason, "quarantined": list(self.quarantined),
                    "dropped": list(self.dropped), "saving": "failing" if self.failing else "ok",
                    "last_save_error": self.last_save_error}


class SavedRows:
    """State kept in memory and saved as rows of one SQLite file under DATA_DIR: read at start,
    changed rows written by a background thread and at close, so a read never touches the disk;
    a save that fails (a full disk) keeps the rows dirty for a later tick."""

    FILE = ""          # the file under DATA_DIR
    SCHEMA = ""        # its CREATE TABLE
    INSERT = ""        # INSERT OR REPLACE with one ? per column of a row

    def _open(self, persistence: "Persistence") -> None:
        self.persistence = persistence
        self.path: Path | None = persistence.file(self.FILE, self.SCHEMA)
        self._lock = threading.Lock()
        self._dirty: set = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self, select: str, what: str) -> list[tuple]:
        """The saved rows; none (and a note in the status) when the file cannot be read."""
        try:
            conn = connect(self.path)
            try:
                return conn.execute(select).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            self.persistence.drop(self.FILE, what, exc)
            return []

    def _start_saving(self, every_s: float) -> None:
        if self.path is not None:
            self._thread = threading.Thread(target=self._save_loop, args=(every_s,),
                                            name=f"{self.FILE}-flush", daemon=True)
            self._thread.start()

    def _row(self, key) -> tuple | None:
        """The row to write for a dirty key (None: it is gone). Called under the lock."""
        raise NotImplementedError

    def flush(self) -> None:
        """Write the rows changed since the last flush."""
        if self.path is None:
            return
        with self._lock:
            keys, self._dirty = self._dirty, set()
            rows = [row for row in map(self._row, keys) if row is not None]
        if not rows:
            return
        with self.persistence.saving(self.FILE):
            conn = connect(self.path)
            try:
                with conn:
                    conn.executemany(self.INSERT, rows)
            finally:
                conn.close()
        if self.FILE in self.persistence.failing:
            with self._lock:
                self._dirty.update(keys)

    def _save_loop(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.flush()


def connect(path: Path, timeout: float = 10.0) -> sqlite3.Connection:
    """A connection to one of our state files, in WAL mode (readers never wait for the writer)."""
    conn = sqlite3.connect(path, timeout=timeout)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _check(path: Path, schema: str | None) -> None:
    """Open the file, make sure SQLite can read all of it, and create its tables."""
    conn = connect(path)
    try:
        row = conn.execute("PRAGMA quick_check").fetchone()
        if row is None or row[0] != "ok":
            raise DamagedFile(f"integrity check failed: {row[0] if row else 'no answer'}")
        if schema:
            with conn:
                conn.executescript(schema)
    finally:
        conn.close()


def _oserror(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)
