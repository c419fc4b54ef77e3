"""The generation life cycle: create, submit, settle, follow the prediction, finish.

    queued <-------------+    postpone_resubmit: the sweeper enqueued a lost submit again
      | claim_submit     |    requeue: the API did not take it, or settling found it never
      v                  |      arrived; it is sent again later
    submitting ----------+    mark_unconfirmed, abandon_claim, await_confirmation: no answer
      | attach_prediction       came; the sweeper settles it through the list endpoint
      v
    processing                poll_again: still running, or the poll failed
      | accept_outputs
      v
    downloading               start_ingest, restart_ingest: an ingest task (re)starts
      | complete
      v
    completed

    fail, time_out: from any status before completed to failed or timed_out.

Every change to a generation after it is created is one of the steps above, each a
`transition`: a conditional UPDATE on the current status, so a task delivered twice, or two
workers racing, change a generation at most once. Steps return whether they applied.
Not steps, and left to their own modules: creating generations (`create_batch` here), and
the owner's or staff's choice of who sees one or its deletion (`sharing`), which touch no
field of the pipeline.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from generations import admission, breaker, budgets, enqueue, provider
from generations.explain import describe_error, describe_task_failure
from generations.models import Generation
from generations.wavespeed import client as ws
from generations.wavespeed.contract import SEED_MAX

log = logging.getLogger(__name__)

S = Generation.Status
# A queued generation whose submit task has not run by then lost it (a broker delivers at most
# once): the sweeper enqueues it again. Safe: the submit claims it with a conditional update.
QUEUED_RECOVERY_SECONDS = 120
# A submit claim older than this had its worker die mid-request: settle it like an ambiguous
# one. Longer than django-q2 lets a task run, so the request is surely over by then.
SUBMIT_CLAIM_SECONDS = settings.Q_TIMEOUT + 30
# How long the list endpoint is given, counted from when a submit became unconfirmed, to show
# it before we conclude it was never created.
SETTLE_GRACE_SECONDS = 120
SETTLE_INTERVAL_SECONDS = 5
MAX_SUBMIT_ATTEMPTS = 8


def create_batch(owner, params: dict[str, Any]) -> list[Generation]:
    """Save one generation per image asked for and queue each submission on commit.

    A batch is one prediction per image, not the API's `num_images`: the model's documented
    parameters do not include it, each image gets a seed of its own that redoes it alone, and
    a failure costs one image instead of the batch. A chosen seed S gives S, S+1, ...; a
    random seed is drawn for each image. Raises `budgets.BudgetExceeded` before saving
    anything when the cost would pass a monthly limit.
    """
    count = max(1, min(int(params.get("num_images") or 1), settings.MAX_IMAGES_PER_SUBMISSION))
    chosen: int | None = params.get("seed")
    # Chosen here, not by the API, so the seed actually used is known before sending.
    if chosen is None or chosen == -1:
        seed_was_random, seeds = True, [_random_seed() for _ in range(count)]
    else:
        seed_was_random = False
        seeds = [(chosen + offset) % (SEED_MAX + 1) for offset in range(count)]
    batch = uuid.uuid4() if count > 1 else None
    recover_at = timezone.now() + timedelta(seconds=QUEUED_RECOVERY_SECONDS)
    with transaction.atomic():
        budgets.check_budget(owner, total_cost(count))
        generations = [
            Generation.objects.create(
                owner=owner,
                prompt=params["prompt"],
                aspect_ratio=params["aspect_ratio"],
                seed=seed,
                seed_was_random=seed_was_random,
                guidance_scale=params["guidance_scale"],
                safety_tolerance=params["safety_tolerance"],
                visibility=params.get("visibility") or settings.DEFAULT_VISIBILITY,
                cost=total_cost(1),
                batch=batch,
                batch_index=index,
                batch_size=count,
                next_check_at=recover_at,
            )
            for index, seed in enumerate(seeds)
        ]
        for generation in generations:
            transaction.on_commit(partial(enqueue.submit, generation.pk))
    return generations


def _random_seed() -> int:
    return random.SystemRandom().randint(0, SEED_MAX)


# --- The steps: every write to an existing generation --------------------------------------


def transition(
    generation_id: int, from_status: str, *, where: Mapping[str, Any] | None = None, **changes: Any
) -> bool:
    """Apply `changes` only if the generation is still in `from_status`; say whether it was.

    `where` adds lookups the row must still match. `updated_at` is always stamped: `update()`
    skips `auto_now`.
    """
    changes["updated_at"] = timezone.now()
    matching = Generation.objects.filter(pk=generation_id, status=from_status, **(where or {}))
    return bool(matching.update(**changes))


def postpone_resubmit(generation_id: int, now: datetime) -> bool:
    """queued: a lost submit was enqueued again; the next passes leave it while it waits."""
    return transition(
        generation_id, S.QUEUED, next_check_at=now + timedelta(seconds=QUEUED_RECOVERY_SECONDS)
    )


def claim_submit(generation_id: int, now: datetime) -> bool:
    """queued -> submitting: this worker, and no other, sends it; the attempt counts at once."""
    return transition(
        generation_id,
        S.QUEUED,
        status=S.SUBMITTING,
        submit_attempts=F("submit_attempts") + 1,
        submitted_at=now,
        submit_ambiguous=False,
        unconfirmed_since=None,
        next_check_at=now + timedelta(seconds=SUBMIT_CLAIM_SECONDS),
    )


def requeue(generation_id: int, detail: str, send_at: datetime) -> bool:
    """submitting -> queued: nothing was created; the sweeper sends it again at `send_at`."""
    return transition(
        generation_id,
        S.SUBMITTING,
        status=S.QUEUED,
        error_detail=detail[:1000],
        next_check_at=send_at,
    )


def mark_unconfirmed(generation_id: int, detail: str, now: datetime) -> bool:
    """submitting: the request went out and no answer came; the sweeper settles it."""
    return transition(
        generation_id,
        S.SUBMITTING,
        submit_ambiguous=True,
        unconfirmed_since=now,
        error_detail=detail[:1000],
        next_check_at=now + timedelta(seconds=SETTLE_INTERVAL_SECONDS),
    )


def abandon_claim(generation_id: int, now: datetime) -> bool:
    """submitting: a claim outlived its request unanswered (its worker died); settle it."""
    return transition(
        generation_id,
        S.SUBMITTING,
        where={"submit_ambiguous": False, "next_check_at__lte": now},
        submit_ambiguous=True,
        unconfirmed_since=now,
    )


def await_confirmation(generation_id: int, detail: str, now: datetime) -> bool:
    """submitting: the list does not show the prediction (yet); ask again shortly."""
    return transition(
        generation_id,
        S.SUBMITTING,
        submit_ambiguous=True,
        error_detail=detail[:1000],
        next_check_at=now + timedelta(seconds=SETTLE_INTERVAL_SECONDS),
    )


def attach_prediction(generation_id: int, prediction: ws.Prediction, now: datetime) -> bool:
    """submitting -> processing: the API's prediction is this generation's; follow it.

    Raises IntegrityError when the prediction already belongs to another generation.
    """
    return transition(
        generation_id,
        S.SUBMITTING,
        status=S.PROCESSING,
        prediction_id=prediction.id,
        api_status=prediction.status,
        submit_ambiguous=False,
        error_detail="",
        next_check_at=now + timedelta(seconds=settings.POLL_INTERVAL_SECONDS),
    )


def poll_again(
    generation_id: int,
    check_at: datetime,
    *,
    api_status: str | None = None,
    error_detail: str | None = None,
) -> bool:
    """processing: the prediction is still running, or the poll failed; look again later."""
    changes: dict[str, Any] = {"poll_count": F("poll_count") + 1, "next_check_at": check_at}
    if api_status is not None:
        changes["api_status"] = api_status
    if error_detail is not None:
        changes["error_detail"] = error_detail[:1000]
    return transition(generation_id, S.PROCESSING, **changes)


def accept_outputs(generation_id: int, prediction: ws.Prediction, now: datetime) -> bool:
    """processing -> downloading: the prediction completed; its outputs are copied next."""
    return transition(
        generation_id,
        S.PROCESSING,
        status=S.DOWNLOADING,
        api_status=prediction.status,
        output_urls=list(prediction.outputs),
        nsfw_flags=list(prediction.has_nsfw_contents),
        inference_ms=prediction.inference_ms,
        ingest_started_at=now,
        next_check_at=None,
    )


def start_ingest(generation_id: int) -> bool:
    """downloading: an ingest task starts copying the outputs; the attempt counts at once."""
    return transition(
        generation_id,
        S.DOWNLOADING,
        ingest_attempts=F("ingest_attempts") + 1,
        ingest_started_at=timezone.now(),
    )


def restart_ingest(generation_id: int, stalled_since: datetime, now: datetime) -> bool:
    """downloading: claim a download stalled since `stalled_since` for one new ingest task."""
    return transition(
        generation_id,
        S.DOWNLOADING,
        where={"ingest_started_at": stalled_since},
        ingest_started_at=now,
    )


def complete(generation_id: int) -> bool:
    """downloading -> completed: every output is in our storage."""
    return transition(
        generation_id, S.DOWNLOADING, status=S.COMPLETED, finished_at=timezone.now(), error=""
    )


def fail(
    generation_id: int,
    from_status: str,
    words: str,
    *,
    detail: str = "",
    code: int | None = None,
    status: str = S.FAILED,
) -> bool:
    """-> failed (or timed_out): end a generation without images, with words for the user."""
    return transition(
        generation_id,
        from_status,
        status=status,
        error=words,
        error_detail=(detail or "")[:2000],
        error_code=code,
        next_check_at=None,
        finished_at=timezone.now(),
    )


def time_out(generation_id: int, from_status: str) -> bool:
    """-> timed_out: the API took longer than the deadline."""
    minutes = settings.GENERATION_DEADLINE_SECONDS / 60
    return fail(
        generation_id,
        from_status,
        f"The API did not finish this generation within {minutes:g} minutes.",
        status=S.TIMED_OUT,
    )


# --- What moves a generation from step to step ----------------------------------------------


def submit(generation_id: int) -> None:
    """Send a queued generation to the API, at most once per claim."""
    # Admission (the account's limits, the provider's breaker) decides and claims in one
    # step: a generation that must wait stays queued, in line, with no attempt counted.
    if not admission.claim(generation_id, claim_submit):
        return  # waiting its turn, or already sent, finished, or deleted
    generation = Generation.objects.get(pk=generation_id)
    try:
        # The breaker counts every submit's outcome, across all workers.
        with provider.get_client() as client, breaker.observing():
            prediction = client.submit(generation.api_inputs(), model=generation.model)
    except (ws.AuthenticationError, ws.InsufficientBalanceError) as error:
        # The account is refused, not this request: the breaker now holds every submit back,
        # and this generation waits in line with the others (admission, once its task asks).
        recover_at = timezone.now() + timedelta(seconds=QUEUED_RECOVERY_SECONDS)
        if requeue(generation_id, str(error), recover_at):
            enqueue.submit(generation_id)
    except ws.RateLimitError as error:
        _send_again_later(generation, error, retry_after=error.retry_after)
    except ws.NetworkError as error:
        _send_again_later(generation, error, retry_after=None)
    except ws.AmbiguousSubmitError as error:
        log.warning("Generation %s: submit unconfirmed (%s); settling", generation_id, error)
        mark_unconfirmed(generation_id, str(error), timezone.now())
        enqueue.sweep()
    except ws.WaveSpeedError as error:
        fail(generation_id, S.SUBMITTING, describe_error(error), detail=str(error), code=error.code)
    else:
        record_prediction(generation_id, prediction)
        enqueue.sweep()


def _send_again_later(
    generation: Generation, error: ws.WaveSpeedError, retry_after: float | None
) -> None:
    """Put a generation the API did not take back in the queue, or give up."""
    attempts = generation.submit_attempts
    age = (timezone.now() - generation.created_at).total_seconds()
    if attempts >= MAX_SUBMIT_ATTEMPTS or age > settings.GENERATION_QUEUE_TIMEOUT_SECONDS:
        fail(generation.pk, S.SUBMITTING, describe_error(error), detail=str(error), code=error.code)
        return
    delay = retry_after if retry_after is not None else min(60.0, 2.0**attempts)
    delay = min(max(delay, 1.0), 300.0) * random.uniform(1.0, 1.25)  # noqa: S311 (jitter)
    requeue(generation.pk, str(error), timezone.now() + timedelta(seconds=delay))
    enqueue.sweep()


def record_prediction(generation_id: int, prediction: ws.Prediction) -> bool:
    """Attach the API's prediction to a generation and follow it from there."""
    now = timezone.now()
    try:
        # A savepoint, so a refused row leaves the caller's transaction usable.
        with transaction.atomic():
            moved = attach_prediction(generation_id, prediction, now)
    except IntegrityError:
        log.error(
            "Generation %s: prediction %s already belongs to another generation",
            generation_id,
            prediction.id,
        )
        return False
    if not moved:
        return False
    if prediction.is_terminal:
        apply_prediction(Generation.objects.get(pk=generation_id), prediction, now)
    return True


def apply_prediction(generation: Generation, prediction: ws.Prediction, now: datetime) -> None:
    """Move a processing generation on from what the API last said of its prediction."""
    if prediction.is_completed:
        if not prediction.outputs:
            fail(
                generation.pk,
                S.PROCESSING,
                "The API finished without returning an image.",
                detail="completed with empty outputs",
            )
        elif accept_outputs(generation.pk, prediction, now):
            transaction.on_commit(lambda: enqueue.ingest(generation.pk))
        return
    if prediction.is_terminal:
        words = describe_task_failure(prediction.status, prediction.error_code, prediction.error)
        fail(
            generation.pk,
            S.PROCESSING,
            words,
            detail=prediction.error,
            code=prediction.error_code,
            status=S.TIMED_OUT if prediction.status == "timeout" else S.FAILED,
        )
        return
    if _past_deadline(generation, now):
        time_out(generation.pk, S.PROCESSING)
        return
    poll_again(generation.pk, now + poll_delay(generation, now), api_status=prediction.status)


def note_poll_error(generation: Generation, error: ws.WaveSpeedError, now: datetime) -> None:
    """A poll failed: try again later, unless the prediction is gone or out of time."""
    if isinstance(error, ws.InvalidRequestError) and error.status_code == 404:
        fail(
            generation.pk,
            S.PROCESSING,
            "The API no longer knows this generation.",
            detail=str(error),
        )
        return
    if _past_deadline(generation, now):
        time_out(generation.pk, S.PROCESSING)
        return
    delay = poll_delay(generation, now) * 2
    if isinstance(error, ws.RateLimitError) and error.retry_after:
        delay = timedelta(seconds=min(error.retry_after, 60))
    poll_again(generation.pk, now + delay, error_detail=str(error))


def settle(generation: Generation, client: ws.WaveSpeedClient, now: datetime) -> None:
    """Find out through the list endpoint whether an unconfirmed submit created a prediction.

    Found: follow it. Not found after a grace period: nothing was created (nor charged), so
    the generation goes back in the queue to be sent again. The list unreachable throughout:
    we cannot tell, and a resend could charge twice, so the generation fails.
    """
    sent_at = generation.submitted_at or generation.created_at
    unconfirmed_since = generation.unconfirmed_since or now
    try:
        found = client.find_prediction(
            inputs=generation.api_inputs(),
            model=generation.model,
            created_after=sent_at - timedelta(minutes=5),
            created_before=now + timedelta(minutes=5),
            exclude_ids=_prediction_ids_taken_by_twins(generation),
        )
    except ws.WaveSpeedError as error:
        found, listed, detail = None, False, str(error)
    else:
        listed, detail = True, ""
    if found is not None:
        record_prediction(generation.pk, found)
        return
    if (now - unconfirmed_since).total_seconds() < SETTLE_GRACE_SECONDS:
        await_confirmation(generation.pk, detail or generation.error_detail, now)
        return
    if listed:
        log.info(
            "Generation %s: the API has no record of the unconfirmed submit; resending",
            generation.pk,
        )
        _send_again_later(
            generation,
            ws.NetworkError("the API never confirmed the request and has no record of it"),
            retry_after=1.0,
        )
        return
    fail(
        generation.pk,
        S.SUBMITTING,
        "The API did not confirm this request and could not be asked about it, so it was not "
        'sent again (that could charge twice). Use "Use these settings" to try again.',
        detail=detail,
    )


def _prediction_ids_taken_by_twins(generation: Generation) -> list[str]:
    """Predictions already followed by other generations with the very same inputs."""
    inputs = generation.api_inputs()
    return list(
        Generation.objects.filter(**inputs)
        .exclude(pk=generation.pk)
        .exclude(prediction_id="")
        .values_list("prediction_id", flat=True)
    )


def poll_delay(generation: Generation, now: datetime) -> timedelta:
    """Poll often while an image is likely to arrive, then back off."""
    base = settings.POLL_INTERVAL_SECONDS
    age = (now - (generation.submitted_at or generation.created_at)).total_seconds()
    factor = 1 if age < 30 else 2 if age < 120 else 5
    return timedelta(seconds=base * factor)


def _past_deadline(generation: Generation, now: datetime) -> bool:
    sent_at = generation.submitted_at or generation.created_at
    return (now - sent_at).total_seconds() > settings.GENERATION_DEADLINE_SECONDS


def total_cost(num_images: int) -> Decimal:
    return settings.PRICE_PER_IMAGE * num_images
