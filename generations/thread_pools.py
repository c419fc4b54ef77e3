"""Bounded pools of threads for work keyed by a generation, made afresh in each process.

The sweeper's errands (submits, settles) and the downloads run this way: in a thread of the
process that starts them, at most one job per generation at a time, each with a database
connection of its own that it closes. A forked worker inherits no threads, so a pool first
used in a new process starts its own. What fails is logged and left as it is: the sweeper
recovers it (an unconfirmed claim is settled, a download started again once stale).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import connection

log = logging.getLogger(__name__)


class KeyedThreads:
    """At most `size()` threads in this process, one job per key at a time."""

    def __init__(self, size: Callable[[], int], name: str, *, what: str) -> None:
        self._size_of = size
        self._name = name
        self._what = what  # for the log: "an API call", "the download"
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._size = 0
        self._pid = 0
        self._running: dict[int, Future[None]] = {}
        self.finished = 0  # how many jobs ended, so a sweep can tell that one did

    def start(self, key: int, work: Callable[[int], None]) -> Future[None] | None:
        """Run `work(key)` in a free thread; the job already under way for `key` if there is
        one; None if every thread is busy (or the process is shutting down)."""
        with self._lock:
            pool = self._pool_of_this_process()
            if key in self._running:
                return self._running[key]
            if len(self._running) >= self._size:
                return None
            try:
                job = pool.submit(self._run, work, key)
            except RuntimeError:
                return None  # the interpreter is shutting down: no new threads
            self._running[key] = job
        job.add_done_callback(lambda _: self._done(key))
        return job

    def running(self) -> set[int]:
        with self._lock:
            return set(self._running)

    def futures(self) -> list[Future[None]]:
        with self._lock:
            return list(self._running.values())

    def busy(self) -> bool:
        with self._lock:
            return bool(self._running)

    def pending(self) -> int:
        with self._lock:
            return len(self._running)

    def free(self) -> int:
        with self._lock:
            size = self._size if self._pid == os.getpid() else self._size_of()
            return size - len(self._running)

    def _done(self, key: int) -> None:
        with self._lock:
            self._running.pop(key, None)
            self.finished += 1

    def _pool_of_this_process(self) -> ThreadPoolExecutor:
        if self._pool is None or self._pid != os.getpid():
            self._size = self._size_of()
            self._pool = ThreadPoolExecutor(
                max_workers=max(self._size, 1), thread_name_prefix=self._name
            )
            self._pid = os.getpid()
            self._running.clear()
        return self._pool

    def _run(self, work: Callable[[int], None], key: int) -> None:
        try:
            work(key)
        except Exception:
            log.exception("Generation %s: %s failed unexpectedly", key, self._what)
        finally:
            connection.close()  # this thread's own connection, opened by the steps it ran
