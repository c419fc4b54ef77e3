"""The generation pipeline: its steps one at a time, then whole against the live simulator
with django-q2 running tasks inline."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from generations import (
    breaker,
    following,
    ingest,
    lifecycle,
    outbound,
    settling,
    submission,
    sweeper,
)
from generations.models import Generation
from generations.wavespeed import client as ws
from generations.wavespeed.simulator.config import SimulatorConfig
from tests.bench.images import counting_decodes
from tests.factories import make_generation

pytestmark = [pytest.mark.django_db(transaction=True)]

S = Generation.Status
PARAMS = {
    "prompt": "A paper boat on a puddle, macro",
    "aspect_ratio": "16:9",
    "seed": 42,
    "guidance_scale": 3.5,
    "safety_tolerance": "2",
}


def generate(owner, **changes) -> Generation:
    [generation] = submission.create_batch(owner, {**PARAMS, **changes})
    generation.refresh_from_db()
    return generation


def sweep(generation: Generation, **changes) -> None:
    """Make a generation due (with any other changes), run one sweep, read it back."""
    Generation.objects.filter(pk=generation.pk).update(
        **{"next_check_at": timezone.now(), **changes}
    )
    sweeper.sweep_once(timezone.now())
    generation.refresh_from_db()


def seconds_ago(seconds: float):
    """A moment just over `seconds` ago."""
    return timezone.now() - timedelta(seconds=seconds + 1)


def lose_before_sending(self, inputs, **kwargs):
    """A submit whose answer never came, and that never reached the API."""
    raise ws.AmbiguousSubmitError("read timed out")


# --- the steps, one at a time ------------------------------------------------------------------

STALLED_SINCE = timezone.now() - timedelta(hours=1)
COMPLETED = ws.Prediction(
    id="prediction-1",
    model=ws.MODEL_ID,
    status="completed",
    outputs=("http://example.invalid/0.png",),
    has_nsfw_contents=(False,),
    inference_ms=5,
)
# The state machine: each step, the status it moves a generation from and to, and a call of it.
STEPS = {
    "claim_submit": (S.QUEUED, S.SUBMITTING, lambda pk, now: lifecycle.claim_submit(pk, now)),
    "defer_submit": (S.QUEUED, S.QUEUED, lambda pk, now: lifecycle.defer_submit(pk, now)),
    "requeue": (S.SUBMITTING, S.QUEUED, lambda pk, now: lifecycle.requeue(pk, "busy", now)),
    "mark_unconfirmed": (
        S.SUBMITTING,
        S.SUBMITTING,
        lambda pk, now: lifecycle.mark_unconfirmed(pk, "no answer", now),
    ),
    "abandon_claim": (
        S.SUBMITTING,
        S.SUBMITTING,
        lambda pk, now: lifecycle.abandon_claim(pk, now),
    ),
    "hold_for_settle": (
        S.SUBMITTING,
        S.SUBMITTING,
        # Only an unconfirmed submit is settled, so only one is held.
        lambda pk, now: (
            lifecycle.mark_unconfirmed(pk, "no answer", now) and lifecycle.hold_for_settle(pk, now)
        ),
    ),
    "await_confirmation": (
        S.SUBMITTING,
        S.SUBMITTING,
        lambda pk, now: lifecycle.await_confirmation(pk, "", now),
    ),
    "attach_prediction": (
        S.SUBMITTING,
        S.PROCESSING,
        lambda pk, now: lifecycle.attach_prediction(pk, COMPLETED, now),
    ),
    "poll_again": (S.PROCESSING, S.PROCESSING, lambda pk, now: lifecycle.poll_again(pk, now)),
    "poll_failed": (
        S.PROCESSING,
        S.PROCESSING,
        lambda pk, now: lifecycle.poll_failed(
            pk, now, detail="HTTP 502", code=502, failures=1, failing_since=now
        ),
    ),
    "accept_outputs": (
        S.PROCESSING,
        S.DOWNLOADING,
        lambda pk, now: lifecycle.accept_outputs(pk, COMPLETED, now),
    ),
    "start_ingest": (S.DOWNLOADING, S.DOWNLOADING, lambda pk, now: lifecycle.start_ingest(pk)),
    "restart_ingest": (
        S.DOWNLOADING,
        S.DOWNLOADING,
        lambda pk, now: lifecycle.restart_ingest(pk, STALLED_SINCE, now),
    ),
    "complete": (S.DOWNLOADING, S.COMPLETED, lambda pk, now: lifecycle.complete(pk)),
    "fail": (
        S.PROCESSING,
        S.FAILED,
        lambda pk, now: lifecycle.fail(pk, S.PROCESSING, "It broke."),
    ),
    "time_out": (
        S.PROCESSING,
        S.TIMED_OUT,
        lambda pk, now: lifecycle.time_out(pk, S.PROCESSING),
    ),
}


def in_status(owner, status: str) -> Generation:
    """A generation in `status`, due and stalled, last changed an hour ago."""
    generation = make_generation(
        owner, status=status, next_check_at=STALLED_SINCE, ingest_started_at=STALLED_SINCE
    )
    Generation.objects.filter(pk=generation.pk).update(updated_at=STALLED_SINCE)
    return generation


def row(generation: Generation) -> dict:
    return Generation.objects.values().get(pk=generation.pk)


@pytest.mark.parametrize("step", STEPS)
def test_a_step_from_its_status_applies_and_moves_updated_at(alice, step):
    from_status, to_status, apply = STEPS[step]
    generation = in_status(alice, from_status)
    before = timezone.now()
    assert apply(generation.pk, timezone.now()) is True
    after = row(generation)
    assert after["status"] == to_status
    assert after["updated_at"] >= before


@pytest.mark.parametrize("step", STEPS)
def test_a_step_from_any_other_status_changes_nothing(alice, step):
    from_status, _, apply = STEPS[step]
    for status in S.values:
        if status == from_status:
            continue
        generation = in_status(alice, status)
        unchanged = row(generation)
        assert apply(generation.pk, timezone.now()) is False, status
        assert row(generation) == unchanged, status


def test_a_claim_another_worker_already_settled_is_not_abandoned(alice):
    generation = in_status(alice, S.SUBMITTING)
    assert lifecycle.mark_unconfirmed(generation.pk, "no answer", timezone.now())
    settled = row(generation)
    assert lifecycle.abandon_claim(generation.pk, timezone.now()) is False
    assert row(generation) == settled


def test_a_stalled_download_is_restarted_once(alice):
    generation = in_status(alice, S.DOWNLOADING)
    assert lifecycle.restart_ingest(generation.pk, STALLED_SINCE, timezone.now()) is True
    assert lifecycle.restart_ingest(generation.pk, STALLED_SINCE, timezone.now()) is False


# --- the whole pipeline ------------------------------------------------------------------------


def test_a_generation_runs_to_completion_with_its_image_stored(alice, simulator, sync_tasks):
    generation = generate(alice)
    assert generation.status == S.COMPLETED, generation.error
    assert generation.prediction_id
    assert generation.inference_ms and generation.inference_ms > 0
    assert generation.finished_at is not None
    image = generation.images.get()
    assert (image.width, image.height) == (1392, 752)
    assert image.nsfw is False
    with image.original.open("rb") as handle:
        assert Image.open(handle).size == (1392, 752)
    with image.thumbnail.open("rb") as handle:
        thumbnail = Image.open(handle)
        assert thumbnail.format == "WEBP"
        assert thumbnail.size == (480, 259)  # settings.THUMBNAIL_WIDTH wide
    assert (image.thumbnail_width, image.thumbnail_height) == thumbnail.size
    # The display rendition is the first page view's to make.
    assert not image.display


def test_the_first_view_of_an_image_makes_its_display_rendition_once(
    alice, alice_client, simulator, sync_tasks
):
    image = generate(alice).images.get()
    url = f"/images/{image.pk}/display/"
    first = alice_client.get(url)
    assert (first.status_code, first["Content-Type"]) == (200, "image/webp")
    shown = Image.open(io.BytesIO(b"".join(first.streaming_content)))
    assert (shown.format, shown.size) == ("WEBP", (1392, 752))
    image.refresh_from_db()
    assert (image.display_width, image.display_height) == shown.size
    made = image.display.name
    with counting_decodes() as decoders:
        again = alice_client.get(url)
    assert again.status_code == 200 and decoders == []  # served as stored
    image.refresh_from_db()
    assert image.display.name == made


def test_ingest_decodes_the_output_once(alice, simulator, sync_tasks):
    # The simulator only draws and encodes: every decoder made here is ingest's.
    with counting_decodes() as decoders:
        generation = generate(alice)
    assert generation.status == S.COMPLETED, generation.error
    assert generation.images.get().thumbnail
    assert decoders == ["zip"]  # PNG's decoder, once


def test_the_seed_actually_sent_is_recorded_when_random(alice, simulator, sync_tasks):
    generation = generate(alice, seed=None)
    with ws.WaveSpeedClient(api_key="simulator", base_url=simulator.url) as client:
        prediction = client.get_result(generation.prediction_id)
    assert generation.seed_was_random
    assert prediction.input["seed"] == generation.seed


def test_an_image_the_api_flags_is_stored_as_nsfw(alice, simulator, sync_tasks):
    generation = generate(alice, prompt="[nsfw] a statue")
    assert generation.status == S.COMPLETED
    assert generation.images.get().nsfw is True
    assert generation.held  # held from the team by the ingest that stored it


def test_a_task_failure_is_shown_in_plain_words(alice, simulator, sync_tasks):
    generation = generate(alice, prompt="[fail:1200] something")
    assert generation.status == S.FAILED
    assert generation.error_code == 1200
    assert "content moderation" in generation.error
    assert generation.images.count() == 0


@pytest.mark.parametrize(
    "simulator_config", [replace(SimulatorConfig(), api_key="another-key", latency=0.2)]
)
def test_a_refused_key_pauses_submitting_instead_of_failing_the_generation(
    alice, simulator, enqueued, settings
):
    settings.WAVESPEED_API_KEY = "wrong-key"
    generation = generate(alice)
    submission.submit(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.QUEUED  # it waits in line (tests/test_admission.py)
    assert breaker.current().reason == "key_refused"
    assert "wrong-key" not in generation.error + generation.error_detail


def test_missing_nsfw_flags_count_as_flagged(alice, simulator, enqueued):
    generation = generate(alice)
    submission.submit(generation.pk)
    prediction = ws.Prediction(
        id=Generation.objects.get(pk=generation.pk).prediction_id,
        model=ws.MODEL_ID,
        status="completed",
        outputs=(f"{simulator.url}/outputs/x/0.png",),
        has_nsfw_contents=(),
        error="",
        error_code=None,
        created_at=None,
        inference_ms=10,
        input={},
    )
    generation.refresh_from_db()
    following.apply_prediction(generation, prediction, timezone.now())
    generation.refresh_from_db()
    assert generation.status == S.DOWNLOADING
    assert generation.nsfw_flags == []
    assert ("ingest", generation.pk) in enqueued


def test_a_prediction_that_never_finishes_times_out(alice, simulator, enqueued, settings):
    settings.GENERATION_DEADLINE_SECONDS = 60
    generation = generate(alice, prompt="[latency=3600] a very slow one")
    submission.submit(generation.pk)
    sweep(generation, submitted_at=seconds_ago(60))
    assert generation.status == S.TIMED_OUT
    assert "within 1 minute." in generation.error


def test_an_unconfirmed_submit_is_settled_through_the_list_not_resent(
    alice, simulator, enqueued, monkeypatch
):
    real_submit = ws.WaveSpeedClient.submit
    sent = []

    def submit_then_lose_the_answer(self, inputs, **kwargs):
        sent.append(real_submit(self, inputs, **kwargs))
        raise ws.AmbiguousSubmitError("connection dropped after sending")

    monkeypatch.setattr(ws.WaveSpeedClient, "submit", submit_then_lose_the_answer)
    generation = generate(alice)
    submission.submit(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.SUBMITTING
    assert generation.submit_ambiguous
    sweep(generation)
    assert len(sent) == 1
    assert generation.status == S.PROCESSING
    assert generation.prediction_id == sent[0].id


def test_an_unconfirmed_submit_the_api_never_saw_is_sent_again(
    alice, simulator, enqueued, monkeypatch
):
    real_submit = ws.WaveSpeedClient.submit
    calls = []

    def lose_before_sending_once(self, inputs, **kwargs):
        calls.append(inputs)
        if len(calls) == 1:
            raise ws.AmbiguousSubmitError("read timed out")
        return real_submit(self, inputs, **kwargs)

    monkeypatch.setattr(ws.WaveSpeedClient, "submit", lose_before_sending_once)
    generation = generate(alice)
    submission.submit(generation.pk)
    # Within the grace period the list is asked again later, nothing is resent.
    sweep(generation)
    assert generation.status == S.SUBMITTING and generation.submit_ambiguous
    assert len(calls) == 1

    long_ago = seconds_ago(settling.SETTLE_GRACE_SECONDS)
    sweep(generation, submitted_at=long_ago, unconfirmed_since=long_ago)
    assert generation.status == S.QUEUED
    submission.submit(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.PROCESSING
    assert len(calls) == 2


def test_an_unconfirmed_submit_that_cannot_be_checked_fails_without_a_resend(
    alice, simulator, enqueued, monkeypatch
):
    def list_unreachable(self, **kwargs):
        raise ws.NetworkError("connection refused")

    monkeypatch.setattr(ws.WaveSpeedClient, "submit", lose_before_sending)
    monkeypatch.setattr(ws.WaveSpeedClient, "list_predictions", list_unreachable)
    generation = generate(alice)
    submission.submit(generation.pk)
    long_ago = seconds_ago(settling.SETTLE_GRACE_SECONDS)
    sweep(generation, submitted_at=long_ago, unconfirmed_since=long_ago)
    assert generation.status == S.FAILED
    assert "charge twice" in generation.error
    assert generation.submit_attempts == 1


def test_a_claim_that_outlived_its_worker_waits_the_grace_before_any_resend(
    alice, simulator, enqueued
):
    generation = generate(alice)
    long_ago = seconds_ago(lifecycle.SUBMIT_CLAIM_SECONDS)
    # Claimed long ago and never answered: the worker died mid-request, or is still in it.
    sweep(
        generation,
        status=S.SUBMITTING,
        submitted_at=long_ago,
        next_check_at=long_ago,
        updated_at=long_ago,
    )
    assert generation.status == S.SUBMITTING and generation.submit_ambiguous
    assert generation.unconfirmed_since is not None
    assert generation.updated_at >= generation.unconfirmed_since
    # The grace counts from now, not from the claim: nothing can be resent for two minutes.
    assert timezone.now() - generation.unconfirmed_since < timedelta(minutes=1)


def test_settling_does_not_adopt_a_twin_generations_prediction(
    alice, simulator, enqueued, monkeypatch
):
    twin = generate(alice)
    submission.submit(twin.pk)
    twin.refresh_from_db()

    monkeypatch.setattr(ws.WaveSpeedClient, "submit", lose_before_sending)
    generation = generate(alice)  # the very same inputs as the twin
    submission.submit(generation.pk)
    sweep(generation)
    assert generation.status == S.SUBMITTING
    assert generation.prediction_id == ""


def test_unconfirmed_submits_due_together_share_one_read_of_the_list(
    alice, simulator, enqueued, monkeypatch
):
    real_list = ws.WaveSpeedClient.list_predictions
    pages_read = []

    def counting_list(self, **kwargs):
        pages_read.append(kwargs["page"])
        return real_list(self, **kwargs)

    monkeypatch.setattr(ws.WaveSpeedClient, "submit", lose_before_sending)
    monkeypatch.setattr(ws.WaveSpeedClient, "list_predictions", counting_list)
    generations = [generate(alice, prompt=f"Lost answer {index}") for index in range(3)]
    for generation in generations:
        submission.submit(generation.pk)
    Generation.objects.update(next_check_at=timezone.now())
    sweeper.sweep_once(timezone.now())
    assert pages_read == [1]
    assert Generation.objects.filter(status=S.SUBMITTING, submit_ambiguous=True).count() == 3


def test_the_list_is_asked_less_often_the_longer_a_submit_stays_unconfirmed(
    alice, simulator, enqueued, monkeypatch
):
    monkeypatch.setattr(ws.WaveSpeedClient, "submit", lose_before_sending)
    generation = generate(alice)
    submission.submit(generation.pk)
    generation.refresh_from_db()
    first_look = generation.next_check_at - generation.unconfirmed_since
    assert first_look == timedelta(seconds=lifecycle.SETTLE_INTERVAL_SECONDS)
    swept_at = timezone.now()
    sweep(generation, unconfirmed_since=swept_at - timedelta(seconds=40))
    # 40 s unconfirmed: the next look is 40 s later, not 5 s.
    assert generation.next_check_at - swept_at >= timedelta(seconds=39)
    sweep(generation, unconfirmed_since=swept_at - timedelta(seconds=100))
    # ...but never past the end of the grace, when it is decided.
    assert generation.next_check_at - swept_at <= timedelta(seconds=21)


# --- provider faults -------------------------------------------------------------------------


class SubmitCounter:
    """Counts the submits the app sends (each reaches the simulator once)."""

    def __init__(self, monkeypatch) -> None:
        self.sent = 0
        real_submit = ws.WaveSpeedClient.submit

        def counted(client, inputs, **kwargs):
            self.sent += 1
            return real_submit(client, inputs, **kwargs)

        monkeypatch.setattr(ws.WaveSpeedClient, "submit", counted)


def test_a_task_code_1400_in_an_http_200_fails_at_once_in_plain_words(
    alice, simulator, sync_tasks, monkeypatch
):
    submits = SubmitCounter(monkeypatch)
    generation = generate(alice, prompt="[refuse:1400] a lighthouse")
    assert generation.status == S.FAILED
    assert generation.error == "The API said a required parameter was missing."
    assert generation.error_code == 1400
    assert "missing parameter" in generation.error_detail
    assert submits.sent == 1 and generation.submit_attempts == 1
    assert generation.unconfirmed_since is None and not generation.submit_ambiguous
    assert len(simulator.store) == 0  # the simulator's own record of predictions


def test_a_task_code_5003_on_submit_is_sent_again_later_never_settled(alice, simulator, enqueued):
    generation = generate(alice, prompt="[refuse:5003] a lighthouse")
    submission.submit(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.QUEUED
    assert generation.next_check_at > timezone.now()
    assert generation.unconfirmed_since is None and not generation.submit_ambiguous
    assert "code 5003" in generation.error_detail


def test_a_task_code_5003_that_never_clears_fails_in_plain_words(alice, simulator, enqueued):
    generation = generate(alice, prompt="[refuse:5003] a lighthouse")
    Generation.objects.filter(pk=generation.pk).update(
        submit_attempts=submission.MAX_SUBMIT_ATTEMPTS - 1
    )
    submission.submit(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.FAILED
    assert generation.error == "The API is unavailable right now. Try again in a few minutes."
    assert generation.error_code == 5003


def test_a_key_revoked_after_submit_fails_with_its_cause_long_before_the_deadline(
    alice, simulator, enqueued, settings
):
    generation = generate(alice, prompt="[latency=60] a long one")
    submission.submit(generation.pk)
    simulator.revoke_key()
    started = timezone.now()
    # Polls every 0.1 s (the simulator fixture's POLL_INTERVAL_SECONDS); the slice ends early
    # once nothing is left to watch.
    sweeper.run_slice(max_seconds=10)
    generation.refresh_from_db()
    assert generation.status == S.FAILED
    assert generation.error == (
        "The server's WaveSpeed API key was refused. An administrator needs to fix it."
    )
    assert generation.error_code == 401  # what ended it, for a provider-wide warning
    assert generation.poll_count == 1  # one failed poll, confirmed by the second
    assert timezone.now() - started < timedelta(seconds=settings.GENERATION_DEADLINE_SECONDS / 60)


def test_one_refused_key_answer_is_polled_again_soon_not_failed(alice, simulator, enqueued):
    generation = generate(alice, prompt="[latency=60] a long one")
    submission.submit(generation.pk)
    simulator.revoke_key()
    sweep(generation)
    assert generation.status == S.PROCESSING
    assert (generation.failed_polls, generation.failed_poll_code) == (1, 401)
    simulator.restore_key()
    sweep(generation)
    assert generation.status == S.PROCESSING
    assert generation.failed_polls == 0 and generation.polls_failing_since is None


def test_one_404_on_a_result_then_the_prediction_completes_with_its_image(
    alice, simulator, sync_tasks
):
    generation = generate(alice, prompt="[vanish-once] a shy heron")
    assert generation.status == S.COMPLETED, generation.error
    assert generation.images.count() == 1
    assert generation.failed_polls == 0 and generation.failed_poll_code is None


def test_a_completed_answer_right_after_a_failed_poll_ends_the_run_of_failures(alice):
    # On a slow machine the poll after a 404 can already find the prediction completed.
    generation = in_status(alice, S.PROCESSING)
    Generation.objects.filter(pk=generation.pk).update(
        failed_polls=1, failed_poll_code=404, polls_failing_since=timezone.now()
    )
    assert lifecycle.accept_outputs(generation.pk, COMPLETED, timezone.now())
    generation.refresh_from_db()
    assert generation.status == S.DOWNLOADING
    assert (generation.failed_polls, generation.failed_poll_code) == (0, None)
    assert generation.polls_failing_since is None


def test_a_result_that_answers_404_twice_and_is_not_in_the_list_fails(alice, simulator, enqueued):
    generation = generate(alice)
    Generation.objects.filter(pk=generation.pk).update(
        status=S.PROCESSING, prediction_id="0123abcd", submitted_at=timezone.now()
    )
    sweep(generation)
    assert generation.status == S.PROCESSING and generation.failed_polls == 1
    sweep(generation)
    assert generation.status == S.PROCESSING and generation.failed_polls == 2
    sweep(generation)
    assert generation.status == S.FAILED
    assert generation.error == "The API no longer knows this generation."
    assert "not in the predictions list" in generation.error_detail


def test_a_404_the_list_cannot_confirm_is_polled_on_until_the_deadline(
    alice, simulator, enqueued, monkeypatch, settings
):
    def list_unreachable(self, **kwargs):
        raise ws.NetworkError("connection refused")

    monkeypatch.setattr(ws.WaveSpeedClient, "list_predictions", list_unreachable)
    generation = generate(alice)
    Generation.objects.filter(pk=generation.pk).update(
        status=S.PROCESSING, prediction_id="0123abcd", submitted_at=timezone.now()
    )
    for _ in range(3):
        sweep(generation)
    # Two 404s, then a list that cannot be read: not failed, and the next check is a poll.
    assert generation.status == S.PROCESSING
    assert (generation.failed_polls, generation.failed_poll_code) == (1, 404)
    sweep(generation, submitted_at=seconds_ago(settings.GENERATION_DEADLINE_SECONDS))
    assert generation.status == S.TIMED_OUT
    assert "(its last answer: not found (HTTP 404))" in generation.error


def test_a_result_that_answers_404_but_is_in_the_list_goes_on(
    alice, simulator, enqueued, monkeypatch
):
    generation = generate(alice, prompt="[latency=0] a quick one")
    submission.submit(generation.pk)

    def not_found(self, prediction_id):
        raise ws.InvalidRequestError("HTTP 404: not found", status_code=404)

    monkeypatch.setattr(ws.WaveSpeedClient, "get_result", not_found)
    for _ in range(3):
        sweep(generation)
    # The list shows the prediction completed: its outputs are copied as from a poll.
    assert generation.status == S.DOWNLOADING
    assert generation.output_urls and ("ingest", generation.pk) in enqueued


def test_server_errors_until_the_deadline_are_named_in_the_words(
    alice, simulator, enqueued, monkeypatch
):
    generation = generate(alice, prompt="[latency=3600] a long one")
    submission.submit(generation.pk)

    def bad_gateway(self, prediction_id):
        raise ws.ServerError("HTTP 502: bad gateway", status_code=502)

    monkeypatch.setattr(ws.WaveSpeedClient, "get_result", bad_gateway)
    sweep(generation)
    assert generation.status == S.PROCESSING and generation.failed_poll_code == 502
    # Ten minutes later, still failing.
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    sweep(
        generation,
        submitted_at=ten_minutes_ago - timedelta(seconds=1),
        polls_failing_since=ten_minutes_ago,
    )
    assert generation.status == S.TIMED_OUT
    assert generation.error.startswith(
        "The API kept answering with server errors (HTTP 502) for 10 minutes"
    )
    assert generation.error_code == 502


def test_a_rate_limited_submit_waits_and_is_sent_again(alice, simulator, enqueued, monkeypatch):
    answers = [ws.RateLimitError("too many requests", status_code=429, retry_after=2.0)]
    real_submit = ws.WaveSpeedClient.submit

    def limited_once(self, inputs, **kwargs):
        if answers:
            raise answers.pop()
        return real_submit(self, inputs, **kwargs)

    monkeypatch.setattr(ws.WaveSpeedClient, "submit", limited_once)
    generation = generate(alice)
    submission.submit(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.QUEUED
    assert generation.next_check_at > timezone.now() + timedelta(seconds=1.5)
    sweep(generation)  # once it is due, the sweeper sends it again
    assert generation.status == S.PROCESSING
    assert generation.submit_attempts == 2


def test_a_queued_generation_is_submitted_by_the_sweeper(alice, simulator, enqueued):
    generation = generate(alice)
    assert generation.next_check_at <= timezone.now()  # due at once
    assert ("sweep", None) in enqueued  # and a sweep asked for when it was committed
    sweep(generation)
    assert generation.status == S.PROCESSING
    assert generation.submit_attempts == 1
    assert generation.prediction_id


def test_a_stalled_download_is_started_again(alice, simulator, enqueued, settings):
    generation = generate(alice)
    swept_at = timezone.now()
    sweep(
        generation,
        status=S.DOWNLOADING,
        output_urls=["http://x/0.png"],
        ingest_started_at=seconds_ago(settings.INGEST_STALE_SECONDS),
        updated_at=seconds_ago(3600),
    )
    assert ("ingest", generation.pk) in enqueued
    assert generation.ingest_started_at >= swept_at
    assert generation.updated_at >= swept_at


def test_only_one_sweeper_runs_at_a_time(alice, simulator, enqueued):
    from generations import leases

    assert leases.acquire(sweeper.LEASE_NAME, "someone-else", ttl_seconds=60)
    generation = generate(alice)
    submission.submit(generation.pk)
    sweeper.run_slice(max_seconds=1)
    generation.refresh_from_db()
    assert generation.poll_count == 0  # the slice saw the lease taken and left


def test_a_stored_png_carries_its_recipe_and_a_placeholder(alice, simulator, sync_tasks):
    generation = generate(alice, prompt="A lantern festival", seed=5)
    image = generation.images.get()
    with image.original.open("rb") as handle, Image.open(handle) as stored:
        assert "Seed: 5" in stored.text["parameters"]
        assert '"prompt": "A lantern festival"' in stored.text["kontext-playground"]
    assert image.size_bytes == image.original.size
    assert image.placeholder.startswith("data:image/webp;base64,")
    assert len(image.placeholder) < 1000
    assert image.color.startswith("#") and len(image.color) == 7
    assert image.moderation == "visible"


def test_a_flagged_output_waits_for_review(alice, simulator, sync_tasks):
    generation = generate(alice, prompt="[nsfw] a marble statue")
    assert generation.images.get().moderation == "pending"


# --- outputs: where they come from, how many ---------------------------------------------------


def completed_prediction(outputs: tuple[str, ...]) -> ws.Prediction:
    return ws.Prediction(
        id="prediction-outputs",
        model=ws.MODEL_ID,
        status="completed",
        outputs=outputs,
        has_nsfw_contents=(False,) * len(outputs),
        inference_ms=5,
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://127.0.0.1:1/admin/",  # loopback, but not the simulator's port
        "https://outputs.example.test/0.png",  # a host nobody listed
    ],
)
def test_an_output_on_a_refused_host_fails_the_generation_at_once(alice, simulator, url):
    generation = in_status(alice, S.PROCESSING)
    lifecycle.accept_outputs(generation.pk, completed_prediction((url,)), timezone.now())
    ingest.ingest_outputs(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.FAILED
    assert generation.ingest_attempts == 1  # no retry: nothing a retry could change
    assert generation.error == outbound.REFUSED
    host = url.split("/")[2].split(":")[0]
    assert host in generation.error_detail
    assert generation.images.count() == 0


def test_thirty_outputs_for_one_image_store_one(alice, simulator, sync_tasks, caplog):
    done = generate(alice)
    real_output = f"{simulator.url}/outputs/{done.prediction_id}/0.png"
    generation = in_status(alice, S.PROCESSING)
    lifecycle.accept_outputs(
        generation.pk, completed_prediction((real_output,) * 30), timezone.now()
    )
    ingest.ingest_outputs(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.COMPLETED, generation.error
    assert generation.images.count() == 1
    assert generation.output_urls == [real_output]
    assert generation.nsfw_flags == [False]
    assert "30 outputs" in generation.error_detail
    assert "answered 30 outputs" in caplog.text
