"""Pages and file downloads: each view parses the request, calls one function, renders."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db.models import Prefetch
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseForbidden,
    HttpResponseRedirect,
    JsonResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from generations import (
    budgets,
    delivery,
    gallery_display,
    guide,
    renditions,
    sharing,
    studio,
    submission,
    usage,
    webhooks,
)
from generations import gallery as gallery_query
from generations.forms import GenerationForm, ReportForm, VisibilityForm
from generations.http import wants_json
from generations.models import Generation, Moderation, OutputImage
from generations.presenters import download_name, generation_data


@require_http_methods(["GET", "HEAD", "POST"])
def playground(request: HttpRequest) -> HttpResponse:
    """The studio: the form, and the person's jobs beside it. Its script posts the form with
    Accept: application/json and gets the new job's card; without it, the generation's page."""
    if request.method == "POST":
        form = GenerationForm(request.POST)
        if form.is_valid():
            try:
                generations = submission.create_batch(request.user, form.cleaned_data)
            except budgets.BudgetExceeded as refusal:
                form.add_error(None, refusal.message)
            else:
                if wants_json(request):
                    job = studio.job_of(request.user, generations[0])
                    return JsonResponse({"job": studio.card_data(job, request)}, status=201)
                return redirect("generations:detail", pk=generations[0].pk)
        if wants_json(request):
            return JsonResponse({"errors": _form_errors(form)}, status=400)
    else:
        form = GenerationForm(initial=_initial_from(request))
    return render(
        request,
        "generations/playground.html",
        {
            "form": form,
            "guide": guide,
            "price_per_image": settings.PRICE_PER_IMAGE,
            "jobs": studio.recent_jobs(request.user),
            "advanced_open": any(
                name in form.errors for name in ("seed", "guidance_scale", "safety_tolerance")
            ),
        },
    )


def _form_errors(form: GenerationForm) -> dict[str, list[str]]:
    """The form's messages by field ("__all__" for the whole form), as the studio shows them."""
    return {name: [str(message) for message in errors] for name, errors in form.errors.items()}


@require_safe
def studio_jobs(request: HttpRequest) -> JsonResponse:
    """The studio's cards asked for by id (?id=1&id=7), as the page renders them."""
    ids = [int(value) for value in request.GET.getlist("id") if _is_id(value)]
    jobs = studio.jobs_by_id(request.user, ids)
    return JsonResponse({"jobs": [studio.card_data(job, request) for job in jobs]})


def _is_id(value: str) -> bool:
    # ASCII only: "²".isdigit() is true, and int() refuses it.
    return value.isascii() and value.isdigit() and len(value) <= 18


def _initial_from(request: HttpRequest) -> dict:
    """Form values of an earlier generation (?from=<id>), for "use these settings"."""
    source_id = request.GET.get("from", "")
    if not _is_id(source_id):
        return {}
    source = Generation.objects.visible_to(request.user).filter(pk=int(source_id)).first()
    if source is None:
        return {}
    initial = dict(source.api_inputs())
    initial["visibility"] = source.visibility
    initial["num_images"] = source.batch_size
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


# ?fragments=<set>: the gallery's lightbox, or one of its tiles filling in as it finishes.
_GALLERY_FRAGMENTS = {
    "lightbox": {
        "lightbox_media": "generations/_lightbox_media.html",
        "lightbox_details": "generations/_lightbox_details.html",
    },
    "tile": {"tile": "generations/_gallery_card.jinja"},
}


@require_safe
@vary_on_headers("Accept")
def generation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    generation = _visible_generation(request, pk)
    data = generation_data(generation, request.user)
    if wants_json(request) and request.GET.get("fragments") in _GALLERY_FRAGMENTS:
        # The gallery's parts come rendered by the templates the gallery page uses; its scripts
        # swap them in and build none of that markup. Only asked for there: the studio's parts
        # (jobs, progress) are not computed for them.
        context = {"generation": generation, "data": data}
        data["fragments"] = {
            name: render_to_string(template, context, request=request)
            for name, template in _GALLERY_FRAGMENTS[request.GET["fragments"]].items()
        }
        return JsonResponse(data)
    job = studio.job_of(request.user, generation)
    cell = next(c for c in job.cells if c.generation.pk == generation.pk)
    progress = cell.progress
    live = {"generation": generation, "data": data, "job": job, "progress": progress, "cell": cell}
    if wants_json(request):
        # The page's live parts come rendered by the templates the page itself uses; its
        # script swaps them in, and builds no markup of its own.
        data["progress"] = progress.as_dict()
        data["fragments"] = {
            "progress": render_to_string("generations/_progress.html", live, request=request),
            "media": render_to_string("generations/_generation_media.html", live, request=request),
            "media_key": job.key,
            "finished": job.finished,
        }
        return JsonResponse(data)
    return render(
        request,
        "generations/detail.html",
        {
            **live,
            "visibility_form": VisibilityForm(
                initial={"visibility": generation.visibility}, auto_id="id_%s_change"
            ),
            # One report form per image, each with ids of its own: report-reason-<image id>.
            "report_forms": [
                (image, ReportForm(auto_id=f"report-%s-{image['id']}")) for image in data["images"]
            ],
        },
    )


GALLERY_TILES = "generations/_gallery_tiles.jinja"


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
        return render(request, GALLERY_TILES, context)
    # Drawn by Jinja2 (generations/templating.py), which escaped what they hold; placed as is.
    tiles_html = render_to_string(GALLERY_TILES, context, request=request)
    context["tiles_html"] = mark_safe(tiles_html)  # noqa: S308 (autoescaped by Jinja2)
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
    if variant == "original":
        field, content_type = image.original, f"image/{image.format.lower()}"
    else:
        made = renditions.display_file if variant == "display" else renditions.thumbnail_file
        try:
            field, content_type = made(image)
        except OutputImage.DoesNotExist:
            raise Http404("This image was deleted.") from None
    as_download = variant == "original" and request.GET.get("download") == "1"
    return delivery.stored_file_response(
        request,
        field,
        content_type=content_type,
        download_name=download_name(image.generation, image) if as_download else None,
    )


@csrf_exempt  # the API has no session: the call's signature is its proof
@login_not_required
@require_POST
def wavespeed_webhook(request: HttpRequest) -> JsonResponse:
    """The API's call when a prediction ends: verified, applied, answered at once."""
    length = request.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > webhooks.MAX_BODY_BYTES:
        # Refused before the body is read.
        return JsonResponse({"detail": "body too large"}, status=413)
    headers = {name: request.headers.get(name, "") for name in webhooks.HEADERS}
    outcome = webhooks.receive(headers, request.body)
    return JsonResponse({"detail": outcome.detail}, status=outcome.status)
