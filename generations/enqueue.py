"""Enqueueing of the pipeline's django-q2 tasks: ids only, never objects or secrets.

Submits have no task: the sweeper makes them from its threads (see `sweeper`).
"""

from __future__ import annotations

from django_q.tasks import async_task

from generations import leases

SWEEP_TASK = "generations.tasks.sweep_predictions"
# The sweeper's lease (see `sweeper`): it lives this much longer than a slice, and the
# sweeper renews it every few seconds while it runs.
SWEEPER_LEASE = "sweeper"
SWEEPER_LEASE_EXTRA_SECONDS = 60.0


def ingest(generation_id: int) -> None:
    async_task(
        "generations.tasks.ingest_generation", generation_id, task_name=f"ingest-{generation_id}"
    )


def sweep() -> None:
    """Make sure a sweeper runs soon; nothing to do while one runs.

    A running sweeper looks for new work twice a second, and once more after it gives its
    lease up, so work committed before this call is seen without a task of its own: a burst of
    submissions does not fill the queue with sweeps that would each find the lease taken, in
    front of the downloads. A lease with less than a slice's worth of its extra minute left is
    not renewed any more (its sweeper is ending or died): then a sweep is enqueued.
    """
    if leases.held_with_more_than(SWEEPER_LEASE, SWEEPER_LEASE_EXTRA_SECONDS):
        return
    async_task(SWEEP_TASK, task_name="sweep")
