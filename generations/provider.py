"""The WaveSpeed client the app uses, built from settings: the real API, or the simulator;
where the outputs it names may be downloaded from; and where it should call back."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from generations.outbound import DEFAULT_PORTS, AllowedHost, OutboundPolicy, parse_allowed_hosts
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


# The receiver's path (generations/urls.py), under PUBLIC_BASE_URL.
WEBHOOK_PATH = "/webhooks/wavespeed/"


def webhook_url() -> str | None:
    """Where the API should call back when a prediction ends; None: webhooks are off."""
    if not settings.PUBLIC_BASE_URL:
        return None
    return settings.PUBLIC_BASE_URL + WEBHOOK_PATH


def output_policy() -> OutboundPolicy:
    """WAVESPEED_OUTPUT_HOSTS over https; in simulator mode also the simulator, over http.

    The simulator serves outputs from the address the app reaches it at, usually loopback or
    a private one, so its exact host:port is listed: that lets it resolve to any address.
    """
    hosts = parse_allowed_hosts(settings.WAVESPEED_OUTPUT_HOSTS)
    if not settings.WAVESPEED_SIMULATED:
        return OutboundPolicy(hosts, https_only=True)
    simulator = urlsplit(settings.WAVESPEED_BASE_URL)
    port = simulator.port or DEFAULT_PORTS.get(simulator.scheme, 80)
    own = AllowedHost((simulator.hostname or "").rstrip("."), port)
    return OutboundPolicy(hosts | {own}, https_only=False)
