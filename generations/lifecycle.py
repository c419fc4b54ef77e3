"""The generation life cycle: the states a generation goes through, and the steps between them.

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

This module holds only the steps; the decisions that choose one live in modules of their own,
which import this one (it imports none of them): `submission` (creating generations and
sending each once per claim), `following` (what an answer about a prediction means), and
`settling` (lost submits and vanished predictions, from the account's history). The sweeper
and the ingest task call steps directly.

Not steps, and left to their own modules: creating generations (`submission.create_batch`),
and the owner's or staff's choice of who sees one or its deletion (`sharing`), which touch no
field of the pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from generations.explain import describe_deadline
from generations.models import Generation
from generations.wavespeed import client as ws

log = logging.getLogger(__name__)

S = Generation.Status
# A submit claim older than this had its worker die mid-request: settle it like an ambiguous
# one. Longer than a submit may take (its total deadline) and than django-q2 lets a task run
# (a submit task queued by an earlier version), so the request is surely over by then.
SUBMIT_CLAIM_SECONDS = max(settings.WAVESPEED_SUBMIT_TIMEOUT_SECONDS, settings.Q_TIMEOUT) + 30
# The first look at the list; later ones back off (5, 10, 20, 40 s...) up to the grace's end.
SETTLE_INTERVAL_SECONDS = 5


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


def attach_prediction(
    generation_id: int,
    prediction: ws.Prediction,
    now: datetime,
    *,
    webhook: bool = False,
    first_check_in: timedelta | None = None,
    sent_at: datetime | None = None,
) -> bool:
    """submitting -> processing: the API's prediction is this generation's; follow it.

    `webhook`: the submit asked the API to call back when it ends, so the first poll, a
    safety net, comes later. `first_check_in`: when to poll first (the polling schedule's
    choice); one poll interval, or the webhook's, if not given. `sent_at`: when the API took
    it, where known (its answer came), replacing the claim's moment in `submitted_at`. Raises
    IntegrityError when the prediction already belongs to another generation.
    """
    interval = settings.WEBHOOK_POLL_INTERVAL_SECONDS if webhook else settings.POLL_INTERVAL_SECONDS
    first_check_in = first_check_in or timedelta(seconds=interval)
    changes: dict[str, Any] = {"submitted_at": sent_at} if sent_at is not None else {}
    return transition(
        generation_id,
        S.SUBMITTING,
        status=S.PROCESSING,
        prediction_id=prediction.id,
        api_status=prediction.status,
        submit_ambiguous=False,
        error_detail="",
        webhook_requested=webhook,
        next_check_at=now + first_check_in,
        **changes,
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


# A generation is one image: a batch is one prediction per image (see submission.create_batch).
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
        # The API answered: that ends any run of failed polls, as `poll_again` does.
        failed_polls=0,
        failed_poll_code=None,
        polls_failing_since=None,
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
        code=error_code(last_error) if last_error else None,
        status=S.TIMED_OUT,
    )


def error_code(error: ws.WaveSpeedError) -> int | None:
    """What is kept in a generation's error_code: the task code, else the HTTP error status.

    So 401/403 (the key was refused) and 402 (no funds) can be told apart from an image's own
    failure by anything that reads the generations, such as a provider-wide warning.
    """
    if error.code is not None:
        return error.code
    return error.status_code if error.status_code and error.status_code >= 400 else None
