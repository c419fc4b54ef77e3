"""The generation life cycle: create, submit, settle, follow the prediction, finish.

    queued <-------------+    defer_submit: the account must wait; sent once it is over
      | claim_submit     |    requeue: the API did not take it, or settling found it never
      v                  |      arrived; it is sent again later
    submitting ----------+    mark_unconfirmed, abandon_claim, await_confirmation: no answer
      | attach_prediction       came; the sweeper settles it through the list endpoint
      |                       hold_for_settle: a settle is under way; other sweeps leave it
      v
    processing                poll_again: still running (or the history still lists it)
      |                       poll_failed: the poll failed; errors that will not clear are
      |                         confirmed by a second poll (a 404 by the history), then fail
      | accept_outputs
      v
    downloading               start_ingest, restart_ingest: an ingest task (re)starts
      | complete
      v
    completed

    fail, time_out: from any status before completed to failed or timed_out.

Every change to a generation after it is created is one of the steps above, each a
`transition`: a conditional UPDATE on the current status, so a task delivered twice, two
workers racing, or an API call answered after its sweep was over, change a generation at most
once. Steps return whether they applied.

Submits are made by the sweeper, from a bounded pool of threads (see `sweeper`), never by a
task of their own: a hung submit holds a thread, not a worker. `submit` is what such a
thread runs: it claims the generation before sending, so it is sent at most once per claim,
and it records whatever answer comes, however late, through the steps above.

Not steps, and left to their own modules: creating generations (`create_batch` here), and
the owner's or staff's choice of who sees one or its deletion (`sharing`), which touch no
field of the pipeline.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from generations import admission, breaker, budgets, enqueue, provider, throttle
from generations.explain import describe_deadline, describe_error, describe_task_failure
from generations.models import Generation
from generations.wavespeed import client as ws
from generations.wavespeed.contract import SEED_MAX
from generations.wavespeed.history import History

log = logging.getLogger(__name__)

S = Generation.Status
# A submit claim older than this had its worker die mid-request: settle it like an ambiguous
# one. Longer than a submit may take (its total deadline) and than django-q2 lets a task run
# (a submit task queued by an earlier version), so the request is surely over by then.
SUBMIT_CLAIM_SECONDS = max(settings.WAVESPEED_SUBMIT_TIMEOUT_SECONDS, settings.Q_TIMEOUT) + 30
# How long the list endpoint is given, counted from when a submit became unconfirmed, to show
# it before we conclude it was never created.
SETTLE_GRACE_SECONDS = 120
# The first look at the list; later ones back off (5, 10, 20, 40 s...) up to the grace's end.
SETTLE_INTERVAL_SECONDS = 5
# Our clock against the API's: a prediction's created_at may be off by this much either way.
CLOCK_SKEW = timedelta(minutes=5)
MAX_SUBMIT_ATTEMPTS = 8
# A 404 on a result confirmed by this many polls in a row is checked against the history.
MISSING_AFTER_POLLS = 2
# The longest wait a single prediction's Retry-After is granted before its next poll.
MAX_RETRY_AFTER_SECONDS = 300


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
                next_check_at=now,  # due at once: the sweeper sends it
            )
            for index, seed in enumerate(seeds)
        ]
        transaction.on_commit(enqueue.sweep)
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


def defer_submit(generation_id: int, until: datetime) -> bool:
    """queued: the account must wait (see `throttle`); it is sent once the wait is over."""
    return transition(generation_id, S.QUEUED, next_check_at=until)


def hold_in_line(generation_id: int, created_at: datetime) -> bool:
    """queued: admission holds it back (the account's limits, the breaker) until it releases
    it; unreleased by the queue deadline, the sweeper gives it up with the cause."""
    deadline = created_at + timedelta(seconds=settings.GENERATION_QUEUE_TIMEOUT_SECONDS)
    return transition(generation_id, S.QUEUED, next_check_at=deadline)


def release_submit(generation_id: int, now: datetime) -> bool:
    """queued: admission released it into a free slot; its submit is due now."""
    return transition(generation_id, S.QUEUED, next_check_at=now)


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


def hold_for_settle(generation_id: int, until: datetime) -> bool:
    """submitting (unconfirmed) or processing (its result gone): the history is being read
    for it, so other sweeps and polls leave it alone until `until`."""
    return transition(
        generation_id, S.SUBMITTING, where={"submit_ambiguous": True}, next_check_at=until
    ) or transition(
        generation_id, S.PROCESSING, where={"failed_poll_code": 404}, next_check_at=until
    )


def await_confirmation(
    generation_id: int, detail: str, now: datetime, delay: float = SETTLE_INTERVAL_SECONDS
) -> bool:
    """submitting: the list does not settle it (yet); ask again in `delay` seconds."""
    return transition(
        generation_id,
        S.SUBMITTING,
        submit_ambiguous=True,
        error_detail=detail[:1000],
        next_check_at=now + timedelta(seconds=delay),
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
    """processing: the prediction is still running; look again later.

    With an `api_status` the API answered, which ends any run of failed polls.
    """
    changes: dict[str, Any] = {"poll_count": F("poll_count") + 1, "next_check_at": check_at}
    if api_status is not None:
        changes.update(
            api_status=api_status, failed_polls=0, failed_poll_code=None, polls_failing_since=None
        )
    if error_detail is not None:
        changes["error_detail"] = error_detail[:1000]
    return transition(generation_id, S.PROCESSING, **changes)


def poll_failed(
    generation_id: int,
    check_at: datetime,
    *,
    detail: str,
    code: int | None,
    failures: int,
    failing_since: datetime,
) -> bool:
    """processing: a poll failed; count the run of failures (`failures` with this `code`)."""
    return transition(
        generation_id,
        S.PROCESSING,
        poll_count=F("poll_count") + 1,
        next_check_at=check_at,
        error_detail=detail[:1000],
        failed_polls=min(failures, 32767),
        failed_poll_code=code,
        polls_failing_since=failing_since,
    )


# A generation is one image: a batch is one prediction per image (see create_batch).
OUTPUTS_PER_GENERATION = 1


def accept_outputs(generation_id: int, prediction: ws.Prediction, now: datetime) -> bool:
    """processing -> downloading: the prediction completed; its outputs are copied next.

    Only as many outputs as a generation asks for are kept (and their flags, index for
    index): more would be downloaded and stored for the price of one.
    """
    changes: dict[str, Any] = {}
    extra = len(prediction.outputs) - OUTPUTS_PER_GENERATION
    if extra > 0:
        log.warning(
            "Generation %s: prediction %s answered %d outputs; keeping the first %d",
            generation_id,
            prediction.id,
            len(prediction.outputs),
            OUTPUTS_PER_GENERATION,
        )
        changes["error_detail"] = (
            f"The API answered {len(prediction.outputs)} outputs for "
            f"{OUTPUTS_PER_GENERATION}; {extra} were not downloaded."
        )
    return transition(
        generation_id,
        S.PROCESSING,
        status=S.DOWNLOADING,
        api_status=prediction.status,
        output_urls=list(prediction.outputs[:OUTPUTS_PER_GENERATION]),
        nsfw_flags=list(prediction.has_nsfw_contents[:OUTPUTS_PER_GENERATION]),
        inference_ms=prediction.inference_ms,
        ingest_started_at=now,
        next_check_at=None,
        **changes,
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


def time_out(
    generation_id: int,
    from_status: str,
    *,
    last_error: ws.WaveSpeedError | None = None,
    failing_since: datetime | None = None,
) -> bool:
    """-> timed_out: the API took longer than the deadline; say why if its polls kept failing."""
    failing_for = (timezone.now() - failing_since).total_seconds() if failing_since else 0.0
    words = describe_deadline(settings.GENERATION_DEADLINE_SECONDS, last_error, failing_for)
    return fail(
        generation_id,
        from_status,
        words,
        detail=str(last_error) if last_error else "",
        code=_error_code(last_error) if last_error else None,
        status=S.TIMED_OUT,
    )


# --- What moves a generation from step to step ----------------------------------------------


def submit(generation_id: int) -> None:
    """Send a queued generation to the API, at most once per claim, and record the answer.

    The call is bounded by the client's submit deadline; an answer that never came makes the
    submit unconfirmed, to be settled and never resent blindly.
    """
    until = throttle.throttled_until(timezone.now())
    if until is not None:
        defer_submit(generation_id, until)  # sent once the account's wait is over
        return
    # Admission (the account's limits, the provider's breaker) decides and claims in one
    # step: a generation that must wait stays queued, in line, with no attempt counted.
    claim = admission.claim(generation_id, claim_submit)
    if claim is admission.Claim.WAITING:
        created_at = Generation.objects.values_list("created_at", flat=True).get(pk=generation_id)
        hold_in_line(generation_id, created_at)
    if claim is not admission.Claim.TAKEN:
        return  # waiting its turn, or already sent, finished, or deleted
    generation = Generation.objects.get(pk=generation_id)
    try:
        # The breaker counts every submit's outcome, across all workers.
        with provider.get_client() as client, breaker.observing():
            prediction = client.submit(generation.api_inputs(), model=generation.model)
    except (ws.AuthenticationError, ws.InsufficientBalanceError) as error:
        # The account is refused, not this request: the breaker now holds every submit back,
        # and this generation waits in line with the others (admission, when it asks again).
        if requeue(generation_id, str(error), timezone.now()):
            enqueue.sweep()
    except ws.RateLimitError as error:
        _send_again_later(generation, error, retry_after=error.retry_after)
    except ws.NetworkError as error:
        _send_again_later(generation, error, retry_after=None)
    except ws.AmbiguousSubmitError as error:
        log.warning("Generation %s: submit unconfirmed (%s); settling", generation_id, error)
        mark_unconfirmed(generation_id, str(error), timezone.now())
        enqueue.sweep()
    except ws.ServerError as error:
        # Only a 5xxx task code gets here (any other server error is an unconfirmed submit):
        # the API answered, and said the task did not run. Nothing is left running, and the
        # provider refunds a failed task, so sending it again later cannot charge twice; like a
        # rate limit, it waits its turn with back-off.
        _send_again_later(generation, error, retry_after=None)
    except ws.WaveSpeedError as error:
        # Refused for good: a 1xxx task code, a bad key, no funds. Never unconfirmed.
        fail(
            generation_id,
            S.SUBMITTING,
            describe_error(error),
            detail=str(error),
            code=_error_code(error),
        )
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
        fail(
            generation.pk,
            S.SUBMITTING,
            describe_error(error),
            detail=str(error),
            code=_error_code(error),
        )
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
    """A poll failed: look again later; errors that will not clear, once confirmed, fail it.

    A refused key (401/403) is confirmed by one quick second poll, then fails the generation at
    once instead of at the deadline. A 404 is polled again, then checked against the history
    (`settle_all`): a prediction the API still lists goes on. Anything else is polled again
    until the deadline, whose words then name the cause.
    """
    code = _error_code(error)
    same_cause = generation.failed_polls > 0 and generation.failed_poll_code == code
    failures = generation.failed_polls + 1 if same_cause else 1
    failing_since = generation.polls_failing_since or now
    refused_key = isinstance(error, ws.AuthenticationError)
    if refused_key and failures >= 2:
        # error_code 401/403 tells what ended it (a provider-wide trouble, not this image's).
        fail(generation.pk, S.PROCESSING, describe_error(error), detail=str(error), code=code)
        return
    if _past_deadline(generation, now):
        time_out(generation.pk, S.PROCESSING, last_error=error, failing_since=failing_since)
        return
    missing = isinstance(error, ws.InvalidRequestError) and error.status_code == 404
    if refused_key or (missing and failures < MISSING_AFTER_POLLS):
        delay = timedelta(seconds=settings.POLL_INTERVAL_SECONDS)  # a quick second look
    elif missing:
        delay = timedelta(0)  # due now: the next settle pass looks for it in the history
    else:
        delay = retry_delay(generation, error, now)
    poll_failed(
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


def _error_code(error: ws.WaveSpeedError) -> int | None:
    """What is kept in a generation's error_code: the task code, else the HTTP error status.

    So 401/403 (the key was refused) and 402 (no funds) can be told apart from an image's own
    failure by anything that reads the generations, such as a provider-wide warning.
    """
    if error.code is not None:
        return error.code
    return error.status_code if error.status_code and error.status_code >= 400 else None


def settle_all(
    generations: Sequence[Generation], client: ws.WaveSpeedClient, now: datetime
) -> None:
    """Settle unconfirmed submits and vanished predictions from one read of the history.

    One list read serves every generation due in a sweep pass, whatever their number.
    """
    if not generations:
        return
    history = read_history(client, generations, now)
    for generation in generations:
        if generation.status == S.SUBMITTING:
            settle(generation, history, now)
        elif generation.status == S.PROCESSING:
            confirm_missing(generation, history, now)


def read_history(
    client: ws.WaveSpeedClient, generations: Iterable[Generation], now: datetime
) -> History | ws.WaveSpeedError:
    """The account's history over the windows of these generations, or why it could not be read."""
    generations = list(generations)
    windows = [_settle_window(generation, now) for generation in generations]
    models = {generation.model for generation in generations}
    try:
        return client.read_history(
            created_after=min(after for after, _ in windows),
            created_before=max(before for _, before in windows),
            # Each generation's candidates are then of its own model.
            model=models.pop() if len(models) == 1 else None,
        )
    except ws.WaveSpeedError as error:
        return error


def settle(generation: Generation, history: History | ws.WaveSpeedError, now: datetime) -> None:
    """Find out from the history whether an unconfirmed submit created a prediction.

    A prediction with the same model and input: follow it. No possible prediction at all in the
    whole window once the grace period is over: nothing was created (nor charged), so the
    generation goes back in the queue to be sent again. An item whose input cannot be read or
    compared may be this submit's, so while one is there nothing is resent: once the grace is
    over, a single such item is followed, and several (or a history that cannot be read) fail
    the generation, since a resend could charge twice. Waiting out the grace first leaves time
    for a neighbour's own answer to claim its prediction, and for the list to catch up.
    """
    unconfirmed_since = generation.unconfirmed_since or now
    waited = (now - unconfirmed_since).total_seconds()
    in_grace = waited < SETTLE_GRACE_SECONDS
    if isinstance(history, ws.WaveSpeedError):
        if in_grace:
            await_confirmation(generation.pk, str(history), now, _settle_delay(waited))
            return
        fail(
            generation.pk,
            S.SUBMITTING,
            "The API did not confirm this request and could not be asked about it, so it was "
            'not sent again (that could charge twice). Use "Use these settings" to try again.',
            detail=str(history),
        )
        return
    after, before = _settle_window(generation, now)
    candidates = history.candidates(
        generation.api_inputs(),
        model=generation.model,
        created_after=after,
        created_before=before,
        exclude_ids=_prediction_ids_taken(generation, (item.id for item in history.items)),
    )
    if len(candidates.matching) == 1:
        record_prediction(generation.pk, candidates.matching[0])
        return
    if in_grace:
        await_confirmation(generation.pk, generation.error_detail, now, _settle_delay(waited))
        return
    if candidates.none:
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
    if not candidates.matching and len(candidates.unreadable) == 1 and not candidates.malformed:
        log.warning(
            "Generation %s: following prediction %s, the only one that may be it (its input "
            "is not shown)",
            generation.pk,
            candidates.unreadable[0].id,
        )
        record_prediction(generation.pk, candidates.unreadable[0])
        return
    fail(
        generation.pk,
        S.SUBMITTING,
        "The API did not confirm this request and its history cannot tell which task is this "
        "one, so it was not sent again (that could charge twice). "
        'Use "Use these settings" to try again.',
        detail=f"possible predictions: {candidates.describe()}",
    )


def confirm_missing(
    generation: Generation, history: History | ws.WaveSpeedError, now: datetime
) -> None:
    """A prediction whose result answered 404 again: fail it only if the history agrees."""
    if isinstance(history, ws.WaveSpeedError):
        # Cannot tell. The next check is a poll again (which the deadline bounds, naming the
        # cause), and a 404 from it asks the list once more.
        poll_failed(
            generation.pk,
            now + poll_delay(generation, now) * 2,
            detail=f"HTTP 404, and the predictions list could not be read: {history}",
            code=404,
            failures=MISSING_AFTER_POLLS - 1,
            failing_since=generation.polls_failing_since or now,
        )
        return
    listed = history.get(generation.prediction_id)
    if listed is None:
        fail(
            generation.pk,
            S.PROCESSING,
            "The API no longer knows this generation.",
            detail=f"{generation.error_detail}; not in the predictions list either",
            code=404,
        )
        return
    log.info("Generation %s: the result answered 404 but the list shows it", generation.pk)
    if listed.is_completed and not listed.outputs:
        # A listed item may leave out its outputs: the result endpoint tells, when it answers.
        poll_again(generation.pk, now + poll_delay(generation, now), api_status=listed.status)
        return
    apply_prediction(generation, listed, now)


def _settle_window(generation: Generation, now: datetime) -> tuple[datetime, datetime]:
    """When the prediction of this generation's last submit can have been created."""
    sent_at = generation.submitted_at or generation.created_at
    if generation.status == S.SUBMITTING:
        # The request was over when its answer was given up on.
        ended = generation.unconfirmed_since or now
    else:
        ended = min(now, sent_at + timedelta(seconds=SUBMIT_CLAIM_SECONDS))
    return sent_at - CLOCK_SKEW, max(ended, sent_at) + CLOCK_SKEW


def _settle_delay(waited: float) -> float:
    """Seconds to the next look at the list: back off, and look once more at the grace's end."""
    delay = max(float(SETTLE_INTERVAL_SECONDS), waited)
    return min(delay, max(float(SETTLE_INTERVAL_SECONDS), SETTLE_GRACE_SECONDS - waited))


def _prediction_ids_taken(generation: Generation, listed_ids: Iterable[str]) -> list[str]:
    """Listed predictions other generations already follow: a twin's (same inputs), or any.

    A prediction belongs to one generation, so none of these can be this submit's.
    """
    return list(
        Generation.objects.filter(prediction_id__in=list(listed_ids))
        .exclude(pk=generation.pk)
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
