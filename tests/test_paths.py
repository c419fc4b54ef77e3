"""`{% path_to %}` gives the same paths as `{% url %}`, for every route the tiles link to."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.urls import NoReverseMatch, reverse, set_script_prefix

from generations.templatetags.paths import path_to

ROUTES_WITH_AN_ID = [
    "generations:detail",
    "generations:favourite",
    "generations:image-thumbnail",
    "generations:image-display",
    "generations:image-original",
]


@pytest.mark.parametrize("name", ROUTES_WITH_AN_ID)
@pytest.mark.parametrize("pk", [1, 42, 2_147_480_647, 10**12])
def test_a_route_with_an_id_has_the_path_reverse_gives(name, pk):
    assert path_to(name, pk) == reverse(name, args=[pk])


@pytest.mark.parametrize("name", ["generations:gallery", "generations:playground"])
def test_a_route_without_an_argument_has_the_path_reverse_gives(name):
    assert path_to(name) == reverse(name)


def test_a_site_mounted_under_a_prefix_gets_the_prefix():
    try:
        set_script_prefix("/playground/")
        assert path_to("generations:detail", 7) == "/playground/generations/7/"
        assert path_to("generations:detail", 7) == reverse("generations:detail", args=[7])
    finally:
        set_script_prefix("/")
    assert path_to("generations:detail", 7) == "/generations/7/"


def test_an_unknown_route_fails_as_url_does():
    with pytest.raises(NoReverseMatch):
        path_to("generations:no-such-page", 1)


def test_the_tag_renders_in_a_template():
    template = Template(
        "{% load paths %}{% path_to 'generations:detail' item %}|"
        "{% path_to 'generations:gallery' %}"
    )
    assert template.render(Context({"item": 5})) == "/generations/5/|/gallery/"
