"""The API key never leaves the server's settings: not in a page, a JSON answer, an error page,
a log line, a stored record, a stored file or a queued task. Nor does a personal access token,
once the page that made it has shown it.

The app runs with a distinctive key that the in-thread simulator accepts. Alice makes a team
image, a private one, one the API flags and one that fails; one more fails because the API
refuses the key, which is where a key is most tempting to quote. Then every page and JSON
answer is read as each of the cast (anonymous, Alice, Bob, Stella, Maude, the superuser), the
admin's pages for every registered model and record included, and the key is looked for as
is, URL-encoded, HTML- and JSON-escaped, and base64-encoded at any alignment.

This module is also the URLconf of the error-page tests: the site plus two views that raise.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from urllib.parse import quote, quote_plus

import pytest
import urllib3
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path, reverse
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Task
from django_q.signing import SignedPackage

from generations import enqueue, provider
from generations.accounts.models import PersonalAccessToken
from generations.gateway.auth import token_required
from generations.models import Generation, OutputImage
from generations.wavespeed.contract import MODEL_ID
from generations.wavespeed.simulator.config import SimulatorConfig
from tests.services import serving

KEY = "ws-secret-canary-7Qe/x9+Zk=Lm3vR8"

# The pipeline runs against a simulator in another thread: its writes must be committed.
pipeline_db = pytest.mark.django_db(transaction=True)


# --- the key in any of its disguises ------------------------------------------------------------


def disguises(secret: str) -> dict[str, str]:
    """The forms a secret takes when it is quoted, escaped or encoded inside other text."""
    forms = {
        "as is": secret,
        "URL-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret),
        "HTML-escaped": html.escape(secret),
        "JSON-escaped": json.dumps(secret)[1:-1],
        # A cut-down key is still a leak: its distinctive middle alone.
        "in part": secret[3:-3],
    }
    raw = secret.encode()
    for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        for shift in range(3):
            # Inside longer data the key starts at any byte of a 3-byte group; the characters
            # of groups that hold only key bytes do not depend on what surrounds it.
            encoded = encode(b"\0" * shift + raw).decode()
            start = 0 if shift == 0 else 4
            end = (shift + len(raw)) // 3 * 4
            forms[f"{name} at +{shift}"] = encoded[start:end]
    return forms


DISGUISES = disguises(KEY)
# The disguises of the personal access token the site in use made (random, so made there).
TOKEN_DISGUISES: dict[str, str] = {}


def found(text: str | bytes) -> list[str]:
    """The disguises of the key, or of the personal token, that occur in this text."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")  # any byte string, byte for byte
    forms = {**DISGUISES, **{f"token {name}": form for name, form in TOKEN_DISGUISES.items()}}
    return [name for name, form in forms.items() if form in text]


@pytest.mark.parametrize("name", list(DISGUISES))
def test_the_search_finds_the_key_in_each_disguise(name):
    if name.startswith("base64"):
        codec = base64.b64encode if name.startswith("base64 ") else base64.urlsafe_b64encode
        shift = int(name[-1])
        text = codec(b"Authorization: Bearer "[:shift] + KEY.encode() + b"\r\n")
    else:
        text = f"<p>key={DISGUISES[name]}&amp;x=1</p>".encode()
    assert name in found(text)
    assert found(b"an ordinary page with ws-secret and canary in it") == []


# --- the site with the key in use ---------------------------------------------------------------


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    return replace(SimulatorConfig(), api_key=KEY, latency=0.2, sync_wait_max=5.0, seed=99)


class Collected(logging.Handler):
    """Every record of every logger, formatted with its traceback and all its attributes."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record) + "\n" + repr(record.__dict__))


@contextmanager
def every_log_record() -> Iterator[Collected]:
    """All loggers at DEBUG (urllib3's, which log URLs, and django-q's own) into one handler."""
    handler = Collected()
    loggers = [logging.getLogger(), logging.getLogger("urllib3"), logging.getLogger("django-q")]
    loggers += [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        if logger is logging.getLogger() or not logger.propagate:
            logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, level in levels.items():
            logger.setLevel(level)
            logger.removeHandler(handler)


def post_prompt(visitor, prompt: str, **fields) -> Generation:
    visitor.post(
        "/",
        {
            "prompt": prompt,
            "aspect_ratio": "1:1",
            "seed": "7",
            "guidance_scale": "3.5",
            "safety_tolerance": "2",
            "visibility": "team",
            **fields,
        },
    )
    return Generation.objects.filter(prompt=prompt).get()


@pytest.fixture
def site_in_use(alice, bob, maude, simulator, simulator_config, sync_tasks, settings, monkeypatch):
    """Alice's work through the whole pipeline (the form, the tasks, the simulator) with the key
    in use, Bob's report and Maude's decision; every log record and SQL statement kept."""
    from django.test import Client

    monkeypatch.setenv("WAVESPEED_API_KEY", KEY)
    assert settings.WAVESPEED_API_KEY == KEY
    with every_log_record() as logs, CaptureQueriesContext(connection) as queries:
        owner = Client()
        owner.force_login(alice)
        made = {
            "team": post_prompt(owner, "A lighthouse at dusk"),
            "private": post_prompt(owner, "A private sketch", visibility="private"),
            "flagged": post_prompt(owner, "[nsfw] A statue"),
            "failed": post_prompt(owner, "[fail:1200] A storm"),
        }
        # Before the refused key below pauses all submitting.
        made["gateway"] = script_through_the_gateway(owner, monkeypatch)
        # The same key sent to an API that no longer takes it.
        with serving(replace(simulator_config, api_key="another-key")) as refusing:
            settings.WAVESPEED_BASE_URL = refusing.url
            made["refused"] = post_prompt(owner, "A refused key")
        settings.WAVESPEED_BASE_URL = simulator.url
        teammate = Client()
        teammate.force_login(bob)
        image = made["team"].images.get()
        teammate.post(f"/images/{image.pk}/report/", {"reason": "Looks odd"})
        moderator = Client()
        moderator.force_login(maude)
        flagged = made["flagged"].images.get()
        moderator.post(f"/moderation/images/{flagged.pk}/approve/", {"note": "fine"})
    for generation in made.values():
        generation.refresh_from_db()
    assert [made[name].status for name in ("team", "private", "flagged", "gateway")] == [
        "completed"
    ] * 4
    assert made["failed"].status == "failed"
    # A refused key pauses submitting (the breaker): the generation waits with the API's words.
    assert made["refused"].status == "queued"
    assert "401" in made["refused"].error_detail
    return {"made": made, "logs": logs.texts, "sql": [query["sql"] for query in queries]}


def script_through_the_gateway(owner, monkeypatch) -> Generation:
    """Alice makes a personal token on her account page (the one page that shows it) and a
    script uses it on every gateway endpoint, a refused call and a 404 included."""
    from django.test import Client

    from generations.accounts.tokens import IN_TEXT

    page = owner.post("/accounts/tokens/", {"name": "nightly", "expires": "30"})
    token = IN_TEXT.search(page.content.decode()).group(0)
    monkeypatch.setattr(sys.modules[__name__], "TOKEN_DISGUISES", disguises(token))
    assert found(page.content)  # the search would see it
    script = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = {"prompt": "A scripted heron", "seed": 3}
    submitted = script.post(f"/api/v3/{MODEL_ID}", body, content_type="application/json")
    assert submitted.status_code == 200, submitted.content
    prediction = submitted.json()["data"]["id"]
    result = script.get(f"/api/v3/predictions/{prediction}/result").json()["data"]
    assert result["status"] == "completed", result
    answers = [
        submitted,
        script.get(f"/api/v3/predictions/{prediction}/result"),
        script.get(result["outputs"][0]),
        script.post("/api/v3/predictions", {"page": 1}, content_type="application/json"),
        script.get("/api/v3/balance"),
        script.post(f"/api/v3/{MODEL_ID}", {"seed": "x"}, content_type="application/json"),
        script.get("/api/v3/predictions/999999/result"),
        script.post("/api/v3/wavespeed-ai/flux-dev", {}, content_type="application/json"),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 200, 400, 404, 404]
    # No gateway answer quotes the token back, refusals included.
    assert [found(everything_in(answer)) for answer in answers] == [[]] * len(answers)
    return Generation.objects.get(pk=int(prediction))


# --- every page and JSON answer, as each of the cast --------------------------------------------

JSON = {"HTTP_ACCEPT": "application/json"}


def site_pages() -> list[tuple[str, dict[str, str]]]:
    """Every page of the site, with JSON asked for where a page has a JSON form."""
    pages: list[tuple[str, dict[str, str]]] = [
        (page, {})
        for page in (
            "/",
            "/gallery/",
            "/gallery/?partial=1",
            "/gallery/?view=mine",
            "/gallery/?status=failed",
            "/usage/",
            "/moderation/",
            "/moderation/history/",
            "/accounts/login/",
            "/accounts/password_change/",
            "/accounts/tokens/",
            "/healthz",
            "/admin/",
        )
    ]
    pages += [("/gallery/", JSON), ("/healthz", JSON)]
    for pk in Generation.objects.values_list("pk", flat=True):
        detail = f"/generations/{pk}/"
        pages += [(detail, {}), (detail, JSON), (f"{detail}delete/", {})]
        pages += [(f"/?from={pk}", {}), (f"/?from={pk}&seed=new", {})]
    for pk in OutputImage.objects.values_list("pk", flat=True):
        pages += [(f"/moderation/images/{pk}/", {}), (f"/images/{pk}/original/", {})]
        pages += [(f"/images/{pk}/thumbnail/", {})]
    for token in PersonalAccessToken.objects.values_list("pk", flat=True):
        pages += [(f"/accounts/tokens/{token}/revoke/", {})]
    return pages


def admin_pages() -> list[tuple[str, dict[str, str]]]:
    """The admin's list, add, change and history pages of every registered model and record."""
    pages = []
    for model in admin.site._registry:
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages += [(reverse(f"{name}_changelist"), {}), (reverse(f"{name}_add"), {})]
        for pk in model._default_manager.values_list("pk", flat=True):
            pages += [(reverse(f"{name}_change", args=[pk]), {})]
            pages += [(reverse(f"{name}_history", args=[pk]), {})]
    return pages


def everything_in(response) -> bytes:
    """A response's status line, headers, cookies and body (streamed files too)."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    head = f"{response.status_code}\n{response.headers!r}\n{response.cookies.output()}\n"
    return head.encode() + body


CAST = ("anonymous", "alice", "bob", "stella", "maude", "admin")


@pipeline_db
def test_no_page_or_json_answer_shows_the_key_to_anyone(site_in_use, client_for, request):
    refused = site_in_use["made"]["refused"]
    for who in CAST:
        visitor = client_for(None if who == "anonymous" else request.getfixturevalue(who))
        pages = site_pages()
        if who in ("stella", "maude", "admin"):
            pages += admin_pages()
        leaks, crashes, read, texts = [], [], 0, []
        for page, headers in pages:
            response = visitor.get(page, **headers)
            if response.status_code >= 500:
                crashes.append(page)
            if response.status_code == 200:
                read += 1
            text = everything_in(response)
            texts.append(text)
            if seen := found(text):
                leaks.append((page, headers, seen))
        assert not crashes, f"{who} crashed {crashes}"
        assert not leaks, f"{who} was shown the key: {leaks}"
        # The crawl read pages, not only redirects to the login page.
        assert read >= (2 if who == "anonymous" else 20), f"{who} read only {read} pages"
        if who == "admin":
            # Staff read the API's own words about the refused key: the likeliest place.
            detail = html.escape(refused.error_detail).encode()
            assert refused.error_detail and any(detail in text for text in texts)


# --- error pages, DEBUG on and off --------------------------------------------------------------


def raise_error(request):
    raise RuntimeError("a page broke while the key was configured")


def raise_inside_an_api_call(request):
    """A crash deep in the HTTP stack, with the request's headers in its frames' variables."""
    with provider.get_client() as client:
        client.get_result("no-such-prediction")


@token_required
def raise_inside_the_gateway(request):
    """A gateway endpoint that breaks after the token's check: the token is in the request."""
    raise RuntimeError("a gateway call broke")


urlpatterns = [
    path("raise-in-gateway/", raise_inside_the_gateway),
    path("raise/", raise_error),
    path("raise-in-api-call/", raise_inside_an_api_call),
    path("", include("playground.urls")),
]


@pytest.fixture
def error_site(settings, monkeypatch, alice):
    """This module's URLconf, the key in settings and the environment, and a crash inside the
    connection pool of any API call."""
    settings.ROOT_URLCONF = __name__
    settings.WAVESPEED_API_KEY = KEY
    settings.WAVESPEED_BASE_URL = "http://127.0.0.1:9"
    monkeypatch.setenv("WAVESPEED_API_KEY", KEY)

    def crash(*args, **kwargs):
        raise RuntimeError("the connection pool broke")

    monkeypatch.setattr(urllib3.connectionpool.HTTPConnectionPool, "_make_request", crash)
    return alice


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False], ids=["DEBUG on", "DEBUG off"])
@pytest.mark.parametrize(
    "page,status",
    [("/no-such-page/", 404), ("/raise/", 500), ("/raise-in-api-call/", 500)],
)
def test_error_pages_do_not_show_the_key(error_site, client_for, settings, debug, page, status):
    from django.test import Client

    settings.DEBUG = debug
    visitor = Client(raise_request_exception=False)
    visitor.force_login(error_site)
    with every_log_record() as logs:
        # As a WSGI server passes it: the process environment in the request's META.
        response = visitor.get(page, **dict(os.environ))
    assert response.status_code == status
    if debug and status == 500:
        # Django's technical page, with its settings and the frames' variables.
        assert b"Traceback" in response.content and b"WAVESPEED_API_KEY" in response.content
        if "api-call" in page:
            assert b"urlopen" in response.content  # the frame whose headers hold the key
    assert found(everything_in(response)) == []
    assert [text for text in logs.texts if found(text)] == []


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False], ids=["DEBUG on", "DEBUG off"])
def test_a_gateway_error_page_does_not_show_the_personal_token(
    error_site, settings, debug, monkeypatch
):
    from django.test import Client

    from generations.accounts import tokens

    token = tokens.issue(error_site, "crashing script")[1]
    monkeypatch.setattr(sys.modules[__name__], "TOKEN_DISGUISES", disguises(token))
    settings.DEBUG = debug
    script = Client(raise_request_exception=False)
    with every_log_record() as logs:
        response = script.post(
            "/raise-in-gateway/",
            json.dumps({"prompt": "x", "note": token}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    assert response.status_code == 500
    if debug:
        assert b"Traceback" in response.content and b"HTTP_AUTHORIZATION" in response.content
    assert found(everything_in(response)) == []
    assert logs.texts and [text for text in logs.texts if found(text)] == []


# --- logs, stored records, stored files, task payloads ------------------------------------------


@pipeline_db
def test_no_log_record_or_sql_statement_holds_the_key(site_in_use):
    logs, sql = site_in_use["logs"], site_in_use["sql"]
    # Both were taken: urllib3 logged its requests, the pipeline its SQL.
    assert any("/api/v3/" in text for text in logs) and len(sql) > 50
    assert [text for text in logs if found(text)] == []
    assert [statement for statement in sql if found(statement)] == []


@pipeline_db
def test_no_stored_record_file_or_task_payload_holds_the_key(site_in_use, monkeypatch):
    rows = 0
    for model in apps.get_models():
        for row in model._base_manager.values():
            rows += 1
            assert found(repr(row)) == [], f"{model._meta.label} {row}"
    assert rows > 20
    files = 0
    for image in OutputImage.objects.all():
        for field in (image.original, image.thumbnail):
            with field.open("rb") as handle:
                assert found(handle.read()) == [], field.name
            files += 1
    assert files == 8
    # What the inline pipeline recorded of its tasks (the sweeper downloads in threads of its
    # own, an ingest task only when they are busy: an ingest task's payload is checked below).
    recorded = {task.func for task in Task.objects.all()}
    assert "generations.tasks.sweep_predictions" in recorded
    # What the broker (the ORM's table or Redis) stores for a worker to take: signed,
    # pickled payloads.
    monkeypatch.setattr(Conf, "SYNC", False)
    broker = get_broker()
    broker.purge_queue()
    team = site_in_use["made"]["team"]
    enqueue.ingest(team.pk)
    enqueue.sweep()
    payloads = []
    for _ in range(10):
        taken = broker.dequeue()
        if not taken:
            break
        payloads += [payload for _key, payload in taken]
    assert len(payloads) == 2
    for payload in payloads:
        package = SignedPackage.loads(payload)
        assert package["func"].startswith("generations.tasks.")
        assert found(payload) == [] and found(repr(package)) == []
