"""Alarms: callbacks at moments to come, all fired by one thread per process.

Every HTTP call and download has a deadline that cuts its connection when it passes. A
`threading.Timer` per call costs a thread's start, and a hand-shake with the new thread, on
every call, which a busy process with dozens of threads answers slowly: with 200 generations
in flight, that was over a thousand threads started in a few seconds. Here one thread sleeps
until the earliest alarm due.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Alarm:
    """A callback due at a moment; `cancel()` stops it if it has not fired yet."""

    __slots__ = ("at", "callback", "cancelled")

    def __init__(self, at: float, callback: Callable[[], object]) -> None:
        self.at = at
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Alarms:
    """The alarms to come, in order of their moments, and the thread that fires them.

    A cancelled alarm stays queued until its moment comes round (or until the queue, grown
    long, is swept), and then does nothing.
    """

    # Cancelled alarms are swept out once the queue holds this many, or twice as many as were
    # left by the last sweep (so that many alarms still to come are not swept at every add).
    SWEEP_AT = 1024

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every alarm and the thread (a forked child has none of its parent's threads)."""
        self._condition = threading.Condition()
        self._queue: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._sweep_at = self.SWEEP_AT

    def add(self, alarm: Alarm) -> None:
        with self._condition:
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(target=self._run, name="alarms", daemon=True)
                thread.start()  # if it cannot start, the next alarm tries again
                self._thread = thread
            if len(self._queue) >= self._sweep_at:
                self._queue = [entry for entry in self._queue if not entry[2].cancelled]
                heapq.heapify(self._queue)
                self._sweep_at = max(self.SWEEP_AT, 2 * len(self._queue))
            heapq.heappush(self._queue, (alarm.at, next(self._order), alarm))
            if self._queue[0][2] is alarm:
                self._condition.notify()  # sooner than the one the thread sleeps for

    def _run(self) -> None:
        while True:
            with self._condition:
                alarm = self._next_due()
            if alarm.cancelled:
                continue
            try:
                alarm.callback()
            except Exception:
                # One failing alarm must not stop the deadlines of every call to come.
                log.exception("An alarm's callback failed")

    def _next_due(self) -> Alarm:
        while True:
            while self._queue and self._queue[0][2].cancelled:
                heapq.heappop(self._queue)
            if not self._queue:
                self._condition.wait()
                continue
            left = self._queue[0][0] - time.monotonic()
            if left <= 0:
                return heapq.heappop(self._queue)[2]
            self._condition.wait(left)


_alarms = _Alarms()
os.register_at_fork(after_in_child=_alarms.reset)


def call_later(seconds: float, callback: Callable[[], object]) -> Alarm:
    """Call `callback` (from the alarms' thread) in `seconds`, unless cancelled first.

    The callback must be quick and must not raise: every other alarm waits for it.
    """
    alarm = Alarm(time.monotonic() + seconds, callback)
    _alarms.add(alarm)
    return alarm
