"""Thumbnails, placeholders and colours made after ingest stored the original, not before it."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from generations import background_renditions, renditions, submission
from generations.models import Generation, OutputImage
from tests.bench.images import counting_decodes
from tests.factories import completed

PARAMS = {
    "prompt": "A lighthouse at dusk",
    "aspect_ratio": "16:9",
    "seed": 7,
    "guidance_scale": 3.5,
    "safety_tolerance": "2",
}


@pytest.fixture
def in_background(settings, monkeypatch) -> list[int]:
    """The app's default (renditions in a background thread), the thread's queue recorded."""
    settings.RENDITIONS_IN_BACKGROUND = True
    queued: list[int] = []
    monkeypatch.setattr(background_renditions._background, "add", queued.append)
    return queued


def generate(owner) -> Generation:
    [generation] = submission.create_batch(owner, PARAMS)
    generation.refresh_from_db()
    return generation


@pytest.mark.django_db(transaction=True)  # the sweep starts when the batch commits
def test_ingest_stores_the_original_without_decoding_it(
    alice, simulator, sync_tasks, in_background
):
    with counting_decodes() as decoders:
        generation = generate(alice)
    assert generation.status == Generation.Status.COMPLETED, generation.error
    assert decoders == []
    image = generation.images.get()
    assert image.original and (image.width, image.height) == (1392, 752)
    # The tile's size is known before its thumbnail is made: pages lay it out at once.
    assert (image.thumbnail_width, image.thumbnail_height) == (480, 259)
    assert not image.thumbnail and not image.placeholder and not image.color
    assert in_background == [generation.pk]


@pytest.mark.django_db(transaction=True)
def test_the_first_request_for_a_thumbnail_makes_it_once(
    alice, alice_client, simulator, sync_tasks, in_background
):
    image = generate(alice).images.get()
    url = f"/images/{image.pk}/thumbnail/"
    with counting_decodes() as decoders:
        first = alice_client.get(url)
    assert (first.status_code, first["Content-Type"]) == (200, "image/webp")
    assert decoders == ["zip"]  # one decode of the PNG
    made = Image.open(io.BytesIO(b"".join(first.streaming_content)))
    assert (made.format, made.size) == ("WEBP", (480, 259))
    image.refresh_from_db()
    assert image.thumbnail and image.placeholder.startswith("data:image/webp;base64,")
    assert image.color.startswith("#")
    with counting_decodes() as decoders:
        again = alice_client.get(url)
    assert again.status_code == 200 and decoders == []  # served as stored


def test_the_background_makes_the_renditions_of_a_generations_images(alice):
    generation, image = without_tile_renditions(alice)
    assert background_renditions.make_tile_renditions_of(generation.pk) == 1
    image.refresh_from_db()
    assert image.thumbnail and image.placeholder and image.color
    # A second pass, or a request alongside, finds nothing left to make.
    assert background_renditions.make_tile_renditions_of(generation.pk) == 0


@pytest.mark.django_db(transaction=True)
def test_the_background_thread_makes_them_in_the_process(django_user_model, settings):
    settings.RENDITIONS_IN_BACKGROUND = True
    owner = django_user_model.objects.create_user("bea", password="x")
    generation, image = without_tile_renditions(owner)
    background = background_renditions.Background()
    background.add(generation.pk)
    assert background.idle.wait(timeout=30)
    image.refresh_from_db()
    assert image.thumbnail and image.placeholder and image.color


def test_an_original_that_cannot_be_decoded_is_served_in_place_of_its_thumbnail(
    alice, alice_client
):
    generation, image = completed(alice)
    damaged = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    image.original.save("damaged.png", ContentFile(damaged), save=False)
    OutputImage.objects.filter(pk=image.pk).update(
        original=image.original.name, thumbnail="", placeholder="", color=""
    )
    answer = alice_client.get(f"/images/{image.pk}/thumbnail/")
    assert (answer.status_code, answer["Content-Type"]) == (200, "image/png")
    assert b"".join(answer.streaming_content) == damaged
    # The background gives up on it the same way, and names it.
    assert background_renditions.make_tile_renditions_of(generation.pk) == 0


def test_a_lost_original_without_a_thumbnail_answers_404(alice, alice_client):
    _generation, image = completed(alice)
    image.original.delete(save=False)
    OutputImage.objects.filter(pk=image.pk).update(thumbnail="")
    assert alice_client.get(f"/images/{image.pk}/thumbnail/").status_code == 404


def test_the_backfill_makes_missing_thumbnails_too(alice):
    _generation, image = without_tile_renditions(alice)
    assert renditions.images_missing_renditions() == 1
    backfill = renditions.make_missing_renditions()
    assert (backfill.made, backfill.failed) == (1, [])
    image.refresh_from_db()
    assert image.thumbnail and image.placeholder
    assert renditions.images_missing_renditions() == 0


def test_download_activity_is_counted_and_timed():
    activity = background_renditions.Activity()
    with activity.downloading():
        assert activity.quiet_for() == 0.0
    assert 0.0 < activity.quiet_for() < 5


@pytest.fixture
def activity(settings, monkeypatch) -> background_renditions.Activity:
    """Renditions in the background, watching downloads of the test's own."""
    settings.RENDITIONS_IN_BACKGROUND = True
    own = background_renditions.Activity()
    monkeypatch.setattr(background_renditions, "activity", own)
    return own


def without_tile_renditions(owner) -> tuple[Generation, OutputImage]:
    """A completed generation whose image is stored, its tile renditions not made yet."""
    generation, image = completed(owner)
    OutputImage.objects.filter(pk=image.pk).update(thumbnail="", placeholder="", color="")
    return generation, image


@pytest.mark.django_db(transaction=True)
def test_the_background_waits_for_the_downloads_to_pause(django_user_model, activity, monkeypatch):
    monkeypatch.setattr(background_renditions, "QUIET_SECONDS", 0.2)
    generation, image = without_tile_renditions(django_user_model.objects.create_user("cy"))
    background = background_renditions.Background()
    with activity.downloading():
        background.add(generation.pk)
        # Nothing is made while a download runs (the thread would be done in far less).
        assert not background.idle.wait(timeout=1.0)
        image.refresh_from_db()
        assert not image.thumbnail
    assert background.idle.wait(timeout=30)
    image.refresh_from_db()
    assert image.thumbnail


@pytest.mark.django_db(transaction=True)
def test_under_steady_downloads_the_background_waits_only_so_long(
    django_user_model, activity, monkeypatch
):
    monkeypatch.setattr(background_renditions, "MOST_WAIT_SECONDS", 0.3)
    generation, image = without_tile_renditions(django_user_model.objects.create_user("dee"))
    background = background_renditions.Background()
    with activity.downloading():  # never a pause
        background.add(generation.pk)
        assert background.idle.wait(timeout=30)
    image.refresh_from_db()
    assert image.thumbnail
