"""Settling: what became of a submit that got no answer, or a prediction whose result is gone.

Neither can be told from the request itself, so both are settled from the account's
history (the list endpoint), read once per sweep pass for every generation due
(`settle_all`). A lost submit is followed if its prediction is listed, sent again only when
nothing in its window may be it, and failed when a resend could charge twice (`settle`); a
prediction whose result answered 404 fails only if the list does not show it either
(`confirm_missing`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings

from generations import following, lifecycle, submission
from generations.models import Generation
from generations.wavespeed import client as ws
from generations.wavespeed.history import History

log = logging.getLogger(__name__)

S = Generation.Status
# How long the list endpoint is given, counted from when a submit became unconfirmed, to show
# it before we conclude it was never created.
SETTLE_GRACE_SECONDS = 120
# Our clock against the API's: a prediction's created_at may be off by this much either way.
CLOCK_SKEW = timedelta(minutes=5)


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
            lifecycle.await_confirmation(generation.pk, str(history), now, _settle_delay(waited))
            return
        lifecycle.fail(
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
        submission.record_prediction(generation.pk, candidates.matching[0], model=generation.model)
        return
    if in_grace:
        lifecycle.await_confirmation(
            generation.pk, generation.error_detail, now, _settle_delay(waited)
        )
        return
    if candidates.none:
        log.info(
            "Generation %s: the API has no record of the unconfirmed submit; resending",
            generation.pk,
        )
        submission.send_again_later(
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
        submission.record_prediction(
            generation.pk, candidates.unreadable[0], model=generation.model
        )
        return
    lifecycle.fail(
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
        lifecycle.poll_failed(
            generation.pk,
            now + following.poll_delay(generation, now) * 2,
            detail=f"HTTP 404, and the predictions list could not be read: {history}",
            code=404,
            failures=following.MISSING_AFTER_POLLS - 1,
            failing_since=generation.polls_failing_since or now,
        )
        return
    listed = history.get(generation.prediction_id)
    if listed is None:
        lifecycle.fail(
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
        lifecycle.poll_again(
            generation.pk, now + following.poll_delay(generation, now), api_status=listed.status
        )
        return
    following.apply_prediction(generation, listed, now)


def _settle_window(generation: Generation, now: datetime) -> tuple[datetime, datetime]:
    """When the prediction of this generation's last submit can have been created."""
    sent_at = generation.submitted_at or generation.created_at
    if generation.status == S.SUBMITTING:
        # The request was over when its answer was given up on.
        ended = generation.unconfirmed_since or now
    else:
        ended = min(now, sent_at + timedelta(seconds=lifecycle.SUBMIT_CLAIM_SECONDS))
    # `submitted_at` is when the submit's answer came, if one did: the prediction was created
    # up to a whole submit before it.
    opened = sent_at - timedelta(seconds=settings.WAVESPEED_SUBMIT_TIMEOUT_SECONDS)
    return opened - CLOCK_SKEW, max(ended, sent_at) + CLOCK_SKEW


def _settle_delay(waited: float) -> float:
    """Seconds to the next look at the list: back off, and look once more at the grace's end."""
    delay = max(float(lifecycle.SETTLE_INTERVAL_SECONDS), waited)
    return min(delay, max(float(lifecycle.SETTLE_INTERVAL_SECONDS), SETTLE_GRACE_SECONDS - waited))


def _prediction_ids_taken(generation: Generation, listed_ids: Iterable[str]) -> list[str]:
    """Listed predictions other generations already follow: a twin's (same inputs), or any.

    A prediction belongs to one generation, so none of these can be this submit's.
    """
    return list(
        Generation.objects.filter(prediction_id__in=list(listed_ids))
        .exclude(pk=generation.pk)
        .values_list("prediction_id", flat=True)
    )
