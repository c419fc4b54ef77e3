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

from django.conf import settings

from generations import ingest
from generations.thread_pools import KeyedThreads


class Downloads:
    """This process's download threads (`DOWNLOAD_THREADS` of them)."""

    def __init__(self) -> None:
        self._threads = KeyedThreads(
            lambda: settings.DOWNLOAD_THREADS, "download", what="the download"
        )

    def start(self, generation_id: int) -> bool:
        """Download this generation's outputs in a thread (or leave the one under way here);
        False if every thread is busy."""
        return self._threads.start(generation_id, _download) is not None

    def pending(self) -> int:
        return self._threads.pending()


def _download(generation_id: int) -> None:
    ingest.ingest_outputs(generation_id)


downloads = Downloads()
