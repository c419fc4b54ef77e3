"""Response headers and methods: the Content-Security-Policy, the Permissions-Policy, HEAD.

Every page of the site answers HEAD as it answers GET; every route is listed here as a page
or as a form target, so a new page cannot be left out. The policy forbids inline script and
style, so templates and scripts must keep both in static files: the last tests look for any
that crept back in.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from generations.accounts import tokens
from tests.apprunner import ROOT
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
    ("generations:studio-jobs", None),
    ("generations:detail", "generation"),
    ("generations:delete", "generation"),
    ("generations:image-original", "image"),
    ("generations:image-thumbnail", "image"),
    ("generations:image-display", "image"),
    ("moderation:queue", None),
    ("moderation:history", None),
    ("moderation:item", "held_image"),
    ("accounts:tokens", None),
    ("accounts:revoke", "token"),
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
    # The API's webhook calls (POST only, no session: see tests/test_webhooks.py).
    ("generations:wavespeed-webhook", None),
]
# The WaveSpeed-compatible API: its methods and answers are tests/test_gateway.py's.
API_ROUTES = [
    "gateway:submit",
    "gateway:result",
    "gateway:history",
    "gateway:balance",
    "gateway:output",
    "gateway:elsewhere",
]
HTML_PAGES = [
    page for page in PAGES if page[0] != "healthz" and not page[0].startswith("generations:image-")
]


@pytest.fixture
def records(admin, alice) -> dict[str, int]:
    generation, image = completed(admin)
    held = add_image(make_generation(alice), nsfw=True)
    token, _ = tokens.issue(admin, "headers")
    return {
        "generation": generation.pk,
        "image": image.pk,
        "held_image": held.pk,
        "token": token.pk,
    }


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
    listed |= set(API_ROUTES)
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


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize(("name", "record"), HTML_PAGES, ids=[name for name, _ in HTML_PAGES])
def test_every_page_forbids_inline_script_and_style(boss, records, name, record):
    answer = boss.get(url_of(name, record, records))
    found = policy(answer)
    assert found["default-src"] == ["'self'"]
    assert found["script-src"] == ["'self'"]
    assert found["style-src"] == ["'self'"]
    assert found["img-src"] == ["'self'", "data:"]  # the tiles' blurred placeholders
    assert found["object-src"] == ["'none'"]
    assert found["base-uri"] == ["'self'"]
    assert found["frame-ancestors"] == ["'none'"]
    assert found["form-action"] == ["'self'"]
    everything = " ".join(source for sources in found.values() for source in sources)
    assert "unsafe" not in everything  # 'unsafe-inline', 'unsafe-eval', 'unsafe-hashes'


def test_the_login_page_carries_the_policies_before_anyone_signs_in(client):
    answer = client.get("/accounts/login/")
    assert policy(answer)["script-src"] == ["'self'"]
    assert "camera=()" in answer["Permissions-Policy"]


def test_browser_features_no_page_uses_are_switched_off(boss, records):
    header = boss.get("/")["Permissions-Policy"]
    features = dict(item.strip().split("=", 1) for item in header.split(","))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "browsing-topics"):
        assert features[feature] == "()", feature
    # Copying a seed or a recipe writes to the clipboard: that stays allowed.
    assert "clipboard-write" not in features


def test_a_failed_csrf_check_shows_the_sites_own_page(alice):
    visitor = Client(enforce_csrf_checks=True)
    visitor.force_login(alice)
    answer = visitor.post("/", {"prompt": "A fox"})
    assert answer.status_code == 403
    assert "This form has expired" in answer.content.decode()
    assert "<style" not in answer.content.decode()


TEMPLATES = sorted([*(ROOT / "templates").rglob("*.html"), *(ROOT / "templates").rglob("*.jinja")])
INLINE_IN_TEMPLATES = {
    "a style attribute": re.compile(r"\sstyle\s*="),
    "a <style> element": re.compile(r"<style\b", re.IGNORECASE),
    "a <script> without src": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "an event handler attribute": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "a javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_have_no_inline_script_or_style(template: Path):
    text = template.read_text()
    found = [what for what, pattern in INLINE_IN_TEMPLATES.items() if pattern.search(text)]
    assert not found, f"{template.name}: {found}"


SCRIPTS = sorted((ROOT / "static" / "js").glob("*.js"))
# Setting style through the CSSOM (element.style.x, setProperty) is allowed; writing a style
# attribute as text, or markup that carries one, is inline style.
INLINE_IN_SCRIPTS = re.compile(r"""setAttribute\(\s*["']style|style=""")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_do_not_write_style_attributes(script: Path):
    assert not INLINE_IN_SCRIPTS.search(script.read_text())


PYTHON_THAT_WRITES_HTML = sorted((ROOT / "generations").rglob("*.py"))


@pytest.mark.parametrize("module", PYTHON_THAT_WRITES_HTML, ids=lambda p: p.name)
def test_html_made_in_python_has_no_style_attribute(module: Path):
    # The admin's columns are markup made with format_html: a class and static/css/admin.css.
    assert not re.search(r"""\sstyle=\\?["']""", module.read_text())


def test_the_error_page_takes_its_looks_from_the_stylesheet():
    from django.template.loader import render_to_string

    page = render_to_string("500.html")
    assert '<link rel="stylesheet" href="/static/css/app.css">' in page
    assert (ROOT / "static" / "css" / "app.css").exists()
