"""`make screenshots`: every kind of page on a desktop and a phone, light and dark, as PNGs.

    python -m tests.screenshots [--pages login,gallery] [--out DIR]

Starts the app with its simulator in a temporary folder (as the accessibility test does, see
`tests/browser/tour.py`), makes a few generations, and saves `<page>-<viewport>-<scheme>.png`
under test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

from tests.apprunner import ARTIFACTS
from tests.browser import tour
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path
from tests.browser.pages import log_in, new_page

DEFAULT_OUT = ARTIFACTS / "screenshots"
# Long enough for lazy thumbnails to arrive; pages that keep asking for news never go idle.
SETTLE_MS = 5_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    names = [page.name for page in tour.PAGES]
    parser.add_argument(
        "--pages", help=f"comma-separated, of: {', '.join(names)} (default: all of them)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    options = parser.parse_args(argv)
    wanted = options.pages.split(",") if options.pages else names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        parser.error(f"unknown page {', '.join(unknown)}; the pages are: {', '.join(names)}")
    pages = [page for page in tour.PAGES if page.name in wanted]
    browser_path = chromium_path()
    if browser_path is None:
        print("Chromium is not installed (apt-get install chromium, or `make browser`).")
        return 1
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as workdir:
        app = tour.start_app(Path(workdir))
        try:
            records = tour.make_records(app) if any(p.needs_records for p in pages) else {}
            written = capture(app, browser_path, pages, records, options.out)
        finally:
            app.stop()
    print(f"Wrote {written} screenshots into {options.out}")
    return 0


def capture(app, browser_path: str, pages: list[tour.Page], records: dict, out: Path) -> int:
    """Save each page at each size in each colour scheme; how many files were written."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    written = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        try:
            for viewport_name, viewport in tour.VIEWPORTS.items():
                for scheme in tour.COLOR_SCHEMES:
                    context, page, _ = new_page(
                        browser, app, viewport=viewport, color_scheme=scheme
                    )
                    try:
                        for visit in pages:
                            signed_in = "sessionid" in {c["name"] for c in context.cookies()}
                            if visit.signed_in and not signed_in:
                                log_in(page)
                            page.goto(tour.path_of(visit, records))
                            with contextlib.suppress(PlaywrightTimeout):
                                page.wait_for_load_state("networkidle", timeout=SETTLE_MS)
                            path = out / f"{visit.name}-{viewport_name}-{scheme}.png"
                            page.screenshot(path=str(path), full_page=True)
                            print(path, flush=True)
                            written += 1
                    finally:
                        context.close()
        finally:
            browser.close()
    return written


if __name__ == "__main__":
    sys.exit(main())
