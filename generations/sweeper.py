"""The sweeper: one task that makes the pipeline's API calls, and starts the downloads.

django-q2 has no delayed enqueue and a task holds its worker until it returns, so a task per
generation that sleeps between polls, or a task per submit waiting for its answer, would need
a worker each: two hung submits would hold both default workers while a finished image waited
behind them for its download. Instead one sweeper, guarded by a lease, runs for a short slice
and then re-enqueues itself behind whatever else waits (downloads, mostly). Within a slice it
never waits on the API itself:

- **Polls** run in a pool of threads of the slice, through a client whose calls end shortly
  after the slice does. Each answer is applied as it arrives, so a slow, throttled or failing
  poll holds up no other: `Retry-After` and back-off set that generation's own next check
  (`following.note_poll_error`). A poll still running when the slice ends is dropped: it only
  read, and its generation is still due, so the next slice asks again.
- **Errands**, submits and settles, are calls that record their own outcome through the life
  cycle's steps, with a database connection of their own that they close. They run in a
  bounded pool of threads that outlives the slice (one pool per worker process): a hung
  submit takes one thread, not a worker, and when its answer comes, after its slice is over,
  the claim it took before sending and the conditional steps record it exactly once. If the
  process dies mid-call, the claim is abandoned and settled like any unconfirmed submit,
  never resent blindly.
- **Downloads** of what a poll saw completed start the moment its answer is committed, in
  a few threads of the sweeper's process (`downloads`), or as ingest tasks for the other
  workers when all are busy (always, with Redis's quick delivery).
- **The account's wait** (`throttle`): when several polls in a row are answered 429, the whole
  account waits once; until then the sweeper starts no poll, settle or submit.

The lease lives a minute longer than a slice and the sweeper renews it every few seconds (it
never blocks on the API, so nothing stretches the time between renewals); a sweeper that
finds it taken stops before writing anything, so two never run side by side. The same pass
recovers work a broker lost: unconfirmed submits and downloads whose worker died. A
django-q2 schedule starts a sweep every minute as a safety net.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_any
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from generations import (
    admission,
    breaker,
    enqueue,
    following,
    ingest,
    leases,
    lifecycle,
    provider,
    settling,
    submission,
    throttle,
)
from generations.downloads import downloads
from generations.models import Generation
from generations.thread_pools import KeyedThreads
from generations.wavespeed import client as ws

log = logging.getLogger(__name__)

S = Generation.Status
LEASE_NAME = enqueue.SWEEPER_LEASE
BATCH_SIZE = 500
# The lease lives this much longer than a slice and is renewed at least this often, and
# before any write once that long has passed: far more often than it could lapse.
LEASE_EXTRA_SECONDS = enqueue.SWEEPER_LEASE_EXTRA_SECONDS
LEASE_RENEW_SECONDS = 5.0
# While it runs, the sweeper looks for new work at least this often, and at most this often:
# a look is about ten queries, and with hundreds in flight, answers and due checks come every
# few milliseconds. Answers are applied as they come; what a look starts waits at most this.
LOOK_INTERVAL_SECONDS = 0.5
LOOK_GAP_SECONDS = 0.05
RECOVERY_INTERVAL_SECONDS = LOOK_INTERVAL_SECONDS
# A slice ends early, within this long of its end, at a moment with no check due within the
# hand-over to the next slice (`Sweep.quiet_near_the_end`); longer than a poll interval, so
# such a moment comes between two polls of the same prediction.
HANDOVER_WINDOW_SECONDS = 1.5
HANDOVER_SECONDS = 0.6
# The safety-net schedule's interval (migration 0002_sweep_schedule): it starts a sweep every
# minute, so checks due later than that need no sweeper kept waiting for them.
SCHEDULE_INTERVAL_SECONDS = 60.0
# Polls are cut this long after the slice ends; whatever they answer by then is dropped.
POLL_GRACE_SECONDS = 2.0
# The longest a settle may take (every page of the list); other sweeps leave its generation
# alone a little longer, so two settles of one submit never run at once.
SETTLE_BUDGET_SECONDS = 120.0
SETTLE_HOLD_SECONDS = SETTLE_BUDGET_SECONDS + 30.0
# The settle and probe errands' keys among the errands, which are otherwise keyed by
# generation: no generation has the id 0 or -1.
SETTLE_ERRAND = 0
PROBE_ERRAND = -1
# A prediction whose result answered 404 on enough polls in a row: the history decides.
MISSING = Q(
    status=S.PROCESSING,
    failed_poll_code=404,
    failed_polls__gte=following.MISSING_AFTER_POLLS,
)

# What keeps the sweeper going: predictions to poll, submits to make, to settle or to retry.
# A claimed submit has its errand; one whose worker died is found by the every-minute sweep.
WATCHED = (
    Q(status=S.PROCESSING) | Q(status=S.SUBMITTING, submit_ambiguous=True) | Q(status=S.QUEUED)
)


def run_slice(max_seconds: float | None = None) -> bool:
    """Sweep for up to `max_seconds` while anything is in flight; False if another sweeper ran."""
    max_seconds = settings.SWEEP_SLICE_SECONDS if max_seconds is None else max_seconds
    sweep = Sweep(max_seconds)
    if not sweep.take_lease():
        return False  # another sweeper is running
    try:
        sweep.run()
    finally:
        sweep.close()
    # Re-checked after the release: work that arrived while the lease was held, and whose
    # own kick found it taken, is picked up here. Checks further off are the every-minute
    # schedule's: a sweeper re-enqueued for them would hold a worker while it waits.
    next_check = seconds_until_next_check(timezone.now())
    if next_check is not None and next_check <= SCHEDULE_INTERVAL_SECONDS:
        enqueue.sweep()
    return True


def sweep_once(now: datetime, max_seconds: float | None = None) -> None:
    """One look at everything due, then wait (up to a slice) for the calls it started.

    For tests and the shell: it takes no lease.
    """
    sweep = Sweep(
        settings.SWEEP_SLICE_SECONDS if max_seconds is None else max_seconds, leased=False
    )
    try:
        sweep.look(now)
        sweep.finish_started_calls()
    finally:
        sweep.close()


def seconds_until_next_check(
    now: datetime, excluding: set[int] | frozenset[int] = frozenset()
) -> float | None:
    """Seconds until the next watched generation is due (0 if overdue), None if none is.

    `excluding`: generations with a call in flight, which are not waiting for a check.
    """
    watched = Generation.objects.filter(WATCHED)
    if excluding:
        watched = watched.exclude(pk__in=excluding)
    due = watched.aggregate(at=Min("next_check_at"))["at"]
    # Admission's own moments: an outage's probe, a look for a free slot while some wait.
    due = min((at for at in (due, admission.next_due(now)) if at is not None), default=None)
    if due is None:
        return None
    return max(0.0, (due - now).total_seconds())


class Sweep:
    """One slice of sweeping: its lease, its polls in flight and the answers still to apply."""

    def __init__(self, max_seconds: float, *, leased: bool = True) -> None:
        self.leased = leased
        self.holder = uuid.uuid4().hex
        self.ends_at = time.monotonic() + max_seconds
        # A short slice (the tests') keeps most of its length.
        self.handover_window = min(HANDOVER_WINDOW_SECONDS, max_seconds / 4)
        self.lease_ttl = max_seconds + LEASE_EXTRA_SECONDS
        self.renewed_at = float("-inf")
        self.polls: dict[Future[ws.Prediction | ws.WaveSpeedError], Generation] = {}
        self.started_errands: list[Future[None]] = []
        self.streak = throttle.Streak()
        self.backlog = False  # due work left for lack of a free thread
        self.next_due_at: float | None = 0.0  # monotonic; unknown until the first look
        self.recovered_at = float("-inf")  # monotonic: when a look last ran the recovery
        self._poll_pool: ThreadPoolExecutor | None = None
        self._poll_client: ws.WaveSpeedClient | None = None

    # -- the lease ------------------------------------------------------------------------------

    def take_lease(self) -> bool:
        if not leases.acquire(LEASE_NAME, self.holder, ttl_seconds=self.lease_ttl):
            return False
        self.renewed_at = time.monotonic()
        return True

    def lease_held(self) -> bool:
        """Whether this sweeper still holds the lease, renewing it when it is due."""
        if not self.leased or time.monotonic() - self.renewed_at < LEASE_RENEW_SECONDS:
            return True
        return self.take_lease()

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> None:
        """Look for due work, start its calls, apply answers as they come, until the end."""
        look_at = time.monotonic()
        looked_at = float("-inf")
        errands_seen = _errands.finished
        while self.lease_held():
            applied = self.apply_answers()
            if time.monotonic() >= self.ends_at or self.quiet_near_the_end():
                break
            errands_done = _errands.finished != errands_seen
            errands_seen = _errands.finished
            if applied or errands_done:
                # Something finished that freed a thread, or made new work due: look soon.
                look_at = min(look_at, looked_at + LOOK_GAP_SECONDS)
            if time.monotonic() >= look_at:
                looked_at = time.monotonic()
                due_in = self.look(timezone.now())
                self.next_due_at = None if due_in is None else time.monotonic() + due_in
                # Downloads under way keep it too: the slice ends with its images stored.
                idle = not self.polls and not _errands.busy() and not downloads.pending()
                if idle and (due_in is None or due_in > SCHEDULE_INTERVAL_SECONDS):
                    break  # nothing due within the schedule's minute: the worker goes free
                pause = LOOK_INTERVAL_SECONDS if due_in is None or self.backlog else due_in
                look_at = looked_at + max(LOOK_GAP_SECONDS, min(pause, LOOK_INTERVAL_SECONDS))
            self.wait_until(min(look_at, self.ends_at))

    def quiet_near_the_end(self) -> bool:
        """Whether the slice may end now, early, to hand over while no check falls due.

        The next slice starts a moment after this one ends (the broker hands its task to a
        worker); a check due in that moment waits for it. Near its end, a slice ends at the
        first moment with no call in flight and no check due within the hand-over, so that
        with a few predictions in flight none is seen late for it.
        """
        now = time.monotonic()
        if now < self.ends_at - self.handover_window or self.polls or _errands.busy():
            return False
        return self.next_due_at is None or self.next_due_at - now > HANDOVER_SECONDS

    def look(self, now: datetime) -> float | None:
        """Start the calls of everything due; seconds until the next check, None if none."""
        # Downloads and claims whose worker died are found on a scale of seconds (they are
        # stale after INGEST_STALE_SECONDS, or when their claim runs out), and neither counts
        # as a check due: looked for at most every RECOVERY_INTERVAL_SECONDS, not at every
        # look, which with hundreds in flight comes every few dozen milliseconds.
        if time.monotonic() - self.recovered_at >= RECOVERY_INTERVAL_SECONDS:
            self.recovered_at = time.monotonic()
            _reingest_stale(now)
            _abandon_claims(now)
        until = throttle.throttled_until(now)
        self.backlog = False
        if until is None:
            self._start_probe(now)
            # Slots freed since the last look go to the generations waiting longest.
            for generation_id in admission.release_waiting(now):
                lifecycle.release_submit(generation_id, now)
            self._start_submits(now)
            # Before the polls: a result gone missing is held for its settle, not polled.
            self._start_settles(now)
            self._start_polls(now)
        in_flight = {generation.pk for generation in self.polls.values()} | _errands.running()
        due_in = seconds_until_next_check(now, excluding=in_flight)
        if until is not None and due_in is not None:
            due_in = max(due_in, (until - now).total_seconds())
        return due_in

    def wait_until(self, moment: float) -> None:
        """Sleep until `moment` (monotonic), waking early when a call finishes."""
        seconds = moment - time.monotonic()
        if seconds <= 0:
            return
        in_flight: list[Future[Any]] = [*self.polls, *_errands.futures()]
        if in_flight:
            wait_for_any(in_flight, timeout=seconds, return_when=FIRST_COMPLETED)
        else:
            time.sleep(seconds)

    def finish_started_calls(self) -> None:
        """Wait, until the slice ends, for the calls this sweep started; apply the answers."""
        while self.polls or any(not errand.done() for errand in self.started_errands):
            if time.monotonic() >= self.ends_at:
                break
            self.wait_until(self.ends_at)
            self.apply_answers()

    def apply_answers(self) -> int:
        """Record the answers of the polls that finished, in one transaction; how many."""
        finished = [future for future in self.polls if future.done()]
        if not finished:
            return 0
        if not self.lease_held():
            return 0  # another sweeper took over: it polls these again
        answered_at = timezone.now()
        answers = [future.result() for future in finished]
        breaker.record_outcomes(answers)  # polls answered together are one outcome
        # A leased sweeper downloads what completed in its own process, at once; the shell's
        # and the tests' sweeps leave it to an ingest task.
        download = _download if self.leased else None
        with transaction.atomic():
            for future, answer in zip(finished, answers, strict=True):
                generation = self.polls.pop(future)
                if isinstance(answer, ws.WaveSpeedError):
                    following.note_poll_error(generation, answer, answered_at)
                else:
                    following.apply_prediction(
                        generation, answer, answered_at, download_with=download
                    )
                self.streak.note(answer, answered_at)
        return len(finished)

    def close(self) -> None:
        """Give the lease up and drop the polls still running: their answers are never read."""
        if self.leased:
            leases.release(LEASE_NAME, self.holder)
        self.polls.clear()
        if self._poll_pool is not None:
            # Their calls end by the slice's end plus the grace; nothing waits for them.
            self._poll_pool.shutdown(wait=False, cancel_futures=True)
        if self._poll_client is not None:
            self._poll_client.close()

    # -- starting calls -------------------------------------------------------------------------

    def _start_polls(self, now: datetime) -> None:
        # Answers not yet applied hold no connection: only calls under way count.
        free = settings.SWEEP_CONCURRENCY - sum(not future.done() for future in self.polls)
        polling = {generation.pk for generation in self.polls.values()}
        due = list(
            Generation.objects.filter(status=S.PROCESSING, next_check_at__lte=now)
            .exclude(pk__in=polling)
            # The history decides a result gone missing: its settle, not one more 404 (while a
            # settle errand is still busy, these wait for the next one).
            .exclude(MISSING)
            .order_by("next_check_at")[: max(free, 0) + 1]
        )
        self.backlog |= len(due) > free
        for generation in due[:free]:
            self.polls[self._pool().submit(self._fetch, generation.prediction_id)] = generation

    def _fetch(self, prediction_id: str) -> ws.Prediction | ws.WaveSpeedError:
        """A poll's thread: one read, no database, no sleeping; errors are answers too."""
        client = self._poll_client
        assert client is not None
        try:
            return client.get_result(prediction_id)
        except ws.WaveSpeedError as error:
            return error
        except Exception as error:
            log.exception("Polling %s failed unexpectedly", prediction_id)
            return ws.WaveSpeedError(f"the poll failed unexpectedly: {type(error).__name__}")

    def _pool(self) -> ThreadPoolExecutor:
        if self._poll_pool is None:
            self._poll_pool = ThreadPoolExecutor(
                max_workers=settings.SWEEP_CONCURRENCY, thread_name_prefix="sweep-poll"
            )
            # One attempt per poll: a failure is that generation's to retry at its next check.
            self._poll_client = provider.get_client(
                deadline=self.ends_at + POLL_GRACE_SECONDS, max_retries=0
            )
        return self._poll_pool

    def _start_submits(self, now: datetime) -> None:
        due = Generation.objects.filter(status=S.QUEUED, next_check_at__lte=now).exclude(
            pk__in=_errands.running()
        )
        for generation_id, created_at in due.order_by("next_check_at").values_list(
            "pk", "created_at"
        )[:BATCH_SIZE]:
            age = now - created_at
            if age > timedelta(seconds=settings.GENERATION_QUEUE_TIMEOUT_SECONDS):
                # The words name what held it back (the breaker, the account's limits) if anything.
                lifecycle.fail(generation_id, S.QUEUED, admission.gave_up_words(generation_id))
                continue
            if not self._start_errand(generation_id, submission.submit):
                return

    def _start_settles(self, now: datetime) -> None:
        """One errand reads the history for every unconfirmed submit and vanished prediction due."""
        if SETTLE_ERRAND in _errands.running():
            return  # the pass's read is still under way; its generations are held meanwhile
        unconfirmed = (
            Generation.objects.filter(status=S.SUBMITTING, submit_ambiguous=True)
            .filter(Q(next_check_at__lte=now) | Q(next_check_at=None))
            .values_list("pk", flat=True)
        )
        # Results that answered 404 twice in a row: the history says whether they still exist.
        missing = Generation.objects.filter(MISSING, next_check_at__lte=now).values_list(
            "pk", flat=True
        )
        due = [*unconfirmed[:BATCH_SIZE], *missing[:BATCH_SIZE]]
        if not due:
            return
        if _errands.free() <= 0:
            self.backlog = True
            return
        # Left alone by other sweeps and by polls while the history is read: one settle at once.
        until = now + timedelta(seconds=SETTLE_HOLD_SECONDS)
        for generation_id in due:
            lifecycle.hold_for_settle(generation_id, until)
        self._start_errand(SETTLE_ERRAND, lambda _key: _settle(due))

    def _start_probe(self, now: datetime) -> None:
        """The breaker's probe, when one is due, as an errand: the sweep never waits on it."""
        if PROBE_ERRAND not in _errands.running() and breaker.probe_due(now):
            self._start_errand(PROBE_ERRAND, lambda _key: _probe())

    def _start_errand(self, generation_id: int, work: Callable[[int], None]) -> bool:
        errand = _errands.start(generation_id, work)
        if errand is None:
            self.backlog = True
            return False
        self.started_errands.append(errand)
        return True


def _settle(generation_ids: list[int]) -> None:
    """The settle errand: one read of the history for all these generations, within its budget."""
    generations = list(
        Generation.objects.filter(pk__in=generation_ids).filter(
            Q(status=S.SUBMITTING, submit_ambiguous=True) | MISSING
        )
    )
    if not generations:
        return  # settled or finished meanwhile
    deadline = time.monotonic() + SETTLE_BUDGET_SECONDS
    with provider.get_client(deadline=deadline) as client:
        settling.settle_all(generations, client, timezone.now())


def _probe() -> None:
    """The probe errand: ask the balance endpoint whether the provider answers again."""
    with provider.get_client() as client:
        breaker.probe_if_due(client, timezone.now())


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


def _abandon_claims(now: datetime) -> None:
    # A claim that outlived its request without an answer means the worker died mid-submit.
    abandoned = Generation.objects.filter(
        status=S.SUBMITTING, submit_ambiguous=False, next_check_at__lte=now
    ).values_list("pk", flat=True)
    for generation_id in list(abandoned[:BATCH_SIZE]):
        lifecycle.abandon_claim(generation_id, now)


# API calls that record their own outcome; the pool outlives the sweep that started a call,
# so a call answered late is still recorded.
_errands = KeyedThreads(lambda: settings.SWEEP_CONCURRENCY, "errand", what="an API call")


def _download(generation_id: int) -> None:
    """Download in this process's threads if one is free, else through an ingest task."""
    if not downloads.start(generation_id):
        enqueue.ingest(generation_id)
