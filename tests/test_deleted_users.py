"""Deleting an account keeps the team's gallery: its work stays, by a "deleted user".

Alice leaves. Her team work stays in Bob's gallery, shown as by a deleted user; her private
work belongs to nobody now, so only moderators (Maude) see it, not Bob nor Stella (staff);
her favourites and budget go with her account. The admin deletes her account in one step.
"""

from __future__ import annotations

import html
from decimal import Decimal

import pytest

from generations import usage
from generations.models import DELETED_AUTHOR, Budget, Favourite, Generation
from tests.factories import add_image, completed

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_left(alice, bob, admin, client_for):
    """Alice's work and traces, then her account deleted through the admin."""
    team, _ = completed(alice, prompt="Alice's lighthouse for the team", cost=Decimal("0.04"))
    private, _ = completed(alice, prompt="Alice's private sketch", visibility="private")
    flagged, _ = completed(alice, prompt="Alice's statue under review")
    flagged.images.all().delete()
    add_image(flagged, nsfw=True)
    bobs, _ = completed(bob, prompt="Bob's harbour")
    Favourite.objects.create(user=alice, generation=bobs)
    Favourite.objects.create(user=bob, generation=team)
    Budget.objects.create(scope=Budget.Scope.USER, user=alice, monthly_limit=Decimal("5"))
    deletion = f"/admin/auth/user/{alice.pk}/delete/"
    boss = client_for(admin)
    confirmation = boss.get(deletion)
    assert confirmation.status_code == 200
    assert "protected" not in confirmation.content.decode()
    assert boss.post(deletion, {"post": "yes"}).status_code == 302
    return {"team": team, "private": private, "flagged": flagged, "bobs": bobs, "pk": alice.pk}


def test_the_admin_deletes_an_account_that_has_work(alice_left, django_user_model):
    assert not django_user_model.objects.filter(username="alice").exists()
    assert Generation.objects.filter(owner__isnull=True).count() == 3


def test_her_team_work_stays_in_the_gallery_as_by_a_deleted_user(alice_left, bob, client_for):
    page = html.unescape(client_for(bob).get("/gallery/").content.decode())
    assert "Alice's lighthouse for the team" in page
    assert DELETED_AUTHOR in page
    assert "Alice's private sketch" not in page


def test_her_team_works_page_and_json_name_a_deleted_user(alice_left, bob, client_for):
    team = alice_left["team"]
    visitor = client_for(bob)
    page = visitor.get(f"/generations/{team.pk}/")
    assert page.status_code == 200
    assert f"<dt>Author</dt><dd>{DELETED_AUTHOR}</dd>" in page.content.decode()
    data = visitor.get(f"/generations/{team.pk}/", HTTP_ACCEPT="application/json").json()
    assert data["owner"] == DELETED_AUTHOR
    assert data["can_manage"] is False
    assert data["images"][0]["url"]


def test_her_private_work_is_for_moderators_only(alice_left, bob, stella, maude, client_for):
    page = f"/generations/{alice_left['private'].pk}/"
    assert client_for(bob).get(page).status_code == 404
    assert client_for(stella).get(page).status_code == 404
    seen = client_for(maude).get(page)
    assert seen.status_code == 200 and "Alice&#x27;s private sketch" in seen.content.decode()


def test_her_image_under_review_stays_hidden_and_waits_in_the_queue(
    alice_left, bob, maude, client_for
):
    image = alice_left["flagged"].images.get()
    assert client_for(bob).get(f"/images/{image.pk}/original/").status_code == 404
    # Work whose every image waits for review is private until approved.
    data = client_for(bob).get(
        f"/generations/{alice_left['flagged'].pk}/", HTTP_ACCEPT="application/json"
    )
    assert data.status_code == 404
    queue = client_for(maude).get("/moderation/").content.decode()
    assert f"{DELETED_AUTHOR} ·" in queue
    item = client_for(maude).get(f"/moderation/images/{image.pk}/").content.decode()
    assert f"<dt>Author</dt><dd>{DELETED_AUTHOR}</dd>" in item


def test_her_favourites_and_budget_go_with_her_account(alice_left):
    assert not Favourite.objects.filter(user_id=alice_left["pk"]).exists()
    assert not Budget.objects.filter(user_id=alice_left["pk"]).exists()
    # Bob's star on her work is his, and stays.
    assert Favourite.objects.filter(generation=alice_left["team"]).exists()


def test_her_spend_this_month_still_counts_as_a_deleted_users(alice_left, bob, client_for):
    report = usage.usage_report()
    rows = {row.username: (row.amount, row.images) for row in report.users}
    assert rows[DELETED_AUTHOR] == (Decimal("0.04"), 3)
    assert report.month_total == sum(amount for amount, _ in rows.values())
    assert DELETED_AUTHOR in client_for(bob).get("/usage/").content.decode()


def test_the_admin_names_a_deleted_user(alice_left, admin, client_for):
    boss = client_for(admin)
    listing = boss.get("/admin/generations/generation/").content.decode()
    assert DELETED_AUTHOR in listing
    change = boss.get(f"/admin/generations/generation/{alice_left['team'].pk}/change/")
    assert change.status_code == 200 and DELETED_AUTHOR in change.content.decode()


def test_a_teammate_may_report_a_deleted_users_image(alice_left, bob, client_for):
    image = alice_left["team"].images.get()
    client_for(bob).post(f"/images/{image.pk}/report/", {"reason": "Not for the team"})
    assert image.reports.filter(reporter=bob).exists()


@pytest.mark.parametrize(
    "path", ["/", "/gallery/", "/gallery/?view=mine", "/usage/", "/moderation/history/"]
)
def test_the_site_renders_after_the_deletion(alice_left, maude, client_for, path):
    assert client_for(maude).get(path).status_code == 200
