"""The moderation queue at /moderation/: for staff with the review_image permission."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from generations.http import wants_json
from generations.models import OutputImage
from generations.moderation import services as moderation
from generations.moderation.forms import BulkDecisionForm, DecisionForm, HistoryFilters
from generations.plurals import plural
from generations.presenters import image_data
from generations.reviewers import PERMISSION as REVIEW_PERMISSION

# Logged-in people without the permission get 403; anonymous visitors the login page.
moderators_only = permission_required(REVIEW_PERMISSION, raise_exception=True)


@require_safe
@moderators_only
def queue(request: HttpRequest) -> HttpResponse:
    items = moderation.queue_items()
    return render(
        request,
        "moderation/queue.html",
        {
            "items": [(item, image_data(item.image, request.user)) for item in items],
            "bulk_form": BulkDecisionForm(auto_id="bulk-%s"),
            "tab": "queue",
        },
    )


@require_safe
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
            "position": moderation.queue_position(image),
            "decisions": image.decisions.all()[:20],
            "decision_form": DecisionForm(auto_id="decision-%s"),
            "tab": "queue",
        },
    )


@require_POST
@moderators_only
def decide(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    image = get_object_or_404(OutputImage, pk=pk)
    form = DecisionForm(request.POST)
    as_json = wants_json(request)
    if not form.is_valid():
        # The decision and its note are one record: neither is saved without the other.
        if as_json:
            return JsonResponse({"errors": form.errors}, status=400)
        for errors in form.errors.values():
            messages.error(request, " ".join(str(error) for error in errors))
        return redirect("moderation:item", pk=image.pk)
    changed = moderation.decide(request.user, [image.pk], action, form.cleaned_data["note"])
    following = moderation.next_pending_after(image.pk)
    if as_json:
        # Decided or already so: either way the image is now in the decision's state.
        return JsonResponse(
            {
                "id": image.pk,
                "moderation": moderation.DECISIONS[action],
                "changed": bool(changed),
                "next_id": following.pk if following else None,
                "pending": moderation.pending_count(),
            }
        )
    verb = moderation.PAST_TENSE[action]
    if changed:
        messages.success(request, f"Image {image.pk} {verb}.")
    else:
        messages.info(request, f"Image {image.pk} was already {verb}.")
    if form.cleaned_data["next"] and following is not None:
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
        if as_json:
            return JsonResponse({"errors": form.errors}, status=400)
        for errors in form.errors.values():
            messages.error(request, " ".join(str(error) for error in errors))
        return redirect(reverse("moderation:queue"))
    action = form.cleaned_data["action"]
    changed = moderation.decide(
        request.user, form.cleaned_data["images"], action, form.cleaned_data["note"]
    )
    if as_json:
        # The queue's script says what happened; a flash message would wait for the next page.
        return JsonResponse(
            {
                "changed": changed,
                "moderation": moderation.DECISIONS[action],
                "pending": moderation.pending_count(),
            }
        )
    messages.success(request, f"{plural(changed, 'image')} {moderation.PAST_TENSE[action]}.")
    return redirect(reverse("moderation:queue"))


def _only_the_count_is_off(form: BulkDecisionForm) -> bool:
    return (
        (set(form.errors) == {"__all__"} or set(form.errors) == {"confirm_count"})
        and bool(form.cleaned_data.get("images"))
        and "action" in form.cleaned_data
    )


@require_safe
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
