"""The team stack as `make stack` runs it, on a fresh PostgreSQL database and its own Redis db.

gunicorn, two qclusters on the Redis broker and the simulator, driven over HTTP by several
users at once. Redis delivers a task at most once, so a cluster killed mid-run loses the tasks
it held; the sweeper and the stack's restart must still bring every generation home, once.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image

from tests.apprunner import ARTIFACTS, RunningApp, log_in, submit_generation, wait_for
from tests.services import STACK_REDIS_DB, flushed_redis_database, fresh_postgres_database

pytestmark = pytest.mark.stack

USERS = [f"teammate{n}" for n in range(1, 6)]
PASSWORD = "stack-test-password-123"
PER_USER = 10
TOTAL = len(USERS) * PER_USER
# After a kill, lost tasks come back through the sweeper: a lost submit after its 120 s
# claim, a lost download after INGEST_STALE_SECONDS, both on the every-minute schedule.
FINISH_DEADLINE_SECONDS = 420


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("stack")
    with (
        fresh_postgres_database("stack_test") as database_url,
        flushed_redis_database(STACK_REDIS_DB) as redis_url,
    ):
        app = RunningApp(
            workdir=workdir,
            command=[sys.executable, "-m", "playground.stack"],
            extra_env={
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "STACK_WORKERS": "2",
                "Q_WORKERS": "2",
                "DEBUG": "false",
                "SECRET_KEY": "stack-test-" + "k" * 60,
                "ALLOWED_HOSTS": "127.0.0.1",
                # Plain HTTP on loopback: no redirect to https, cookies sent without TLS.
                "SECURE_SSL_REDIRECT": "false",
                "SECURE_COOKIES": "false",
                "MEDIA_ROOT": str(workdir / "media"),
                "SIMULATOR_LATENCY": "1",
                "SWEEP_SLICE_SECONDS": "5",
                "INGEST_STALE_SECONDS": "20",
                "WEB_CONCURRENCY": "2",
            },
        )
        app.start(timeout=180)
        try:
            app.create_users(USERS, PASSWORD)
            yield app
        finally:
            app.stop()


def submit_all(app: RunningApp, username: str) -> list[tuple[requests.Session, str, str]]:
    """One user's generations, sent through the form; (session, page URL, prompt) each."""
    session = log_in(app, username, PASSWORD)
    sent = []
    for number in range(PER_USER):
        prompt = f"Stack lantern {username} number {number}"
        url = submit_generation(session, app, prompt, seed=1000 + number)
        sent.append((session, url, prompt))
    return sent


def worker_pid(app: RunningApp, name: str) -> int:
    """The newest pid the stack reported for a service (its process group's id)."""
    pids = re.findall(
        rf"^{name} (?:started|exited with status -?\d+; restarted) \(pid (\d+)\)",
        app.log(),
        flags=re.MULTILINE,
    )
    assert pids, f"{name} never started:\n{app.log()[-3000:]}"
    return int(pids[-1])


def predictions_in_simulator(app: RunningApp) -> list[dict]:
    """Every prediction the simulator received, through its list endpoint."""
    items, page = [], 1
    while True:
        answer = requests.post(
            f"http://127.0.0.1:{app.simulator_port}/api/v3/predictions",
            headers={"Authorization": "Bearer simulator"},
            json={"page": page, "page_size": 100, "include_inputs": True},
            timeout=10,
        ).json()
        items += answer["data"]["items"]
        if len(items) >= answer["data"]["total"] or not answer["data"]["items"]:
            return items
        page += 1


def test_fifty_generations_from_several_users_survive_a_killed_worker(stack):
    started = time.monotonic()
    with ThreadPoolExecutor(len(USERS)) as pool:
        sent = [
            item
            for batch in pool.map(lambda user: submit_all(stack, user), USERS)
            for item in batch
        ]
    submitted_in = time.monotonic() - started
    assert len(sent) == TOTAL

    finished: dict[str, dict] = {}
    finished_at: dict[str, float] = {}
    killed = None
    finish_deadline = time.monotonic() + FINISH_DEADLINE_SECONDS
    while len(finished) < TOTAL:
        assert time.monotonic() < finish_deadline, (
            f"only {len(finished)} of {TOTAL} finished:\n{stack.log()[-4000:]}"
        )
        for session, url, _prompt in sent:
            if url in finished:
                continue
            data = session.get(url, headers={"Accept": "application/json"}, timeout=10).json()
            if data["finished"]:
                finished[url] = data
                finished_at[url] = time.monotonic() - started
        if killed is None and len(finished) >= 5:
            # Mid-run: the whole cluster (sentinel, pusher, workers, monitor) dies at once.
            killed = (worker_pid(stack, "worker-1"), len(finished), time.monotonic() - started)
            os.killpg(killed[0], signal.SIGKILL)
        time.sleep(0.3)
    total_seconds = time.monotonic() - started

    # The loop only ends with every generation finished, so the kill has happened by now.
    assert killed[1] < TOTAL, "the worker was not killed mid-run"
    assert Counter(data["status"] for data in finished.values()) == {"completed": TOTAL}, [
        (url, data["status"], data["error"])
        for url, data in finished.items()
        if data["status"] != "completed"
    ]
    assert all(len(data["images"]) == 1 for data in finished.values())

    # The stack replaced the killed cluster, and both report in.
    wait_for(lambda: worker_pid(stack, "worker-1") != killed[0], 30, "worker-1 restarted")

    def two_live_clusters() -> dict | None:
        health = requests.get(f"{stack.url}/healthz", timeout=10).json()
        return health if health["workers"]["clusters"] == 2 else None

    health = wait_for(two_live_clusters, 30, "two live clusters")
    assert health["status"] == "ok" and health["broker_kind"] == "redis"
    assert health["workers"]["last_heartbeat_age_seconds"] < 10

    # Exactly one prediction per generation reached the API: no resend, no loss.
    per_prompt = Counter(item["input"]["prompt"] for item in predictions_in_simulator(stack))
    assert per_prompt == Counter(prompt for _session, _url, prompt in sent)

    # One image row per output, its files in storage, served to the team and no one else.
    # The workers make the thumbnails a moment after storing the originals (the running-app
    # test checks that no request is needed); those still queued in the killed cluster are
    # lost with it, and made by the first request for them.
    def stored() -> dict:
        return json.loads(
            stack.shell(
                "import json\n"
                "from django.core.files.storage import default_storage\n"
                "from generations.models import Generation, OutputImage\n"
                "print(json.dumps({\n"
                "  'generations': Generation.objects.count(),\n"
                "  'predictions': len(set(\n"
                "      Generation.objects.values_list('prediction_id', flat=True))),\n"
                "  'images': [[i.generation_id, i.index, default_storage.exists(i.original.name),\n"
                "              bool(i.thumbnail) and default_storage.exists(i.thumbnail.name)]\n"
                "             for i in OutputImage.objects.all()]}))\n"
            )
        )

    for session, url, _prompt in sent:
        thumbnail_url = stack.url + finished[url]["images"][0]["thumbnail_url"]
        answer = session.get(thumbnail_url, timeout=30)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/webp"
    rows = stored()
    assert rows["generations"] == TOTAL and rows["predictions"] == TOTAL
    assert sorted((g, i) for g, i, _o, _t in rows["images"]) == sorted(
        (data["id"], 0) for data in finished.values()
    )
    assert all(original and thumbnail for _g, _i, original, thumbnail in rows["images"])
    session, url, _prompt = sent[-1]
    image = finished[url]["images"][0]
    original = session.get(stack.url + image["url"], timeout=10)
    assert Image.open(io.BytesIO(original.content)).size == (1024, 1024)
    thumbnail = session.get(stack.url + image["thumbnail_url"], timeout=10)
    assert Image.open(io.BytesIO(thumbnail.content)).format == "WEBP"
    anonymous = requests.get(stack.url + image["url"], timeout=10, allow_redirects=False)
    assert anonymous.status_code == 302

    durations = sorted(finished_at.values())
    figures = {
        "generations": TOTAL,
        "users": len(USERS),
        "clusters": 2,
        "workers_per_cluster": 2,
        "simulated_latency_seconds": 1.0,
        "submitted_in_seconds": round(submitted_in, 1),
        "all_finished_in_seconds": round(total_seconds, 1),
        "finished_p50_seconds": round(durations[len(durations) // 2], 1),
        "finished_p90_seconds": round(durations[int(len(durations) * 0.9)], 1),
        "killed_after_seconds": round(killed[2], 1),
        "finished_when_killed": killed[1],
        "finished_after_kill_seconds": round(total_seconds - killed[2], 1),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "stack-figures.json").write_text(json.dumps(figures, indent=2))
    print("stack figures:", figures)


def test_healthz_is_ok_and_login_free_on_the_stack(stack):
    answer = requests.get(f"{stack.url}/healthz", timeout=10)
    assert answer.status_code == 200
    assert answer.json()["database"] == answer.json()["broker"] == "ok"


def test_static_files_are_served_with_hashed_names(stack):
    page = requests.get(f"{stack.url}/accounts/login/", timeout=10).text
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', page).group(1)
    assert re.search(r"\.[0-9a-f]{12}\.css$", stylesheet), stylesheet
    answer = requests.get(stack.url + stylesheet, timeout=10)
    assert answer.status_code == 200
    assert "immutable" in answer.headers["Cache-Control"]
