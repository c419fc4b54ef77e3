"""The generation pipeline: its steps one at a time, then whole against the live simulator
with django-q2 running tasks inline."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from generations import breaker, lifecycle, sweeper
from generations.models import Generation
from generations.wavespeed import client as ws
from generations.wavespeed.simulator.config import SimulatorConfig
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
    [generation] = lifecycle.create_batch(owner, {**PARAMS, **changes})
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
    "postpone_resubmit": (
        S.QUEUED,
        S.QUEUED,
        lambda pk, now: lifecycle.postpone_resubmit(pk, now),
    ),
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
        assert max(thumbnail.size) == 512
    assert (image.thumbnail_width, image.thumbnail_height) == thumbnail.size


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
    lifecycle.submit(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.QUEUED  # it waits in line (tests/test_admission.py)
    assert breaker.current().reason == "key_refused"
    assert "wrong-key" not in generation.error + generation.error_detail


def test_missing_nsfw_flags_count_as_flagged(alice, simulator, enqueued):
    generation = generate(alice)
    lifecycle.submit(generation.pk)
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
    lifecycle.apply_prediction(generation, prediction, timezone.now())
    generation.refresh_from_db()
    assert generation.status == S.DOWNLOADING
    assert generation.nsfw_flags == []
    assert ("ingest", generation.pk) in enqueued


def test_a_prediction_that_never_finishes_times_out(alice, simulator, enqueued, settings):
    settings.GENERATION_DEADLINE_SECONDS = 60
    generation = generate(alice, prompt="[latency=3600] a very slow one")
    lifecycle.submit(generation.pk)
    sweep(generation, submitted_at=seconds_ago(60))
    assert generation.status == S.TIMED_OUT
    assert "within 1 minutes" in generation.error


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
    lifecycle.submit(generation.pk)
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
    lifecycle.submit(generation.pk)
    # Within the grace period the list is asked again later, nothing is resent.
    sweep(generation)
    assert generation.status == S.SUBMITTING and generation.submit_ambiguous
    assert len(calls) == 1

    long_ago = seconds_ago(lifecycle.SETTLE_GRACE_SECONDS)
    sweep(generation, submitted_at=long_ago, unconfirmed_since=long_ago)
    assert generation.status == S.QUEUED
    lifecycle.submit(generation.pk)
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
    lifecycle.submit(generation.pk)
    long_ago = seconds_ago(lifecycle.SETTLE_GRACE_SECONDS)
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
    lifecycle.submit(twin.pk)
    twin.refresh_from_db()

    monkeypatch.setattr(ws.WaveSpeedClient, "submit", lose_before_sending)
    generation = generate(alice)  # the very same inputs as the twin
    lifecycle.submit(generation.pk)
    sweep(generation)
    assert generation.status == S.SUBMITTING
    assert generation.prediction_id == ""


def test_a_rate_limited_submit_waits_and_is_sent_again(alice, simulator, enqueued, monkeypatch):
    answers = [ws.RateLimitError("too many requests", status_code=429, retry_after=2.0)]
    real_submit = ws.WaveSpeedClient.submit

    def limited_once(self, inputs, **kwargs):
        if answers:
            raise answers.pop()
        return real_submit(self, inputs, **kwargs)

    monkeypatch.setattr(ws.WaveSpeedClient, "submit", limited_once)
    generation = generate(alice)
    lifecycle.submit(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.QUEUED
    assert generation.next_check_at > timezone.now() + timedelta(seconds=1.5)
    sweep(generation)
    assert ("submit", generation.pk) in enqueued
    lifecycle.submit(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.PROCESSING
    assert generation.submit_attempts == 2


def test_a_lost_submit_task_is_enqueued_again_by_the_sweeper(alice, simulator, enqueued):
    generation = generate(alice)
    swept_at = timezone.now()
    sweep(generation, next_check_at=seconds_ago(0), updated_at=seconds_ago(3600))
    assert enqueued.count(("submit", generation.pk)) == 2  # once on create, once recovered
    # Pushed forward, so the next pass leaves it while it waits its turn.
    assert generation.next_check_at > swept_at
    assert generation.updated_at >= swept_at


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
    lifecycle.submit(generation.pk)
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
