"""The gallery's lightbox and tiles come from the server's templates: the generation's JSON
carries them rendered (?fragments=lightbox or ?fragments=tile), the scripts only swap them in."""

from __future__ import annotations

import pytest

from generations.models import Generation
from tests.factories import add_image, completed, make_generation

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def test_the_lightbox_fragments_are_rendered_and_carry_no_secrets(client_for, alice, settings):
    settings.WAVESPEED_API_KEY = "wsk-live-0123456789abcdef"
    generation, image = completed(alice, prompt="A lighthouse at dusk", seed=321, batch_size=3)
    response = client_for(alice).get(f"/generations/{generation.pk}/?fragments=lightbox", **JSON)
    assert response.status_code == 200
    data = response.json()
    fragments = data["fragments"]
    assert set(fragments) == {"lightbox_media", "lightbox_details"}
    media = fragments["lightbox_media"]
    assert '<figure class="lightbox-figure">' in media
    assert f'class="lightbox-image" src="/images/{image.pk}/display/"' in media
    assert 'alt="A lighthouse at dusk"' in media
    details = fragments["lightbox_details"]
    assert "<dt>Seed</dt><dd>321</dd>" in details
    assert 'data-status="completed">Completed</span>' in details
    assert f'<a href="/generations/{generation.pk}/">See all 3 images of the batch</a>' in details
    assert "<time datetime=" in details
    body = response.content.decode()
    assert settings.WAVESPEED_API_KEY not in body
    assert settings.SECRET_KEY not in body
    assert "csrfmiddlewaretoken" not in body


def test_a_flagged_image_comes_behind_its_reveal_button_with_no_image_file(client_for, alice):
    generation = make_generation(alice, prompt="flagged statue", status=Generation.Status.COMPLETED)
    image = add_image(generation, nsfw=True)
    data = client_for(alice).get(f"/generations/{generation.pk}/?fragments=lightbox", **JSON).json()
    media = data["fragments"]["lightbox_media"]
    assert 'class="reveal-button"' in media
    assert "<strong>Click to reveal</strong>" in media
    assert 'class="lightbox-image"' not in media
    assert f'data-src="{data["images"][0]["url"]}"' in media
    assert 'class="badge badge-nsfw">flagged NSFW' in media
    assert image.pk == data["images"][0]["id"]


def test_work_in_flight_shows_a_spinner_in_the_lightbox(client_for, alice):
    generation = make_generation(alice, status=Generation.Status.PROCESSING)
    data = client_for(alice).get(f"/generations/{generation.pk}/?fragments=lightbox", **JSON).json()
    media = data["fragments"]["lightbox_media"]
    assert '<span class="spinner" aria-hidden="true"></span><span>Generating…</span>' in media


def test_a_tile_comes_as_the_gallerys_own_card(client_for, alice):
    generation, image = completed(alice, prompt="A lighthouse at dusk")
    client = client_for(alice)
    data = client.get(f"/generations/{generation.pk}/?fragments=tile", **JSON).json()
    tile = data["fragments"]["tile"]
    assert set(data["fragments"]) == {"tile"}
    assert f'data-generation-id="{generation.pk}"' in tile
    assert f'src="/images/{image.pk}/thumbnail/"' in tile
    # The same frame as the gallery page renders for it.
    page = client.get("/gallery/").content.decode()
    frame = tile[tile.index('<span class="tile-frame') : tile.index('<span class="tile-caption')]
    assert frame in page
    assert "csrfmiddlewaretoken" not in tile


def test_without_fragments_the_json_is_the_pages_own(client_for, alice):
    generation, _ = completed(alice)
    data = client_for(alice).get(f"/generations/{generation.pk}/?fragments=nonsense", **JSON).json()
    assert set(data["fragments"]) == {"progress", "media", "media_key", "finished"}


def test_the_lightbox_json_costs_few_queries(client_for, alice, django_assert_max_num_queries):
    generation, _ = completed(alice, batch_size=2)
    client = client_for(alice)
    client.get("/gallery/")  # warm the session
    with django_assert_max_num_queries(6):
        response = client.get(f"/generations/{generation.pk}/?fragments=lightbox", **JSON)
    assert response.status_code == 200
