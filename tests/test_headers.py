"""HEAD: every page of the site answers it as it answers GET.

Every route is listed here as a page or as a form target, so a new page cannot be left out.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.factories import add_image, completed, make_generation

pytestmark = pytest.mark.django_db

# Pages (route name, the record its URL names): each answers GET and HEAD alike.
PAGES = [
    ("login", None),
    ("password_change", None),
    ("password_change_done", None),
    ("healthz", None),
    ("generations:playground", None),
    ("generations:gallery", None),
    ("generations:usage", None),
    ("generations:detail", "generation"),
    ("generations:delete", "generation"),
    ("generations:image-original", "image"),
    ("generations:image-thumbnail", "image"),
    ("moderation:queue", None),
    ("moderation:history", None),
    ("moderation:item", "held_image"),
    ("admin:index", None),
    ("admin:generations_generation_changelist", None),
    ("admin:generations_generation_change", "generation"),
]
# Form targets: they take POST only, so GET and HEAD are both refused.
FORM_TARGETS = [
    ("logout", None),
    ("generations:favourite", "generation"),
    ("generations:visibility", "generation"),
    ("generations:report", "image"),
    ("moderation:bulk", None),
    ("moderation:approve", "held_image"),
    ("moderation:reject", "held_image"),
]


@pytest.fixture
def records(admin, alice) -> dict[str, int]:
    generation, image = completed(admin)
    held = add_image(make_generation(alice), nsfw=True)
    return {"generation": generation.pk, "image": image.pk, "held_image": held.pk}


@pytest.fixture
def boss(client_for, admin) -> Client:
    """The superuser: every page is open to them, the moderation queue and the admin too."""
    return client_for(admin)


def url_of(name: str, record: str | None, records: dict[str, int]) -> str:
    if record is None:
        return reverse(name)
    key = "object_id" if name.startswith("admin:") else "pk"
    return reverse(name, kwargs={key: records[record]})


def route_names(resolver: URLResolver, namespace: str = "") -> set[str]:
    names = set()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            if pattern.namespace != "admin":  # the admin's own pages: a sample is in PAGES
                names |= route_names(pattern, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(namespace + pattern.name)
    return names


def test_every_route_of_the_site_is_a_page_or_a_form_target():
    listed = {name for name, _ in PAGES + FORM_TARGETS if not name.startswith("admin:")}
    assert route_names(get_resolver()) == listed


@pytest.mark.parametrize(("name", "record"), PAGES, ids=[name for name, _ in PAGES])
def test_head_answers_as_get_does_without_a_body(boss, records, name, record):
    url = url_of(name, record, records)
    get = boss.get(url)
    head = boss.head(url)
    assert get.status_code == 200, url
    assert head.status_code == get.status_code
    assert head["Content-Type"] == get["Content-Type"]
    assert b"".join(head) == b""


@pytest.mark.parametrize(("name", "record"), FORM_TARGETS, ids=[n for n, _ in FORM_TARGETS])
def test_form_targets_refuse_get_and_head_alike(boss, records, name, record):
    url = url_of(name, record, records)
    assert boss.get(url).status_code == boss.head(url).status_code == 405


def test_head_of_the_health_check_needs_no_login(client):
    answer = client.head("/healthz")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/json"
