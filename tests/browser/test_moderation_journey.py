"""A flagged image waits for a moderator: Olive makes it, Tess cannot see it until Maude,
a moderator, approves it from the queue with the keyboard."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.pages import log_in, new_page, screenshot

pytestmark = pytest.mark.browser

PASSWORD = "a-long-test-password-42"


def signed_in(browser, running_app, username: str):
    context, page, errors = new_page(browser, running_app)
    log_in(page, username, PASSWORD)
    return context, page, errors


def test_a_moderator_approves_a_flagged_image_with_the_keyboard_and_the_team_sees_it(
    browser, running_app
):
    running_app.create_users(["olive", "tess"], PASSWORD)
    running_app.create_users(["maude"], PASSWORD, moderator=True)
    prompt = f"[nsfw] a marble statue {uuid.uuid4().hex[:8]}"
    olive_context, olive, olive_errors = signed_in(browser, running_app, "olive")
    tess_context, tess, tess_errors = signed_in(browser, running_app, "tess")
    maude_context, maude, maude_errors = signed_in(browser, running_app, "maude")
    try:
        # Olive generates; her image is held, and she sees why.
        olive.get_by_label("Prompt", exact=True).fill(prompt)
        olive.get_by_role("button", name="Generate").click()
        # The studio adds the job's card; its page is one link away.
        card = olive.locator(".job-card").filter(has_text=prompt)
        card.locator(".job-actions").get_by_role("link", name="Open").click()
        expect(olive).to_have_url(re.compile(r"/generations/\d+/$"))
        expect(olive.get_by_text(re.compile("Awaiting review")).first).to_be_visible(timeout=60_000)
        image_id = olive.locator("[data-image-id]").first.get_attribute("data-image-id")
        screenshot(olive, "moderation-owner-waiting")

        # Tess finds nothing of it, and its file is refused to her.
        tess.goto(f"/gallery/?q={prompt.split()[-1]}")
        expect(tess.locator(".tile")).to_have_count(0)
        assert tess.request.get(f"/images/{image_id}/original/").status == 404

        # Maude reviews it from the queue with the keyboard: j to the first item, a approves.
        maude.goto("/moderation/")
        item = maude.locator(f'.mod-item[data-image-id="{image_id}"]')
        expect(item).to_be_visible()
        expect(maude.locator(".count-badge").first).to_be_visible()
        screenshot(maude, "moderation-queue")
        maude.keyboard.press("j")
        while maude.evaluate("document.activeElement.dataset.imageId") != image_id:
            focused = maude.evaluate("document.activeElement.dataset.imageId")
            maude.keyboard.press("j")
            assert maude.evaluate("document.activeElement.dataset.imageId") != focused, (
                "j did not move to the next item"
            )
        maude.keyboard.press("a")
        expect(item).to_have_class(re.compile(r"\bdecided\b"))
        expect(item.locator(".mod-outcome")).to_have_text("Approved")
        screenshot(maude, "moderation-decided")

        # Now Tess sees it in the gallery and gets its file.
        tess.goto(f"/gallery/?q={prompt.split()[-1]}")
        expect(tess.locator(".tile")).to_have_count(1)
        assert tess.request.get(f"/images/{image_id}/original/").status == 200
        maude.goto("/moderation/history/")
        expect(maude.get_by_role("cell", name="maude")).to_be_visible()
    finally:
        for context in (olive_context, tess_context, maude_context):
            context.close()
    assert olive_errors == tess_errors == maude_errors == []
