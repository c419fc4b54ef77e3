"""Webhooks: the signature check on its own, the client's part, the simulator's calls, and the
receiver applying a finished prediction once, whichever of the call and a poll comes first."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations import following, provider, submission, sweeper, tasks
from generations import webhooks as receiver
from generations.models import Generation, WebhookDelivery
from generations.wavespeed import client as ws
from generations.wavespeed import webhooks as signing
from generations.wavespeed.simulator.config import SimulatorConfig
from playground import launcher
from playground.env import InvalidSetting, env_http_url
from tests.apprunner import wait_for

S = Generation.Status
SECRET = "whsec_c2VjcmV0LWZvci10ZXN0cw"
URL = "/webhooks/wavespeed/"
BODY = b'{"id":"p-1","status":"completed","outputs":["https://cdn.wavespeed.ai/p-1/0.png"]}'
NOW = 1_764_000_000


def headers_for(body: bytes, secret: str = SECRET, webhook_id: str = "wh-1", at: int = NOW):
    return signing.sign(secret, webhook_id, at, body)


# --- the signature check, without Django ---------------------------------------------------


def test_a_call_signed_with_the_secret_is_verified():
    verified = signing.verify(SECRET, headers_for(BODY), BODY, now=NOW + 5)
    assert verified == signing.Verified("wh-1", NOW)


def test_the_signature_is_the_documented_hmac_of_id_timestamp_and_body():
    # HMAC-SHA256 over "{id}.{timestamp}.{body}", keyed with the text after whsec_ (not decoded).
    key = SECRET.removeprefix("whsec_").encode()
    expected = hmac.new(key, b"wh-1.%d." % NOW + BODY, hashlib.sha256).hexdigest()
    assert headers_for(BODY)["webhook-signature"] == f"v3,{expected}"
    assert signing.signature("c2VjcmV0LWZvci10ZXN0cw", "wh-1", NOW, BODY) == expected


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("another secret", lambda h, b: (headers_for(b, secret="whsec_other"), b)),
        ("an altered body", lambda h, b: (h, b.replace(b"completed", b"failed"))),
        ("another id", lambda h, b: ({**h, "webhook-id": "wh-2"}, b)),
        ("another timestamp", lambda h, b: ({**h, "webhook-timestamp": str(NOW + 1)}, b)),
        ("a made-up signature", lambda h, b: ({**h, "webhook-signature": "v3," + "a" * 64}, b)),
    ],
)
def test_a_forged_or_altered_call_is_refused(what, change):
    headers, body = change(headers_for(BODY), BODY)
    with pytest.raises(signing.ForgedWebhook):
        signing.verify(SECRET, headers, body, now=NOW)


@pytest.mark.parametrize("age", [301, -301, 10_000])
def test_a_call_signed_too_long_ago_or_in_the_future_is_stale(age):
    with pytest.raises(signing.StaleWebhook):
        signing.verify(SECRET, headers_for(BODY), BODY, now=NOW + age)


def test_a_stale_call_is_refused_even_with_a_valid_signature_at_the_window_edge():
    assert signing.verify(SECRET, headers_for(BODY), BODY, now=NOW + 300)
    with pytest.raises(signing.StaleWebhook):
        signing.verify(SECRET, headers_for(BODY), BODY, now=NOW + 300.5)


@pytest.mark.parametrize(
    "changes",
    [
        {"webhook-id": ""},
        {"webhook-timestamp": ""},
        {"webhook-signature": ""},
        {"webhook-timestamp": "yesterday"},
        {"webhook-timestamp": "-5"},
        {"webhook-timestamp": "1e9"},
        {"webhook-id": "x" * 129},
        {"webhook-id": "a b"},
        {"webhook-signature": "v1,abc"},
        {"webhook-signature": "v3,not-hex"},
        {"webhook-signature": "v3," + "a" * 63},
        {"webhook-signature": "sha256=" + "a" * 64},
    ],
)
def test_malformed_headers_are_refused_before_any_signature_is_computed(changes):
    with pytest.raises(signing.MalformedWebhook):
        signing.verify(SECRET, {**headers_for(BODY), **changes}, BODY, now=NOW)


def test_one_matching_signature_among_several_is_enough():
    good = headers_for(BODY)["webhook-signature"]
    listed = {**headers_for(BODY), "webhook-signature": f"v1,zzz v3,{'0' * 64} {good}"}
    assert signing.verify(SECRET, listed, BODY, now=NOW).webhook_id == "wh-1"


def test_a_secret_without_its_prefix_signs_alike_and_an_empty_one_is_refused():
    assert signing.signature("whsec_abc", "i", 1, b"") == signing.signature("abc", "i", 1, b"")
    with pytest.raises(ValueError, match="empty"):
        signing.signing_key("whsec_")


def test_the_verifier_runs_where_django_cannot_be_imported():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['django'] = None\n"
        "from generations.wavespeed import webhooks as w\n"
        "h = w.sign('whsec_k', 'i', 100, b'{}')\n"
        "print(w.verify('whsec_k', h, b'{}', now=100).webhook_id)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "i"


# --- the client's part -------------------------------------------------------------------------

API = "https://api.example.test"


@responses.activate
def test_the_client_reads_the_webhook_secret():
    responses.get(
        f"{API}/api/v3/webhook/secret",
        json={"code": 200, "message": "success", "data": {"secret": SECRET}},
    )
    with ws.WaveSpeedClient("key", API) as client:
        assert client.get_webhook_secret() == SECRET
    assert responses.calls[0].request.headers["Authorization"] == "Bearer key"


@pytest.mark.parametrize("data", [{}, {"secret": ""}, {"secret": 5}, None, []])
@responses.activate
def test_a_secret_answer_without_a_secret_is_a_protocol_error(data):
    responses.get(
        f"{API}/api/v3/webhook/secret", json={"code": 200, "message": "success", "data": data}
    )
    with ws.WaveSpeedClient("key", API) as client, pytest.raises(ws.ProtocolError):
        client.get_webhook_secret()


@responses.activate
def test_a_refused_key_on_the_secret_is_an_authentication_error():
    responses.get(f"{API}/api/v3/webhook/secret", status=401, json={"code": 401, "message": "no"})
    with ws.WaveSpeedClient("key", API) as client, pytest.raises(ws.AuthenticationError):
        client.get_webhook_secret()


@responses.activate
def test_a_submit_carries_the_webhook_as_a_query_parameter_only_when_given():
    created = {"id": "p-1", "status": "created", "model": ws.MODEL_ID}
    responses.post(
        f"{API}/api/v3/{ws.MODEL_ID}", json={"code": 200, "message": "ok", "data": created}
    )
    hook = "https://playground.example.com/webhooks/wavespeed/"
    with ws.WaveSpeedClient("key", API) as client:
        client.submit({"prompt": "a"}, webhook=hook)
        client.submit({"prompt": "b"})
    with_hook, without = (call.request.url for call in responses.calls)
    assert with_hook == (
        f"{API}/api/v3/{ws.MODEL_ID}?webhook=https%3A%2F%2Fplayground.example.com"
        "%2Fwebhooks%2Fwavespeed%2F"
    )
    assert without == f"{API}/api/v3/{ws.MODEL_ID}"


# --- settings and make run ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://playground.example.com", "https://playground.example.com"),
        ("https://playground.example.com/", "https://playground.example.com"),
        ("http://127.0.0.1:8000/team/", "http://127.0.0.1:8000/team"),
        ("  ", ""),
    ],
)
def test_public_base_url_is_an_http_url_without_its_trailing_slash(raw, expected):
    assert env_http_url("PUBLIC_BASE_URL", environ={"PUBLIC_BASE_URL": raw}) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "playground.example.com",
        "ftp://example.com",
        "https://",
        "https://example.com/?a=1",
        "https://example.com/#top",
        "https://user:pw@example.com",
        "http://example.com:99999",
        "javascript:alert(1)",
    ],
)
def test_a_public_base_url_that_is_no_http_url_is_refused_naming_it(raw):
    with pytest.raises(InvalidSetting, match="PUBLIC_BASE_URL"):
        env_http_url("PUBLIC_BASE_URL", environ={"PUBLIC_BASE_URL": raw})


def test_make_run_points_webhooks_at_its_own_server_in_simulator_mode_only():
    simulated = launcher.children_environment({}, simulated=True, host="0.0.0.0", port=8123)
    assert simulated["PUBLIC_BASE_URL"] == "http://127.0.0.1:8123"
    real = launcher.children_environment({}, simulated=False, host="127.0.0.1", port=8123)
    assert "PUBLIC_BASE_URL" not in real
    chosen = {"PUBLIC_BASE_URL": "https://tunnel.example.com"}
    kept = launcher.children_environment(chosen, simulated=True, host="127.0.0.1", port=8123)
    assert kept["PUBLIC_BASE_URL"] == "https://tunnel.example.com"
    ipv6 = launcher.children_environment({}, simulated=True, host="::1", port=8123)
    assert ipv6["PUBLIC_BASE_URL"] == "http://[::1]:8123"
    polling = {"SIMULATOR_WEBHOOKS": "false"}
    alone = launcher.children_environment(polling, simulated=True, host="127.0.0.1", port=8123)
    assert "PUBLIC_BASE_URL" not in alone


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000", True),
        ("http://10.1.2.3", True),
        ("http://[::1]:8000", True),
        ("https://playground.example.com", False),
        ("https://8.8.8.8", False),
    ],
)
def test_make_run_warns_of_a_public_base_url_the_api_cannot_reach(url, local):
    assert launcher.unreachable_from_outside(url) is local


# --- the simulator's calls ---------------------------------------------------------------------


class Catcher(ThreadingHTTPServer):
    """A webhook receiver on loopback that keeps every call and answers from a script."""

    daemon_threads = True

    def __init__(self, answers: list[int] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _CatcherHandler)
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.answers = list(answers or [])
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _CatcherHandler(BaseHTTPRequestHandler):
    server: Catcher

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = self.server.answers.pop(0) if self.server.answers else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture
def catcher() -> Iterator[Catcher]:
    server = Catcher()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def sim_record(simulator) -> dict[str, dict]:
    """The simulator's record of each prediction, by id."""
    import requests

    answer = requests.get(
        f"{simulator.url}/_sim/record", headers={"Authorization": "Bearer simulator"}, timeout=5
    )
    return {item["id"]: item for item in answer.json()["data"]["predictions"]}


def delivered_summary(simulator, prediction_id: str) -> dict:
    """The simulator's webhook summary for a prediction, once it has recorded the delivery."""

    def summary():
        found = sim_record(simulator)[prediction_id]["webhook"]
        return found if found and found["delivered"] else None

    return wait_for(summary, 10, "the simulator to record the delivery", 0.05)


def test_the_simulator_signs_its_calls_as_our_verifier_expects(simulator, catcher):
    with ws.WaveSpeedClient("simulator", simulator.url) as client:
        secret = client.get_webhook_secret()
        created = client.submit({"prompt": "A kite [latency=0.2]"}, webhook=catcher.url)
    [(headers, body)] = wait_for(lambda: list(catcher.calls), 10, "a webhook call", 0.05)
    assert secret.startswith("whsec_")
    verified = signing.verify(secret, headers, body)
    assert abs(verified.timestamp - time.time()) < 60
    prediction = ws.Prediction.from_api(json.loads(body))
    assert (prediction.id, prediction.status) == (created.id, "completed")
    assert prediction.outputs and headers["content-type"] == "application/json"
    # The catcher answers before the simulator records the delivery: wait for the record.
    assert delivered_summary(simulator, created.id)["delivered"] is True


def test_a_failed_prediction_is_called_back_too(simulator, catcher):
    with ws.WaveSpeedClient("simulator", simulator.url) as client:
        client.submit({"prompt": "A kite [fail:1200] [latency=0.1]"}, webhook=catcher.url)
    [(_, body)] = wait_for(lambda: list(catcher.calls), 10, "a webhook call", 0.05)
    prediction = ws.Prediction.from_api(json.loads(body))
    assert (prediction.status, prediction.error_code) == ("failed", 1200)


def test_the_simulator_retries_a_call_not_answered_2xx_with_the_same_id(simulator, catcher):
    catcher.answers = [500, 503]
    with ws.WaveSpeedClient("simulator", simulator.url) as client:
        created = client.submit({"prompt": "A kite [latency=0.1]"}, webhook=catcher.url)
    calls = wait_for(lambda: catcher.calls[2:] and list(catcher.calls), 15, "3 attempts", 0.05)
    assert len({headers["webhook-id"] for headers, _ in calls}) == 1
    summary = delivered_summary(simulator, created.id)
    assert (summary["attempts"], summary["delivered"]) == (3, True)
    faults = simulator.tally.snapshot()
    assert faults["webhook_answered_500"] == faults["webhook_answered_503"] == 1


def test_a_marked_prompt_loses_its_first_attempts_and_is_delivered_later(simulator, catcher):
    with ws.WaveSpeedClient("simulator", simulator.url) as client:
        created = client.submit({"prompt": "A kite without a webhook"})
        client.submit({"prompt": "A kite [webhook-fail=2] [latency=0.1]"}, webhook=catcher.url)
    wait_for(lambda: catcher.calls, 15, "a delivery after two lost attempts", 0.05)

    def delivered_record():
        found = sim_record(simulator)
        delivered = any((item["webhook"] or {}).get("delivered") for item in found.values())
        return found if delivered else None

    record = wait_for(delivered_record, 10, "the simulator to record the delivery", 0.05)
    summaries = [item["webhook"] for item in record.values() if item["webhook"]]
    assert [(s["attempts"], s["delivered"]) for s in summaries] == [(3, True)]
    assert record[created.id]["webhook"] is None  # no webhook asked: none sent
    assert simulator.tally.snapshot()["webhook_lost"] == 2


def test_a_failure_rate_of_one_loses_every_attempt(catcher):
    from tests.services import serving

    config = replace(SimulatorConfig(), latency=0.05, webhook_failure_rate=1.0)
    with serving(config) as server:
        with ws.WaveSpeedClient("simulator", server.url) as client:
            client.submit({"prompt": "A kite"}, webhook=catcher.url)
        wait_for(lambda: server.tally.snapshot().get("webhook_lost", 0) >= 2, 10, "2 losses")
    assert catcher.calls == []


def test_a_submit_with_a_webhook_that_is_no_http_url_is_refused(simulator):
    with (
        ws.WaveSpeedClient("simulator", simulator.url) as client,
        pytest.raises(ws.InvalidRequestError, match="webhook"),
    ):
        client.submit({"prompt": "A kite"}, webhook="ftp://example.com/hook")


def test_the_record_counts_each_predictions_result_reads(simulator):
    with ws.WaveSpeedClient("simulator", simulator.url) as client:
        created = client.submit({"prompt": "A kite"})
        for _ in range(3):
            client.get_result(created.id)
    assert sim_record(simulator)[created.id]["result_gets"] == 3


# --- the receiver, against the real database ---------------------------------------------------

pipeline = pytest.mark.django_db(transaction=True)
PARAMS = {
    "prompt": "A heron in the reeds",
    "aspect_ratio": "1:1",
    "seed": 3,
    "guidance_scale": 3.5,
    "safety_tolerance": "2",
}


@pytest.fixture(autouse=True)
def fresh_secret():
    """Each test's process starts with no secret held, as a new web process does."""
    receiver.secret.forget()
    yield
    receiver.secret.forget()


@pytest.fixture
def webhooks_on(simulator, settings):
    """Webhooks on: submits name a receiver (nobody listens there; tests post the calls)."""
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"
    settings.WEBHOOK_POLL_INTERVAL_SECONDS = 30.0
    return simulator


def processing(owner, prompt: str = PARAMS["prompt"]) -> Generation:
    """A generation submitted through the sweeper, its prediction running at the simulator."""
    [generation] = submission.create_batch(owner, {**PARAMS, "prompt": prompt})
    sweeper.sweep_once(timezone.now())
    generation.refresh_from_db()
    assert generation.status == S.PROCESSING, generation.error_detail
    return generation


def finished_body(simulator, generation: Generation) -> bytes:
    """The prediction as the API calls back with it, once it has ended."""
    prediction = simulator.store.get(generation.prediction_id)
    wait_for(
        lambda: prediction.remaining(simulator.store.now()) == 0, 10, "the prediction ends", 0.02
    )
    data = prediction.to_json(simulator.url, simulator.store.now())
    return json.dumps(data).encode()


def call(body: bytes, *, secret: str = SimulatorConfig.webhook_secret, webhook_id=None, at=None):
    """POST a call, signed as the API signs it, with no session and CSRF checks on."""
    headers = signing.sign(secret, webhook_id or uuid.uuid4().hex, at or int(time.time()), body)
    return Client(enforce_csrf_checks=True).post(
        URL, data=body, content_type="application/json", headers=headers
    )


def poll(generation: Generation) -> None:
    """Make the generation's safety-net poll due now and run one sweep."""
    Generation.objects.filter(pk=generation.pk).update(next_check_at=timezone.now())
    sweeper.sweep_once(timezone.now())
    generation.refresh_from_db()


def row(generation: Generation) -> dict:
    return Generation.objects.values().get(pk=generation.pk)


@pipeline
def test_a_submit_asks_for_the_webhook_and_polls_only_as_a_slow_safety_net(
    alice, webhooks_on, enqueued
):
    before = timezone.now()
    generation = processing(alice)
    assert generation.webhook_requested is True
    assert generation.next_check_at >= before + timedelta(seconds=29)
    summary = sim_record(webhooks_on)[generation.prediction_id]["webhook"]
    assert summary is not None  # the simulator was asked to call back
    later = timezone.now() + timedelta(seconds=150)
    assert following.poll_delay(generation, later) == timedelta(seconds=30)
    generation.webhook_requested = False
    assert following.poll_delay(generation, later) == timedelta(seconds=0.5)


@pipeline
def test_without_a_public_base_url_submits_ask_for_no_webhook(alice, simulator, enqueued):
    assert provider.webhook_url() is None
    generation = processing(alice)
    assert generation.webhook_requested is False
    assert sim_record(simulator)[generation.prediction_id]["webhook"] is None


@pipeline
def test_a_webhook_applies_the_finished_prediction_and_a_later_poll_changes_nothing(
    alice, webhooks_on, enqueued
):
    generation = processing(alice)
    answer = call(finished_body(webhooks_on, generation))
    assert (answer.status_code, answer.json()) == (200, {"detail": "applied"})
    generation.refresh_from_db()
    assert generation.status == S.DOWNLOADING
    assert generation.output_urls and generation.poll_count == 0
    assert ("ingest", generation.pk) in enqueued
    settled = row(generation)
    poll(generation)  # (the helper makes it due: next_check_at is its own doing)
    assert row(generation) | {"next_check_at": None} == settled  # nothing left to do
    assert enqueued.count(("ingest", generation.pk)) == 1


@pipeline
def test_a_webhook_after_a_poll_applied_the_result_changes_nothing(alice, webhooks_on, enqueued):
    generation = processing(alice)
    body = finished_body(webhooks_on, generation)
    poll(generation)
    assert generation.status == S.DOWNLOADING
    settled = row(generation)
    answer = call(body)
    assert (answer.status_code, answer.json()) == (200, {"detail": "already applied"})
    assert row(generation) == settled
    assert enqueued.count(("ingest", generation.pk)) == 1


@pipeline
def test_a_call_delivered_twice_is_applied_once(alice, webhooks_on, enqueued):
    generation = processing(alice)
    body = finished_body(webhooks_on, generation)
    assert call(body, webhook_id="wh-twice").json() == {"detail": "applied"}
    again = call(body, webhook_id="wh-twice")
    assert (again.status_code, again.json()) == (200, {"detail": "already received"})
    assert enqueued.count(("ingest", generation.pk)) == 1
    assert WebhookDelivery.objects.filter(webhook_id="wh-twice").count() == 1


@pipeline
def test_a_call_holds_a_write_transaction_for_its_two_writes_only(alice, webhooks_on, enqueued):
    # On SQLite a transaction holds the database's write lock from BEGIN: the lookup is
    # made before it.
    generation = processing(alice)
    body = finished_body(webhooks_on, generation)
    with CaptureQueriesContext(connection) as queries:
        assert call(body).json() == {"detail": "applied"}
    statements = [q["sql"] for q in queries.captured_queries]
    begins = [i for i, sql in enumerate(statements) if sql.startswith("BEGIN")]
    commits = [i for i, sql in enumerate(statements) if sql.startswith("COMMIT")]
    assert len(begins) == len(commits) == 1
    inside = statements[begins[0] + 1 : commits[0]]
    assert [sql.split()[0] for sql in inside] == ["INSERT", "UPDATE"]


@pipeline
def test_a_webhook_completes_a_generation_with_its_image_stored(alice, webhooks_on, enqueued):
    generation = processing(alice)
    assert call(finished_body(webhooks_on, generation)).status_code == 200
    assert ("ingest", generation.pk) in enqueued
    tasks.ingest_generation(generation.pk)  # what the enqueued task runs
    generation.refresh_from_db()
    assert generation.status == S.COMPLETED, generation.error
    assert generation.images.get().width == 1024
    assert generation.poll_count == 0


@pipeline
def test_a_failure_called_back_fails_the_generation_in_plain_words(alice, webhooks_on, enqueued):
    generation = processing(alice, prompt="A heron [fail:1200]")
    assert call(finished_body(webhooks_on, generation)).status_code == 200
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (S.FAILED, 1200)
    assert "moderation" in generation.error.lower() or "flagged" in generation.error.lower()


@pytest.mark.parametrize(
    ("what", "forge"),
    [
        ("another secret", {"secret": "whsec_not-the-one"}),
        ("a stale timestamp", {"at": int(time.time()) - 301}),
        ("a timestamp in the future", {"at": int(time.time()) + 600}),
    ],
)
@pipeline
def test_a_forged_or_stale_call_is_refused_and_changes_nothing(
    alice, webhooks_on, enqueued, what, forge
):
    generation = processing(alice)
    body = finished_body(webhooks_on, generation)
    before = row(generation)
    answer = call(body, **forge)
    assert answer.status_code == 401
    assert row(generation) == before
    assert not WebhookDelivery.objects.exists()
    assert ("ingest", generation.pk) not in enqueued


@pipeline
def test_an_altered_body_is_refused(alice, webhooks_on, enqueued):
    generation = processing(alice)
    body = finished_body(webhooks_on, generation)
    headers = signing.sign(SimulatorConfig.webhook_secret, "wh-1", int(time.time()), body)
    altered = body.replace(b'"completed"', b'"failed"')
    answer = Client().post(URL, data=altered, content_type="application/json", headers=headers)
    assert answer.status_code == 401
    assert row(generation)["status"] == S.PROCESSING


@pipeline
def test_a_call_about_a_prediction_we_do_not_follow_is_acknowledged_and_ignored(alice, webhooks_on):
    body = json.dumps({"id": "not-ours", "status": "completed", "outputs": ["x"]}).encode()
    answer = call(body)
    assert answer.status_code == 202
    assert not WebhookDelivery.objects.exists()
    assert not Generation.objects.exists()


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"status": "completed"}', b'{"id": "p", "outputs": 5}', b""]
)
@pipeline
def test_a_signed_body_that_is_no_prediction_is_a_bad_request(webhooks_on, body):
    assert call(body).status_code == 400


@pipeline
def test_malformed_headers_and_a_body_too_large_are_refused_before_the_secret_is_asked(
    webhooks_on, monkeypatch
):
    asked = []
    monkeypatch.setattr(ws.WaveSpeedClient, "get_webhook_secret", lambda self: asked.append(1))
    body = b"{}"
    bare = Client().post(URL, data=body, content_type="application/json")
    assert bare.status_code == 400
    huge = b" " * (receiver.MAX_BODY_BYTES + 1)
    too_large = Client().post(
        URL, data=huge, content_type="application/json", headers=headers_for(huge)
    )
    assert too_large.status_code == 413
    assert asked == []


@pipeline
def test_only_post_is_answered(webhooks_on):
    assert Client().get(URL).status_code == 405


@pipeline
def test_a_flood_of_forged_calls_asks_the_api_for_the_secret_at_most_twice(
    alice, webhooks_on, enqueued, monkeypatch
):
    real = ws.WaveSpeedClient.get_webhook_secret
    asked = []

    def counted(self):
        asked.append(1)
        return real(self)

    monkeypatch.setattr(ws.WaveSpeedClient, "get_webhook_secret", counted)
    generation = processing(alice)
    body = finished_body(webhooks_on, generation)
    answers = {call(body, secret=f"whsec_forged-{n}").status_code for n in range(30)}
    assert answers == {401}
    # The first fetch, and one renewal in case the secret had changed; then none for a minute.
    assert len(asked) == 2
    assert call(body).status_code == 200  # the real secret still works


@pipeline
def test_a_changed_secret_is_fetched_again_and_its_calls_accepted(alice, webhooks_on, enqueued):
    generation = processing(alice)
    body = finished_body(webhooks_on, generation)
    assert receiver.secret.current() == SimulatorConfig.webhook_secret  # held from now on
    webhooks_on.config = replace(webhooks_on.config, webhook_secret="whsec_rotated")
    answer = call(body, secret="whsec_rotated")
    assert answer.status_code == 200
    assert row(generation)["status"] == S.DOWNLOADING


@pipeline
def test_without_the_secret_a_call_is_answered_503_so_the_api_retries(alice, webhooks_on, enqueued):
    generation = processing(alice)
    body = finished_body(webhooks_on, generation)
    webhooks_on.revoke_key()
    assert call(body).status_code == 503
    assert row(generation)["status"] == S.PROCESSING


@pipeline
def test_remembered_ids_are_forgotten_after_the_window(alice, webhooks_on, enqueued, monkeypatch):
    old = timezone.now() - timedelta(seconds=receiver.REMEMBER_SECONDS + 5)
    WebhookDelivery.objects.create(webhook_id="old", received_at=old)
    WebhookDelivery.objects.create(webhook_id="recent", received_at=timezone.now())
    monkeypatch.setattr(receiver, "_pruned_at", float("-inf"))
    generation = processing(alice)
    assert call(finished_body(webhooks_on, generation), webhook_id="new").status_code == 200
    remembered = set(WebhookDelivery.objects.values_list("webhook_id", flat=True))
    assert remembered == {"recent", "new"}


@pipeline
def test_the_webhook_secret_stays_out_of_logs_records_and_error_reports(
    alice, webhooks_on, enqueued, caplog, rf
):
    from django.core import serializers

    from playground.error_reports import SecretValueFilter

    caplog.set_level("DEBUG")
    generation = processing(alice)
    body = finished_body(webhooks_on, generation)
    assert call(body, secret="whsec_forged").status_code == 401
    assert call(body).status_code == 200
    key = SimulatorConfig.webhook_secret.removeprefix("whsec_")
    assert key not in caplog.text
    records = serializers.serialize(
        "json", [*Generation.objects.all(), *WebhookDelivery.objects.all()]
    )
    assert key not in records
    report = SecretValueFilter()
    assert report.cleanse_special_types(rf.post(URL), {"k": key}) == report.cleansed_substitute


def test_the_simulators_command_line_takes_a_webhook_failure_rate(capsys):
    from generations.wavespeed.simulator import __main__ as command

    assert command.parse_args(["--webhook-failure-rate", "0.25"]).webhook_failure_rate == 0.25
    assert command.parse_args([]).webhook_failure_rate is None
    assert command.main(["--webhook-failure-rate", "1.5", "--port", "0"]) == 2
    assert "--webhook-failure-rate" in capsys.readouterr().err


def test_the_simulators_webhook_settings_come_from_the_environment():
    config = SimulatorConfig.from_env(
        {"SIMULATOR_WEBHOOK_SECRET": "whsec_mine", "SIMULATOR_WEBHOOK_FAILURE_RATE": "0.5"}
    )
    assert (config.webhook_secret, config.webhook_failure_rate) == ("whsec_mine", 0.5)
    with pytest.raises(InvalidSetting, match="SIMULATOR_WEBHOOK_FAILURE_RATE"):
        SimulatorConfig.from_env({"SIMULATOR_WEBHOOK_FAILURE_RATE": "2"})
