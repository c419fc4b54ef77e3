"""`make screenshots` still runs: its script, as a real process, for two pages."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from tests.apprunner import ROOT
from tests.browser import tour

pytestmark = pytest.mark.browser


def test_the_screenshot_script_writes_each_page_at_each_size_in_both_schemes(browser, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tests.screenshots", "--pages=login,not-found", f"--out={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    expected = {
        f"{page}-{viewport}-{scheme}.png"
        for page in ("login", "not-found")
        for viewport in tour.VIEWPORTS
        for scheme in tour.COLOR_SCHEMES
    }
    assert {path.name for path in tmp_path.iterdir()} == expected
    for name in expected:
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG"
            assert image.width == tour.VIEWPORTS[name.split("-")[-2]]["width"]
    # Dark is dark: the page's background differs between the schemes.
    with Image.open(tmp_path / "login-desktop-light.png") as light:
        light_corner = light.convert("RGB").getpixel((light.width - 5, light.height - 5))
    with Image.open(tmp_path / "login-desktop-dark.png") as dark:
        dark_corner = dark.convert("RGB").getpixel((dark.width - 5, dark.height - 5))
    assert sum(light_corner) > sum(dark_corner) + 300, (light_corner, dark_corner)


def test_an_unknown_page_is_refused_with_the_list_of_pages(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tests.screenshots", "--pages=nowhere", f"--out={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown page nowhere; the pages are: login, playground" in result.stderr
