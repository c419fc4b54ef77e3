"""What a gallery tile shows of its generation's images, to whom, and the query that reads
them: an owner sees their flagged or removed image as a notice, a teammate only shown images,
a moderator everything; the images come without reading the generations again."""

from __future__ import annotations

import re
import unicodedata

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generations import gallery
from generations.models import Generation, Moderation
from tests.factories import add_image, make_generation

pytestmark = pytest.mark.django_db


def tile_of(page: str, generation: Generation) -> str:
    found = re.search(
        rf'<li class="tile[^"]*"[^>]*data-generation-id="{generation.pk}".*?</li>', page, re.S
    )
    assert found, f"no tile for generation {generation.pk}"
    return found.group(0)


@pytest.fixture
def flagged_first(bob) -> tuple[Generation, list]:
    """Bob's work: its first image awaits review, its second is shown."""
    generation = make_generation(bob, status=Generation.Status.COMPLETED, prompt="two images")
    images = [add_image(generation, index=0, nsfw=True), add_image(generation, index=1)]
    return generation, images


def test_a_teammate_sees_the_first_shown_image(client_for, alice, flagged_first):
    generation, (flagged, shown) = flagged_first
    tile = tile_of(client_for(alice).get("/gallery/").content.decode(), generation)
    assert f"/images/{shown.pk}/thumbnail/" in tile
    assert f"/images/{flagged.pk}/" not in tile and "tile-notice" not in tile


@pytest.mark.parametrize("viewer", ["bob", "maude"])
def test_the_owner_and_moderators_see_the_flagged_image_as_a_notice(
    request, client_for, flagged_first, viewer
):
    generation, (_flagged, shown) = flagged_first
    page = client_for(request.getfixturevalue(viewer)).get("/gallery/").content.decode()
    tile = tile_of(page, generation)
    assert "Awaiting review" in tile
    assert f"/images/{shown.pk}/" not in tile  # the tile shows the first image it lists


def test_the_owner_sees_a_removed_image_as_a_notice_and_teammates_nothing(client_for, alice, bob):
    generation = make_generation(bob, status=Generation.Status.COMPLETED, prompt="removed")
    add_image(generation, moderation=Moderation.REJECTED)
    Generation.objects.filter(pk=generation.pk).update(visibility="team")
    assert "Removed by a moderator" in tile_of(
        client_for(bob).get("/gallery/").content.decode(), generation
    )
    assert f'data-generation-id="{generation.pk}"' not in (
        client_for(alice).get("/gallery/").content.decode()
    )


@pytest.mark.parametrize("viewer", ["alice", "bob", "maude"])
def test_the_tiles_images_are_read_without_the_generations(request, flagged_first, viewer):
    user = request.getfixturevalue(viewer)
    gallery.gallery_page(user, {})  # the account's permissions, read once per request
    with CaptureQueriesContext(connection) as queries:
        page = gallery.gallery_page(user, {})
        listed = [image for generation in page.generations for image in generation.images.all()]
    images_sql = [
        q["sql"] for q in queries.captured_queries if "generations_outputimage" in q["sql"]
    ]
    assert len(images_sql) == 1
    # No join: a planner without statistics hashed the whole generation table for it.
    assert "generations_generation" not in images_sql[0]
    assert listed and [image.index for image in listed] == sorted(image.index for image in listed)


@pytest.mark.parametrize(
    "text", ["short", "x" * 90, "x" * 91, "e\u0301" * 60, "a long prompt " * 10]
)
def test_tiles_truncate_prompts_as_django_does(text):
    from django.template.defaultfilters import truncatechars as djangos

    from generations.templating import truncatechars

    assert unicodedata.normalize("NFC", truncatechars(text, 90)) == djangos(text, 90)
