"""Django's SQLite backend, with the writers of every process taking the write lock in turn.

SQLite lets one connection write at a time. A writer that finds the lock taken waits in
SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between
tries rather than waking when the lock frees. With a sweeper's sixteen threads, the web
server's request threads and the task workers all writing, the sleeps, not the writes, set the
pace: in a burst of 200 form posts, a post waited 85 ms on average for a lock that is held
about a millisecond.

So writers queue before they ask SQLite: within a process on a lock of its own, which wakes
the next thread the moment the last is done, and between processes on a lock file beside the
database (`<name>-writer`, `flock`), which the one thread per process that holds the first
lock tries every fraction of a millisecond to two. SQLite's own lock is then free when a
writer asks for it, and its busy handler stays the fallback for writers that do not queue
(another program, the `sqlite3` shell). A transaction holds its turn from BEGIN (transactions
begin IMMEDIATE, taking SQLite's write lock there: see settings) to its COMMIT or ROLLBACK; a
write outside a transaction holds it for its statement; a deferred transaction (a backup's
snapshot, which only reads) takes none. Waiting has the busy timeout's deadline (the `timeout`
option) and fails as SQLite does when that runs out: "database is locked".

In-memory databases are left as they are: each belongs to one connection, so there is nothing
to queue.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.backends.sqlite3 import base as sqlite3_base

# The default of Python's sqlite3 module for the `timeout` option, in seconds.
DEFAULT_BUSY_TIMEOUT = 5.0
# Transactions that take SQLite's write lock at BEGIN, and so their turn.
LOCKING_MODES = ("IMMEDIATE", "EXCLUSIVE")
# How statements that write start (Django writes no other kind outside a transaction).
WRITE_KEYWORDS = ("INSERT", "UPDATE", "DELETE", "REPLACE")

# The lock file is tried again after this long, doubling up to the most.
FIRST_PAUSE_SECONDS = 0.0002
MOST_PAUSE_SECONDS = 0.002
LOCK_FILE_SUFFIX = "-writer"

_writer_locks: dict[str, threading.Lock] = {}
_lock_files: dict[str, int | None] = {}
_writer_locks_guard = threading.Lock()


def _forget_locks_in_child() -> None:
    # A fork copies the locks as they were, held perhaps by threads the child does not have,
    # and shares the parent's lock files: a copy left open would keep the parent's flock
    # alive after the parent died. The child closes them and opens its own when it writes.
    global _writer_locks_guard
    for descriptor in _lock_files.values():
        if descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(descriptor)
    _writer_locks.clear()
    _lock_files.clear()
    _writer_locks_guard = threading.Lock()


os.register_at_fork(after_in_child=_forget_locks_in_child)


def writer_lock(path: str) -> threading.Lock:
    """The process's lock for writing to the database file at `path`."""
    with _writer_locks_guard:
        return _writer_locks.setdefault(os.path.realpath(path), threading.Lock())


def lock_file(path: str) -> int | None:
    """This process's descriptor of the lock file beside the database file at `path`; None
    where it cannot be made (a read-only folder): then processes wait in SQLite's handler."""
    real = os.path.realpath(path)
    with _writer_locks_guard:
        if real not in _lock_files:
            try:
                _lock_files[real] = os.open(real + LOCK_FILE_SUFFIX, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                _lock_files[real] = None
        return _lock_files[real]


def is_write(sql: str) -> bool:
    return sql.lstrip()[:7].upper().startswith(WRITE_KEYWORDS)


class WriterQueue:
    """One database file's turns to write, taken with the busy timeout's deadline."""

    def __init__(self, path: str, timeout: float, locked_error: type[Exception]) -> None:
        self.lock = writer_lock(path)
        self.lock_file = lock_file(path)
        self.timeout = timeout
        self.locked_error = locked_error
        # The process whose locks these are: a forked child must not release its parent's.
        self.pid = os.getpid()

    def acquire(self) -> None:
        """Wait for this process's turn, then for the other processes'."""
        deadline = time.monotonic() + self.timeout
        if not self.lock.acquire(timeout=self.timeout):
            raise self.locked_error("database is locked")
        try:
            self._lock_the_file(deadline)
        except BaseException:
            self.lock.release()
            raise

    def release(self) -> None:
        if self.pid != os.getpid():
            return  # taken by the parent before a fork: the parent's to give back
        if self.lock_file is not None:
            fcntl.flock(self.lock_file, fcntl.LOCK_UN)
        self.lock.release()

    @contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def _lock_the_file(self, deadline: float) -> None:
        if self.lock_file is None:
            return
        pause = FIRST_PAUSE_SECONDS
        while True:
            try:
                fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                raise self.locked_error("database is locked")
            time.sleep(min(pause, left))
            pause = min(pause * 2, MOST_PAUSE_SECONDS)


class QueuedCursor(sqlite3_base.SQLiteCursorWrapper):
    """Django's SQLite cursor; a write outside a transaction waits its turn in the queue."""

    database: DatabaseWrapper

    def execute(self, query: str, params: Any = None) -> Any:
        with self._turn_for(query):
            return super().execute(query, params)

    def executemany(self, query: str, param_list: Any) -> Any:
        with self._turn_for(query):
            return super().executemany(query, param_list)

    def _turn_for(self, query: str) -> contextlib.AbstractContextManager[object]:
        """The statement's turn, or nothing to wait for."""
        # Inside a transaction the turn is held already, from its BEGIN (or SQLite waits). A
        # turn still held by this connection (SQLite ended its transaction by itself, after an
        # I/O error, say) would be waited for by its own holder.
        if (
            self.connection.in_transaction
            or self.database.holds_turn is not None
            or not is_write(query)
            or (writers := self.database.writers()) is None
        ):
            return contextlib.nullcontext()
        return writers.held()


class DatabaseWrapper(sqlite3_base.DatabaseWrapper):
    """Django's SQLite backend, with the process's writers queued (see the module's text)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.holds_turn: WriterQueue | None = None
        self._writers: WriterQueue | None = None
        self._writers_for: tuple[int, str] | None = None
        self._opened_file: tuple[int, int] | None = None  # what get_new_connection opened

    def writers(self) -> WriterQueue | None:
        """The queue this database's writers take turns in; None for an in-memory database."""
        if self.is_in_memory_db():
            return None
        # Made again in a forked child (locks of its own) and for a new file (the tests'
        # databases are named on connections already made).
        name = str(self.settings_dict["NAME"])
        if self._writers is None or self._writers_for != (os.getpid(), name):
            timeout = float(self.settings_dict["OPTIONS"].get("timeout", DEFAULT_BUSY_TIMEOUT))
            self._writers = WriterQueue(name, timeout, sqlite3.OperationalError)
            self._writers_for = (os.getpid(), name)
        return self._writers

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        self._opened_file = self._file_identity()
        return connection

    def is_usable(self) -> bool:
        """Whether a kept connection may serve again (asked at the start of each request and
        task, `CONN_HEALTH_CHECKS`): it still answers, and its database is still the file it
        opened. Django's SQLite backend says yes to anything; a connection kept across a
        database file deleted or replaced would go on using the old file."""
        if self._file_identity() != self._opened_file:
            return False
        try:
            self.connection.execute("SELECT 1")
        except sqlite3.Error:
            return False
        return True

    def _file_identity(self) -> tuple[int, int] | None:
        """The database file's device and inode; None in memory or when there is no file."""
        if self.is_in_memory_db():
            return None
        try:
            found = os.stat(self.settings_dict["NAME"])
        except OSError:
            return None
        return (found.st_dev, found.st_ino)

    def create_cursor(self, name: str | None = None) -> QueuedCursor:
        cursor = self.connection.cursor(factory=QueuedCursor)
        cursor.database = self
        return cursor

    def _start_transaction_under_autocommit(self) -> None:
        # A deferred transaction (a backup's snapshot) takes no write lock at BEGIN, and no
        # turn: writers go on beside it; a write inside one waits in SQLite's handler.
        mode = getattr(self, "transaction_mode", None)  # set when connecting
        writers = self.writers() if mode in LOCKING_MODES else None
        if writers is None:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # private: not in the stubs
            return
        with self.wrap_database_errors:
            writers.acquire()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # private: not in the stubs
        except BaseException:
            writers.release()
            raise
        self.holds_turn = writers

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
        turn, self.holds_turn = self.holds_turn, None
        if turn is not None:
            turn.release()

    @property
    def queries_logged(self) -> bool:
        """Whether statements are recorded (`connection.queries`, the `django.db.backends`
        log): when something asks, as the tests' query counts do, not merely because DEBUG is
        on. On SQLite, recording a statement renders its parameters with a query of its own
        (`SELECT QUOTE(?), ...`): under `make run`'s DEBUG that doubled every statement, and
        at 200 generations in flight the web server and the workers are short of CPU."""
        return self.force_debug_cursor
