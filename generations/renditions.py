"""An image's smaller copies, made after ingest stored its original, never in its way.

When hundreds of images arrive at once, each is stored, and shown, without waiting for a
decode: ingest checks the file and stores it. The tile renditions (thumbnail, placeholder,
average colour) come from one decode a moment later (`background_renditions`, at a lower
priority than downloads) or from the first request for the thumbnail (`thumbnail_file`);
the display rendition (what the generation's page and the lightbox show) from the first
request for it (`display_file`). `manage.py make_display_renditions` makes every missing one
ahead of time, in batches by id, so a run can be stopped and started again, and a second run
has nothing to do. Where a copy cannot be made, the original is served in its place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models import Q
from django.db.models.fields.files import FieldFile

from generations import imaging
from generations.models import OutputImage

log = logging.getLogger(__name__)

BATCH_SIZE = 50


@dataclass
class Backfill:
    made: int = 0
    failed: list[str] = field(default_factory=list)  # "image 12: why", for whoever runs it


MISSING = Q(display="") | Q(thumbnail="")


def images_missing_renditions() -> int:
    """Images missing a display rendition or a thumbnail."""
    return OutputImage.objects.filter(MISSING).count()


def make_missing_renditions(
    *, batch_size: int = BATCH_SIZE, progress: Callable[[Backfill], None] | None = None
) -> Backfill:
    """Give every image the renditions it lacks; failures are listed, not fatal."""
    backfill = Backfill()
    after = 0
    while True:
        batch = list(
            OutputImage.objects.filter(MISSING, pk__gt=after)
            .select_related("generation")
            .order_by("pk")[:batch_size]
        )
        if not batch:
            return backfill
        for image in batch:
            after = image.pk
            try:
                made = not image.thumbnail and make_tile_renditions(image)
                if not image.display and make_display_rendition(image):
                    made = True
                backfill.made += made
            except Exception as error:  # one image's trouble (a lost file) stops no other
                words = error.message if isinstance(error, imaging.ImageError) else repr(error)
                backfill.failed.append(f"image {image.pk}: {words}")
        if progress:
            progress(backfill)


def make_tile_renditions(image: OutputImage) -> bool:
    """Store one image's thumbnail, placeholder and colour, from one decode of its original;
    False if another run stored them first."""
    made = imaging.make_renditions(
        _original_bytes(image),
        max_pixels=settings.IMAGE_MAX_PIXELS,
        thumbnail_width=settings.THUMBNAIL_WIDTH,
    )
    thumbnail = made.thumbnail
    image.thumbnail.save(
        f"{image.generation_id}-{image.index}.webp", ContentFile(thumbnail.data), save=False
    )
    # Conditional, as for the display rendition below.
    stored = OutputImage.objects.filter(pk=image.pk, thumbnail="").update(
        thumbnail=image.thumbnail.name,
        thumbnail_width=thumbnail.width,
        thumbnail_height=thumbnail.height,
        placeholder=made.placeholder.data_uri,
        color=made.placeholder.color,
    )
    if not stored:
        image.thumbnail.delete(save=False)
    return bool(stored)


def _original_bytes(image: OutputImage) -> bytes:
    with image.original.open("rb") as handle:
        return handle.read()  # decoding needs every byte; one original at a time


def make_display_rendition(image: OutputImage) -> bool:
    """Store one image's display rendition; False if another run stored one first."""
    data = _original_bytes(image)
    rendition = imaging.make_display_rendition(
        data, max_pixels=settings.IMAGE_MAX_PIXELS, display_size=settings.DISPLAY_SIZE
    )
    name = f"{image.generation_id}-{image.index}.webp"
    image.display.save(name, ContentFile(rendition.data), save=False)
    # A conditional update: a run alongside, or the image deleted meanwhile, keeps the row as
    # it is, and this file goes.
    stored = OutputImage.objects.filter(pk=image.pk, display="").update(
        display=image.display.name,
        display_width=rendition.width,
        display_height=rendition.height,
    )
    if not stored:
        image.display.delete(save=False)
    return bool(stored)


def thumbnail_file(image: OutputImage) -> tuple[FieldFile, str]:
    """The tile's picture of an image, and its content type: its thumbnail, made now if it
    was not made yet, or the original where one cannot be made.

    Raises OutputImage.DoesNotExist if the image was deleted meanwhile.
    """
    return _made_or_original(
        image, "thumbnail", make_tile_renditions, refresh=["thumbnail", "placeholder", "color"]
    )


def display_file(image: OutputImage) -> tuple[FieldFile, str]:
    """What pages show of an image, and its content type: its display rendition, made now if
    no request made it before, or the original where one cannot be made.

    Raises OutputImage.DoesNotExist if the image was deleted meanwhile.
    """
    return _made_or_original(
        image,
        "display",
        make_display_rendition,
        refresh=["display", "display_width", "display_height"],
    )


def _made_or_original(
    image: OutputImage, field: str, make: Callable[[OutputImage], bool], *, refresh: list[str]
) -> tuple[FieldFile, str]:
    if not getattr(image, field):
        try:
            make(image)
        except (imaging.ImageError, OSError) as error:
            # The original is served as it is; a missing file answers 404 there.
            words = error.message if isinstance(error, imaging.ImageError) else repr(error)
            log.warning("Image %s: no %s rendition: %s", image.pk, field, words)
            return image.original, f"image/{image.format.lower()}"
        # This request's rendition, or the one a request alongside stored first.
        image.refresh_from_db(fields=refresh)
    return getattr(image, field), "image/webp"
