"""Access tokens the way a person handles them: made on the account page, copied once,
revoked after a confirmation."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.pages import log_in, screenshot

pytestmark = pytest.mark.browser


def balance_status(app, token: str) -> int:
    return requests.get(
        f"{app.url}/api/v3/balance", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).status_code


def test_make_a_token_see_it_once_and_revoke_it(page, running_app):
    log_in(page)
    # The menu is a <details>: its summary names it "Account menu: <username>" to a screen reader.
    page.locator("summary", has_text="Account menu").click()
    page.get_by_role("link", name="Access tokens").click()
    expect(page.get_by_role("heading", name="Access tokens", exact=True)).to_be_visible()

    page.get_by_label("Name").fill("Browser-made token")
    page.get_by_label("Expires after").select_option("30")
    page.get_by_role("button", name="Create token").click()

    shown = page.get_by_role("textbox", name="Your new token")
    expect(shown).to_be_visible()
    expect(page.get_by_text("it is shown only this once")).to_be_visible()
    token = shown.input_value()
    assert re.fullmatch(r"kpat_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token)
    screenshot(page, "access-token-created")
    assert balance_status(running_app, token) == 200

    # Seen once: the page does not show it again.
    page.goto("/accounts/tokens/")
    expect(page.get_by_role("textbox", name="Your new token")).to_have_count(0)
    assert token not in page.content()
    row = page.get_by_role("row").filter(has_text="Browser-made token")
    expect(row.get_by_role("cell", name="active")).to_be_visible()

    row.get_by_role("link", name=re.compile("Revoke")).click()
    expect(page.get_by_role("heading", name=re.compile("Revoke the token"))).to_be_visible()
    assert balance_status(running_app, token) == 200  # asking is not revoking
    page.get_by_role("button", name="Revoke for good").click()

    expect(page.get_by_text("no longer works")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Browser-made token")
    expect(row.get_by_role("cell", name="revoked")).to_be_visible()
    expect(row.get_by_role("link", name=re.compile("Revoke"))).to_have_count(0)
    assert balance_status(running_app, token) == 401


def test_keeping_a_token_at_the_confirmation_leaves_it_working(page, running_app):
    log_in(page)
    page.goto("/accounts/tokens/")
    page.get_by_label("Name").fill("Kept token")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_role("textbox", name="Your new token").input_value()
    page.get_by_role("row").filter(has_text="Kept token").get_by_role(
        "link", name=re.compile("Revoke")
    ).click()
    page.get_by_role("link", name="Keep it").click()
    expect(page.get_by_role("heading", name="Access tokens", exact=True)).to_be_visible()
    assert balance_status(running_app, token) == 200
