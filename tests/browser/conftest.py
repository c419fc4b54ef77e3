"""Chromium from Debian's packages, driven by Playwright.

Playwright's own browser download does not work here. Without Chromium the browser tests
are skipped on a laptop, but in CI (CI=true) a missing browser is a failure. Only fixtures
live here; what the tests do with a page (log in, generate, screenshots) is in pages.py.
"""

from __future__ import annotations

import shutil

import pytest

from playground.env import env_str
from tests.browser.pages import new_page
from tests.services import in_ci

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str | None:
    return env_str("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        message = "Chromium is not installed (apt-get install chromium, or `make browser`)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, running_app):
    context, page, errors = new_page(browser, running_app)
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
