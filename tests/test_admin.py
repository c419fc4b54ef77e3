"""The admin shows generations as they happened: nobody, superusers included, edits them there."""

from __future__ import annotations

import pytest
from django.urls import reverse

from generations.models import Generation
from tests.factories import completed

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/generations/generation/"


def test_the_admin_lists_generations(client_for, admin, alice):
    completed(alice, prompt="a lighthouse at dusk")
    listing = client_for(admin).get(CHANGELIST)
    assert listing.status_code == 200
    assert "a lighthouse at dusk" in listing.content.decode()


def test_the_admin_shows_a_generation_and_its_images_without_a_save_button(
    client_for, admin, alice
):
    generation, image = completed(alice, prompt="a lighthouse at dusk")
    page = client_for(admin).get(f"{CHANGELIST}{generation.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "a lighthouse at dusk" in html
    assert reverse("generations:image-thumbnail", args=[image.pk]) in html
    assert 'name="_save"' not in html
    assert 'name="prompt"' not in html
    assert "images-0-DELETE" not in html


def test_a_superuser_gets_no_add_page_for_generations(client_for, admin):
    assert client_for(admin).get(f"{CHANGELIST}add/").status_code == 403


def test_a_superuser_cannot_change_a_generation_in_the_admin(client_for, admin, alice):
    generation, _ = completed(alice, prompt="as it was", visibility="team")
    answer = client_for(admin).post(
        f"{CHANGELIST}{generation.pk}/change/",
        {"prompt": "rewritten", "status": "failed", "visibility": "private", "seed": "1"},
    )
    assert answer.status_code == 403
    generation.refresh_from_db()
    assert (generation.prompt, generation.status, generation.visibility, generation.seed) == (
        "as it was",
        Generation.Status.COMPLETED,
        "team",
        7,
    )


def test_a_superuser_cannot_delete_a_generation_in_the_admin(client_for, admin, alice):
    generation, _ = completed(alice)
    visitor = client_for(admin)
    answer = visitor.post(f"{CHANGELIST}{generation.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 403
    assert 'value="delete_selected"' not in visitor.get(CHANGELIST).content.decode()
    visitor.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [generation.pk], "post": "yes"},
    )
    assert Generation.objects.filter(pk=generation.pk).exists()


def test_a_flagged_image_stays_blurred_in_the_admin_list_even_before_its_placeholder(
    client_for, admin, alice
):
    from generations.models import Moderation, OutputImage

    _generation, image = completed(alice, prompt="a flagged lighthouse")
    OutputImage.objects.filter(pk=image.pk).update(moderation=Moderation.PENDING, nsfw=True)
    thumbnail = reverse("generations:image-thumbnail", args=[image.pk])
    html = client_for(admin).get("/admin/generations/outputimage/").content.decode()
    assert image.placeholder in html and thumbnail not in html
    # Just after ingest, before its placeholder is made: no picture at all, not the thumbnail.
    OutputImage.objects.filter(pk=image.pk).update(placeholder="", thumbnail="")
    html = client_for(admin).get("/admin/generations/outputimage/").content.decode()
    assert "(awaiting its preview)" in html and thumbnail not in html
