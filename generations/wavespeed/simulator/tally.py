"""Counts of the faults the simulator injected, by kind, for soak runs and tests to report."""

from __future__ import annotations

import threading
from collections import Counter


class Tally:
    """A thread-safe counter of named events (e.g. "500", "drop_created", "lose_answer")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, kind: str) -> None:
        """Count one event of this kind."""
        with self._lock:
            self._counts[kind] += 1

    def snapshot(self) -> dict[str, int]:
        """Every kind counted so far and its count."""
        with self._lock:
            return dict(self._counts)
