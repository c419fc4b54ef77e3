"""Verifying WaveSpeed's webhook calls, without Django.

On completion or failure the API POSTs the bare prediction object to the URL given at submit
(`?webhook=`), with three headers:

    webhook-id: <the delivery's id, the same on every retry>
    webhook-timestamp: <unix seconds when it was signed>
    webhook-signature: v3,<hex HMAC-SHA256 of "{id}.{timestamp}.{raw body}">

keyed with the account's webhook secret (`GET /api/v3/webhook/secret`) minus its `whsec_`
prefix, used as text (not base64-decoded). A call signed more than `TOLERANCE_SECONDS` ago,
or that far in the future, is refused: a captured call cannot be replayed later. Within that
window the caller refuses a webhook id it has already seen (`Verified.webhook_id`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

SIGNATURE_VERSION = "v3"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
# WaveSpeed's documented maximum age of a call (WebhookMaxAgeSeconds).
TOLERANCE_SECONDS = 300
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
# Ids are the API's own short tokens; anything longer or stranger is not worth hashing.
_WEBHOOK_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
_TIMESTAMP = re.compile(r"\d{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class WebhookError(Exception):
    """A webhook call that must not be trusted; `reason` is safe to log (no secret in it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedWebhook(WebhookError):
    """Headers missing or not in the documented shape."""


class StaleWebhook(WebhookError):
    """Signed too long ago (or too far in the future): possibly a replay."""


class ForgedWebhook(WebhookError):
    """No signature matches the secret: not from the API, altered, or the secret changed."""


@dataclass(frozen=True)
class Verified:
    """A call whose signature and age were checked: its id and when it was signed."""

    webhook_id: str
    timestamp: int


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret as the API gives it: the text after `whsec_`, not decoded."""
    secret = secret.strip()
    if secret.startswith(SECRET_PREFIX):
        secret = secret[len(SECRET_PREFIX) :]
    if not secret:
        raise ValueError("an empty webhook secret")
    return secret.encode()


def signature(secret: str, webhook_id: str, timestamp: int | str, body: bytes) -> str:
    """The hex signature of one call (what follows `v3,` in its header)."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    return hmac.new(signing_key(secret), content, hashlib.sha256).hexdigest()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of a call signed with this secret (for tests and tools)."""
    return {
        ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION},{signature(secret, webhook_id, timestamp, body)}",
    }


def read_headers(headers: Mapping[str, str]) -> tuple[str, int, list[str]]:
    """The id, the timestamp and the v3 signatures of a call; MalformedWebhook if unusable.

    `headers` is looked up by the lower-case names; several signatures may be listed,
    separated by spaces (other versions among them are ignored).
    """
    webhook_id = (headers.get(ID_HEADER) or "").strip()
    raw_timestamp = (headers.get(TIMESTAMP_HEADER) or "").strip()
    raw_signatures = (headers.get(SIGNATURE_HEADER) or "").strip()
    if not webhook_id or not raw_timestamp or not raw_signatures:
        raise MalformedWebhook("a webhook header is missing")
    if not _WEBHOOK_ID.fullmatch(webhook_id):
        raise MalformedWebhook("the webhook id is malformed")
    if not _TIMESTAMP.fullmatch(raw_timestamp):
        raise MalformedWebhook("the webhook timestamp is not unix seconds")
    signatures = []
    for entry in raw_signatures.split():
        version, _, value = entry.partition(",")
        if version == SIGNATURE_VERSION and _HEX_SHA256.fullmatch(value):
            signatures.append(value.lower())
    if not signatures:
        raise MalformedWebhook("no v3 signature in the webhook-signature header")
    return webhook_id, int(raw_timestamp), signatures


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> Verified:
    """Check a call's signature and age; raise a WebhookError subclass unless both hold.

    The signatures are compared in constant time, each one of them.
    """
    webhook_id, timestamp, signatures = read_headers(headers)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise StaleWebhook(f"signed {now - timestamp:+.0f} s from now, beyond {tolerance:g} s")
    expected = signature(secret, webhook_id, timestamp, body)
    # Every listed signature is compared, so the time taken tells nothing of which matched.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise ForgedWebhook("the signature does not match")
    return Verified(webhook_id, timestamp)
