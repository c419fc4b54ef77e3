"""Following a prediction: what each answer about it means for its generation.

An answer (a poll's, a submit's, or the history's) moves a processing generation on through
the steps of `lifecycle` (`apply_prediction`); a failed poll is counted, retried later, and
failed once an error that will not clear is confirmed (`note_poll_error`). The delays
between polls are chosen here.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from generations import enqueue, lifecycle
from generations.explain import describe_error, describe_task_failure
from generations.models import Generation
from generations.wavespeed import client as ws

S = Generation.Status
# A 404 on a result confirmed by this many polls in a row is checked against the history.
MISSING_AFTER_POLLS = 2
# The longest wait a single prediction's Retry-After is granted before its next poll.
MAX_RETRY_AFTER_SECONDS = 300


def apply_prediction(
    generation: Generation,
    prediction: ws.Prediction,
    now: datetime,
    *,
    download_with: Callable[[int], None] | None = None,
) -> None:
    """Move a processing generation on from what the API last said of its prediction.

    Completed outputs are downloaded once this is committed: by `download_with(id)` when
    given (the sweeper's own threads), else by an ingest task.
    """
    if prediction.is_completed:
        if not prediction.outputs:
            lifecycle.fail(
                generation.pk,
                S.PROCESSING,
                "The API finished without returning an image.",
                detail="completed with empty outputs",
            )
        elif lifecycle.accept_outputs(generation.pk, prediction, now):
            download = download_with or enqueue.ingest
            transaction.on_commit(lambda: download(generation.pk))
        return
    if prediction.is_terminal:
        words = describe_task_failure(prediction.status, prediction.error_code, prediction.error)
        lifecycle.fail(
            generation.pk,
            S.PROCESSING,
            words,
            detail=prediction.error,
            code=prediction.error_code,
            status=S.TIMED_OUT if prediction.status == "timeout" else S.FAILED,
        )
        return
    if _past_deadline(generation, now):
        lifecycle.time_out(generation.pk, S.PROCESSING)
        return
    lifecycle.poll_again(
        generation.pk, now + poll_delay(generation, now), api_status=prediction.status
    )


def note_poll_error(generation: Generation, error: ws.WaveSpeedError, now: datetime) -> None:
    """A poll failed: look again later; errors that will not clear, once confirmed, fail it.

    A refused key (401/403) is confirmed by one quick second poll, then fails the generation at
    once instead of at the deadline. A 404 is polled again, then checked against the history
    (`settling.settle_all`): a prediction the API still lists goes on. Anything else is polled
    again until the deadline, whose words then name the cause.
    """
    code = lifecycle.error_code(error)
    same_cause = generation.failed_polls > 0 and generation.failed_poll_code == code
    failures = generation.failed_polls + 1 if same_cause else 1
    failing_since = generation.polls_failing_since or now
    refused_key = isinstance(error, ws.AuthenticationError)
    if refused_key and failures >= 2:
        # error_code 401/403 tells what ended it (a provider-wide trouble, not this image's).
        lifecycle.fail(
            generation.pk, S.PROCESSING, describe_error(error), detail=str(error), code=code
        )
        return
    if _past_deadline(generation, now):
        lifecycle.time_out(
            generation.pk, S.PROCESSING, last_error=error, failing_since=failing_since
        )
        return
    missing = isinstance(error, ws.InvalidRequestError) and error.status_code == 404
    if refused_key or (missing and failures < MISSING_AFTER_POLLS):
        delay = timedelta(seconds=settings.POLL_INTERVAL_SECONDS)  # a quick second look
    elif missing:
        delay = timedelta(0)  # due now: the next settle pass looks for it in the history
    else:
        delay = retry_delay(generation, error, now)
    lifecycle.poll_failed(
        generation.pk,
        now + delay,
        detail=str(error),
        code=code,
        failures=failures,
        failing_since=failing_since,
    )


def retry_delay(generation: Generation, error: ws.WaveSpeedError, now: datetime) -> timedelta:
    """When to poll a prediction again after a failed poll: this generation alone waits.

    The wait the API named (`Retry-After`), else twice the usual interval with some jitter,
    so the polls of many failing predictions spread out instead of coming back together.
    """
    if isinstance(error, ws.RateLimitError) and error.retry_after:
        return timedelta(seconds=min(error.retry_after, MAX_RETRY_AFTER_SECONDS))
    return poll_delay(generation, now) * 2 * random.uniform(1.0, 1.25)  # noqa: S311 (jitter)


def poll_delay(generation: Generation, now: datetime) -> timedelta:
    """Poll often while an image is likely to arrive, seldom before, and back off after.

    With a record of the model's recent predictions (`expected_seconds`), polls fall on
    moments counted back from just after the expected one: 0, 1, 2 and 4 intervals before
    it, and every 4 intervals before those. An image that takes the usual time is seen a
    fraction of a second after it is done, and the polls before it, which would find it
    unfinished, are about half as many as evenly spaced ones (each costs a request to the API
    and a write here: at hundreds in flight, that is what the polling costs). An image done
    well before the usual time waits for the next of these moments, at most 4 intervals away.
    Without a record, or once it is overdue, the interval alone decides.

    A prediction whose end the API calls our webhook about is polled only as a safety net,
    for a lost call, at the webhook's slower interval.
    """
    sent_at = generation.submitted_at or generation.created_at
    return _delay_at(generation.model, sent_at, now, webhook=generation.webhook_requested)


def first_poll_delay(model: str, sent_at: datetime, now: datetime, *, webhook: bool) -> timedelta:
    """When a prediction the API has just accepted is first polled: on the schedule of the
    polls after it (`poll_delay`), so one expected in 10 s is first asked about after 2 s,
    not after one interval (a GET, and a write here, that would find it running)."""
    return _delay_at(model, sent_at, now, webhook=webhook)


def _delay_at(model: str, sent_at: datetime, now: datetime, *, webhook: bool) -> timedelta:
    base = settings.POLL_INTERVAL_SECONDS
    age = (now - sent_at).total_seconds()
    factor = 1 if age < 30 else 2 if age < 120 else 5
    interval = base * factor
    if webhook:
        return timedelta(seconds=max(interval, settings.WEBHOOK_POLL_INTERVAL_SECONDS))
    expected = expected_seconds(model, now) if factor == 1 else None
    if expected is None or age >= expected + EXPECTED_MARGIN_SECONDS:
        return timedelta(seconds=interval)
    anchor = expected + EXPECTED_MARGIN_SECONDS
    # The farthest of the moments `anchor - k * interval` still at least half an interval away.
    steps = math.floor((anchor - age - interval / 2) / interval)
    return timedelta(seconds=anchor - age - _polled_steps_at_most(steps) * interval)


# Before the expected moment, polls fall this many intervals ahead of it, and on multiples of
# the last one further out.
POLLED_STEPS = (0, 1, 2, 4)


def _polled_steps_at_most(steps: int) -> int:
    """The largest number of intervals before the expected moment, up to `steps`, polled at."""
    if steps < 1:
        return steps  # the expected moment itself, or the one after it
    widest = POLLED_STEPS[-1]
    if steps >= widest:
        return steps - steps % widest
    return max(step for step in POLLED_STEPS if step <= steps)


# How long after the expected moment the poll that should see the image falls; a prediction's
# time is counted from when its submit was answered, a little after the API started it.
EXPECTED_MARGIN_SECONDS = 0.05
# How many recent predictions tell the expected time, and how long a process reuses it.
EXPECTED_SAMPLE = 20
EXPECTED_REUSE_SECONDS = 10.0
# Until a first prediction has told it, it is asked again sooner.
UNKNOWN_REUSE_SECONDS = 1.0
_expected: dict[str, tuple[float | None, datetime]] = {}


def expected_seconds(model: str, now: datetime) -> float | None:
    """The median inference time the API reported for the model's recent predictions."""
    known = _expected.get(model)
    if known is not None:
        reuse = EXPECTED_REUSE_SECONDS if known[0] is not None else UNKNOWN_REUSE_SECONDS
        if 0 <= (now - known[1]).total_seconds() < reuse:
            return known[0]
    times = sorted(
        Generation.objects.filter(model=model, inference_ms__isnull=False)
        .order_by("-created_at")
        .values_list("inference_ms", flat=True)[:EXPECTED_SAMPLE]
    )
    value = times[len(times) // 2] / 1000 if times else None
    _expected[model] = (value, now)
    return value


def _past_deadline(generation: Generation, now: datetime) -> bool:
    sent_at = generation.submitted_at or generation.created_at
    return (now - sent_at).total_seconds() > settings.GENERATION_DEADLINE_SECONDS
