"""Receiving the API's webhook calls: a finished prediction applied within milliseconds.

With `PUBLIC_BASE_URL` set, every submit asks the API to POST the prediction to
`/webhooks/wavespeed/` when it completes or fails (`provider.webhook_url`). A call is trusted
only once `wavespeed.webhooks.verify` accepts its signature and age, and applied only once:
its id is remembered (`WebhookDelivery`) in the transaction that applies it, so a replay, or
the API's own retry of a call that did arrive, changes nothing. Applying it is the same
decision a poll's answer goes through (`following.apply_prediction`), a conditional update:
whichever of the call and a poll comes second does nothing. The download stays a task.

Polling goes on as a slower safety net (`WEBHOOK_POLL_INTERVAL_SECONDS`): the API's delivery
is unreliable and its retries undocumented.

The secret comes from the API (`GET /api/v3/webhook/secret`) and is kept in this process's
memory only, never in the database, the cache or a log. A signature that does not match may
mean the secret was changed: it is then asked for again, but at most once per
`SECRET_REFRESH_SECONDS` per process, so a flood of forged calls cannot make us hammer the API.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from generations import following, provider
from generations.models import Generation, WebhookDelivery
from generations.wavespeed import client as ws
from generations.wavespeed import webhooks as signing

log = logging.getLogger(__name__)

S = Generation.Status
# A prediction object is a few kilobytes; anything much larger is not the API's.
MAX_BODY_BYTES = 256 * 1024
# After a signature mismatch, or a failed fetch, the secret is asked for at most this often.
SECRET_REFRESH_SECONDS = 60.0
# The secret's fetch must not hold the API's call for long: it retries anyway.
SECRET_FETCH_SECONDS = 10.0
# Remembered ids older than this are forgotten: a call signed that long ago is stale anyway.
REMEMBER_SECONDS = 2 * signing.TOLERANCE_SECONDS
PRUNE_EVERY_SECONDS = 60.0
HEADERS = (signing.ID_HEADER, signing.TIMESTAMP_HEADER, signing.SIGNATURE_HEADER)


@dataclass(frozen=True)
class Outcome:
    """The answer to one call: its HTTP status and a short word for the caller and the log."""

    status: int
    detail: str


class SecretUnavailable(Exception):
    """The webhook secret could not be fetched from the API (just now, or recently)."""


class _Secret:
    """The account's webhook secret, fetched once per process and kept in memory only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: str | None = None
        self._asked_at = float("-inf")  # the last fetch after the first, or a failed one

    def current(self) -> str:
        """The secret, fetched on first use (and after a failure, at most once a period)."""
        with self._lock:
            if self._value is not None:
                return self._value
            if time.monotonic() - self._asked_at < SECRET_REFRESH_SECONDS:
                raise SecretUnavailable("the last fetch failed moments ago")
            return self._fetch()

    def renewed(self) -> str | None:
        """A different secret than the one held, if the API now gives one and a fetch is
        allowed (at most once per SECRET_REFRESH_SECONDS); None otherwise."""
        with self._lock:
            if time.monotonic() - self._asked_at < SECRET_REFRESH_SECONDS:
                return None
            held = self._value
            try:
                fresh = self._fetch()
            except SecretUnavailable:
                return None
            return fresh if fresh != held else None

    def held(self) -> list[str]:
        """The secret as held and as the signing key, for error reports to hide; [] if none."""
        value = self._value
        return [value, value.removeprefix(signing.SECRET_PREFIX)] if value else []

    def forget(self) -> None:
        """Drop the secret (tests; a process that wants to ask again)."""
        with self._lock:
            self._value = None
            self._asked_at = float("-inf")

    def _fetch(self) -> str:
        if self._value is not None:
            self._asked_at = time.monotonic()  # a refresh: counted even when it works
        deadline = time.monotonic() + SECRET_FETCH_SECONDS
        try:
            with provider.get_client(deadline=deadline, max_retries=1) as client:
                self._value = client.get_webhook_secret()
        except ws.WaveSpeedError as error:
            self._asked_at = time.monotonic()
            log.warning("The webhook secret could not be fetched: %s", error)
            raise SecretUnavailable(str(error)) from None
        return self._value


secret = _Secret()
_pruned_at = float("-inf")


def receive(headers: Mapping[str, str], body: bytes) -> Outcome:
    """Verify one call and apply the prediction it carries; what to answer.

    `headers` maps lower-case names to values. 2xx means "do not send this again": applied,
    already applied, or about nothing we follow. 4xx: malformed, stale or forged, and nothing
    changed. 503: the secret could not be fetched, so the call could not be checked.
    """
    if len(body) > MAX_BODY_BYTES:
        return Outcome(413, "body too large")
    try:
        signing.read_headers(headers)  # a malformed call is refused before any secret is asked
        verified = signing.verify(secret.current(), headers, body)
    except signing.MalformedWebhook as error:
        return _refused(400, error)
    except signing.StaleWebhook as error:
        return _refused(401, error)
    except signing.ForgedWebhook as error:
        renewed = _verify_with_renewed_secret(headers, body)
        if renewed is None:
            return _refused(401, error)
        verified = renewed
    except SecretUnavailable:
        return Outcome(503, "the webhook secret is unavailable; try again later")
    try:
        prediction = ws.Prediction.from_api(json.loads(body))
    except (ValueError, ws.ProtocolError):
        log.warning("Webhook %s: the body is not a prediction object", verified.webhook_id)
        return Outcome(400, "the body is not a prediction object")
    return apply(verified.webhook_id, prediction)


def apply(webhook_id: str, prediction: ws.Prediction) -> Outcome:
    """Apply a verified call's prediction to its generation, once per webhook id."""
    _prune()
    now = timezone.now()
    # Looked up before the transaction, which on SQLite holds the write lock from its start:
    # the steps it applies are conditional, so a generation moved on meanwhile is left as is.
    generation = Generation.objects.filter(prediction_id=prediction.id).first()
    if generation is None:
        # Not remembered: a retry may find it once its submit's answer is recorded.
        log.info("Webhook %s: prediction %s is not ours (yet)", webhook_id, prediction.id)
        return Outcome(202, "unknown prediction; ignored")
    remembered = False
    try:
        with transaction.atomic():
            # First, so that a repeated id ends the transaction before it did anything.
            WebhookDelivery.objects.create(webhook_id=webhook_id, received_at=now)
            remembered = True
            if not prediction.is_terminal:
                return Outcome(202, "not finished; ignored")
            if generation.status != S.PROCESSING:
                return Outcome(200, "already applied")
            following.apply_prediction(generation, prediction, now)
    except IntegrityError:
        if remembered:
            raise
        return Outcome(200, "already received")
    log.info(
        "Generation %s: prediction %s %s (webhook %s)",
        generation.pk,
        prediction.id,
        prediction.status,
        webhook_id,
    )
    return Outcome(200, "applied")


def _verify_with_renewed_secret(headers: Mapping[str, str], body: bytes) -> signing.Verified | None:
    """Try again with a renewed secret, in case it was changed; None if that fails too."""
    fresh = secret.renewed()
    if fresh is None:
        return None
    try:
        return signing.verify(fresh, headers, body)
    except signing.WebhookError:
        return None


def _refused(status: int, error: signing.WebhookError) -> Outcome:
    log.warning("A webhook call was refused: %s", error.reason)
    return Outcome(status, error.reason)


def _prune() -> None:
    """Forget remembered ids past the window, at most once a minute per process."""
    global _pruned_at
    if time.monotonic() - _pruned_at < PRUNE_EVERY_SECONDS:
        return
    _pruned_at = time.monotonic()
    cutoff = timezone.now() - timedelta(seconds=REMEMBER_SECONDS)
    WebhookDelivery.objects.filter(received_at__lt=cutoff).delete()
