"""The WaveSpeed client: envelopes, typed errors, at-most-once submits, retried reads.

Error mapping is tested with `responses`; retries, back-off and dropped connections need a real
socket, so those run against a tiny scripted HTTP server in this process.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import responses

from generations.wavespeed import client as ws
from tests.apprunner import free_port

BASE = "https://api.test"
KEY = "sk-test-very-secret-key"
SUBMIT_URL = f"{BASE}/api/v3/{ws.MODEL_ID}"
RESULT_URL = f"{BASE}/api/v3/predictions/p1/result"
LIST_URL = f"{BASE}/api/v3/predictions"
INPUTS = {
    "prompt": "a red fox",
    "aspect_ratio": "1:1",
    "seed": 42,
    "guidance_scale": 3.5,
    "safety_tolerance": "2",
}


def prediction(status: str = "created", **fields) -> dict:
    data = {
        "id": "p1",
        "model": ws.MODEL_ID,
        "status": status,
        "outputs": [],
        "has_nsfw_contents": [],
        "created_at": "2026-11-25T10:00:00.123Z",
        "error": "",
        "timings": {"inference": 0},
        "input": dict(INPUTS),
    }
    data.update(fields)
    return data


def envelope(data, code: int = 200, message: str = "success") -> dict:
    return {"code": code, "message": message, "data": data}


@pytest.fixture
def client() -> Iterator[ws.WaveSpeedClient]:
    with ws.WaveSpeedClient(KEY, BASE, backoff_factor=0) as api:
        yield api


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


# --- reading predictions -----------------------------------------------------------------------


def test_submit_sends_inputs_with_bearer_key_and_reads_the_prediction(client, mocked):
    mocked.post(SUBMIT_URL, json=envelope(prediction()))
    result = client.submit(INPUTS)
    assert result.id == "p1" and result.status == "created" and not result.is_terminal
    sent = mocked.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.headers["X-Client-Name"] == ws.CLIENT_NAME
    assert json.loads(sent.body) == INPUTS


def test_a_completed_result_carries_outputs_flags_and_timing(client, mocked):
    mocked.get(
        RESULT_URL,
        json=envelope(
            prediction(
                "completed",
                outputs=["https://cdn.test/a.png", "https://cdn.test/b.png"],
                has_nsfw_contents=[False, True],
                timings={"inference": 1234.4},
            )
        ),
    )
    result = client.get_result("p1")
    assert result.is_completed and result.is_terminal
    assert result.outputs == ("https://cdn.test/a.png", "https://cdn.test/b.png")
    assert result.has_nsfw_contents == (False, True)
    assert result.inference_ms == 1234
    assert result.created_at == datetime(2026, 11, 25, 10, 0, 0, 123000, tzinfo=UTC)


def test_nsfw_flags_that_are_not_plain_false_count_as_flagged(client, mocked):
    mocked.get(
        RESULT_URL,
        json=envelope(
            prediction(
                "completed", outputs=["u1", "u2", "u3"], has_nsfw_contents=[None, "false", False]
            )
        ),
    )
    assert client.get_result("p1").has_nsfw_contents == (True, True, False)


def test_a_failed_prediction_keeps_its_task_code_and_text(client, mocked):
    mocked.get(RESULT_URL, json=envelope(prediction("failed", code=1200, error="moderated")))
    result = client.get_result("p1")
    assert (
        result.status == "failed"
        and result.is_terminal
        and result.error_code == 1200
        and result.error == "moderated"
    )


def test_an_unknown_status_is_kept_and_not_terminal(client, mocked):
    mocked.get(RESULT_URL, json=envelope(prediction("queued-for-gpu")))
    result = client.get_result("p1")
    assert result.status == "queued-for-gpu"
    assert not result.is_terminal


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>502 Bad Gateway</html>", "not json"),
        (json.dumps({"code": 200, "message": "success"}).encode(), "no data"),
        (json.dumps({"code": 200, "message": "success", "data": None}).encode(), "null data"),
        (json.dumps([1, 2, 3]).encode(), "not an object"),
        (json.dumps(envelope({"status": "created"})).encode(), "no id"),
        (
            json.dumps(envelope(prediction(outputs="https://cdn.test/a.png"))).encode(),
            "bad outputs",
        ),
        (json.dumps(envelope(prediction(status=None))).encode(), "no status"),
    ],
)
def test_an_unreadable_result_is_a_protocol_error(client, mocked, body, problem):
    mocked.get(RESULT_URL, body=body, status=200, content_type="application/json")
    with pytest.raises(ws.ProtocolError):
        client.get_result("p1")


def test_a_result_for_another_prediction_is_refused(client, mocked):
    mocked.get(RESULT_URL, json=envelope(prediction(id="p2")))
    with pytest.raises(ws.ProtocolError):
        client.get_result("p1")


@pytest.mark.parametrize("bad_id", ["", "../balance", "a/b"])
def test_a_malformed_prediction_id_is_refused_before_any_request(client, mocked, bad_id):
    with pytest.raises(ws.InvalidRequestError):
        client.get_result(bad_id)
    assert len(mocked.calls) == 0


# --- typed errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        (401, envelope(None, 401, "Unauthorized"), ws.AuthenticationError),
        (403, envelope(None, 403, "Forbidden"), ws.AuthenticationError),
        (402, envelope(None, 402, "Payment required"), ws.InsufficientBalanceError),
        (
            400,
            envelope(None, 400, "Insufficient balance, please top up"),
            ws.InsufficientBalanceError,
        ),
        (
            400,
            envelope(None, 400, "guidance_scale must be between 1 and 20"),
            ws.InvalidRequestError,
        ),
        (422, {"detail": "unprocessable"}, ws.InvalidRequestError),
        (429, envelope(None, 429, "Too many requests"), ws.RateLimitError),
    ],
)
def test_a_refused_submit_raises_its_type_after_one_request(
    client, mocked, status, body, error_type
):
    mocked.post(SUBMIT_URL, json=body, status=status)
    with pytest.raises(error_type) as raised:
        client.submit(INPUTS)
    assert raised.value.status_code == status
    assert len(mocked.calls) == 1


def test_an_error_in_the_envelope_of_an_http_200_counts(client, mocked):
    mocked.post(SUBMIT_URL, json=envelope(None, 401, "Invalid API key"), status=200)
    with pytest.raises(ws.AuthenticationError):
        client.submit(INPUTS)


def test_a_rate_limit_carries_retry_after(client, mocked):
    mocked.post(
        SUBMIT_URL, json=envelope(None, 429, "slow down"), status=429, headers={"Retry-After": "7"}
    )
    with pytest.raises(ws.RateLimitError) as raised:
        client.submit(INPUTS)
    assert raised.value.retry_after == 7.0


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, envelope(None, 500, "internal error")),
        (503, b"Service Unavailable"),
        (200, b"{not json"),
        (200, json.dumps({"code": 200, "message": "success"}).encode()),
    ],
)
def test_a_submit_whose_answer_is_unusable_is_ambiguous_and_not_resent(
    client, mocked, status, body
):
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    mocked.post(SUBMIT_URL, status=status, **kwargs)
    with pytest.raises(ws.AmbiguousSubmitError):
        client.submit(INPUTS)
    assert len(mocked.calls) == 1


@pytest.mark.parametrize(
    "failure",
    [requests.ReadTimeout("read timed out"), requests.ConnectionError("connection reset by peer")],
)
def test_a_submit_that_lost_its_answer_is_ambiguous_and_not_resent(client, mocked, failure):
    mocked.post(SUBMIT_URL, body=failure)
    with pytest.raises(ws.AmbiguousSubmitError):
        client.submit(INPUTS)
    assert len(mocked.calls) == 1


def test_a_submit_that_never_connected_is_a_network_error():
    port = free_port()
    with (
        ws.WaveSpeedClient(KEY, f"http://127.0.0.1:{port}", max_retries=1, backoff_factor=0) as api,
        pytest.raises(ws.NetworkError),
    ):
        api.submit(INPUTS)


def test_the_key_appears_in_no_error_and_no_repr(client, mocked):
    mocked.post(SUBMIT_URL, json=envelope(None, 401, "Unauthorized"), status=401)
    mocked.get(RESULT_URL, body=requests.ConnectionError("boom"))
    texts = [repr(client), str(client)]
    for call in (lambda: client.submit(INPUTS), lambda: client.get_result("p1")):
        with pytest.raises(ws.WaveSpeedError) as raised:
            call()
        texts += [str(raised.value), repr(raised.value)]
    assert not any(KEY in text for text in texts)


def test_a_client_needs_a_key():
    with pytest.raises(ValueError):
        ws.WaveSpeedClient("", BASE)


# --- the balance: the breaker's probe ----------------------------------------------------------


def test_get_balance_reads_the_accounts_dollars(client, mocked):
    mocked.get(f"{BASE}/api/v3/balance", json=envelope({"balance": 12.5}))
    assert client.get_balance() == 12.5
    assert mocked.calls[0].request.headers["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        (401, envelope(None, 401, "Unauthorized"), ws.AuthenticationError),
        (402, envelope(None, 402, "Insufficient balance"), ws.InsufficientBalanceError),
        (200, envelope({"balance": "plenty"}), ws.ProtocolError),
        (200, envelope({"currency": "USD"}), ws.ProtocolError),
    ],
)
def test_a_balance_answer_without_a_balance_raises_its_type(
    client, mocked, status, body, error_type
):
    mocked.get(f"{BASE}/api/v3/balance", json=body, status=status)
    with pytest.raises(error_type):
        client.get_balance()


# --- the predictions list ----------------------------------------------------------------------


def test_list_predictions_sends_the_window_and_reads_a_page(client, mocked):
    mocked.post(
        LIST_URL,
        json=envelope(
            {
                "page": 1,
                "total": 2,
                "items": [
                    prediction(id="p1"),
                    {"broken": True},
                    prediction(id="p2", status="completed"),
                ],
            }
        ),
    )
    after = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    page = client.list_predictions(
        created_after=after, created_before=after + timedelta(hours=1), model=ws.MODEL_ID
    )
    assert [item.id for item in page.items] == ["p1", "p2"]  # the malformed item is skipped
    assert page.total == 2
    sent = json.loads(mocked.calls[0].request.body)
    assert sent["created_after"] == "2026-11-25T09:00:00Z"
    assert sent["created_before"] == "2026-11-25T10:00:00Z"
    assert sent["model"] == ws.MODEL_ID and sent["page"] == 1


def test_find_prediction_matches_inputs_across_pages_and_skips_excluded(client, mocked):
    other = dict(INPUTS, seed=7)
    pages = [
        envelope(
            {
                "page": 1,
                "total": 3,
                "items": [prediction(id="x", input=other), prediction(id="taken")],
            }
        ),
        envelope(
            {
                "page": 2,
                "total": 3,
                "items": [prediction(id="mine", input=dict(INPUTS, guidance_scale=3.50, seed=42))],
            }
        ),
    ]
    for page in pages:
        mocked.post(LIST_URL, json=page)
    now = datetime.now(UTC)
    found = client.find_prediction(
        inputs=INPUTS,
        created_after=now - timedelta(minutes=5),
        created_before=now,
        page_size=2,
        exclude_ids=["taken"],
    )
    assert found is not None and found.id == "mine"
    assert [json.loads(call.request.body)["page"] for call in mocked.calls] == [1, 2]


def test_find_prediction_returns_none_when_nothing_matches(client, mocked):
    mocked.post(
        LIST_URL,
        json=envelope(
            {"page": 1, "total": 1, "items": [prediction(input=dict(INPUTS, prompt="x"))]}
        ),
    )
    now = datetime.now(UTC)
    assert client.find_prediction(inputs=INPUTS, created_after=now, created_before=now) is None
    assert len(mocked.calls) == 1


def test_find_prediction_that_runs_out_of_pages_cannot_say_not_found(client, mocked):
    for page in (1, 2):
        mocked.post(
            LIST_URL,
            json=envelope(
                {
                    "page": page,
                    "total": 50,
                    "items": [prediction(id=f"other{page}", input=dict(INPUTS, seed=page))],
                }
            ),
        )
    now = datetime.now(UTC)
    with pytest.raises(ws.IncompleteListError):
        client.find_prediction(
            inputs=INPUTS, created_after=now, created_before=now, page_size=1, max_pages=2
        )


def test_inputs_match_compares_numbers_as_numbers():
    assert ws.inputs_match({"seed": 1, "guidance_scale": 3}, {"seed": 1.0, "guidance_scale": 3.0})
    assert not ws.inputs_match({"seed": 1}, {"seed": True})
    assert not ws.inputs_match({"seed": 1}, {})
    assert not ws.inputs_match({"prompt": "a"}, {"prompt": "b"})


# --- retries over a real socket ----------------------------------------------------------------


Script = list[Callable[[BaseHTTPRequestHandler], None]]


class ScriptedServer(ThreadingHTTPServer):
    """Answers each request with the next step of a script and counts the requests."""

    daemon_threads = True

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        self.script = list(script)
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._answer()

    def _answer(self) -> None:
        server: ScriptedServer = self.server  # type: ignore[assignment]
        server.requests += 1
        step = server.script.pop(0) if server.script else reply(200, envelope(prediction()))
        step(self)

    def log_message(self, *args) -> None:
        pass


def reply(status: int, body, headers: dict[str, str] | None = None):
    def step(handler: BaseHTTPRequestHandler) -> None:
        raw = json.dumps(body).encode()
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)

    return step


def drop(handler: BaseHTTPRequestHandler) -> None:
    """Close the connection without a word, after the request was read."""
    handler.close_connection = True
    handler.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def scripted() -> Iterator[Callable[[Script], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: Script) -> ScriptedServer:
        server = ScriptedServer(script)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Record urllib3's back-off sleeps instead of waiting them out."""
    slept: list[float] = []
    monkeypatch.setattr("urllib3.util.retry.time.sleep", slept.append)
    return slept


def test_a_result_get_is_retried_through_server_errors_and_drops(scripted, sleeps):
    server = scripted(
        [
            reply(503, envelope(None, 503, "busy")),
            drop,
            reply(502, envelope(None, 502, "bad gateway")),
            reply(200, envelope(prediction(id="p1"))),
        ]
    )
    with ws.WaveSpeedClient(KEY, server.url, backoff_factor=0.5, backoff_max=4) as api:
        assert api.get_result("p1").id == "p1"
    assert server.requests == 4
    assert len(sleeps) >= 2 and all(0 <= pause <= 4 + 0.5 for pause in sleeps)


def test_a_result_get_honours_retry_after_up_to_a_ceiling(scripted, sleeps):
    server = scripted(
        [
            reply(429, envelope(None, 429, "slow"), {"Retry-After": "3"}),
            reply(503, envelope(None, 503, "busy"), {"Retry-After": "3600"}),
            reply(200, envelope(prediction())),
        ]
    )
    with ws.WaveSpeedClient(KEY, server.url, backoff_factor=0, retry_after_max=10) as api:
        api.get_result("p1")
    assert sleeps == [3.0, 10.0]


def test_exhausted_retries_raise_the_last_answers_type(scripted, sleeps):
    server = scripted([reply(503, envelope(None, 503, "busy"))] * 5)
    with (
        ws.WaveSpeedClient(KEY, server.url, max_retries=2, backoff_factor=0) as api,
        pytest.raises(ws.ServerError),
    ):
        api.get_result("p1")
    assert server.requests == 3


def test_a_rate_limit_that_outlasts_the_retries_is_a_rate_limit_error(scripted, sleeps):
    server = scripted([reply(429, envelope(None, 429, "slow"), {"Retry-After": "1"})] * 3)
    with (
        ws.WaveSpeedClient(KEY, server.url, max_retries=2, backoff_factor=0) as api,
        pytest.raises(ws.RateLimitError) as raised,
    ):
        api.get_result("p1")
    assert raised.value.retry_after == 1.0


def test_a_submit_is_never_resent_after_a_server_error_or_a_drop(scripted, sleeps):
    for step in (reply(500, envelope(None, 500, "oops")), drop):
        server = scripted([step])
        with (
            ws.WaveSpeedClient(KEY, server.url, backoff_factor=0) as api,
            pytest.raises(ws.AmbiguousSubmitError),
        ):
            api.submit(INPUTS)
        assert server.requests == 1


def test_the_balance_probe_is_asked_once_without_the_reads_retries(scripted, sleeps):
    server = scripted([reply(503, envelope(None, 503, "busy"))])
    with ws.WaveSpeedClient(KEY, server.url) as api, pytest.raises(ws.ServerError):
        api.get_balance()
    assert server.requests == 1


def test_a_slow_submit_times_out_as_ambiguous(scripted):
    release = threading.Event()

    def stall(handler: BaseHTTPRequestHandler) -> None:
        release.wait(5)

    server = scripted([stall])
    try:
        with (
            ws.WaveSpeedClient(KEY, server.url, submit_read_timeout=0.3) as api,
            pytest.raises(ws.AmbiguousSubmitError),
        ):
            api.submit(INPUTS)
    finally:
        release.set()
    assert server.requests == 1


def test_a_read_that_never_connects_is_a_network_error(sleeps):
    with (
        ws.WaveSpeedClient(
            KEY, f"http://127.0.0.1:{free_port()}", max_retries=2, backoff_factor=0
        ) as api,
        pytest.raises(ws.NetworkError),
    ):
        api.get_result("p1")
