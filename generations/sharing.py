"""What people do with each other's work: favourite it, share or hide it, delete, report."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from generations.models import Favourite, Generation, Moderation, OutputImage, Report, Visibility

log = logging.getLogger(__name__)

REPORT_REASON_MAX = 1000


class NotAllowed(Exception):
    """The user may see this but not do that to it."""


def set_favourite(user, generation: Generation, favourite: bool) -> bool:
    """Star or unstar a generation for this user; return whether it is now a favourite."""
    if favourite:
        try:
            with transaction.atomic():
                Favourite.objects.get_or_create(user=user, generation=generation)
        except IntegrityError:
            pass  # a double click raced itself: the star is there either way
    else:
        Favourite.objects.filter(user=user, generation=generation).delete()
    return favourite


def set_visibility(user, generation: Generation, visibility: str) -> None:
    """Share a generation with the team or make it private: its owner's or staff's call."""
    if not generation.can_manage(user):
        raise NotAllowed("Only its author or staff can change who sees this.")
    if visibility not in Visibility.values:
        raise ValueError(f"unknown visibility {visibility!r}")
    Generation.objects.filter(pk=generation.pk).update(visibility=visibility)
    generation.visibility = visibility


def delete_generation(user, generation: Generation) -> None:
    """Delete a generation and, once that is committed, its files."""
    if not generation.can_manage(user):
        raise NotAllowed("Only its author or staff can delete this.")
    files = [(field.storage, field.name)
             for image in generation.images.all()
             for field in (image.original, image.thumbnail) if field.name]
    with transaction.atomic():
        generation.delete()
        # Files go only once the rows are gone for good: a rollback keeps both.
        transaction.on_commit(lambda: _delete_files(files))


def _delete_files(files: list) -> None:
    for storage, name in files:
        try:
            storage.delete(name)
        except OSError as error:  # a missing file is fine; anything else is worth a log line
            log.warning("Could not delete %s: %s", name, error)


def report_image(user, image: OutputImage, reason: str) -> Report:
    """A teammate reports an image: it is held for review until a moderator decides."""
    if image.generation.owner_id == user.pk:
        raise NotAllowed("You cannot report your own image; delete it or make it private.")
    reason = reason.strip()
    if not reason:
        raise ValueError("Say what is wrong with the image.")
    with transaction.atomic():
        report = Report.objects.create(image=image, reporter=user,
                                       reporter_name=user.get_username(),
                                       reason=reason[:REPORT_REASON_MAX])
        # Held from the team straight away; several reports make one queue item.
        OutputImage.objects.filter(pk=image.pk, moderation__in=(
            Moderation.VISIBLE, Moderation.APPROVED)).update(moderation=Moderation.PENDING)
    return report
