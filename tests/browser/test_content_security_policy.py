"""Every main page works under the Content-Security-Policy: the browser refuses nothing.

The policy allows no inline script or style, so anything left inline (a style attribute, an
onclick, a <script> block), in our templates, our scripts or the admin's, would show up here
as a violation. Chromium's complaints about the Permissions-Policy header (a feature it does
not know) are collected too.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.pages import generate, log_in, record_policy_complaints

pytestmark = pytest.mark.browser


def test_the_main_pages_and_the_admin_load_without_a_policy_violation(page):
    complaints = record_policy_complaints(page)
    page.goto("/accounts/login/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    log_in(page)

    # A held image exercises the most: its page, the review queue and its item page.
    generation_id = generate(page, f"[nsfw] a lantern in fog {uuid.uuid4().hex[:8]}")
    held = page.locator("[data-image-id]").first
    expect(held).to_be_visible(timeout=60_000)
    image_id = held.get_attribute("data-image-id")

    pages = [
        "/",
        "/gallery/",
        "/usage/",
        "/moderation/",
        f"/moderation/images/{image_id}/",
        "/moderation/history/",
        "/accounts/password_change/",
        "/admin/",
        "/admin/generations/generation/",
        f"/admin/generations/generation/{generation_id}/change/",
        "/admin/generations/outputimage/",
        # Its user field is an autocomplete box: the admin's select2 widget.
        "/admin/generations/budget/add/",
        "/admin/axes/accessattempt/",
    ]
    for path in pages:
        answer = page.goto(path)
        assert answer is not None and answer.status == 200, path
        page.wait_for_load_state("load")

    # Opening a tile builds the lightbox in script.
    page.goto("/gallery/")
    page.locator(".tile a").first.click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.goto("/admin/generations/budget/add/")
    page.locator(".select2-selection").first.click()
    expect(page.locator(".select2-results__option").first).to_be_visible()

    assert complaints == []
