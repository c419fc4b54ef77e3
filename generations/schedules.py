"""The django-q2 schedules the app relies on, made again whenever they are missing.

Made after every `migrate` and `flush` (Django's post_migrate signal) when missing, which
also brings them back when a flush or a hand in the admin removed them: without them nothing
would sweep lost work or prune task results (which the cluster saves unpruned,
`task_results`). One that was changed is left as it is. (Migration 0002 made the sweep's
before this module existed.)
"""

from __future__ import annotations

from typing import Any

from django_q.models import Schedule

# name -> what it runs and how often ("I": every `minutes` minutes, for ever).
SCHEDULES: dict[str, dict[str, Any]] = {
    "generations: sweep predictions": {
        "func": "generations.tasks.sweep_predictions",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
        "repeats": -1,
    },
    "generations: prune task results": {
        "func": "generations.tasks.prune_task_results",
        "schedule_type": Schedule.MINUTES,
        "minutes": 5,
        "repeats": -1,
    },
}


def ensure(using: str = "default") -> list[str]:
    """Make every missing schedule; the names of those made."""
    made = []
    for name, fields in SCHEDULES.items():
        _, created = Schedule.objects.using(using).get_or_create(name=name, defaults=fields)
        if created:
            made.append(name)
    return made


def ensure_after_migrate(sender, using: str = "default", **kwargs) -> None:
    ensure(using)
