"""WaveSpeed's official Python client, unchanged, against the app's gateway: real web server,
real cluster, real simulator behind it, and a personal access token as the API key."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
import requests
import wavespeed
from PIL import Image

from generations.wavespeed.contract import MODEL_ID
from tests.apprunner import ADMIN_USER, ROOT, RunningApp, log_in

pytestmark = pytest.mark.e2e


def issue_token(app: RunningApp, username: str, name: str) -> str:
    """`manage.py issue_token`, as an operator runs it: the token is the last line."""
    result = subprocess.run(
        [sys.executable, "manage.py", "issue_token", username, name],
        cwd=ROOT,
        env=app.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


def official_client(app: RunningApp, token: str) -> wavespeed.Client:
    return wavespeed.Client(api_key=token, base_url=app.url)


def test_the_official_client_makes_an_image_in_the_gallery(running_app):
    token = issue_token(running_app, ADMIN_USER, "e2e official client")
    client = official_client(running_app, token)

    outcome = client.run_no_throw(
        MODEL_ID,
        {"prompt": "A paper crane made by a script", "aspect_ratio": "3:2", "seed": 7},
        timeout=120,
        poll_interval=1.0,
    )

    assert outcome["status"] == "completed", outcome
    [url] = outcome["outputs"]
    assert url.startswith(f"{running_app.url}/api/v3/outputs/")
    file = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert Image.open(io.BytesIO(file.content)).size == (1248, 832)
    assert requests.get(url, timeout=10).status_code == 401  # the file needs the token too

    # The same generation, in the gallery, under the token's user.
    session = log_in(running_app)
    page = session.get(
        f"{running_app.url}/generations/{outcome['task_id']}/",
        headers={"Accept": "application/json"},
        timeout=10,
    ).json()
    assert page["owner"] == ADMIN_USER
    assert page["prompt"] == "A paper crane made by a script"
    assert page["seed"] == 7
    gallery = session.get(f"{running_app.url}/gallery/", timeout=10).text
    assert "A paper crane made by a script" in gallery


def test_the_official_client_in_sync_mode(running_app):
    token = issue_token(running_app, ADMIN_USER, "e2e sync mode")
    output = official_client(running_app, token).run(
        MODEL_ID, {"prompt": "A kite waited for in one request"}, enable_sync_mode=True, timeout=120
    )
    [url] = output["outputs"]
    file = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert Image.open(io.BytesIO(file.content)).size == (1024, 1024)


def test_a_flagged_image_is_withheld_from_the_official_client(running_app):
    token = issue_token(running_app, ADMIN_USER, "e2e flagged")
    client = official_client(running_app, token)
    outcome = client.run_no_throw(
        MODEL_ID, {"prompt": "A flagged test image [nsfw]"}, timeout=120, poll_interval=1.0
    )
    assert outcome["status"] == "completed" and outcome["outputs"] == [], outcome
    data = client.get_result(outcome["task_id"])["data"]
    assert data["has_nsfw_contents"] == [True]
    assert "withheld until a moderator approves it" in data["error"]


def test_a_revoked_token_is_refused_to_the_official_client(running_app):
    token = issue_token(running_app, ADMIN_USER, "e2e soon revoked")
    running_app.shell(
        "from generations.accounts import tokens\n"
        f"row = tokens.authenticate({token!r})\n"
        "tokens.revoke(row, row.user)\n"
    )
    before = running_app.shell(
        "from generations.models import Generation; print(Generation.objects.count())"
    )

    with pytest.raises(RuntimeError, match="HTTP 401"):
        official_client(running_app, token).run(MODEL_ID, {"prompt": "Never made"}, timeout=30)

    after = running_app.shell(
        "from generations.models import Generation; print(Generation.objects.count())"
    )
    assert after == before
