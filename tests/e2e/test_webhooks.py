"""Webhooks in the running app: the simulator calls the web server back when a prediction
ends, and the generation completes without the polls it would otherwise need."""

from __future__ import annotations

import json
import math
import time

import pytest
import requests

from generations.wavespeed import webhooks as signing
from tests.apprunner import log_in, submit_generation, wait_for
from tests.bench import webhooks as bench

pytestmark = pytest.mark.e2e

SAFETY_NET_SECONDS = 6.0


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app as `make run` starts it, its safety-net polls well after the simulator's
    latency, so a generation that completes before then did so by its webhook."""
    folder = tmp_path_factory.mktemp("webhooks")
    app = bench.start_app(folder, safety_net_seconds=SAFETY_NET_SECONDS)
    try:
        yield app
    finally:
        app.stop()


def test_make_run_points_the_simulators_webhooks_at_its_web_server(app):
    assert f"calls back at http://127.0.0.1:{app.port}/webhooks/wavespeed/" in app.log()


def test_generations_complete_by_webhook_with_fewer_result_gets_than_polling(app):
    prompts = [f"A weather vane, webhook {n}" for n in range(4)]
    figures = bench.run_generations(app, prompts)
    assert sorted(f.prompt for f in figures) == sorted(prompts)
    # Polling alone would read each result about latency / interval times before it ended.
    polling_needs = math.ceil(bench.LATENCY_SECONDS / bench.POLL_INTERVAL_SECONDS)
    for figure in figures:
        assert figure.webhook_delivered, figure
        assert figure.result_reads < polling_needs, figure
    print("added latency (ms):", [round(f.added_ms) for f in figures])


def test_a_lost_webhook_is_made_up_for_by_the_safety_net_poll(app):
    [figure] = bench.run_generations(app, ["A weather vane [webhook-fail=99]"])
    assert not figure.webhook_delivered
    assert figure.result_reads >= 1  # found by polling, after the safety net's interval


def test_a_forged_call_to_the_running_app_is_refused(app):
    session = log_in(app)
    url = submit_generation(session, app, "A weather vane, to forge [latency=30]")

    def forged_prediction() -> list[str]:
        record = bench.simulator_record(app)
        return [key for key, item in record.items() if "to forge" in item["prompt"]]

    [prediction_id] = wait_for(forged_prediction, 20, "the prediction to forge a call about")
    body = json.dumps({"id": prediction_id, "status": "failed", "error": "forged"}).encode()
    headers = signing.sign("whsec_guessed", "forged-1", int(time.time()), body)
    answer = requests.post(f"{app.url}/webhooks/wavespeed/", data=body, headers=headers, timeout=10)
    assert answer.status_code == 401
    data = session.get(url, headers={"Accept": "application/json"}, timeout=10).json()
    assert data["status"] not in ("failed", "completed")
