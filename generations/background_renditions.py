"""Tile renditions made just after ingest, in one low-priority thread per worker process.

Ingest stores an original without decoding it (see `ingest`): the thumbnail, placeholder and
colour are made here, from one decode, a moment later. The thread runs at a lower scheduling
priority than the process's other threads, so while hundreds of images arrive the downloads
take the CPU first and the renditions what is left. Nothing is lost if the process ends
with renditions still to make: the first request for a thumbnail makes it
(`renditions.thumbnail_file`), and `manage.py make_display_renditions` makes any missing one.
"""

from __future__ import annotations

import logging
import os
import queue
import threading

from django.conf import settings
from django.db import connection

from generations import priority, renditions
from generations.models import OutputImage

log = logging.getLogger(__name__)

# Nice levels (0 to 19) below the process's other threads.
NICENESS = 10


class Background:
    """A queue of generations whose images need tile renditions, and its one thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._pid = 0
        self.idle = threading.Event()
        self.idle.set()

    def add(self, generation_id: int) -> None:
        with self._lock:
            if self._pid != os.getpid():
                # A forked worker inherits no threads: each process starts its own.
                self._queue = queue.SimpleQueue()
                threading.Thread(target=self._run, name="renditions", daemon=True).start()
                self._pid = os.getpid()
            self.idle.clear()
            self._queue.put(generation_id)

    def _run(self) -> None:
        priority.lower_this_threads_priority(NICENESS)
        while True:
            generation_id = self._queue.get()
            try:
                make_tile_renditions_of(generation_id)
            except Exception:
                log.exception("Generation %s: tile renditions failed", generation_id)
            finally:
                connection.close()  # this thread's own connection
                if self._queue.empty():
                    self.idle.set()


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
