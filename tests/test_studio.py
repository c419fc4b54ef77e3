"""The studio's HTTP side: the form posted by its script (JSON) or without one (a redirect),
the cards and fragments rendered by the pages' own templates, progress in one reading, and
messages in plain words beside fields whose aria-describedby names real ids."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from generations import progress
from generations.models import Generation, Visibility, WaitingGeneration
from tests.factories import add_image, completed, make_generation
from tests.html_controls import FormControls

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}
FORM = {
    "prompt": "A lighthouse at dusk",
    "aspect_ratio": "16:9",
    "seed": "",
    "guidance_scale": "3.5",
    "safety_tolerance": "2",
    "num_images": "1",
    "visibility": "team",
}


def test_the_studios_script_gets_the_new_jobs_card_and_stays_on_the_page(alice_client, enqueued):
    response = alice_client.post("/", {**FORM, "num_images": "3"}, **JSON)
    assert response.status_code == 201
    job = response.json()["job"]
    batch = list(Generation.objects.order_by("batch_index"))
    assert len(batch) == 3
    assert job["id"] == batch[0].pk
    assert job["finished"] is False
    assert job["detail_url"] == f"/generations/{batch[0].pk}/"
    # One card for the batch, one cell per image, rendered by the page's template.
    html = job["html"]
    assert html.startswith(f'<article class="job-card" id="job-{batch[0].pk}"')
    assert html.count('class="job-image"') == 3
    assert "A lighthouse at dusk" in html
    assert 'data-stage="queued"' in html


def test_without_a_script_the_form_posts_and_leads_to_the_generations_page(alice_client, enqueued):
    response = alice_client.post("/", FORM)
    generation = Generation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/generations/{generation.pk}/"


def test_a_refused_form_answers_its_messages_in_plain_words_by_field(alice_client, enqueued):
    response = alice_client.post(
        "/", {**FORM, "guidance_scale": "42", "num_images": "9", "prompt": " "}, **JSON
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["guidance_scale"] == ["Guidance scale must be between 1 and 20."]
    assert errors["num_images"] == ["Choose between 1 and 4 images."]
    assert errors["prompt"] == ["Describe the image you want: the prompt is required."]
    assert not Generation.objects.exists()


def test_a_refused_form_without_a_script_shows_the_messages_beside_the_fields(alice_client):
    html = alice_client.post("/", {**FORM, "guidance_scale": "0.5"}).content.decode()
    assert re.search(
        r'<p class="field-error" id="guidance_scale-error">'
        r"Guidance scale must be between 1 and 20.</p>",
        html,
    )
    assert "Ensure this value" not in html
    # The field is in the Advanced section, which opens to show it.
    assert '<details class="advanced" id="advanced" open>' in html


@pytest.mark.parametrize("post", [False, True], ids=["fresh", "with-errors"])
def test_every_aria_describedby_on_the_studio_names_an_element_of_the_page(
    alice_client, alice, post
):
    completed(alice)
    response = (
        alice_client.post("/", {**FORM, "seed": "abc", "prompt": ""})
        if post
        else alice_client.get("/")
    )
    page = FormControls(response.content.decode())
    assert page.described_by, "no field is described"
    missing = [(element, id_) for element, id_ in page.described_by if id_ not in page.ids]
    assert missing == []
    # Each field of the form names its message's element, and its hint when it has one.
    named = {id_ for _, id_ in page.described_by}
    assert {"prompt-error", "guidance_scale-error", "guidance_scale-hint", "seed-hint"} <= named


def test_the_browser_checks_carry_the_servers_words_on_the_inputs(alice_client):
    page = FormControls(alice_client.get("/").content.decode())
    guidance = page.attributes["guidance_scale"]
    assert guidance["type"] == "range"
    assert guidance["data-range-message"] == "Guidance scale must be between 1 and 20."
    assert page.attributes["num_images"]["data-range-message"] == "Choose between 1 and 4 images."
    assert page.attributes["prompt"]["data-required-message"].endswith("the prompt is required.")


def test_the_studio_lists_the_viewers_own_jobs_newest_first_a_batch_as_one_card(
    alice_client, alice, bob, enqueued
):
    alice_client.post("/", {**FORM, "prompt": "older single"})
    alice_client.post("/", {**FORM, "prompt": "newer pair", "num_images": "2"})
    make_generation(bob, prompt="bob's own work")
    html = alice_client.get("/").content.decode()
    assert html.count('<article class="job-card"') == 2
    assert html.index("newer pair") < html.index("older single")
    assert "bob&#x27;s own work" not in html


def test_two_ids_of_one_batch_ask_for_one_card(alice_client, alice, enqueued):
    alice_client.post("/", {**FORM, "num_images": "2"})
    first, second = Generation.objects.order_by("batch_index")
    jobs = alice_client.get(f"/studio/jobs/?id={first.pk}&id={second.pk}").json()["jobs"]
    assert [job["id"] for job in jobs] == [first.pk]
    assert jobs[0]["html"].count('class="job-image"') == 2


def test_the_cards_asked_for_by_id_come_as_the_viewer_may_see_them(
    client_for, alice, bob, enqueued
):
    mine = make_generation(alice, prompt="my work")
    private = make_generation(bob, prompt="bob's secret", visibility=Visibility.PRIVATE)
    response = client_for(alice).get(
        f"/studio/jobs/?id={mine.pk}&id={private.pk}&id=abc&id=%C2%B2", **JSON
    )
    assert response.status_code == 200
    jobs = response.json()["jobs"]
    assert [job["id"] for job in jobs] == [mine.pk]
    assert "my work" in jobs[0]["html"]


def test_a_failed_generation_has_retry_with_its_own_seed_and_a_card_has_rerun_and_vary(
    alice_client, alice
):
    failed = make_generation(
        alice, status=Generation.Status.FAILED, seed=321, error="The API refused it."
    )
    html = alice_client.get(f"/studio/jobs/?id={failed.pk}").json()["jobs"][0]["html"]
    retry = html[html.index('class="job-retry"') :]
    assert '<input type="hidden" name="seed" value="321">' in retry[: retry.index("</form>")]
    assert ">Retry</button>" in html
    assert ">Rerun</button>" in html and ">Vary</button>" in html
    vary = html[: html.index(">Vary</button>")]
    assert vary[vary.rindex("<form") :].count('name="seed" value=""') == 1
    assert "The API refused it." in html


def test_the_generation_json_carries_its_fragments_and_no_secrets(client_for, alice, settings):
    settings.WAVESPEED_API_KEY = "wsk-live-0123456789abcdef"
    generation = make_generation(alice, status=Generation.Status.PROCESSING)
    data = client_for(alice).get(f"/generations/{generation.pk}/", **JSON).json()
    fragments = data["fragments"]
    assert set(fragments) == {"progress", "media", "media_key", "finished"}
    assert 'data-stage="generating"' in fragments["progress"]
    assert 'id="placeholder"' in fragments["media"]
    assert data["progress"]["stage"] == "generating"
    body = str(data)
    assert settings.WAVESPEED_API_KEY not in body
    assert settings.SECRET_KEY not in body
    assert "csrfmiddlewaretoken" not in fragments["progress"]


@pytest.mark.parametrize(
    ("status", "label"),
    [
        (Generation.Status.QUEUED, "Queued"),
        (Generation.Status.SUBMITTING, "Sending"),
        (Generation.Status.PROCESSING, "Generating"),
        (Generation.Status.DOWNLOADING, "Saving"),
    ],
)
def test_the_badge_and_the_placeholder_tell_the_same_stage(client_for, alice, status, label):
    generation = make_generation(alice, status=status)
    client = client_for(alice)
    page = client.get(f"/generations/{generation.pk}/").content.decode()
    fragments = client.get(f"/generations/{generation.pk}/", **JSON).json()["fragments"]
    for badge_html, placeholder_html in ((page, page), (fragments["progress"], fragments["media"])):
        badge = re.search(r'class="badge badge-(\w+)" data-status="\w+">([^<]+)<', badge_html)
        placeholder = re.search(
            r'id="placeholder" data-status="(\w+)">.*?<span>([^<]+)…', placeholder_html
        )
        assert badge and placeholder
        assert badge.groups() == (status, label)
        assert placeholder.groups() == (status, label)


def test_a_batch_page_shows_every_image_of_the_batch_alike(alice_client, alice, enqueued):
    alice_client.post("/", {**FORM, "num_images": "3"})
    batch = list(Generation.objects.order_by("batch_index"))
    for member in batch:
        add_image(member)
    Generation.objects.update(status=Generation.Status.COMPLETED)
    html = alice_client.get(f"/generations/{batch[1].pk}/").content.decode()
    assert 'class="job-grid job-grid-3 batch-grid"' in html
    assert html.count('class="job-image"') == 3
    assert html.count('aria-current="true"') == 1
    assert 'class="grid grid-small"' not in html


def test_typical_time_is_the_median_of_recent_completed_generations(alice):
    assert progress.typical_seconds() is None
    now = timezone.now()
    for seconds in (4, 6, 30):
        generation = make_generation(alice, status=Generation.Status.COMPLETED)
        Generation.objects.filter(pk=generation.pk).update(
            created_at=now - timedelta(seconds=seconds), finished_at=now
        )
    make_generation(alice, status=Generation.Status.FAILED, finished_at=now)
    assert progress.typical_seconds() == 6


def test_a_waiting_generation_says_its_place_in_line(alice):
    now = timezone.now()
    first, second = make_generation(alice), make_generation(alice)
    for generation in (first, second):
        WaitingGeneration.objects.create(
            generation=generation, queued_at=generation.created_at, waiting_since=now
        )
    assert progress.progress_of(second, None).words == "Waiting for a free slot, 1 ahead."
    assert progress.progress_of(first, None).words == "Waiting for a free slot; next in line."
    assert progress.progress_of(first, None).stage == "queued"


def test_every_aria_describedby_on_a_generations_page_names_an_element_of_it(
    client_for, alice, bob
):
    generation, _ = completed(alice)
    for viewer in (alice, bob):  # the author's page has the manage form; a teammate's, reports
        page = FormControls(
            client_for(viewer).get(f"/generations/{generation.pk}/").content.decode()
        )
        missing = [(element, id_) for element, id_ in page.described_by if id_ not in page.ids]
        assert missing == []


def test_a_failed_generations_page_offers_retry_with_its_seed(alice_client, alice, enqueued):
    failed = make_generation(alice, status=Generation.Status.FAILED, seed=4711, prompt="A mill")
    html = alice_client.get(f"/generations/{failed.pk}/").content.decode()
    retry = html[: html.index(">Retry</button>")]
    form = retry[retry.rindex("<form") :]
    assert '<input type="hidden" name="seed" value="4711">' in form
    # Without a script, Retry posts like the studio's form and opens the new generation.
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))
    response = alice_client.post("/", fields)
    again = Generation.objects.exclude(pk=failed.pk).get()
    assert response["Location"] == f"/generations/{again.pk}/"
    assert (again.seed, again.prompt) == (4711, "A mill")
