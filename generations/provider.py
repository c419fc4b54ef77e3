"""The WaveSpeed client the app uses, built from settings: the real API, or the simulator."""

from __future__ import annotations

from django.conf import settings

from generations.wavespeed.client import WaveSpeedClient


def get_client() -> WaveSpeedClient:
    """A client for the configured API (the simulator when no key is set)."""
    return WaveSpeedClient(api_key=settings.WAVESPEED_API_KEY, base_url=settings.WAVESPEED_BASE_URL)
