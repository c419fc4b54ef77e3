"""Enqueueing of the pipeline's django-q2 tasks: ids only, never objects or secrets."""

from __future__ import annotations

from django_q.tasks import async_task

SWEEP_TASK = "generations.tasks.sweep_predictions"


def submit(generation_id: int) -> None:
    async_task(
        "generations.tasks.submit_generation", generation_id, task_name=f"submit-{generation_id}"
    )


def ingest(generation_id: int) -> None:
    async_task(
        "generations.tasks.ingest_generation", generation_id, task_name=f"ingest-{generation_id}"
    )


def sweep() -> None:
    """Make sure a sweeper runs soon; a second one exits at once if one is running."""
    async_task(SWEEP_TASK, task_name="sweep")
