"""A task delivered twice makes no second prediction and no duplicate image; a submit whose
answer was lost is never sent again while the API's history may hold it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations import following, ingest, settling, submission, sweeper, tasks
from generations.models import Generation, OutputImage
from generations.wavespeed import client as ws
from generations.wavespeed.simulator.config import Faults, SimulatorConfig

pytestmark = [pytest.mark.django_db(transaction=True)]

S = Generation.Status
PARAMS = {
    "prompt": "Two identical twins",
    "aspect_ratio": "1:1",
    "seed": 5,
    "guidance_scale": 3.5,
    "safety_tolerance": "2",
}


def predictions_on_the_account(simulator) -> int:
    with ws.WaveSpeedClient(api_key="simulator", base_url=simulator.url) as client:
        page = client.list_predictions(
            created_after=timezone.now() - timedelta(hours=1),
            created_before=timezone.now() + timedelta(hours=1),
        )
    return page.total


def test_the_submit_task_run_twice_sends_one_prediction(alice, simulator, enqueued):
    [generation] = submission.create_batch(alice, PARAMS)
    tasks.submit_generation(generation.pk)
    tasks.submit_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.PROCESSING
    assert generation.submit_attempts == 1
    assert predictions_on_the_account(simulator) == 1


def test_the_submit_claim_counts_its_attempt_in_the_same_update(alice, simulator, enqueued):
    [generation] = submission.create_batch(alice, PARAMS)
    with CaptureQueriesContext(connection) as queries:
        submission.submit(generation.pk)
    counting = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("UPDATE") and "submit_attempts" in query["sql"]
    ]
    assert len(counting) == 1, counting
    assert "'submitting'" in counting[0]  # the claim itself
    generation.refresh_from_db()
    assert generation.submit_attempts == 1


def test_the_whole_pipeline_run_twice_stores_one_image(alice, simulator, sync_tasks):
    [generation] = submission.create_batch(alice, PARAMS)
    generation.refresh_from_db()
    assert generation.status == S.COMPLETED
    tasks.submit_generation(generation.pk)
    tasks.sweep_predictions()
    tasks.ingest_generation(generation.pk)
    assert predictions_on_the_account(simulator) == 1
    assert OutputImage.objects.filter(generation=generation).count() == 1


def test_the_ingest_task_run_twice_keeps_one_image_and_its_files(
    alice, simulator, sync_tasks, media_root
):
    [generation] = submission.create_batch(alice, PARAMS)
    # Put it back as if the first delivery were still running when the second arrived.
    Generation.objects.filter(pk=generation.pk).update(status=S.DOWNLOADING)
    tasks.ingest_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.COMPLETED
    assert OutputImage.objects.filter(generation=generation).count() == 1
    stored = sorted(p.name for p in media_root.rglob("*") if p.is_file())
    assert len(stored) == 2, stored  # one original, one thumbnail


def test_a_racing_duplicate_image_row_is_dropped_with_its_files(
    alice, simulator, sync_tasks, media_root
):
    [generation] = submission.create_batch(alice, PARAMS)
    generation.refresh_from_db()
    url = generation.output_urls[0]
    # A second delivery that got past the "already stored?" check just before the first
    # one committed: the unique constraint stops it and its files are removed.
    ingest._store_output(generation, 0, url)
    assert OutputImage.objects.filter(generation=generation).count() == 1
    assert len([p for p in media_root.rglob("*") if p.is_file()]) == 2  # original, thumbnail


def test_a_poll_answer_applied_twice_changes_the_generation_once(alice, simulator, enqueued):
    [generation] = submission.create_batch(alice, PARAMS)
    submission.submit(generation.pk)
    generation.refresh_from_db()
    done = ws.Prediction(
        id=generation.prediction_id,
        model=ws.MODEL_ID,
        status="completed",
        outputs=("http://example.invalid/0.png",),
        has_nsfw_contents=(False,),
        error="",
        error_code=None,
        created_at=None,
        inference_ms=5,
        input={},
    )
    following.apply_prediction(generation, done, timezone.now())
    following.apply_prediction(generation, done, timezone.now())
    assert enqueued.count(("ingest", generation.pk)) == 1


def just_created(prediction_id: str) -> ws.Prediction:
    """The API's answer to a submit, for a prediction with this id."""
    return ws.Prediction(
        id=prediction_id,
        model=ws.MODEL_ID,
        status="created",
        outputs=(),
        has_nsfw_contents=(),
        error="",
        error_code=None,
        created_at=None,
        inference_ms=None,
        input={},
    )


def a_prediction_taken_by_another(owner) -> tuple[Generation, ws.Prediction]:
    """A generation being submitted, and an answer naming the prediction of another one."""
    [first] = submission.create_batch(owner, PARAMS)
    [second] = submission.create_batch(owner, PARAMS)
    submission.submit(first.pk)
    first.refresh_from_db()
    Generation.objects.filter(pk=second.pk).update(status=S.SUBMITTING)
    return second, just_created(first.prediction_id)


def test_a_prediction_cannot_belong_to_two_generations(alice, simulator, enqueued):
    second, taken = a_prediction_taken_by_another(alice)
    assert submission.record_prediction(second.pk, taken) is False
    second.refresh_from_db()
    assert second.status == S.SUBMITTING and second.prediction_id == ""


# --- lost submit answers, with a history that does not show inputs ---------------------------

# Like the docs' example: the history's items carry no `input`, even when asked for inputs.
HISTORY_WITHOUT_INPUTS = replace(
    SimulatorConfig(), latency=0.3, seed=1234, faults=Faults(hide_inputs=1.0)
)


def lose_the_answer(owner, prompt: str) -> Generation:
    """A generation whose submit created its prediction but never heard the answer."""
    [generation] = submission.create_batch(owner, {**PARAMS, "prompt": f"[lose-answer] {prompt}"})
    submission.submit(generation.pk)
    generation.refresh_from_db()
    assert generation.status == S.SUBMITTING and generation.submit_ambiguous
    return generation


def settle_after(generation: Generation, seconds: float) -> None:
    """Run a sweep as if the submit had been unconfirmed for `seconds`; read it back."""
    since = timezone.now() - timedelta(seconds=seconds)
    Generation.objects.filter(pk=generation.pk).update(
        unconfirmed_since=since, submitted_at=since, next_check_at=timezone.now()
    )
    sweeper.sweep_once(timezone.now())
    generation.refresh_from_db()


@pytest.mark.parametrize("simulator_config", [HISTORY_WITHOUT_INPUTS])
def test_a_lost_answer_whose_history_hides_inputs_follows_the_one_possible_prediction(
    alice, simulator, enqueued
):
    [neighbour] = submission.create_batch(alice, {**PARAMS, "prompt": "A neighbour"})
    submission.submit(neighbour.pk)  # answered: its prediction is taken, so not a candidate
    generation = lose_the_answer(alice, "A lost answer")
    [lost] = [p for p in simulator.store.query() if p.input["prompt"].startswith("[lose-answer]")]

    settle_after(generation, 10)
    assert generation.status == S.SUBMITTING  # within the grace nothing is decided
    settle_after(generation, settling.SETTLE_GRACE_SECONDS + 1)
    assert generation.status == S.PROCESSING
    assert generation.prediction_id == lost.id
    assert len(simulator.store) == 2  # never a second prediction
    assert generation.submit_attempts == 1


@pytest.mark.parametrize("simulator_config", [HISTORY_WITHOUT_INPUTS])
def test_lost_answers_the_history_cannot_tell_apart_fail_without_a_resend(
    alice, simulator, enqueued
):
    first = lose_the_answer(alice, "A first lost answer")
    second = lose_the_answer(alice, "A second lost answer")
    created = sorted(p.id for p in simulator.store.query())

    for generation in (first, second):
        settle_after(generation, settling.SETTLE_GRACE_SECONDS + 1)
        assert generation.status == S.FAILED
        assert generation.error.startswith(
            "The API did not confirm this request and its history cannot tell which task is "
            "this one, so it was not sent again (that could charge twice)."
        )
        assert all(prediction_id in generation.error_detail for prediction_id in created)
        assert generation.submit_attempts == 1
    assert len(simulator.store) == 2  # zero resends


def test_a_lost_answer_is_followed_at_once_when_the_history_shows_its_input(
    alice, simulator, enqueued
):
    generation = lose_the_answer(alice, "A lost answer")
    settle_after(generation, 5)
    assert generation.status == S.PROCESSING
    [created] = simulator.store.query()
    assert generation.prediction_id == created.id
    assert len(simulator.store) == 1


def test_a_refused_prediction_leaves_the_callers_transaction_usable(alice, simulator, enqueued):
    second, taken = a_prediction_taken_by_another(alice)
    with transaction.atomic():
        assert submission.record_prediction(second.pk, taken) is False
        # Its savepoint rolled back, the caller's transaction goes on.
        assert Generation.objects.filter(pk=second.pk, status=S.SUBMITTING).exists()
