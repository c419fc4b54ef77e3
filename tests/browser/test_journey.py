"""A person's first visit: log in, generate, watch the image arrive, find it in the gallery."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.pages import (
    choose_aspect_ratio,
    chosen_aspect_ratio,
    fill_seed,
    generate,
    horizontal_overflow,
    log_in,
    new_page,
    overflowing,
    screenshot,
    wait_until_decoded,
)

pytestmark = pytest.mark.browser


def test_generate_and_see_the_image_arrive_without_reloading(page):
    log_in(page)
    expect(page.get_by_test_id("simulator-banner")).to_be_visible()
    page.get_by_role("button", name=re.compile("Wide shot of a cozy café")).click()
    prompt = page.get_by_label("Prompt", exact=True)
    expect(prompt).to_have_value(re.compile("^Wide shot of a cozy café"))
    choose_aspect_ratio(page, "16:9")
    screenshot(page, "playground")
    # Marks this document: a reload would replace the window and lose the mark.
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Generate").click()

    # The studio stays: the job's card arrives beside the form and fills in.
    card = page.locator(".job-card").first
    expect(card.locator(".job-prompt")).to_contain_text("Wide shot of a cozy café")
    expect(card.locator(".job-image img")).to_be_visible(timeout=60_000)
    expect(card.locator(".job-image")).to_have_attribute("data-status", "completed")
    assert page.evaluate("window.__sameDocument") is True
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(re.compile("^Wide shot"))
    screenshot(page, "studio-completed")

    card.locator(".job-actions").get_by_role("link", name="Open").click()
    expect(page).to_have_url(re.compile(r"/generations/\d+/$"))
    badge = page.locator("#generation-progress .badge")
    expect(badge).to_have_attribute("data-status", "completed")
    image = page.locator("#images figure img")
    expect(image).to_be_visible()
    # Its first view makes the display rendition: wait for the image to load, then measure it.
    page.wait_for_function(
        "() => { const img = document.querySelector('#images img');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )
    assert page.evaluate("document.querySelector('#images img').naturalWidth") == 1392
    # The page shows the WebP display rendition; the PNG original is behind "Download original".
    assert "/display/" in (image.get_attribute("src") or "")
    download = page.locator("#images").get_by_role("link", name="Download original")
    assert "/original/?download=1" in (download.get_attribute("href") or "")
    screenshot(page, "generation-completed")
    generation_url = page.url

    page.get_by_role("link", name="Gallery").click()
    expect(page.get_by_role("heading", name="Gallery")).to_be_visible()
    tile = page.locator(".tile").first
    expect(tile.locator(".tile-image")).to_be_visible()
    # The thumbnail is lazy: wait until it has really decoded, not merely been laid out.
    wait_until_decoded(page, ".tile .tile-image")
    screenshot(page, "gallery")
    # A tile opens the lightbox; the generation's own page is one link away from there.
    tile.locator(".tile-link").click()
    lightbox = page.get_by_role("dialog")
    expect(lightbox.locator("#lightbox-prompt")).to_contain_text("Wide shot of a cozy café")
    lightbox.get_by_role("link", name="Open its page").click()
    expect(page).to_have_url(generation_url)
    expect(page.get_by_text("Wide shot of a cozy café").first).to_be_visible()


def test_a_form_error_is_shown_beside_the_field_and_the_prompt_kept(page):
    log_in(page)
    cards = page.locator(".job-card").count()
    page.get_by_label("Prompt", exact=True).fill("A quiet harbour")
    fill_seed(page, "99999999999")
    page.get_by_role("button", name="Generate").click()
    # Checked in the browser, in the server's words: no request, no card.
    expect(page.locator("#seed-error")).to_have_text(
        "The seed must be between 0 and 2147483647, or -1 for a random seed."
    )
    expect(page.get_by_label("Seed", exact=True)).to_be_focused()
    expect(page.locator(".job-card")).to_have_count(cards)
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("A quiet harbour")


def test_use_these_settings_brings_them_back_into_the_form(page):
    log_in(page)
    pk = generate(page, "A kite over dunes", aspect_ratio="3:4", seed=4242)
    page.goto(f"/generations/{pk}/")
    page.get_by_role("link", name="Use these settings").click()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("A kite over dunes")
    expect(page.get_by_label("Seed", exact=True)).to_have_value("4242")
    assert chosen_aspect_ratio(page) == "3:4"


def test_the_playground_fits_a_phone(browser, running_app):
    context, page, errors = new_page(
        browser, running_app, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    try:
        log_in(page)
        overflow = horizontal_overflow(page)
        assert overflow <= 0, (
            f"the page scrolls sideways by {overflow}px on a phone: {overflowing(page)}"
        )
        expect(page.get_by_role("button", name="Generate")).to_be_in_viewport()
        screenshot(page, "playground-phone")
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
