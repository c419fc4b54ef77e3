"""The provider's circuit breaker: one row every worker shares, so trouble is one event.

While the API fails transiently (`FAILURE_THRESHOLD` network errors, 5xx or unreadable
answers in a row, counted over the submits and polls of every worker on every host), or
refuses the account itself (401/403: the key; 402 or a balance message: the money), the
breaker is open and admission (generations/admission.py) holds new submits back, instead of
letting each one fail on its own. A probe, the cheap balance call, run by the sweeper once
`next_probe_at` passes, closes it again by itself.

Only the probe closes an open breaker: a poll that succeeds shows that the result endpoint
answers, not that a submit would be taken. Every write is a conditional UPDATE, so workers
recording outcomes at once never lose a count or undo each other's state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from generations.models import CircuitBreaker
from generations.wavespeed import client as ws

log = logging.getLogger(__name__)

NAME = "wavespeed"
State = CircuitBreaker.State
Reason = CircuitBreaker.Reason

# Transient failures in a row, across the app, that mean "the API is down" rather than "this
# one call was unlucky"; each generation's own retries cover fewer.
FAILURE_THRESHOLD = 5
# Probes during an outage come quickly at first, then back off.
OUTAGE_PROBE_SECONDS = (10, 20, 40, 80, 120)
# A refused key or an empty balance needs a person; after the fix, submitting resumes within this.
ACCOUNT_PROBE_SECONDS = 30
# A probe claimed longer ago than this lost its worker: another may run it. Longer than one
# balance call can take (10 s to connect, 30 s to read).
PROBE_CLAIM_SECONDS = 60
TOP_UP_URL = "https://wavespeed.ai/top-up"
ACCESS_KEY_URL = "https://wavespeed.ai/accesskey"

# What one answer (or error) of the API says about its health.
SUCCESS, FAILURE, NEUTRAL = "success", "failure", "neutral"
_KINDS_BY_ERROR: tuple[tuple[type[ws.WaveSpeedError], str], ...] = (
    (ws.AuthenticationError, Reason.KEY_REFUSED),
    (ws.InsufficientBalanceError, Reason.OUT_OF_FUNDS),
    # Busy is not down: throttling is paced elsewhere; a long list is no fault at all.
    (ws.RateLimitError, NEUTRAL),
    (ws.IncompleteListError, NEUTRAL),
    # The API read the request and the key, and refused the request itself.
    (ws.InvalidRequestError, SUCCESS),
    (ws.AmbiguousSubmitError, FAILURE),
    (ws.NetworkError, FAILURE),
    (ws.ServerError, FAILURE),
    (ws.ProtocolError, FAILURE),
)


def classify(answer: object) -> str:
    """SUCCESS, FAILURE, NEUTRAL, or the reason an answer refuses the account for."""
    if not isinstance(answer, ws.WaveSpeedError):
        return SUCCESS  # a prediction, a balance: the API answered
    for error_type, kind in _KINDS_BY_ERROR:
        if isinstance(answer, error_type):
            return kind
    return NEUTRAL


# --- reading the state ---------------------------------------------------------------------


def current() -> CircuitBreaker:
    """The breaker as it stands (closed, unsaved, before anything has ever gone wrong)."""
    return CircuitBreaker.objects.filter(pk=NAME).first() or CircuitBreaker(name=NAME)


def locked() -> CircuitBreaker:
    """The breaker's row, locked until the caller's transaction ends.

    Admission takes it to serialise its decisions across workers and hosts: PostgreSQL holds
    the row lock (SELECT ... FOR UPDATE); SQLite's IMMEDIATE transactions (see settings)
    already hold the database's write lock from BEGIN, and FOR UPDATE is left out there.
    """
    CircuitBreaker.objects.get_or_create(pk=NAME)
    return CircuitBreaker.objects.select_for_update().get(pk=NAME)


# --- recording outcomes --------------------------------------------------------------------


@contextmanager
def observing() -> Iterator[None]:
    """Record the outcome of the API calls made inside: their error, or their success."""
    try:
        yield
    except ws.WaveSpeedError as error:
        record_outcome(error)
        raise
    record_outcome(None)


def record_outcome(error: ws.WaveSpeedError | None) -> None:
    """Count one call's outcome: None for an answer, or the client's error."""
    _record(classify(error), str(error) if error is not None else "", count=1)


def record_outcomes(answers: Iterable[object]) -> None:
    """Count calls made at once (the sweeper's polls) as one outcome.

    Any answer shows the API up, whatever the others said (one prediction's result may fail
    on its own); otherwise a refused account wins, and transient failures add up.
    """
    kinds: list[str] = []
    details: dict[str, str] = {}
    for answer in answers:
        kind = classify(answer)
        kinds.append(kind)
        if isinstance(answer, ws.WaveSpeedError):
            details[kind] = str(answer)
    for kind in (SUCCESS, Reason.KEY_REFUSED, Reason.OUT_OF_FUNDS, FAILURE):
        if kind in kinds:
            _record(kind, details.get(kind, ""), count=kinds.count(kind))
            return


def _record(kind: str, detail: str, *, count: int) -> None:
    now = timezone.now()
    rows = CircuitBreaker.objects.filter(pk=NAME)
    if kind == SUCCESS:
        # Read first: a write on every answer would queue every worker behind one lock.
        if rows.filter(state=State.CLOSED, failures__gt=0).exists():
            rows.filter(state=State.CLOSED).update(failures=0)
        return
    if kind == NEUTRAL:
        return
    CircuitBreaker.objects.get_or_create(pk=NAME)
    detail = detail[:1000]
    if kind == FAILURE:
        rows.filter(state=State.CLOSED).update(failures=F("failures") + count, detail=detail)
        opened = rows.filter(state=State.CLOSED, failures__gte=FAILURE_THRESHOLD).update(
            state=State.OPEN,
            reason=Reason.OUTAGE,
            opened_at=now,
            next_probe_at=now + probe_delay(Reason.OUTAGE, 0),
            probes=0,
        )
        if opened:
            log.warning(
                "The WaveSpeed API failed %d times in a row (last: %s); submits wait until "
                "a probe finds it answering",
                FAILURE_THRESHOLD,
                detail,
            )
        return
    # A refused key or an empty balance: one answer says it all.
    opened = rows.exclude(state__in=(State.OPEN, State.HALF_OPEN), reason=kind).update(
        state=State.OPEN,
        reason=kind,
        detail=detail,
        opened_at=now,
        next_probe_at=now + probe_delay(kind, 0),
        probes=0,
        failures=0,
    )
    if opened:
        log.error("WaveSpeed refused the account (%s); submits are paused", detail)


# --- the probe -----------------------------------------------------------------------------


def probe_delay(reason: str, failed_probes: int) -> timedelta:
    """How long until the next probe, after this many failed ones."""
    if reason == Reason.OUTAGE:
        steps = OUTAGE_PROBE_SECONDS
        return timedelta(seconds=steps[min(failed_probes, len(steps) - 1)])
    return timedelta(seconds=ACCOUNT_PROBE_SECONDS)


def probe_due(now: datetime) -> bool:
    """Whether an open breaker's probe is due (a read only: the sweeper asks on every look)."""
    return CircuitBreaker.objects.filter(
        pk=NAME, state__in=(State.OPEN, State.HALF_OPEN), next_probe_at__lte=now
    ).exists()


def probe_if_due(client: ws.WaveSpeedClient, now: datetime) -> bool:
    """Ask the balance endpoint if an open breaker's probe is due; True when it closed it.

    One worker runs a probe at a time: it claims the probe (open -> half-open) with a
    conditional update; a claim whose worker died is taken over after PROBE_CLAIM_SECONDS.
    """
    rows = CircuitBreaker.objects.filter(pk=NAME)
    due = rows.filter(state__in=(State.OPEN, State.HALF_OPEN), next_probe_at__lte=now)
    # Read first: the sweeper asks on every pass, and a write each time would queue writers.
    if not due.exists():
        return False
    claimed = due.update(
        state=State.HALF_OPEN, next_probe_at=now + timedelta(seconds=PROBE_CLAIM_SECONDS)
    )
    if not claimed:
        return False
    breaker = rows.get()
    probing = rows.filter(state=State.HALF_OPEN)
    balance: float | None
    try:
        balance = client.get_balance()
    except ws.WaveSpeedError as error:
        kind = classify(error)
        if kind != SUCCESS:
            # A refused account says why; anything else keeps the reason it opened for.
            reason = kind if kind in (Reason.KEY_REFUSED, Reason.OUT_OF_FUNDS) else breaker.reason
            failed = breaker.probes + 1
            probing.update(
                state=State.OPEN,
                reason=reason,
                detail=str(error)[:1000],
                probes=failed,
                next_probe_at=timezone.now() + probe_delay(reason, failed),
            )
            return False
        # The API answered and did not refuse the key, but has no balance to show (the
        # endpoint moved?): let submits try; one refused submit opens the breaker again.
        balance = None
    if (
        breaker.reason == Reason.OUT_OF_FUNDS
        and balance is not None
        and Decimal(str(balance)) < settings.PRICE_PER_IMAGE
    ):
        probing.update(
            state=State.OPEN,
            detail=f"balance ${balance:.2f}",
            probes=breaker.probes + 1,
            next_probe_at=timezone.now() + probe_delay(breaker.reason, breaker.probes + 1),
        )
        return False
    closed = probing.update(
        state=State.CLOSED,
        reason=Reason.NONE,
        detail="",
        failures=0,
        probes=0,
        opened_at=None,
        next_probe_at=None,
    )
    if closed:
        log.info("WaveSpeed answers again (%s); submits resume", breaker.get_reason_display())
    return bool(closed)


# --- words -----------------------------------------------------------------------------------

# For the people whose generations wait: plain words, nothing to do.
WAITING_WORDS: dict[str, str] = {
    Reason.OUTAGE: "Waiting: the WaveSpeed API is not answering; retrying automatically.",
    Reason.KEY_REFUSED: "Waiting: WaveSpeed refused this server's API key. An administrator "
    "needs to fix it; your generation goes on by itself then.",
    Reason.OUT_OF_FUNDS: "Waiting: the WaveSpeed account has run out of money. An "
    "administrator needs to top it up; your generation goes on by itself then.",
}
# For a generation that waited until its queue deadline ({waited}) while the breaker was open.
GAVE_UP_WORDS: dict[str, str] = {
    Reason.OUTAGE: "Not sent within {waited}: the WaveSpeed API was not answering. Nothing "
    "was charged; try again later.",
    Reason.KEY_REFUSED: "Not sent within {waited}: WaveSpeed refused this server's API key. "
    "Nothing was charged; try again once an administrator has fixed it.",
    Reason.OUT_OF_FUNDS: "Not sent within {waited}: the WaveSpeed account was out of money. "
    "Nothing was charged; try again once it is topped up.",
}


@dataclass(frozen=True)
class StaffNotice:
    """What staff see while the breaker is open: what happened, and what to do."""

    reason: str
    message: str
    action: str
    link: str
    detail: str
    since: datetime | None


def staff_notice() -> StaffNotice | None:
    """The banner for staff while submitting is paused, or None."""
    breaker = current()
    if breaker.state == State.CLOSED:
        return None
    if breaker.reason == Reason.KEY_REFUSED:
        message = "WaveSpeed refused the API key: set a valid WAVESPEED_API_KEY and restart."
        action, link = "Manage API keys", ACCESS_KEY_URL
    elif breaker.reason == Reason.OUT_OF_FUNDS:
        message = (
            f"The WaveSpeed balance is empty: top it up at {TOP_UP_URL}; "
            "submitting resumes by itself."
        )
        action, link = "Top up", TOP_UP_URL
    else:
        message = (
            "The WaveSpeed API is not answering: new generations wait and go once a probe "
            "finds it answering again."
        )
        action, link = "", ""
    return StaffNotice(
        reason=breaker.reason,
        message=message,
        action=action,
        link=link,
        detail=breaker.detail,
        since=breaker.opened_at,
    )
