"""Monthly spending limits: a submission that would pass one is refused before it is sent."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from generations.models import Budget, Generation


class BudgetExceeded(Exception):
    """A submission would take a user or the team past its monthly limit."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def month_start(now: datetime | None = None) -> datetime:
    """Midnight on the first of this month, in the server's time zone."""
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def spent_this_month(user=None, now: datetime | None = None) -> Decimal:
    """What this month's billable generations cost: one user's, or the whole team's."""
    generations = Generation.objects.billable().filter(created_at__gte=month_start(now))
    if user is not None:
        generations = generations.filter(owner=user)
    return generations.aggregate(total=Sum("cost"))["total"] or Decimal("0")


def applies_to(user) -> bool:
    """Whether a monthly limit (the user's or the team's) applies to `user`'s submissions."""
    return _limits_for(user).exists()


def _limits_for(user):
    return Budget.objects.filter(Q(scope=Budget.Scope.TEAM) | Q(user=user))


def check_budget(user, cost: Decimal) -> None:
    """Refuse a submission of `cost` that would pass a monthly limit.

    Call inside the transaction that saves the submission: the limit rows are locked, so two
    submissions at once cannot both slip under the same limit.
    """
    limits = list(_limits_for(user).select_for_update())
    for budget in sorted(limits, key=lambda b: b.scope != Budget.Scope.USER):
        mine = budget.scope == Budget.Scope.USER
        spent = spent_this_month(user if mine else None)
        if spent + cost > budget.monthly_limit:
            left = max(budget.monthly_limit - spent, Decimal("0"))
            whose = "Your" if mine else "The team's"
            raise BudgetExceeded(
                f"{whose} monthly budget is ${budget.monthly_limit:.2f} and ${spent:.2f} is "
                f"spent; ${left:.2f} is left, and this would cost ${cost:.2f}. Ask an admin to "
                f"raise the limit, or wait for next month."
            )


def left_this_month(user, now: datetime | None = None) -> Decimal | None:
    """What `user` may still spend this month: the tighter of their and the team's limits.

    None when neither is set (nothing limits them).
    """
    lefts = []
    for budget in _limits_for(user):
        mine = budget.scope == Budget.Scope.USER
        spent = spent_this_month(user if mine else None, now)
        lefts.append(max(budget.monthly_limit - spent, Decimal("0")))
    return min(lefts) if lefts else None
