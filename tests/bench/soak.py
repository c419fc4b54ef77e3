"""Fault soak: many generations through a faulty simulator while the worker cluster is killed.

python -m tests.bench.soak [--generations N] [--kills K] [--database sqlite|postgres|both]

Real processes, as in production: the simulator (with SIMULATOR_FAULTS rates, plus prompt
markers on a share of the prompts) and django-q2 qclusters, on SQLite with the ORM broker or
on PostgreSQL with Redis. Generations are created at a steady pace with `submission.create_batch`
from a `manage.py shell`, as the form would; while they run, every qcluster is killed with
SIGKILL K times (each time once a further share of the generations has finished) and started
again. Then the criteria are checked and printed, and the figures written to
var/bench/soak-<database>.json:

- every generation reached a final state (completed, failed, timed_out);
- no prompt reached the simulator twice (its own record of predictions, never faulted);
- every completed generation has exactly one image with its files in storage, and no other
  generation has any.

Failing a generation is allowed: a lost submit answer with several candidates, a refused
prompt, a task failure all end as `failed` by design. Charging twice or losing an image is not.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from statistics import quantiles
from tempfile import mkdtemp
from typing import Any

import requests

from tests.apprunner import ROOT, RunningApp

FINAL_STATES = ("completed", "failed", "timed_out")
OWNER = "soak"
# Transport faults on every API call (submits, polls, the history, the balance probe).
SIMULATOR_FAULTS = (
    "500=0.015,502=0.015,503=0.015,429=0.015,429_bare=0.015,"
    "drop=0.02,drop_created=0.5,slow=0.01,slow_seconds=4"
)
# Prompt markers and the share of prompts that carry each; the rest are plain.
MARKERS: tuple[tuple[str, float], ...] = (
    ("[fail:1200]", 0.03),  # a task failure with a 1xxx code (the output was refused)
    ("[fail:5000]", 0.03),  # a task failure with a 5xxx code
    ("[refuse:1400]", 0.02),  # HTTP 200 with a task code in the envelope, nothing created
    ("[lose-answer]", 0.03),  # the task is created, the submit's answer is lost
    ("[hang=6]", 0.02),  # the task is created, the answer comes 6 s later
    ("[throttle=3]", 0.02),  # its result answers 429 with Retry-After for 3 s
    ("[vanish-once]", 0.02),  # its first result answers 404
)
LATENCY_RANGE = (0.5, 2.0)
CREATE_PER_SECOND = 10.0
BENCH_DIR = ROOT / "var" / "bench"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/soak"
# Not 14 (the stack test's) nor 15 (the suite's in .ci/run), nor 13 (the short soak's).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"


@dataclass
class Backend:
    """Where the app keeps its data and its queue."""

    name: str  # "sqlite" or "postgres"
    database_url: str
    redis_url: str | None = None
    clusters: int = 1


@dataclass
class SoakResult:
    """What a soak found: the figures to print and the criteria that failed (none: a pass)."""

    figures: dict[str, Any]
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def prompts_for(count: int, seed: int) -> list[str]:
    """One unique prompt per generation, some with fault markers, each with its latency."""
    dice = random.Random(seed)
    prompts = []
    for number in range(count):
        latency = round(dice.uniform(*LATENCY_RANGE), 2)
        roll, marker = dice.random(), ""
        for candidate, share in MARKERS:
            if roll < share:
                marker = candidate + " "
                break
            roll -= share
        prompts.append(f"{marker}[latency={latency}] soak lantern number {number:05d}")
    return prompts


class SoakApp:
    """The simulator and the qclusters as real processes, in a folder of their own."""

    def __init__(self, workdir: Path, backend: Backend, seed: int) -> None:
        self.workdir = workdir
        self.backend = backend
        extra = {
            "DATABASE_URL": backend.database_url,
            "MEDIA_ROOT": str(workdir / "media"),
            "SIMULATOR_LATENCY": "1",
            "SIMULATOR_FAULTS": SIMULATOR_FAULTS,
            "SIMULATOR_RANDOM_SEED": str(seed),
            "POLL_INTERVAL_SECONDS": "0.5",
            "SWEEP_SLICE_SECONDS": "5",
            "WAVESPEED_SUBMIT_TIMEOUT_SECONDS": "10",
            "WAVESPEED_TIMEOUT_SECONDS": "10",
            "DOWNLOAD_TIMEOUT_SECONDS": "15",
            # A download whose worker was killed starts again this soon.
            "INGEST_STALE_SECONDS": "20",
            "Q_TIMEOUT": "30",
            "Q_WORKERS": "2",
            "LOG_LEVEL": "WARNING",
        }
        if backend.redis_url:
            extra["REDIS_URL"] = backend.redis_url
        # RunningApp supplies the environment and `manage.py shell`; the processes are ours.
        self.app = RunningApp(workdir=workdir, extra_env=extra)
        self.simulator: subprocess.Popen | None = None
        self.clusters: list[subprocess.Popen] = []
        self.kills = 0

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.app.simulator_port}"

    def env(self) -> dict[str, str]:
        return self.app.env()

    def _start(self, argv: list[str], log_name: str) -> subprocess.Popen:
        with (self.workdir / log_name).open("ab") as log:  # the child keeps its own handle
            return subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group, so a kill takes all its processes
            )

    def prepare(self) -> None:
        """Migrate, and add the account that owns the generations."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        self.app.shell(
            "from django.contrib.auth.models import User\n"
            f"User.objects.get_or_create(username={OWNER!r})\n"
        )

    def start_simulator(self) -> None:
        self.simulator = self._start(
            [sys.executable, "-m", "generations.wavespeed.simulator", "--quiet"], "simulator.log"
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with suppress(requests.RequestException):
                if requests.get(f"{self.simulator_url}/healthz", timeout=2).ok:
                    return
            assert self.simulator.poll() is None, self.log("simulator.log")
            time.sleep(0.2)
        raise AssertionError("the simulator did not answer within 30 s")

    def start_clusters(self) -> None:
        self.clusters = [
            self._start([sys.executable, "manage.py", "qcluster"], f"qcluster-{number}.log")
            for number in range(1, self.backend.clusters + 1)
        ]

    def kill_clusters(self) -> None:
        """SIGKILL every qcluster's whole process group (sentinel, pusher, workers, monitor)."""
        for process in self.clusters:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self.kills += 1

    def create(self, prompts: list[str], per_second: float) -> subprocess.Popen:
        """Create one generation per prompt at a steady pace, from a `manage.py shell`."""
        path = self.workdir / "prompts.json"
        path.write_text(json.dumps(prompts))
        code = (
            "import json, time\n"
            "from django.contrib.auth.models import User\n"
            "from generations import submission\n"
            f"owner = User.objects.get(username={OWNER!r})\n"
            f"prompts = json.loads(open({str(path)!r}).read())\n"
            "started = time.monotonic()\n"
            "for number, prompt in enumerate(prompts):\n"
            "    submission.create_batch(owner, {'prompt': prompt, 'aspect_ratio': '1:1',\n"
            "        'seed': number, 'guidance_scale': 3.5, 'safety_tolerance': '2'})\n"
            # Pacing the arrivals like users would, not waiting for anything.
            f"    time.sleep(max(0.0, started + (number + 1) / {per_second} - time.monotonic()))\n"
        )
        return self._start([sys.executable, "manage.py", "shell", "-v0", "-c", code], "create.log")

    def states(self) -> Counter[str]:
        """How many generations are in each status, read straight from the database."""
        query = "SELECT status, COUNT(*) FROM generations_generation GROUP BY status"
        if self.backend.name == "sqlite":
            path = self.backend.database_url.removeprefix("sqlite:///")
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as connection:
                return Counter(dict(connection.execute(query).fetchall()))
        import psycopg

        with psycopg.connect(self.backend.database_url, connect_timeout=10) as connection:
            return Counter(dict(connection.execute(query).fetchall()))

    def generations(self) -> list[dict[str, Any]]:
        """Every generation with its images and whether their files are in storage."""
        output = self.app.shell(
            "import json\n"
            "from django.core.files.storage import default_storage\n"
            "from generations.models import Generation, OutputImage\n"
            "images = {}\n"
            "for image in OutputImage.objects.all():\n"
            "    images.setdefault(image.generation_id, []).append([image.index,\n"
            "        default_storage.exists(image.original.name),\n"
            # A thumbnail not made yet (null) is made by the first request for it.
            "        default_storage.exists(image.thumbnail.name) if image.thumbnail else None])\n"
            "rows = list(Generation.objects.values('pk', 'prompt', 'status', 'prediction_id',\n"
            "    'error', 'created_at', 'finished_at'))\n"
            "for row in rows:\n"
            "    row['images'] = images.get(row['pk'], [])\n"
            "    row['seconds'] = (row['finished_at'] - row['created_at']).total_seconds()"
            " if row['finished_at'] else None\n"
            "print(json.dumps(rows, default=str))\n"
        )
        return json.loads(output)

    def record(self) -> dict[str, Any]:
        """The simulator's own record: every prediction it made, the faults it injected."""
        answer = requests.get(
            f"{self.simulator_url}/_sim/record",
            headers={"Authorization": "Bearer simulator"},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()["data"]

    def log(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        """Stop everything this soak started: SIGTERM each leader, then SIGKILL its group."""
        processes = [*self.clusters, *([self.simulator] if self.simulator else [])]
        for process in processes:
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in processes:
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(quantiles(values, n=100, method="inclusive")[round(share * 100) - 1], 1)


def check(
    prompts: list[str], rows: list[dict[str, Any]], record: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The criteria, checked: (counts for the figures, what failed)."""
    failures = []
    statuses = Counter(row["status"] for row in rows)
    stuck = [row for row in rows if row["status"] not in FINAL_STATES]
    if len(rows) != len(prompts):
        failures.append(f"{len(rows)} generations in the database, {len(prompts)} created")
    if stuck:
        failures.append(
            f"{len(stuck)} generations did not reach a final state: "
            + ", ".join(f"#{row['pk']} {row['status']}" for row in stuck[:20])
        )

    per_prompt = Counter(item["prompt"] for item in record["predictions"])
    duplicates = {prompt: count for prompt, count in per_prompt.items() if count > 1}
    if duplicates:
        failures.append(f"{len(duplicates)} prompts reached the simulator more than once:")
        failures += [f"  {count}x {prompt!r}" for prompt, count in sorted(duplicates.items())]
    strangers = set(per_prompt) - set(prompts)
    if strangers:
        failures.append(f"{len(strangers)} predictions for prompts never created")
    known = {item["id"]: item["prompt"] for item in record["predictions"]}
    wrong_ids = [
        row
        for row in rows
        if row["prediction_id"] and known.get(row["prediction_id"]) != row["prompt"]
    ]
    if wrong_ids:
        failures.append(
            f"{len(wrong_ids)} generations follow a prediction the simulator did not make for "
            "their prompt: " + ", ".join(f"#{row['pk']}" for row in wrong_ids[:20])
        )

    lost = [row for row in rows if row["status"] == "completed" and len(row["images"]) != 1]
    extra = [row for row in rows if row["status"] != "completed" and row["images"]]
    missing_files = [
        row
        for row in rows
        for _index, original, thumbnail in row["images"]
        if not original or thumbnail is False
    ]
    if lost:
        failures.append(
            "completed generations without exactly one image: "
            + ", ".join(f"#{row['pk']} ({len(row['images'])})" for row in lost[:20])
        )
    if extra:
        failures.append(
            "unfinished or failed generations with images: "
            + ", ".join(f"#{row['pk']} {row['status']}" for row in extra[:20])
        )
    if missing_files:
        failures.append(
            "images whose files are not in storage: "
            + ", ".join(f"#{row['pk']}" for row in missing_files[:20])
        )
    counts = {
        "final_states": {state: statuses.get(state, 0) for state in FINAL_STATES},
        "not_final": len(stuck),
        "predictions_in_simulator": len(record["predictions"]),
        "duplicate_predictions": sum(count - 1 for count in duplicates.values()),
        "images": sum(len(row["images"]) for row in rows),
        "lost_images": len(lost),
        "duplicate_images": sum(max(0, len(row["images"]) - 1) for row in rows),
    }
    return counts, failures


def soak(
    backend: Backend,
    *,
    generations: int,
    kills: int,
    seed: int = 9,
    finish_timeout: float = 1200.0,
    workdir: Path | None = None,
) -> SoakResult:
    """Run one soak on one backend and check it; the processes are stopped whatever happens."""
    workdir = workdir or Path(mkdtemp(prefix=f"soak-{backend.name}-"))
    app = SoakApp(workdir, backend, seed)
    prompts = prompts_for(generations, seed)
    app.prepare()
    app.start_simulator()
    try:
        app.start_clusters()
        started = time.monotonic()
        creator = app.create(prompts, CREATE_PER_SECOND)
        kill_times: list[float] = []
        deadline = started + finish_timeout
        while True:
            states = app.states()
            finished = sum(states.get(state, 0) for state in FINAL_STATES)
            if creator.poll() not in (None, 0):
                raise AssertionError(f"creating generations failed:\n{app.log('create.log')}")
            if finished >= generations:
                break
            if time.monotonic() > deadline:
                break
            # The next kill once a further share of the generations has finished.
            if app.kills < kills and finished >= generations * (app.kills + 1) / (kills + 1):
                app.kill_clusters()
                kill_times.append(round(time.monotonic() - started, 1))
                app.start_clusters()
            time.sleep(1.0)
        wall = time.monotonic() - started
        creator.wait(timeout=60)
        rows = app.generations()
        record = app.record()
    finally:
        app.stop()

    counts, failures = check(prompts, rows, record)
    if app.kills < kills:
        failures.append(f"only {app.kills} of {kills} kills were done")
    seconds = sorted(row["seconds"] for row in rows if row["seconds"] is not None)
    figures = {
        "database": backend.name,
        "broker": "redis" if backend.redis_url else "orm",
        "generations": generations,
        "clusters": backend.clusters,
        "workers_per_cluster": 2,
        **counts,
        "faults_injected": dict(sorted(record["faults"].items())),
        # Why each generation that did not complete ended as it did (failing is allowed).
        "failure_causes": dict(
            Counter(
                f"{row['status']}: {row['error'][:120]}"
                for row in rows
                if row["status"] != "completed"
            ).most_common()
        ),
        "prompts_with_markers": dict(
            sorted(
                Counter(
                    marker for prompt in prompts for marker, _ in MARKERS if marker in prompt
                ).items()
            )
        ),
        "simulator_faults": SIMULATOR_FAULTS,
        "kills": app.kills,
        "killed_at_seconds": kill_times,
        "wall_seconds": round(wall, 1),
        "to_final_p50_seconds": percentile(seconds, 0.50),
        "to_final_p95_seconds": percentile(seconds, 0.95),
        "to_final_max_seconds": round(seconds[-1], 1) if seconds else None,
        "passed": not failures,
        "workdir": str(workdir),
    }
    if failures:
        figures["failures"] = failures
        failed = [row for row in rows if row["status"] != "completed"]
        (workdir / "not-completed.json").write_text(json.dumps(failed, indent=2, default=str))
    return SoakResult(figures, failures)


def table(figures: dict[str, Any]) -> str:
    """The figures as a short table for a terminal."""
    lines = [
        f"Fault soak on {figures['database']} ({figures['broker']} broker): "
        f"{figures['generations']} generations, {figures['clusters']} qcluster(s) x "
        f"{figures['workers_per_cluster']} workers",
        "",
        "  final state          count",
    ]
    lines += [f"  {state:<18} {count:>7}" for state, count in figures["final_states"].items()]
    lines += [f"  {'not final':<18} {figures['not_final']:>7}", "", "  fault injected       count"]
    lines += [f"  {kind:<18} {count:>7}" for kind, count in figures["faults_injected"].items()]
    lines += [
        "",
        f"  predictions in the simulator  {figures['predictions_in_simulator']}",
        f"  duplicate predictions         {figures['duplicate_predictions']}",
        f"  images                        {figures['images']}",
        f"  lost / duplicate images       {figures['lost_images']} / {figures['duplicate_images']}",
        f"  kills (SIGKILL, restarted)    {figures['kills']} at {figures['killed_at_seconds']} s",
        f"  wall time                     {figures['wall_seconds']} s",
        f"  time to final p50 / p95 / max {figures['to_final_p50_seconds']} / "
        f"{figures['to_final_p95_seconds']} / {figures['to_final_max_seconds']} s",
        "",
        "  not completed, by cause",
        *(f"  {count:>5}  {cause}" for cause, count in figures["failure_causes"].items()),
        "",
        "  PASS" if figures["passed"] else "  FAIL",
    ]
    lines += [f"  {failure}" for failure in figures.get("failures", [])]
    return "\n".join(lines)


@contextmanager
def postgres_backend(url: str, redis_url: str) -> Iterator[Backend | None]:
    """A fresh PostgreSQL database (dropped afterwards) and an emptied Redis db; None if down."""
    import psycopg
    import redis
    from psycopg import sql

    name = url.rsplit("/", 1)[1]
    server = url.rsplit("/", 1)[0] + "/postgres"
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=5)
        queue = redis.Redis.from_url(redis_url, socket_connect_timeout=5)
        queue.flushdb()
    except (psycopg.OperationalError, redis.RedisError) as error:
        print(f"PostgreSQL or Redis does not answer ({error}); skipping that soak")
        yield None
        return
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield Backend("postgres", url, redis_url, clusters=2)
        finally:
            admin.execute(drop)
            queue.flushdb()
            queue.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.soak", description=__doc__)
    parser.add_argument("--generations", type=int, default=500)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument(
        "--postgres-url", default=DEFAULT_POSTGRES_URL, help="dropped and made anew"
    )
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="emptied before and after")
    args = parser.parse_args(argv)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    passed = True

    def run(backend: Backend, workdir: Path | None = None) -> None:
        nonlocal passed
        result = soak(
            backend,
            generations=args.generations,
            kills=args.kills,
            seed=args.seed,
            workdir=workdir,
        )
        print(table(result.figures), flush=True)
        out = BENCH_DIR / f"soak-{backend.name}.json"
        out.write_text(json.dumps(result.figures, indent=2))
        print(f"  figures written to {out.relative_to(ROOT)}\n", flush=True)
        passed = passed and result.passed

    if args.database in ("sqlite", "both"):
        workdir = Path(mkdtemp(prefix="soak-sqlite-"))
        run(Backend("sqlite", f"sqlite:///{workdir / 'db.sqlite3'}"), workdir)
    if args.database in ("postgres", "both"):
        with postgres_backend(args.postgres_url, args.redis_url) as backend:
            if backend is not None:
                run(backend)
            elif args.database == "postgres":
                return 1
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
