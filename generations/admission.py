"""Admission: may a submit be sent now? The account's limits and the provider's breaker.

WaveSpeed accounts cap the tasks running at once and the images started per minute (the
default tier: 3 and 10). `WAVESPEED_MAX_CONCURRENT` and `WAVESPEED_MAX_PER_MINUTE` tell the
app those caps (unset: no cap). In flight means submitting or processing (the API's
concurrency counts tasks running); per minute means submits sent in the last 60 s
(`SentSubmit`). The breaker (generations/breaker.py) holds every submit back while the API
is down or refuses the account.

A generation that may not go yet stays queued (not failed, no attempt counted) in a waiting
line, oldest first, and its page says so. When a slot frees (a prediction finishes, the
minute moves on, the breaker closes), the sweeper's `release_waiting` releases the oldest
waiting generations into the free slots: they become due, and their submits ask again.

Races: the decision and the submit claim are one transaction that holds the breaker's row
lock on PostgreSQL (SELECT ... FOR UPDATE) and the write lock on SQLite (IMMEDIATE
transactions), so two workers on two hosts never both take the last slot. Without caps there
is nothing to race for, and no lock is taken.

Waiting has the deadline every queued generation has, GENERATION_QUEUE_TIMEOUT_SECONDS from
its creation, breaker or not; the sweeper then fails it with `gave_up_words`, which name the
cause. A refused key can last all night, and a request made an hour earlier is rarely still
wanted: sending a pile of them the moment the key is fixed would spend money on images
nobody is waiting for.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from generations import breaker, enqueue
from generations.models import Generation, SentSubmit, WaitingGeneration

S = Generation.Status
IN_FLIGHT = (S.SUBMITTING, S.PROCESSING)
WINDOW = timedelta(seconds=60)
# A released generation whose submit has not claimed it by then lost it (its worker died): it
# is released again.
RELEASE_GRACE_SECONDS = 30
# While generations wait for a slot, the sweeper looks for one this often: a slot can also be
# freed outside the sweeper (a submit the API refused).
WAITING_RECHECK_SECONDS = 2.0
# Moments further off than this are left to the every-minute sweep schedule, rather than
# keeping a sweeper (and its worker) waiting for them.
NEAR_SECONDS = 60
RELEASE_BATCH = 100


@dataclass(frozen=True)
class Limits:
    """The account's caps, as configured; None: no cap."""

    max_concurrent: int | None
    max_per_minute: int | None

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(settings.WAVESPEED_MAX_CONCURRENT, settings.WAVESPEED_MAX_PER_MINUTE)

    @property
    def any(self) -> bool:
        return self.max_concurrent is not None or self.max_per_minute is not None

    def room(self, now: datetime) -> int | None:
        """How many more submits the caps allow now; None when there is no cap."""
        rooms = []
        if self.max_concurrent is not None:
            in_flight = Generation.objects.filter(status__in=IN_FLIGHT).count()
            rooms.append(self.max_concurrent - in_flight)
        if self.max_per_minute is not None:
            sent = SentSubmit.objects.filter(sent_at__gt=now - WINDOW).count()
            rooms.append(self.max_per_minute - sent)
        return max(0, min(rooms)) if rooms else None


# --- the decision --------------------------------------------------------------------------


class Claim(enum.Enum):
    """What became of a submit's claim."""

    TAKEN = "taken"  # this caller sends it
    WAITING = "waiting"  # held back: in the waiting line until released
    GONE = "gone"  # already sent, finished or deleted


def claim(generation_id: int, claim_submit: Callable[[int, datetime], bool]) -> Claim:
    """Take a queued generation's submit claim if it may be sent now.

    `claim_submit` is the life cycle's step (queued -> submitting, the attempt counted), run
    under admission's lock so that the decision and the claim are one. A generation held back
    stays queued, in the waiting line, with no attempt counted.
    """
    now = timezone.now()
    limits = Limits.from_settings()
    if not limits.any and breaker.current().state == breaker.State.CLOSED:
        # Nothing to race for: the claim is one conditional UPDATE, taken outside a
        # transaction so that it holds SQLite's write lock for that statement alone (a
        # burst's submits otherwise queue behind each other's reads).
        return _take(generation_id, now, limits, claim_submit)
    with transaction.atomic():
        state = breaker.locked().state if limits.any else breaker.current().state
        created_at = (
            Generation.objects.filter(pk=generation_id, status=S.QUEUED)
            .values_list("created_at", flat=True)
            .first()
        )
        if created_at is None:
            return Claim.GONE  # already sent, finished or deleted: a second delivery does nothing
        if state == breaker.State.CLOSED and _may_go(limits, generation_id, created_at, now):
            return _take(generation_id, now, limits, claim_submit)
        if _wait(generation_id, created_at, now):
            # A sweeper releases it once a slot frees or the breaker closes.
            transaction.on_commit(enqueue.sweep)
    return Claim.WAITING


def _take(
    generation_id: int,
    now: datetime,
    limits: Limits,
    claim_submit: Callable[[int, datetime], bool],
) -> Claim:
    """The claim itself, once admission lets the generation go; GONE if it was not queued."""
    if not claim_submit(generation_id, now):
        return Claim.GONE  # already sent, finished or deleted: a second delivery does nothing
    # A delete is a transaction of its own (Django's collector): read first.
    waiting = WaitingGeneration.objects.filter(pk=generation_id)
    if waiting.exists():
        waiting.delete()
    if limits.max_per_minute is not None:
        SentSubmit.objects.filter(sent_at__lte=now - WINDOW).delete()
        SentSubmit.objects.create(sent_at=now)
    return Claim.TAKEN


def _may_go(limits: Limits, generation_id: int, created_at: datetime, now: datetime) -> bool:
    room = limits.room(now)
    if room is None:
        return True
    # First come, first served: the free slots go to those that have waited longest.
    return room > 0 and _ahead_of(generation_id, created_at) < room


def _ahead_of(generation_id: int, queued_at: datetime) -> int:
    """Generations waiting in front of this one (older, or as old with a smaller id)."""
    older = Q(queued_at__lt=queued_at) | Q(queued_at=queued_at, generation_id__lt=generation_id)
    return _waiting().filter(older).count()


def _waiting():
    """The waiting line: rows of generations that are still queued."""
    return WaitingGeneration.objects.filter(generation__status=S.QUEUED)


def _wait(generation_id: int, created_at: datetime, now: datetime) -> bool:
    """Put a generation in the waiting line, or keep it there; True when it has just joined."""
    _, joined = WaitingGeneration.objects.update_or_create(
        generation_id=generation_id,
        defaults={"released_at": None},
        create_defaults={"queued_at": created_at, "waiting_since": now, "released_at": None},
    )
    return joined


# --- the sweeper's part --------------------------------------------------------------------


def release_waiting(now: datetime) -> list[int]:
    """The oldest waiting generations, as many as there are free slots, marked released.

    The caller makes them due, so their submits ask again; one not claimed within
    RELEASE_GRACE_SECONDS (its worker died) is released again.
    """
    if not WaitingGeneration.objects.exists():
        return []
    # Rows of generations that left the queue otherwise (failed at the queue deadline).
    WaitingGeneration.objects.exclude(generation__status=S.QUEUED).delete()
    if breaker.current().state != breaker.State.CLOSED:
        return []
    lost_before = now - timedelta(seconds=RELEASE_GRACE_SECONDS)
    room = Limits.from_settings().room(now)
    # Released ones whose tasks have not run yet will take slots of their own.
    pending = _waiting().filter(released_at__gt=lost_before).count()
    free = RELEASE_BATCH if room is None else min(room - pending, RELEASE_BATCH)
    if free <= 0:
        return []
    candidates = (
        _waiting()
        .filter(Q(released_at=None) | Q(released_at__lte=lost_before))
        .order_by("queued_at", "generation_id")
        .values_list("generation_id", "released_at")[:free]
    )
    released = []
    for generation_id, released_at in list(candidates):
        # Conditional: a sweeper and the schedule's sweep never release it twice.
        taken = WaitingGeneration.objects.filter(pk=generation_id, released_at=released_at).update(
            released_at=now
        )
        if taken:
            released.append(generation_id)
    return released


def next_due(now: datetime) -> datetime | None:
    """When the sweeper should next run `run_due`; None when nothing is due within a minute.

    An outage's probe, or, while generations wait for a slot, the next look for one. A
    refused key or an empty balance waits for a person: the every-minute sweep probes those.
    """
    state = breaker.current()
    if state.state != breaker.State.CLOSED:
        at = state.next_probe_at if state.reason == breaker.Reason.OUTAGE else None
    elif _waiting().exists():
        at = now + timedelta(seconds=WAITING_RECHECK_SECONDS)
    else:
        return None
    if at is None or at - now > timedelta(seconds=NEAR_SECONDS):
        return None
    return at


# --- words ---------------------------------------------------------------------------------


def waiting_words(generation: Generation) -> str:
    """What a queued generation's page says of its wait; "" when nothing holds it back."""
    if generation.status != S.QUEUED:
        return ""
    state = breaker.current()
    if state.state != breaker.State.CLOSED:
        return breaker.WAITING_WORDS.get(state.reason, breaker.WAITING_WORDS[breaker.Reason.OUTAGE])
    queued_at = (
        WaitingGeneration.objects.filter(pk=generation.pk)
        .values_list("queued_at", flat=True)
        .first()
    )
    if queued_at is None:
        return ""
    ahead = _ahead_of(generation.pk, queued_at)
    if ahead == 0:
        return "Waiting for a free slot; next in line."
    return f"Waiting for a free slot, {ahead} ahead."


def waiting_count() -> int:
    """How many generations wait in line."""
    return _waiting().count()


def gave_up_words(generation_id: int) -> str:
    """Why a generation still queued at GENERATION_QUEUE_TIMEOUT_SECONDS is given up: its cause."""
    waited = duration_words(settings.GENERATION_QUEUE_TIMEOUT_SECONDS)
    state = breaker.current()
    if state.state != breaker.State.CLOSED and state.reason in breaker.GAVE_UP_WORDS:
        return breaker.GAVE_UP_WORDS[state.reason].format(waited=waited)
    if WaitingGeneration.objects.filter(pk=generation_id).exists():
        return (
            f"Not sent within {waited}: no slot on the WaveSpeed account came free. Nothing "
            "was charged; try again later."
        )
    return "The API could not take this request for too long; try again later."


def duration_words(seconds: float) -> str:
    """'1 minute', '60 minutes', '90 seconds'."""
    whole = round(seconds)
    number, unit = (whole // 60, "minute") if whole % 60 == 0 else (whole, "second")
    return f"{number} {unit}" + ("" if number == 1 else "s")
