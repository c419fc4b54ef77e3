"""Django's SQLite backend, with each process's writers taking the write lock in turn.

SQLite lets one connection write at a time. A writer that finds the lock taken waits in
SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between
tries rather than waking when the lock frees. With a sweeper's sixteen threads and the web
server's request threads all writing, the sleeps, not the writes, set the pace: in a burst of
200 form posts, a post waited 85 ms on average for a lock that is held about a millisecond.

So within a process, writers queue on a lock of the process's own, which wakes the next one
the moment the last is done, and only one writer per process at a time meets SQLite's busy
handler. A transaction holds it from BEGIN (transactions begin IMMEDIATE, taking SQLite's
write lock there: see settings) to its COMMIT or ROLLBACK; a write outside a transaction holds
it for its statement. Waiting for it has the busy timeout's deadline (the `timeout` option) and
fails as SQLite does when that runs out: "database is locked".

In-memory databases are left as they are: each belongs to one connection, so there is nothing
to queue.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.backends.sqlite3 import base as sqlite3_base

# The default of Python's sqlite3 module for the `timeout` option, in seconds.
DEFAULT_BUSY_TIMEOUT = 5.0
# How statements that write start (Django writes no other kind outside a transaction).
WRITE_KEYWORDS = ("INSERT", "UPDATE", "DELETE", "REPLACE")

_writer_locks: dict[str, threading.Lock] = {}
_writer_locks_guard = threading.Lock()


def _forget_locks_in_child() -> None:
    # A fork copies the locks as they were, held perhaps by threads the child does not have.
    global _writer_locks_guard
    _writer_locks.clear()
    _writer_locks_guard = threading.Lock()


os.register_at_fork(after_in_child=_forget_locks_in_child)


def writer_lock(path: str) -> threading.Lock:
    """The process's lock for writing to the database file at `path`."""
    with _writer_locks_guard:
        return _writer_locks.setdefault(os.path.realpath(path), threading.Lock())


def is_write(sql: str) -> bool:
    return sql.lstrip()[:7].upper().startswith(WRITE_KEYWORDS)


class WriterQueue:
    """One database file's writer lock, taken with the busy timeout's deadline."""

    def __init__(self, path: str, timeout: float, locked_error: type[Exception]) -> None:
        self.lock = writer_lock(path)
        self.timeout = timeout
        self.locked_error = locked_error

    def acquire(self) -> threading.Lock:
        if not self.lock.acquire(timeout=self.timeout):
            raise self.locked_error("database is locked")
        return self.lock

    @contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.lock.release()


class QueuedCursor(sqlite3_base.SQLiteCursorWrapper):
    """Django's SQLite cursor; a write outside a transaction waits its turn in the queue."""

    writers: WriterQueue | None = None

    def execute(self, query: str, params: Any = None) -> Any:
        if not self._queues(query):
            return super().execute(query, params)
        assert self.writers is not None
        with self.writers.held():
            return super().execute(query, params)

    def executemany(self, query: str, param_list: Any) -> Any:
        if not self._queues(query):
            return super().executemany(query, param_list)
        assert self.writers is not None
        with self.writers.held():
            return super().executemany(query, param_list)

    def _queues(self, query: str) -> bool:
        # Inside a transaction the lock is held already, from its BEGIN.
        return self.writers is not None and not self.connection.in_transaction and is_write(query)


class DatabaseWrapper(sqlite3_base.DatabaseWrapper):
    """Django's SQLite backend, with the process's writers queued (see the module's text)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held_writer_lock: threading.Lock | None = None
        self._writers: WriterQueue | None = None
        self._writers_pid = 0

    def writers(self) -> WriterQueue | None:
        """The queue this database's writers take turns in; None for an in-memory database."""
        if self.is_in_memory_db():
            return None
        if self._writers is None or self._writers_pid != os.getpid():
            timeout = float(self.settings_dict["OPTIONS"].get("timeout", DEFAULT_BUSY_TIMEOUT))
            name = str(self.settings_dict["NAME"])
            self._writers = WriterQueue(name, timeout, sqlite3.OperationalError)
            self._writers_pid = os.getpid()  # a forked child has locks of its own
        return self._writers

    def create_cursor(self, name: str | None = None) -> QueuedCursor:
        cursor = self.connection.cursor(factory=QueuedCursor)
        cursor.writers = self.writers()
        return cursor

    def _start_transaction_under_autocommit(self) -> None:
        writers = self.writers()
        if writers is None:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # private: not in the stubs
            return
        with self.wrap_database_errors:
            lock = writers.acquire()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # private: not in the stubs
        except BaseException:
            lock.release()
            raise
        self._held_writer_lock = lock

    def _commit(self) -> None:
        super()._commit()  # type: ignore[misc]  # private: not in the stubs
        self._release_writer_lock()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]  # private: not in the stubs
        finally:
            self._release_writer_lock()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]  # private: not in the stubs
        finally:
            self._release_writer_lock()

    def _release_writer_lock(self) -> None:
        lock, self._held_writer_lock = self._held_writer_lock, None
        if lock is not None:
            lock.release()
