"""Sign-in lockouts on top of django-axes: a limit per account and a higher one per address.

Axes records every failed sign-in (account, address, browser) and compares one count with one
limit. Many people can share an address (an office behind one NAT, or every test of a browser
session on 127.0.0.1), so an address gets a limit of its own, LOGIN_FAILURE_LIMIT_PER_ADDRESS,
above the account's AXES_FAILURE_LIMIT: guessing one account's password stops after a few
tries from anywhere, and trying a few passwords on many accounts from one address stops soon
after. The settings are in playground/settings.py ("Sign-in lockouts").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.response import TemplateResponse

# "Too Many Requests": the sign-in was refused without looking at the password.
LOCKED_OUT_STATUS = 429


class AccountAndAddressHandler(AxesDatabaseHandler):
    """Axes' database handler with separate limits for an account and for an address."""

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        """Failures counted against the account's limit, which Axes compares with.

        An address past its own limit counts as the account limit reached, so everyone
        signing in from it is refused until its failures are older than the cool-off.
        """
        recent = AccessAttempt.objects.filter(attempt_time__gte=get_cool_off_threshold(request))
        address = request.axes_ip_address  # type: ignore[attr-defined]  # set by Axes
        by_account = _total(recent.filter(username=get_client_username(request, credentials)))
        by_address = _total(recent.filter(ip_address=address))
        if by_address >= settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS:
            return max(by_account, get_failure_limit(request, credentials))
        return by_account

    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        """After a successful sign-in, forget that account's failures, not its address's.

        The success proves that account's password, not that the address is innocent: were
        the address forgotten too, someone with an account of their own could clear it by
        signing in between guesses at other people's passwords.
        """
        count, _ = AccessAttempt.objects.filter(
            username=get_client_username(request, credentials)
        ).delete()
        return count


def _total(attempts: QuerySet[AccessAttempt]) -> int:
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def lockout_minutes() -> int:
    """How long a lockout lasts, in whole minutes (AXES_COOLOFF_TIME)."""
    cool_off = get_cool_off() or timedelta(0)
    return max(1, math.ceil(cool_off.total_seconds() / 60))


def lockout_message() -> str:
    minutes = lockout_minutes()
    unit = "minute" if minutes == 1 else "minutes"
    return (
        f"Too many failed sign-ins. Try again in {minutes} {unit}, "
        "or ask an administrator to unlock your account."
    )


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """The sign-in page it was sent from (the site's or the admin's), saying why it refused.

    Axes calls this (AXES_LOCKOUT_CALLABLE) instead of the login view's own answer, which
    would wrongly say the password did not match: a locked-out sign-in is refused before its
    password is looked at.
    """
    message = lockout_message()
    template: str | Sequence[str] = "registration/login.html"
    context: dict[str, Any] = {"form": AuthenticationForm(request)}
    if (
        isinstance(original_response, TemplateResponse)
        and isinstance(original_response.template_name, str | list | tuple)
        and original_response.context_data
    ):
        # The login view's page (the site's or the admin's), with its context.
        template = original_response.template_name
        context = dict(original_response.context_data)
    form = context.get("form")
    if isinstance(form, AuthenticationForm) and form.is_bound:
        # The login view has validated it: its one error is the misleading "did not match".
        # The admin's login page shows the form's errors; the site's shows lockout_message.
        form.errors.clear()
        form.add_error(None, message)
    context["lockout_message"] = message
    return render(request, template, context, status=LOCKED_OUT_STATUS)
