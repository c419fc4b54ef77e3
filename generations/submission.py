"""Submissions: the generations a form asks for, and sending each to the API once per claim.

`create_batch` saves one queued generation per image; the sweeper then sends them, from a
bounded pool of threads (see `sweeper`), never by a task of their own: a hung submit holds a
thread, not a worker. `submit` is what such a thread runs: it claims the generation before
sending, so it is sent at most once per claim, and it records whatever answer comes, however
late, through the steps of `lifecycle`. A submit the API did not take goes back in the queue
(`send_again_later`); one that got no answer is left to `settling`.
"""

from __future__ import annotations

import contextlib
import logging
import random
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from generations import (
    admission,
    breaker,
    budgets,
    enqueue,
    following,
    lifecycle,
    provider,
    throttle,
    transactions,
)
from generations.explain import describe_error
from generations.models import Generation
from generations.wavespeed import client as ws
from generations.wavespeed import contract
from generations.wavespeed.contract import SEED_MAX

log = logging.getLogger(__name__)

S = Generation.Status
MAX_SUBMIT_ATTEMPTS = 8


def create_batch(owner, params: dict[str, Any]) -> list[Generation]:
    """Save one generation per image asked for; the sweeper submits them once committed.

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
    now = timezone.now()
    # One image under no budget is one INSERT: no transaction, so a burst of posts holds
    # SQLite's write lock for their INSERTs alone (a limit set at that very moment applies
    # from the next submission). A budget's check and the saving are one transaction (the
    # check locks the limit rows); so are a batch's rows.
    budgeted = budgets.applies_to(owner)
    with transaction.atomic() if budgeted or count > 1 else contextlib.nullcontext():
        if budgeted:
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
                next_check_at=now,  # due at once: the sweeper sends it
            )
            for index, seed in enumerate(seeds)
        ]
        transaction.on_commit(enqueue.sweep)
    return generations


def _random_seed() -> int:
    return random.SystemRandom().randint(0, SEED_MAX)


def total_cost(num_images: int) -> Decimal:
    return settings.PRICE_PER_IMAGE * num_images


def submit(generation_id: int) -> None:
    """Send a queued generation to the API, at most once per claim, and record the answer.

    The call is bounded by the client's submit deadline; an answer that never came makes the
    submit unconfirmed, to be settled and never resent blindly.
    """
    until = throttle.throttled_until(timezone.now())
    if until is not None:
        lifecycle.defer_submit(generation_id, until)  # sent once the account's wait is over
        return
    # Admission (the account's limits, the provider's breaker) decides and claims in one
    # step: a generation that must wait stays queued, in line, with no attempt counted.
    claim = admission.claim(generation_id, lifecycle.claim_submit)
    if claim is admission.Claim.WAITING:
        created_at = Generation.objects.values_list("created_at", flat=True).get(pk=generation_id)
        lifecycle.hold_in_line(generation_id, created_at)
    if claim is not admission.Claim.TAKEN:
        return  # waiting its turn, or already sent, finished, or deleted
    generation = Generation.objects.get(pk=generation_id)
    try:
        # The breaker counts every submit's outcome, across all workers.
        with provider.get_client() as client, breaker.observing():
            prediction = client.submit(
                generation.api_inputs(), model=generation.model, webhook=provider.webhook_url()
            )
    except (ws.AuthenticationError, ws.InsufficientBalanceError) as error:
        # The account is refused, not this request: the breaker now holds every submit back,
        # and this generation waits in line with the others (admission, when it asks again).
        if lifecycle.requeue(generation_id, str(error), timezone.now()):
            enqueue.sweep()
    except ws.RateLimitError as error:
        send_again_later(generation, error, retry_after=error.retry_after)
    except ws.NetworkError as error:
        send_again_later(generation, error, retry_after=None)
    except ws.AmbiguousSubmitError as error:
        log.warning("Generation %s: submit unconfirmed (%s); settling", generation_id, error)
        lifecycle.mark_unconfirmed(generation_id, str(error), timezone.now())
        enqueue.sweep()
    except ws.ServerError as error:
        # Only a 5xxx task code gets here (any other server error is an unconfirmed submit):
        # the API answered, and said the task did not run. Nothing is left running, and the
        # provider refunds a failed task, so sending it again later cannot charge twice; like a
        # rate limit, it waits its turn with back-off.
        send_again_later(generation, error, retry_after=None)
    except ws.WaveSpeedError as error:
        # Refused for good: a 1xxx task code, a bad key, no funds. Never unconfirmed.
        lifecycle.fail(
            generation_id,
            S.SUBMITTING,
            describe_error(error),
            detail=str(error),
            code=lifecycle.error_code(error),
        )
    else:
        record_prediction(
            generation_id, prediction, model=generation.model, answered_at=timezone.now()
        )
        enqueue.sweep()


def send_again_later(
    generation: Generation, error: ws.WaveSpeedError, retry_after: float | None
) -> None:
    """Put a generation the API did not take back in the queue, or give up."""
    attempts = generation.submit_attempts
    age = (timezone.now() - generation.created_at).total_seconds()
    if attempts >= MAX_SUBMIT_ATTEMPTS or age > settings.GENERATION_QUEUE_TIMEOUT_SECONDS:
        lifecycle.fail(
            generation.pk,
            S.SUBMITTING,
            describe_error(error),
            detail=str(error),
            code=lifecycle.error_code(error),
        )
        return
    delay = retry_after if retry_after is not None else min(60.0, 2.0**attempts)
    delay = min(max(delay, 1.0), 300.0) * random.uniform(1.0, 1.25)  # noqa: S311 (jitter)
    lifecycle.requeue(generation.pk, str(error), timezone.now() + timedelta(seconds=delay))
    enqueue.sweep()


def record_prediction(
    generation_id: int,
    prediction: ws.Prediction,
    *,
    model: str = contract.MODEL_ID,
    answered_at: datetime | None = None,
) -> bool:
    """Attach the API's prediction to a generation and follow it from there.

    `answered_at`: when the submit's answer came, for a prediction just made. Its polls are
    timed from then (`submitted_at` becomes it), not from the claim: under load the request
    can take a while to leave, and polls timed from the claim would come before the image is
    done, then a whole interval later. A settled prediction (no answer came) keeps the claim's.
    """
    now = timezone.now()
    # Settled submits were sent by this app too, so with the same webhook setting.
    webhook = provider.webhook_url() is not None
    first_check_in = (
        following.first_poll_delay(model, answered_at, now, webhook=webhook)
        if answered_at is not None
        else None
    )
    try:
        with transactions.savepoint_if_nested():
            moved = lifecycle.attach_prediction(
                generation_id,
                prediction,
                now,
                webhook=webhook,
                first_check_in=first_check_in,
                sent_at=answered_at,
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
        following.apply_prediction(Generation.objects.get(pk=generation_id), prediction, now)
    return True
