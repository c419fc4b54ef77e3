"""When the next poll falls: timed to the model's usual time, same count as evenly spaced."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from generations import following
from generations.models import Generation
from tests.factories import make_generation

pytestmark = pytest.mark.django_db

S = Generation.Status


@pytest.fixture(autouse=True)
def forget_expected_times():
    following._expected.clear()
    yield
    following._expected.clear()


def running(owner, seconds_ago: float) -> Generation:
    now = timezone.now()
    return make_generation(
        owner, status=S.PROCESSING, submitted_at=now - timedelta(seconds=seconds_ago)
    )


def polls_until(generation: Generation, seconds: float) -> list[float]:
    """The ages at which a generation is polled, from its current age to `seconds`."""
    now = timezone.now()
    age = (now - generation.submitted_at).total_seconds()
    ages = []
    while age < seconds:
        delay = following.poll_delay(generation, generation.submitted_at + timedelta(seconds=age))
        age += delay.total_seconds()
        ages.append(round(age, 3))
    return ages


def test_without_a_record_polls_are_evenly_spaced(alice, settings):
    settings.POLL_INTERVAL_SECONDS = 1.0
    generation = running(alice, seconds_ago=1.0)
    assert following.poll_delay(generation, timezone.now()) == timedelta(seconds=1.0)


def test_one_poll_falls_just_after_the_models_usual_time_with_fewer_polls(alice, settings):
    settings.POLL_INTERVAL_SECONDS = 1.0
    for _ in range(3):
        make_generation(alice, status=S.COMPLETED, inference_ms=10_000)
    generation = running(alice, seconds_ago=0.3)

    ages = polls_until(generation, 12)

    # 2.05, 6.05, 8.05, 9.05, 10.05: the image done at 10 s is seen 50 ms later, not up to
    # 1 s later, with half as many polls before it as evenly spaced ones.
    margin = following.EXPECTED_MARGIN_SECONDS
    assert ages[:5] == pytest.approx([n + margin for n in (2, 6, 8, 9, 10)])
    # Once overdue, the interval alone.
    assert ages[5] == pytest.approx(11.05)


def test_long_predictions_are_polled_every_four_intervals_until_near_their_time(alice, settings):
    settings.POLL_INTERVAL_SECONDS = 1.0
    make_generation(alice, status=S.COMPLETED, inference_ms=25_000)
    generation = running(alice, seconds_ago=0.3)

    ages = polls_until(generation, 25)

    margin = following.EXPECTED_MARGIN_SECONDS
    assert ages == pytest.approx([n + margin for n in (1, 5, 9, 13, 17, 21, 23, 24, 25)])
    # No image waits longer than 4 intervals for the poll that sees it.
    gaps = [later - earlier for earlier, later in zip([0.3, *ages], ages, strict=False)]
    assert max(gaps) == pytest.approx(4.0)


def test_a_late_poll_never_comes_back_sooner_than_half_an_interval(alice, settings):
    settings.POLL_INTERVAL_SECONDS = 1.0
    make_generation(alice, status=S.COMPLETED, inference_ms=10_000)
    generation = running(alice, seconds_ago=9.7)  # 0.35 s before the expected moment
    delay = following.poll_delay(generation, timezone.now()).total_seconds()
    assert delay == pytest.approx(1.35, abs=0.01)


def test_the_first_poll_after_a_submit_follows_the_same_schedule(alice, settings):
    from generations import submission
    from generations.wavespeed import client as ws

    settings.POLL_INTERVAL_SECONDS = 1.0
    settings.PUBLIC_BASE_URL = ""
    for _ in range(3):
        make_generation(alice, status=S.COMPLETED, inference_ms=10_000)
    generation = make_generation(alice, status=S.SUBMITTING, submitted_at=timezone.now())
    now = timezone.now()
    prediction = ws.Prediction(id="first-poll", model="", status="created", created_at=now)

    assert submission.record_prediction(generation.pk, prediction, answered_at=now)

    generation.refresh_from_db()
    assert generation.submitted_at == now  # polls count from the answer, not the claim
    # Not one interval after the submit, when a 10 s prediction is surely still running:
    # the schedule's first moment, 2 s and its margin in (then 6, 8, 9 and 10 s).
    first = (generation.next_check_at - now).total_seconds()
    assert first == pytest.approx(2 + following.EXPECTED_MARGIN_SECONDS, abs=0.05)


def test_a_settled_prediction_keeps_the_claims_moment(alice, settings):
    from generations import submission
    from generations.wavespeed import client as ws

    claimed = timezone.now() - timedelta(seconds=40)
    generation = make_generation(alice, status=S.SUBMITTING, submitted_at=claimed)
    prediction = ws.Prediction(id="settled", model="", status="created")

    assert submission.record_prediction(generation.pk, prediction)

    generation.refresh_from_db()
    assert generation.submitted_at == claimed


def test_without_a_record_the_first_poll_comes_after_one_interval(alice, settings):
    from generations import submission
    from generations.wavespeed import client as ws

    settings.POLL_INTERVAL_SECONDS = 1.0
    settings.PUBLIC_BASE_URL = ""
    generation = make_generation(alice, status=S.SUBMITTING, submitted_at=timezone.now())
    now = timezone.now()
    prediction = ws.Prediction(id="first-poll", model="", status="created", created_at=now)

    assert submission.record_prediction(generation.pk, prediction, answered_at=now)

    generation.refresh_from_db()
    assert (generation.next_check_at - now).total_seconds() == pytest.approx(1.0, abs=0.05)
