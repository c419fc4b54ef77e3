"""Admin for generations and their images."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from generations.models import Generation, OutputImage


class OutputImageInline(admin.TabularInline):
    model = OutputImage
    extra = 0
    can_delete = False
    fields = ("preview", "index", "width", "height", "size_bytes", "nsfw", "created_at")
    readonly_fields = fields

    @admin.display(description="Preview")
    def preview(self, image: OutputImage) -> str:
        return _thumbnail_tag(image)


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ("id", "short_prompt", "owner", "status", "aspect_ratio", "seed", "cost",
                    "inference_ms", "created_at")
    list_filter = ("status", "aspect_ratio", "safety_tolerance", "created_at")
    search_fields = ("prompt", "prediction_id", "owner__username")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    inlines = (OutputImageInline,)
    readonly_fields = (
        "owner", "prompt", "aspect_ratio", "seed", "seed_was_random", "guidance_scale",
        "safety_tolerance", "num_images", "model", "cost", "status", "api_status",
        "prediction_id", "error_code", "error", "error_detail", "inference_ms", "output_urls",
        "nsfw_flags", "submit_attempts", "submit_ambiguous", "submitted_at", "next_check_at",
        "poll_count", "ingest_attempts", "ingest_started_at", "created_at", "updated_at",
        "finished_at",
    )

    @admin.display(description="Prompt")
    def short_prompt(self, generation: Generation) -> str:
        return generation.prompt[:80]

    def has_add_permission(self, request) -> bool:
        return False  # generations are made through the playground, which sends them


@admin.register(OutputImage)
class OutputImageAdmin(admin.ModelAdmin):
    list_display = ("id", "preview", "generation", "index", "width", "height", "nsfw",
                    "created_at")
    list_filter = ("nsfw", "format", "created_at")
    search_fields = ("generation__prompt", "generation__owner__username")
    list_select_related = ("generation",)
    readonly_fields = ("preview", "generation", "index", "source_url", "original", "thumbnail",
                       "format", "width", "height", "thumbnail_width", "thumbnail_height",
                       "size_bytes", "nsfw", "created_at")

    @admin.display(description="Preview")
    def preview(self, image: OutputImage) -> str:
        return _thumbnail_tag(image)

    def has_add_permission(self, request) -> bool:
        return False


def _thumbnail_tag(image: OutputImage) -> str:
    if not image.pk:
        return "-"
    url = reverse("generations:image-thumbnail", args=[image.pk])
    return format_html('<img src="{}" alt="" style="max-height:80px;max-width:120px">', url)
