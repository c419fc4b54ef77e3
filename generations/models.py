"""Generation records, their output images, and the sweeper's lease."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

MODEL_ID = "wavespeed-ai/flux-kontext-pro/text-to-image"


class AspectRatio(models.TextChoices):
    ULTRAWIDE = "21:9", "21:9 ultrawide"
    WIDESCREEN = "16:9", "16:9 widescreen"
    LANDSCAPE = "4:3", "4:3 landscape"
    PHOTO = "3:2", "3:2 photo"
    SQUARE = "1:1", "1:1 square"
    PHOTO_PORTRAIT = "2:3", "2:3 portrait photo"
    PORTRAIT = "3:4", "3:4 portrait"
    STORY = "9:16", "9:16 story"
    TALL = "9:21", "9:21 tall"


# Sizes FLUX.1 Kontext produces per aspect ratio (width, height): used to reserve space
# for a tile before its image exists.
OUTPUT_SIZES: dict[str, tuple[int, int]] = {
    "21:9": (1568, 672),
    "16:9": (1392, 752),
    "4:3": (1184, 880),
    "3:2": (1248, 832),
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:4": (880, 1184),
    "9:16": (752, 1392),
    "9:21": (672, 1568),
}


class SafetyTolerance(models.TextChoices):
    STRICTEST = "1", "1 (strictest)"
    STRICT = "2", "2 (default)"
    MODERATE = "3", "3"
    PERMISSIVE = "4", "4"
    MOST_PERMISSIVE = "5", "5 (most permissive)"


class GenerationQuerySet(models.QuerySet):
    def visible_to(self, user) -> GenerationQuerySet:
        """Generations this user may see: every page, JSON answer and file goes through here."""
        if not user.is_authenticated:
            return self.none()
        return self

    def in_flight(self) -> GenerationQuerySet:
        return self.filter(status__in=Generation.IN_FLIGHT)


class Generation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SUBMITTING = "submitting", "Sending"
        PROCESSING = "processing", "Generating"
        DOWNLOADING = "downloading", "Saving"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        TIMED_OUT = "timed_out", "Timed out"

    IN_FLIGHT = (Status.QUEUED, Status.SUBMITTING, Status.PROCESSING, Status.DOWNLOADING)
    FINISHED = (Status.COMPLETED, Status.FAILED, Status.TIMED_OUT)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="generations"
    )

    # What was asked for: the API's own parameter names.
    prompt = models.TextField()
    aspect_ratio = models.CharField(
        max_length=5, choices=AspectRatio.choices, default=AspectRatio.SQUARE
    )
    seed = models.BigIntegerField(help_text="The seed actually sent, so any image can be redone.")
    seed_was_random = models.BooleanField(default=False)
    guidance_scale = models.FloatField(default=3.5)
    safety_tolerance = models.CharField(
        max_length=1, choices=SafetyTolerance.choices, default=SafetyTolerance.STRICT
    )
    num_images = models.PositiveSmallIntegerField(default=1)
    model = models.CharField(max_length=200, default=MODEL_ID)
    cost = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))

    # Where it is in its life cycle.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    api_status = models.CharField(max_length=32, blank=True)
    prediction_id = models.CharField(max_length=128, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="What went wrong, in words for the user.")
    error_detail = models.TextField(blank=True, help_text="The API's own words, for staff.")
    inference_ms = models.PositiveIntegerField(null=True, blank=True)
    output_urls = models.JSONField(default=list, blank=True)
    nsfw_flags = models.JSONField(default=list, blank=True)

    # Bookkeeping of the pipeline (see generations/lifecycle.py).
    submit_attempts = models.PositiveSmallIntegerField(default=0)
    submit_ambiguous = models.BooleanField(default=False)
    submitted_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    poll_count = models.PositiveIntegerField(default=0)
    ingest_attempts = models.PositiveSmallIntegerField(default=0)
    ingest_started_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = GenerationQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="generation_newest"),
            models.Index(fields=["owner", "-created_at"], name="generation_owner_newest"),
            models.Index(fields=["status", "next_check_at"], name="generation_due"),
        ]
        constraints = [
            # One prediction belongs to one generation, however often a task is delivered.
            models.UniqueConstraint(
                fields=["prediction_id"],
                condition=~Q(prediction_id=""),
                name="generation_unique_prediction",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.prompt[:60]}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def ratio_class(self) -> str:
        """CSS class that reserves this aspect ratio's space before the image loads."""
        return "ratio-" + self.aspect_ratio.replace(":", "x")

    @property
    def expected_size(self) -> tuple[int, int]:
        return OUTPUT_SIZES.get(self.aspect_ratio, (1024, 1024))

    def api_inputs(self) -> dict:
        """The request body sent to the API (without transport flags)."""
        return {
            "prompt": self.prompt,
            "aspect_ratio": self.aspect_ratio,
            "seed": self.seed,
            "guidance_scale": self.guidance_scale,
            "safety_tolerance": self.safety_tolerance,
        }


def _original_path(image: OutputImage, filename: str) -> str:
    created = image.generation.created_at
    return f"originals/{created:%Y/%m/%d}/{filename}"


def _thumbnail_path(image: OutputImage, filename: str) -> str:
    created = image.generation.created_at
    return f"thumbnails/{created:%Y/%m/%d}/{filename}"


class OutputImage(models.Model):
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="images")
    index = models.PositiveSmallIntegerField(help_text="Position in the prediction's outputs.")
    source_url = models.URLField(max_length=2000, blank=True)
    original = models.FileField(upload_to=_original_path, max_length=300)
    thumbnail = models.FileField(upload_to=_thumbnail_path, max_length=300)
    format = models.CharField(max_length=8)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    thumbnail_width = models.PositiveIntegerField()
    thumbnail_height = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField()
    nsfw = models.BooleanField(
        help_text="Flagged by the API's has_nsfw_contents; a missing flag counts as flagged."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("generation", "index")
        constraints = [
            models.UniqueConstraint(fields=["generation", "index"], name="image_unique_index"),
        ]

    def __str__(self) -> str:
        return f"Image {self.index} of generation #{self.generation_id}"


class Lease(models.Model):
    """A named lock with an expiry, so one sweeper runs at a time across all workers."""

    name = models.CharField(max_length=64, primary_key=True)
    holder = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
