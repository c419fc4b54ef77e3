"""Who may do what: every page, JSON answer, file and action goes through one rule.

Alice owns a team generation and a private one. Bob (a teammate) sees her team work only and
changes nothing of hers. Stella (staff) sees team work and may delete or hide it. Maude (a
moderator) sees everything. An anonymous visitor reaches nothing. Held work (team work whose
every image awaits review) and rejected work (every image removed) are private until a
moderator approves an image: Bob and Stella see none of it, Alice and Maude keep what they had.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from generations.models import Favourite, Generation, Moderation, OutputImage
from generations.moderation import services as moderation
from tests.factories import add_image, completed, make_generation

pytestmark = pytest.mark.django_db

ACTIONS = (
    "list",
    "detail",
    "json",
    "remix",
    "admin",
    "thumbnail",
    "display",
    "original",
    "favourite",
    "visibility",
    "delete",
)
ON_THE_SITE = set(ACTIONS) - {"admin"}  # Alice is not staff: the admin is not hers
TEAMMATE = {"list", "detail", "json", "remix", "thumbnail", "display", "original", "favourite"}

# (viewer, which generation) -> the actions that succeed; every other one must be refused.
ALLOWED = {
    ("anonymous", "team"): set(),
    ("anonymous", "private"): set(),
    ("anonymous", "held"): set(),
    ("anonymous", "rejected"): set(),
    ("owner", "team"): ON_THE_SITE,
    ("owner", "private"): ON_THE_SITE,
    ("owner", "held"): ON_THE_SITE,
    # A removed image's file is the moderators' alone, its owner's included.
    ("owner", "rejected"): ON_THE_SITE - {"thumbnail", "display", "original"},
    ("teammate", "team"): TEAMMATE,
    ("teammate", "private"): set(),
    ("teammate", "held"): set(),
    ("teammate", "rejected"): set(),
    ("staff", "team"): set(ACTIONS),
    ("staff", "private"): set(),
    ("staff", "held"): set(),
    ("staff", "rejected"): set(),
    ("moderator", "team"): set(ACTIONS),
    ("moderator", "private"): set(ACTIONS),
    ("moderator", "held"): set(ACTIONS),
    ("moderator", "rejected"): set(ACTIONS),
}
WHICH = ("team", "private", "held", "rejected")


def alices(alice, which: str, prompt: str) -> tuple[Generation, OutputImage]:
    """Alice's finished generation with one image, in the state the matrix names."""
    generation, image = completed(
        alice, visibility="private" if which == "private" else "team", prompt=prompt
    )
    state = {"held": Moderation.PENDING, "rejected": Moderation.REJECTED}.get(which)
    if state:
        OutputImage.objects.filter(pk=image.pk).update(moderation=state, nsfw=True)
    return generation, image


@pytest.fixture
def cast(alice, bob, stella, maude):
    # Staff read the admin's generation pages with its view permission.
    for user in (stella, maude):
        user.user_permissions.add(*Permission.objects.filter(codename="view_generation"))
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
    if action == "remix":
        response = visitor.get(f"/?from={generation.pk}")
        return response.status_code == 200 and (
            response.context["form"]["prompt"].value() == generation.prompt
        )
    if action == "admin":
        response = visitor.get("/admin/generations/generation/")
        return response.status_code == 200 and generation.prompt in response.content.decode()
    if action in ("thumbnail", "display", "original"):
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
@pytest.mark.parametrize("which", WHICH)
@pytest.mark.parametrize("who", ["anonymous", "owner", "teammate", "staff", "moderator"])
def test_permission_matrix(cast, client_for, alice, who, which, action):
    generation, image = alices(alice, which, f"The {which} lighthouse of Alice")
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


# --- held work: private until a moderator approves an image ------------------------------------


@pytest.mark.parametrize("state", [Moderation.PENDING, Moderation.REJECTED])
def test_a_batch_page_lists_no_held_sibling_to_a_teammate(client_for, alice, bob, maude, state):
    from uuid import uuid4

    batch = uuid4()
    shown, _ = completed(alice, prompt="harbour at dawn", batch=batch, batch_size=2)
    held, _ = alices(alice, "held", "harbour at dusk")
    Generation.objects.filter(pk=held.pk).update(batch=batch, batch_index=1, batch_size=2)
    OutputImage.objects.filter(generation=held).update(moderation=state)
    sibling = f'href="/generations/{held.pk}/"'
    assert sibling not in client_for(bob).get(f"/generations/{shown.pk}/").content.decode()
    for keeper in (alice, maude):
        assert sibling in client_for(keeper).get(f"/generations/{shown.pk}/").content.decode()


def test_approval_shows_held_work_to_the_team(client_for, alice, bob, maude):
    generation, image = alices(alice, "held", "a marble statue")
    teammate = client_for(bob)
    assert not attempt(teammate, "detail", generation, image)
    moderation.decide(maude, [image.pk], "approve")
    for action in ("list", "detail", "json", "remix", "original"):
        assert attempt(teammate, action, generation, image), action


def test_one_shown_image_keeps_the_generation_visible_and_the_held_one_hidden(
    client_for, alice, bob
):
    generation, shown = completed(alice, prompt="two foxes")
    held = add_image(generation, index=1, nsfw=True)
    teammate = client_for(bob)
    data = teammate.get(f"/generations/{generation.pk}/", HTTP_ACCEPT="application/json").json()
    assert [image["id"] for image in data["images"]] == [shown.pk]
    assert "two foxes" in teammate.get("/gallery/").content.decode()
    assert teammate.get(f"/images/{held.pk}/original/").status_code == 404


@pytest.mark.parametrize(
    ("status", "visibility", "seen"),
    [
        (Generation.Status.PROCESSING, "team", True),
        (Generation.Status.FAILED, "team", True),
        (Generation.Status.PROCESSING, "private", False),
    ],
)
def test_work_without_images_follows_the_team_rule(
    client_for, alice, bob, status, visibility, seen
):
    generation = make_generation(
        alice, status=status, visibility=visibility, prompt="a kite, no image yet"
    )
    teammate = client_for(bob)
    page = teammate.get(f"/generations/{generation.pk}/")
    assert (page.status_code == 200) is seen
    # A teammate's failure stays out of the team feed; the status filter still finds it.
    listing = "/gallery/?status=failed" if status == Generation.Status.FAILED else "/gallery/"
    assert ("a kite, no image yet" in teammate.get(listing).content.decode()) is seen


def test_staff_get_no_admin_page_of_held_work(client_for, alice, stella):
    stella.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_generation", "view_outputimage"])
    )
    generation, image = alices(alice, "held", "a marble statue")
    visitor = client_for(stella)
    page = visitor.get(f"/admin/generations/generation/{generation.pk}/change/")
    assert page.status_code == 302 and "a marble statue" not in page.content.decode()
    images = visitor.get("/admin/generations/outputimage/")
    assert images.status_code == 200
    assert f"/outputimage/{image.pk}/change/" not in images.content.decode()


def test_held_work_counts_in_its_owners_spend_but_names_nothing(client_for, alice, bob):
    from decimal import Decimal

    from generations import usage

    generation, _ = alices(alice, "held", "a marble statue")
    Generation.objects.filter(pk=generation.pk).update(cost=Decimal("0.04"))
    [row] = usage.usage_report().users
    assert (row.username, row.amount) == ("alice", Decimal("0.04"))
    assert "a marble statue" not in client_for(bob).get("/usage/").content.decode()


def test_a_teammate_cannot_report_an_image_of_held_work(client_for, alice, bob):
    from generations.models import Report

    _, image = alices(alice, "held", "a marble statue")
    response = client_for(bob).post(f"/images/{image.pk}/report/", {"reason": "seen before"})
    assert response.status_code == 404
    assert not Report.objects.exists()
