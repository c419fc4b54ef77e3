"""Favourites, visibility, deletion with files, reports, and recipes inside stored PNGs."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from generations import imaging, recipe
from generations.models import Favourite, Generation, Moderation, Report
from tests.factories import completed, make_generation

pytestmark = pytest.mark.django_db(transaction=True)


def test_favourite_and_unfavourite(client_for, alice, bob):
    generation, _ = completed(alice)
    visitor = client_for(bob)
    visitor.post(f"/generations/{generation.pk}/favourite/", {"favourite": "1"})
    visitor.post(f"/generations/{generation.pk}/favourite/", {"favourite": "1"})
    assert Favourite.objects.filter(user=bob, generation=generation).count() == 1
    answer = visitor.post(
        f"/generations/{generation.pk}/favourite/",
        {"favourite": "0"},
        HTTP_ACCEPT="application/json",
    )
    assert answer.json() == {"id": generation.pk, "favourite": False}
    assert not Favourite.objects.exists()


def test_the_owner_makes_work_private_and_back(client_for, alice):
    generation, _ = completed(alice)
    client_for(alice).post(f"/generations/{generation.pk}/visibility/", {"visibility": "private"})
    assert Generation.objects.get(pk=generation.pk).visibility == "private"
    bad = client_for(alice).post(
        f"/generations/{generation.pk}/visibility/", {"visibility": "public"}
    )
    assert bad.status_code == 302
    assert Generation.objects.get(pk=generation.pk).visibility == "private"


def test_deleting_removes_the_record_and_both_files(client_for, alice, media_root):
    generation, image = completed(alice)
    files = [image.original.name, image.thumbnail.name]
    storage = image.original.storage
    assert all(storage.exists(name) for name in files)
    response = client_for(alice).post(f"/generations/{generation.pk}/delete/")
    assert response.status_code == 302
    assert not Generation.objects.filter(pk=generation.pk).exists()
    assert not any(storage.exists(name) for name in files)


def test_the_delete_page_asks_first(client_for, alice):
    generation, _ = completed(alice)
    page = client_for(alice).get(f"/generations/{generation.pk}/delete/")
    assert "cannot be undone" in page.content.decode()
    assert Generation.objects.filter(pk=generation.pk).exists()


def test_a_report_holds_the_image_for_review(client_for, alice, bob):
    _, image = completed(alice)
    response = client_for(bob).post(
        f"/images/{image.pk}/report/", {"reason": "Shows a real person's face"}
    )
    assert response.status_code == 302
    image.refresh_from_db()
    assert image.moderation == Moderation.PENDING
    report = Report.objects.get()
    assert (report.reporter, report.reporter_name, report.reason) == (
        bob,
        "bob",
        "Shows a real person's face",
    )
    # Bob no longer gets the file; Alice, the owner, still does.
    assert client_for(bob).get(f"/images/{image.pk}/original/").status_code == 404
    assert client_for(alice).get(f"/images/{image.pk}/original/").status_code == 200


def test_a_report_needs_a_reason_and_is_not_for_ones_own_image(client_for, alice, bob):
    _, image = completed(alice)
    client_for(bob).post(f"/images/{image.pk}/report/", {"reason": "   "})
    client_for(alice).post(f"/images/{image.pk}/report/", {"reason": "mine"})
    assert not Report.objects.exists()
    image.refresh_from_db()
    assert image.moderation == Moderation.VISIBLE


def test_the_recipe_is_written_into_the_png_and_reads_back(alice):
    generation = make_generation(
        alice, prompt="Ünïcode lanterns, 夜", seed=99, aspect_ratio="3:2", guidance_scale=4.5
    )
    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), "red").save(buffer, format="PNG")
    tagged = imaging.add_png_text(buffer.getvalue(), recipe.png_texts(generation, (30, 20)))
    with Image.open(io.BytesIO(tagged)) as image:
        image.load()
        texts = image.text
        assert image.size == (30, 20) and image.getpixel((3, 3)) == (255, 0, 0)
    assert json.loads(texts["kontext-playground"]) == {
        "model": generation.model,
        "prompt": "Ünïcode lanterns, 夜",
        "aspect_ratio": "3:2",
        "seed": 99,
        "guidance_scale": 4.5,
        "safety_tolerance": "2",
    }
    assert texts["parameters"].startswith("Ünïcode lanterns, 夜\nSeed: 99, Size: 30x20")


def test_add_png_text_refuses_what_is_not_a_png():
    with pytest.raises(ValueError):
        imaging.add_png_text(b"GIF89a....", {"a": "b"})


def test_the_json_tells_the_viewer_their_star_and_rights(client_for, alice, bob):
    from decimal import Decimal

    generation, _ = completed(alice, cost=Decimal("0.04"), batch_size=2)
    Favourite.objects.create(user=bob, generation=generation)
    url = f"/generations/{generation.pk}/"
    bobs = client_for(bob).get(url, HTTP_ACCEPT="application/json").json()
    alices = client_for(alice).get(url, HTTP_ACCEPT="application/json").json()
    assert (bobs["favourite"], bobs["can_manage"]) == (True, False)
    assert (alices["favourite"], alices["can_manage"]) == (False, True)
    assert alices["batch_total"] == "0.0800"
