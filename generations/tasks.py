"""django-q2 entry points: each loads ids and calls one function."""

from __future__ import annotations

from generations import ingest, submission, sweeper, task_results
from generations.downloads import downloads


def submit_generation(generation_id: int) -> None:
    """Submits are the sweeper's now; kept for tasks an earlier version left in the queue."""
    submission.submit(generation_id)


def sweep_predictions() -> None:
    sweeper.run_slice()


def ingest_generation(generation_id: int) -> None:
    # Handed to this worker's download threads, so the worker takes the next task at once;
    # downloaded here when every thread is busy (see `downloads`).
    if not downloads.start(generation_id):
        ingest.ingest_outputs(generation_id)


def prune_task_results() -> None:
    task_results.prune()
