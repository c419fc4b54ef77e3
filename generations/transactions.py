"""Transactions only where they are needed: SQLite's write lock is held from BEGIN to COMMIT.

Transactions begin IMMEDIATE on SQLite (see settings), so a transaction holds the database's
one write lock for its whole length, reads and Python work included; a statement outside one
holds it for that statement alone. A lone statement is atomic by itself.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

from django.db import transaction


def savepoint_if_nested() -> AbstractContextManager[object]:
    """A savepoint inside a caller's transaction, so that a statement refused in it (an
    IntegrityError) leaves that transaction usable; nothing outside one, where the refused
    statement left nothing to undo."""
    if transaction.get_connection().in_atomic_block:
        return transaction.atomic()
    return contextlib.nullcontext()
