"""Hostile or odd input gets a clear answer, never a 500, and reaches nothing it should not."""

from __future__ import annotations

import base64

import pytest

from generations.models import Generation, Moderation, OutputImage, Report
from tests.factories import add_image, completed

pytestmark = pytest.mark.django_db(transaction=True)


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "query",
    [
        f"after={cursor('0001-01-01T00:00:00+14:00|1')}",
        f"before={cursor('9999-12-31T23:59:59-14:00|1')}",
        f"after={cursor('2026-01-01T00:00:00+00:00|99999999999999999999999')}",
        f"after={cursor('2026-01-01T00:00:00|1')}",
        "q=²",
        "q=99999999999999999999999",
        "q=%00",
        "author=%00",
        "date_from=0000-00-00",
    ],
)
def test_the_gallery_survives_hostile_parameters(client_for, alice, query):
    completed(alice, prompt="still here")
    response = client_for(alice).get(f"/gallery/?{query}")
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["²", "99999999999999999999999", "-1", "1e3"])
def test_remix_of_a_strange_id_gives_an_empty_form(client_for, alice, value):
    assert client_for(alice).get(f"/?from={value}").status_code == 200


def test_staff_deleting_a_generation_removes_files_of_images_they_are_not_shown(
    client_for, alice, stella
):
    generation, shown = completed(alice)
    hidden = add_image(generation, index=1, nsfw=True)
    names = [
        field.name
        for image in (shown, hidden)
        for field in (image.original, image.thumbnail, image.display)
    ]
    assert all(names)
    storage = shown.original.storage
    client_for(stella).post(f"/generations/{generation.pk}/delete/")
    assert not Generation.objects.filter(pk=generation.pk).exists()
    assert [name for name in names if storage.exists(name)] == []


def test_deleting_an_image_in_the_admin_removes_its_files(client_for, admin, alice):
    _, image = completed(alice)
    names = [image.original.name, image.thumbnail.name, image.display.name]
    storage = image.original.storage
    client_for(admin).post(f"/admin/generations/outputimage/{image.pk}/delete/", {"post": "yes"})
    assert not OutputImage.objects.filter(pk=image.pk).exists()
    assert not any(storage.exists(name) for name in names)


def test_the_admin_shows_staff_only_what_the_team_sees(client_for, alice, stella, maude):
    from django.contrib.auth.models import Permission

    stella.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_generation", "view_outputimage"])
    )
    private, _ = completed(alice, visibility="private", prompt="private plans")
    shared, _ = completed(alice, prompt="shared work", output_urls=["https://cdn.example/x.png"])
    listing = client_for(stella).get("/admin/generations/generation/").content.decode()
    assert "shared work" in listing and "private plans" not in listing
    hidden = client_for(stella).get(f"/admin/generations/generation/{private.pk}/change/")
    assert hidden.status_code == 302 and "private plans" not in hidden.content.decode()
    page = client_for(stella).get(f"/admin/generations/generation/{shared.pk}/change/")
    assert page.status_code == 200 and "cdn.example" not in page.content.decode()
    moderator = client_for(maude)
    maude.user_permissions.add(*Permission.objects.filter(codename="view_generation"))
    assert (
        "cdn.example"
        in moderator.get(f"/admin/generations/generation/{shared.pk}/change/").content.decode()
    )


def test_visibility_cannot_be_changed_behind_the_owners_back_in_the_admin(client_for, alice, admin):
    generation, _ = completed(alice, visibility="private")
    client_for(admin).post(
        f"/admin/generations/generation/{generation.pk}/change/", {"visibility": "team"}
    )
    assert Generation.objects.get(pk=generation.pk).visibility == "private"


def test_one_report_per_person_and_image(client_for, alice, bob, maude):
    from generations.moderation import services as moderation

    _, image = completed(alice)
    client_for(bob).post(f"/images/{image.pk}/report/", {"reason": "first"})
    moderation.decide(maude, [image.pk], "approve")
    client_for(bob).post(f"/images/{image.pk}/report/", {"reason": "again"})
    image.refresh_from_db()
    assert image.moderation == Moderation.APPROVED
    assert Report.objects.count() == 1


@pytest.mark.parametrize("ids", [["99999999999999999999999"], ["0"], ["abc"]])
def test_bulk_decisions_refuse_ids_that_cannot_be(client_for, maude, ids):
    response = client_for(maude).post(
        "/moderation/bulk/",
        {"action": "approve", "images": ids, "confirm_count": 1},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400


def test_the_same_image_twice_in_a_bulk_decision_counts_once(client_for, alice, maude):
    _, image = completed(alice)
    OutputImage.objects.filter(pk=image.pk).update(moderation=Moderation.PENDING)
    response = client_for(maude).post(
        "/moderation/bulk/",
        {"action": "approve", "images": [image.pk, image.pk], "confirm_count": 2},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400  # one image selected, two confirmed: nothing changes
    image.refresh_from_db()
    assert image.moderation == Moderation.PENDING


def test_a_removed_image_leaves_its_owner_no_blurred_copy(client_for, alice):
    generation, image = completed(alice)
    OutputImage.objects.filter(pk=image.pk).update(moderation=Moderation.REJECTED)
    data = (
        client_for(alice)
        .get(f"/generations/{generation.pk}/", HTTP_ACCEPT="application/json")
        .json()
    )
    assert data["images"][0]["placeholder"] == ""
    page = client_for(alice).get("/gallery/").content.decode()
    assert image.placeholder not in page


@pytest.mark.parametrize("url", ["/accounts/password_reset/", "/accounts/reset/x/y/"])
def test_there_is_no_password_reset_by_mail(client_for, url):
    response = client_for(None).get(url)
    assert response.status_code in (302, 404)
    assert response.status_code == 404 or "/accounts/login/" in response["Location"]


# --- text that is saved: readable, visible, and numbers in ASCII digits -------------------------

FORM = "aspect_ratio=1%3A1&guidance_scale=3.5&safety_tolerance=2&num_images=1"
INVISIBLE = "only spaces or invisible characters"
UNREADABLE = "could not be read"


def urlencoded(client, url: str, body: str, **extra):
    return client.post(
        url, body.encode("ascii"), content_type="application/x-www-form-urlencoded", **extra
    )


def multipart_prompt(raw: bytes) -> tuple[bytes, str]:
    """A multipart form, as a browser sends one, whose prompt part holds these raw bytes."""
    boundary = "kontextboundary"
    fields = {"aspect_ratio": b"1:1", "guidance_scale": b"3.5", "safety_tolerance": b"2"}
    body = b""
    for name, value in [*fields.items(), ("prompt", raw)]:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        body += head.encode() + value + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("prompt=%E2%80%8B%E2%80%8B%E2%80%8B", INVISIBLE),  # zero-width spaces
        ("prompt=%EF%BB%BF%E2%81%A0%20%E2%80%8D", INVISIBLE),  # BOM, word joiner, joiner
        ("prompt=%E3%85%A4", INVISIBLE),  # the Hangul filler
        ("prompt=a%20fox%FF%FE", UNREADABLE),  # bytes that are not UTF-8
        ("prompt=a%20fox%C3", UNREADABLE),  # a character cut in half
        ("prompt=a%20fox%ED%A0%80", UNREADABLE),  # a lone surrogate in UTF-8's form
        ("prompt=a%20fox%1B%5B2J", "control character (U+001B)"),
        ("prompt=a%20fox&seed=%D9%A4%D9%A2", "in the digits 0-9"),  # Arabic-Indic 42
        ("prompt=a%20fox&seed=%EF%BC%94%EF%BC%92", "in the digits 0-9"),  # full-width 42
        ("prompt=a%20fox&seed=1_000", "in the digits 0-9"),
        ("prompt=a%20fox&num_images=%D9%A2", "in the digits 0-9"),
    ],
)
def test_the_playground_refuses_unreadable_or_invisible_input_and_saves_nothing(
    client_for, alice, enqueued, fields, message
):
    response = urlencoded(client_for(alice), "/", f"{FORM}&{fields}")
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Generation.objects.exists() and enqueued == []


def test_invalid_utf8_in_a_multipart_prompt_is_refused_too(client_for, alice, enqueued):
    body, content_type = multipart_prompt(b"a fox \xff\xfe")
    response = client_for(alice).post("/", body, content_type=content_type)
    assert UNREADABLE in response.content.decode()
    assert not Generation.objects.exists()


@pytest.mark.parametrize(
    "prompt", ["🦊 in the snow at dawn", "東京の夜景", "Crème brûlée, ½ eaten", "👩\u200d🚀"]
)
def test_readable_prompts_from_any_script_are_saved_as_typed(client_for, alice, enqueued, prompt):
    from urllib.parse import quote

    response = urlencoded(client_for(alice), "/", f"{FORM}&prompt={quote(prompt)}&seed=42")
    assert response.status_code == 302
    assert Generation.objects.get().prompt == prompt


@pytest.mark.parametrize(
    ("reason", "message"),
    [("%E2%80%8B%E2%80%8C", INVISIBLE), ("a%20logo%FF", UNREADABLE), ("%00", "U+0000")],
)
def test_a_report_with_an_unreadable_reason_saves_nothing_and_holds_nothing(
    client_for, alice, bob, reason, message
):
    _, image = completed(alice)
    response = urlencoded(
        client_for(bob), f"/images/{image.pk}/report/", f"reason={reason}", follow=True
    )
    assert message in response.content.decode()
    assert not Report.objects.exists()
    assert OutputImage.objects.get(pk=image.pk).moderation == Moderation.VISIBLE


@pytest.mark.parametrize("note", ["%E2%81%A0%E2%80%8B", "looks%20fine%ED%BF%BF"])
@pytest.mark.parametrize("as_json", [False, True])
def test_a_decision_with_an_unreadable_note_is_not_made(client_for, alice, maude, note, as_json):
    from generations.models import ModerationDecision

    generation, _ = completed(alice)
    held = add_image(generation, index=1, nsfw=True)
    accept = {"HTTP_ACCEPT": "application/json"} if as_json else {}
    visitor = client_for(maude)
    single = urlencoded(visitor, f"/moderation/images/{held.pk}/approve/", f"note={note}", **accept)
    bulk = urlencoded(
        visitor,
        "/moderation/bulk/",
        f"action=approve&images={held.pk}&confirm_count=1&note={note}",
        **accept,
    )
    if as_json:
        assert single.status_code == bulk.status_code == 400
        assert "note" in single.json()["errors"] and "note" in bulk.json()["errors"]
    else:
        shown = visitor.get(single["Location"]).content.decode()
        assert single["Location"] == f"/moderation/images/{held.pk}/"
        assert "The note" in shown
    assert OutputImage.objects.get(pk=held.pk).moderation == Moderation.PENDING
    assert not ModerationDecision.objects.exists()
