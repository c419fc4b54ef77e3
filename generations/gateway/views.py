"""The gateway's endpoints: each parses the call, asks `predictions`, and answers an envelope."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from generations import delivery
from generations.gateway import envelopes, predictions
from generations.gateway.auth import token_required
from generations.wavespeed.contract import MODEL_ID


def _absolute(request: HttpRequest) -> predictions.AbsoluteUrl:
    return request.build_absolute_uri


def _body(request: HttpRequest) -> bytes:
    try:
        return request.body
    except RequestDataTooBig:
        raise predictions.Refused(413, "The request body is too large.") from None


def _refused(refusal: predictions.Refused) -> HttpResponse:
    return envelopes.error(refusal.status, refusal.message, refusal.headers)


def _answers(method: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Only `method` (GET answers HEAD too); any other is WaveSpeed's 405 envelope."""
    allowed = ("GET", "HEAD") if method == "GET" else (method,)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if request.method not in allowed:
                return envelopes.method_not_allowed(method)
            return view(request, *args, **kwargs)

        return checked

    return decorate


@token_required
@_answers("POST")
def submit(request: HttpRequest) -> HttpResponse:
    token = request.access_token  # type: ignore[attr-defined]
    try:
        generation, sync = predictions.submit(token, _body(request))
    except predictions.Refused as refusal:
        return _refused(refusal)
    finished = sync and predictions.wait_until_finished(
        generation.pk, settings.GATEWAY_SYNC_TIMEOUT_SECONDS
    )
    data = predictions.prediction_data(
        predictions.find(token.user, str(generation.pk)), _absolute(request)
    )
    if sync and not finished:
        data = predictions.still_processing(data)
    return envelopes.success(data)


@token_required
@_answers("GET")
def result(request: HttpRequest, prediction_id: str) -> HttpResponse:
    try:
        generation = predictions.find(request.access_token.user, prediction_id)  # type: ignore[attr-defined]
    except predictions.Refused as refusal:
        return _refused(refusal)
    return envelopes.success(predictions.prediction_data(generation, _absolute(request)))


@token_required
@_answers("POST")
def history(request: HttpRequest) -> HttpResponse:
    try:
        page, with_input = predictions.history(request.access_token.user, _body(request))  # type: ignore[attr-defined]
    except predictions.Refused as refusal:
        return _refused(refusal)
    absolute = _absolute(request)
    items = [
        predictions.prediction_data(item, absolute, with_input=with_input) for item in page.items
    ]
    return envelopes.success({"page": page.page, "total": page.total, "items": items})


@token_required
@_answers("GET")
def balance(request: HttpRequest) -> HttpResponse:
    return envelopes.success(predictions.balance(request.access_token.user))  # type: ignore[attr-defined]


@token_required
@_answers("GET")
def output(request: HttpRequest, image_id: int) -> HttpResponseBase:
    try:
        image = predictions.output_image(request.access_token.user, image_id)  # type: ignore[attr-defined]
    except predictions.Refused as refusal:
        return _refused(refusal)
    return delivery.stored_file_response(
        request, image.original, content_type=f"image/{image.format.lower()}"
    )


@token_required
def elsewhere(request: HttpRequest, rest: str) -> HttpResponse:
    """Any other path: a model the app does not serve, or an endpoint it does not have."""
    if request.method == "POST":
        return envelopes.error(
            404,
            f"Model {rest[:200]!r} is not supported here: this app serves only {MODEL_ID}.",
        )
    return envelopes.error(404, f"Not found: /api/v3/{rest[:200]} is not served here.")
