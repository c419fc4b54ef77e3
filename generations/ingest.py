"""Copying a completed prediction's outputs into our storage: WaveSpeed deletes them in 7 days."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from generations import imaging, lifecycle, outbound, provider, recipe
from generations.models import Generation, Moderation, OutputImage

log = logging.getLogger(__name__)

S = Generation.Status
MAX_INGEST_ATTEMPTS = 3


def ingest_outputs(generation_id: int) -> None:
    """Download, check and store every output of a generation, then mark it completed."""
    if not lifecycle.start_ingest(generation_id):
        return  # finished already, or deleted: a second delivery does nothing
    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None:
        return  # deleted since
    stored = set(generation.images.values_list("index", flat=True))
    # accept_outputs keeps no more than this; the slice also bounds rows stored before it did.
    urls = generation.output_urls[: lifecycle.OUTPUTS_PER_GENERATION]
    for index, url in enumerate(urls):
        if index in stored:
            continue
        try:
            _store_output(generation, index, url)
        except (outbound.DownloadError, imaging.ImageError) as error:
            # The detail (which host, what it resolved to) is for staff: the admin shows it.
            detail = error.detail if isinstance(error, outbound.DownloadError) else error.message
            log.warning("Generation %s output %s: %s", generation_id, index, detail)
            if error.permanent or generation.ingest_attempts >= MAX_INGEST_ATTEMPTS:
                lifecycle.fail(
                    generation_id, S.DOWNLOADING, error.message, detail=f"output {index}: {detail}"
                )
            # Otherwise left in DOWNLOADING: the sweeper starts it again once it is stale.
            return
    lifecycle.complete(generation_id)


def is_flagged(flags: object, index: int) -> bool:
    """The API's NSFW flag of one output; a missing, short or odd flag list fails closed."""
    return not (isinstance(flags, list) and index < len(flags) and flags[index] is False)


def _store_output(generation: Generation, index: int, url: str) -> None:
    data = outbound.fetch(
        url,
        policy=provider.output_policy(),
        max_bytes=settings.DOWNLOAD_MAX_BYTES,
        timeout=settings.DOWNLOAD_TIMEOUT_SECONDS,
    )
    # One decode gives the check, the thumbnail and the placeholder; the display rendition is
    # made by the first page that shows the image (`renditions.display_file`).
    renditions = imaging.make_renditions(
        data, max_pixels=settings.IMAGE_MAX_PIXELS, thumbnail_width=settings.THUMBNAIL_WIDTH
    )
    if renditions.format == "PNG":
        # The recipe travels with the file, so a downloaded image can be made again anywhere.
        data = imaging.add_png_text(
            data, recipe.png_texts(generation, (renditions.width, renditions.height))
        )
    nsfw = is_flagged(generation.nsfw_flags, index)
    extension = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}[renditions.format]
    thumbnail = renditions.thumbnail
    image = OutputImage(
        generation=generation,
        index=index,
        source_url=url[:2000],
        format=renditions.format,
        width=renditions.width,
        height=renditions.height,
        size_bytes=len(data),
        thumbnail_width=thumbnail.width,
        thumbnail_height=thumbnail.height,
        nsfw=nsfw,
        # Flagged images wait for a moderator before the team sees them.
        moderation=Moderation.PENDING if nsfw else Moderation.VISIBLE,
        placeholder=renditions.placeholder.data_uri,
        color=renditions.placeholder.color,
    )
    # Storage picks a fresh name if one is taken, so a racing duplicate never overwrites.
    image.original.save(f"{generation.pk}-{index}.{extension}", ContentFile(data), save=False)
    image.thumbnail.save(f"{generation.pk}-{index}.webp", ContentFile(thumbnail.data), save=False)
    try:
        with transaction.atomic():
            image.save()
    except IntegrityError:
        # Another delivery of this task stored the same output first: keep theirs.
        for field in (image.original, image.thumbnail, image.display):
            field.delete(save=False)
