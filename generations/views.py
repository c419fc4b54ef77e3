"""Pages and file downloads: each view parses the request, calls one function, renders."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from generations import delivery, guide, lifecycle
from generations.forms import GenerationForm
from generations.models import Generation, OutputImage
from generations.presenters import download_name, generation_data
from playground import health

GALLERY_PAGE_SIZE = 24


@login_required
@require_http_methods(["GET", "POST"])
def playground(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = GenerationForm(request.POST)
        if form.is_valid():
            generation = lifecycle.create_generation(request.user, form.cleaned_data)
            return redirect("generations:detail", pk=generation.pk)
    else:
        form = GenerationForm(initial=_initial_from(request))
    recent = (Generation.objects.visible_to(request.user).filter(owner=request.user)
              .prefetch_related("images")[:6])
    return render(request, "generations/playground.html", {
        "form": form,
        "guide": guide,
        "price_per_image": settings.PRICE_PER_IMAGE,
        "recent": recent,
    })


def _initial_from(request: HttpRequest) -> dict:
    """Form values of an earlier generation (?from=<id>), for "use these settings"."""
    source_id = request.GET.get("from", "")
    if not source_id.isdigit():
        return {}
    source = Generation.objects.visible_to(request.user).filter(pk=int(source_id)).first()
    if source is None:
        return {}
    initial = {field: value for field, value in source.api_inputs().items()}
    if request.GET.get("seed") == "new":
        initial["seed"] = None
    return initial


@login_required
@require_GET
@vary_on_headers("Accept")
def generation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    generation = get_object_or_404(
        Generation.objects.visible_to(request.user).select_related("owner")
        .prefetch_related("images"),
        pk=pk,
    )
    data = generation_data(generation)
    if request.get_preferred_type(["text/html", "application/json"]) == "application/json":
        return JsonResponse(data)
    return render(request, "generations/detail.html", {"generation": generation, "data": data})


@login_required
@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    generations = (Generation.objects.visible_to(request.user).select_related("owner")
                   .prefetch_related("images"))
    page = Paginator(generations, GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "generations/gallery.html", {"page": page})


@login_required
@require_GET
def image_file(request: HttpRequest, pk: int, variant: str) -> HttpResponse:
    image = get_object_or_404(
        OutputImage.objects.select_related("generation")
        .filter(generation__in=Generation.objects.visible_to(request.user)),
        pk=pk,
    )
    field = image.original if variant == "original" else image.thumbnail
    content_type = "image/webp" if variant == "thumbnail" else f"image/{image.format.lower()}"
    as_download = variant == "original" and request.GET.get("download") == "1"
    return delivery.stored_file_response(
        field, content_type=content_type,
        download_name=download_name(image.generation, image) if as_download else None)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    document, status = health.report()
    return JsonResponse(document, status=status)
