"""The usage page: this month's spend per person and per day."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from generations import usage
from generations.models import Budget, Generation
from tests.factories import make_generation

pytestmark = pytest.mark.django_db

S = Generation.Status


def test_spend_per_person_and_per_day(alice, bob):
    make_generation(alice, cost=Decimal("0.04"), status=S.COMPLETED)
    make_generation(alice, cost=Decimal("0.04"), status=S.PROCESSING)
    make_generation(alice, cost=Decimal("0.04"), status=S.FAILED)  # refunded
    make_generation(bob, cost=Decimal("0.04"), status=S.COMPLETED)
    Budget.objects.create(scope=Budget.Scope.USER, user=bob, monthly_limit=Decimal("1"))
    report = usage.usage_report(days=7)
    assert report.month_total == Decimal("0.12")
    assert report.month_images == 3
    assert [(row.username, row.amount, row.images, row.limit) for row in report.users] == [
        ("alice", Decimal("0.08"), 2, None),
        ("bob", Decimal("0.04"), 1, Decimal("1")),
    ]
    assert report.users[0].share == 1.0 and report.users[1].share == pytest.approx(0.04)
    assert len(report.days) == 7
    assert report.days[-1].day == timezone.localdate()
    assert report.days[-1].amount == Decimal("0.12") and report.days[-1].share == 1.0


def test_last_months_work_is_not_this_months_spend(alice):
    generation = make_generation(alice, cost=Decimal("0.04"), status=S.COMPLETED)
    Generation.objects.filter(pk=generation.pk).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    assert usage.usage_report().month_total == Decimal("0")


def test_the_usage_page_renders_for_anyone_signed_in(client_for, alice, bob):
    make_generation(alice, cost=Decimal("0.04"), status=S.COMPLETED)
    page = client_for(bob).get("/usage/").content.decode()
    assert "$0.04" in page and "alice" in page
