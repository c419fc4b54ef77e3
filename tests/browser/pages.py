"""What browser tests do on the app's pages: open one, log in, generate, look at the layout."""

from __future__ import annotations

import re
from pathlib import Path

from tests.apprunner import ADMIN_PASSWORD, ADMIN_USER, ARTIFACTS

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


def generate(
    page,
    prompt: str,
    *,
    aspect_ratio: str = "1:1",
    seed: int | None = None,
    num_images: int | None = None,
) -> int:
    """Submit the playground form; return the new generation's id (its page is shown)."""
    from playwright.sync_api import expect

    page.goto("/")
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_label("Aspect ratio").select_option(aspect_ratio)
    if seed is not None:
        page.get_by_label("Seed").fill(str(seed))
    if num_images is not None:
        page.get_by_label("Images", exact=True).fill(str(num_images))
    page.get_by_role("button", name="Generate").click()
    expect(page).to_have_url(re.compile(r"/generations/\d+/$"))
    return int(re.search(r"/generations/(\d+)/", page.url).group(1))


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
