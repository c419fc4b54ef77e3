"""Values every page needs."""

from django.conf import settings
from django.http import HttpRequest


def playground(request: HttpRequest) -> dict:
    return {"simulated_api": settings.WAVESPEED_SIMULATED}
