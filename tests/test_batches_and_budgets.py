"""Batches of up to four images, and monthly budgets checked before anything is sent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generations import budgets, submission
from generations.models import Budget, Generation
from generations.wavespeed.contract import SEED_MAX
from tests.factories import make_generation

pytestmark = pytest.mark.django_db(transaction=True)

PARAMS = {
    "prompt": "A row of paper lanterns",
    "aspect_ratio": "3:2",
    "seed": None,
    "guidance_scale": 3.5,
    "safety_tolerance": "2",
}


def test_a_batch_is_one_generation_per_image_with_consecutive_seeds(alice, enqueued):
    batch = submission.create_batch(alice, {**PARAMS, "seed": 100, "num_images": 3})
    assert [g.seed for g in batch] == [100, 101, 102]
    assert {g.batch for g in batch} == {batch[0].batch} and batch[0].batch is not None
    assert [g.batch_index for g in batch] == [0, 1, 2]
    assert all(g.batch_size == 3 and g.cost == Decimal("0.04") for g in batch)
    # One sweep asked for sends the whole batch: every image is due at once.
    assert enqueued == [("sweep", None)]
    assert all(g.status == "queued" and g.next_check_at is not None for g in batch)


def test_a_random_batch_draws_a_seed_per_image(alice, enqueued):
    batch = submission.create_batch(alice, {**PARAMS, "num_images": 4})
    assert len({g.seed for g in batch}) == 4
    assert all(g.seed_was_random for g in batch)


def test_consecutive_seeds_wrap_at_the_top_of_the_range(alice, enqueued):
    batch = submission.create_batch(alice, {**PARAMS, "seed": SEED_MAX, "num_images": 2})
    assert [g.seed for g in batch] == [SEED_MAX, 0]


def test_a_single_image_has_no_batch(alice, enqueued):
    [generation] = submission.create_batch(alice, PARAMS)
    assert generation.batch is None and generation.batch_size == 1


def test_the_playground_posts_a_batch_and_shows_it_on_the_first_page(client_for, alice, enqueued):
    response = client_for(alice).post(
        "/", {**PARAMS, "seed": "7", "num_images": "2", "visibility": "private"}
    )
    first = Generation.objects.order_by("pk").first()
    assert response.status_code == 302 and response["Location"] == f"/generations/{first.pk}/"
    assert Generation.objects.filter(batch=first.batch, visibility="private").count() == 2
    page = client_for(alice).get(response["Location"]).content.decode()
    assert "This batch: 2 images" in page


def test_a_submission_over_the_users_budget_is_refused_before_sending(client_for, alice, enqueued):
    Budget.objects.create(scope=Budget.Scope.USER, user=alice, monthly_limit=Decimal("0.10"))
    make_generation(alice, cost=Decimal("0.04"), status=Generation.Status.COMPLETED)
    response = client_for(alice).post("/", {**PARAMS, "seed": "", "num_images": "2"})
    assert response.status_code == 200
    assert "Your monthly budget is $0.10" in response.content.decode()
    assert Generation.objects.count() == 1
    assert enqueued == []
    # One more image still fits.
    assert client_for(alice).post("/", {**PARAMS, "seed": ""}).status_code == 302


def test_the_team_budget_counts_everyones_spend(alice, bob, enqueued):
    Budget.objects.create(scope=Budget.Scope.TEAM, monthly_limit=Decimal("0.08"))
    make_generation(bob, cost=Decimal("0.08"), status=Generation.Status.COMPLETED)
    with pytest.raises(budgets.BudgetExceeded, match="The team's monthly budget"):
        submission.create_batch(alice, PARAMS)


def test_failed_generations_are_refunded_and_do_not_count(alice, enqueued):
    Budget.objects.create(scope=Budget.Scope.USER, user=alice, monthly_limit=Decimal("0.04"))
    make_generation(alice, cost=Decimal("0.04"), status=Generation.Status.FAILED)
    assert submission.create_batch(alice, PARAMS)


def test_a_budget_is_either_the_teams_or_one_users(alice):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        Budget(scope=Budget.Scope.TEAM, user=alice, monthly_limit=1).full_clean()
    Budget.objects.create(scope=Budget.Scope.TEAM, monthly_limit=1)
    with pytest.raises(ValidationError):
        Budget(scope=Budget.Scope.TEAM, monthly_limit=2).full_clean()


def transaction_statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith(("BEGIN", "COMMIT"))]


def test_one_image_under_no_budget_is_saved_without_a_transaction(alice, enqueued):
    # One INSERT: a burst of posts holds SQLite's write lock for their INSERTs alone.
    with CaptureQueriesContext(connection) as queries:
        submission.create_batch(alice, {**PARAMS, "num_images": 1})
    assert transaction_statements(queries) == []
    assert enqueued == [("sweep", None)]  # its kick, once the row is saved


@pytest.mark.parametrize("budgeted, images", [(True, 1), (False, 3)])
def test_a_budgets_check_or_a_batch_is_saved_in_one_transaction(alice, enqueued, budgeted, images):
    if budgeted:
        Budget.objects.create(scope=Budget.Scope.USER, user=alice, monthly_limit=Decimal("10"))
    with CaptureQueriesContext(connection) as queries:
        submission.create_batch(alice, {**PARAMS, "num_images": images})
    assert [sql.split()[0] for sql in transaction_statements(queries)] == ["BEGIN", "COMMIT"]
    assert Generation.objects.count() == images
