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


def held_with_more_than(name: str, seconds: float) -> bool:
    """Whether someone holds the lease and it has more than `seconds` left to live.

    A holder that renews its lease keeps it far from expiring; one that died stops renewing,
    and its lease soon has less left than that.
    """
    return (
        Lease.objects.filter(name=name, expires_at__gt=timezone.now() + timedelta(seconds=seconds))
        .exclude(holder="")
        .exists()
    )


def release(name: str, holder: str) -> None:
    """Give the lease up, if `holder` still holds it."""
    Lease.objects.filter(name=name, holder=holder).update(holder="", expires_at=None)
