"""Downloads of completed outputs in a few threads of this process, beside its other work.

Two places start downloads: the sweeper, the moment a poll's answer is committed, and the
ingest task, which the webhook receiver (and the sweeper, when its threads are busy) enqueue.
An ingest task only waits for the broker to hand it to a worker; one of the two default
workers is the sweeper's own, so if each task downloaded in its worker, a burst of finished
predictions would queue behind one download at a time. Instead both hand the download to this
process's threads and return; only with every thread busy does a task download in place, or
the sweeper enqueue a task for another worker.

Only a few at once: storing an image takes the database's write lock, and more threads would
only wait for it. None by default with Redis (`DOWNLOAD_THREADS`, settings.py): its tasks
reach the stack's workers at once, and downloads in the sweeper's process slowed its polls.
A download lost with its process is found by the sweeper like one whose worker died
(`sweeper._reingest_stale`): `accept_outputs` stamped when it became due, and
`ingest_outputs` stores each output once, whoever runs it. With `DOWNLOAD_THREADS=0` (the
unit tests) no thread is started: the task downloads in place, the sweeper enqueues a task.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection

from generations import ingest

log = logging.getLogger(__name__)


class Downloads:
    """A bounded pool of download threads, made afresh in a forked process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._threads = 0
        self._pid = 0
        self._pending: set[int] = set()

    def start(self, generation_id: int) -> bool:
        """Download this generation's outputs in a thread; False if every thread is busy."""
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._threads = settings.DOWNLOAD_THREADS
                self._pool = ThreadPoolExecutor(
                    max_workers=max(self._threads, 1), thread_name_prefix="download"
                )
                self._pid = os.getpid()
                self._pending.clear()
            if generation_id in self._pending:
                return True  # under way here already
            if len(self._pending) >= self._threads:
                return False
            try:
                download = self._pool.submit(_download, generation_id)
            except RuntimeError:
                return False  # the process is shutting down: the caller downloads it
            self._pending.add(generation_id)
        download.add_done_callback(lambda _: self._done(generation_id))
        return True

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _done(self, generation_id: int) -> None:
        with self._lock:
            self._pending.discard(generation_id)


def _download(generation_id: int) -> None:
    try:
        ingest.ingest_outputs(generation_id)
    except Exception:
        # Left downloading: the sweeper starts it again once it is stale.
        log.exception("Generation %s: the download failed unexpectedly", generation_id)
    finally:
        connection.close()  # this thread's own connection


downloads = Downloads()
