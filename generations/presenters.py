"""Plain data for templates and JSON answers, built from records for one viewer."""

from __future__ import annotations

from django.urls import reverse

from generations import admission, recipe
from generations.models import Generation, Moderation, OutputImage, is_moderator

NOTICES: dict[str, str] = {
    Moderation.PENDING: "Awaiting review: flagged content is hidden from the team until a "
    "moderator has looked.",
    Moderation.REJECTED: "Removed by a moderator.",
}


def image_data(image: OutputImage, viewer) -> dict:
    """One image as this viewer may see it: files only where the file view would serve them."""
    moderator = is_moderator(viewer)
    # An anonymous viewer's pk is None, as is a deleted author's: that is no match.
    owner = viewer.is_authenticated and image.generation.owner_id == viewer.pk
    servable = image.is_shown or moderator or (image.moderation == Moderation.PENDING and owner)
    original = reverse("generations:image-original", args=[image.pk])
    thumbnail = reverse("generations:image-thumbnail", args=[image.pk])
    # What pages and the lightbox show: the display rendition, made by the first request for
    # it (`renditions.display_file`). The original itself is for download.
    shown = reverse("generations:image-display", args=[image.pk])
    return {
        "id": image.pk,
        "url": shown if servable else None,
        "thumbnail_url": thumbnail if servable else None,
        "download_url": f"{original}?download=1" if servable else None,
        "width": image.width,
        "height": image.height,
        "nsfw": image.nsfw,
        "moderation": image.moderation,
        # Images awaiting review or removed start behind their blurred placeholder; the file is
        # fetched only when the viewer asks to reveal it.
        "blurred": not image.is_shown,
        # Even blurred, a removed image is the moderators' alone.
        "placeholder": ""
        if image.moderation == Moderation.REJECTED and not moderator
        else image.placeholder,
        "color": image.color,
        "notice": NOTICES.get(image.moderation, ""),
    }


def generation_data(generation: Generation, viewer) -> dict:
    """The JSON form of a generation's page; the live page and the lightbox read this."""
    return {
        "id": generation.pk,
        "status": generation.status,
        "status_label": generation.get_status_display(),
        "finished": generation.is_finished,
        "error": generation.error,
        # Why a queued generation is held back (account limits, the provider), in plain words.
        "waiting": admission.waiting_words(generation),
        "images": [image_data(image, viewer) for image in generation.images.all()],
        "prompt": generation.prompt,
        "aspect_ratio": generation.aspect_ratio,
        "seed": generation.seed,
        "seed_was_random": generation.seed_was_random,
        "guidance_scale": generation.guidance_scale,
        "safety_tolerance": generation.safety_tolerance,
        "model": generation.model,
        "visibility": generation.visibility,
        "owner": generation.author_name,
        "created_at": generation.created_at.isoformat(),
        "cost": str(generation.cost),
        "inference_ms": generation.inference_ms,
        "batch_size": generation.batch_size,
        "batch_total": str(generation.cost * generation.batch_size),
        # Set by `with_favourite_of` on the pages that show stars.
        "favourite": bool(getattr(generation, "is_favourite", False)),
        "can_manage": generation.can_manage(viewer),
        "parameters_text": recipe.parameters_text(generation),
        "detail_url": reverse("generations:detail", args=[generation.pk]),
        "remix_url": reverse("generations:playground") + f"?from={generation.pk}",
    }


def download_name(generation: Generation, image: OutputImage) -> str:
    """A file name that says what the image is: id, seed and the prompt's first words."""
    slug = prompt_slug(generation.prompt)
    extension = file_extension(image)
    return f"kontext-{generation.pk}-{image.index}-seed{generation.seed}-{slug}.{extension}"


def prompt_slug(prompt: str) -> str:
    """The prompt's first words as a file name's part: letters and digits joined by dashes."""
    words = "".join(c if c.isalnum() else "-" for c in prompt.lower()[:48])
    return "-".join(part for part in words.split("-") if part) or "image"


def file_extension(image: OutputImage) -> str:
    return {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}.get(image.format, "png")
