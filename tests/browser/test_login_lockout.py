"""Someone who keeps typing a wrong password is told to wait, and nobody else is locked out.

Every browser test signs in from 127.0.0.1, and the app is shared by the whole session: this
locks out a throw-away account only. Its failures also count against the address, whose own
limit (LOGIN_FAILURE_LIMIT_PER_ADDRESS, 20 by default) is well above an account's (5), so the
admin the other tests sign in as is not locked out with it. No other browser test fails a
sign-in on purpose; together they must stay below the address limit.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.browser.pages import log_in, new_page, screenshot

pytestmark = pytest.mark.browser

PASSWORD = "a-long-test-password-42"


def type_credentials(page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_repeated_wrong_passwords_lock_the_account_with_a_clear_message(page, browser, running_app):
    # The running app reads the same environment as this process: the same limits.
    assert settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS > settings.AXES_FAILURE_LIMIT
    username = f"forgetful-{uuid.uuid4().hex[:8]}"
    running_app.create_users([username], PASSWORD)
    alert = page.get_by_role("alert")

    page.goto("/accounts/login/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        type_credentials(page, username, "a-wrong-guess")
        expect(alert).to_have_text(re.compile("did not match"))
    type_credentials(page, username, "a-wrong-guess")
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    expect(alert).to_contain_text(f"Too many failed sign-ins. Try again in {minutes} minutes")
    expect(alert).to_contain_text("ask an administrator")

    # Now the right password is refused too, with the same words.
    type_credentials(page, username, PASSWORD)
    expect(alert).to_contain_text("Too many failed sign-ins")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    screenshot(page, "login-locked-out")

    # The admin signs in from the same address all the same.
    context, other, errors = new_page(browser, running_app)
    try:
        log_in(other)
    finally:
        context.close()
    assert errors == []
