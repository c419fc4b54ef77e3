"""NSFW review: who may decide, what teammates see meanwhile, and the audit log.

Alice's image was flagged by the API. Bob, her teammate, must not see it until Maude, a
moderator, approves it. Stella is staff but may not review.
"""

from __future__ import annotations

import pytest

from generations import ingest
from generations.models import Generation, Moderation, ModerationDecision, OutputImage, Report
from generations.moderation import services as moderation
from tests.factories import add_image, completed
from tests.html_controls import FormControls

pytestmark = pytest.mark.django_db

S = Generation.Status


@pytest.fixture
def flagged(alice) -> OutputImage:
    generation = Generation.objects.create(
        owner=alice,
        prompt="a marble statue",
        aspect_ratio="1:1",
        seed=3,
        guidance_scale=3.5,
        safety_tolerance="2",
        status=S.COMPLETED,
        nsfw_flags=[True],
    )
    return add_image(generation, nsfw=True)


# --- who may review ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/moderation/", "/moderation/history/"])
def test_the_queue_is_for_moderators_only(client_for, bob, stella, maude, flagged, url):
    assert client_for(None).get(url)["Location"].startswith("/accounts/login/")
    assert client_for(bob).get(url).status_code == 403
    assert client_for(stella).get(url).status_code == 403
    assert client_for(maude).get(url).status_code == 200


@pytest.mark.parametrize("who", ["anonymous", "bob", "stella", "alice"])
def test_only_moderators_can_decide(client_for, alice, bob, stella, flagged, who):
    user = {"anonymous": None, "bob": bob, "stella": stella, "alice": alice}[who]
    visitor = client_for(user)
    visitor.post(f"/moderation/images/{flagged.pk}/approve/")
    visitor.post(
        "/moderation/bulk/", {"action": "approve", "images": [flagged.pk], "confirm_count": 1}
    )
    flagged.refresh_from_db()
    assert flagged.moderation == Moderation.PENDING
    assert not ModerationDecision.objects.exists()


def test_the_service_refuses_someone_without_the_permission(stella, flagged):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        moderation.decide(stella, [flagged.pk], "approve")


# --- what people see meanwhile -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "who", "expected"),
    [
        (Moderation.PENDING, "bob", 404),
        (Moderation.PENDING, "alice", 200),
        (Moderation.PENDING, "maude", 200),
        (Moderation.REJECTED, "bob", 404),
        (Moderation.REJECTED, "alice", 404),
        (Moderation.REJECTED, "maude", 200),
        (Moderation.APPROVED, "bob", 200),
    ],
)
@pytest.mark.parametrize("variant", ["original", "thumbnail", "display"])
def test_files_of_held_images_are_refused_to_non_moderators(
    client_for, alice, bob, maude, flagged, state, who, expected, variant
):
    OutputImage.objects.filter(pk=flagged.pk).update(moderation=state)
    user = {"alice": alice, "bob": bob, "maude": maude}[who]
    response = client_for(user).get(f"/images/{flagged.pk}/{variant}/")
    assert response.status_code == expected


def test_the_json_gives_each_image_its_moderation_state(client_for, alice, bob, flagged):
    url = f"/generations/{flagged.generation_id}/"
    owner = client_for(alice).get(url, HTTP_ACCEPT="application/json").json()
    [image] = owner["images"]
    assert (image["id"], image["nsfw"], image["moderation"], image["blurred"]) == (
        flagged.pk,
        True,
        "pending",
        True,
    )
    assert "awaiting review" in image["notice"].lower()
    # With no other image shown, the generation itself is the owner's until approved.
    teammate = client_for(bob).get(url, HTTP_ACCEPT="application/json")
    assert teammate.status_code == 404 and b"a marble statue" not in teammate.content


def test_the_owner_sees_a_removed_notice_without_a_file(client_for, alice, flagged):
    OutputImage.objects.filter(pk=flagged.pk).update(moderation=Moderation.REJECTED)
    data = (
        client_for(alice)
        .get(f"/generations/{flagged.generation_id}/", HTTP_ACCEPT="application/json")
        .json()
    )
    [image] = data["images"]
    assert image["url"] is None and image["thumbnail_url"] is None
    assert image["notice"] == "Removed by a moderator."
    page = client_for(alice).get(f"/generations/{flagged.generation_id}/").content.decode()
    assert "Removed by a moderator." in page
    assert f"/images/{flagged.pk}/original/" not in page
    assert f"/images/{flagged.pk}/display/" not in page


def test_the_owners_page_shows_the_server_made_placeholder_not_the_file(client_for, alice, flagged):
    page = client_for(alice).get(f"/generations/{flagged.generation_id}/").content.decode()
    assert flagged.placeholder in page
    # The real file is only named in data-src, fetched when the owner reveals it.
    assert f' src="/images/{flagged.pk}/original/"' not in page
    assert f' src="/images/{flagged.pk}/display/"' not in page
    assert f'data-src="/images/{flagged.pk}/display/"' in page


@pytest.mark.parametrize(
    ("flags", "index", "expected"),
    [
        ([False], 0, False),
        ([True], 0, True),
        ([], 0, True),
        (None, 0, True),
        ([False], 1, True),
        (["false"], 0, True),
        ([None], 0, True),
        ({"0": False}, 0, True),
    ],
)
def test_missing_or_odd_flags_fail_closed(flags, index, expected):
    assert ingest.is_flagged(flags, index) is expected


# --- deciding ----------------------------------------------------------------------------------


def test_approving_shows_the_image_to_the_team_and_writes_one_audit_row(
    client_for, bob, maude, flagged
):
    response = client_for(maude).post(
        f"/moderation/images/{flagged.pk}/approve/", {"note": "classical art"}
    )
    assert response.status_code == 302
    flagged.refresh_from_db()
    assert flagged.moderation == Moderation.APPROVED
    [row] = ModerationDecision.objects.all()
    assert (
        row.image_ref,
        row.generation_ref,
        row.from_state,
        row.to_state,
        row.moderator,
        row.moderator_name,
        row.note,
    ) == (flagged.pk, flagged.generation_id, "pending", "approved", maude, "maude", "classical art")
    assert client_for(bob).get(f"/images/{flagged.pk}/original/").status_code == 200


def test_deciding_twice_writes_no_second_row(maude, flagged):
    assert moderation.decide(maude, [flagged.pk], "reject") == 1
    assert moderation.decide(maude, [flagged.pk], "reject") == 0
    assert ModerationDecision.objects.count() == 1


def test_decide_and_next_moves_to_the_next_item(client_for, alice, maude, flagged):
    second = add_image(
        Generation.objects.create(
            owner=alice,
            prompt="another",
            aspect_ratio="1:1",
            seed=4,
            guidance_scale=3.5,
            safety_tolerance="2",
            status=S.COMPLETED,
        ),
        nsfw=True,
    )
    response = client_for(maude).post(f"/moderation/images/{flagged.pk}/reject/", {"next": "on"})
    assert response["Location"] == f"/moderation/images/{second.pk}/"
    answer = (
        client_for(maude)
        .post(f"/moderation/images/{second.pk}/approve/", HTTP_ACCEPT="application/json")
        .json()
    )
    assert answer == {
        "id": second.pk,
        "moderation": "approved",
        "changed": True,
        "next_id": None,
        "pending": 0,
    }


def test_a_bulk_decision_writes_one_row_per_image(client_for, alice, maude, flagged):
    others = [add_image(completed(alice)[0], index=1, nsfw=True) for _ in range(2)]
    ids = [flagged.pk, *(image.pk for image in others)]
    response = client_for(maude).post(
        "/moderation/bulk/",
        {"action": "reject", "images": ids, "confirm_count": 3, "note": "spam"},
        HTTP_ACCEPT="application/json",
    )
    assert response.json() == {"changed": 3, "moderation": "rejected", "pending": 0}
    assert sorted(ModerationDecision.objects.values_list("image_ref", flat=True)) == sorted(ids)
    assert set(OutputImage.objects.filter(pk__in=ids).values_list("moderation", flat=True)) == {
        "rejected"
    }


def test_a_bulk_decision_with_the_wrong_count_changes_nothing(client_for, maude, flagged):
    response = client_for(maude).post(
        "/moderation/bulk/",
        {"action": "approve", "images": [flagged.pk], "confirm_count": 2},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    flagged.refresh_from_db()
    assert flagged.moderation == Moderation.PENDING


@pytest.mark.parametrize("confirm_count", [1, 2])
def test_a_bulk_decision_by_script_leaves_no_message_for_the_next_page(
    client_for, maude, flagged, confirm_count
):
    visitor = client_for(maude)
    visitor.post(
        "/moderation/bulk/",
        {"action": "approve", "images": [flagged.pk], "confirm_count": confirm_count},
        HTTP_ACCEPT="application/json",
    )
    assert 'class="messages"' not in visitor.get("/moderation/history/").content.decode()


def test_without_script_a_bulk_decision_asks_for_the_count_first(client_for, maude, flagged):
    page = client_for(maude).post(
        "/moderation/bulk/", {"action": "approve", "images": [flagged.pk], "confirm_count": 0}
    )
    assert "Approve 1 image?" in page.content.decode()
    flagged.refresh_from_db()
    assert flagged.moderation == Moderation.PENDING


def test_the_audit_row_outlives_the_moderators_account_and_the_image(maude, flagged):
    moderation.decide(maude, [flagged.pk], "approve")
    maude.delete()
    flagged.generation.delete()
    row = ModerationDecision.objects.get()
    assert row.moderator is None and row.moderator_name == "maude"
    assert row.image is None and row.image_ref == flagged.pk


def test_history_filters_by_moderator_and_outcome(client_for, maude, admin, flagged, alice):
    other = add_image(completed(alice)[0], index=1, nsfw=True)
    moderation.decide(maude, [flagged.pk], "approve")
    moderation.decide(admin, [other.pk], "reject")
    page = client_for(maude).get("/moderation/history/?moderator=boss").content.decode()
    assert f">{other.pk}</a>" in page and f">{flagged.pk}</a>" not in page
    page = client_for(maude).get("/moderation/history/?outcome=approved").content.decode()
    assert f">{flagged.pk}</a>" in page and f">{other.pk}</a>" not in page


# --- reports -----------------------------------------------------------------------------------


def test_several_reports_make_one_queue_item_that_lists_them(client_for, alice, bob, stella, maude):
    generation, image = completed(alice, prompt="a harbour")
    # A second image still shown keeps the generation the team's once the first is held.
    add_image(generation, index=1)
    client_for(bob).post(f"/images/{image.pk}/report/", {"reason": "copyrighted logo"})
    client_for(stella).post(f"/images/{image.pk}/report/", {"reason": "a real face"})
    [item] = moderation.queue_items()
    assert item.image == image and not item.flagged_by_api
    assert item.reasons == ["Reported by bob: copyrighted logo", "Reported by stella: a real face"]
    page = client_for(maude).get("/moderation/").content.decode()
    assert page.count('class="mod-item"') == 1 and "2 reports" in page
    moderation.decide(maude, [image.pk], "approve")
    assert not Report.objects.filter(resolved_at__isnull=True).exists()


def test_moderators_see_the_pending_count_in_the_navigation(client_for, bob, maude, flagged):
    assert 'class="count-badge"' in client_for(maude).get("/moderation/").content.decode()
    assert "count-badge" not in client_for(bob).get("/gallery/").content.decode()


# --- the admin ---------------------------------------------------------------------------------


def test_the_admin_can_filter_and_decide_with_an_audit_row(client_for, admin, flagged):
    visitor = client_for(admin)
    listing = visitor.get("/admin/generations/outputimage/?moderation__exact=pending")
    assert listing.status_code == 200 and f"/{flagged.pk}/change/" in listing.content.decode()
    asked = visitor.post(
        "/admin/generations/outputimage/",
        {"action": "approve_images", "_selected_action": [flagged.pk]},
    )
    assert "Approve 1 image?" in asked.content.decode()
    assert "1 images" not in asked.content.decode()  # the page title says it right too
    flagged.refresh_from_db()
    assert flagged.moderation == Moderation.PENDING
    decided = visitor.post(
        "/admin/generations/outputimage/",
        {"action": "approve_images", "_selected_action": [flagged.pk], "confirm_count": "1"},
        follow=True,
    )
    assert "1 image approved." in decided.content.decode()
    flagged.refresh_from_db()
    assert flagged.moderation == Moderation.APPROVED
    assert ModerationDecision.objects.get().moderator == admin


def test_the_audit_log_cannot_be_edited_or_deleted_in_the_admin(client_for, admin, maude, flagged):
    moderation.decide(maude, [flagged.pk], "approve")
    row = ModerationDecision.objects.get()
    visitor = client_for(admin)
    assert visitor.get("/admin/generations/moderationdecision/").status_code == 200
    assert visitor.get("/admin/generations/moderationdecision/add/").status_code == 403
    assert (
        visitor.post(
            f"/admin/generations/moderationdecision/{row.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    visitor.post(
        f"/admin/generations/moderationdecision/{row.pk}/change/",
        {"note": "rewritten", "to_state": "rejected"},
    )
    row.refresh_from_db()
    assert row.note == "" and row.to_state == "approved"


def test_the_moderation_pages_render_their_forms_limits(client_for, maude, flagged):
    moderator = client_for(maude)
    queue = FormControls(moderator.get("/moderation/").content.decode())
    item = FormControls(moderator.get(f"/moderation/images/{flagged.pk}/").content.decode())
    history = FormControls(moderator.get("/moderation/history/").content.decode())
    assert queue.attributes["note"]["maxlength"] == str(moderation.NOTE_MAX)
    assert queue.attributes["note"]["id"] == "bulk-note"
    assert item.attributes["note"]["maxlength"] == str(moderation.NOTE_MAX)
    assert item.attributes["note"]["id"] == "decision-note"
    assert history.attributes["since"]["type"] == history.attributes["until"]["type"] == "date"
    assert history.options["outcome"] == ["", Moderation.APPROVED, Moderation.REJECTED]


# --- the pages' counts and filters -------------------------------------------------------------


def test_the_queue_and_an_item_say_where_they_stand_among_those_waiting(
    client_for, maude, flagged, alice
):
    later = add_image(completed(alice)[0], index=1, nsfw=True)
    later.moderation = Moderation.PENDING
    later.save()
    queue = client_for(maude).get("/moderation/").content.decode()
    assert "<strong data-pending-count>2</strong> waiting" in queue
    assert '<span class="mod-position">2 of 2</span>' in queue
    item = client_for(maude).get(f"/moderation/images/{later.pk}/").content.decode()
    assert "2 of <span data-pending-count>2</span> waiting" in item
    assert 'class="tab" href="/moderation/" aria-current="page"' in item


def test_a_decision_answers_with_the_count_still_waiting(client_for, maude, flagged):
    answer = client_for(maude).post(
        f"/moderation/images/{flagged.pk}/approve/", HTTP_ACCEPT="application/json"
    )
    assert answer.json()["pending"] == 0
    assert moderation.pending_count() == 0


def test_the_history_lists_only_people_who_decided_as_moderators(
    client_for, maude, admin, stella, flagged
):
    moderation.decide(maude, [flagged.pk], "approve")
    history = FormControls(client_for(maude).get("/moderation/history/").content.decode())
    assert history.options["moderator"] == ["", "maude"]
    assert moderation.moderator_names() == ["maude"]


def test_an_unknown_moderator_in_the_history_url_is_ignored_with_a_message(
    client_for, maude, flagged
):
    moderation.decide(maude, [flagged.pk], "approve")
    page = client_for(maude).get("/moderation/history/?moderator=nobody").content.decode()
    assert "Some filters were not understood" in page
    assert f">{flagged.pk}</a>" in page
