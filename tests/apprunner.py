"""Starts the whole app as `make run` does, in a folder of its own, for end-to-end tests.

Also the helpers of tests that run the app or `manage.py` as real processes: a free port,
`manage` with a clean environment, and logging in and generating over HTTP.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import requests

ROOT = Path(__file__).resolve().parent.parent
# Screenshots and figures for a person to look at after a run.
ARTIFACTS = ROOT / "test-artifacts"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "e2e-admin-password-123"
# Variables of this machine or this test run that must not leak into a subprocess's settings.
CLEARED = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "AWS_STORAGE_BUCKET_NAME",
    "SECURE_SSL_REDIRECT",
    "SECURE_COOKIES",
)
CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
GENERATION_URL = re.compile(r"/generations/\d+/$")

T = TypeVar("T")


def free_port() -> int:
    """A loopback port that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(
    args: list[str], env_changes: dict[str, str], var_dir: Path
) -> subprocess.CompletedProcess:
    """Run `manage.py` with this environment minus CLEARED, plus the changes; its output."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update({"PLAYGROUND_VAR_DIR": str(var_dir), **env_changes})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.5) -> T:
    """Call predicate until it returns something true, and return that; fail after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout:g}s: {what}")


def csrf_token(html: str) -> str:
    return CSRF_TOKEN.search(html).group(1)


def log_in(
    app: RunningApp, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD
) -> requests.Session:
    """A session signed in through the login form."""
    session = requests.Session()
    page = session.get(f"{app.url}/accounts/login/", timeout=10)
    answer = session.post(
        f"{app.url}/accounts/login/",
        timeout=10,
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": csrf_token(page.text),
        },
    )
    assert answer.url == f"{app.url}/", f"{username} could not log in"
    return session


def submit_generation(
    session: requests.Session,
    app: RunningApp,
    prompt: str,
    *,
    aspect_ratio: str = "1:1",
    seed: int | None = None,
) -> str:
    """Send the playground form; the URL of the new generation's page."""
    token = csrf_token(session.get(f"{app.url}/", timeout=10).text)
    answer = session.post(
        f"{app.url}/",
        timeout=30,
        data={
            "csrfmiddlewaretoken": token,
            "prompt": prompt,
            "aspect_ratio": aspect_ratio,
            "seed": "" if seed is None else str(seed),
            "guidance_scale": "3.5",
            "safety_tolerance": "2",
        },
    )
    assert GENERATION_URL.search(answer.url), answer.text[:500]
    return answer.url


def descendants(pid: int) -> set[int]:
    """Every live process below pid, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces or parentheses: fields start after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found.add(child)
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class RunningApp:
    """One instance of the app: web server, task cluster and simulator."""

    workdir: Path
    command: list[str] = field(
        default_factory=lambda: [sys.executable, "manage.py", "runplayground"]
    )
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    simulator_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "app.log"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("WAVESPEED_", "SIMULATOR_", "DJANGO_"))
        }
        env.update(
            {
                "PLAYGROUND_VAR_DIR": str(self.workdir / "var"),
                "DATABASE_URL": f"sqlite:///{self.workdir / 'db.sqlite3'}",
                "PORT": str(self.port),
                "SIMULATOR_PORT": str(self.simulator_port),
                "PLAYGROUND_ADMIN_USER": ADMIN_USER,
                "PLAYGROUND_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "SIMULATOR_LATENCY": "1.5",
                "POLL_INTERVAL_SECONDS": "0.3",
                "PYTHONUNBUFFERED": "1",
                "Q_SYNC": "0",
            }
        )
        env.pop("REDIS_URL", None)
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 120) -> RunningApp:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:  # the child keeps its own copy of the handle
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "is running at" in self.log():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the app did not start; its log:\n{self.log()}")

    def manage(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a `manage.py` command against the running app's database and files."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def shell(self, code: str) -> str:
        """Run Python in a `manage.py shell` with the app's environment; its output."""
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-v0", "-c", code],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def create_users(
        self, usernames: Iterable[str], password: str, *, moderator: bool = False
    ) -> None:
        """Add accounts to the running app's database, as staff would in the admin."""
        self.shell(
            "from django.contrib.auth.models import Permission, User\n"
            f"for name in {list(usernames)!r}:\n"
            "    user, _ = User.objects.get_or_create(username=name)\n"
            f"    user.set_password({password!r}); user.is_staff = {moderator!r}; user.save()\n"
            f"    if {moderator!r}: user.user_permissions.add("
            "Permission.objects.get(codename='review_image'))\n"
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def interrupt(self, timeout: float = 40) -> tuple[int | None, set[int]]:
        """Ctrl-C as a terminal sends it (to the whole foreground group); return what was left.

        Returns the exit status and the processes of the app still alive afterwards.
        """
        assert self.process is not None
        family = descendants(self.process.pid)
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            status = None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(pid) for pid in family):
            time.sleep(0.1)
        return status, {pid for pid in family if alive(pid)}

    def stop(self) -> None:
        """Best-effort stop for fixtures: interrupt, then kill whatever remains."""
        if self.process is None or self.process.poll() is not None:
            return
        _, left = self.interrupt()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
