"""The sweeper against the live simulator: nothing slow, throttled or hung holds up the rest.

The sweeper runs here as django-q2 would run it (`run_slice`), with the downloads it asks for
made inline, so "completed" means the image is in our storage.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from generations import downloads, enqueue, ingest, leases, lifecycle, submission, sweeper, throttle
from generations.models import Generation, Lease
from generations.wavespeed import client as ws
from generations.wavespeed.simulator.config import Faults
from generations.wavespeed.simulator.server import SimulatorServer

pytestmark = [pytest.mark.django_db(transaction=True)]

S = Generation.Status
PARAMS = {
    "aspect_ratio": "1:1",
    "seed": 7,
    "guidance_scale": 3.5,
    "safety_tolerance": "2",
}
# Completed within this of the API finishing it: a poll interval, the download, the slack of
# a busy test machine. A bound on correctness (nothing waited behind anything), not a benchmark.
PROMPT_BOUND_SECONDS = 2.0


@pytest.fixture
def pipeline(monkeypatch) -> list[str]:
    """Downloads made inline when asked for; sweeps asked for are only counted."""
    kicks: list[str] = []
    monkeypatch.setattr(enqueue, "ingest", ingest.ingest_outputs)
    monkeypatch.setattr(enqueue, "sweep", lambda: kicks.append("sweep"))
    return kicks


@pytest.fixture
def renewals(monkeypatch) -> list[tuple[str, float, float, bool]]:
    """Every try to take or renew the sweeper's lease: (holder, when, time to live, held)."""
    seen: list[tuple[str, float, float, bool]] = []
    real = leases.acquire

    def watched(name: str, holder: str, ttl_seconds: float) -> bool:
        held = real(name, holder, ttl_seconds)
        if name == sweeper.LEASE_NAME:
            seen.append((holder, time.monotonic(), ttl_seconds, held))
        return held

    monkeypatch.setattr(leases, "acquire", watched)
    return seen


def generate(owner, prompt: str) -> Generation:
    [generation] = submission.create_batch(owner, {**PARAMS, "prompt": prompt})
    return generation


def api_finished_at(simulator: SimulatorServer, generation: Generation) -> datetime:
    """When the simulator finished the prediction: its creation plus its latency."""
    prediction = simulator.store.get(generation.prediction_id)
    assert prediction is not None
    return prediction.created_at + timedelta(seconds=prediction.latency)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout:g}s: {what}")


def in_thread(work) -> threading.Thread:
    """Run `work` in a thread with a database connection of its own, closed afterwards."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_throttled_prediction_defers_only_itself(alice, simulator, pipeline, renewals):
    throttled = generate(alice, "[throttle=60] a crowded queue")
    quick = [generate(alice, f"A quick paper crane, number {n}") for n in range(3)]

    second_sweeper: list[bool] = []

    def start_a_second_sweeper_while_the_first_runs() -> None:
        wait_for(lambda: Lease.objects.exclude(holder="").exists(), 5, "the first sweeper")
        second_sweeper.append(sweeper.run_slice(max_seconds=1))

    rival = in_thread(start_a_second_sweeper_while_the_first_runs)
    slice_seconds = 3.0
    started = time.monotonic()
    assert sweeper.run_slice(max_seconds=slice_seconds) is True
    took = time.monotonic() - started
    rival.join(timeout=10)

    # Nothing slept inside the sweep: it ended with its slice.
    assert took < slice_seconds + 1.0
    delays = []
    for generation in quick:
        generation.refresh_from_db()
        assert generation.status == S.COMPLETED, generation.error
        delay = (generation.finished_at - api_finished_at(simulator, generation)).total_seconds()
        delays.append(delay)
    print(
        f"\ncompleted {', '.join(f'{d:.2f}' for d in delays)} s after the API; slice {took:.2f} s"
    )
    assert max(delays) < PROMPT_BOUND_SECONDS

    # The throttled one waits the minute its answer asked for, alone.
    throttled.refresh_from_db()
    assert throttled.status == S.PROCESSING
    assert throttled.poll_count == 1
    assert "429" in throttled.error_detail
    wait = (throttled.next_check_at - throttled.updated_at).total_seconds()
    assert 59 <= wait <= 61
    assert throttle.throttled_until(timezone.now()) is None  # one 429 is not the account's

    # One sweeper: the second saw the lease taken and left; the lease was renewed far more
    # often than it could lapse.
    assert second_sweeper == [False]
    first = renewals[0][0]
    own = [(moment, ttl, held) for holder, moment, ttl, held in renewals if holder == first]
    assert all(held for _, _, held in own)
    times = [moment for moment, _, _ in own] + [started + took]
    longest_gap = max(b - a for a, b in itertools.pairwise(times))
    assert longest_gap < sweeper.LEASE_RENEW_SECONDS + 1.0
    assert all(ttl >= longest_gap + 30 for _, ttl, _ in own)


def test_many_throttled_polls_make_the_whole_account_wait_once(
    alice, simulator, pipeline, monkeypatch
):
    polls: list[str] = []
    real_get_result = ws.WaveSpeedClient.get_result

    def counted(self, prediction_id):
        polls.append(prediction_id)
        return real_get_result(self, prediction_id)

    monkeypatch.setattr(ws.WaveSpeedClient, "get_result", counted)
    crowded = [generate(alice, f"[throttle=30] [latency=0] crowd {n}") for n in range(4)]
    sweeper.run_slice(max_seconds=1.5)
    until = throttle.throttled_until(timezone.now())
    assert until is not None
    assert 25 <= (until - timezone.now()).total_seconds() <= 31

    # While the account waits, the sweeper makes no call at all: no poll, no submit.
    asked = len(polls)
    late = generate(alice, "A request made while the account waits")
    Generation.objects.filter(pk__in=[g.pk for g in crowded]).update(next_check_at=timezone.now())
    sweeper.run_slice(max_seconds=1)
    late.refresh_from_db()
    assert len(polls) == asked
    assert late.status == S.QUEUED and late.submit_attempts == 0
    assert len(simulator.store) == len(crowded)


def test_a_poll_still_running_when_the_slice_ends_is_dropped(alice, simulator, pipeline):
    generation = generate(alice, "A slow answer")
    submission.submit(generation.pk)
    # Every answer from now on comes five seconds late.
    simulator.config = replace(simulator.config, faults=Faults(slow=1.0, slow_seconds=5))
    started = time.monotonic()
    sweeper.run_slice(max_seconds=1)
    assert time.monotonic() - started < 1.5
    generation.refresh_from_db()
    # Nothing recorded: the answer never came in time, and the next slice asks again.
    assert generation.status == S.PROCESSING
    assert generation.poll_count == 0 and generation.error_detail == ""
    assert generation.next_check_at <= timezone.now()


def test_a_hung_submit_outlives_its_slice_and_is_recorded_once(alice, simulator, pipeline):
    generation = generate(alice, "[hang=2] [latency=0.2] a late answer")
    started = time.monotonic()
    sweeper.run_slice(max_seconds=0.5)
    # The slice did not wait for the hung answer.
    assert time.monotonic() - started < 1.5
    generation.refresh_from_db()
    assert generation.status == S.SUBMITTING and not generation.submit_ambiguous

    def recorded() -> bool:
        generation.refresh_from_db()
        return generation.status == S.PROCESSING

    wait_for(recorded, 10, "the late answer recorded")
    assert generation.submit_attempts == 1
    assert simulator.store.get(generation.prediction_id) is not None
    assert len(simulator.store) == 1
    # A sweep asked for on commit, and one by the errand once the prediction was to follow.
    assert pipeline == ["sweep", "sweep"]


def test_a_submit_past_its_deadline_is_settled_not_resent(
    alice, simulator, pipeline, settings, monkeypatch
):
    settings.WAVESPEED_SUBMIT_TIMEOUT_SECONDS = 1.0
    unconfirmed: list[int] = []
    real_mark_unconfirmed = lifecycle.mark_unconfirmed

    def noted(generation_id: int, detail: str, now: datetime) -> bool:
        unconfirmed.append(generation_id)
        return real_mark_unconfirmed(generation_id, detail, now)

    monkeypatch.setattr(lifecycle, "mark_unconfirmed", noted)
    generation = generate(alice, "[hang=3] [latency=0.2] an answer that never comes in time")
    sweeper.run_slice(max_seconds=8)

    generation.refresh_from_db()
    assert unconfirmed == [generation.pk]
    assert generation.status == S.COMPLETED, generation.error
    assert generation.submit_attempts == 1
    assert len(simulator.store) == 1  # found through the list, never sent twice


@pytest.mark.parametrize(("due_in", "kept_going"), [(30, True), (3600, False)])
def test_a_sweeper_waits_only_for_checks_within_the_schedules_minute(
    alice, pipeline, due_in, kept_going
):
    # A generation held in line until its queue deadline, or one due again in half a minute.
    [generation] = submission.create_batch(alice, {**PARAMS, "prompt": "A held one"})
    Generation.objects.filter(pk=generation.pk).update(
        next_check_at=timezone.now() + timedelta(seconds=due_in)
    )
    pipeline.clear()  # the sweep its creation asked for
    started = time.monotonic()
    assert sweeper.run_slice(max_seconds=0.5)
    # Further off than the every-minute schedule: the worker goes free at once and nothing
    # is re-enqueued; within it, the slice waits and another is asked for.
    assert (time.monotonic() - started >= 0.5) is kept_going
    assert ("sweep" in pipeline) is kept_going


def test_no_sweep_is_enqueued_while_a_live_sweeper_holds_the_lease(monkeypatch):
    sent: list[str] = []
    monkeypatch.setattr(enqueue, "async_task", lambda name, **kwargs: sent.append(name))

    enqueue.sweep()  # nobody holds it
    assert leases.acquire(sweeper.LEASE_NAME, "running", ttl_seconds=10 + 60)
    enqueue.sweep()  # a sweeper that renewed its lease a moment ago looks for itself
    # A lease that was not renewed for longer than its slice: its sweeper died or is ending.
    Lease.objects.filter(name=sweeper.LEASE_NAME).update(
        expires_at=timezone.now() + timedelta(seconds=50)
    )
    enqueue.sweep()
    leases.release(sweeper.LEASE_NAME, "running")
    enqueue.sweep()

    assert sent == [enqueue.SWEEP_TASK] * 3


def test_a_completed_prediction_is_downloaded_in_the_sweepers_threads_or_by_a_task(
    monkeypatch,
):
    started: list[int] = []
    enqueued: list[int] = []

    def start(generation_id: int) -> bool:
        if len(started) == 2:
            return False  # both threads busy
        started.append(generation_id)
        return True

    monkeypatch.setattr(downloads.downloads, "start", start)
    monkeypatch.setattr(enqueue, "ingest", enqueued.append)

    for generation_id in (1, 2, 3, 4):
        sweeper._download(generation_id)

    assert (started, enqueued) == ([1, 2], [3, 4])


def test_the_download_threads_take_as_many_as_they_have_threads(monkeypatch, settings):
    release = threading.Event()
    ran: list[int] = []

    def download(generation_id: int) -> None:
        ran.append(generation_id)
        release.wait(10)

    monkeypatch.setattr(downloads.ingest, "ingest_outputs", download)
    settings.DOWNLOAD_THREADS = 2
    pool = downloads.Downloads()
    try:
        assert pool.start(1) and pool.start(2)
        assert pool.start(1)  # already under way here: nothing more to do
        assert not pool.start(3)  # both threads busy: an ingest task takes it
        assert pool.pending() == 2
    finally:
        release.set()
    wait_for(lambda: pool.pending() == 0, 10, "the downloads to end")
    assert sorted(ran) == [1, 2]


def test_with_no_download_threads_every_download_is_handed_on():
    assert not downloads.Downloads().start(1)  # DOWNLOAD_THREADS=0 in the unit tests


def test_a_slice_ends_early_near_its_end_only_when_no_check_falls_due_in_the_hand_over():
    sweep = sweeper.Sweep(max_seconds=8, leased=False)
    try:
        now = time.monotonic()
        sweep.ends_at, sweep.next_due_at = now + 5, None
        assert not sweep.quiet_near_the_end()  # not near its end yet
        sweep.ends_at = now + 1
        sweep.next_due_at = now + sweeper.HANDOVER_SECONDS / 2
        assert not sweep.quiet_near_the_end()  # a check falls due while the next one starts
        sweep.next_due_at = now + sweeper.HANDOVER_SECONDS + 0.5
        assert sweep.quiet_near_the_end()
    finally:
        sweep.close()


def test_an_answer_waiting_to_be_applied_leaves_its_slot_to_the_next_poll(
    alice, simulator, pipeline, settings
):
    """The cap is on calls under way: with hundreds in flight, answers that had come but were
    not yet recorded held slots, and due polls waited for the next pass to record them."""
    settings.SWEEP_CONCURRENCY = 1
    first, second = generate(alice, "First"), generate(alice, "Second")
    for generation in (first, second):
        submission.submit(generation.pk)
    Generation.objects.filter(pk__in=[first.pk, second.pk]).update(next_check_at=timezone.now())
    sweep = sweeper.Sweep(max_seconds=10, leased=False)
    try:
        sweep.look(timezone.now())
        assert len(sweep.polls) == 1  # the only slot
        [answer] = sweep.polls
        answer.result(timeout=5)  # answered, not yet applied
        sweep.look(timezone.now())
        assert {generation.pk for generation in sweep.polls.values()} == {first.pk, second.pk}
        for answer in list(sweep.polls):
            answer.result(timeout=5)
        sweep.look(timezone.now())
        # Both still due, both answered: neither is asked again before its answer is recorded.
        assert len(sweep.polls) == 2
    finally:
        sweep.close()


def test_dead_workers_work_is_looked_for_at_most_every_recovery_interval(monkeypatch):
    """Stale downloads and abandoned claims wait seconds anyway; the looks between, every few
    dozen milliseconds under load, skip them (settles and the probe are due checks: every
    look starts them)."""
    monkeypatch.setattr(sweeper, "RECOVERY_INTERVAL_SECONDS", 60.0)
    ran: list[str] = []
    for name in ("_reingest_stale", "_abandon_claims"):
        monkeypatch.setattr(sweeper, name, lambda now, name=name: ran.append(name))
    for name in ("_start_probe", "_start_settles"):
        monkeypatch.setattr(sweeper.Sweep, name, lambda self, now, name=name: ran.append(name))
    sweep = sweeper.Sweep(max_seconds=10, leased=False)
    try:
        sweep.look(timezone.now())
        everything = ["_reingest_stale", "_abandon_claims", "_start_probe", "_start_settles"]
        assert ran == everything  # the first look of a sweep
        sweep.look(timezone.now())
        assert ran == [*everything, "_start_probe", "_start_settles"]  # one right after
        sweep.recovered_at -= 60.0
        sweep.look(timezone.now())
        assert ran == [*everything, "_start_probe", "_start_settles", *everything]
    finally:
        sweep.close()


def test_a_result_gone_missing_is_left_to_its_settle_not_polled_again(
    alice, simulator, pipeline, monkeypatch
):
    """While a settle errand is busy, a result that answered 404 twice waits for the next
    settle: polled meanwhile, each 404 made it due again at once, a poll every look."""
    monkeypatch.setattr(sweeper.Sweep, "_start_settles", lambda self, now: None)  # one is busy
    missing, failing_once = generate(alice, "Gone missing"), generate(alice, "One 404")
    for generation in (missing, failing_once):
        submission.submit(generation.pk)
    now = timezone.now()
    Generation.objects.filter(pk=missing.pk).update(
        failed_poll_code=404, failed_polls=2, next_check_at=now
    )
    Generation.objects.filter(pk=failing_once.pk).update(
        failed_poll_code=404, failed_polls=1, next_check_at=now
    )
    sweep = sweeper.Sweep(max_seconds=10, leased=False)
    try:
        sweep.look(timezone.now())
        assert [generation.pk for generation in sweep.polls.values()] == [failing_once.pk]
    finally:
        sweep.close()
