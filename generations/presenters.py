"""Plain data for templates and JSON answers, built from records."""

from __future__ import annotations

from django.urls import reverse

from generations.models import Generation, OutputImage


def image_data(image: OutputImage) -> dict:
    return {
        "id": image.pk,
        "url": reverse("generations:image-original", args=[image.pk]),
        "thumbnail_url": reverse("generations:image-thumbnail", args=[image.pk]),
        "download_url": reverse("generations:image-original", args=[image.pk]) + "?download=1",
        "width": image.width,
        "height": image.height,
        "nsfw": image.nsfw,
    }


def generation_data(generation: Generation) -> dict:
    """The JSON form of a generation's page; the live page reads exactly this."""
    return {
        "id": generation.pk,
        "status": generation.status,
        "status_label": generation.get_status_display(),
        "finished": generation.is_finished,
        "error": generation.error,
        "images": [image_data(image) for image in generation.images.all()],
    }


def download_name(generation: Generation, image: OutputImage) -> str:
    """A file name that says what the image is: id, seed and the prompt's first words."""
    words = "".join(c if c.isalnum() else "-" for c in generation.prompt.lower()[:48])
    slug = "-".join(part for part in words.split("-") if part) or "image"
    extension = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}.get(image.format, "png")
    return f"kontext-{generation.pk}-{image.index}-seed{generation.seed}-{slug}.{extension}"
