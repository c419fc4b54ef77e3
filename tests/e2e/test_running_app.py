"""The app as `make run` starts it: real web server, real qcluster, real simulator."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from tests.apprunner import (
    ADMIN_USER,
    RunningApp,
    log_in,
    submit_generation,
    wait_for,
)

pytestmark = pytest.mark.e2e


def wait_until_finished(session: requests.Session, url: str, timeout: float = 90) -> dict:
    def finished() -> dict | None:
        data = session.get(url, headers={"Accept": "application/json"}, timeout=10).json()
        return data if data["finished"] else None

    return wait_for(finished, timeout, f"{url} finished", interval=0.25)


def test_an_image_arrives_through_the_real_cluster(running_app):
    session = log_in(running_app)
    page_url = submit_generation(
        session, running_app, "A tin robot watering tomatoes", aspect_ratio="9:16"
    )
    data = wait_until_finished(session, page_url)
    assert data["status"] == "completed", data
    [image] = data["images"]
    assert (image["width"], image["height"]) == (752, 1392)
    original = session.get(running_app.url + image["url"], timeout=10)
    assert Image.open(io.BytesIO(original.content)).size == (752, 1392)
    # A worker makes the thumbnail and placeholder a moment after storing the original,
    # before any page asks for them.
    generation_id = int(page_url.rstrip("/").rsplit("/", 1)[1])
    made = (
        "from generations.models import OutputImage\n"
        f"image = OutputImage.objects.get(generation_id={generation_id})\n"
        "print(bool(image.thumbnail and image.placeholder and image.color))\n"
    )
    wait_for(lambda: running_app.shell(made).strip() == "True", 30, "the thumbnail made")
    thumbnail = session.get(running_app.url + image["thumbnail_url"], timeout=10)
    assert Image.open(io.BytesIO(thumbnail.content)).format == "WEBP"


def test_many_generations_in_flight_all_complete_once(running_app):
    session = log_in(running_app)
    urls = [submit_generation(session, running_app, f"Lantern number {n}") for n in range(12)]
    results = [wait_until_finished(session, url) for url in urls]
    assert [r["status"] for r in results] == ["completed"] * 12
    assert all(len(r["images"]) == 1 for r in results)
    gallery = session.get(f"{running_app.url}/gallery/", timeout=10).text
    assert "Lantern number 11" in gallery


def test_files_are_not_served_to_anonymous_visitors(running_app):
    session = log_in(running_app)
    data = wait_until_finished(session, submit_generation(session, running_app, "A locked door"))
    anonymous = requests.get(
        running_app.url + data["images"][0]["url"], timeout=10, allow_redirects=False
    )
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
