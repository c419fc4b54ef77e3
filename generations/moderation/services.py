"""NSFW review: images the API flags or teammates report wait here for a moderator.

Every decision changes the image's state and writes its audit row in one transaction, so the
log and the states never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from generations.models import (
    Moderation,
    ModerationDecision,
    OutputImage,
    Report,
    is_moderator,
)

DECISIONS = {"approve": Moderation.APPROVED, "reject": Moderation.REJECTED}
PAST_TENSE = {"approve": "approved", "reject": "rejected"}
NOTE_MAX = 2000


@dataclass(frozen=True)
class QueueItem:
    image: OutputImage
    flagged_by_api: bool
    reports: list[Report]

    @property
    def reasons(self) -> list[str]:
        found = ["Flagged by the API (has_nsfw_contents)"] if self.flagged_by_api else []
        found += [f"Reported by {r.reporter_name}: {r.reason}" for r in self.reports]
        return found or ["Held for review"]


def _as_reviewed() -> QuerySet[OutputImage]:
    """Images with what a review shows of each: prompt, author and open reports."""
    open_reports = Report.objects.filter(resolved_at__isnull=True).order_by("created_at")
    return OutputImage.objects.select_related("generation__owner").prefetch_related(
        Prefetch("reports", queryset=open_reports, to_attr="open_reports")
    )


def _item(image: OutputImage) -> QueueItem:
    reports = image.open_reports  # type: ignore[attr-defined]  # the prefetch's to_attr
    return QueueItem(image=image, flagged_by_api=image.nsfw, reports=reports)


def queue_items(limit: int = 200) -> list[QueueItem]:
    """The queue, oldest first: one item per image, however many reports it has."""
    pending = _as_reviewed().filter(moderation=Moderation.PENDING).order_by("created_at", "pk")
    return [_item(image) for image in pending[:limit]]


def queue_item(image_id: int) -> QueueItem | None:
    """One image as the review shows it, whatever its state (for its own page)."""
    image = _as_reviewed().filter(pk=image_id).first()
    return None if image is None else _item(image)


def pending_count() -> int:
    return OutputImage.objects.filter(moderation=Moderation.PENDING).count()


def queue_position(image: OutputImage) -> int | None:
    """Where a pending image stands in the queue (1 for the oldest); None once decided."""
    if image.moderation != Moderation.PENDING:
        return None
    pending = OutputImage.objects.filter(moderation=Moderation.PENDING)
    earlier = pending.filter(created_at__lt=image.created_at).count()
    tied = pending.filter(created_at=image.created_at, pk__lt=image.pk).count()
    return earlier + tied + 1


def moderator_names() -> list[str]:
    """Everyone who has decided something, as the history's moderator filter lists them."""
    names = ModerationDecision.objects.values_list("moderator_name", flat=True).distinct()
    return sorted(set(names), key=str.casefold)


def next_pending_after(image_id: int) -> OutputImage | None:
    """The queue's next item after this one (wrapping to the start), for "decide and next"."""
    images = OutputImage.objects.filter(moderation=Moderation.PENDING).order_by("created_at", "pk")
    return images.filter(pk__gt=image_id).first() or images.exclude(pk=image_id).first()


def decide(moderator, image_ids: Iterable[int], action: str, note: str = "") -> int:
    """Approve or reject images; return how many changed. One audit row per changed image."""
    if not is_moderator(moderator):
        raise PermissionDenied("Reviewing images needs the review_image permission.")
    if action not in DECISIONS:
        raise ValueError(f"unknown decision {action!r}")
    to_state = DECISIONS[action]
    note = (note or "").strip()[:NOTE_MAX]
    now = timezone.now()
    with transaction.atomic():
        images = list(
            OutputImage.objects.select_for_update()
            .filter(pk__in=list(image_ids))
            .exclude(moderation=to_state)
            .order_by("pk")
        )
        for image in images:
            ModerationDecision.objects.create(
                image=image,
                image_ref=image.pk,
                generation_ref=image.generation_id,
                from_state=image.moderation,
                to_state=to_state,
                moderator=moderator,
                moderator_name=moderator.get_username(),
                note=note,
            )
        OutputImage.objects.filter(pk__in=[image.pk for image in images]).update(
            moderation=to_state
        )
        Report.objects.filter(image__in=images, resolved_at__isnull=True).update(resolved_at=now)
    return len(images)


def history(
    *, moderator: str = "", to_state: str = "", since: date | None = None, until: date | None = None
) -> QuerySet[ModerationDecision]:
    """Past decisions, newest first, filtered by moderator name, outcome and days."""
    decisions = ModerationDecision.objects.select_related("image")
    if moderator:
        decisions = decisions.filter(moderator_name=moderator)
    if to_state:
        decisions = decisions.filter(to_state=to_state)
    if since:
        decisions = decisions.filter(created_at__date__gte=since)
    if until:
        decisions = decisions.filter(created_at__date__lte=until)
    return decisions
