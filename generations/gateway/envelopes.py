"""WaveSpeed's answer shape: `{"code": <HTTP status>, "message": ..., "data": ...}`."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse


def success(data: Any) -> JsonResponse:
    return JsonResponse({"code": 200, "message": "success", "data": data})


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    """An error answer whose `code` mirrors the HTTP status, as WaveSpeed's do."""
    response = JsonResponse({"code": status, "message": message, "data": None}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def unauthorised() -> JsonResponse:
    # One answer for a missing, malformed, unknown, revoked or expired token: nothing tells
    # a guesser which it was, or whether an account exists.
    return error(
        401,
        "Invalid or missing API key: send 'Authorization: Bearer <personal access token>' "
        "(made on the app's Access tokens page).",
        headers={"WWW-Authenticate": 'Bearer realm="api"'},
    )


def method_not_allowed(allowed: str) -> JsonResponse:
    return error(405, f"Method not allowed here; use {allowed}.", headers={"Allow": allowed})
