"""Runs the whole app in the foreground: web server, task cluster, and the simulator if needed.

Each child runs in its own session so that the launcher alone decides how they stop: on
Ctrl-C (SIGINT) or SIGTERM every child gets SIGTERM, then its whole process group SIGKILL
after a grace period, so no worker or server is left behind.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playground import healthcheck
from playground.env import env_bool

GRACE_SECONDS = 15.0
READY_TIMEOUT_SECONDS = 60.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = field(default=None, repr=False)


@dataclass
class Launcher:
    children: list[Child]
    cwd: Path
    stopping: threading.Event = field(default_factory=threading.Event)
    # The children's environment; None: this process's own.
    env: dict[str, str] | None = None

    def start(self, child: Child) -> subprocess.Popen:
        # The argv is built from sys.executable and fixed arguments, never from input.
        child.process = subprocess.Popen(  # noqa: S603
            child.argv, cwd=self.cwd, start_new_session=True, env=self.env
        )
        return child.process

    def stop_on_signals(self) -> None:
        """Ctrl-C (SIGINT) and SIGTERM set `stopping`; the supervisor then stops the children."""

        def on_signal(signum, frame) -> None:
            self.stopping.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    def wait_until_healthy(
        self,
        child: Child,
        url: str,
        *,
        host: str | None = None,
        timeout: float = READY_TIMEOUT_SECONDS,
    ) -> bool:
        """Poll a health URL until it answers 200.

        False when the child dies, the timeout passes, or a signal asks to stop (then
        `stopping` is set, and the caller should stop quietly rather than report a failure).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping.is_set():
            if child.process is None or child.process.poll() is not None:
                return False
            if healthcheck.probe(url, host=host, timeout=2):
                return True
            self.stopping.wait(0.2)
        return False

    def stop_all(self) -> None:
        """SIGTERM every child, then SIGKILL whatever is still in its group."""
        running = [
            (c.name, c.process) for c in self.children if c.process and c.process.poll() is None
        ]
        for _, process in running:
            # Only the leader: a qcluster or gunicorn master stops its own processes in order,
            # while a signal to the whole group hits them mid-shutdown and stalls the stop.
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for name, process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop in {GRACE_SECONDS:g}s; killing it", flush=True)
        for child in self.children:
            if child.process:
                # Also catches grandchildren (the cluster's workers) left in the group.
                signal_group(child.process, signal.SIGKILL)
                child.process.wait()

    def watch(self) -> int:
        """Wait until a signal arrives or a child dies; return the exit status."""
        while not self.stopping.wait(0.5):
            for child in self.children:
                if child.process and child.process.poll() is not None:
                    print(
                        f"{child.name} exited with status {child.process.returncode}; "
                        "stopping everything",
                        flush=True,
                    )
                    return 1
        return 0


def signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def shown_host(host: str) -> str:
    """The address to print for a listening host: a wildcard one is reached on loopback."""
    return "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104


def unreachable_from_outside(url: str) -> bool:
    """Whether a URL names this machine or a private network (by name or address literal)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: only DNS knows, and it is the deployer's
    return not address.is_global


def children_environment(
    environ: Mapping[str, str], *, simulated: bool, host: str, port: int
) -> dict[str, str]:
    """The environment of `make run`'s processes: this one's, with PUBLIC_BASE_URL set to the
    local web server in simulator mode when it is unset (unless SIMULATOR_WEBHOOKS is off).

    The simulator delivers webhooks to this web server on loopback. Only in simulator mode:
    the real API cannot reach a local address, so there the address stays the deployer's.
    SIMULATOR_WEBHOOKS=false shows the app on polling alone, as a deployment without a public
    address runs (the pipeline benchmark measures both).
    """
    env = dict(environ)
    wanted = env_bool("SIMULATOR_WEBHOOKS", True, environ)
    if simulated and wanted and not env.get("PUBLIC_BASE_URL", "").strip():
        env["PUBLIC_BASE_URL"] = f"http://{url_host(shown_host(host))}:{port}"
    return env


def url_host(host: str) -> str:
    """A host as it is written in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def run(
    *,
    host: str,
    port: int,
    simulated: bool,
    simulator_port: int,
    base_dir: Path,
    admin_message: str,
) -> int:
    """Start every process, print where to go, and supervise until stopped."""
    python = sys.executable
    manage = str(base_dir / "manage.py")
    children = []
    simulator = None
    if simulated:
        simulator = Child(
            "simulator",
            [
                python,
                "-m",
                "generations.wavespeed.simulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(simulator_port),
            ],
        )
        children.append(simulator)
    children.append(Child("task cluster", [python, manage, "qcluster"]))
    web = Child("web server", [python, manage, "runserver", f"{host}:{port}", "--noreload"])
    children.append(web)
    shown = shown_host(host)
    env = children_environment(os.environ, simulated=simulated, host=host, port=port)
    launcher = Launcher(children=children, cwd=base_dir, env=env)
    launcher.stop_on_signals()
    try:
        for child in children:
            if launcher.stopping.is_set():
                return 0
            launcher.start(child)
            if child is simulator and not launcher.wait_until_healthy(
                child, f"http://127.0.0.1:{simulator_port}/healthz"
            ):
                if launcher.stopping.is_set():
                    return 0
                print(
                    "The simulator did not start; is port "
                    f"{simulator_port} free? (set SIMULATOR_PORT)",
                    flush=True,
                )
                return 1
        if not launcher.wait_until_healthy(web, f"http://{shown}:{port}/healthz"):
            if launcher.stopping.is_set():
                return 0
            print(f"The web server did not start; is port {port} free? (set PORT)", flush=True)
            return 1
        print("\n" + "=" * 72, flush=True)
        print(f"Kontext Playground is running at http://{shown}:{port}/", flush=True)
        print(admin_message, flush=True)
        if simulated:
            print(
                f"No WAVESPEED_API_KEY is set: the simulator on port {simulator_port} "
                "stands in for the API.",
                flush=True,
            )
        if env.get("PUBLIC_BASE_URL", "").strip():
            public = env["PUBLIC_BASE_URL"].strip().rstrip("/")
            print(f"Webhooks: the API calls back at {public}/webhooks/wavespeed/", flush=True)
            if not simulated and unreachable_from_outside(public):
                print(
                    f"Warning: PUBLIC_BASE_URL ({public}) is a local address the API cannot "
                    "reach; results then arrive by polling only.",
                    flush=True,
                )
        print("Press Ctrl-C to stop.", flush=True)
        print("=" * 72 + "\n", flush=True)
        return launcher.watch()
    finally:
        launcher.stop_all()
