"""Named leases: a lock held in the database that expires if its holder dies."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from generations.models import Lease


def acquire(name: str, holder: str, ttl_seconds: float) -> bool:
    """Take or renew the lease; True when `holder` now holds it."""
    Lease.objects.get_or_create(name=name)
    now = timezone.now()
    taken = (
        Lease.objects.filter(name=name)
        .filter(Q(holder="") | Q(holder=holder) | Q(expires_at__lt=now) | Q(expires_at=None))
        .update(holder=holder, expires_at=now + timedelta(seconds=ttl_seconds))
    )
    return taken == 1


def release(name: str, holder: str) -> None:
    """Give the lease up, if `holder` still holds it."""
    Lease.objects.filter(name=name, holder=holder).update(holder="", expires_at=None)
