"""The account's shared wait: when the API throttles the whole account, every caller waits once.

A single prediction answering 429 defers only itself (its own next check, see
`following.note_poll_error`). Many calls in a row answered 429 mean the account as a whole is
over its limits: then one record, "throttled until T", stops the sweeper's polls, settles and
submits until T, in every worker on every host, instead of each call waiting on its own. The
record is a row of the `Lease` table: a named time in the database that every process reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q

from generations.models import Lease
from generations.wavespeed import client as ws

LEASE_NAME = "api-throttle"
# Calls answered 429 in a row (no other answer between them) that mean the whole account.
STREAK = 3
# The account's wait when the answers name none, and the longest one honoured.
DEFAULT_WAIT_SECONDS = 10.0
MAX_WAIT_SECONDS = 300.0


def throttled_until(now: datetime) -> datetime | None:
    """When the account's wait ends, if it is waiting at `now`."""
    return (
        Lease.objects.filter(name=LEASE_NAME, expires_at__gt=now)
        .values_list("expires_at", flat=True)
        .first()
    )


def throttle_account(until: datetime) -> None:
    """Make the whole account wait until `until`; a longer wait already set is kept."""
    Lease.objects.get_or_create(name=LEASE_NAME)
    Lease.objects.filter(name=LEASE_NAME).filter(
        Q(expires_at=None) | Q(expires_at__lt=until)
    ).update(holder="api", expires_at=until)


@dataclass
class Streak:
    """Counts 429 answers in a row; enough of them make the whole account wait."""

    length: int = 0
    waits: list[float] = field(default_factory=list)

    def note(self, answer: object, now: datetime) -> datetime | None:
        """Count one call's answer (a value or an error); the account's new wait, if any."""
        if not isinstance(answer, ws.RateLimitError):
            self.length, self.waits = 0, []
            return None
        self.length += 1
        if answer.retry_after is not None:
            self.waits.append(answer.retry_after)
        if self.length < STREAK:
            return None
        seconds = min(max(self.waits, default=DEFAULT_WAIT_SECONDS), MAX_WAIT_SECONDS)
        self.length, self.waits = 0, []
        until = now + timedelta(seconds=max(seconds, 1.0))
        throttle_account(until)
        return until
