"""Copying a completed prediction's outputs into our storage: WaveSpeed deletes them in 7 days."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError

from generations import (
    background_renditions,
    imaging,
    lifecycle,
    outbound,
    provider,
    recipe,
    transactions,
)
from generations.models import Generation, Moderation, OutputImage

log = logging.getLogger(__name__)

S = Generation.Status
MAX_INGEST_ATTEMPTS = 3


def ingest_outputs(generation_id: int) -> None:
    """Download, check and store every output of a generation, then mark it completed."""
    with background_renditions.activity.downloading():
        stored = _store_outputs(generation_id)
    if stored:
        background_renditions.make_soon(generation_id)


def _store_outputs(generation_id: int) -> bool:
    """Store each output not stored yet; whether the generation completed with them."""
    if not lifecycle.start_ingest(generation_id):
        return False  # finished already, or deleted: a second delivery does nothing
    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None:
        return False  # deleted since
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
            return False
    return lifecycle.complete(generation_id)


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
    # Checked without decoding a pixel where the format allows: the image is stored, and
    # shown, at once; its thumbnail and placeholder come from one decode a moment later
    # (`background_renditions`), or from the first page that asks for them.
    info = imaging.inspect(data, max_pixels=settings.IMAGE_MAX_PIXELS)
    if info.format == "PNG":
        # The recipe travels with the file, so a downloaded image can be made again anywhere.
        data = imaging.add_png_text(data, recipe.png_texts(generation, (info.width, info.height)))
    nsfw = is_flagged(generation.nsfw_flags, index)
    extension = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}[info.format]
    thumbnail_width, thumbnail_height = imaging.thumbnail_size(
        info.width, info.height, settings.THUMBNAIL_WIDTH
    )
    image = OutputImage(
        generation=generation,
        index=index,
        source_url=url[:2000],
        format=info.format,
        width=info.width,
        height=info.height,
        size_bytes=len(data),
        thumbnail_width=thumbnail_width,
        thumbnail_height=thumbnail_height,
        nsfw=nsfw,
        # Flagged images wait for a moderator before the team sees them.
        moderation=Moderation.PENDING if nsfw else Moderation.VISIBLE,
    )
    # Storage picks a fresh name if one is taken, so a racing duplicate never overwrites.
    image.original.save(f"{generation.pk}-{index}.{extension}", ContentFile(data), save=False)
    try:
        with transactions.savepoint_if_nested():
            image.save()
    except IntegrityError:
        # Another delivery of this task stored the same output first: keep theirs.
        image.original.delete(save=False)
