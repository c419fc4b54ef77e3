"""Pages: login, the playground form, a generation's page and JSON form, the gallery, files."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from generations.forms import GenerationForm, ReportForm, VisibilityForm
from generations.gallery import GalleryFilters
from generations.models import Generation
from tests.factories import add_image, make_generation
from tests.html_controls import FormControls

pytestmark = pytest.mark.django_db

VALID_POST = {
    "prompt": "A lighthouse at dusk, long exposure",
    "aspect_ratio": "3:2",
    "seed": "",
    "guidance_scale": "4",
    "safety_tolerance": "3",
}


@pytest.mark.parametrize(
    "url", ["/", "/gallery/", "/generations/1/", "/images/1/original/", "/images/1/thumbnail/"]
)
def test_pages_need_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_health_check_needs_no_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_login_page_renders(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_playground_shows_every_parameter_and_the_guide(alice_client):
    html = alice_client.get("/").content.decode()
    for name in ("prompt", "aspect_ratio", "seed", "guidance_scale", "safety_tolerance"):
        assert f'name="{name}"' in html
    assert "Prompting guide" in html
    assert "golden retriever" in html  # one of the model page's example prompts
    assert "$0.04" in html


def test_the_playground_renders_the_limits_and_choices_of_its_form(alice_client, settings):
    page = FormControls(alice_client.get("/").content.decode())
    fields = GenerationForm().fields
    assert int(page.attributes["prompt"]["maxlength"]) == fields["prompt"].max_length
    for name in ("seed", "guidance_scale", "num_images"):
        assert float(page.attributes[name]["min"]) == fields[name].min_value, name
        assert float(page.attributes[name]["max"]) == fields[name].max_value, name
    # The cost line's script reads the number of images' limit from the input.
    assert int(page.attributes["num_images"]["max"]) == settings.MAX_IMAGES_PER_SUBMISSION
    assert page.options["safety_tolerance"] == [v for v, _ in fields["safety_tolerance"].choices]
    for name in ("aspect_ratio", "visibility"):
        assert page.radios[name] == [value for value, _ in fields[name].choices], name


def test_the_detail_page_and_the_gallery_render_their_forms_limits(client_for, alice, bob):
    generation = make_generation(alice, status=Generation.Status.COMPLETED)
    image = add_image(generation)
    url = f"/generations/{generation.pk}/"
    owners_page = FormControls(client_for(alice).get(url).content.decode())
    choices = VisibilityForm().fields["visibility"].choices
    assert owners_page.options["visibility"] == [value for value, _ in choices]
    assert owners_page.attributes["visibility"]["id"] == "id_visibility_change"

    teammates_page = FormControls(client_for(bob).get(url).content.decode())
    reason = teammates_page.attributes["reason"]
    assert int(reason["maxlength"]) == ReportForm().fields["reason"].max_length
    assert reason["id"] == f"report-reason-{image.pk}"

    gallery = FormControls(client_for(alice).get("/gallery/?q=fox").content.decode())
    assert int(gallery.attributes["q"]["maxlength"]) == GalleryFilters().fields["q"].max_length
    assert gallery.attributes["q"]["value"] == "fox"


def test_simulator_banner_shows_when_no_key_is_set(alice_client, settings):
    settings.WAVESPEED_SIMULATED = True
    assert b"Simulator mode" in alice_client.get("/").content
    settings.WAVESPEED_SIMULATED = False
    assert b"Simulator mode" not in alice_client.get("/").content


def test_submitting_saves_and_queues_once_committed(
    alice_client, alice, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/", VALID_POST)
    generation = Generation.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("generations:detail", args=[generation.pk])
    assert generation.owner == alice
    assert generation.status == Generation.Status.QUEUED
    assert generation.aspect_ratio == "3:2"
    assert generation.guidance_scale == 4.0
    assert generation.safety_tolerance == "3"
    assert generation.seed_was_random
    assert 0 <= generation.seed <= 2_147_483_647
    assert str(generation.cost) == "0.0400"
    # Due at once, with one sweep asked for: the sweeper sends it.
    assert generation.next_check_at <= timezone.now()
    assert enqueued == [("sweep", None)]


def test_a_chosen_seed_is_sent_as_is(alice_client, enqueued):
    alice_client.post("/", {**VALID_POST, "seed": "123"})
    generation = Generation.objects.get()
    assert generation.seed == 123
    assert not generation.seed_was_random


def test_invalid_input_keeps_what_was_typed_and_saves_nothing(alice_client, enqueued):
    response = alice_client.post("/", {**VALID_POST, "guidance_scale": "25", "seed": "-7"})
    html = response.content.decode()
    assert response.status_code == 200
    assert Generation.objects.count() == 0
    assert enqueued == []
    assert "A lighthouse at dusk, long exposure" in html
    assert 'id="guidance_scale-error"' in html
    assert 'id="seed-error"' in html
    assert 'value="25"' in html


def test_generation_page_answers_json_when_asked(alice_client, alice):
    generation = make_generation(alice, status=Generation.Status.COMPLETED)
    image = add_image(generation, size=(80, 40), nsfw=True)
    response = alice_client.get(f"/generations/{generation.pk}/", HTTP_ACCEPT="application/json")
    assert response["Content-Type"] == "application/json"
    assert "Accept" in response["Vary"]
    data = response.json()
    assert {"id", "status", "error", "images"} <= data.keys()
    assert data["id"] == generation.pk
    assert data["status"] == "completed"
    [entry] = data["images"]
    assert (
        entry.items()
        >= {
            "id": image.pk,
            # Pages show the display rendition; the original is for download.
            "url": f"/images/{image.pk}/display/",
            "thumbnail_url": f"/images/{image.pk}/thumbnail/",
            "download_url": f"/images/{image.pk}/original/?download=1",
            "width": 80,
            "height": 40,
            "nsfw": True,
            "moderation": "pending",
            "blurred": True,
        }.items()
    )
    assert entry["placeholder"].startswith("data:image/webp;base64,")


def test_generation_page_is_html_for_browsers(alice_client, alice):
    generation = make_generation(
        alice, status=Generation.Status.FAILED, error="The API refused the request."
    )
    response = alice_client.get(
        f"/generations/{generation.pk}/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8"
    )
    html = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert "The API refused the request." in html
    assert f"?from={generation.pk}" in html
    assert 'id="copy-seed"' in html


@pytest.mark.parametrize(
    "url",
    ["/generations/999999/", "/generations/abc/", "/images/999999/original/", "/gallery/?page=zzz"],
)
def test_bad_urls_get_a_clear_answer_not_a_crash(alice_client, url):
    response = alice_client.get(url)
    assert response.status_code in {200, 404}


def test_use_these_settings_fills_the_form(alice_client, alice):
    generation = make_generation(
        alice,
        prompt="A heron",
        aspect_ratio="9:16",
        seed=99,
        guidance_scale=6.5,
        safety_tolerance="4",
    )
    html = studio_form(alice_client.get(f"/?from={generation.pk}"))
    assert "A heron</textarea>" in html
    assert 'value="99"' in html
    assert 'value="6.5"' in html
    assert re.search(r'<input type="radio" name="aspect_ratio" value="9:16"[^>]* checked>', html)
    assert '<option value="4" selected>' in html


def test_same_settings_new_seed_leaves_the_seed_empty(alice_client, alice):
    generation = make_generation(alice, seed=99)
    html = studio_form(alice_client.get(f"/?from={generation.pk}&seed=new"))
    assert 'value="99"' not in html


def studio_form(response) -> str:
    """The studio's own form, without the job cards beside it (their forms hold settings too)."""
    html = response.content.decode()
    start = html.index('id="generation-form"')
    return html[start : html.index("</form>", start)]


def test_gallery_lists_newest_first_and_paginates(alice_client, alice):
    for number in range(30):
        make_generation(alice, prompt=f"prompt number {number}")
    first = alice_client.get("/gallery/").content.decode()
    assert "prompt number 29" in first
    assert "prompt number 5" not in first
    older = re.search(r'href="\?(after=[^"]+)" rel="next"', first).group(1)
    second = alice_client.get(f"/gallery/?{older}").content.decode()
    assert "prompt number 5" in second
    assert "prompt number 29" not in second


def test_gallery_query_count_does_not_grow_with_page_size(
    alice_client, alice, django_assert_max_num_queries
):
    for _ in range(24):
        add_image(make_generation(alice, status=Generation.Status.COMPLETED))
    with django_assert_max_num_queries(8):
        alice_client.get("/gallery/")


def test_original_and_thumbnail_are_served_after_login(alice_client, alice):
    image = add_image(make_generation(alice))
    original = alice_client.get(f"/images/{image.pk}/original/")
    assert original.status_code == 200
    assert original["Content-Type"] == "image/png"
    assert b"".join(original.streaming_content).startswith(b"\x89PNG")
    download = alice_client.get(f"/images/{image.pk}/original/?download=1")
    assert "attachment" in download["Content-Disposition"]
    assert "seed7" in download["Content-Disposition"]
    thumbnail = alice_client.get(f"/images/{image.pk}/thumbnail/")
    assert thumbnail["Content-Type"] == "image/webp"


def test_a_file_missing_from_storage_is_a_404(alice_client, alice):
    image = add_image(make_generation(alice))
    image.original.storage.delete(image.original.name)
    assert alice_client.get(f"/images/{image.pk}/original/").status_code == 404
