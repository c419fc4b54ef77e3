"""The WaveSpeed simulator, over real HTTP, including with the official client unchanged.

Runs without Django: pytest tests/test_simulator.py -p no:django --noconftest
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from PIL import Image

from generations.wavespeed.contract import MODEL_ID, OUTPUT_SIZES
from generations.wavespeed.simulator import images, routes
from generations.wavespeed.simulator.config import Faults, SimulatorConfig
from generations.wavespeed.simulator.images import _render_cached, render_png
from generations.wavespeed.simulator.server import SimulatorServer
from generations.wavespeed.simulator.store import Store, iso_ms
from tests.apprunner import ROOT, free_port
from tests.services import serving

SUBMIT = f"/api/v3/{MODEL_ID}"
KEY = "simulator"
TERMINAL = {"completed", "failed"}


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """A fast simulator; tests parametrize this fixture to change its behaviour."""
    return replace(SimulatorConfig(), latency=0.3, sync_wait_max=5.0, seed=1234)


@pytest.fixture
def sim(sim_config: SimulatorConfig) -> Iterator[SimulatorServer]:
    """A live simulator on a free port, served from a thread."""
    with serving(sim_config) as server:
        yield server


def call(
    sim: SimulatorServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = KEY,
    **kwargs: Any,
) -> requests.Response:
    """Send one request to the simulator with the Bearer key (None sends no header)."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    headers.update(kwargs.pop("headers", {}))
    return requests.request(
        method, sim.url + path, json=body, headers=headers, timeout=15, **kwargs
    )


def submit(sim: SimulatorServer, **inputs: Any) -> dict[str, Any]:
    """Submit a prediction and return its data, asserting success."""
    response = call(sim, "POST", SUBMIT, {"prompt": "a lighthouse at dusk", **inputs})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def result(sim: SimulatorServer, prediction_id: str) -> dict[str, Any]:
    """Fetch a prediction's current state."""
    response = call(sim, "GET", f"/api/v3/predictions/{prediction_id}/result")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def wait_until_terminal(
    sim: SimulatorServer, prediction_id: str, timeout: float = 10.0
) -> tuple[dict[str, Any], list[str]]:
    """Poll until the prediction ends; return it and the distinct statuses seen in order."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        data = result(sim, prediction_id)
        if not seen or seen[-1] != data["status"]:
            seen.append(data["status"])
        if data["status"] in TERMINAL:
            return data, seen
        time.sleep(0.02)  # the poll interval; the deadline bounds the wait
    pytest.fail(f"prediction {prediction_id} did not finish within {timeout}s: {seen}")


def completed(sim: SimulatorServer, **inputs: Any) -> dict[str, Any]:
    """Submit and wait for a terminal state."""
    return wait_until_terminal(sim, submit(sim, **inputs)["id"])[0]


# --- auth and routing -----------------------------------------------------------------------


def test_healthz_answers_without_a_key(sim):
    response = requests.get(sim.url + "/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic simulator"},
        {"Authorization": "Bearer"},
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v3/balance"),
        ("POST", SUBMIT),
        ("GET", "/api/v3/predictions/abc/result"),
        ("POST", "/api/v3/predictions"),
    ],
)
def test_api_paths_refuse_a_missing_or_wrong_key(sim, headers, method, path):
    response = call(sim, method, path, {"prompt": "x"}, key=None, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == 401 and body["data"] is None and body["message"]
    assert len(sim.store) == 0


def test_unknown_paths_and_wrong_methods_get_envelopes(sim):
    missing = call(sim, "GET", "/api/v3/nope")
    assert missing.status_code == 404 and missing.json()["code"] == 404
    assert requests.get(sim.url + "/elsewhere", timeout=5).json()["code"] == 404
    wrong = call(sim, "GET", SUBMIT)
    assert wrong.status_code == 405 and wrong.json()["code"] == 405
    assert wrong.headers["Allow"] == "POST"
    assert call(sim, "DELETE", "/api/v3/balance").status_code == 405


# --- submit -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": 7}, "prompt"),
        ({"prompt": "x", "aspect_ratio": "5:4"}, "aspect_ratio"),
        ({"prompt": "x", "aspect_ratio": 1}, "aspect_ratio"),
        ({"prompt": "x", "seed": 2_147_483_648}, "seed"),
        ({"prompt": "x", "seed": -2}, "seed"),
        ({"prompt": "x", "seed": "42"}, "seed"),
        ({"prompt": "x", "seed": True}, "seed"),
        ({"prompt": "x", "guidance_scale": 0.99}, "guidance_scale"),
        ({"prompt": "x", "guidance_scale": 20.01}, "guidance_scale"),
        ({"prompt": "x", "guidance_scale": "3.5"}, "guidance_scale"),
        ({"prompt": "x", "safety_tolerance": "6"}, "safety_tolerance"),
        ({"prompt": "x", "safety_tolerance": 0}, "safety_tolerance"),
        ({"prompt": "x", "safety_tolerance": "strict"}, "safety_tolerance"),
        ({"prompt": "x", "enable_sync_mode": "yes"}, "enable_sync_mode"),
        (["prompt"], "JSON"),
    ],
)
def test_invalid_input_is_refused_naming_the_parameter(sim, body, parameter):
    response = call(sim, "POST", SUBMIT, body)
    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert parameter in response.json()["message"]
    assert len(sim.store) == 0


@pytest.mark.parametrize("raw", [b"{not json", b'{"prompt": "x", "guidance_scale": NaN}'])
def test_malformed_json_is_refused(sim, raw):
    response = requests.post(
        sim.url + SUBMIT, data=raw, timeout=5, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


def test_a_submit_answers_with_a_created_prediction(sim):
    before = datetime.now(UTC) - timedelta(seconds=1)
    data = submit(sim, prompt="a red kite", safety_tolerance=3)
    assert data["status"] == "created"
    assert len(data["id"]) == 32 and int(data["id"], 16) >= 0
    assert data["model"] == MODEL_ID
    assert data["outputs"] == [] and data["has_nsfw_contents"] == []
    assert data["error"] == "" and data["timings"] == {"inference": 0}
    assert data["executionTime"] == 0
    assert data["urls"]["get"] == f"{sim.url}/api/v3/predictions/{data['id']}/result"
    assert data["input"] == {
        "prompt": "a red kite",
        "aspect_ratio": "1:1",
        "seed": data["input"]["seed"],
        "guidance_scale": 3.5,
        "safety_tolerance": "3",
        "enable_sync_mode": False,
    }
    assert 0 <= data["input"]["seed"] <= 2_147_483_647
    created = data["created_at"]
    assert created.endswith("Z") and len(created) == len("2023-04-01T12:34:56.789Z")
    assert before <= datetime.fromisoformat(created) <= datetime.now(UTC)


def test_an_explicit_seed_is_kept_and_minus_one_means_random(sim):
    assert submit(sim, seed=42)["input"]["seed"] == 42
    assert submit(sim, seed=0)["input"]["seed"] == 0
    assert submit(sim, seed=-1)["input"]["seed"] >= 0


def test_links_follow_the_host_the_client_used(sim):
    port = sim.server_address[1]
    response = call(sim, "POST", SUBMIT, {"prompt": "x"}, headers={"Host": f"localhost:{port}"})
    data = response.json()["data"]
    assert data["urls"]["get"].startswith(f"http://localhost:{port}/api/v3/predictions/")


def test_the_balance_goes_down_four_cents_a_prediction(sim):
    start = call(sim, "GET", "/api/v3/balance").json()["data"]["balance"]
    assert start == 100.0
    submit(sim)
    submit(sim)
    assert call(sim, "GET", "/api/v3/balance").json()["data"]["balance"] == pytest.approx(99.92)


# --- life cycle -------------------------------------------------------------------------------


def test_a_prediction_goes_created_processing_completed(sim):
    data = submit(sim, prompt="[latency=1.5] a harbour")
    final, seen = wait_until_terminal(sim, data["id"])
    stages = [["created", "processing", "completed"].index(status) for status in seen]
    assert stages == sorted(set(stages))  # never back to an earlier stage
    assert "processing" in seen and seen[-1] == "completed"
    assert final["outputs"] == [f"{sim.url}/outputs/{data['id']}/0.png"]
    assert final["has_nsfw_contents"] == [False]
    assert final["timings"] == {"inference": 1500}
    assert final["error"] == ""


def test_status_follows_elapsed_time_on_the_store_clock():
    now = [100.0]
    store = Store(clock=lambda: now[0])
    prediction = store.add({"prompt": "x", "seed": 1, "aspect_ratio": "1:1"}, latency=10.0)
    for elapsed, status in [
        (0.0, "created"),
        (1.49, "created"),
        (1.5, "processing"),
        (9.99, "processing"),
        (10.0, "completed"),
        (999.0, "completed"),
    ]:
        now[0] = 100.0 + elapsed
        assert prediction.status_at(store.now()) == status, elapsed


def test_old_predictions_are_evicted():
    now = [0.0]
    store = Store(clock=lambda: now[0], retention=60.0, max_items=3)
    first = store.add({"prompt": "x"}, latency=1.0)
    now[0] = 61.0
    second = store.add({"prompt": "y"}, latency=1.0)
    assert store.get(first.id) is None and store.get(second.id) is not None
    for _ in range(4):
        store.add({"prompt": "z"}, latency=1.0)
    assert len(store) == 3


def test_an_unknown_prediction_is_404(sim):
    response = call(sim, "GET", "/api/v3/predictions/0123abcd/result")
    assert response.status_code == 404 and response.json()["code"] == 404


def test_a_prompt_marked_nsfw_is_flagged(sim):
    assert completed(sim, prompt="[nsfw] a statue")["has_nsfw_contents"] == [True]


@pytest.mark.parametrize(
    ("marker", "code", "words"),
    [
        ("[fail:1200]", 1200, "moderation"),
        ("[fail]", 5000, "internal error"),
        ("[FAIL:5003]", 5003, "unavailable"),
    ],
)
def test_a_prompt_marked_to_fail_fails_with_its_code(sim, marker, code, words):
    data = completed(sim, prompt=f"{marker} something")
    assert data["status"] == "failed"
    assert data["code"] == code and words in data["error"]
    assert data["outputs"] == []
    image = requests.get(f"{sim.url}/outputs/{data['id']}/0.png", timeout=5)
    assert image.status_code == 404


def test_a_prompt_marked_throttle_has_its_polls_refused_with_retry_after(sim):
    throttled = submit(sim, prompt="[throttle=60] a crowded queue")
    other = submit(sim, prompt="[latency=0] a free one")
    first = call(sim, "GET", f"/api/v3/predictions/{throttled['id']}/result")
    assert first.status_code == 429 and first.json()["code"] == 429
    assert first.headers["Retry-After"] == "60"
    again = call(sim, "GET", f"/api/v3/predictions/{throttled['id']}/result")
    assert again.status_code == 429 and 59 <= int(again.headers["Retry-After"]) <= 60
    # Only that prediction is throttled.
    assert result(sim, other["id"])["status"] == "completed"


def test_a_throttled_prediction_answers_again_once_its_time_is_up(sim):
    clock = [1000.0]
    sim.store.clock = lambda: clock[0]
    data = submit(sim, prompt="[throttle=5] [latency=1] a crowded queue")
    assert call(sim, "GET", f"/api/v3/predictions/{data['id']}/result").status_code == 429
    clock[0] += 4
    refused = call(sim, "GET", f"/api/v3/predictions/{data['id']}/result")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    clock[0] += 1
    assert result(sim, data["id"])["status"] == "completed"


def test_a_prompt_marked_hang_creates_the_task_then_holds_the_answer(sim):
    answers: list[requests.Response] = []
    started = time.monotonic()
    caller = threading.Thread(
        target=lambda: answers.append(call(sim, "POST", SUBMIT, {"prompt": "[hang=1] slow"}))
    )
    caller.start()
    deadline = time.monotonic() + 5
    while len(sim.store) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sim.store) == 1 and caller.is_alive()  # created, and still no answer
    caller.join(timeout=10)
    assert time.monotonic() - started >= 1
    assert answers[0].status_code == 200
    assert sim.store.get(answers[0].json()["data"]["id"]) is not None


@pytest.mark.parametrize(
    "sim_config",
    [replace(SimulatorConfig(), latency=0.05, seed=7, nsfw_rate=1.0, failure_rate=0.0)],
)
def test_the_nsfw_rate_flags_outputs(sim):
    assert completed(sim)["has_nsfw_contents"] == [True]


@pytest.mark.parametrize(
    "sim_config", [replace(SimulatorConfig(), latency=0.05, seed=7, failure_rate=1.0)]
)
def test_the_failure_rate_fails_predictions(sim):
    data = completed(sim)
    assert (data["status"], data["code"]) == ("failed", 5000)


def test_a_seeded_simulator_repeats_its_draws():
    config = replace(SimulatorConfig(), latency=0.0, nsfw_rate=0.5, failure_rate=0.3, seed=99)
    runs = []
    for _ in range(2):
        with serving(config) as server:
            answers = [submit(server, prompt=f"p{index}") for index in range(12)]
            finals = [result(server, answer["id"]) for answer in answers]
            runs.append(
                [
                    (a["input"]["seed"], f["status"], f["has_nsfw_contents"])
                    for a, f in zip(answers, finals, strict=True)
                ]
            )
    assert runs[0] == runs[1]
    assert len({status for _, status, _ in runs[0]}) == 2  # both outcomes were drawn


# --- images -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("aspect_ratio", "size"), list(OUTPUT_SIZES.items()))
def test_the_image_has_the_real_size_for_its_aspect_ratio(sim, aspect_ratio, size):
    data = completed(sim, prompt="[latency=0] a field", aspect_ratio=aspect_ratio)
    response = requests.get(data["outputs"][0], timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert int(response.headers["Content-Length"]) == len(response.content)
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == "PNG" and image.size == size


def test_outputs_are_public_and_absent_until_completed(sim):
    data = submit(sim, prompt="[latency=30] slow")
    assert requests.get(f"{sim.url}/outputs/{data['id']}/0.png", timeout=5).status_code == 404
    assert requests.get(f"{sim.url}/outputs/abcdef/0.png", timeout=5).status_code == 404
    done = completed(sim, prompt="[latency=0] quick")
    assert requests.get(f"{sim.url}/outputs/{done['id']}/1.png", timeout=5).status_code == 404
    head = requests.head(done["outputs"][0], timeout=5)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) > 1000


def test_the_same_inputs_give_the_same_bytes_and_others_differ(sim):
    first = completed(sim, prompt="[latency=0] a fox", seed=5, aspect_ratio="3:2")
    second = completed(sim, prompt="[latency=0] a fox", seed=5, aspect_ratio="3:2")
    other = completed(sim, prompt="[latency=0] a wolf", seed=5, aspect_ratio="3:2")
    fetched = [requests.get(d["outputs"][0], timeout=10).content for d in (first, second, other)]
    assert fetched[0] == fetched[1] != fetched[2]
    _render_cached.cache_clear()  # a fresh render, not the cached bytes, must match too
    assert render_png("[latency=0] a fox", 5, "3:2") == fetched[0]
    assert render_png("[latency=0] a fox", 6, "3:2") != fetched[0]


def test_render_png_is_quick_enough():
    _render_cached.cache_clear()
    for aspect_ratio in OUTPUT_SIZES:
        started = time.perf_counter()
        render_png(f"timing {aspect_ratio}", 1, aspect_ratio)
        assert time.perf_counter() - started < 1.0  # generous: shared CI machines are slow


def test_render_png_refuses_an_unknown_ratio():
    with pytest.raises(ValueError, match="aspect ratio"):
        render_png("x", 1, "5:4")


# --- sync mode --------------------------------------------------------------------------------


def test_sync_mode_answers_with_the_finished_prediction(sim):
    started = time.monotonic()
    data = submit(sim, prompt="[latency=0.4] sync", enable_sync_mode=True)
    assert time.monotonic() - started >= 0.4
    assert data["status"] == "completed"
    assert len(data["outputs"]) == 1 and data["has_nsfw_contents"] == [False]
    failed = submit(sim, prompt="[fail:1200] sync", enable_sync_mode=True)
    assert failed["status"] == "failed" and failed["code"] == 1200


@pytest.mark.parametrize("sim_config", [replace(SimulatorConfig(), latency=0.3, sync_wait_max=0.4)])
def test_sync_mode_that_runs_out_answers_processing_5004(sim):
    # 0.4 s in, a 2 s task is past its "created" share (0.3 s) and far from done.
    data = submit(sim, prompt="[latency=2] too slow", enable_sync_mode=True)
    assert data["status"] == "processing"
    assert data["code"] == 5004
    assert data["error"] == "Sync mode timed out, the task continues asynchronously"
    later = result(sim, data["id"])
    assert later["status"] == "processing" and "code" not in later


@pytest.mark.parametrize("sim_config", [replace(SimulatorConfig(), sync_wait_max=60.0)])
def test_closing_the_server_cuts_a_waiting_sync_request(sim):
    outcome: list[BaseException | int] = []

    def wait_in_sync_mode() -> None:
        try:
            outcome.append(
                call(
                    sim, "POST", SUBMIT, {"prompt": "[latency=60] x", "enable_sync_mode": True}
                ).status_code
            )
        except requests.ConnectionError as error:
            outcome.append(error)

    waiter = threading.Thread(target=wait_in_sync_mode)
    waiter.start()
    deadline = time.monotonic() + 5
    while len(sim.store) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    sim.shutdown()
    sim.server_close()
    waiter.join(timeout=5)
    assert time.monotonic() - started < 3
    assert len(outcome) == 1 and isinstance(outcome[0], requests.ConnectionError)


# --- history ----------------------------------------------------------------------------------


def test_the_history_lists_newest_first_with_filters(sim):
    failed = completed(sim, prompt="[fail] one")
    done = completed(sim, prompt="[latency=0] two")
    pending = submit(sim, prompt="[latency=30] three")

    def listing(**query: Any) -> dict[str, Any]:
        response = call(sim, "POST", "/api/v3/predictions", query)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    everything = listing()
    assert everything["page"] == 1 and everything["total"] == 3
    assert [item["id"] for item in everything["items"]] == [pending["id"], done["id"], failed["id"]]
    assert [i["id"] for i in listing(status="completed")["items"]] == [done["id"]]
    assert [i["id"] for i in listing(status="failed")["items"]] == [failed["id"]]
    assert listing(model=MODEL_ID)["total"] == 3
    assert listing(model="someone/else")["total"] == 0
    assert listing(created_after=pending["created_at"])["items"][0]["id"] == pending["id"]
    assert listing(created_after=pending["created_at"])["total"] == 1
    assert listing(created_before=failed["created_at"])["total"] == 1
    future = iso_ms(datetime.now(UTC) + timedelta(hours=1))
    assert listing(created_after=future)["total"] == 0
    page_two = listing(page=2, page_size=2)
    assert page_two["page"] == 2 and [i["id"] for i in page_two["items"]] == [failed["id"]]


def test_the_history_caps_the_page_size_at_100(sim):
    for index in range(105):
        sim.store.add({"prompt": f"p{index}", "seed": 1, "aspect_ratio": "1:1"}, latency=0.0)
    data = call(sim, "POST", "/api/v3/predictions", {"page_size": 500}).json()["data"]
    assert data["total"] == 105 and len(data["items"]) == 100


def test_history_items_carry_their_input_only_when_asked(sim):
    made = submit(sim, prompt="a quiet lake", seed=3)
    plain = call(sim, "POST", "/api/v3/predictions", {}).json()["data"]["items"]
    asked = call(sim, "POST", "/api/v3/predictions", {"include_inputs": True}).json()["data"]
    assert [item["id"] for item in plain] == [made["id"]] and "input" not in plain[0]
    assert asked["items"][0]["input"] == made["input"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"page": 0}, "page"),
        ({"page_size": "ten"}, "page_size"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"status": "sleeping"}, "status"),
        ({"include_inputs": "yes"}, "include_inputs"),
    ],
)
def test_the_history_refuses_bad_filters(sim, query, parameter):
    response = call(sim, "POST", "/api/v3/predictions", query)
    assert response.status_code == 400 and parameter in response.json()["message"]


# --- faults -----------------------------------------------------------------------------------


def faulty(spec: str) -> SimulatorConfig:
    """A fast config with the given SIMULATOR_FAULTS text."""
    return replace(SimulatorConfig(), latency=0.1, seed=1, faults=Faults.parse(spec))


@pytest.mark.parametrize("sim_config", [faulty("500=1.0")])
def test_with_500_faults_every_api_call_fails(sim):
    for method, path in [
        ("GET", "/api/v3/balance"),
        ("POST", SUBMIT),
        ("GET", "/api/v3/predictions/x/result"),
        ("POST", "/api/v3/predictions"),
    ]:
        response = call(sim, method, path, {"prompt": "x"})
        assert response.status_code == 500 and response.json()["code"] == 500
    assert requests.get(sim.url + "/healthz", timeout=5).status_code == 200
    assert len(sim.store) == 0


@pytest.mark.parametrize("sim_config", [faulty("429=1.0")])
def test_with_429_faults_calls_are_rate_limited_with_retry_after(sim):
    response = call(sim, "POST", SUBMIT, {"prompt": "x"})
    assert response.status_code == 429 and response.json()["code"] == 429
    assert response.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    ("sim_config", "status"), [(faulty("502=1.0"), 502), (faulty("503=1.0"), 503)]
)
def test_with_gateway_faults_calls_answer_that_status(sim, status):
    response = call(sim, "POST", SUBMIT, {"prompt": "x"})
    assert response.status_code == status and response.json()["code"] == status
    assert len(sim.store) == 0
    assert sim.tally.snapshot() == {str(status): 1}


@pytest.mark.parametrize("sim_config", [faulty("429_bare=1.0")])
def test_with_bare_429_faults_calls_are_rate_limited_without_retry_after(sim):
    response = call(sim, "GET", "/api/v3/balance")
    assert response.status_code == 429 and "Retry-After" not in response.headers
    assert sim.tally.snapshot() == {"429_bare": 1}


@pytest.mark.parametrize("sim_config", [faulty("drop=1.0")])
def test_with_drop_faults_the_client_sees_a_connection_error(sim):
    with pytest.raises(requests.ConnectionError):
        call(sim, "GET", "/api/v3/balance")
    assert requests.get(sim.url + "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("sim_config", "created"),
    [(faulty("drop=1,drop_created=1"), 1), (faulty("drop=1,drop_created=0"), 0)],
)
def test_a_dropped_submit_may_have_created_the_task(sim, created):
    with pytest.raises(requests.ConnectionError):
        call(sim, "POST", SUBMIT, {"prompt": "x"})
    assert len(sim.store) == created
    assert sim.tally.snapshot() == {"drop_created" if created else "drop": 1}


@pytest.mark.parametrize(
    ("sim_config", "status"),
    [(faulty("slow=1.0,slow_seconds=0.3"), 200), (faulty("slow=1,slow_seconds=0.3,500=1"), 500)],
)
def test_with_slow_faults_answers_come_late(sim, status):
    started = time.monotonic()
    response = call(sim, "GET", "/api/v3/balance")
    assert time.monotonic() - started >= 0.3
    assert response.status_code == status


@pytest.mark.parametrize("sim_config", [faulty("hide_inputs=1")])
def test_the_hide_inputs_fault_leaves_inputs_out_even_when_asked(sim):
    submit(sim)
    asked = call(sim, "POST", "/api/v3/predictions", {"include_inputs": True}).json()["data"]
    assert asked["total"] == 1 and "input" not in asked["items"][0]


# --- markers for provider faults ------------------------------------------------------------


def on_a_manual_clock(sim: SimulatorServer) -> list[float]:
    """Give the simulator a store whose clock moves only when the test moves it."""
    now = [1000.0]
    sim.store = Store(clock=lambda: now[0])
    return now


@pytest.mark.parametrize("code", [1400, 5003])
def test_a_refuse_marker_answers_http_200_with_the_task_code_and_creates_nothing(sim, code):
    response = call(sim, "POST", SUBMIT, {"prompt": f"[refuse:{code}] a dog"})
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == code and body["data"] is None and body["message"]
    assert len(sim.store) == 0


def test_a_lost_answer_marker_creates_the_task_and_drops_the_connection(sim):
    with pytest.raises(requests.ConnectionError):
        call(sim, "POST", SUBMIT, {"prompt": "[lose-answer] a cat"})
    [created] = sim.store.query()
    assert created.input["prompt"] == "[lose-answer] a cat"


def test_a_hang_marker_creates_the_task_then_waits_before_answering(sim):
    data = submit(sim, prompt="[hang=0.5] a slow answer")
    answered = datetime.now(UTC)
    assert datetime.fromisoformat(data["created_at"]) <= answered - timedelta(seconds=0.5)


def test_a_hang_before_marker_waits_then_creates_the_task(sim):
    sent = datetime.now(UTC) - timedelta(milliseconds=1)
    data = submit(sim, prompt="[hang-before=0.5] a late task")
    assert datetime.fromisoformat(data["created_at"]) >= sent + timedelta(seconds=0.5)


def test_a_throttle_marker_answers_429_with_retry_after_until_its_window_passes(sim):
    now = on_a_manual_clock(sim)
    made = submit(sim, prompt="[throttle=60] a busy one")
    path = f"/api/v3/predictions/{made['id']}/result"
    first = call(sim, "GET", path)
    assert first.status_code == 429 and first.json()["code"] == 429
    assert first.headers["Retry-After"] == "60"
    now[0] += 45
    assert call(sim, "GET", path).headers["Retry-After"] == "15"
    other = submit(sim, prompt="a calm one")
    assert call(sim, "GET", f"/api/v3/predictions/{other['id']}/result").status_code == 200
    now[0] += 15
    assert call(sim, "GET", path).status_code == 200


def test_a_vanish_once_marker_answers_404_once_then_the_prediction(sim):
    made = submit(sim, prompt="[vanish-once] a shy one")
    path = f"/api/v3/predictions/{made['id']}/result"
    assert call(sim, "GET", path).status_code == 404
    assert call(sim, "GET", path).json()["data"]["id"] == made["id"]
    assert call(sim, "GET", path).status_code == 200


def test_the_record_lists_every_prediction_and_counts_the_faults_by_kind(sim):
    plain = submit(sim, prompt="a plain one")
    call(sim, "POST", SUBMIT, {"prompt": "[refuse:1400] refused"})
    failing = submit(sim, prompt="[fail:1200] a refused image")
    with pytest.raises(requests.ConnectionError):
        call(sim, "POST", SUBMIT, {"prompt": "[lose-answer] [fail] lost"})
    vanishing = submit(sim, prompt="[vanish-once] shy")
    call(sim, "GET", f"/api/v3/predictions/{vanishing['id']}/result")
    assert call(sim, "GET", "/_sim/record", key=None).status_code == 401
    record = call(sim, "GET", "/_sim/record").json()["data"]
    assert [(item["prompt"], item["model"]) for item in record["predictions"]] == [
        ("a plain one", MODEL_ID),
        ("[fail:1200] a refused image", MODEL_ID),
        ("[lose-answer] [fail] lost", MODEL_ID),
        ("[vanish-once] shy", MODEL_ID),
    ]
    assert record["predictions"][0]["id"] == plain["id"]
    assert record["predictions"][1]["id"] == failing["id"]
    assert record["faults"] == {
        "refused_submit_1xxx": 1,
        "task_failed_1xxx": 1,
        "task_failed_5xxx": 1,
        "lost_answer": 1,
        "vanished_result": 1,
    }


def test_the_record_says_when_each_prediction_finished_and_how_often_it_was_read(sim):
    before = time.time()
    made = submit(sim, prompt="[latency=0.4] counted")
    untouched = submit(sim, prompt="[latency=0.4] never read")
    for _ in range(3):
        call(sim, "GET", f"/api/v3/predictions/{made['id']}/result")
    finished, _ = wait_until_terminal(sim, made["id"])
    assert requests.get(finished["outputs"][0], timeout=15).status_code == 200

    record = call(sim, "GET", "/_sim/record").json()["data"]
    items = {item["id"]: item for item in record["predictions"]}
    # The waits above read the result too: at least the three counted ones.
    assert items[made["id"]]["result_gets"] >= 4
    assert items[made["id"]]["downloads"] == 1
    assert (items[untouched["id"]]["result_gets"], items[untouched["id"]]["downloads"]) == (0, 0)
    # Seconds since the epoch: submitted after `before`, finished 0.4 s later.
    assert before + 0.4 <= items[made["id"]]["finished_at"] <= time.time()


def test_the_record_says_when_a_poll_first_saw_each_prediction_end(sim):
    made = submit(sim, prompt="[latency=1.5] watched")
    unseen = submit(sim, prompt="[latency=1.5] ended unseen")
    path = f"/api/v3/predictions/{made['id']}/result"
    assert call(sim, "GET", path).json()["data"]["status"] != "completed"

    def seen() -> dict:
        record = call(sim, "GET", "/_sim/record").json()["data"]
        return {item["id"]: item for item in record["predictions"]}

    assert seen()[made["id"]]["end_seen_at"] is None  # read, but still running
    wait_until_terminal(sim, made["id"])  # polls until it answers "completed"
    first_seen = seen()[made["id"]]["end_seen_at"]
    # Seconds since the epoch, converted from the simulator's clock at each read: to 1 ms.
    assert seen()[made["id"]]["finished_at"] - 0.001 <= first_seen <= time.time()
    call(sim, "GET", path)
    # The first answer, not the last.
    assert seen()[made["id"]]["end_seen_at"] == pytest.approx(first_seen, abs=0.001)
    deadline = time.monotonic() + 10
    while seen()[unseen["id"]]["status"] != "completed":  # the record is no result GET
        assert time.monotonic() < deadline, "the prediction never ended"
        time.sleep(0.05)
    assert seen()[unseen["id"]]["end_seen_at"] is None  # ended, never asked about


def test_outputs_rendered_ahead_are_served_without_rendering_again(sim, monkeypatch):
    wanted = {"prompt": "rendered ahead", "seed": 42, "aspect_ratio": "16:9"}
    assert call(sim, "POST", "/_sim/prerender", {"outputs": [wanted]}, key=None).status_code == 401
    answer = call(sim, "POST", "/_sim/prerender", {"outputs": [wanted]})
    assert answer.json()["data"] == {"rendered": 1}

    def no_rendering(*args: Any) -> None:
        raise AssertionError("rendered again")

    # Rendering would paint a background first: from now on, only the cache can serve it.
    monkeypatch.setattr(images, "_background", no_rendering)
    made = submit(sim, prompt="rendered ahead", seed=42, aspect_ratio="16:9")
    finished, _ = wait_until_terminal(sim, made["id"])
    served = requests.get(finished["outputs"][0], timeout=15)
    assert served.status_code == 200
    assert Image.open(io.BytesIO(served.content)).size == OUTPUT_SIZES["16:9"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        {},
        {"outputs": {"prompt": "not a list"}},
        {"outputs": ["a prompt"]},
        {"outputs": [{"prompt": "no seed", "aspect_ratio": "1:1"}]},
        {"outputs": [{"prompt": "x", "seed": "12", "aspect_ratio": "1:1"}]},
        {"outputs": [{"prompt": "x", "seed": True, "aspect_ratio": "1:1"}]},
        {"outputs": [{"prompt": "x", "seed": 1.5, "aspect_ratio": "1:1"}]},
        b'{"outputs": [{"prompt": "x", "seed": Infinity, "aspect_ratio": "1:1"}]}',
        {"outputs": [{"prompt": "x", "seed": 2**40, "aspect_ratio": "1:1"}]},
        {"outputs": [{"prompt": None, "seed": 1, "aspect_ratio": "1:1"}]},
        {"outputs": [{"prompt": "x", "seed": 1, "aspect_ratio": "5:4"}]},
        {"outputs": [{"prompt": "x", "seed": n, "aspect_ratio": "1:1"} for n in range(257)]},
    ],
)
def test_a_bad_prerender_request_is_refused_with_a_reason(sim, body):
    if isinstance(body, bytes):
        answer = requests.post(
            f"{sim.url}/_sim/prerender",
            data=body,
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
            timeout=15,
        )
    else:
        answer = call(sim, "POST", "/_sim/prerender", body)
    assert answer.status_code == 400 and answer.json()["message"]


def test_a_prerender_request_is_checked_whole_before_anything_is_rendered(sim, monkeypatch):
    rendered: list[tuple] = []
    monkeypatch.setattr(routes, "render_png", lambda *inputs: rendered.append(inputs))
    good = {"prompt": "fine", "seed": 1, "aspect_ratio": "1:1"}
    bad = {"prompt": "odd ratio", "seed": 2, "aspect_ratio": "5:4"}
    assert call(sim, "POST", "/_sim/prerender", {"outputs": [good, bad]}).status_code == 400
    assert rendered == []


def test_a_revoked_key_is_refused_everywhere_until_restored(sim):
    made = submit(sim)
    assert call(sim, "POST", "/_sim/revoke-key", key=None).status_code == 401
    assert call(sim, "POST", "/_sim/revoke-key").json()["data"] == {"key_revoked": True}
    for method, path in [
        ("GET", f"/api/v3/predictions/{made['id']}/result"),
        ("POST", SUBMIT),
        ("POST", "/api/v3/predictions"),
        ("GET", "/api/v3/balance"),
    ]:
        response = call(sim, method, path, {"prompt": "x"})
        assert response.status_code == 401 and response.json()["code"] == 401, path
    assert len(sim.store) == 1
    call(sim, "POST", "/_sim/restore-key")
    assert call(sim, "GET", "/api/v3/balance").status_code == 200
    sim.revoke_key()
    assert call(sim, "GET", "/api/v3/balance").status_code == 401
    sim.restore_key()
    assert call(sim, "GET", "/api/v3/balance").status_code == 200


# --- concurrency ------------------------------------------------------------------------------


def test_fifty_concurrent_submits_all_succeed_with_distinct_ids(sim):
    def one(index: int) -> requests.Response:
        return call(sim, "POST", SUBMIT, {"prompt": f"crowd {index}"})

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(one, range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    assert len({r.json()["data"]["id"] for r in responses}) == 50
    assert len(sim.store) == 50


# --- the official client, unchanged -----------------------------------------------------------


def test_the_official_client_runs_a_prediction_end_to_end(sim):
    import wavespeed

    client = wavespeed.Client(api_key=KEY, base_url=sim.url)
    out = client.run(
        MODEL_ID,
        {"prompt": "A paper boat on a puddle", "aspect_ratio": "16:9", "seed": 42},
        poll_interval=0.1,
        timeout=30,
    )
    image = requests.get(out["outputs"][0], timeout=10)
    with Image.open(io.BytesIO(image.content)) as png:
        assert png.format == "PNG" and png.size == (1392, 752)


def test_the_official_client_in_sync_mode(sim):
    import wavespeed

    client = wavespeed.Client(api_key=KEY, base_url=sim.url)
    out = client.run(
        MODEL_ID,
        {"prompt": "a quiet street", "aspect_ratio": "9:16"},
        enable_sync_mode=True,
        timeout=30,
    )
    with Image.open(io.BytesIO(requests.get(out["outputs"][0], timeout=10).content)) as png:
        assert png.size == (752, 1392)


def test_the_official_client_reports_a_failed_task(sim):
    import wavespeed

    client = wavespeed.Client(api_key=KEY, base_url=sim.url)
    with pytest.raises(RuntimeError, match="moderation"):
        client.run(MODEL_ID, {"prompt": "[fail:1200] x"}, poll_interval=0.1, timeout=30)
    outcome = client.run_no_throw(MODEL_ID, {"prompt": "[fail] x"}, enable_sync_mode=True)
    assert outcome["status"] == "failed" and "internal error" in outcome["error"]
    assert outcome["task_id"] != "unknown"


# --- configuration ----------------------------------------------------------------------------


def test_the_config_defaults_without_variables():
    config = SimulatorConfig.from_env({})
    assert config == SimulatorConfig()
    assert (config.api_key, config.latency, config.sync_wait_max, config.seed) == (
        "simulator",
        3.0,
        90.0,
        None,
    )
    assert config.faults == Faults() and not config.faults.any


def test_the_config_reads_every_variable():
    config = SimulatorConfig.from_env(
        {
            "SIMULATOR_API_KEY": "k",
            "SIMULATOR_LATENCY": "0.5",
            "SIMULATOR_NSFW_RATE": "0.25",
            "SIMULATOR_FAILURE_RATE": "1",
            "SIMULATOR_SYNC_WAIT": "12",
            "SIMULATOR_RANDOM_SEED": "-3",
            "SIMULATOR_FAULTS": (
                "500=0.1, 429=0.05,drop=0.02,slow=0.1,slow_seconds=3,drop_created=1,"
                "hide_inputs=0.5,502=0.03,503=0.04,429_bare=0.06"
            ),
        }
    )
    assert config == SimulatorConfig(
        api_key="k",
        latency=0.5,
        nsfw_rate=0.25,
        failure_rate=1.0,
        sync_wait_max=12.0,
        seed=-3,
        faults=Faults(
            server_error=0.1,
            bad_gateway=0.03,
            unavailable=0.04,
            rate_limited=0.05,
            rate_limited_bare=0.06,
            drop=0.02,
            slow=0.1,
            slow_seconds=3.0,
            drop_created=1.0,
            hide_inputs=0.5,
        ),
    )
    assert SimulatorConfig.from_env({"SIMULATOR_LATENCY": "  "}).latency == 3.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SIMULATOR_LATENCY", "fast"),
        ("SIMULATOR_LATENCY", "-1"),
        ("SIMULATOR_LATENCY", "nan"),
        ("SIMULATOR_NSFW_RATE", "1.5"),
        ("SIMULATOR_NSFW_RATE", "-0.1"),
        ("SIMULATOR_FAILURE_RATE", "often"),
        ("SIMULATOR_SYNC_WAIT", "inf"),
        ("SIMULATOR_RANDOM_SEED", "1.5"),
        ("SIMULATOR_FAULTS", "500"),
        ("SIMULATOR_FAULTS", "504=0.1"),
        ("SIMULATOR_FAULTS", "429=2"),
        ("SIMULATOR_FAULTS", "drop=x"),
        ("SIMULATOR_FAULTS", "slow_seconds=-1"),
        ("SIMULATOR_FAULTS", "hide_inputs=1.5"),
    ],
)
def test_the_config_refuses_malformed_values_naming_the_variable(variable, value):
    with pytest.raises(ValueError, match=variable):
        SimulatorConfig.from_env({variable: value})


# --- the command line -------------------------------------------------------------------------


@pytest.mark.process
def test_the_simulator_and_the_client_run_where_django_cannot_be_imported():
    # None in sys.modules makes every `import django` raise ImportError.
    code = (
        "import sys; sys.modules['django'] = None; "
        "import generations.wavespeed.simulator.server, generations.wavespeed.simulator.__main__, "
        "generations.wavespeed.client"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.process
def test_the_command_line_serves_and_stops_cleanly_on_sigint():
    port = free_port()
    env = {**os.environ, "SIMULATOR_LATENCY": "0.1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "generations.wavespeed.simulator", "--port", str(port), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        ready = False
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
            except requests.ConnectionError:
                time.sleep(0.05)  # not listening yet; the deadline bounds the wait
            if ready:
                break
        assert ready, process.stderr.read() if process.poll() is not None else "no answer"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert stdout.splitlines()[0] == f"WaveSpeed simulator listening on http://127.0.0.1:{port}"


@pytest.mark.process
def test_the_command_line_refuses_a_bad_configuration():
    env = {**os.environ, "SIMULATOR_NSFW_RATE": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "generations.wavespeed.simulator", "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "SIMULATOR_NSFW_RATE" in done.stderr
