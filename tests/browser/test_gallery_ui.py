"""The image-first gallery as a person uses it: scrolling loads more, the lightbox walks on past
the first page, stars from the tile, chips that remove a filter, words on hover or focus."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.axe import assert_no_serious_violations
from tests.browser.pages import log_in, new_page, screenshot, unique_tag

pytestmark = pytest.mark.browser

PAGE_SIZE = 24  # generations.gallery.PAGE_SIZE, as the running app pages


def made(app, tag: str, count: int, aspect_ratio: str = "1:1") -> list[int]:
    """Finished generations of the admin's, oldest first, prompts "<tag> picture <n>"."""
    output = app.shell(
        "import json\n"
        "from django.contrib.auth.models import User\n"
        "from tests.factories import completed\n"
        "owner = User.objects.get(username='admin')\n"
        f"ids = [completed(owner, prompt='{tag} picture ' + str(n),\n"
        f"       aspect_ratio={aspect_ratio!r})[0].pk for n in range({count})]\n"
        "print(json.dumps(ids))\n"
    )
    return json.loads(output.strip().splitlines()[-1])


def tiles(page):
    return page.locator("#gallery-grid .tile")


def test_scrolling_loads_the_next_page_and_the_lightbox_walks_across_it(page, running_app):
    tag = unique_tag("scroll")
    made(running_app, tag, PAGE_SIZE + 2)
    log_in(page)
    # A short window, so that the first page reaches below it and waits for a scroll.
    page.set_viewport_size({"width": 1280, "height": 500})
    page.goto(f"/gallery/?q={tag}")
    expect(tiles(page)).to_have_count(PAGE_SIZE)
    # The last tile of the first page, opened; → goes on to the first of the next page.
    tiles(page).nth(PAGE_SIZE - 1).locator(".tile-link").click()
    dialog = page.get_by_role("dialog")
    # Opening the last tile scrolls it into view, which may already have brought the next page.
    expect(dialog.locator("#lightbox-position")).to_have_text(
        re.compile(rf"^\s*{PAGE_SIZE} of ({PAGE_SIZE}\+|{PAGE_SIZE + 2})\s*$")
    )
    expect(dialog.locator("#lightbox-title")).to_have_text(f"{tag} picture 2")
    page.keyboard.press("ArrowRight")
    expect(dialog.locator("#lightbox-title")).to_have_text(f"{tag} picture 1")
    expect(dialog.locator("#lightbox-position")).to_have_text(f"{PAGE_SIZE + 1} of {PAGE_SIZE + 2}")
    page.keyboard.press("ArrowLeft")
    expect(dialog.locator("#lightbox-title")).to_have_text(f"{tag} picture 2")
    screenshot(page, "gallery-lightbox-dark", full_page=False)
    page.keyboard.press("Escape")

    # A fresh visit: scrolling to the end brings the next page in without a click.
    page.goto(f"/gallery/?q={tag}")
    expect(tiles(page)).to_have_count(PAGE_SIZE)
    expect(page.locator("#gallery-pages")).to_be_hidden()
    tiles(page).last.scroll_into_view_if_needed()
    page.mouse.wheel(0, 5000)
    expect(tiles(page)).to_have_count(PAGE_SIZE + 2)
    expect(tiles(page).last).to_contain_text(f"{tag} picture 0")
    expect(page.locator("#gallery-more")).to_have_text("That is everything.")


def test_the_details_panel_hides_and_the_image_fills_the_window(page, running_app):
    tag = unique_tag("panel")
    made(running_app, tag, 1, aspect_ratio="16:9")
    log_in(page)
    page.goto(f"/gallery/?q={tag}")
    tiles(page).first.locator(".tile-link").click()
    dialog = page.get_by_role("dialog")
    box = dialog.bounding_box()
    assert box["width"] == 1280 and box["height"] == 900  # full bleed
    details = dialog.locator("#lightbox-details")
    expect(details).to_be_visible()
    # The image and the details, swapped in from the server's templates, pass axe too.
    expect(dialog.locator(".lightbox-image")).to_have_attribute("alt", f"{tag} picture 0")
    expect(dialog.locator("#lightbox-params")).to_contain_text("Guidance scale")
    assert_no_serious_violations(page, "gallery lightbox")
    dialog.get_by_role("button", name="Details").click()
    expect(details).to_be_hidden()
    expect(dialog.get_by_role("button", name="Details")).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("i")
    expect(details).to_be_visible()


def test_a_star_from_the_tile_toggles_the_favourite(page, running_app):
    tag = unique_tag("star")
    made(running_app, tag, 1)
    log_in(page)
    page.goto(f"/gallery/?q={tag}")
    tile = tiles(page).first
    tile.hover()
    star = tile.get_by_role("button", name="Favourite")
    expect(star).to_have_attribute("aria-pressed", "false")
    star.click()
    expect(star).to_have_attribute("aria-pressed", "true")
    expect(tile.locator(".badge-favourite")).to_be_visible()
    page.reload()
    tile = tiles(page).first
    tile.hover()
    star = tile.get_by_role("button", name="Favourite")
    expect(star).to_have_attribute("aria-pressed", "true")
    star.click()
    expect(star).to_have_attribute("aria-pressed", "false")
    expect(tile.locator(".badge-favourite")).to_be_hidden()


def test_a_chip_removes_its_filter_and_keeps_the_others(page, running_app):
    tag = unique_tag("chip")
    made(running_app, tag, 1, aspect_ratio="16:9")
    made(running_app, tag, 1, aspect_ratio="1:1")
    log_in(page)
    page.goto(f"/gallery/?q={tag}&aspect_ratio=16:9")
    expect(tiles(page)).to_have_count(1)
    page.get_by_role("link", name=re.compile(r"^Ratio: 16:9")).click()
    expect(page).not_to_have_url(re.compile("aspect_ratio"))
    expect(page).to_have_url(re.compile(rf"q={tag}"))
    expect(tiles(page)).to_have_count(2)
    expect(page.get_by_role("link", name=re.compile("^Ratio"))).to_have_count(0)


def test_the_words_and_actions_show_on_keyboard_focus(page, running_app):
    tag = unique_tag("focus")
    made(running_app, tag, 2)
    log_in(page)
    page.goto(f"/gallery/?q={tag}")
    first = tiles(page).first
    expect(first.locator(".tile-text")).to_be_hidden()
    expect(first.locator(".tile-actions")).to_be_hidden()
    page.get_by_label("Search prompts or a seed").focus()
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('tile-link')"):
            break
    expect(first.locator(".tile-link")).to_be_focused()
    expect(first.locator(".tile-text")).to_be_visible()
    expect(first.locator(".tile-meta")).to_contain_text("admin")
    expect(first.locator(".tile-meta time")).to_have_attribute("title", re.compile(r"\d{4}, "))
    # Tab goes on to the tile's own actions, which stay shown while they have focus.
    page.keyboard.press("Tab")
    expect(first.get_by_role("button", name="Favourite")).to_be_focused()
    expect(first.locator(".tile-text")).to_be_visible()
    expect(tiles(page).nth(1).locator(".tile-text")).to_be_hidden()
    screenshot(page, "gallery-focus", full_page=False)


def test_on_a_touch_screen_the_words_stay_without_hover(browser, running_app):
    tag = unique_tag("touch")
    made(running_app, tag, 1)
    context, page, errors = new_page(
        browser, running_app, viewport={"width": 390, "height": 844}, has_touch=True
    )
    try:
        log_in(page)
        page.goto(f"/gallery/?q={tag}")
        if not page.evaluate("matchMedia('(hover: none)').matches"):
            pytest.skip("this Chromium does not emulate a screen without hover")
        expect(tiles(page).first.locator(".tile-text")).to_be_visible()
        expect(tiles(page).first.get_by_role("button", name="Favourite")).to_be_visible()
    finally:
        context.close()
    assert errors == []


def test_the_usage_chart_labels_do_not_collide_on_a_phone(browser, running_app):
    context, page, errors = new_page(browser, running_app, viewport={"width": 360, "height": 740})
    try:
        log_in(page)
        page.goto("/usage/")
        boxes = page.evaluate(
            "[...document.querySelectorAll('.day-label')]"
            ".filter(l => l.getClientRects().length)"
            ".map(l => { const r = l.getBoundingClientRect(); return [r.left, r.right]; })"
        )
        assert len(boxes) >= 2
        boxes.sort()
        for (_, right), (left, _) in itertools.pairwise(boxes):
            assert right <= left, f"chart labels overlap: {boxes}"
        assert all(left >= 0 and right <= 360 for left, right in boxes)
    finally:
        context.close()
    assert errors == []
