"""The sweeper: one task that follows every prediction in flight.

django-q2 has no delayed enqueue and a task holds its worker until it returns, so a task per
generation that sleeps between polls would need a worker per generation. Instead a single
sweeper, guarded by a lease, polls every due prediction concurrently for a short slice, then
re-enqueues itself behind whatever else is waiting. Two workers thus carry hundreds of
generations. The same pass recovers work a broker lost: submits never taken, unconfirmed
submits, and downloads whose worker died. A django-q2 schedule starts a sweep every minute
as a safety net.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from generations import admission, breaker, enqueue, ingest, leases, lifecycle, provider
from generations.models import Generation
from generations.wavespeed import client as ws

log = logging.getLogger(__name__)

S = Generation.Status
LEASE_NAME = "sweeper"
BATCH_SIZE = 500

# What the sweeper keeps looping for: predictions to poll, submits to settle or to retry.
# Fresh submits and downloads have tasks of their own; the safety-net schedule covers those.
WATCHED = (
    Q(status=S.PROCESSING)
    | Q(status=S.SUBMITTING, submit_ambiguous=True)
    | Q(status=S.QUEUED, submit_attempts__gt=0)
)


def run_slice(max_seconds: float | None = None) -> None:
    """Sweep repeatedly for up to `max_seconds` while anything is in flight."""
    max_seconds = settings.SWEEP_SLICE_SECONDS if max_seconds is None else max_seconds
    holder = uuid.uuid4().hex
    if not leases.acquire(LEASE_NAME, holder, ttl_seconds=max_seconds + 60):
        return  # another sweeper is running
    started = time.monotonic()
    try:
        while True:
            sweep_once(timezone.now())
            wait = seconds_until_next_check(timezone.now())
            remaining = max_seconds - (time.monotonic() - started)
            if wait is None or remaining <= 0:
                break
            # Waiting for the next due check within the slice; never past its end.
            time.sleep(min(max(0.05, wait), remaining))
            leases.acquire(LEASE_NAME, holder, ttl_seconds=max_seconds + 60)
    finally:
        leases.release(LEASE_NAME, holder)
    # Re-checked after the release: work that arrived while the lease was held, and whose
    # own kick found it taken, is picked up here.
    if seconds_until_next_check(timezone.now()) is not None:
        enqueue.sweep()


def seconds_until_next_check(now: datetime) -> float | None:
    """Seconds until the next watched generation is due (0 if overdue), None if none is."""
    due = Generation.objects.filter(WATCHED).aggregate(at=Min("next_check_at"))["at"]
    # Admission's own moments: an outage's probe, a look for a free slot while some wait.
    due = min((at for at in (due, admission.next_due(now)) if at is not None), default=None)
    if due is None:
        return None
    return max(0.0, (due - now).total_seconds())


def sweep_once(now: datetime) -> None:
    """One pass over everything that is due."""
    _resubmit_due(now)
    _reingest_stale(now)
    with provider.get_client() as client:
        _settle_due(client, now)
        _poll_due(client, now)
        # Last, so slots this pass freed go to waiting generations at once.
        admission.run_due(client, timezone.now())


def _resubmit_due(now: datetime) -> None:
    due = list(
        Generation.objects.filter(status=S.QUEUED, next_check_at__lte=now).values_list(
            "pk", "created_at"
        )[:BATCH_SIZE]
    )
    for generation_id, created_at in due:
        age = now - created_at
        if age > timedelta(seconds=settings.GENERATION_QUEUE_TIMEOUT_SECONDS):
            # The words name what held it back (the breaker, the account's limits) if anything.
            lifecycle.fail(generation_id, S.QUEUED, admission.gave_up_words(generation_id))
            continue
        # Pushed forward so the next pass does not enqueue it again while it waits its turn.
        lifecycle.postpone_resubmit(generation_id, now)
        enqueue.submit(generation_id)


def _reingest_stale(now: datetime) -> None:
    stale = Generation.objects.filter(
        status=S.DOWNLOADING,
        ingest_started_at__lt=now - timedelta(seconds=settings.INGEST_STALE_SECONDS),
    )[:BATCH_SIZE]
    for generation in stale:
        if generation.ingest_attempts >= ingest.MAX_INGEST_ATTEMPTS:
            lifecycle.fail(
                generation.pk,
                S.DOWNLOADING,
                "The image could not be copied from the API after several tries.",
            )
            continue
        if lifecycle.restart_ingest(generation.pk, generation.ingest_started_at, now):
            enqueue.ingest(generation.pk)


def _settle_due(client: ws.WaveSpeedClient, now: datetime) -> None:
    # A claim that outlived its request without an answer means the worker died mid-submit.
    abandoned = Generation.objects.filter(
        status=S.SUBMITTING, submit_ambiguous=False, next_check_at__lte=now
    ).values_list("pk", flat=True)
    for generation_id in list(abandoned):
        lifecycle.abandon_claim(generation_id, now)
    due = list(
        Generation.objects.filter(status=S.SUBMITTING, submit_ambiguous=True).filter(
            Q(next_check_at__lte=now) | Q(next_check_at=None)
        )[:BATCH_SIZE]
    )
    for generation in due:
        lifecycle.settle(generation, client, now)


def _poll_due(client: ws.WaveSpeedClient, now: datetime) -> None:
    due = list(
        Generation.objects.filter(status=S.PROCESSING, next_check_at__lte=now).order_by(
            "next_check_at"
        )[:BATCH_SIZE]
    )
    if not due:
        return

    def fetch(generation: Generation) -> ws.Prediction | ws.WaveSpeedError:
        try:
            return client.get_result(generation.prediction_id)
        except ws.WaveSpeedError as error:
            return error

    # Threads only wait on HTTP; every database write stays in this thread.
    with ThreadPoolExecutor(max_workers=settings.SWEEP_CONCURRENCY) as pool:
        answers = list(pool.map(fetch, due))
    breaker.record_outcomes(answers)  # one outcome for the provider's breaker
    answered_at = timezone.now()
    with transaction.atomic():
        for generation, answer in zip(due, answers, strict=True):
            if isinstance(answer, ws.WaveSpeedError):
                lifecycle.note_poll_error(generation, answer, answered_at)
            else:
                lifecycle.apply_prediction(generation, answer, answered_at)
