"""The WaveSpeed client the app uses, built from settings: the real API, or the simulator."""

from __future__ import annotations

from django.conf import settings

from generations.wavespeed.client import WaveSpeedClient


def get_client(*, deadline: float | None = None, max_retries: int = 4) -> WaveSpeedClient:
    """A client for the configured API (the simulator when no key is set).

    `deadline` (a `time.monotonic()` reading) ends every call of the client by then;
    `max_retries` is how often a read is tried again after a transient failure.
    """
    return WaveSpeedClient(
        api_key=settings.WAVESPEED_API_KEY,
        base_url=settings.WAVESPEED_BASE_URL,
        timeout=settings.WAVESPEED_TIMEOUT_SECONDS,
        submit_timeout=settings.WAVESPEED_SUBMIT_TIMEOUT_SECONDS,
        max_retries=max_retries,
        deadline=deadline,
    )
