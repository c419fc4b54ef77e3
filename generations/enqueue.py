"""Enqueueing of the pipeline's django-q2 tasks: ids only, never objects or secrets.

Submits have no task: the sweeper makes them from its threads (see `sweeper`).
"""

from __future__ import annotations

from django_q.tasks import async_task

SWEEP_TASK = "generations.tasks.sweep_predictions"


def ingest(generation_id: int) -> None:
    async_task(
        "generations.tasks.ingest_generation", generation_id, task_name=f"ingest-{generation_id}"
    )


def sweep() -> None:
    """Make sure a sweeper runs soon; a second one exits at once if one is running."""
    async_task(SWEEP_TASK, task_name="sweep")
