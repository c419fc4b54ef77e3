"""Pages and file downloads: each view parses the request, calls one function, renders."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db.models import Prefetch
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseForbidden,
    HttpResponseRedirect,
    JsonResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from generations import budgets, delivery, gallery_display, guide, sharing, submission, usage
from generations import gallery as gallery_query
from generations.forms import GenerationForm, ReportForm, VisibilityForm
from generations.http import wants_json
from generations.models import Generation, Moderation, OutputImage
from generations.presenters import download_name, generation_data


@require_http_methods(["GET", "HEAD", "POST"])
def playground(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = GenerationForm(request.POST)
        if form.is_valid():
            try:
                generations = submission.create_batch(request.user, form.cleaned_data)
            except budgets.BudgetExceeded as refusal:
                form.add_error(None, refusal.message)
            else:
                return redirect("generations:detail", pk=generations[0].pk)
    else:
        form = GenerationForm(initial=_initial_from(request))
    recent = Generation.objects.filter(owner_id=request.user.pk).prefetch_related(
        _listed_images(request.user)
    )[:6]
    return render(
        request,
        "generations/playground.html",
        {
            "form": form,
            "guide": guide,
            "price_per_image": settings.PRICE_PER_IMAGE,
            "recent": recent,
        },
    )


def _initial_from(request: HttpRequest) -> dict:
    """Form values of an earlier generation (?from=<id>), for "use these settings"."""
    source_id = request.GET.get("from", "")
    # ASCII only: "²".isdigit() is true, and int() refuses it.
    if not (source_id.isascii() and source_id.isdigit()) or len(source_id) > 18:
        return {}
    source = Generation.objects.visible_to(request.user).filter(pk=int(source_id)).first()
    if source is None:
        return {}
    initial = dict(source.api_inputs())
    initial["visibility"] = source.visibility
    if request.GET.get("seed") == "new":
        initial["seed"] = None
    return initial


def _listed_images(user) -> Prefetch:
    return Prefetch("images", queryset=OutputImage.objects.listed_for(user))


def _visible_generation(request: HttpRequest, pk: int) -> Generation:
    return get_object_or_404(
        Generation.objects.visible_to(request.user)
        .select_related("owner")
        .with_favourite_of(request.user)
        .prefetch_related(_listed_images(request.user)),
        pk=pk,
    )


@require_safe
@vary_on_headers("Accept")
def generation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    generation = _visible_generation(request, pk)
    data = generation_data(generation, request.user)
    if wants_json(request):
        return JsonResponse(data)
    batch = []
    if generation.batch:
        batch = list(
            Generation.objects.visible_to(request.user)
            .filter(batch=generation.batch)
            .order_by("batch_index")
            .prefetch_related(_listed_images(request.user))
        )
    return render(
        request,
        "generations/detail.html",
        {
            "generation": generation,
            "data": data,
            "batch": batch,
            "visibility_form": VisibilityForm(
                initial={"visibility": generation.visibility}, auto_id="id_%s_change"
            ),
            # One report form per image, each with ids of its own: report-reason-<image id>.
            "report_forms": [
                (image, ReportForm(auto_id=f"report-%s-{image['id']}")) for image in data["images"]
            ],
        },
    )


@require_safe
def gallery(request: HttpRequest) -> HttpResponse:
    filters = gallery_query.GalleryFilters(request.GET)
    # The gallery's script asks for newer tiles in the background (partial=1) with the page's
    # own filters: the page has said what was dropped, and a message added now would wait in
    # the session and show up on whatever page comes next.
    in_background = request.GET.get("partial") == "1"
    if filters.is_valid():
        cleaned = filters.cleaned_data
    else:
        # Keep the filters that are fine; say which were dropped.
        cleaned = {
            name: value
            for name, value in filters.cleaned_data.items()
            if name not in filters.errors
        }
        if not in_background:
            _say_which_filters_were_dropped(request, filters)
    page = gallery_query.gallery_page(request.user, cleaned)
    context = {
        "page": page,
        "tiles": gallery_display.batch_tiles(page.generations),
        "filters": filters,
        "cleaned": cleaned,
        "query": _query_without(request, "after", "before", "partial"),
    }
    if in_background:
        # Only the tiles: the gallery asks for work newer than its first tile this way.
        return render(request, "generations/_gallery_tiles.html", context)
    context["authors"] = gallery_query.authors()
    context["chips"] = gallery_display.filter_chips(filters, cleaned, request.GET)
    return render(request, "generations/gallery.html", context)


def _say_which_filters_were_dropped(
    request: HttpRequest, filters: gallery_query.GalleryFilters
) -> None:
    for name, errors in filters.errors.items():
        field = filters.fields.get(name)  # None for errors of the whole form
        prefix = f"{field.label or name}: " if field else ""
        messages.warning(request, prefix + " ".join(str(error) for error in errors))


def _query_without(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


@require_POST
def favourite(request: HttpRequest, pk: int) -> HttpResponse:
    generation = _visible_generation(request, pk)
    starred = sharing.set_favourite(
        request.user, generation, request.POST.get("favourite", "1") == "1"
    )
    if wants_json(request):
        return JsonResponse({"id": generation.pk, "favourite": starred})
    return _back(request, generation)


@require_POST
def change_visibility(request: HttpRequest, pk: int) -> HttpResponse:
    generation = _visible_generation(request, pk)
    form = VisibilityForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose team or private.")
        return _back(request, generation)
    try:
        sharing.set_visibility(request.user, generation, form.cleaned_data["visibility"])
    except sharing.NotAllowed as refusal:
        return HttpResponseForbidden(str(refusal))
    messages.success(
        request,
        "Only you (and moderators) can see this now."
        if generation.is_private
        else "The whole team can see this now.",
    )
    return _back(request, generation)


@require_http_methods(["GET", "HEAD", "POST"])
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    generation = _visible_generation(request, pk)
    if not generation.can_manage(request.user):
        return HttpResponseForbidden("Only its author or staff can delete this.")
    if request.method == "POST":
        sharing.delete_generation(request.user, generation)
        messages.success(request, f"Generation #{pk} and its files were deleted.")
        return redirect("generations:gallery")
    return render(request, "generations/delete.html", {"generation": generation})


@require_POST
def report(request: HttpRequest, pk: int) -> HttpResponse:
    # Also an image already held while another image keeps its generation shown: a teammate
    # who had it open may add their reason to the queue item. Its file stays refused to them
    # all the same. Work held entirely is private (visible_to): reporting it is a 404.
    image = get_object_or_404(
        OutputImage.objects.filter(generation__in=Generation.objects.visible_to(request.user))
        .exclude(moderation=Moderation.REJECTED)
        .select_related("generation"),
        pk=pk,
    )
    form = ReportForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(error) for error in form.errors["reason"]))
        return _back(request, image.generation)
    try:
        report = sharing.report_image(request.user, image, form.cleaned_data["reason"])
    except sharing.NotAllowed as refusal:
        messages.error(request, str(refusal))
        return _back(request, image.generation)
    if report is None:
        messages.info(request, "You have already reported this image; a moderator will look.")
        return redirect("generations:gallery")
    messages.success(
        request, "Thank you. The image is hidden from the team until a moderator has looked at it."
    )
    return redirect("generations:gallery")


def _back(request: HttpRequest, generation: Generation) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        # Not redirect(): it takes a bare word such as "-1" for a view's name, and fails.
        return HttpResponseRedirect(target)
    return redirect(reverse("generations:detail", args=[generation.pk]))


@require_safe
def usage_page(request: HttpRequest) -> HttpResponse:
    return render(request, "generations/usage.html", {"report": usage.usage_report()})


@require_safe
def image_file(request: HttpRequest, pk: int, variant: str) -> HttpResponseBase:
    image = get_object_or_404(
        OutputImage.objects.visible_to(request.user).select_related("generation"), pk=pk
    )
    field = image.original if variant == "original" else image.thumbnail
    content_type = "image/webp" if variant == "thumbnail" else f"image/{image.format.lower()}"
    as_download = variant == "original" and request.GET.get("download") == "1"
    return delivery.stored_file_response(
        field,
        content_type=content_type,
        download_name=download_name(image.generation, image) if as_download else None,
    )
