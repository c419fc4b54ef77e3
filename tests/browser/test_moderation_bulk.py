"""Mona, a moderator, decides several flagged images at once from the queue, as a person does:
tick the boxes, press the bulk button, say yes to the question, see each card change and the
counts fall. She does the same on a phone."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.pages import horizontal_overflow, log_in, new_page, overflowing, screenshot

pytestmark = pytest.mark.browser

PASSWORD = "a-long-test-password-42"
PHONE = {"width": 390, "height": 844}


def flagged_images(app, author: str, count: int) -> list[int]:
    """Images the API flagged, waiting in the queue; their ids."""
    word = uuid.uuid4().hex[:8]
    output = app.shell(
        "import json\n"
        "from django.contrib.auth.models import User\n"
        "from tests.factories import add_image, make_generation\n"
        f"owner = User.objects.get(username={author!r})\n"
        "ids = [add_image(make_generation(owner, status='completed', nsfw_flags=[True],\n"
        f"      prompt='a flagged statue {word} ' + str(n)), nsfw=True).pk\n"
        f"       for n in range({count})]\n"
        "print(json.dumps(ids))\n"
    )
    return json.loads(output.strip().splitlines()[-1])


def states(app, ids: list[int]) -> dict[int, str]:
    output = app.shell(
        "import json\n"
        "from generations.models import OutputImage\n"
        f"rows = OutputImage.objects.filter(pk__in={ids!r}).values_list('pk', 'moderation')\n"
        "print(json.dumps(dict(rows)))\n"
    )
    return {int(k): v for k, v in json.loads(output.strip().splitlines()[-1]).items()}


def pending_count(page) -> int:
    return int(page.locator(".mod-summary [data-pending-count]").inner_text())


@pytest.fixture
def moderator_page(browser, running_app):
    running_app.create_users(["abe"], PASSWORD)
    running_app.create_users(["mona"], PASSWORD, moderator=True)
    context, page, errors = new_page(browser, running_app)
    log_in(page, "mona", PASSWORD)
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def test_a_moderator_approves_two_ticked_images_then_rejects_one_in_bulk(
    moderator_page, running_app
):
    page = moderator_page
    first, second, third = flagged_images(running_app, "abe", 3)
    page.goto("/moderation/")
    before = pending_count(page)
    nav_count = page.locator(".site-nav [data-pending-count]")
    tab_count = page.locator(".mod-tabs [data-pending-count]")
    expect(nav_count).to_have_text(str(before))
    expect(page.locator(".mod-tabs .tab[aria-current=page]")).to_have_text(re.compile("^Queue"))

    for image_id in (first, second):
        page.locator(f'.mod-item[data-image-id="{image_id}"]').get_by_label("Select").check()
    expect(page.locator("#bulk-count")).to_have_text(re.compile(r"^2 of \d+ selected$"))
    asked: list[str] = []

    def answer_yes(dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", answer_yes)
    page.get_by_role("button", name="Approve selected").click()
    for image_id in (first, second):
        item = page.locator(f'.mod-item[data-image-id="{image_id}"]')
        expect(item).to_have_class(re.compile(r"\bdecided\b"))
        expect(item.locator(".mod-outcome")).to_have_text("Approved")
    assert asked == ["Approve 2 images?"]
    expect(nav_count).to_have_text(str(before - 2))
    expect(tab_count).to_have_text(str(before - 2))
    expect(page.locator(".mod-summary [data-pending-count]")).to_have_text(str(before - 2))
    third_item = page.locator(f'.mod-item[data-image-id="{third}"]')
    expect(third_item).not_to_have_class(re.compile(r"\bdecided\b"))
    screenshot(page, "moderation-bulk-approved")

    third_item.get_by_label("Select").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Reject selected").click()
    expect(third_item.locator(".mod-outcome")).to_have_text("Rejected")
    expect(nav_count).to_have_text(str(before - 3))
    assert states(running_app, [first, second, third]) == {
        first: "approved",
        second: "approved",
        third: "rejected",
    }


def test_saying_no_to_the_question_changes_nothing(moderator_page, running_app):
    page = moderator_page
    [image_id] = flagged_images(running_app, "abe", 1)
    page.goto("/moderation/")
    item = page.locator(f'.mod-item[data-image-id="{image_id}"]')
    item.get_by_label("Select").check()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Approve selected").click()
    expect(page.locator("#bulk-count")).to_have_text(re.compile(r"^1 of \d+ selected$"))
    expect(item).not_to_have_class(re.compile(r"\bdecided\b"))
    assert states(running_app, [image_id]) == {image_id: "pending"}


def test_the_queue_fits_a_phone_one_card_a_row(browser, running_app):
    running_app.create_users(["abe"], PASSWORD)
    running_app.create_users(["mona"], PASSWORD, moderator=True)
    flagged_images(running_app, "abe", 2)
    context, page, errors = new_page(browser, running_app, viewport=PHONE, has_touch=True)
    try:
        log_in(page, "mona", PASSWORD)
        page.goto("/moderation/")
        assert horizontal_overflow(page) == 0, overflowing(page)
        cards = page.locator(".mod-item")
        boxes = [cards.nth(i).bounding_box() for i in range(2)]
        assert boxes[0]["x"] == boxes[1]["x"] and boxes[1]["y"] > boxes[0]["y"]
        assert boxes[0]["width"] > PHONE["width"] * 0.8
        # The picture sits beside the text, so a card stays short.
        media = cards.first.locator(".mod-media").bounding_box()
        body = cards.first.locator(".mod-body").bounding_box()
        assert body["x"] >= media["x"] + media["width"] - 1
        expect(page.get_by_role("button", name="Approve selected")).to_be_in_viewport()
        expect(cards.first.get_by_role("button", name="Approve")).to_be_visible()
        screenshot(page, "moderation-queue-phone")
    finally:
        context.close()
    assert errors == []
