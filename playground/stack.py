"""The team stack without containers: the services of docker-compose.yml as local processes.

python -m playground.stack   (what `make stack` runs)

Against the DATABASE_URL and REDIS_URL of the environment (the local PostgreSQL and Redis by
default) it creates the database if it is missing, collects static files and migrates (the
one-shots), then starts gunicorn, STACK_WORKERS task clusters (default 2) and, without a
WAVESPEED_API_KEY, the simulator. A crashed web server or worker is started again, as compose's
`restart: unless-stopped` does; Ctrl-C stops everything (playground/launcher.py's handling).

SERVICES is the single description of the topology: tests/test_stack_topology.py checks that
docker-compose.yml declares the same services, commands and variables.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground import healthcheck, launcher
from playground.env import InvalidSetting, env_int, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# Variables the stack itself points at the backing services; everything else comes from the
# environment (compose: the .env file) unchanged.
APP_ENVIRONMENT = ("DATABASE_URL", "REDIS_URL", "SIMULATOR_URL", "MEDIA_ROOT")
BACKING_SERVICES = ("postgres", "redis")
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/playground"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# A service that crashes this often within RESTART_WINDOW_SECONDS is broken, not unlucky.
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Service:
    """One service of the stack, as compose declares it."""

    name: str
    command: tuple[str, ...]
    environment: tuple[str, ...] = ()  # set per service by the stack (compose: `environment`)
    one_shot: bool = False  # runs to completion before the others start
    restart: bool = False  # compose: restart: unless-stopped
    profile: str | None = None  # compose profile; here: started only when it is needed
    scale_variable: str | None = None  # how many copies run natively


SERVICES: tuple[Service, ...] = (
    Service(
        "migrate",
        ("python", "manage.py", "migrate", "--noinput"),
        environment=APP_ENVIRONMENT,
        one_shot=True,
    ),
    Service(
        "web",
        (
            "python",
            "-m",
            "gunicorn",
            "--config",
            "python:playground.gunicorn_conf",
            "playground.wsgi",
        ),
        environment=(*APP_ENVIRONMENT, "HOST", "PORT"),
        restart=True,
    ),
    Service(
        "worker",
        ("python", "manage.py", "qcluster"),
        environment=APP_ENVIRONMENT,
        restart=True,
        scale_variable="STACK_WORKERS",
    ),
    Service(
        "simulator",
        ("python", "-m", "generations.wavespeed.simulator"),
        environment=("SIMULATOR_HOST", "SIMULATOR_PORT"),
        restart=True,
        profile="simulator",
    ),
)
# Native only: the image collects static files when it is built (see Dockerfile).
COLLECTSTATIC = ("python", "manage.py", "collectstatic", "--noinput", "-v0")


def service(name: str) -> Service:
    return next(s for s in SERVICES if s.name == name)


def native_argv(command: tuple[str, ...]) -> list[str]:
    """A service's command with this interpreter standing in for `python`."""
    return [sys.executable if part == "python" else part for part in command]


def prepare_environment(environ: MutableMapping[str, str]) -> None:
    """Fill in the local defaults of the variables the stack points at the services.

    The children read them too, so each is written back: its default when it is unset or empty
    (playground/env.py's rule). A malformed port stops the stack here, naming the variable.
    """
    texts = {
        "DATABASE_URL": DEFAULT_DATABASE_URL,
        "REDIS_URL": DEFAULT_REDIS_URL,
        "HOST": "127.0.0.1",
        "SIMULATOR_HOST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    for name, default in texts.items():
        environ[name] = env_str(name, default, environ=environ)
    for name, port in (("PORT", 8000), ("SIMULATOR_PORT", 8001)):
        environ[name] = str(env_int(name, port, minimum=1, maximum=65535, environ=environ))
    simulator_url = f"http://127.0.0.1:{environ['SIMULATOR_PORT']}"
    environ["SIMULATOR_URL"] = env_str("SIMULATOR_URL", simulator_url, environ=environ)


def ensure_database(database_url: str) -> bool:
    """Create the PostgreSQL database named in the URL if it does not exist; True if created."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    config = dj_database_url.parse(database_url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        return False
    given = {
        "host": config.get("HOST"),
        "port": config.get("PORT"),
        "user": config.get("USER"),
        "password": config.get("PASSWORD"),
    }
    params: dict[str, Any] = {name: value for name, value in given.items() if value}
    with psycopg.connect(
        dbname="postgres", autocommit=True, connect_timeout=10, **params
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if exists:
            return False
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
    return True


def children_for(environ: Mapping[str, str]) -> list[launcher.Child]:
    """The long-running processes, in start order."""
    children = []
    if not env_str("WAVESPEED_API_KEY", environ=environ):
        children.append(launcher.Child("simulator", native_argv(service("simulator").command)))
    children.append(launcher.Child("web", native_argv(service("web").command)))
    worker = service("worker")
    assert worker.scale_variable is not None  # the table names the variable that scales it
    workers = env_int(worker.scale_variable, 2, minimum=1, maximum=64, environ=environ)
    for number in range(1, workers + 1):
        children.append(launcher.Child(f"worker-{number}", native_argv(worker.command)))
    return children


def _one_shot(argv: list[str]) -> int:
    # The argv is built from sys.executable and fixed arguments, never from input.
    return subprocess.run(argv, cwd=BASE_DIR, check=False).returncode  # noqa: S603


def _restartable(child: launcher.Child) -> bool:
    name = child.name.split("-")[0]
    return service(name).restart


def supervise(stack: launcher.Launcher) -> int:
    """Restart crashed services until a signal arrives; give up on one that keeps crashing."""
    restarts: dict[str, deque[float]] = {c.name: deque() for c in stack.children}
    while not stack.stopping.wait(0.5):
        for child in stack.children:
            if child.process is None or child.process.poll() is None:
                continue
            status = child.process.returncode
            recent = restarts[child.name]
            now = time.monotonic()
            while recent and now - recent[0] > RESTART_WINDOW_SECONDS:
                recent.popleft()
            if not _restartable(child) or len(recent) >= MAX_RESTARTS:
                print(f"{child.name} exited with status {status}; stopping everything", flush=True)
                return 1
            # Kill what is left of its group (a dead cluster's orphaned workers) first.
            launcher.signal_group(child.process, signal.SIGKILL)
            recent.append(now)
            stack.start(child)
            print(
                f"{child.name} exited with status {status}; restarted (pid {child.process.pid})",
                flush=True,
            )
    return 0


def run(environ: MutableMapping[str, str] | None = None) -> int:
    """Prepare, start and supervise the stack until Ctrl-C; return the exit status."""
    environ = os.environ if environ is None else environ
    try:
        prepare_environment(environ)
    except InvalidSetting as error:
        print(error, flush=True)
        return 1
    try:
        if ensure_database(environ["DATABASE_URL"]):
            print("Created the database named in DATABASE_URL", flush=True)
    except Exception as error:  # psycopg's errors name the host, never the password
        print(
            f"PostgreSQL does not answer at DATABASE_URL ({type(error).__name__}): {error}",
            flush=True,
        )
        return 1
    one_shots = [COLLECTSTATIC, *(s.command for s in SERVICES if s.one_shot)]
    for argv in map(native_argv, one_shots):
        if _one_shot(argv) != 0:
            print(f"{' '.join(argv[1:])} failed; not starting the stack", flush=True)
            return 1
    stack = launcher.Launcher(children=children_for(environ), cwd=BASE_DIR)
    stack.stop_on_signals()
    try:
        return _start_and_supervise(stack, environ)
    finally:
        stack.stop_all()


def _start_and_supervise(stack: launcher.Launcher, environ: Mapping[str, str]) -> int:
    for child in stack.children:
        if stack.stopping.is_set():
            return 0
        process = stack.start(child)
        print(f"{child.name} started (pid {process.pid})", flush=True)
        if child.name == "simulator" and not stack.wait_until_healthy(
            child, f"http://127.0.0.1:{environ['SIMULATOR_PORT']}/healthz"
        ):
            if stack.stopping.is_set():
                return 0
            print("The simulator did not start; is SIMULATOR_PORT free?", flush=True)
            return 1
        if child.name == "web" and not stack.wait_until_healthy(
            child, healthcheck.default_url(environ), host=healthcheck.default_host(environ)
        ):
            if stack.stopping.is_set():
                return 0
            print("The web server did not become healthy; is PORT free?", flush=True)
            return 1
    print(
        f"Kontext Playground stack is running at "
        f"http://{launcher.shown_host(environ['HOST'])}:{environ['PORT']}/ with "
        f"{sum(c.name.startswith('worker') for c in stack.children)} workers. "
        "Press Ctrl-C to stop.",
        flush=True,
    )
    return supervise(stack)


if __name__ == "__main__":
    sys.exit(run())
