"""Display renditions: made when a page first asks for one, or ahead by a backfill.

Ingest stores an image with its thumbnail and placeholder only: the display rendition (what
the generation's page and the lightbox show) is an encode of every pixel that no one waits
for while hundreds of images arrive. The first request for it makes it (`display_file`);
`manage.py make_display_renditions` makes every missing one ahead of time, in batches by id,
so a run can be stopped and started again, and a second run has nothing to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models.fields.files import FieldFile

from generations import imaging
from generations.models import OutputImage

log = logging.getLogger(__name__)

BATCH_SIZE = 50


@dataclass
class Backfill:
    made: int = 0
    failed: list[str] = field(default_factory=list)  # "image 12: why", for whoever runs it


def images_without_display() -> int:
    return OutputImage.objects.filter(display="").count()


def make_missing_display_renditions(
    *, batch_size: int = BATCH_SIZE, progress: Callable[[Backfill], None] | None = None
) -> Backfill:
    """Give every image without a display rendition one; failures are listed, not fatal."""
    backfill = Backfill()
    after = 0
    while True:
        batch = list(
            OutputImage.objects.filter(display="", pk__gt=after)
            .select_related("generation")
            .order_by("pk")[:batch_size]
        )
        if not batch:
            return backfill
        for image in batch:
            after = image.pk
            try:
                if make_display_rendition(image):
                    backfill.made += 1
            except Exception as error:  # one image's trouble (a lost file) stops no other
                words = error.message if isinstance(error, imaging.ImageError) else repr(error)
                backfill.failed.append(f"image {image.pk}: {words}")
        if progress:
            progress(backfill)


def make_display_rendition(image: OutputImage) -> bool:
    """Store one image's display rendition; False if another run stored one first."""
    with image.original.open("rb") as handle:
        data = handle.read()  # decoding needs every byte; one original at a time
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


def display_file(image: OutputImage) -> tuple[FieldFile, str]:
    """What pages show of an image, and its content type: its display rendition, made now if
    no request made it before, or the original where one cannot be made.

    Raises OutputImage.DoesNotExist if the image was deleted meanwhile.
    """
    if not image.display:
        try:
            make_display_rendition(image)
        except (imaging.ImageError, OSError) as error:
            # The original is served as it is; a missing file answers 404 there.
            words = error.message if isinstance(error, imaging.ImageError) else repr(error)
            log.warning("Image %s: no display rendition: %s", image.pk, words)
            return image.original, f"image/{image.format.lower()}"
        # This request's rendition, or the one a request alongside stored first.
        image.refresh_from_db(fields=["display", "display_width", "display_height"])
    return image.display, "image/webp"
