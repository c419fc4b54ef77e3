"""The WaveSpeed client: envelopes, typed errors, at-most-once submits, retried reads.

Error mapping is tested with `responses`; retries, back-off and dropped connections need a real
socket, so those run against a tiny scripted HTTP server in this process.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import responses

from generations.wavespeed import client as ws
from generations.wavespeed.history import Comparison, History, compare_inputs, inputs_match
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


# --- task codes in the envelope ----------------------------------------------------------------


@pytest.mark.parametrize("http_status", [200, 400, 500])
def test_a_1xxx_task_code_is_a_refused_input_whatever_the_http_status(client, mocked, http_status):
    mocked.post(SUBMIT_URL, json=envelope(None, 1400, "missing parameter"), status=http_status)
    with pytest.raises(ws.InvalidRequestError) as raised:
        client.submit(INPUTS)
    assert not isinstance(raised.value, ws.AmbiguousSubmitError)
    assert raised.value.code == 1400 and raised.value.status_code == http_status
    assert len(mocked.calls) == 1


@pytest.mark.parametrize("http_status", [200, 503])
def test_a_5xxx_task_code_on_submit_is_a_definite_server_error_not_an_unconfirmed_one(
    client, mocked, http_status
):
    mocked.post(SUBMIT_URL, json=envelope(None, 5003, "service unavailable"), status=http_status)
    with pytest.raises(ws.ServerError) as raised:
        client.submit(INPUTS)
    assert not isinstance(raised.value, ws.AmbiguousSubmitError)
    assert raised.value.code == 5003
    assert len(mocked.calls) == 1


def test_a_task_code_with_a_balance_message_is_out_of_funds(client, mocked):
    mocked.post(SUBMIT_URL, json=envelope(None, 1401, "Insufficient balance"), status=200)
    with pytest.raises(ws.InsufficientBalanceError):
        client.submit(INPUTS)


def test_a_task_code_on_a_result_is_its_typed_error(client, mocked):
    mocked.get(RESULT_URL, json=envelope(None, 5000, "internal error"), status=200)
    with pytest.raises(ws.ServerError) as raised:
        client.get_result("p1")
    assert raised.value.code == 5000


def test_an_answer_with_a_task_code_that_names_its_task_is_read_as_that_task(client, mocked):
    named = prediction("failed", id="p9", error="")
    del named["input"]
    mocked.post(SUBMIT_URL, json=envelope(named, 5000, "internal error"), status=200)
    created = client.submit(INPUTS)
    # The task exists: it is followed (and never sent again), its failure read from the code.
    assert created.id == "p9" and created.status == "failed"
    assert created.error_code == 5000 and created.error == "code 5000: internal error"


def test_a_sync_timeout_code_inside_a_prediction_is_not_an_envelope_error(client, mocked):
    still_running = prediction("processing", code=5004, error="Sync mode timed out")
    mocked.post(SUBMIT_URL, json=envelope(still_running), status=200)
    answer = client.submit(INPUTS)
    assert answer.status == "processing" and not answer.is_terminal


@pytest.mark.parametrize("code", [0, 2001, 777])
def test_an_envelope_code_that_is_neither_200_a_status_nor_a_task_code_is_ambiguous(
    client, mocked, code
):
    mocked.post(SUBMIT_URL, json=envelope(prediction(), code, "?"), status=200)
    with pytest.raises(ws.AmbiguousSubmitError):
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


def test_list_predictions_asks_for_inputs_and_counts_malformed_items(client, mocked):
    without_input = prediction(id="p3")
    del without_input["input"]
    mocked.post(
        LIST_URL,
        json=envelope(
            {
                "page": 1,
                "total": 4,
                "items": [
                    prediction(id="p1"),
                    {"broken": True},
                    prediction(id="p2", status="completed"),
                    without_input,
                ],
            }
        ),
    )
    after = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    page = client.list_predictions(
        created_after=after, created_before=after + timedelta(hours=1), model=ws.MODEL_ID
    )
    assert [item.id for item in page.items] == ["p1", "p2", "p3"]
    assert page.malformed == 1 and page.total == 4
    assert page.items[0].input == INPUTS
    assert page.items[2].input is None  # not shown: unknown, not empty
    sent = json.loads(mocked.calls[0].request.body)
    assert sent["created_after"] == "2026-11-25T09:00:00Z"
    assert sent["created_before"] == "2026-11-25T10:00:00Z"
    assert sent["model"] == ws.MODEL_ID and sent["page"] == 1
    assert sent["include_inputs"] is True


def listing_page(page: int, total: int, *items: dict) -> dict:
    return envelope({"page": page, "total": total, "items": list(items)})


def test_read_history_reads_every_page_once_and_keeps_each_prediction_once(client, mocked):
    mocked.post(LIST_URL, json=listing_page(1, 3, prediction(id="a"), prediction(id="b")))
    # A newer prediction pushed "b" onto the second page: it is read twice, kept once.
    mocked.post(LIST_URL, json=listing_page(2, 3, prediction(id="b"), prediction(id="c")))
    now = datetime.now(UTC)
    history = client.read_history(created_after=now, created_before=now, page_size=2)
    assert [item.id for item in history.items] == ["a", "b", "c"]
    assert [json.loads(call.request.body)["page"] for call in mocked.calls] == [1, 2]


def test_read_history_that_runs_out_of_pages_cannot_say_not_found(client, mocked):
    for page in (1, 2):
        mocked.post(LIST_URL, json=listing_page(page, 50, prediction(id=f"other{page}")))
    now = datetime.now(UTC)
    with pytest.raises(ws.IncompleteListError):
        client.read_history(created_after=now, created_before=now, page_size=1, max_pages=2)


WINDOW_START = datetime(2026, 11, 25, 9, 55, tzinfo=UTC)
WINDOW_END = datetime(2026, 11, 25, 10, 5, tzinfo=UTC)


def history_of(*items: dict, malformed: int = 0) -> History:
    return History(
        WINDOW_START,
        WINDOW_END,
        tuple(ws.Prediction.from_api(item) for item in items),
        malformed,
    )


def no_input(**fields) -> dict:
    item = prediction(**fields)
    del item["input"]
    return item


def candidates(history: History, **kwargs):
    return history.candidates(
        INPUTS, created_after=WINDOW_START, created_before=WINDOW_END, **kwargs
    )


def test_the_prediction_with_the_same_model_and_input_is_the_match():
    history = history_of(
        prediction(id="other", input=dict(INPUTS, seed=7)),
        prediction(id="mine", input=dict(INPUTS, guidance_scale="3.50")),
        prediction(id="elsewhere", model="someone/else"),
    )
    found = candidates(history)
    assert [p.id for p in found.matching] == ["mine"] and not found.unreadable
    assert not found.none


def test_items_whose_input_cannot_be_compared_are_possibly_ours():
    history = history_of(
        no_input(id="hidden"),
        prediction(id="malformed", input="prompt=a red fox"),
        prediction(id="reshaped", input={"text": "a red fox"}),
        prediction(id="differs", input=dict(INPUTS, prompt="a blue whale")),
        malformed=1,
    )
    found = candidates(history)
    assert not found.matching
    assert [p.id for p in found.unreadable] == ["hidden", "malformed", "reshaped"]
    assert found.malformed == 1 and not found.none
    assert found.ids == ["hidden", "malformed", "reshaped"]
    assert "hidden, malformed, reshaped" in found.describe() and "1" in found.describe()


def test_excluded_and_out_of_window_items_are_not_candidates():
    history = history_of(
        no_input(id="taken"),
        no_input(id="earlier", created_at="2026-11-25T09:00:00.000Z"),
        prediction(id="twin", input=dict(INPUTS)),
    )
    found = candidates(history, exclude_ids=["taken", "twin"])
    assert found.none and found.ids == []


def test_an_item_without_a_time_cannot_be_placed_outside_the_window():
    assert candidates(history_of(no_input(id="timeless", created_at=None))).ids == ["timeless"]


@pytest.mark.parametrize(
    ("shown", "comparison"),
    [
        ({**INPUTS, "seed": 42.0, "guidance_scale": 3.5}, Comparison.MATCH),
        ({**INPUTS, "seed": "42", "safety_tolerance": 2}, Comparison.MATCH),
        ({**INPUTS, "prompt": "a  red fox ", "enable_sync_mode": False}, Comparison.MATCH),
        ({**INPUTS, "prompt": "a red wolf"}, Comparison.DIFFERS),
        ({**INPUTS, "seed": 43}, Comparison.DIFFERS),
        ({**INPUTS, "aspect_ratio": "16:9", "seed": None}, Comparison.DIFFERS),
        ({**INPUTS, "seed": True}, Comparison.UNKNOWN),
        ({**INPUTS, "seed": None}, Comparison.UNKNOWN),
        ({**INPUTS, "prompt": ["a red fox"]}, Comparison.UNKNOWN),
        ({k: v for k, v in INPUTS.items() if k != "seed"}, Comparison.UNKNOWN),
        ({}, Comparison.UNKNOWN),
        (None, Comparison.UNKNOWN),
    ],
)
def test_inputs_compare_as_match_differs_or_unknown(shown, comparison):
    assert compare_inputs(INPUTS, shown) is comparison
    assert inputs_match(INPUTS, shown) is (comparison is Comparison.MATCH)


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
    """Record the client's back-off pauses instead of waiting them out."""
    slept: list[float] = []
    monkeypatch.setattr(ws, "_wait", slept.append)
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
    assert len(sleeps) == 3 and all(0 <= pause <= 4 + 0.5 for pause in sleeps)


@pytest.mark.parametrize(
    ("answer", "error_type", "retry_after"),
    [
        (reply(429, envelope(None, 429, "slow"), {"Retry-After": "60"}), ws.RateLimitError, 60.0),
        (reply(429, envelope(None, 429, "slow")), ws.RateLimitError, None),
        (reply(503, envelope(None, 503, "busy"), {"Retry-After": "3600"}), ws.ServerError, None),
    ],
)
def test_an_answer_that_names_a_wait_is_handed_back_at_once(
    scripted, sleeps, answer, error_type, retry_after
):
    server = scripted([answer, reply(200, envelope(prediction()))])
    with ws.WaveSpeedClient(KEY, server.url) as api, pytest.raises(error_type) as raised:
        api.get_result("p1")
    # Not slept on: the caller schedules that one call, and nothing else waits behind it.
    assert server.requests == 1 and sleeps == []
    assert getattr(raised.value, "retry_after", None) == retry_after


def test_exhausted_retries_raise_the_last_answers_type(scripted, sleeps):
    server = scripted([reply(503, envelope(None, 503, "busy"))] * 5)
    with (
        ws.WaveSpeedClient(KEY, server.url, max_retries=2, backoff_factor=0) as api,
        pytest.raises(ws.ServerError),
    ):
        api.get_result("p1")
    assert server.requests == 3


def test_a_client_without_retries_makes_one_attempt(scripted, sleeps):
    server = scripted([drop, reply(200, envelope(prediction()))])
    with (
        ws.WaveSpeedClient(KEY, server.url, max_retries=0) as api,
        pytest.raises(ws.NetworkError),
    ):
        api.get_result("p1")
    assert server.requests == 1 and sleeps == []


def test_retries_stop_where_the_time_runs_out(scripted):
    server = scripted([reply(503, envelope(None, 503, "busy"))] * 50)
    started = time.monotonic()
    with (
        ws.WaveSpeedClient(
            KEY, server.url, timeout=2.0, max_retries=50, backoff_factor=0.2, backoff_max=0.2
        ) as api,
        pytest.raises(ws.ServerError),
    ):
        api.get_result("p1")
    assert time.monotonic() - started < 2.0
    assert 1 < server.requests < 50


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
            ws.WaveSpeedClient(KEY, server.url, submit_timeout=0.3) as api,
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


# --- the total deadline of every call ----------------------------------------------------------


def drip_body(handler: BaseHTTPRequestHandler) -> None:
    """Answer headers at once, then a byte of the body every tenth of a second."""
    raw = json.dumps(envelope(prediction())).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(raw)))
    handler.end_headers()
    for byte in raw:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.1)  # the drip itself, well within any per-read timeout


def drip_headers(handler: BaseHTTPRequestHandler) -> None:
    """Send the status line, then one header line every tenth of a second, for ever."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for number in range(10_000):
        try:
            handler.wfile.write(f"X-Drip-{number}: 1\r\n".encode())
            handler.wfile.flush()
        except OSError:
            return
        time.sleep(0.1)


@pytest.mark.parametrize("step", [drip_body, drip_headers])
def test_a_dripped_answer_cannot_stretch_a_read_past_its_deadline(scripted, step):
    server = scripted([step, reply(200, envelope(prediction()))])
    started = time.monotonic()
    with ws.WaveSpeedClient(KEY, server.url, timeout=1.0, max_retries=0) as api:
        with pytest.raises(ws.NetworkError) as raised:
            api.get_result("p1")
        assert time.monotonic() - started < 1.5
        assert "within" in str(raised.value)
        # The cut connection is not handed to the next call.
        assert api.get_result("p1").id == "p1"


def test_a_dripped_submit_answer_is_ambiguous_at_its_deadline(scripted):
    server = scripted([drip_body])
    started = time.monotonic()
    with (
        ws.WaveSpeedClient(KEY, server.url, submit_timeout=1.0) as api,
        pytest.raises(ws.AmbiguousSubmitError),
    ):
        api.submit(INPUTS)
    assert time.monotonic() - started < 1.5
    assert server.requests == 1


def test_the_client_deadline_bounds_every_call(scripted):
    release = threading.Event()

    def stall(handler: BaseHTTPRequestHandler) -> None:
        release.wait(10)

    server = scripted([stall])
    started = time.monotonic()
    try:
        with (
            ws.WaveSpeedClient(KEY, server.url, deadline=started + 0.5) as api,
            pytest.raises(ws.NetworkError),
        ):
            api.get_result("p1")
    finally:
        release.set()
    assert time.monotonic() - started < 1.0


def test_a_call_after_the_client_deadline_is_not_sent(scripted):
    server = scripted([])
    with ws.WaveSpeedClient(KEY, server.url, deadline=time.monotonic() - 1) as api:
        with pytest.raises(ws.NetworkError):
            api.get_result("p1")
        # Nothing went out, so a submit refused this way is not ambiguous: it may be sent later.
        with pytest.raises(ws.NetworkError) as raised:
            api.submit(INPUTS)
        assert not isinstance(raised.value, ws.AmbiguousSubmitError)
    assert server.requests == 0
