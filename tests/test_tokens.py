"""Personal access tokens: stored hashed, found by their key id, expiring, revoked by their
owner on the account page or by staff in the admin, and issued from the shell."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from generations.accounts import tokens
from generations.accounts.models import PersonalAccessToken

pytestmark = pytest.mark.django_db


def test_a_token_is_kept_only_as_its_hash(alice):
    row, token = tokens.issue(alice, "nightly shots")
    assert token.startswith("kpat_") and row.key_id in token
    stored = PersonalAccessToken.objects.get(pk=row.pk)
    assert stored.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    # Everything after the public key id: the secret (which may hold "_" itself) and its tag.
    secret = token.removeprefix(f"{tokens.PREFIX}{row.key_id}_")
    assert len(secret) >= 32 and secret != token
    assert all(secret not in str(value) for value in stored.__dict__.values())


def test_two_tokens_differ(alice):
    assert tokens.issue(alice, "a")[1] != tokens.issue(alice, "a")[1]


def test_the_token_authenticates_as_its_user(alice):
    _, token = tokens.issue(alice, "script")
    found = tokens.authenticate(token)
    assert found is not None and found.user == alice


@pytest.mark.parametrize(
    "spoil",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # right key id, wrong secret
        lambda t: t.replace("kpat_", "kpaX_"),
        lambda t: t + "x",
        lambda t: t.upper(),
        lambda t: "",
    ],
)
def test_anything_but_the_exact_token_is_refused(alice, spoil):
    _, token = tokens.issue(alice, "script")
    assert tokens.authenticate(spoil(token)) is None


def test_a_malformed_token_never_reaches_the_database(alice):
    with CaptureQueriesContext(connection) as queries:
        assert tokens.authenticate("Bearer nonsense'; DROP TABLE x; --") is None
        assert tokens.authenticate("kpat_" + "z" * 60) is None
    assert len(queries) == 0


def test_a_token_this_app_did_not_issue_never_reaches_the_database(alice):
    row, _token = tokens.issue(alice, "script")
    # The right shape and a real key id, but a secret and tag made up by a guesser.
    guessed = f"kpat_{row.key_id}_" + "A" * 43
    with CaptureQueriesContext(connection) as queries:
        assert tokens.authenticate(guessed) is None
    assert len(queries) == 0


def test_a_secret_that_is_not_the_rows_is_refused_even_with_a_good_tag(alice, settings):
    row, _token = tokens.issue(alice, "script")
    secret = "B" * 32  # a tag only the app's key can make, on a secret the row does not hold
    forged = f"kpat_{row.key_id}_{secret}{tokens._tag(row.key_id, secret, settings.SECRET_KEY)}"
    assert tokens.is_well_formed(forged)
    assert tokens.authenticate(forged) is None


def test_tokens_survive_a_key_rotation_while_the_old_key_is_a_fallback(alice, settings):
    _, token = tokens.issue(alice, "script")
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a new key " + "x" * 50
    settings.SECRET_KEY_FALLBACKS = [old]
    assert tokens.authenticate(token) is not None
    settings.SECRET_KEY_FALLBACKS = []
    assert tokens.authenticate(token) is None


def test_an_expired_token_is_refused(alice):
    row, token = tokens.issue(alice, "short-lived", expires_in_days=30)
    assert tokens.authenticate(token) is not None
    PersonalAccessToken.objects.filter(pk=row.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert tokens.authenticate(token) is None
    assert PersonalAccessToken.objects.get(pk=row.pk).state == "expired"


def test_a_revoked_token_is_refused(alice):
    row, token = tokens.issue(alice, "script")
    assert tokens.revoke(row, alice) is True
    assert tokens.revoke(row, alice) is False
    assert tokens.authenticate(token) is None
    assert PersonalAccessToken.objects.get(pk=row.pk).revoked_by == "alice"


def test_a_deactivated_users_token_is_refused(alice):
    _, token = tokens.issue(alice, "script")
    alice.is_active = False
    alice.save()
    assert tokens.authenticate(token) is None


def test_a_new_token_is_shown_once_on_the_account_page(alice_client, alice):
    page = alice_client.post(
        reverse("accounts:tokens"), {"name": "nightly shots", "expires": "90"}
    ).content.decode()
    row = PersonalAccessToken.objects.get(user=alice)
    assert row.name == "nightly shots"
    assert row.expires_at is not None
    assert (row.expires_at - timezone.now()).days in (89, 90)
    shown = page.split('id="new-token-value"')[1].split('value="')[1].split('"')[0]
    assert tokens.authenticate(shown) == row
    again = alice_client.get(reverse("accounts:tokens")).content.decode()
    assert shown not in again
    assert f"kpat_{row.key_id}_" in again and "nightly shots" in again


def test_the_account_page_is_not_cached(alice_client):
    answer = alice_client.post(reverse("accounts:tokens"), {"name": "x", "expires": "never"})
    assert "no-store" in answer["Cache-Control"]


@pytest.mark.parametrize(
    ("name", "expires", "words"),
    [
        ("", "90", "Name the token"),
        ("   ", "90", "Name the token"),
        ("x" * 101, "90", "at most 100"),
        ("ok", "7", "Select a valid choice"),
    ],
)
def test_a_bad_new_token_form_says_why_and_makes_nothing(alice_client, name, expires, words):
    page = alice_client.post(reverse("accounts:tokens"), {"name": name, "expires": expires})
    assert page.status_code == 200
    assert words in page.content.decode()
    assert not PersonalAccessToken.objects.exists()


def test_the_owner_revokes_a_token_after_confirming(alice_client, alice):
    row, token = tokens.issue(alice, "old script")
    confirm = alice_client.get(reverse("accounts:revoke", args=[row.pk]))
    assert "Revoke the token “old script”?" in confirm.content.decode()
    assert tokens.authenticate(token) is not None  # asking is not revoking
    answer = alice_client.post(reverse("accounts:revoke", args=[row.pk]), follow=True)
    assert "no longer works" in answer.content.decode()
    assert tokens.authenticate(token) is None


def test_nobody_else_can_see_or_revoke_a_token_on_the_site(client_for, alice, bob, stella):
    row, token = tokens.issue(alice, "alice's script")
    for someone in (bob, stella):
        visitor = client_for(someone)
        assert "alice&#x27;s script" not in visitor.get(reverse("accounts:tokens")).content.decode()
        assert visitor.post(reverse("accounts:revoke", args=[row.pk])).status_code == 404
    assert tokens.authenticate(token) is not None


def test_the_account_page_needs_a_login(client):
    answer = client.get(reverse("accounts:tokens"))
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]


def test_staff_revoke_anyones_token_in_the_admin(client_for, admin, alice):
    row, token = tokens.issue(alice, "leaked")
    answer = client_for(admin).post(
        reverse("admin:accounts_personalaccesstoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [row.pk]},
        follow=True,
    )
    assert "Revoked 1 token." in answer.content.decode()
    assert tokens.authenticate(token) is None
    assert PersonalAccessToken.objects.get(pk=row.pk).revoked_by == "boss"


def test_the_admin_never_shows_the_hash(client_for, admin, alice):
    row, _ = tokens.issue(alice, "leaked")
    page = client_for(admin).get(
        reverse("admin:accounts_personalaccesstoken_change", args=[row.pk])
    )
    assert page.status_code == 200
    assert row.secret_hash not in page.content.decode()


def test_issue_token_prints_the_token_alone_on_its_last_line(alice):
    out = io.StringIO()
    call_command("issue_token", "alice", "ci pipeline", stdout=out)
    last = out.getvalue().strip().splitlines()[-1]
    found = tokens.authenticate(last)
    assert found is not None and found.user == alice and found.name == "ci pipeline"
    assert found.expires_at is None


def test_issue_token_with_an_expiry(alice):
    out = io.StringIO()
    call_command("issue_token", "alice", "trial", "--expires-in-days", "7", stdout=out)
    row = tokens.authenticate(out.getvalue().strip().splitlines()[-1])
    assert row is not None and row.expires_at is not None
    assert 6 <= (row.expires_at - timezone.now()).days <= 7


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["nobody", "x"], "No user named 'nobody'"),
        (["alice", "   "], "only spaces"),
        (["alice", "x", "--expires-in-days", "0"], "between 1 and 3650"),
    ],
)
def test_issue_token_refuses_with_words(alice, args, words):
    with pytest.raises(CommandError, match=words):
        call_command("issue_token", *args, stdout=io.StringIO())
    assert not PersonalAccessToken.objects.exists()


def test_error_reports_hide_a_token_wherever_it_travels(alice):
    from playground.error_reports import SecretValueFilter

    _, token = tokens.issue(alice, "script")
    report = SecretValueFilter()
    hidden = report.cleanse_special_types(None, {"Authorization": f"Bearer {token}"})
    assert hidden == report.cleansed_substitute
    assert report.cleanse_special_types(None, "kpat_ shown in words") == "kpat_ shown in words"


def test_a_used_token_is_in_no_log_record_and_no_stored_row(alice, caplog, enqueued):
    import json
    import logging

    from django.test import Client

    from generations.wavespeed.contract import MODEL_ID

    issued, token = tokens.issue(alice, "script")
    caplog.set_level(logging.DEBUG)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    submitted = Client().post(
        f"/api/v3/{MODEL_ID}", json.dumps({"prompt": "x"}), content_type="application/json", **auth
    )
    prediction_id = submitted.json()["data"]["id"]
    Client().get(f"/api/v3/predictions/{prediction_id}/result", **auth)
    Client().get("/api/v3/balance", HTTP_AUTHORIZATION=f"Bearer {token}x")  # a refused one too
    # Everything after the public key id: the secret (which may hold "_" itself) and its tag.
    secret = token.removeprefix(f"{tokens.PREFIX}{issued.key_id}_")
    assert len(secret) >= 32 and secret != token
    assert all(secret not in record.getMessage() for record in caplog.records)
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    assert secret not in dump.getvalue()


def test_the_shown_once_token_renders_but_its_repr_hides_it(alice):
    from django.template import Context, Template

    _, token = tokens.issue(alice, "script")
    shown = tokens.ShownOnce(token)
    assert Template("{{ t }}").render(Context({"t": shown})) == token
    # What a debug log of a template context would write.
    assert token not in repr({"new_token": shown}) and "hidden" in repr(shown)
