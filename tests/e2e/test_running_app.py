"""The app as `make run` starts it: real web server, real qcluster, real simulator."""

from __future__ import annotations

import io
import re
import time

import pytest
import requests
from PIL import Image

from tests.apprunner import ADMIN_PASSWORD, ADMIN_USER, RunningApp

pytestmark = pytest.mark.e2e


def logged_in(app) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{app.url}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(f"{app.url}/accounts/login/", timeout=10, data={
        "username": ADMIN_USER, "password": ADMIN_PASSWORD, "csrfmiddlewaretoken": token})
    assert answer.url == f"{app.url}/", "login did not land on the playground"
    return session


def create(session: requests.Session, app, prompt: str, ratio: str = "1:1") -> str:
    page = session.get(f"{app.url}/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(f"{app.url}/", timeout=10, data={
        "csrfmiddlewaretoken": token, "prompt": prompt, "aspect_ratio": ratio, "seed": "",
        "guidance_scale": "3.5", "safety_tolerance": "2"})
    assert re.search(r"/generations/\d+/$", answer.url), answer.text[:500]
    return answer.url


def wait_until_finished(session: requests.Session, url: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = session.get(url, headers={"Accept": "application/json"}, timeout=10).json()
        if data["finished"]:
            return data
        time.sleep(0.25)
    raise AssertionError(f"not finished within {timeout}s: {data}")


def test_an_image_arrives_through_the_real_cluster(running_app):
    session = logged_in(running_app)
    page_url = create(session, running_app, "A tin robot watering tomatoes", ratio="9:16")
    data = wait_until_finished(session, page_url)
    assert data["status"] == "completed", data
    [image] = data["images"]
    assert (image["width"], image["height"]) == (752, 1392)
    original = session.get(running_app.url + image["url"], timeout=10)
    assert Image.open(io.BytesIO(original.content)).size == (752, 1392)
    thumbnail = session.get(running_app.url + image["thumbnail_url"], timeout=10)
    assert Image.open(io.BytesIO(thumbnail.content)).format == "WEBP"


def test_many_generations_in_flight_all_complete_once(running_app):
    session = logged_in(running_app)
    urls = [create(session, running_app, f"Lantern number {n}") for n in range(12)]
    results = [wait_until_finished(session, url) for url in urls]
    assert [r["status"] for r in results] == ["completed"] * 12
    assert all(len(r["images"]) == 1 for r in results)
    gallery = session.get(f"{running_app.url}/gallery/", timeout=10).text
    assert "Lantern number 11" in gallery


def test_files_are_not_served_to_anonymous_visitors(running_app):
    session = logged_in(running_app)
    data = wait_until_finished(session, create(session, running_app, "A locked door"))
    anonymous = requests.get(running_app.url + data["images"][0]["url"], timeout=10,
                             allow_redirects=False)
    assert anonymous.status_code == 302
    assert "/accounts/login/" in anonymous.headers["Location"]


def test_make_run_prints_the_url_and_ctrl_c_leaves_no_process(tmp_path):
    app = RunningApp(workdir=tmp_path, command=["make", "--no-print-directory", "run"])
    app.start()
    try:
        log = app.log()
        assert f"running at http://127.0.0.1:{app.port}/" in log
        assert f"Log in as '{ADMIN_USER}'" in log or "Created the admin account" in log
        assert "simulator" in log
        assert requests.get(f"{app.url}/healthz", timeout=10).status_code == 200
    finally:
        status, left = app.interrupt()
    assert left == set(), f"processes left behind: {left}"
    assert status is not None
