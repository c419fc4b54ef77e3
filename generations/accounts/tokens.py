"""Issuing, checking and revoking personal access tokens.

A token reads `kpat_<key id>_<secret><tag>`: the prefix makes a leaked one easy to recognise
(and to scan for), the key id finds its row without being secret, and the secret (192 bits
from `secrets`) is kept only as the SHA-256 of the whole token. A slow password hash would add
nothing against guessing 192 bits, and would make every API call cost the server.

The tag (64 bits of an HMAC keyed with the app's SECRET_KEY) tells a token this app issued from
a made-up one without the database: a guesser's tokens are refused before any query, so bad
tokens cost the caller, not the database. Rotating SECRET_KEY keeps the tokens working while
the old key is in SECRET_KEY_FALLBACKS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.views.decorators.debug import sensitive_variables

from generations.accounts.models import PersonalAccessToken

PREFIX = "kpat_"
_SHAPE = re.compile(r"kpat_([0-9a-f]{12})_([A-Za-z0-9_-]{32})([A-Za-z0-9_-]{11})", re.ASCII)
_TAG_SALT = "generations.accounts.tokens.tag"
# A token anywhere in a text (error reports hide any value holding one).
IN_TEXT = re.compile(r"kpat_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", re.ASCII)
# Compared against when no row matches, so an unknown key id costs what a known one does.
_NO_SUCH_HASH = hashlib.sha256(b"no such token").hexdigest()
# Choices of the account page: days until a new token expires (None: never).
EXPIRY_CHOICES: tuple[tuple[str, str], ...] = (
    ("30", "30 days"),
    ("90", "90 days"),
    ("365", "1 year"),
    ("never", "Never"),
)
NAME_MAX_LENGTH = 100


@sensitive_variables("token")
def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class ShownOnce(str):
    """A new token for the page that shows it once: its text renders, its repr hides it.

    Debug logging repr()s whole template contexts (a variable that fails to resolve logs the
    context it was looked up in), and that must not carry the token into a log.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'kpat_… (a new token, hidden)'"


@sensitive_variables("secret")
def _tag(key_id: str, secret: str, key: str | bytes) -> str:
    """The token's last 11 characters: 64 bits of an HMAC of the rest, keyed with `key`."""
    digest = salted_hmac(_TAG_SALT, f"{key_id}_{secret}", secret=key, algorithm="sha256")
    return base64.urlsafe_b64encode(digest.digest()[:8]).decode("ascii").rstrip("=")


@sensitive_variables("secret", "tag")
def _issued_here(key_id: str, secret: str, tag: str) -> bool:
    """Whether the tag is this app's (under its key or a fallback one), in constant time."""
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    # Every key is tried, so the time says nothing about which one matched.
    return any([hmac.compare_digest(_tag(key_id, secret, key), tag) for key in keys])


@sensitive_variables("token", "secret")
def issue(user, name: str, expires_in_days: int | None = None) -> tuple[PersonalAccessToken, str]:
    """Make a token for `user`; return its row and the token itself, which is never kept."""
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    while True:
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(24)
        token = f"{PREFIX}{key_id}_{secret}{_tag(key_id, secret, settings.SECRET_KEY)}"
        if not PersonalAccessToken.objects.filter(key_id=key_id).exists():
            break
    row = PersonalAccessToken.objects.create(
        user=user,
        name=name,
        key_id=key_id,
        secret_hash=_digest(token),
        expires_at=expires_at,
    )
    return row, token


def is_well_formed(token: str) -> bool:
    """Whether the text has a token's shape: anything else is refused before the database."""
    return bool(_SHAPE.fullmatch(token))


@sensitive_variables("token")
def authenticate(token: str) -> PersonalAccessToken | None:
    """The usable token this text is, with its user; None for anything else.

    Malformed text, and tokens this app did not issue (their tag is wrong), never reach the
    database. Unknown, revoked and expired tokens, and those of inactive users, all give None
    after the same constant-time comparison.
    """
    match = _SHAPE.fullmatch(token)
    if match is None or not _issued_here(*match.groups()):
        return None
    row = PersonalAccessToken.objects.select_related("user").filter(key_id=match.group(1)).first()
    expected = row.secret_hash if row is not None else _NO_SUCH_HASH
    matches = hmac.compare_digest(_digest(token), expected)
    if row is None or not matches or not row.is_usable or not row.user.is_active:
        return None
    return row


def revoke(token: PersonalAccessToken, by) -> bool:
    """Revoke a token for good; False if it already was."""
    with transaction.atomic():
        revoked = PersonalAccessToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=by.get_username()
        )
    return bool(revoked)
