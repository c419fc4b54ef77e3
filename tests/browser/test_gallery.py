"""The team gallery: search and filters in the URL, live tiles, the lightbox, remix, batches."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.pages import (
    COMPLETED,
    generate,
    horizontal_overflow,
    log_in,
    new_page,
    open_filters,
    overflowing,
    screenshot,
    unique_tag,
    wait_until_decoded,
)

pytestmark = pytest.mark.browser


def tiles(page):
    return page.locator("#gallery-grid .tile")


def wait_until_all_completed(page, count: int) -> None:
    expect(tiles(page)).to_have_count(count)
    expect(page.locator('#gallery-grid .tile[data-status="completed"]')).to_have_count(
        count, timeout=COMPLETED
    )


def test_search_and_filters_are_kept_in_the_url(page):
    log_in(page)
    tag = unique_tag("filters")
    generate(page, f"{tag} red lighthouse on a cliff", aspect_ratio="16:9")
    generate(page, f"{tag} blue forest at dawn", aspect_ratio="1:1")
    generate(page, f"{tag} green desert dunes", aspect_ratio="16:9")

    page.get_by_role("link", name="Gallery").click()
    search = page.get_by_label("Search prompts or a seed")
    search.fill(tag)
    # Until the new page has loaded, its script is not there to submit filters as they change.
    with page.expect_navigation():
        search.press("Enter")
    expect(page).to_have_url(re.compile(rf"[?&]q={tag}(&|$)"))
    expect(tiles(page)).to_have_count(3)
    # Empty filters stay out of a link meant for sharing.
    assert "author=" not in page.url and "date_from=" not in page.url

    open_filters(page)
    with page.expect_navigation():
        page.get_by_label("Aspect ratio").select_option("16:9")  # submits by itself
    expect(page).to_have_url(re.compile(r"aspect_ratio=16%3A9"))
    expect(tiles(page)).to_have_count(2)
    expect(tiles(page).filter(has_text="blue forest")).to_have_count(0)
    wait_until_all_completed(page, 2)
    screenshot(page, "gallery-filtered")

    search = page.get_by_label("Search prompts or a seed")
    search.fill(f"{tag} lighthouse")
    with page.expect_navigation():
        search.press("Enter")
    expect(tiles(page)).to_have_count(1)
    expect(tiles(page).first).to_contain_text("red lighthouse")
    shared = page.url
    assert "aspect_ratio=16%3A9" in shared

    # Someone opening the shared link sees the same view, its controls set to match.
    page.goto("/")
    page.goto(shared)
    expect(page.get_by_label("Search prompts or a seed")).to_have_value(f"{tag} lighthouse")
    expect(page.get_by_role("link", name=re.compile("Ratio: 16:9"))).to_be_visible()
    expect(page.get_by_label("Aspect ratio")).to_have_value("16:9")
    expect(tiles(page)).to_have_count(1)

    # "Mine" keeps the search; the oldest-first order reverses the tiles.
    page.get_by_role("link", name="Mine").click()
    expect(page).to_have_url(re.compile(r"view=mine"))
    expect(page.get_by_label("Search prompts or a seed")).to_have_value(f"{tag} lighthouse")
    expect(tiles(page)).to_have_count(1)
    page.goto(f"/gallery/?q={tag}")
    expect(tiles(page).first).to_contain_text("green desert")
    open_filters(page)
    page.get_by_label("Order").select_option("oldest")
    expect(page).to_have_url(re.compile(r"sort=oldest"))
    expect(tiles(page).first).to_contain_text("red lighthouse")


def test_new_work_appears_on_top_and_fills_in(page):
    log_in(page)
    tag = unique_tag("live")
    page.goto(f"/gallery/?q={tag}")
    expect(page.locator("#gallery-empty")).to_be_visible()
    page.evaluate("window.__sameDocument = true")

    other = page.context.new_page()
    generate(other, f"{tag} an early swan")
    expect(tiles(page)).to_have_count(1, timeout=25_000)
    expect(page.locator("#gallery-empty")).to_be_hidden()
    # The next one comes in above the first: asked for as "newer than the top tile".
    generate(other, f"{tag} a slow paper boat [latency=20]")
    other.close()

    expect(tiles(page)).to_have_count(2, timeout=25_000)
    tile = tiles(page).first
    expect(tile).to_contain_text("paper boat")
    expect(tile.locator(".tile-empty")).to_contain_text("…")
    expect(tile.locator(".tile-image")).to_be_visible(timeout=COMPLETED)
    expect(tile.locator(".badge[data-status]")).to_have_attribute("data-status", "completed")
    assert page.evaluate("window.__sameDocument") is True


def test_the_lightbox_is_driven_by_the_keyboard(page):
    log_in(page)
    tag = unique_tag("keys")
    for word in ("first", "second", "third"):
        generate(page, f"{tag} {word} origami crane on a desk")
    page.goto(f"/gallery/?q={tag}")
    wait_until_all_completed(page, 3)

    # Newest first: third, second, first.
    page.locator("#gallery-grid .tile-link").first.focus()
    page.keyboard.press("Enter")
    lightbox = page.get_by_role("dialog")
    prompt = lightbox.locator("#lightbox-prompt")
    expect(lightbox).to_be_visible()
    expect(prompt).to_contain_text("third origami")
    expect(page.locator("#lightbox-title")).to_be_focused()
    expect(lightbox.locator("#lightbox-position")).to_have_text("1 of 3")
    wait_until_decoded(page, ".lightbox-image")
    expect(lightbox.locator(".params")).to_contain_text("admin")
    screenshot(page, "lightbox", full_page=False)

    page.keyboard.press("ArrowRight")
    expect(prompt).to_contain_text("second origami")
    page.keyboard.press("ArrowRight")
    expect(prompt).to_contain_text("first origami")
    page.keyboard.press("ArrowRight")  # the last tile: nowhere further to go
    expect(prompt).to_contain_text("first origami")
    page.keyboard.press("ArrowLeft")
    expect(prompt).to_contain_text("second origami")
    expect(lightbox.locator("#lightbox-position")).to_have_text("2 of 3")

    page.keyboard.press("?")
    help_panel = lightbox.get_by_role("region", name="Keyboard")
    expect(help_panel).to_be_visible()
    expect(help_panel).to_contain_text("Next image")
    screenshot(page, "lightbox-keys", full_page=False)
    page.keyboard.press("?")
    expect(help_panel).to_be_hidden()

    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()
    # Focus returns to the tile last shown, not the one first opened.
    expect(page.locator("#gallery-grid .tile-link").nth(1)).to_be_focused()


def test_reuse_from_the_lightbox_fills_the_form(page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page)
    tag = unique_tag("remix")
    generate(page, f"{tag} a lantern in fog", aspect_ratio="2:3", seed=777)
    page.goto(f"/gallery/?q={tag}")
    wait_until_all_completed(page, 1)

    tiles(page).first.locator(".tile-link").click()
    lightbox = page.get_by_role("dialog")
    expect(lightbox.locator("#lightbox-prompt")).to_contain_text("a lantern in fog")
    lightbox.get_by_role("button", name="Copy parameters").click()
    expect(lightbox.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(f"{tag} a lantern in fog\nSeed: 777")
    assert "Aspect ratio: 2:3" in copied
    download = lightbox.get_by_role("link", name="Download original")
    expect(download).to_have_attribute("href", re.compile(r"/original/\?download=1$"))

    lightbox.get_by_role("link", name="Use these settings").click()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(f"{tag} a lantern in fog")
    expect(page.get_by_label("Seed", exact=True)).to_have_value("777")
    expect(page.locator("#generation-form [name=aspect_ratio]:checked")).to_have_value("2:3")

    page.go_back()
    expect(tiles(page)).to_have_count(1)
    tiles(page).first.locator(".tile-link").click()
    # As above: the lightbox's details are in before its links are used.
    lightbox = page.get_by_role("dialog")
    expect(lightbox.locator("#lightbox-prompt")).to_contain_text("a lantern in fog")
    lightbox.get_by_role("link", name="Same settings, new seed").click()
    page.wait_for_url(re.compile(r"/\?from=\d+&seed=new$"))
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(f"{tag} a lantern in fog")
    expect(page.get_by_label("Seed", exact=True)).to_have_value("")
    expect(page.locator("#generation-form [name=aspect_ratio]:checked")).to_have_value("2:3")


def test_a_batch_of_two_costs_both_and_shows_both_on_its_page(page):
    log_in(page)
    tag = unique_tag("batch")
    page.get_by_label("Prompt", exact=True).fill(f"{tag} two teacups, studio light")
    cost = page.locator("#cost-line")
    expect(cost).to_have_text("1 image × $0.04 = $0.04")
    page.get_by_label("Images", exact=True).fill("2")
    expect(cost).to_have_text("2 images × $0.04 = $0.08")
    screenshot(page, "playground-batch")
    page.get_by_role("button", name="Generate").click()
    # A batch is one job in the studio; its page shows both images at the same size.
    card = page.locator(".job-card").first
    expect(card.locator(".job-image")).to_have_count(2)
    card.locator(".job-actions").get_by_role("link", name="Open").click()

    expect(page).to_have_url(re.compile(r"/generations/\d+/$"))
    batch = page.get_by_role("region", name=re.compile("This batch"))
    expect(batch.get_by_role("heading")).to_have_text("This batch: 2 images, $0.08 in all")
    expect(batch.locator(".job-image")).to_have_count(2)
    expect(batch.locator('.job-image[data-status="completed"]')).to_have_count(2, timeout=COMPLETED)
    images = batch.locator(".job-image img")
    expect(images).to_have_count(2)
    widths = [images.nth(i).bounding_box()["width"] for i in range(2)]
    assert abs(widths[0] - widths[1]) < 1, f"a batch's images differ in size: {widths}"
    expect(page.locator("#inference")).not_to_have_text("–")
    screenshot(page, "batch-detail")


def test_the_gallery_and_lightbox_fit_a_phone(browser, running_app):
    context, page, errors = new_page(
        browser, running_app, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    try:
        log_in(page)
        tag = unique_tag("phone")
        generate(page, f"{tag} a bicycle leaning on a blue wall", aspect_ratio="9:16")
        generate(page, f"{tag} a red kite", aspect_ratio="21:9")
        page.goto(f"/gallery/?q={tag}")
        wait_until_all_completed(page, 2)
        assert horizontal_overflow(page) <= 0, f"sideways scroll on a phone: {overflowing(page)}"
        screenshot(page, "gallery-phone")

        tiles(page).first.locator(".tile-link").click()
        lightbox = page.get_by_role("dialog")
        expect(lightbox.locator("#lightbox-prompt")).to_contain_text("a red kite")
        wait_until_decoded(page, ".lightbox-image")
        assert horizontal_overflow(page) <= 0
        sideways = page.evaluate(
            "(() => { const d = document.getElementById('lightbox');"
            " return d.scrollWidth - d.clientWidth; })()"
        )
        assert sideways <= 0, f"the lightbox scrolls sideways by {sideways}px on a phone"
        box = lightbox.bounding_box()
        assert box is not None and box["width"] <= 390
        screenshot(page, "lightbox-phone", full_page=False)
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def test_a_flagged_image_stays_blurred_until_its_owner_reveals_it(page):
    log_in(page)
    tag = unique_tag("flagged")
    generate(page, f"{tag} [nsfw] a marble statue")
    fetched: list[str] = []
    page.on(
        "request",
        lambda request: fetched.append(request.url) if "/images/" in request.url else None,
    )
    page.goto(f"/gallery/?q={tag}")
    wait_until_all_completed(page, 1)
    tile = tiles(page).first
    expect(tile.locator(".tile-notice")).to_have_text("Awaiting review")
    expect(tile.locator(".tile-image")).to_have_count(0)

    tile.locator(".tile-link").click()
    lightbox = page.get_by_role("dialog")
    reveal = lightbox.get_by_role("button", name=re.compile("Click to reveal"))
    expect(reveal).to_be_visible()
    screenshot(page, "lightbox-blurred", full_page=False)
    assert fetched == [], f"a blurred image's file was fetched: {fetched}"
    reveal.click()
    wait_until_decoded(page, "#lightbox img.revealed")
    # What is revealed is the display rendition: the original is for download only.
    assert any("/display/" in url for url in fetched), fetched
    assert not any("/original/" in url for url in fetched), fetched


def test_a_teammate_watching_work_that_ends_held_is_told_it_is_gone(browser, running_app):
    password = "a-long-test-password-42"
    running_app.create_users(["nora", "tom"], password)
    tag = unique_tag("held")
    nora_context, nora, nora_errors = new_page(browser, running_app)
    tom_context, tom, tom_errors = new_page(browser, running_app)
    try:
        log_in(nora, "nora", password)
        log_in(tom, "tom", password)
        # Long enough for Tom to open it in flight; flagged, so it ends held for review.
        generation_id = generate(nora, f"{tag} [nsfw] [latency=20] a marble statue")
        tom.goto(f"/gallery/?q={tag}")
        expect(tiles(tom)).to_have_count(1)
        tile = tiles(tom).first
        expect(tile.locator(".tile-empty")).to_contain_text("…")
        page_of_it = tom.context.new_page()
        page_of_it.on("pageerror", lambda error: tom_errors.append(str(error)))
        page_of_it.goto(f"/generations/{generation_id}/")
        expect(page_of_it.locator("#status-text")).to_contain_text("Working on it")

        # Held: the tile and the page stop asking and say so, instead of retrying forever.
        expect(tile.locator(".tile-empty")).to_have_text("No longer available", timeout=COMPLETED)
        expect(page_of_it.locator("#status-text")).to_have_text(
            "This generation is no longer available to you.", timeout=COMPLETED
        )
        assert tom.request.get(f"/generations/{generation_id}/").status == 404
        expect(nora.get_by_text(re.compile("Awaiting review")).first).to_be_visible()
    finally:
        nora_context.close()
        tom_context.close()
    assert nora_errors == [] and tom_errors == [], f"JavaScript errors: {nora_errors + tom_errors}"


def test_usage_draws_spend_as_bars_in_light_and_dark(browser, running_app):
    for scheme in ("light", "dark"):
        context, page, errors = new_page(browser, running_app, color_scheme=scheme)
        try:
            log_in(page)
            generate(page, f"{unique_tag('usage')} a compass on a map")
            page.get_by_role("link", name="Usage").click()
            expect(page.get_by_role("heading", name="Usage", exact=True)).to_be_visible()
            page.wait_for_load_state("load")  # the bars get their length from usage.js
            today = page.locator(".day-chart .day").last
            expect(today.locator(".visually-hidden")).to_contain_text("$")
            height = page.evaluate(
                "(() => { const bars = [...document.querySelectorAll("
                "'.day-bar')]; return Math.max(...bars.map("
                "b => b.getBoundingClientRect().height)); })()"
            )
            chart = page.evaluate(
                "document.querySelector('.day-chart').getBoundingClientRect().height"
            )
            assert height > chart * 0.9, "the busiest day's bar should fill the chart"
            expect(page.locator(".usage-table tbody tr").first).to_contain_text("admin")
            screenshot(page, f"usage-{scheme}")
            page.goto("/gallery/")
            tiles(page).first.locator(".tile-link").click()
            expect(page.locator("#lightbox-title")).to_contain_text("a compass on a map")
            screenshot(page, f"lightbox-{scheme}", full_page=False)
        finally:
            context.close()
        assert errors == [], f"JavaScript errors on the page ({scheme}): {errors}"
