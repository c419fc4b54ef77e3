"""Who may do what: every page, JSON answer, file and action goes through one rule.

Alice owns a team generation and a private one. Bob (a teammate) sees her team work only and
changes nothing of hers. Stella (staff) sees team work and may delete or hide it. Maude (a
moderator) sees everything. An anonymous visitor reaches nothing.
"""

from __future__ import annotations

import pytest

from generations.models import Favourite, Generation, OutputImage
from tests.factories import completed

pytestmark = pytest.mark.django_db

ACTIONS = ("list", "detail", "json", "thumbnail", "original", "favourite", "visibility", "delete")

# (viewer, which generation) -> the actions that succeed; every other one must be refused.
ALLOWED = {
    ("anonymous", "team"): set(),
    ("anonymous", "private"): set(),
    ("owner", "team"): set(ACTIONS),
    ("owner", "private"): set(ACTIONS),
    ("teammate", "team"): {"list", "detail", "json", "thumbnail", "original", "favourite"},
    ("teammate", "private"): set(),
    ("staff", "team"): set(ACTIONS),
    ("staff", "private"): set(),
    ("moderator", "team"): set(ACTIONS),
    ("moderator", "private"): set(ACTIONS),
}


@pytest.fixture
def cast(alice, bob, stella, maude):
    return {"anonymous": None, "owner": alice, "teammate": bob, "staff": stella, "moderator": maude}


def attempt(visitor, action: str, generation: Generation, image: OutputImage) -> bool:
    """Try one action; True when it worked, checked by its effect, not only its status."""
    page = f"/generations/{generation.pk}/"
    if action == "list":
        response = visitor.get("/gallery/")
        return response.status_code == 200 and generation.prompt in response.content.decode()
    if action == "detail":
        response = visitor.get(page)
        return response.status_code == 200 and generation.prompt in response.content.decode()
    if action == "json":
        response = visitor.get(page, HTTP_ACCEPT="application/json")
        return response.status_code == 200 and response.json()["id"] == generation.pk
    if action in ("thumbnail", "original"):
        response = visitor.get(f"/images/{image.pk}/{action}/")
        return response.status_code == 200 and bool(b"".join(response.streaming_content))
    if action == "favourite":
        visitor.post(f"{page}favourite/", {"favourite": "1"})
        return Favourite.objects.filter(generation=generation).exists()
    if action == "visibility":
        other = "team" if generation.visibility == "private" else "private"
        visitor.post(f"{page}visibility/", {"visibility": other})
        return Generation.objects.get(pk=generation.pk).visibility == other
    if action == "delete":
        visitor.get(f"{page}delete/")
        visitor.post(f"{page}delete/")
        return not Generation.objects.filter(pk=generation.pk).exists()
    raise AssertionError(action)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("which", ["team", "private"])
@pytest.mark.parametrize("who", ["anonymous", "owner", "teammate", "staff", "moderator"])
def test_permission_matrix(cast, client_for, alice, who, which, action):
    generation, image = completed(
        alice, visibility=which, prompt=f"The {which} lighthouse of Alice"
    )
    visitor = client_for(cast[who])
    worked = attempt(visitor, action, generation, image)
    assert worked == (action in ALLOWED[(who, which)]), (
        f"{who} {'could' if worked else 'could not'} {action} a {which} generation"
    )


def test_anonymous_visitors_are_sent_to_the_login_page(client, alice):
    generation, image = completed(alice)
    for url in (
        "/",
        "/gallery/",
        "/usage/",
        f"/generations/{generation.pk}/",
        f"/images/{image.pk}/original/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(
            "/accounts/login/"
        ), url


def test_refused_files_answer_404_not_403_so_ids_leak_nothing(client_for, alice, bob):
    _, image = completed(alice, visibility="private")
    missing = client_for(bob).get("/images/999999/original/")
    hidden = client_for(bob).get(f"/images/{image.pk}/original/")
    assert missing.status_code == hidden.status_code == 404


def test_a_teammate_sees_no_trace_of_private_work_in_the_json_of_a_batch(client_for, alice, bob):
    generation, _ = completed(alice, visibility="private", prompt="secret plans")
    response = client_for(bob).get(f"/generations/{generation.pk}/", HTTP_ACCEPT="application/json")
    assert response.status_code == 404
    assert b"secret plans" not in response.content


def test_remixing_private_work_of_someone_else_gives_an_empty_form(client_for, alice, bob):
    generation, _ = completed(alice, visibility="private", prompt="secret plans")
    html = client_for(bob).get(f"/?from={generation.pk}").content.decode()
    assert "secret plans" not in html
