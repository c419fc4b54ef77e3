"""Who is calling: the personal access token in `Authorization: Bearer`, and its request rate.

A session cookie never counts here (no CSRF check either, as nothing here reads a cookie):
only the token does. Text that is not a token's shape is refused before the database; every
refusal is the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import F, Q
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables

from generations.accounts import tokens
from generations.accounts.models import PersonalAccessToken
from generations.gateway import envelopes

WINDOW = timedelta(seconds=60)
# Longer than any real token, so a huge header is refused without hashing it.
_HEADER_MAX = 200


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if len(header) > _HEADER_MAX:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not tokens.is_well_formed(token.strip()):
        return None
    return token.strip()


def count_request(token_id: int, now: datetime) -> float | None:
    """Count a call against its token's minute; None if it may go, else seconds to wait.

    The count lives on the token's row and moves by conditional updates, so every process
    and host sees one count, on SQLite and PostgreSQL alike.
    """
    limit = settings.GATEWAY_REQUESTS_PER_MINUTE
    rows = PersonalAccessToken.objects.filter(pk=token_id)
    for _ in range(2):  # a window another call just restarted is counted in on the second try
        if rows.filter(window_started_at__gt=now - WINDOW, window_requests__lt=limit).update(
            window_requests=F("window_requests") + 1, last_used_at=now
        ):
            return None
        expired = Q(window_started_at__isnull=True) | Q(window_started_at__lte=now - WINDOW)
        if rows.filter(expired).update(window_started_at=now, window_requests=1, last_used_at=now):
            return None
    started = rows.values_list("window_started_at", flat=True).first() or now
    return max(1.0, (started + WINDOW - now).total_seconds())


GatewayView = Callable[..., HttpResponseBase]


def token_required(view: GatewayView) -> GatewayView:
    """Serve `view` to a usable token within its rate, as `request.access_token`."""

    @login_not_required
    @csrf_exempt
    @wraps(view)
    @sensitive_variables("text")
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        text = bearer_token(request)
        token = tokens.authenticate(text) if text is not None else None
        if token is None:
            return envelopes.unauthorised()
        wait = count_request(token.pk, timezone.now())
        if wait is not None:
            return envelopes.error(
                429,
                f"Too many requests: this token may make "
                f"{settings.GATEWAY_REQUESTS_PER_MINUTE} calls a minute. "
                f"Try again in {math.ceil(wait)} s.",
                headers={"Retry-After": str(math.ceil(wait))},
            )
        request.access_token = token  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return guarded
