"""Values every page needs."""

from django.conf import settings
from django.http import HttpRequest

from generations import admission, breaker
from generations.models import is_moderator
from generations.moderation import services as moderation


def playground(request: HttpRequest) -> dict:
    values: dict[str, object] = {"simulated_api": settings.WAVESPEED_SIMULATED}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        # Staff learn that submitting is paused, and what to do; one read of one row.
        notice = breaker.staff_notice()
        if notice is not None:
            values["provider_notice"] = notice
            values["provider_waiting"] = admission.waiting_count()
    if user is not None and is_moderator(user):
        # The navigation's count badge; one small indexed count, for moderators only.
        values["moderation_pending"] = moderation.pending_count()
    return values
