"""PostgreSQL and Redis for tests that need the real services, and a simulator in a thread.

Locally a service that does not answer skips those tests (a fresh laptop has neither); in CI
(CI=true), or when DATABASE_URL / REDIS_URL ask for the services, it fails them instead.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

from generations.wavespeed.simulator.config import SimulatorConfig
from generations.wavespeed.simulator.server import SimulatorServer, make_server
from playground.env import env_bool, env_str

# Where tests create their own databases: the server of DATABASE_URL if it is PostgreSQL.
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# The stack test's own Redis database: the suite's REDIS_URL uses another (15 in .ci/run).
STACK_REDIS_DB = 14


def in_ci() -> bool:
    """True on a CI runner (CI set to a true value), where nothing may be skipped for lack."""
    return env_bool("CI", False)


def services_required() -> bool:
    """True when a missing service must fail the run rather than skip tests."""
    return in_ci() or bool(env_str("REDIS_URL")) or postgres_from_environment() is not None


def unavailable(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (required in CI and when DATABASE_URL/REDIS_URL are set)")
    pytest.skip(reason)


def postgres_from_environment() -> str | None:
    url = env_str("DATABASE_URL")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def postgres_server_url() -> str:
    """A URL of the PostgreSQL server with the `postgres` maintenance database."""
    parts = urlsplit(postgres_from_environment() or DEFAULT_POSTGRES_URL)
    return urlunsplit(parts._replace(path="/postgres"))


def redis_server_url(db: int) -> str:
    parts = urlsplit(env_str("REDIS_URL", DEFAULT_REDIS_URL))
    return urlunsplit(parts._replace(path=f"/{db}"))


def _admin_connection():
    import psycopg

    return psycopg.connect(postgres_server_url(), autocommit=True, connect_timeout=5)


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty database for the duration; its URL. Dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with _admin_connection() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as error:
        unavailable(f"PostgreSQL does not answer at {postgres_server_url()}: {error}")
    try:
        yield urlunsplit(urlsplit(postgres_server_url())._replace(path=f"/{name}"))
    finally:
        with _admin_connection() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def flushed_redis_database(db: int) -> Iterator[str]:
    """A Redis database emptied before and after; its URL."""
    import redis

    url = redis_server_url(db)
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.flushdb()
    except redis.RedisError as error:
        unavailable(f"Redis does not answer at {url}: {error}")
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@contextmanager
def serving(config: SimulatorConfig) -> Iterator[SimulatorServer]:
    """A live simulator on a free loopback port, served from a thread for the duration."""
    server = make_server(config, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
