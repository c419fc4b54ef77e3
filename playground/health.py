"""/healthz and what it reports: the database, the task broker, and the workers' last sign of life.

The database and the broker decide the HTTP status (503 when either is down): without them no
page and no generation works. Workers only report: a monitor can alert on the heartbeat's age,
and a web process should not be taken out of rotation because workers are restarting.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

log = logging.getLogger(__name__)

# A health check must answer quickly even when a service hangs rather than refuses.
REDIS_TIMEOUT_SECONDS = 2.0


@login_not_required
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The health document, for load balancers, the container health check and monitors."""
    document, status = report()
    return JsonResponse(document, status=status)


def report() -> tuple[dict[str, Any], int]:
    """The health document and its HTTP status."""
    database = _check_database()
    broker = _check_broker() if settings.REDIS_URL else database  # the ORM broker is the database
    healthy = database == "ok" and broker == "ok"
    document = {
        "status": "ok" if healthy else "error",
        "database": database,
        "broker": broker,
        "broker_kind": "redis" if settings.REDIS_URL else "orm",
        "workers": _workers(database_ok=database == "ok", broker_ok=broker == "ok"),
    }
    return document, 200 if healthy else 503


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any failure means "down"; the reason goes to the log, not the answer
        log.exception("Health check: the database does not answer")
        return "error"
    return "ok"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )


def _check_broker() -> str:
    try:
        with _redis() as client:
            client.ping()
    except redis.RedisError:
        log.exception("Health check: the Redis broker does not answer")
        return "error"
    return "ok"


def _workers(*, database_ok: bool, broker_ok: bool) -> dict[str, Any]:
    """Live clusters and the newest sign of life of any worker.

    Running clusters save their stats every half second with a 3-second expiry: in Redis with
    the Redis broker, in the Django cache with the ORM broker (seen here only if that cache is
    shared). Finished tasks are recorded in the database on both brokers, and the every-minute
    sweep schedule keeps that record fresh, so it is the fallback.
    """
    clusters = _live_cluster_stats() if broker_ok else []
    last_task = _last_task_finished() if database_ok else None
    beats = [stat.timestamp for stat in clusters if getattr(stat, "timestamp", None)]
    if last_task is not None:
        beats.append(last_task)
    newest = max(beats, default=None)
    return {
        "clusters": len(clusters),
        "last_heartbeat": newest.isoformat() if newest else None,
        "last_heartbeat_age_seconds": (
            round((timezone.now() - newest).total_seconds(), 1) if newest else None
        ),
        "last_task_finished": last_task.isoformat() if last_task else None,
    }


def _live_cluster_stats() -> list:
    from django_q.status import Stat

    try:
        return Stat.get_all()
    except Exception:
        log.exception("Health check: cluster stats could not be read")
        return []


def _last_task_finished() -> datetime | None:
    from django_q.models import Task

    try:
        return Task.objects.order_by("-stopped").values_list("stopped", flat=True).first()
    except Exception:
        log.exception("Health check: finished tasks could not be read")
        return None
