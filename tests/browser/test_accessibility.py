"""Every kind of page passes axe-core's checks with no serious or critical violation, on a
desktop and a phone, in light and dark colours."""

from __future__ import annotations

import pytest

from tests.browser import tour
from tests.browser.axe import serious_violations
from tests.browser.pages import log_in, new_page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def toured_app(tmp_path_factory):
    """The app as in production, with work on every kind of page; its records' ids."""
    app = tour.start_app(tmp_path_factory.mktemp("tour"))
    try:
        yield app, tour.make_records(app)
    finally:
        app.stop()


@pytest.mark.parametrize("color_scheme", tour.COLOR_SCHEMES)
@pytest.mark.parametrize("viewport", tour.VIEWPORTS)
def test_every_page_has_no_serious_accessibility_violation(
    browser, toured_app, viewport, color_scheme
):
    app, records = toured_app
    context, page, errors = new_page(
        browser, app, viewport=tour.VIEWPORTS[viewport], color_scheme=color_scheme
    )
    found: list[str] = []
    try:
        for visit in tour.PAGES:
            if visit.signed_in and "sessionid" not in {c["name"] for c in context.cookies()}:
                log_in(page)
            page.goto(tour.path_of(visit, records))
            found += serious_violations(page, f"{visit.name} ({viewport}, {color_scheme})")
    finally:
        context.close()
    assert not found, f"{len(found)} accessibility violations:\n" + "\n".join(found)
    assert errors == [], f"JavaScript errors on the pages: {errors}"
