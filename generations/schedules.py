"""The django-q2 schedules the app relies on, made again whenever they are missing.

Migrations 0002 and 0016 made them; `manage.py flush` (or a hand in the admin) can remove
them, and without them nothing would sweep lost work or prune task results (which the
cluster saves unpruned, `task_results`). After every `migrate` and `flush` (Django's
post_migrate signal) a missing one is made again; one that was changed is left as it is.
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
