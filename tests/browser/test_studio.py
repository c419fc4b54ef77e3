"""The studio, as a person uses it: iterate on a prompt without leaving Create, rerun, vary,
reuse and retry from a job's card, and a form that fits a phone. Progress tells one story."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.pages import (
    COMPLETED,
    choose_aspect_ratio,
    chosen_aspect_ratio,
    fill_seed,
    log_in,
    new_page,
    open_advanced,
    screenshot,
    submit_in_studio,
    unique_tag,
)

pytestmark = pytest.mark.browser


def card_for(page, text: str):
    return page.locator(".job-card").filter(has_text=text)


def seed_of(card) -> str:
    return card.locator("[data-job-settings] input[name=seed]").get_attribute("value")


def test_iterate_three_times_without_leaving_the_studio(page):
    log_in(page)
    page.evaluate("window.__sameDocument = true")
    name = unique_tag("iterate")
    prompt = page.get_by_label("Prompt", exact=True)
    choose_aspect_ratio(page, "3:2")
    for change in ("a red boat", "a red boat at dawn", "a blue boat at dawn"):
        prompt.fill(f"{name} {change}")
        prompt.press("Control+Enter")
        card = page.locator(".job-card").first
        expect(card.locator(".job-prompt")).to_have_text(f"{name} {change}")
        expect(card.locator(".job-image")).to_have_attribute(
            "data-status", "completed", timeout=COMPLETED
        )
        expect(card.locator(".job-image img")).to_be_visible()
        # The form keeps what was typed and chosen, ready for the next change.
        expect(prompt).to_have_value(f"{name} {change}")
        assert chosen_aspect_ratio(page) == "3:2"
    expect(page.locator(".job-card").filter(has_text=name)).to_have_count(3)
    # Newest first.
    expect(page.locator(".job-card .job-prompt").first).to_contain_text("a blue boat at dawn")
    assert page.evaluate("window.__sameDocument") is True
    assert page.url.endswith("/")
    screenshot(page, "studio-iterated")


def test_rerun_keeps_the_seed_and_vary_draws_a_new_one(page):
    log_in(page)
    name = unique_tag("rerun")
    submit_in_studio(page, f"{name} a paper crane", seed=5150)
    card = card_for(page, name).first
    expect(card.locator(".job-image")).to_have_attribute(
        "data-status", "completed", timeout=COMPLETED
    )
    card.get_by_role("button", name="Rerun").click()
    expect(card_for(page, name)).to_have_count(2)
    rerun = page.locator(".job-card").first
    expect(rerun.locator(".job-meta")).to_contain_text("seed 5150")

    rerun.get_by_role("button", name="Vary").click()
    expect(card_for(page, name)).to_have_count(3)
    varied = page.locator(".job-card").first
    expect(varied.locator(".job-prompt")).to_contain_text(f"{name} a paper crane")
    assert seed_of(varied) != "5150"
    expect(varied.locator(".job-image")).to_have_attribute(
        "data-status", "completed", timeout=COMPLETED
    )


def test_use_settings_fills_the_form_from_a_card(page):
    log_in(page)
    name = unique_tag("reuse")
    submit_in_studio(page, f"{name} a kite over dunes", aspect_ratio="3:4", seed=4242)
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill("something else entirely")
    choose_aspect_ratio(page, "1:1")
    fill_seed(page, "")
    card_for(page, name).first.get_by_role("link", name="Use settings").click()
    expect(prompt).to_have_value(f"{name} a kite over dunes")
    expect(prompt).to_be_focused()
    assert chosen_aspect_ratio(page) == "3:4"
    expect(page.get_by_label("Seed", exact=True)).to_have_value("4242")
    expect(page.locator("#advanced-summary")).to_contain_text("seed 4242")
    expect(page).to_have_url(re.compile(r"/$"))


def test_a_failed_job_can_be_retried_from_its_card(page):
    log_in(page)
    name = unique_tag("retry")
    submit_in_studio(page, f"{name} [fail] a glass bridge", seed=77)
    card = card_for(page, name).first
    expect(card.locator(".job-image")).to_have_attribute("data-status", "failed", timeout=COMPLETED)
    expect(card.locator(".job-error")).not_to_be_empty()
    expect(card.locator(".badge")).to_have_count(0)
    card.get_by_role("button", name="Retry").click()
    expect(card_for(page, name)).to_have_count(2)
    again = page.locator(".job-card").first
    assert seed_of(again) == "77"
    expect(again.locator(".job-image")).to_have_attribute(
        "data-status", "failed", timeout=COMPLETED
    )
    screenshot(page, "studio-retry")


def test_the_badge_and_the_placeholder_never_disagree_while_a_generation_runs(page):
    log_in(page)
    name = unique_tag("agree")
    job = submit_in_studio(page, f"{name} a slow tide [latency=6]")
    expect(card_for(page, name).locator(".progress .elapsed")).to_have_text(re.compile(r"^\d+ s$"))
    screenshot(page, "studio-in-flight", full_page=False)
    page.goto(f"/generations/{job}/")
    # Every change to the page is checked as it happens: the badge's stage and the
    # placeholder's must be the same, and their words the status's label.
    page.evaluate(
        """() => {
          window.__disagreements = [];
          window.__stages = [];
          const look = () => {
            const badge = document.querySelector('#generation-progress .badge');
            const placeholder = document.getElementById('placeholder');
            if (!badge) return;
            window.__stages.push(badge.dataset.status);
            if (placeholder && (placeholder.dataset.status !== badge.dataset.status
                || !placeholder.textContent.includes(badge.textContent.trim()))) {
              window.__disagreements.push([badge.dataset.status, placeholder.dataset.status,
                                           placeholder.textContent.trim()]);
            }
          };
          look();
          new MutationObserver(look).observe(document.getElementById('generation'),
            {subtree: true, childList: true, characterData: true});
        }"""
    )
    clock = page.locator("#generation-progress .elapsed")
    expect(clock).to_have_text(re.compile(r"^\d+ s$"))
    screenshot(page, "generation-in-flight", full_page=False)
    expect(page.locator("#generation-progress .badge")).to_have_attribute(
        "data-status", "completed", timeout=COMPLETED
    )
    expect(page.locator("#images figure img")).to_be_visible()
    assert page.evaluate("window.__disagreements") == []
    assert "processing" in page.evaluate("window.__stages")
    expect(page.locator("#generation-progress")).to_contain_text("Done in")


def test_on_a_phone_the_prompt_and_generate_stay_within_reach(browser, running_app):
    context, page, errors = new_page(
        browser, running_app, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    try:
        log_in(page)
        generate = page.get_by_role("button", name="Generate")
        prompt = page.get_by_label("Prompt", exact=True)
        expect(generate).to_be_in_viewport()
        expect(prompt).to_be_in_viewport()
        name = unique_tag("phone")
        prompt.fill(f"{name} a lighthouse")
        generate.tap()
        expect(card_for(page, name)).to_have_count(1)
        # Scrolled down to the jobs, the prompt and Generate are still at hand.
        page.locator(".job-card").first.scroll_into_view_if_needed()
        page.mouse.wheel(0, 2000)
        expect(generate).to_be_in_viewport()
        expect(prompt).to_be_in_viewport()
        open_advanced(page)
        expect(page.get_by_label("Seed", exact=True)).to_be_visible()
        screenshot(page, "studio-phone", full_page=False)
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def test_the_form_works_from_the_keyboard_chips_slider_seed_lock(page):
    log_in(page)
    name = unique_tag("keys")
    submit_in_studio(page, f"{name} a window seat", seed=31337)
    # The aspect ratio chips are radios: the arrow keys move the choice.
    choose_aspect_ratio(page, "1:1")
    page.locator("#generation-form input[name=aspect_ratio]:checked").focus()
    page.keyboard.press("ArrowRight")
    assert chosen_aspect_ratio(page) == "2:3"
    # Advanced sums its settings up in one line, shown even when it is closed.
    summary = page.locator("#advanced-summary")
    expect(summary).to_have_text("guidance 3.5 · safety 2 · seed 31337")
    open_advanced(page)
    slider = page.get_by_label("Guidance scale")
    slider.focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#guidance-value")).to_have_text("3.6")
    expect(summary).to_contain_text("guidance 3.6")
    # Random empties the seed; Lock keeps the latest job's seed for every Generate.
    page.get_by_role("button", name="Random").click()
    expect(page.get_by_label("Seed", exact=True)).to_have_value("")
    lock = page.get_by_role("button", name="Lock seed")
    expect(lock).to_have_attribute("aria-pressed", "false")
    lock.click()
    expect(page.get_by_label("Seed", exact=True)).to_have_value("31337")
    expect(lock).to_have_attribute("aria-pressed", "true")
    expect(summary).to_contain_text("seed 31337")
