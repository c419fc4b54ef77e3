"""Records for tests: generations and stored images without going through the API."""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from PIL import Image

from generations import imaging
from generations.models import Generation, Moderation, OutputImage

DEFAULTS = {
    "prompt": "A fox",
    "aspect_ratio": "1:1",
    "seed": 7,
    "guidance_scale": 3.5,
    "safety_tolerance": "2",
}


def make_generation(owner, **fields) -> Generation:
    return Generation.objects.create(owner=owner, **{**DEFAULTS, **fields})


def png_bytes(size=(64, 64), colour="teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def add_image(
    generation: Generation,
    size=(64, 64),
    nsfw=False,
    index=0,
    moderation: str | None = None,
    display: bool = True,
) -> OutputImage:
    """A stored image with its renditions; `display=False`: no page has shown it yet."""
    data = png_bytes(size)
    renditions = imaging.make_renditions(data, max_pixels=10**8, thumbnail_width=32)
    image = OutputImage(
        generation=generation,
        index=index,
        format="PNG",
        width=size[0],
        height=size[1],
        thumbnail_width=renditions.thumbnail.width,
        thumbnail_height=renditions.thumbnail.height,
        size_bytes=len(data),
        nsfw=nsfw,
        placeholder=renditions.placeholder.data_uri,
        color=renditions.placeholder.color,
        moderation=moderation or (Moderation.PENDING if nsfw else Moderation.VISIBLE),
    )
    name = f"{generation.pk}-{index}"
    image.original.save(f"{name}.png", ContentFile(data), save=False)
    image.thumbnail.save(f"{name}.webp", ContentFile(renditions.thumbnail.data), save=False)
    if display:
        shown = imaging.make_display_rendition(data, max_pixels=10**8, display_size=48)
        image.display.save(f"{name}.webp", ContentFile(shown.data), save=False)
        image.display_width = shown.width
        image.display_height = shown.height
    image.save()
    return image


def completed(owner, **fields) -> tuple[Generation, OutputImage]:
    """A finished generation with one stored image."""
    generation = make_generation(owner, status=Generation.Status.COMPLETED, **fields)
    return generation, add_image(generation)
