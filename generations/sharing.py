"""What people do with each other's work: favourite it, share or hide it, delete, report."""

from __future__ import annotations

from django.db import transaction

from generations.models import Favourite, Generation, Moderation, OutputImage, Report, Visibility

REPORT_REASON_MAX = 1000


class NotAllowed(Exception):
    """The user may see this but not do that to it."""


def set_favourite(user, generation: Generation, favourite: bool) -> bool:
    """Star or unstar a generation for this user; return whether it is now a favourite."""
    if favourite:
        # get_or_create already survives a double click racing itself.
        Favourite.objects.get_or_create(user=user, generation=generation)
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
    """Delete a generation; its images' files follow once that is committed (see signals)."""
    if not generation.can_manage(user):
        raise NotAllowed("Only its author or staff can delete this.")
    # Every image, not only those this user is shown: a hidden one's files go too.
    Generation.objects.filter(pk=generation.pk).delete()


def report_image(user, image: OutputImage, reason: str) -> Report | None:
    """A teammate reports an image: it is held for review until a moderator decides.

    One report per person and image: a second one from the same person changes nothing
    (so nobody can keep sending an approved image back to the queue alone). Returns None
    then.
    """
    if image.generation.owner_id == user.pk:
        raise NotAllowed("You cannot report your own image; delete it or make it private.")
    reason = reason.strip()
    if not reason:
        raise ValueError("Say what is wrong with the image.")
    with transaction.atomic():
        if Report.objects.filter(image=image, reporter=user).exists():
            return None
        report = Report.objects.create(
            image=image,
            reporter=user,
            reporter_name=user.get_username(),
            reason=reason[:REPORT_REASON_MAX],
        )
        # Held from the team straight away; several reports make one queue item.
        OutputImage.objects.filter(
            pk=image.pk, moderation__in=(Moderation.VISIBLE, Moderation.APPROVED)
        ).update(moderation=Moderation.PENDING)
    return report
