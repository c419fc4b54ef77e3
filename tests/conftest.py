"""Shared fixtures: the cast of users, a live simulator, and django-q2 in sync mode.

The cast: Alice owns generations; Bob is on Alice's team and sees her team work but not her
private work; Stella is staff without the review permission; Maude is a moderator (the
`review_image` permission) and sees everything; the admin is a superuser. Anonymous visitors
see nothing. Tests read like sentences about them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from django_q.conf import Conf

from generations.wavespeed.simulator.config import SimulatorConfig
from generations.wavespeed.simulator.server import SimulatorServer
from tests.services import serving

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Every test writes its files to a folder of its own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Real hashing takes a fifth of a second per user, and these passwords guard nothing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """SQLite tests use a database file in WAL mode, as the app does, not a shared memory one.

    The sweeper's threads write beside the test's own: a shared in-memory database locks
    whole tables and refuses them at once ("database table is locked"), where a file lets
    each writer wait its turn (the busy timeout), as in production.
    """
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] in ("django.db.backends.sqlite3", "playground.sqlite"):
        folder = tmp_path_factory.mktemp("database")
        database.setdefault("TEST", {})["NAME"] = str(folder / "test.sqlite3")


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password=PASSWORD)


@pytest.fixture
def admin(django_user_model):
    return django_user_model.objects.create_superuser("boss", password=PASSWORD)


@pytest.fixture
def stella(django_user_model):
    return django_user_model.objects.create_user("stella", password=PASSWORD, is_staff=True)


@pytest.fixture
def maude(django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("maude", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="review_image"))
    return user


@pytest.fixture
def client_for():
    """A test client logged in as someone (or no one)."""
    from django.test import Client

    def make(user=None) -> Client:
        visitor = Client()
        if user is not None:
            visitor.force_login(user)
        return visitor

    return make


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture(autouse=True)
def _renditions_inline(settings):
    """Ingest makes tile renditions itself, and downloads run in the task or the sweep that
    starts them: no thread outlives a test's database. The threads run in the end-to-end
    tests' processes, on the app's defaults."""
    settings.RENDITIONS_IN_BACKGROUND = False
    settings.DOWNLOAD_THREADS = 0


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A fast simulator; tests replace fields to inject failures or faults."""
    return replace(SimulatorConfig(), latency=0.3, sync_wait_max=5.0, seed=1234)


@pytest.fixture
def simulator(simulator_config, settings) -> Iterator[SimulatorServer]:
    """A live simulator in this process, with the app pointed at it."""
    with serving(simulator_config) as server:
        settings.WAVESPEED_BASE_URL = server.url
        settings.WAVESPEED_API_KEY = simulator_config.api_key
        settings.POLL_INTERVAL_SECONDS = 0.1
        yield server


@pytest.fixture
def sync_tasks(monkeypatch):
    """Run django-q2 tasks inline, in the caller: the pipeline without a cluster."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple[str, int | None]]:
    """Record enqueued tasks instead of running them, to look at one step at a time."""
    from generations import enqueue

    calls: list[tuple[str, int | None]] = []
    monkeypatch.setattr(enqueue, "ingest", lambda pk: calls.append(("ingest", pk)))
    monkeypatch.setattr(enqueue, "sweep", lambda: calls.append(("sweep", None)))
    return calls


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the running app start its processes: `make test-fast` leaves them out."""
    for item in items:
        if "running_app" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.process)


@pytest.fixture(scope="session")
def running_app(tmp_path_factory):
    """The whole app (web, cluster, simulator) as real processes, shared by a session's tests."""
    from tests.apprunner import RunningApp

    app = RunningApp(workdir=tmp_path_factory.mktemp("app")).start()
    try:
        yield app
    finally:
        app.stop()
