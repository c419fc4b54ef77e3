"""Spend per user and per day, and this month's totals against the budgets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from generations.budgets import month_start
from generations.models import DELETED_AUTHOR, Budget, Generation


@dataclass(frozen=True)
class DaySpend:
    day: date
    amount: Decimal
    images: int
    share: float  # of the busiest day, 0..1, for the chart's bar


@dataclass(frozen=True)
class UserSpend:
    username: str
    amount: Decimal
    images: int
    limit: Decimal | None
    share: float  # of the biggest spender, or of the limit when there is one


@dataclass(frozen=True)
class UsageReport:
    month_total: Decimal
    month_images: int
    team_limit: Decimal | None
    days: list[DaySpend]
    users: list[UserSpend]


def usage_report(days: int = 30) -> UsageReport:
    """The team's spending: this month per user, and each of the last `days` days."""
    now = timezone.now()
    billable = Generation.objects.billable()
    start_day = timezone.localdate(now) - timedelta(days=days - 1)
    per_day = {
        row["day"]: (row["amount"], row["images"])
        for row in billable.filter(created_at__date__gte=start_day)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(amount=Sum("cost"), images=Count("id"))
        .order_by()
    }
    busiest = max((amount for amount, _ in per_day.values()), default=Decimal("0"))
    day_rows = []
    for offset in range(days):
        day = start_day + timedelta(days=offset)
        amount, images = per_day.get(day, (Decimal("0"), 0))
        day_rows.append(DaySpend(day, amount, images, float(amount / busiest) if busiest else 0.0))

    month = billable.filter(created_at__gte=month_start(now))
    per_user = {
        row["owner"]: (row["amount"], row["images"])
        for row in month.values("owner").annotate(amount=Sum("cost"), images=Count("id")).order_by()
    }
    limits = {b.user_id: b.monthly_limit for b in Budget.objects.filter(scope=Budget.Scope.USER)}
    users = get_user_model().objects.filter(pk__in=set(per_user) | set(limits))
    top = max((amount for amount, _ in per_user.values()), default=Decimal("0"))
    user_rows = []
    for user in users:
        amount, images = per_user.get(user.pk, (Decimal("0"), 0))
        limit = limits.get(user.pk)
        scale = limit if limit else top
        user_rows.append(
            UserSpend(
                user.get_username(),
                amount,
                images,
                limit,
                min(1.0, float(amount / scale)) if scale else 0.0,
            )
        )
    if None in per_user:
        # Work of deleted accounts still cost what it cost: one row for all of it.
        amount, images = per_user[None]
        user_rows.append(
            UserSpend(DELETED_AUTHOR, amount, images, None, float(amount / top) if top else 0.0)
        )
    user_rows.sort(key=lambda row: (-row.amount, row.username))
    team = Budget.objects.filter(scope=Budget.Scope.TEAM).first()
    return UsageReport(
        month_total=sum((amount for amount, _ in per_user.values()), Decimal("0")),
        month_images=sum(images for _, images in per_user.values()),
        team_limit=team.monthly_limit if team else None,
        days=day_rows,
        users=user_rows,
    )
