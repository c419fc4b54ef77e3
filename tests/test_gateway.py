"""The WaveSpeed-compatible gateway over HTTP: who may call it, what a call makes, what it
answers, and the limits of one token.

The cast of conftest: Alice calls with her token; Bob, her teammate, with his; Maude
moderates. A session cookie alone opens nothing here.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations.accounts import tokens
from generations.accounts.models import PersonalAccessToken
from generations.gateway import predictions
from generations.models import Budget, Generation, Moderation, Visibility
from generations.wavespeed.contract import MODEL_ID
from tests.factories import add_image, completed, make_generation

pytestmark = pytest.mark.django_db

SUBMIT = f"/api/v3/{MODEL_ID}"
GOOD = {"prompt": "A lighthouse at dusk", "aspect_ratio": "16:9", "seed": 42}


@pytest.fixture
def alice_token(alice) -> str:
    return tokens.issue(alice, "alice's script")[1]


@pytest.fixture
def bob_token(bob) -> str:
    return tokens.issue(bob, "bob's script")[1]


def call(method: str, path: str, token: str | None = None, body=None, client=None, **headers):
    client = client or Client()
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if method == "POST":
        payload = body if isinstance(body, bytes | str) else json.dumps(body or {})
        return client.post(path, payload, content_type="application/json", **headers)
    return client.generic(method, path, **headers)


def submit(token: str, body=None, **kwargs):
    return call("POST", SUBMIT, token, GOOD if body is None else body, **kwargs)


# --- Who may call ---------------------------------------------------------------------------


def test_alices_token_makes_a_generation_of_hers(alice, alice_token, enqueued):
    answer = submit(alice_token)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["code"], body["message"]) == (200, "success")
    generation = Generation.objects.get()
    assert body["data"]["id"] == str(generation.pk)
    assert body["data"]["status"] == "created"
    assert body["data"]["model"] == MODEL_ID
    assert (
        body["data"]["urls"]["get"]
        == f"http://testserver/api/v3/predictions/{generation.pk}/result"
    )
    assert generation.owner == alice
    assert generation.access_token.user == alice
    assert (generation.prompt, generation.aspect_ratio, generation.seed) == (
        "A lighthouse at dusk",
        "16:9",
        42,
    )


def test_a_gateway_generation_is_in_the_gallery_under_its_author(
    alice_token, bob, client_for, enqueued
):
    submit(alice_token, {"prompt": "Gateway-made heron"})
    gallery = client_for(bob).get("/gallery/").content.decode()
    assert "Gateway-made heron" in gallery and "alice" in gallery


REFUSED_KEYS = {
    "no header": None,
    "malformed": "not-a-token",
    "wrong scheme": "Basic YWxpY2U6cGFzcw==",
    "unknown": "kpat_000000000000_" + "A" * 43,
}


@pytest.mark.parametrize("header", REFUSED_KEYS.values(), ids=REFUSED_KEYS.keys())
def test_calls_without_a_usable_token_are_refused_alike(alice_token, header):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    if header and header.startswith("kpat_"):
        extra["HTTP_AUTHORIZATION"] = f"Bearer {header}"
    answers = [
        Client().post(SUBMIT, json.dumps(GOOD), content_type="application/json", **extra),
        Client().get("/api/v3/balance", **extra),
    ]
    for answer in answers:
        assert answer.status_code == 401
        assert answer.json()["code"] == 401 and answer.json()["data"] is None
        assert "Invalid or missing API key" in answer.json()["message"]
    assert not Generation.objects.exists()


def test_revoked_expired_and_unknown_tokens_get_the_same_answer(alice, enqueued):
    revoked_row, revoked = tokens.issue(alice, "revoked")
    tokens.revoke(revoked_row, alice)
    expired_row, expired = tokens.issue(alice, "expired", expires_in_days=1)
    PersonalAccessToken.objects.filter(pk=expired_row.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    unknown = "kpat_0123456789ab_" + "B" * 43
    answers = [submit(token) for token in (revoked, expired, unknown, "kpat_short")]
    assert {a.status_code for a in answers} == {401}
    assert len({a.content for a in answers}) == 1
    assert not Generation.objects.exists()


def test_a_malformed_token_costs_no_database_query():
    with CaptureQueriesContext(connection) as queries:
        answer = call("GET", "/api/v3/balance", "x" * 5000)
    assert answer.status_code == 401
    assert len(queries) == 0


def test_a_made_up_token_of_the_right_shape_costs_no_database_query(alice_token):
    key_id = alice_token.split("_")[1]  # even with a real key id
    with CaptureQueriesContext(connection) as queries:
        answer = call("GET", "/api/v3/balance", f"kpat_{key_id}_" + "C" * 43)
    assert answer.status_code == 401
    assert len(queries) == 0


def test_how_long_an_auth_check_takes(alice_token):
    """A figure, not a test of speed: an unknown token's check against a valid one's."""
    made_up = "kpat_0123456789ab_" + "D" * 43
    rounds = 200
    figures = {}
    for label, token in (("unknown token", made_up), ("valid token", alice_token)):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            for _ in range(rounds):
                tokens.authenticate(token)
            took = time.perf_counter() - started
        figures[label] = (took / rounds * 1e6, len(queries) / rounds)
    for label, (microseconds, per_check) in figures.items():
        print(f"auth check, {label}: {microseconds:.1f} us, {per_check:.0f} queries")
    assert figures["unknown token"][1] == 0 and figures["valid token"][1] == 1


def test_a_session_cookie_alone_opens_nothing(alice_client, alice, enqueued):
    completed_generation, _ = completed(alice)
    answers = [
        submit(None, client=alice_client),
        call("GET", f"/api/v3/predictions/{completed_generation.pk}/result", client=alice_client),
        call("POST", "/api/v3/predictions", client=alice_client),
        call("GET", "/api/v3/balance", client=alice_client),
    ]
    assert [a.status_code for a in answers] == [401] * 4
    assert Generation.objects.count() == 1


def test_no_csrf_token_is_needed_with_a_token(alice_token, enqueued):
    strict = Client(enforce_csrf_checks=True)
    assert submit(alice_token, client=strict).status_code == 200


def test_a_call_records_when_the_token_was_last_used(alice_token):
    row = tokens.authenticate(alice_token)
    assert row is not None and row.last_used_at is None
    call("GET", "/api/v3/balance", alice_token)
    row.refresh_from_db()
    assert row.last_used_at is not None
    assert timezone.now() - row.last_used_at < timedelta(minutes=1)


# --- What a submit may ask ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "prompt is required"),
        ({"prompt": 5}, "prompt must be a string"),
        ({"prompt": "x", "aspect_ratio": "5:4"}, "aspect_ratio must be one of"),
        ({"prompt": "x", "seed": 2**31}, "seed must be between -1 and 2147483647"),
        ({"prompt": "x", "seed": "7"}, "seed must be an integer"),
        ({"prompt": "x", "guidance_scale": 25}, "guidance_scale must be between"),
        ({"prompt": "x", "safety_tolerance": "9"}, "safety_tolerance must be one of"),
        ({"prompt": "x", "enable_sync_mode": "yes"}, "enable_sync_mode must be a boolean"),
        ({"prompt": "x" * 2001}, "prompt must be at most 2000 characters"),
        ({"prompt": "bell\x07"}, "control character"),
        ("{not json", "Invalid JSON body"),
        ("[1, 2]", "expected an object"),
        ('{"prompt": "x", "guidance_scale": NaN}', "Invalid JSON body"),
    ],
)
def test_invalid_input_is_refused_in_wavespeeds_shape(alice_token, body, message):
    answer = submit(alice_token, body)
    assert answer.status_code == 400
    payload = answer.json()
    assert payload["code"] == 400 and payload["data"] is None
    assert message in payload["message"]
    assert not Generation.objects.exists()


def test_defaults_and_a_random_seed_are_the_apis(alice_token, enqueued):
    data = submit(alice_token, {"prompt": "Only a prompt", "seed": -1}).json()["data"]
    generation = Generation.objects.get()
    assert generation.aspect_ratio == "1:1" and generation.safety_tolerance == "2"
    assert generation.seed_was_random
    assert data["input"]["seed"] == generation.seed


def test_other_models_are_not_supported_here(alice_token):
    answer = call("POST", "/api/v3/wavespeed-ai/flux-dev", alice_token, {"prompt": "A cat"})
    assert answer.status_code == 404
    assert answer.json()["code"] == 404
    assert "not supported here" in answer.json()["message"]
    assert MODEL_ID in answer.json()["message"]
    assert not Generation.objects.exists()


@pytest.mark.parametrize("path", ["/api/v3/", "/api/v3/models", "/api/v3/predictions/1/cancel"])
def test_paths_the_app_does_not_have_are_404_envelopes(alice_token, path):
    answer = call("GET", path, alice_token)
    assert answer.status_code == 404 and answer.json()["code"] == 404
    assert call("GET", path).status_code == 401  # and nothing without a token


def test_a_wrong_method_is_answered_in_the_envelope(alice_token):
    answer = call("GET", SUBMIT, alice_token)
    assert answer.status_code == 405 and answer.json()["code"] == 405
    assert answer["Allow"] == "POST"


def test_a_submit_past_the_budget_is_refused(alice, alice_token, enqueued):
    Budget.objects.create(user=alice, monthly_limit=Decimal("0.05"))
    assert submit(alice_token).status_code == 200
    answer = submit(alice_token)
    assert answer.status_code == 402
    assert answer.json()["code"] == 402
    assert "Insufficient balance" in answer.json()["message"]
    assert "$0.01 is left" in answer.json()["message"]
    assert Generation.objects.count() == 1


# --- What a result shows, and to whom -------------------------------------------------------


def result(token: str, generation: Generation):
    return call("GET", f"/api/v3/predictions/{generation.pk}/result", token)


def test_a_completed_result_links_the_stored_image(alice, alice_token):
    generation, image = completed(alice, inference_ms=1234)
    data = result(alice_token, generation).json()["data"]
    assert data["status"] == "completed"
    assert data["outputs"] == [f"http://testserver/api/v3/outputs/{image.pk}"]
    assert data["has_nsfw_contents"] == [False]
    assert data["timings"] == {"inference": 1234}
    file = call("GET", f"/api/v3/outputs/{image.pk}", alice_token)
    assert file.status_code == 200 and file["Content-Type"] == "image/png"
    assert b"".join(file.streaming_content).startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("status", "api_status"),
    [
        (Generation.Status.QUEUED, "created"),
        (Generation.Status.SUBMITTING, "created"),
        (Generation.Status.PROCESSING, "processing"),
        (Generation.Status.DOWNLOADING, "processing"),
        (Generation.Status.TIMED_OUT, "timeout"),
    ],
)
def test_statuses_are_wavespeeds(alice, alice_token, status, api_status):
    generation = make_generation(alice, status=status)
    data = result(alice_token, generation).json()["data"]
    assert data["status"] == api_status and data["outputs"] == []


def test_a_failed_result_carries_its_words_and_code(alice, alice_token):
    generation = make_generation(
        alice, status=Generation.Status.FAILED, error="The prompt was refused.", error_code=1200
    )
    data = result(alice_token, generation).json()["data"]
    assert (data["status"], data["error"], data["code"]) == (
        "failed",
        "The prompt was refused.",
        1200,
    )


def test_a_teammate_sees_team_work_and_its_file(alice, bob_token):
    generation, image = completed(alice)
    data = result(bob_token, generation).json()["data"]
    assert data["outputs"] == [f"http://testserver/api/v3/outputs/{image.pk}"]
    assert call("GET", f"/api/v3/outputs/{image.pk}", bob_token).status_code == 200


def test_a_teammate_gets_nothing_of_private_work(alice, bob_token):
    generation, image = completed(alice, visibility=Visibility.PRIVATE)
    answer = result(bob_token, generation)
    assert answer.status_code == 404 and answer.json()["code"] == 404
    assert call("GET", f"/api/v3/outputs/{image.pk}", bob_token).status_code == 404


def test_a_flagged_output_is_withheld_and_the_answer_says_so(alice, alice_token, bob_token):
    generation = make_generation(alice, status=Generation.Status.COMPLETED)
    image = add_image(generation, nsfw=True)
    data = result(alice_token, generation).json()["data"]
    assert data["status"] == "completed"
    assert data["outputs"] == []
    assert data["has_nsfw_contents"] == [True]
    assert "withheld until a moderator approves it" in data["error"]
    assert call("GET", f"/api/v3/outputs/{image.pk}", alice_token).status_code == 404
    assert result(bob_token, generation).status_code == 404  # held work is private

    image.moderation = Moderation.APPROVED
    image.save()
    data = result(alice_token, generation).json()["data"]
    assert data["outputs"] == [f"http://testserver/api/v3/outputs/{image.pk}"]
    assert data["error"] == ""
    assert call("GET", f"/api/v3/outputs/{image.pk}", bob_token).status_code == 200


def test_a_removed_output_says_it_was_removed(alice, alice_token):
    generation = make_generation(alice, status=Generation.Status.COMPLETED)
    add_image(generation, nsfw=True, moderation=Moderation.REJECTED)
    data = result(alice_token, generation).json()["data"]
    assert data["outputs"] == [] and data["error"] == predictions.REMOVED


@pytest.mark.parametrize("prediction_id", ["999999", "abc", "²", "1" * 40])
def test_an_unknown_prediction_is_a_404_envelope(alice_token, prediction_id):
    answer = call("GET", f"/api/v3/predictions/{prediction_id}/result", alice_token)
    assert answer.status_code == 404
    assert answer.json()["code"] == 404 and "not found" in answer.json()["message"]


def test_sync_mode_answers_processing_with_5004_when_its_wait_runs_out(
    alice_token, settings, enqueued
):
    settings.GATEWAY_SYNC_TIMEOUT_SECONDS = 0.3
    body = {**GOOD, "enable_sync_mode": True}
    data = submit(alice_token, body).json()["data"]
    assert data["status"] == "processing"
    assert data["code"] == 5004
    assert "continues asynchronously" in data["error"]
    assert data["id"] == str(Generation.objects.get().pk)


# --- History and balance --------------------------------------------------------------------


def test_the_history_is_the_callers_own_work(alice, bob, alice_token):
    mine = [completed(alice)[0] for _ in range(3)]
    completed(bob)
    data = call("POST", "/api/v3/predictions", alice_token, {"page_size": 2}).json()["data"]
    assert data["total"] == 3 and data["page"] == 1
    assert [item["id"] for item in data["items"]] == [str(g.pk) for g in mine[::-1][:2]]
    assert all("input" not in item for item in data["items"])
    page_two = call(
        "POST",
        "/api/v3/predictions",
        alice_token,
        {"page": 2, "page_size": 2, "include_inputs": True},
    ).json()["data"]
    assert [item["id"] for item in page_two["items"]] == [str(mine[0].pk)]
    assert page_two["items"][0]["input"]["prompt"] == mine[0].prompt


def test_the_history_filters_by_status_and_model(alice, alice_token):
    make_generation(alice, status=Generation.Status.FAILED)
    finished, _ = completed(alice)
    data = call("POST", "/api/v3/predictions", alice_token, {"status": "completed"}).json()["data"]
    assert [item["id"] for item in data["items"]] == [str(finished.pk)]
    other = call("POST", "/api/v3/predictions", alice_token, {"model": "x/y"}).json()["data"]
    assert other["total"] == 0


def test_a_bad_history_query_is_a_400_envelope(alice_token):
    answer = call("POST", "/api/v3/predictions", alice_token, {"page": 0})
    assert (
        answer.status_code == 400 and "page must be a positive integer" in answer.json()["message"]
    )


@pytest.mark.parametrize("page", [2**62, 10**20])
def test_a_page_far_past_the_end_is_empty_not_an_error(alice, alice_token, page):
    completed(alice)
    answer = call("POST", "/api/v3/predictions", alice_token, {"page": page})
    assert answer.status_code == 200, answer.content
    assert answer.json()["data"] == {"page": page, "total": 1, "items": []}


@pytest.mark.parametrize("huge", ["9223372036854775808", "99999999999999999999"])
def test_ids_beyond_the_database_are_404_envelopes(alice_token, huge):
    for path in (f"/api/v3/predictions/{huge}/result", f"/api/v3/outputs/{huge}"):
        answer = call("GET", path, alice_token)
        assert answer.status_code == 404, (path, answer.content)


def test_the_balance_is_what_the_budget_has_left(alice, alice_token):
    assert call("GET", "/api/v3/balance", alice_token).json()["data"]["balance"] is None
    Budget.objects.create(user=alice, monthly_limit=Decimal("1.00"))
    completed(alice, cost=Decimal("0.04"))
    data = call("GET", "/api/v3/balance", alice_token).json()["data"]
    assert data["balance"] == pytest.approx(0.96)
    Budget.objects.create(scope=Budget.Scope.TEAM, monthly_limit=Decimal("0.50"))
    assert call("GET", "/api/v3/balance", alice_token).json()["data"]["balance"] == pytest.approx(
        0.46
    )


# --- One token's limits ---------------------------------------------------------------------


def test_a_token_past_its_rate_is_answered_429_and_others_are_not(alice_token, bob_token, settings):
    settings.GATEWAY_REQUESTS_PER_MINUTE = 3
    answers = [call("GET", "/api/v3/balance", alice_token) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["code"] == 429 and "3 calls a minute" in refused.json()["message"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert call("GET", "/api/v3/balance", bob_token).status_code == 200


def test_the_rate_window_starts_again_after_a_minute(alice_token, settings):
    settings.GATEWAY_REQUESTS_PER_MINUTE = 1
    assert call("GET", "/api/v3/balance", alice_token).status_code == 200
    assert call("GET", "/api/v3/balance", alice_token).status_code == 429
    PersonalAccessToken.objects.update(window_started_at=timezone.now() - timedelta(seconds=61))
    assert call("GET", "/api/v3/balance", alice_token).status_code == 200


def test_a_token_may_have_only_so_many_generations_in_flight(alice_token, settings, enqueued):
    settings.GATEWAY_MAX_IN_FLIGHT = 2
    assert [submit(alice_token).status_code for _ in range(2)] == [200, 200]
    refused = submit(alice_token)
    assert refused.status_code == 429
    assert "2 at once" in refused.json()["message"]
    assert Generation.objects.count() == 2
    Generation.objects.filter(pk=Generation.objects.first().pk).update(
        status=Generation.Status.COMPLETED
    )
    assert submit(alice_token).status_code == 200


def test_work_from_the_form_does_not_count_against_a_tokens_cap(
    alice, alice_token, settings, enqueued
):
    settings.GATEWAY_MAX_IN_FLIGHT = 1
    make_generation(alice, status=Generation.Status.PROCESSING)
    assert submit(alice_token).status_code == 200


# --- Across connections: the counts live in the database ------------------------------------


def at_once(count: int, work) -> list:
    """Run `work` in `count` threads, each with a database connection of its own, together."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from django.db import connections

    barrier = Barrier(count)

    def run(_):
        try:
            barrier.wait()
            return work()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.django_db(transaction=True)
def test_simultaneous_submits_never_pass_the_in_flight_cap_together(alice, settings, enqueued):
    settings.GATEWAY_MAX_IN_FLIGHT = 2
    _, token = tokens.issue(alice, "parallel script")
    statuses = at_once(6, lambda: submit(token).status_code)
    assert sorted(statuses) == [200, 200, 429, 429, 429, 429]
    assert Generation.objects.filter(owner=alice).count() == 2


@pytest.mark.django_db(transaction=True)
def test_simultaneous_calls_never_pass_the_rate_together(alice, settings):
    settings.GATEWAY_REQUESTS_PER_MINUTE = 3
    _, token = tokens.issue(alice, "parallel script")
    statuses = at_once(8, lambda: call("GET", "/api/v3/balance", token).status_code)
    assert sorted(statuses) == [200] * 3 + [429] * 5


def test_the_gateway_does_not_import_the_simulator():
    """WaveSpeed's validation is `generations.wavespeed.validation`: the app serves the API
    without loading the simulator's package."""
    import os
    import subprocess
    import sys

    probe = (
        "import django, sys; django.setup(); "
        "import generations.gateway.views, generations.gateway.urls; "
        "print(sorted(m for m in sys.modules if m.startswith('generations.wavespeed.simulator')))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "playground.settings"}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
