"""Values every page needs."""

from django.conf import settings
from django.http import HttpRequest

from generations.models import is_moderator
from generations.moderation import services as moderation


def playground(request: HttpRequest) -> dict:
    values: dict[str, bool | int] = {"simulated_api": settings.WAVESPEED_SIMULATED}
    user = getattr(request, "user", None)
    if user is not None and is_moderator(user):
        # The navigation's count badge; one small indexed count, for moderators only.
        values["moderation_pending"] = moderation.pending_count()
    return values
