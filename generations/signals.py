"""An output image's files go with its row, however the row goes (page, admin, cascade); its
generation's `held` follows."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from generations.models import OutputImage, refresh_held

log = logging.getLogger(__name__)


@receiver(post_delete, sender=OutputImage, dispatch_uid="output_image_files")
def delete_files_with_image(sender, instance: OutputImage, **kwargs) -> None:
    files = [
        (field.storage, field.name)
        for field in (instance.original, instance.thumbnail, instance.display)
        if field.name
    ]
    # Only once the deletion is committed: a rollback keeps both the row and its files.
    transaction.on_commit(lambda: delete_stored_files(files))


@receiver(post_delete, sender=OutputImage, dispatch_uid="output_image_held")
def refresh_held_after_delete(sender, instance: OutputImage, **kwargs) -> None:
    # Removing a generation's last shown image holds it; its last held one frees it.
    refresh_held({instance.generation_id})


def delete_stored_files(files: list) -> None:
    for storage, name in files:
        try:
            storage.delete(name)
        except Exception as error:  # a file left behind is worth a log line, not a 500
            log.warning("Could not delete %s: %s", name, error)
