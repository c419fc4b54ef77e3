"""Lowering one thread's scheduling priority: work that should take only the CPU left over."""

from __future__ import annotations

import contextlib
import os
import sys
import threading


def lower_this_threads_priority(niceness: int) -> None:
    """Set the calling thread's nice level to `niceness` (0 to 19; higher runs less), where
    the system has per-thread priorities.

    On Linux a thread is scheduled on its own, and setpriority() on its native id changes it
    alone; elsewhere this does nothing.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
