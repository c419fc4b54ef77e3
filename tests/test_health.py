"""/healthz: database, broker and the workers' last sign of life; 503 when a service is down."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Task

from playground import health
from playground.env import env_str
from tests.apprunner import free_port, manage

pytestmark = pytest.mark.django_db


def test_healthy_services_answer_200_without_login(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    document = answer.json()
    assert document["status"] == "ok"
    assert document["database"] == "ok"
    assert document["broker"] == "ok"
    assert document["broker_kind"] == ("redis" if env_str("REDIS_URL") else "orm")
    assert set(document["workers"]) == {
        "clusters",
        "last_heartbeat",
        "last_heartbeat_age_seconds",
        "last_task_finished",
    }


def test_without_any_worker_activity_the_heartbeat_is_unknown(client, monkeypatch):
    # No live cluster, whatever else runs on this machine's broker.
    monkeypatch.setattr(health, "_live_cluster_stats", lambda: [])
    workers = client.get("/healthz").json()["workers"]
    assert workers["clusters"] == 0
    assert workers["last_task_finished"] is None
    assert workers["last_heartbeat"] is None
    assert workers["last_heartbeat_age_seconds"] is None


def test_a_finished_task_counts_as_the_workers_last_sign_of_life(client):
    stopped = timezone.now() - timedelta(seconds=42)
    Task.objects.create(
        id="a" * 32,
        name="sweep",
        func="generations.tasks.sweep_predictions",
        started=stopped - timedelta(seconds=1),
        stopped=stopped,
        success=True,
    )
    workers = client.get("/healthz").json()["workers"]
    assert workers["last_task_finished"] == stopped.isoformat()
    assert workers["last_heartbeat"] >= stopped.isoformat()
    assert workers["last_heartbeat_age_seconds"] <= 42.5


def test_a_redis_broker_that_does_not_answer_is_a_503(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "error"
    assert answer.json()["broker"] == "error"
    assert answer.json()["database"] == "ok"
    assert answer.json()["workers"]["clusters"] == 0


@pytest.mark.process
def test_a_database_that_does_not_answer_is_a_503(tmp_path):
    """A real process whose PostgreSQL is gone; the answer names no host, user or error."""
    code = (
        "from django.test import Client\n"
        "answer = Client().get('/healthz', HTTP_HOST='localhost')\n"
        "print(answer.status_code, answer.content.decode())\n"
    )
    # Without REDIS_URL (cleared by manage) the broker is the ORM one, in that database.
    result = manage(
        ["shell", "-v0", "-c", code],
        {"DATABASE_URL": f"postgres://ghost:hunter2@127.0.0.1:{free_port()}/nowhere"},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    status, body = result.stdout.strip().split(" ", 1)
    assert status == "503"
    document = json.loads(body)
    assert document["database"] == "error"
    assert document["broker"] == "error"  # the ORM broker lives in that database
    assert document["workers"]["last_heartbeat"] is None
    assert "hunter2" not in body and "ghost" not in body
