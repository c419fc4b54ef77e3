"""Admin for generations and their images."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from generations.models import (
    Budget,
    Generation,
    ModerationDecision,
    OutputImage,
    Report,
    is_moderator,
)
from generations.moderation import services as moderation
from generations.plurals import plural


class ViewOnlyAdmin:
    """A record of what happened: shown in the admin, never added, changed or deleted there,
    superusers included. Mixed into a ModelAdmin or an inline, before it."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class OutputImageInline(ViewOnlyAdmin, admin.TabularInline):
    model = OutputImage
    extra = 0
    fields = (
        "preview",
        "index",
        "width",
        "height",
        "size_bytes",
        "nsfw",
        "moderation",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="Preview")
    def preview(self, image: OutputImage) -> str:
        return _thumbnail_tag(image)

    def get_queryset(self, request):
        # Both models' QuerySets define visible_to; the admin's base types them as plain ones.
        return super().get_queryset(request).visible_to(request.user)  # type: ignore[attr-defined]


class SiteRulesAdmin(admin.ModelAdmin):
    """The admin follows the site's rule: staff who are not moderators see what the team sees,
    and not the provider's output URLs, which open without a key."""

    provider_url_fields = ("output_urls", "source_url")

    def get_queryset(self, request):
        # Both models' QuerySets define visible_to; the admin's base types them as plain ones.
        return super().get_queryset(request).visible_to(request.user)  # type: ignore[attr-defined]

    def get_fields(self, request, obj=None):
        return self._without_provider_urls(request, super().get_fields(request, obj))

    def get_readonly_fields(self, request, obj=None):
        return self._without_provider_urls(request, super().get_readonly_fields(request, obj))

    def _without_provider_urls(self, request, fields) -> tuple:
        if is_moderator(request.user):
            return tuple(fields)
        return tuple(name for name in fields if name not in self.provider_url_fields)


@admin.register(Generation)
class GenerationAdmin(ViewOnlyAdmin, SiteRulesAdmin):
    """View-only: a generation changes only through the pipeline (`lifecycle`), and its
    owner's or staff's visibility change or deletion happen on the site (`sharing`)."""

    list_display = (
        "id",
        "short_prompt",
        "author",
        "status",
        "visibility",
        "aspect_ratio",
        "seed",
        "cost",
        "inference_ms",
        "created_at",
    )
    list_filter = ("status", "visibility", "aspect_ratio", "safety_tolerance", "created_at")
    search_fields = ("prompt", "prediction_id", "owner__username")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    inlines = (OutputImageInline,)
    # Shown as `author`, which names a deleted account's work too.
    exclude = ("owner",)
    readonly_fields = (
        "author",
        "visibility",
        "prompt",
        "aspect_ratio",
        "seed",
        "seed_was_random",
        "guidance_scale",
        "safety_tolerance",
        "batch",
        "batch_index",
        "batch_size",
        "model",
        "cost",
        "status",
        "api_status",
        "prediction_id",
        "error_code",
        "error",
        "error_detail",
        "inference_ms",
        "output_urls",
        "nsfw_flags",
        "submit_attempts",
        "submit_ambiguous",
        "submitted_at",
        "next_check_at",
        "poll_count",
        "failed_polls",
        "failed_poll_code",
        "polls_failing_since",
        "ingest_attempts",
        "ingest_started_at",
        "created_at",
        "updated_at",
        "finished_at",
    )

    @admin.display(description="Prompt")
    def short_prompt(self, generation: Generation) -> str:
        return generation.prompt[:80]

    @admin.display(description="Owner", ordering="owner__username")
    def author(self, generation: Generation) -> str:
        return generation.author_name


@admin.register(OutputImage)
class OutputImageAdmin(SiteRulesAdmin):
    list_display = (
        "id",
        "preview",
        "generation",
        "index",
        "width",
        "height",
        "nsfw",
        "moderation",
        "created_at",
    )
    list_filter = ("moderation", "nsfw", "format", "created_at")
    search_fields = ("generation__prompt", "generation__owner__username")
    list_select_related = ("generation",)
    actions = ("approve_images", "reject_images")
    readonly_fields = (
        "preview",
        "generation",
        "index",
        "source_url",
        "original",
        "thumbnail",
        "display",
        "format",
        "width",
        "height",
        "thumbnail_width",
        "thumbnail_height",
        "display_width",
        "display_height",
        "size_bytes",
        "nsfw",
        "moderation",
        "created_at",
    )

    @admin.display(description="Preview")
    def preview(self, image: OutputImage) -> str:
        # Images awaiting review or removed stay blurred here too: the list is for deciding.
        # Before its placeholder is made (just after ingest), such an image shows none.
        if image.pk and not image.is_shown:
            if not image.placeholder:
                return "(awaiting its preview)"
            return format_html('<img src="{}" alt="" width="48" height="48">', image.placeholder)
        return _thumbnail_tag(image)

    def has_add_permission(self, request) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not is_moderator(request.user):
            actions.pop("approve_images", None)
            actions.pop("reject_images", None)
        return actions

    @admin.action(description="Approve the selected images")
    def approve_images(self, request, queryset):
        return self._decide(request, queryset, "approve")

    @admin.action(description="Reject the selected images")
    def reject_images(self, request, queryset):
        return self._decide(request, queryset, "reject")

    def _decide(self, request, queryset, action: str):
        ids = list(queryset.values_list("pk", flat=True))
        if request.POST.get("confirm_count") != str(len(ids)):
            # As in the queue, a decision on many images first says how many.
            verb = action.capitalize()
            return TemplateResponse(
                request,
                "admin/generations/confirm_decision.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.model._meta,
                    "ids": ids,
                    "count": len(ids),
                    "action": f"{action}_images",
                    "verb": verb,
                    "title": f"{verb} {plural(len(ids), 'image')}?",
                },
            )
        # The same service as the queue: one audit row per image that changed.
        changed = moderation.decide(request.user, ids, action)
        self.message_user(
            request,
            f"{plural(changed, 'image')} {moderation.PAST_TENSE[action]}.",
            messages.SUCCESS,
        )
        return None


@admin.register(ModerationDecision)
class ModerationDecisionAdmin(ViewOnlyAdmin, admin.ModelAdmin):
    """The audit log: read-only for everyone, superusers included."""

    list_display = (
        "created_at",
        "image_ref",
        "generation_ref",
        "from_state",
        "to_state",
        "moderator_name",
        "note",
    )
    list_filter = ("to_state", "from_state", "created_at")
    search_fields = ("moderator_name", "note", "image_ref")
    date_hierarchy = "created_at"


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ("created_at", "image", "reporter_name", "reason", "resolved_at")
    list_filter = ("resolved_at", "created_at")
    search_fields = ("reason", "reporter_name")
    readonly_fields = ("image", "reporter", "reporter_name", "reason", "created_at", "resolved_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ("__str__", "scope", "user", "monthly_limit")
    list_filter = ("scope",)
    autocomplete_fields = ("user",)


def _thumbnail_tag(image: OutputImage) -> str:
    if not image.pk:
        return "-"
    url = reverse("generations:image-thumbnail", args=[image.pk])
    return format_html('<img src="{}" alt="" class="admin-thumbnail">', url)
