"""Running a check in a forked child, as the workers' processes are forked."""

from __future__ import annotations

import os
from collections.abc import Callable


def in_child(check: Callable[[], bool]) -> bool:
    """Whether `check()` holds in a forked child of this process.

    The child exits at once with the answer (an exception counts as no): it never returns
    into the test run.
    """
    child = os.fork()
    if child == 0:  # pragma: no cover (the exit status carries the answer)
        try:
            os._exit(0 if check() else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status) == 0
