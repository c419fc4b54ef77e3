"""Personal access tokens: how scripts sign in to the WaveSpeed-compatible gateway."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class PersonalAccessTokenQuerySet(models.QuerySet):
    def owned_by(self, user) -> PersonalAccessTokenQuerySet:
        """A person's own tokens: all the account page shows and revokes."""
        return self.filter(user_id=user.pk)

    def usable(self) -> PersonalAccessTokenQuerySet:
        """Tokens that still open the gateway: not revoked, not expired."""
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class PersonalAccessToken(models.Model):
    """A named secret that acts as its user on the gateway; only its SHA-256 is kept.

    `key_id` is the token's non-secret part, written in the token itself: the lookup goes by
    it, and the hash is then compared in constant time. The window fields count the token's
    requests in the current minute, on the row itself, so every process sees one count.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(
        max_length=100, help_text="What the token is for, in its owner's words."
    )
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True, help_text="Who revoked it.")
    window_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    window_requests = models.PositiveIntegerField(default=0, editable=False)

    objects = PersonalAccessTokenQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = "personal access token"

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return not self.is_revoked and not self.is_expired

    @property
    def state(self) -> str:
        """Active, expired or revoked, as the account page and the admin show it."""
        if self.is_revoked:
            return "revoked"
        if self.is_expired:
            return "expired"
        return "active"
