"""What browser tests do on the app's pages: open one, log in, generate, look at the layout."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from tests.apprunner import ADMIN_PASSWORD, ADMIN_USER, ARTIFACTS

COMPLETED = 60_000  # ms: the simulator answers in seconds; a loaded machine may take longer


def unique_tag(word: str) -> str:
    """A word only this test's prompts contain, so tests do not see each other's work."""
    return f"{word}{uuid.uuid4().hex[:8]}"


DESKTOP = {"width": 1280, "height": 900}


def new_page(browser, app, **context_options):
    """A fresh context on the app (a desktop window unless a viewport is given) and its page.

    Returns (context, page, errors): the caller closes the context, and `errors` collects the
    page's uncaught JavaScript errors.
    """
    context = browser.new_context(**{"base_url": app.url, "viewport": DESKTOP, **context_options})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, errors


def record_policy_complaints(page) -> list[str]:
    """Collect what the browser refused under the page's Content-Security-Policy, and its
    complaints about the Permissions-Policy header, on every page this one goes to next.

    Chromium reports a violation twice: as a `securitypolicyviolation` event in the page and
    as a console error ("Refused to apply inline style ..."); both are collected.
    """
    found: list[str] = []
    page.expose_function("__policyViolation", lambda text: found.append(text))
    page.add_init_script(
        """document.addEventListener("securitypolicyviolation", (event) =>
             window.__policyViolation(`${event.violatedDirective} blocked ${event.blockedURI}`
                                      + ` on ${location.pathname} (${event.sourceFile}`
                                      + `:${event.lineNumber})`));"""
    )

    def on_console(message) -> None:
        text = message.text
        if "Content Security Policy" in text or "Permissions-Policy" in text:
            found.append(f"{page.url}: {text}")

    page.on("console", on_console)
    return found


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Keep a picture of a key page for a person to look at (full_page=False for a dialog)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def log_in(page, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> None:
    """Sign in (as the app's admin by default) from the login page the playground redirects to."""
    from playwright.sync_api import expect

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Create an image")).to_be_visible()


def wait_until_decoded(page, selector: str) -> None:
    """Wait until the image the selector finds has really decoded, not merely been laid out."""
    page.wait_for_function(
        "selector => { const img = document.querySelector(selector);"
        " return !!img && img.complete && img.naturalWidth > 0; }",
        arg=selector,
    )


def choose_aspect_ratio(page, aspect_ratio: str) -> None:
    """Pick an aspect ratio chip on the studio's form, as a person clicks it."""
    # The chip (the radio's label) is what is clicked; the radio itself is drawn by the chip.
    radio = page.locator(f'input[value="{aspect_ratio}"]')
    chip = page.locator("label.ratio-chip").filter(has=radio)
    chip.click()
    from playwright.sync_api import expect

    expect(chip.get_by_role("radio")).to_be_checked()


def chosen_aspect_ratio(page) -> str:
    """The aspect ratio the studio's form has chosen."""
    return page.locator("#generation-form input[name=aspect_ratio]:checked").get_attribute("value")


def fill_seed(page, seed: int | str) -> None:
    """Type a seed in the studio's Advanced settings (opened first if closed)."""
    open_advanced(page)
    page.get_by_label("Seed", exact=True).fill(str(seed))


def open_advanced(page) -> None:
    advanced = page.locator("#advanced")
    if advanced.get_attribute("open") is None:
        advanced.locator("summary").click()


def submit_in_studio(page, prompt: str, **settings) -> int:
    """Fill the studio's form and press Generate; wait for the new job's card; return its id."""
    from playwright.sync_api import expect

    page.get_by_label("Prompt", exact=True).fill(prompt)
    if settings.get("aspect_ratio"):
        choose_aspect_ratio(page, settings["aspect_ratio"])
    if settings.get("seed") is not None:
        fill_seed(page, settings["seed"])
    if settings.get("num_images") is not None:
        page.get_by_label("Images", exact=True).fill(str(settings["num_images"]))
    before = page.locator(".job-card").count()
    page.get_by_role("button", name="Generate").click()
    expect(page.locator(".job-card")).to_have_count(before + 1)
    card = page.locator(".job-card").first
    expect(card.locator(".job-prompt")).to_contain_text(prompt[:60])
    return int(card.get_attribute("data-job-id"))


def generate(
    page,
    prompt: str,
    *,
    aspect_ratio: str = "1:1",
    seed: int | None = None,
    num_images: int | None = None,
) -> int:
    """Generate from the studio, then open the new generation's page; return its id."""
    from playwright.sync_api import expect

    page.goto("/")
    # The studio keeps the form as it was left: settings not asked for go back to defaults.
    if seed is None and page.get_by_label("Seed", exact=True).input_value():
        open_advanced(page)
        page.get_by_role("button", name="Random", exact=True).click()
    if num_images is None:
        num_images = 1
    pk = submit_in_studio(page, prompt, aspect_ratio=aspect_ratio, seed=seed, num_images=num_images)
    page.goto(f"/generations/{pk}/")
    expect(page).to_have_url(re.compile(rf"/generations/{pk}/$"))
    return pk


def horizontal_overflow(page) -> int:
    """How far the page scrolls sideways (0 when it fits its viewport)."""
    # Measured before the stylesheet has arrived, an unstyled page would be judged.
    page.wait_for_load_state("load")
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def overflowing(page) -> list[str]:
    """The elements that reach past the viewport's right edge, to say why a page overflows."""
    return page.evaluate("""(() => {
      const width = document.documentElement.clientWidth, found = [];
      for (const el of document.querySelectorAll('body *')) {
        const right = el.getBoundingClientRect().right;
        const name = `${el.tagName.toLowerCase()}.${el.className}`;
        if (right > width + 1) found.push(`${name} ${right | 0}px`);
      }
      return found.slice(0, 8);
    })()""")


def open_filters(page) -> None:
    """Unfold the gallery's Filters menu, as a person clicks it, unless it is open already."""
    menu = page.locator("#filters-more")
    if menu.get_attribute("open") is None:
        menu.locator("summary").click()
