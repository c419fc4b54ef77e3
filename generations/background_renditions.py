"""Tile renditions made just after ingest, in one low-priority thread per worker process.

Ingest stores an original without decoding it (see `ingest`): the thumbnail, placeholder and
colour are made here, from one decode, a moment later: once no download has run in the
process for QUIET_SECONDS, so that while hundreds of images arrive the downloads have the CPU
(measured at 200 in flight, renditions made alongside them added about a quarter to the
time from the API's answer to the image stored), and then at a lower scheduling priority
than the process's other threads. Nothing is lost if the process ends
with renditions still to make: the first request for a thumbnail makes it
(`renditions.thumbnail_file`), and `manage.py make_display_renditions` makes any missing one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

from generations import priority, renditions
from generations.models import OutputImage

log = logging.getLogger(__name__)

# Nice levels (0 to 19) below the process's other threads.
NICENESS = 10
# Renditions wait until no download has run in the process for this long, but no longer
# than the most: under a steady stream of downloads they are made all the same.
QUIET_SECONDS = 0.5
MOST_WAIT_SECONDS = 10.0


class Activity:
    """Downloads running in this process, and when the last one ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._ended_at = float("-inf")

    @contextmanager
    def downloading(self) -> Iterator[None]:
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._ended_at = time.monotonic()

    def quiet_for(self) -> float:
        """Seconds since the last download ended; 0 while one runs."""
        with self._lock:
            return 0.0 if self._running else time.monotonic() - self._ended_at


activity = Activity()


class Background:
    """A queue of generations whose images need tile renditions, and its one thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[int, float]] = queue.SimpleQueue()
        self._pid = 0
        self._pending = 0  # queued or being made
        self.idle = threading.Event()  # set when nothing is pending
        self.idle.set()

    def add(self, generation_id: int) -> None:
        with self._lock:
            if self._pid != os.getpid():
                # A forked worker inherits no threads: each process starts its own.
                self._queue = queue.SimpleQueue()
                self._pending = 0
                threading.Thread(target=self._run, name="renditions", daemon=True).start()
                self._pid = os.getpid()
            self._pending += 1
            self.idle.clear()
            self._queue.put((generation_id, time.monotonic()))

    def _run(self) -> None:
        priority.lower_this_threads_priority(NICENESS)
        while True:
            generation_id, queued_at = self._queue.get()
            try:
                _wait_for_quiet(until=queued_at + MOST_WAIT_SECONDS)
                make_tile_renditions_of(generation_id)
            except Exception:
                log.exception("Generation %s: tile renditions failed", generation_id)
            finally:
                # This thread's own connection; the thread outlives any trouble closing it.
                with contextlib.suppress(Exception):
                    connection.close()
                with self._lock:
                    self._pending -= 1
                    if not self._pending:
                        self.idle.set()


def _wait_for_quiet(until: float) -> None:
    """Sleep until no download has run for QUIET_SECONDS, or until `until` (monotonic)."""
    while (quiet := activity.quiet_for()) < QUIET_SECONDS:
        left = until - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(QUIET_SECONDS - quiet, left))


def make_tile_renditions_of(generation_id: int) -> int:
    """Make the tile renditions each image of a generation lacks; how many were made.

    An image whose original cannot be decoded keeps none: its tile shows the original
    (`renditions.thumbnail_file`), and the warning names it.
    """
    made = 0
    for image in OutputImage.objects.filter(generation_id=generation_id, thumbnail=""):
        try:
            made += renditions.make_tile_renditions(image)
        except Exception as error:  # one image's trouble stops no other
            words = getattr(error, "message", None) or repr(error)
            log.warning("Image %s: no thumbnail: %s", image.pk, words)
    return made


_background = Background()


def make_soon(generation_id: int) -> None:
    """Make a generation's tile renditions in this process's background thread, or at once
    where settings say so (the tests' default: no thread outlives a test's database)."""
    if settings.RENDITIONS_IN_BACKGROUND:
        _background.add(generation_id)
    else:
        make_tile_renditions_of(generation_id)
