"""Hung API calls hold up no other generation, with the real django-q2 cluster (two workers).

Two submits whose answers the simulator holds back (`[hang=S]`) must not stop a third
generation from completing as soon as the API has finished it: submits are made from the
sweeper's bounded thread pool, not from a worker each, so the workers stay free for polls and
downloads.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import requests

from tests.apprunner import RunningApp, log_in, submit_generation, wait_for

pytestmark = pytest.mark.e2e

# Long enough that a design holding a worker per submit visibly fails; short for the suite.
HANG_SECONDS = 20
LATENCY_SECONDS = 1.5
# The correctness bound: a poll interval, picking up the download task, the download itself.
PROMPT_BOUND_SECONDS = 2.0
MARGIN_SECONDS = 1.0


def rows(app: RunningApp) -> dict[int, dict]:
    """Every generation's pipeline fields, read from the app's database."""
    output = app.shell(
        "import json\n"
        "from generations.models import Generation\n"
        "print(json.dumps(list(Generation.objects.values("
        "'pk', 'status', 'prediction_id', 'created_at', 'finished_at', 'submit_attempts')),"
        " default=str))\n"
    )
    return {row["pk"]: row for row in json.loads(output)}


def simulator_call(app: RunningApp, method: str, path: str, body: dict | None = None) -> dict:
    answer = requests.request(
        method,
        f"http://127.0.0.1:{app.simulator_port}{path}",
        json=body,
        headers={"Authorization": "Bearer simulator"},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()["data"]


def predictions_on_the_simulator(app: RunningApp) -> int:
    now = datetime.now().astimezone()
    window = {
        "created_after": (now - timedelta(hours=1)).isoformat(),
        "created_before": (now + timedelta(hours=1)).isoformat(),
        "page_size": 100,
    }
    return simulator_call(app, "POST", "/api/v3/predictions", window)["total"]


def status_of(session: requests.Session, url: str) -> dict:
    return session.get(url, headers={"Accept": "application/json"}, timeout=10).json()


def test_two_hung_submits_hold_up_no_other_generation(tmp_path):
    app = RunningApp(
        workdir=tmp_path,
        extra_env={"SIMULATOR_LATENCY": str(LATENCY_SECONDS), "Q_WORKERS": "2"},
    ).start()
    try:
        session = log_in(app)
        hung = [
            submit_generation(session, app, f"[hang={HANG_SECONDS}] a stuck request {n}")
            for n in range(2)
        ]
        # Both requests are out and unanswered: the simulator made both tasks, the app waits.
        wait_for(lambda: predictions_on_the_simulator(app) == 2, 30, "both submits were sent")
        assert all(status_of(session, url)["status"] == "submitting" for url in hung)

        quick = submit_generation(session, app, "A kite over a beach, quick sketch")
        quick_id = int(quick.rstrip("/").rsplit("/", 1)[1])
        done = wait_for(
            lambda: status_of(session, quick)["finished"] and status_of(session, quick),
            HANG_SECONDS * 3,
            "the quick generation finished",
            interval=0.1,
        )
        still_hung = [status_of(session, url)["status"] for url in hung]
        assert done["status"] == "completed", done

        row = rows(app)[quick_id]
        prediction = simulator_call(
            app, "GET", f"/api/v3/predictions/{row['prediction_id']}/result"
        )
        sent = datetime.fromisoformat(prediction["created_at"].replace("Z", "+00:00"))
        asked = datetime.fromisoformat(row["created_at"])
        api_finished = sent + timedelta(seconds=LATENCY_SECONDS)
        finished = datetime.fromisoformat(row["finished_at"])
        waited_to_send = (sent - asked).total_seconds()
        after_api = (finished - api_finished).total_seconds()
        print(
            f"\nquick generation: sent {waited_to_send:.2f} s after it was asked for, completed "
            f"{after_api:.2f} s after the API finished it "
            f"({(finished - asked).total_seconds():.2f} s in all, {LATENCY_SECONDS} s of it the "
            f"API's latency), while the hung submits were {still_hung}"
        )
        assert still_hung == ["submitting", "submitting"], "the hung submits were not hanging"
        # Measured from the request, so a submit waiting for a free worker counts too.
        assert waited_to_send + after_api < PROMPT_BOUND_SECONDS + MARGIN_SECONDS
        assert after_api < PROMPT_BOUND_SECONDS + MARGIN_SECONDS

        # The hung submits are answered late, after their sweep slice ended: each is still
        # recorded once, and nothing was sent twice.
        for url in hung:
            late = wait_for(
                lambda url=url: status_of(session, url)["finished"] and status_of(session, url),
                HANG_SECONDS * 4,
                f"{url} finished",
                interval=0.25,
            )
            assert late["status"] == "completed", late
        assert predictions_on_the_simulator(app) == 3
        assert [r["submit_attempts"] for r in rows(app).values()] == [1, 1, 1]
        # The late answers were written from the sweeper's threads without a hitch.
        assert "Traceback" not in app.log(), app.log()[-3000:]
    finally:
        app.stop()
