"""Password guessing: failed sign-ins lock an account, and an address, for a while.

Alice and Bob sign in on the site, the admin ("boss") on the admin's login page. The test
client comes from 127.0.0.1 unless a test names another address.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client

from tests.apprunner import manage
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SITE_LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
WRONG = "not-the-password"
ELSEWHERE = "198.51.100.7"


def sign_in(
    client: Client, username: str, password: str, *, url: str = SITE_LOGIN, address: str = ""
):
    extra = {"REMOTE_ADDR": address} if address else {}
    return client.post(url, {"username": username, "password": password}, **extra)


def signed_in_as(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def lockout_text(settings) -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return f"Too many failed sign-ins. Try again in {minutes} minutes"


@pytest.mark.parametrize("url", [SITE_LOGIN, ADMIN_LOGIN])
def test_after_the_limit_even_the_right_password_is_refused_with_the_reason(
    client, admin, settings, url
):
    for attempt in range(1, settings.AXES_FAILURE_LIMIT):
        answer = sign_in(client, "boss", WRONG, url=url)
        assert answer.status_code == 200, attempt
        assert "Too many failed sign-ins" not in answer.content.decode()

    last_wrong = sign_in(client, "boss", WRONG, url=url)
    right = sign_in(client, "boss", PASSWORD, url=url)

    for answer in (last_wrong, right):
        assert answer.status_code == 429
        page = answer.content.decode()
        assert lockout_text(settings) in page
        assert "ask an administrator" in page
        assert "did not match" not in page  # the site's misleading "wrong password"
        assert "Please enter the correct" not in page  # the admin's
        assert 'name="password"' in page  # the sign-in form, to try again later
    assert signed_in_as(client) is None


def test_the_message_counts_the_configured_minutes(client, alice, settings):
    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
    settings.AXES_FAILURE_LIMIT = 1
    answer = sign_in(client, "alice", WRONG)
    assert answer.status_code == 429
    assert "Try again in 1 minute," in answer.content.decode()


def test_a_locked_account_is_locked_from_every_address(client, alice, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "alice", WRONG, address=f"203.0.113.{n + 1}")
    answer = sign_in(client, "alice", PASSWORD, address=ELSEWHERE)
    assert answer.status_code == 429
    assert signed_in_as(client) is None


def test_one_locked_account_does_not_lock_others_at_its_address(client, alice, bob, settings):
    """Why the address has a higher limit: a colleague's typos must not lock the office out."""
    assert settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS > settings.AXES_FAILURE_LIMIT
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "alice", WRONG)
    assert sign_in(client, "alice", PASSWORD).status_code == 429

    answer = sign_in(client, "bob", PASSWORD)
    assert answer.status_code == 302
    assert signed_in_as(client) == str(bob.pk)


def test_an_address_trying_many_accounts_is_locked_for_every_account(client, bob, settings):
    # A few guesses at each of many accounts: no account reaches its own limit.
    for n in range(settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS):
        sign_in(client, f"guess-{n}", WRONG)

    refused = sign_in(client, "bob", PASSWORD)
    assert refused.status_code == 429
    assert lockout_text(settings) in refused.content.decode()
    assert signed_in_as(client) is None

    from_elsewhere = sign_in(Client(), "bob", PASSWORD, address=ELSEWHERE)
    assert from_elsewhere.status_code == 302


def test_a_success_resets_the_accounts_count(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "alice", WRONG)
    assert sign_in(client, "alice", PASSWORD).status_code == 302
    client.post("/accounts/logout/")

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "alice", WRONG).status_code == 200
    assert sign_in(client, "alice", PASSWORD).status_code == 302


def test_a_success_does_not_reset_the_addresss_count(client, bob, alice, settings):
    """Else anyone with an account could clear their address between guesses."""
    for n in range(settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS - 1):
        sign_in(client, f"guess-{n}", WRONG)
    assert sign_in(Client(), "bob", PASSWORD).status_code == 302

    sign_in(client, "one-guess-more", WRONG)
    assert sign_in(Client(), "alice", PASSWORD).status_code == 429


def lock_out_alice(settings) -> Client:
    visitor = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(visitor, "alice", WRONG)
    assert sign_in(visitor, "alice", PASSWORD).status_code == 429
    return visitor


def test_staff_unlock_an_account_by_deleting_its_attempts_in_the_admin(
    alice, admin, client_for, settings
):
    lock_out_alice(settings)
    staff = client_for(admin)
    listing = staff.get("/admin/axes/accessattempt/?q=alice")
    assert listing.status_code == 200
    rows = listing.context["cl"].result_list
    assert [row.username for row in rows] == ["alice"]

    confirm = {"action": "delete_selected", "_selected_action": [row.pk for row in rows]}
    assert staff.post("/admin/axes/accessattempt/", confirm).status_code == 200
    done = staff.post("/admin/axes/accessattempt/", {**confirm, "post": "yes"})
    assert done.status_code == 302

    assert sign_in(Client(), "alice", PASSWORD).status_code == 302


def test_staff_unlock_an_account_from_the_command_line(alice, settings):
    lock_out_alice(settings)
    call_command("axes_reset_username", "alice")
    assert sign_in(Client(), "alice", PASSWORD).status_code == 302


CLIENT_ADDRESS = """
from axes.helpers import get_client_ip_address
from django.test import RequestFactory
request = RequestFactory().post(
    "/accounts/login/",
    REMOTE_ADDR="10.0.0.2",
    HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.1, 203.0.113.9",
)
print(get_client_ip_address(request))
"""


@pytest.mark.process
@pytest.mark.parametrize(
    ("behind_proxy", "counted"),
    [
        # The proxy appended the address it saw; the entries before it came from the client.
        ("true", "203.0.113.9"),
        # With no proxy in front, X-Forwarded-For is whatever the client chose to send.
        ("false", "10.0.0.2"),
    ],
)
def test_lockouts_count_the_address_a_trusted_proxy_saw_and_no_forged_one(
    tmp_path, behind_proxy, counted
):
    result = manage(
        ["shell", "-v0", "-c", CLIENT_ADDRESS], {"BEHIND_TLS_PROXY": behind_proxy}, tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == counted, json.dumps(result.stdout)
