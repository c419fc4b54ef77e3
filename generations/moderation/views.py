"""The moderation queue at /moderation/: for staff with the review_image permission."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from generations.http import wants_json
from generations.models import Moderation, OutputImage
from generations.moderation import services as moderation
from generations.presenters import image_data

# Logged-in people without the permission get 403; anonymous visitors the login page.
moderators_only = permission_required("generations.review_image", raise_exception=True)


class DecisionForm(forms.Form):
    note = forms.CharField(required=False, max_length=moderation.NOTE_MAX)
    next = forms.BooleanField(required=False)


def _image_id(value: str) -> int:
    number = int(value)
    if not 0 < number < 2**63:
        raise ValueError("not an image id")
    return number


class BulkDecisionForm(forms.Form):
    action = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    images = forms.TypedMultipleChoiceField(coerce=_image_id, choices=())
    confirm_count = forms.IntegerField(min_value=1)
    note = forms.CharField(required=False, max_length=moderation.NOTE_MAX)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Any id may be sent; decide() only touches images that exist.
        ids = self.data.getlist("images") if hasattr(self.data, "getlist") else []
        images = cast(forms.TypedMultipleChoiceField, self.fields["images"])
        images.choices = [(value, value) for value in ids]

    def clean_images(self) -> list[int]:
        return list(dict.fromkeys(self.cleaned_data["images"]))  # each image once

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        images, count = data.get("images") or [], data.get("confirm_count")
        if images and count is not None and count != len(images):
            raise forms.ValidationError(
                f"You confirmed {count} images but {len(images)} are selected; nothing changed."
            )
        return data


class HistoryFilters(forms.Form):
    moderator = forms.CharField(required=False, max_length=150)
    outcome = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any outcome"),
            (Moderation.APPROVED, "Approved"),
            (Moderation.REJECTED, "Rejected"),
        ],
    )
    since = forms.DateField(required=False, label="From")
    until = forms.DateField(required=False, label="To")


@require_GET
@moderators_only
def queue(request: HttpRequest) -> HttpResponse:
    items = moderation.queue_items()
    return render(
        request,
        "moderation/queue.html",
        {
            "items": [(item, image_data(item.image, request.user)) for item in items],
            "tab": "queue",
        },
    )


@require_GET
@moderators_only
def item(request: HttpRequest, pk: int) -> HttpResponse:
    queued = moderation.queue_item(pk)
    if queued is None:
        raise Http404("No such image.")
    image = queued.image
    return render(
        request,
        "moderation/item.html",
        {
            "item": queued,
            "data": image_data(image, request.user),
            "next_image": moderation.next_pending_after(image.pk),
            "decisions": image.decisions.all()[:20],
            "tab": "queue",
        },
    )


@require_POST
@moderators_only
def decide(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    image = get_object_or_404(OutputImage, pk=pk)
    form = DecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    changed = moderation.decide(request.user, [image.pk], action, note)
    following = moderation.next_pending_after(image.pk)
    if wants_json(request):
        # Decided or already so: either way the image is now in the decision's state.
        return JsonResponse(
            {
                "id": image.pk,
                "moderation": moderation.DECISIONS[action],
                "changed": bool(changed),
                "next_id": following.pk if following else None,
            }
        )
    verb = moderation.PAST_TENSE[action]
    if changed:
        messages.success(request, f"Image {image.pk} {verb}.")
    else:
        messages.info(request, f"Image {image.pk} was already {verb}.")
    if form.is_valid() and form.cleaned_data["next"] and following is not None:
        return redirect("moderation:item", pk=following.pk)
    return redirect("moderation:queue")


@require_POST
@moderators_only
def bulk(request: HttpRequest) -> HttpResponse:
    form = BulkDecisionForm(request.POST)
    as_json = wants_json(request)
    if not as_json and not form.is_valid() and _only_the_count_is_off(form):
        # Without the page's script nobody counted: ask, with the count, before deciding.
        images = form.cleaned_data["images"]
        return render(
            request,
            "moderation/confirm_bulk.html",
            {
                "images": images,
                "count": len(images),
                "action": form.cleaned_data["action"],
                "note": form.cleaned_data.get("note", ""),
            },
        )
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(str(error) for error in errors))
        answer: dict[str, Any] = {"errors": form.errors}
        status = 400
    else:
        action = form.cleaned_data["action"]
        changed = moderation.decide(
            request.user, form.cleaned_data["images"], action, form.cleaned_data["note"]
        )
        messages.success(
            request,
            f"{changed} image{'s' if changed != 1 else ''} {moderation.PAST_TENSE[action]}.",
        )
        answer = {"changed": changed, "moderation": moderation.DECISIONS[action]}
        status = 200
    if as_json:
        return JsonResponse(answer, status=status)
    return redirect(reverse("moderation:queue"))


def _only_the_count_is_off(form: BulkDecisionForm) -> bool:
    return (
        (set(form.errors) == {"__all__"} or set(form.errors) == {"confirm_count"})
        and bool(form.cleaned_data.get("images"))
        and "action" in form.cleaned_data
    )


@require_GET
@moderators_only
def history(request: HttpRequest) -> HttpResponse:
    filters = HistoryFilters(request.GET)
    cleaned = filters.cleaned_data if filters.is_valid() else {}
    decisions = moderation.history(
        moderator=cleaned.get("moderator", ""),
        to_state=cleaned.get("outcome", ""),
        since=cleaned.get("since"),
        until=cleaned.get("until"),
    )[:500]
    return render(
        request,
        "moderation/history.html",
        {
            "filters": filters,
            "decisions": decisions,
            "tab": "history",
        },
    )
