"""What the app's views share about reading a request."""

from __future__ import annotations

from django.http import HttpRequest


def wants_json(request: HttpRequest) -> bool:
    """Whether the client asked for the JSON form of a page (Accept: application/json)."""
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"
