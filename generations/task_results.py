"""Successful task results are kept for the admin's "Successful tasks" list, the newest only.

django-q2 can prune them itself (`save_limit`), but it does so as it saves every result: a
transaction that locks and reads every kept result (up to the limit) before one insert. On
SQLite that is the database's one write lock, held by the cluster's monitor for each task,
which every other writer then waits for: at 200 generations in flight with webhooks, the
downloads' tasks waited 0.45 s (p50) for a worker instead of 0.12 s. The results are saved
unpruned (`save_limit` 0) and a schedule prunes them every few minutes instead
(`schedules`, which makes it again if it goes missing).
"""

from __future__ import annotations

from django.db.models import Q
from django_q.models import Success

# How many successful results are kept; failures are all kept, as django-q2 keeps them.
KEPT = 1000


def prune(kept: int = KEPT) -> int:
    """Delete the successful results older than the newest `kept` (at least one); how many."""
    if kept < 1:
        raise ValueError(f"keep at least one result, not {kept}")
    newest_first = Success.objects.order_by("-stopped", "-pk").values_list("stopped", "pk")
    boundary = list(newest_first[kept - 1 : kept])
    if not boundary:
        return 0  # no more than `kept` results
    stopped, pk = boundary[0]
    older = Success.objects.filter(Q(stopped__lt=stopped) | Q(stopped=stopped, pk__lt=pk))
    deleted, _ = older.delete()
    return deleted
