"""The generation life cycle: create, submit, settle, follow the prediction, finish.

queued -> submitting -> processing -> downloading -> completed
                    \\-> failed / timed_out (from any step before completed)

Every transition is a conditional UPDATE on the current status, so a task delivered twice,
or two workers racing, change a generation at most once.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from generations import budgets, queue
from generations import provider as api
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


def create_generation(owner, params: dict[str, Any]) -> Generation:
    """Save a submission from validated form data; return its first generation."""
    return create_batch(owner, params)[0]


def create_batch(owner, params: dict[str, Any]) -> list[Generation]:
    """Save one generation per image asked for and queue each submission on commit.

    A batch is one prediction per image, not the API's `num_images`: the model's documented
    parameters do not include it, each image gets a seed of its own that redoes it alone, and
    a failure costs one image instead of the batch. A chosen seed S gives S, S+1, ...; a
    random seed is drawn for each image. Raises `budgets.BudgetExceeded` before saving
    anything when the cost would pass a monthly limit.
    """
    count = max(1, min(int(params.get("num_images") or 1), settings.MAX_IMAGES_PER_SUBMISSION))
    chosen = params.get("seed")
    seed_was_random = chosen is None or chosen == -1
    # Chosen here, not by the API, so the seed actually used is known before sending.
    seeds = (
        [_random_seed() for _ in range(count)]
        if seed_was_random
        else [(chosen + offset) % (SEED_MAX + 1) for offset in range(count)]
    )
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
                num_images=1,
                cost=total_cost(1),
                batch=batch,
                batch_index=index,
                batch_size=count,
                next_check_at=recover_at,
            )
            for index, seed in enumerate(seeds)
        ]
        for generation in generations:
            transaction.on_commit(partial(queue.enqueue_submit, generation.pk))
    return generations


def _random_seed() -> int:
    return random.SystemRandom().randint(0, SEED_MAX)


def submit(generation_id: int) -> None:
    """Send a queued generation to the API, at most once per claim."""
    now = timezone.now()
    claimed = Generation.objects.filter(pk=generation_id, status=S.QUEUED).update(
        status=S.SUBMITTING,
        submitted_at=now,
        submit_ambiguous=False,
        unconfirmed_since=None,
        next_check_at=now + timedelta(seconds=SUBMIT_CLAIM_SECONDS),
    )
    if not claimed:
        return  # already sent, finished, or deleted: a second delivery does nothing
    generation = Generation.objects.get(pk=generation_id)
    attempts = generation.submit_attempts + 1
    Generation.objects.filter(pk=generation_id).update(submit_attempts=attempts)
    try:
        with api.get_client() as client:
            prediction = client.submit(generation.api_inputs(), model=generation.model)
    except ws.RateLimitError as error:
        _requeue(generation, attempts, error, retry_after=error.retry_after)
    except ws.NetworkError as error:
        _requeue(generation, attempts, error, retry_after=None)
    except ws.AmbiguousSubmitError as error:
        log.warning("Generation %s: submit unconfirmed (%s); settling", generation_id, error)
        now = timezone.now()
        _update(
            generation_id,
            S.SUBMITTING,
            submit_ambiguous=True,
            unconfirmed_since=now,
            error_detail=str(error)[:1000],
            next_check_at=now + timedelta(seconds=SETTLE_INTERVAL_SECONDS),
        )
        queue.kick_sweeper()
    except ws.WaveSpeedError as error:
        fail(generation_id, S.SUBMITTING, describe_error(error), detail=str(error), code=error.code)
    else:
        record_prediction(generation_id, S.SUBMITTING, prediction)
        queue.kick_sweeper()


def _requeue(
    generation: Generation, attempts: int, error: ws.WaveSpeedError, retry_after: float | None
) -> None:
    """Put a generation the API did not take back in the queue, or give up."""
    age = (timezone.now() - generation.created_at).total_seconds()
    if attempts >= MAX_SUBMIT_ATTEMPTS or age > settings.GENERATION_QUEUE_TIMEOUT_SECONDS:
        fail(generation.pk, S.SUBMITTING, describe_error(error), detail=str(error), code=error.code)
        return
    delay = retry_after if retry_after is not None else min(60.0, 2.0**attempts)
    delay = min(max(delay, 1.0), 300.0) * random.uniform(1.0, 1.25)  # noqa: S311 (jitter)
    _update(
        generation.pk,
        S.SUBMITTING,
        status=S.QUEUED,
        error_detail=str(error)[:1000],
        next_check_at=timezone.now() + timedelta(seconds=delay),
    )
    queue.kick_sweeper()


def record_prediction(generation_id: int, from_status: str, prediction: ws.Prediction) -> bool:
    """Attach the API's prediction to a generation and follow it from there."""
    now = timezone.now()
    try:
        # A savepoint, so a refused row leaves the caller's transaction usable.
        with transaction.atomic():
            moved = _update(
                generation_id,
                from_status,
                status=S.PROCESSING,
                prediction_id=prediction.id,
                api_status=prediction.status,
                submit_ambiguous=False,
                error_detail="",
                next_check_at=now + timedelta(seconds=settings.POLL_INTERVAL_SECONDS),
            )
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
            return
        flags = list(prediction.has_nsfw_contents)
        moved = _update(
            generation.pk,
            S.PROCESSING,
            status=S.DOWNLOADING,
            api_status=prediction.status,
            output_urls=list(prediction.outputs),
            nsfw_flags=flags,
            inference_ms=prediction.inference_ms,
            ingest_started_at=now,
            next_check_at=None,
        )
        if moved:
            transaction.on_commit(lambda: queue.enqueue_ingest(generation.pk))
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
    _update(
        generation.pk,
        S.PROCESSING,
        api_status=prediction.status,
        poll_count=generation.poll_count + 1,
        next_check_at=now + poll_delay(generation, now),
    )


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
    _update(
        generation.pk,
        S.PROCESSING,
        poll_count=generation.poll_count + 1,
        error_detail=str(error)[:1000],
        next_check_at=now + delay,
    )


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
        record_prediction(generation.pk, S.SUBMITTING, found)
        return
    if (now - unconfirmed_since).total_seconds() < SETTLE_GRACE_SECONDS:
        _update(
            generation.pk,
            S.SUBMITTING,
            submit_ambiguous=True,
            error_detail=detail[:1000] or generation.error_detail,
            next_check_at=now + timedelta(seconds=SETTLE_INTERVAL_SECONDS),
        )
        return
    if listed:
        log.info(
            "Generation %s: the API has no record of the unconfirmed submit; resending",
            generation.pk,
        )
        _requeue(
            generation,
            generation.submit_attempts,
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


def fail(
    generation_id: int,
    from_status: str,
    words: str,
    *,
    detail: str = "",
    code: int | None = None,
    status: str = S.FAILED,
) -> bool:
    """End a generation without images, with a reason the user can read."""
    return _update(
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
    minutes = settings.GENERATION_DEADLINE_SECONDS / 60
    return fail(
        generation_id,
        from_status,
        f"The API did not finish this generation within {minutes:g} minutes.",
        status=S.TIMED_OUT,
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


def _update(generation_id: int, from_status: str, **changes: Any) -> bool:
    """Apply changes only if the generation is still in `from_status`."""
    changes.setdefault("updated_at", timezone.now())
    return bool(Generation.objects.filter(pk=generation_id, status=from_status).update(**changes))


def total_cost(num_images: int) -> Decimal:
    return settings.PRICE_PER_IMAGE * num_images
