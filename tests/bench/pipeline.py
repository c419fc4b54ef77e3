"""Pipeline benchmark: what the app adds to the API's own inference time.

python -m tests.bench.pipeline [--in-flight 1 200] [--latency 10] [--database sqlite|postgres|both]

The app runs as real processes on its defaults: `manage.py runplayground` (what `make run`
starts: SQLite, the ORM broker, two workers, the simulator) or, given a PostgreSQL and a Redis
URL, `python -m playground.stack` (gunicorn, two task clusters, Redis as broker). The
simulator's latency stands for the inference time. N generations are sent at once through
the playground form, over HTTP as a person would; then the official `wavespeed` client's
`run()` makes N predictions of its own against the same simulator, in N threads that each
also download the output. Measured, app beside client:

- added latency per generation: from the moment the simulator finished the prediction (its
  record's `finished_at`) to the moment the generation completed with its image stored
  (`finished_at` in the app's database, when the generation's JSON and the gallery show it);
  for the client, to the moment its download ended;
- wall time from the first submit to the last image stored (client: downloaded);
- result GETs per prediction, counted by the simulator.

`measure()` returns the figures as `tests.bench.report.Row`s.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, quantiles
from tempfile import mkdtemp
from typing import Any

import requests

from generations.wavespeed.contract import MODEL_ID
from generations.wavespeed.simulator.images import PRERENDERED_AT_MOST
from tests.apprunner import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    RunningApp,
    csrf_token,
    descendants,
    log_in,
)
from tests.bench.report import Row, write

FINAL_STATES = ("completed", "failed", "timed_out")
# The app's default poll interval (settings.POLL_INTERVAL_SECONDS), which the GET target uses.
DEFAULT_POLL_INTERVAL = 1.0
SIMULATOR_KEY = "simulator"
# Form posts sent at once: several people pressing Generate together.
SUBMITTING_SESSIONS = 8
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/pipeline_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
GENERATION_URL_PK = "/generations/"
WARM_UP_PROMPT = "pipeline bench warm-up"


@dataclass(frozen=True)
class Sample:
    """One prediction's figures: seconds added after the API finished, and its result GETs."""

    added: float
    result_gets: int
    # Where the app's time went (None for the client): created -> taken by the API (its
    # answer came), and the API done -> its download started.
    to_submit: float | None = None
    to_ingest: float | None = None
    # The API done -> the first result GET that answered so (None without one; with webhooks
    # only the few that a safety-net poll saw first have one).
    to_seen: float | None = None


class BenchApp(RunningApp):
    """The app on its default settings, but for the simulator's latency and what is given."""

    def env(self) -> dict[str, str]:
        env = super().env()
        # RunningApp polls faster than the default for the end-to-end tests; not here.
        if "POLL_INTERVAL_SECONDS" not in self.extra_env:
            env.pop("POLL_INTERVAL_SECONDS", None)
        return env


def measure(
    *,
    in_flight: int = 200,
    latency: float = 10.0,
    database_url: str | None = None,
    redis_url: str | None = None,
    webhooks: bool = False,
    warm_up: int = 1,
    workdir: Path | None = None,
) -> list[Row]:
    """Run the app and the official client side by side; the figures as rows.

    Without `database_url`: SQLite and the ORM broker under `runplayground`. With it (and
    `redis_url`): the stack on PostgreSQL and Redis; the database is dropped and made anew,
    the Redis database emptied. `webhooks` sets PUBLIC_BASE_URL to the app's own address.
    `warm_up` generations are made first and not counted: the app times its polls by the
    model's recent predictions, as it has them once in use.
    """
    workdir = workdir or Path(mkdtemp(prefix="pipeline-bench-"))
    database = "postgresql" if database_url else "sqlite"
    extra = {"SIMULATOR_LATENCY": str(latency), "MEDIA_ROOT": str(workdir / "media")}
    if database_url:
        assert redis_url, "the stack needs Redis beside PostgreSQL"
        command = [sys.executable, "-m", "playground.stack"]
        extra.update(
            {
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "DEBUG": "false",
                "SECRET_KEY": "pipeline-bench-" + "k" * 60,
                "ALLOWED_HOSTS": "127.0.0.1",
                "SECURE_SSL_REDIRECT": "false",
                "SECURE_COOKIES": "false",
            }
        )
    else:
        command = [sys.executable, "manage.py", "runplayground"]
    app = BenchApp(workdir=workdir, command=command, extra_env=extra)
    if webhooks:
        app.extra_env["PUBLIC_BASE_URL"] = app.url
    else:
        app.extra_env["SIMULATOR_WEBHOOKS"] = "false"  # make run would point them at itself
    with _fresh_backing(database_url, redis_url):
        app.start(timeout=180)
        try:
            if database_url:
                # The stack makes no account of its own (runplayground does).
                app.create_users([ADMIN_USER], ADMIN_PASSWORD)
            app_figures = _run_app(app, in_flight, latency, database_url, warm_up)
            client_figures = _run_client(app, in_flight)
        finally:
            app.stop()
    poll = float(app.extra_env.get("POLL_INTERVAL_SECONDS", DEFAULT_POLL_INTERVAL))
    delivery = ", webhooks" if webhooks else ""
    rendering = (
        "" if app_figures.rendered_ahead and client_figures.rendered_ahead else ", rendered in run"
    )
    section = (
        f"pipeline ({database}, {in_flight} in flight, {latency:g} s latency{delivery}{rendering})"
    )
    return _rows(section, app_figures, client_figures, latency, poll, webhooks)


# -- the app --------------------------------------------------------------------------------


@dataclass
class Figures:
    samples: list[Sample]
    wall: float  # seconds from the first submit to the last image stored or downloaded
    finished: int  # predictions with their image
    failed: int
    cpu: float | None = None  # CPU seconds the app's processes used (not the simulator's)
    # Seconds from the first prediction the API finished to the last: with a fixed latency,
    # how long the submits took to reach it.
    finish_spread: float = 0.0
    # Whether the simulator rendered the outputs before the run (`_render_ahead`).
    rendered_ahead: bool = True


def _run_app(
    app: RunningApp, count: int, latency: float, database_url: str | None, warm_up: int
) -> Figures:
    prompts = [f"pipeline bench lantern {number:05d}" for number in range(count)]
    warm_ups = [f"{WARM_UP_PROMPT} {number}" for number in range(warm_up)]
    rendered_ahead = _render_ahead(app, [*enumerate(warm_ups), *enumerate(prompts)])
    sessions = [_logged_in(app) for _ in range(min(SUBMITTING_SESSIONS, count))]
    for number, prompt in enumerate(warm_ups):
        _submit(app, sessions[0], prompt, number)
    deadline = time.monotonic() + 3 * latency + 120
    while warm_up and _finished(app, database_url) < warm_up and time.monotonic() < deadline:
        time.sleep(0.2)
    # Connections left idle through the warm-up may be closed by the server (gunicorn keeps
    # one alive 2 s) just as a post reuses them: each session starts the burst on new ones.
    for session, _token in sessions:
        session.close()
    cpu_before = _app_cpu_seconds(app)
    started = time.time()
    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        list(
            pool.map(
                lambda item: _submit(app, sessions[item[0] % len(sessions)], item[1], item[0]),
                enumerate(prompts),
            )
        )
    # Generous: every prediction's latency, with room for a slow machine.
    deadline = time.monotonic() + 3 * latency + 120 + count
    while time.monotonic() < deadline:
        if _finished(app, database_url) >= count + warm_up:
            break
        time.sleep(0.5)
    cpu = _app_cpu_seconds(app) - cpu_before
    rows = _generations(app)
    record = {item["id"]: item for item in _record(app)}
    samples = []
    last = started
    rows = [row for row in rows if not row["prompt"].startswith(WARM_UP_PROMPT)]
    for row in rows:
        if row["status"] != "completed" or row["prediction_id"] not in record:
            continue
        item = record[row["prediction_id"]]
        samples.append(
            Sample(
                row["finished_at"] - item["finished_at"],
                item["result_gets"],
                to_submit=row["submitted_at"] - row["created_at"],
                to_ingest=row["ingest_started_at"] - item["finished_at"],
                to_seen=None
                if item["end_seen_at"] is None
                else item["end_seen_at"] - item["finished_at"],
            )
        )
        last = max(last, row["finished_at"])
    failed = sum(1 for row in rows if row["status"] != "completed")
    spread = _spread(
        [
            record[row["prediction_id"]]["finished_at"]
            for row in rows
            if row["prediction_id"] in record
        ]
    )
    return Figures(samples, last - started, len(samples), failed, cpu, spread, rendered_ahead)


def _spread(moments: list[float]) -> float:
    return max(moments) - min(moments) if moments else math.nan


def _app_cpu_seconds(app: RunningApp) -> float:
    """CPU seconds used so far by the app's live processes, the simulator left out."""
    assert app.process is not None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in {app.process.pid, *descendants(app.process.pid)}:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if b"simulator" in command:
            continue
        # utime, stime, and those of children it waited for (fields 14-17 of stat).
        total += sum(int(value) for value in fields[11:15]) / ticks
    return total


def _logged_in(app: RunningApp) -> tuple[requests.Session, str]:
    """A signed-in session and its form token (the token stays valid for the session)."""
    session = log_in(app)
    return session, csrf_token(session.get(f"{app.url}/", timeout=30).text)


def _submit(
    app: RunningApp, signed_in: tuple[requests.Session, str], prompt: str, seed: int
) -> None:
    session, token = signed_in
    answer = session.post(
        f"{app.url}/",
        timeout=60,
        allow_redirects=False,  # the generation's page is not part of what is measured
        data={
            "csrfmiddlewaretoken": token,
            "prompt": prompt,
            "aspect_ratio": "1:1",
            "seed": str(seed),
            "guidance_scale": "3.5",
            "safety_tolerance": "2",
        },
    )
    assert answer.status_code == 302 and GENERATION_URL_PK in answer.headers["Location"], (
        answer.status_code,
        answer.text[:500],
    )


def _finished(app: RunningApp, database_url: str | None) -> int:
    """How many generations reached a final state, read straight from the database."""
    states = ", ".join(f"'{state}'" for state in FINAL_STATES)
    query = f"SELECT COUNT(*) FROM generations_generation WHERE status IN ({states})"
    if database_url is None:
        path = app.workdir / "db.sqlite3"
        with contextlib.closing(
            sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        ) as connection:
            return connection.execute(query).fetchone()[0]
    import psycopg

    with psycopg.connect(database_url, connect_timeout=10) as connection:
        row = connection.execute(query).fetchone()
        return row[0] if row else 0


def _generations(app: RunningApp) -> list[dict[str, Any]]:
    """Every generation's status, prediction and completion time (seconds since the epoch)."""
    import json

    output = app.shell(
        "import json\n"
        "from generations.models import Generation\n"
        "rows = []\n"
        "fields = ('created_at', 'submitted_at', 'ingest_started_at', 'finished_at')\n"
        "for g in Generation.objects.values('pk', 'prompt', 'status', 'prediction_id', *fields):\n"
        "    for name in fields:\n"
        "        g[name] = g[name].timestamp() if g[name] else None\n"
        "    rows.append(g)\n"
        "print(json.dumps(rows))\n"
    )
    return json.loads(output)


def _render_ahead(app: RunningApp, outputs: list[tuple[int, str]]) -> bool:
    """Have the simulator render these outputs ((seed, prompt), 1:1) before they are asked
    for; False if they are more than it renders ahead, and are rendered during the run.

    The real API renders on its own machines and serves outputs from a CDN. The simulator,
    on the same two cores as the app and the client, spends about 80 ms of CPU an output:
    rendered during the run, 200 of them took CPU from what is measured, and downloads
    waited for their rendering (the client's more than the app's).
    """
    if len(outputs) > PRERENDERED_AT_MOST:
        return False
    answer = requests.post(
        f"http://127.0.0.1:{app.simulator_port}/_sim/prerender",
        headers={"Authorization": f"Bearer {SIMULATOR_KEY}"},
        json={
            "outputs": [
                {"prompt": prompt, "seed": seed, "aspect_ratio": "1:1"} for seed, prompt in outputs
            ]
        },
        timeout=600,
    )
    answer.raise_for_status()
    return True


def _record(app: RunningApp) -> list[dict[str, Any]]:
    answer = requests.get(
        f"http://127.0.0.1:{app.simulator_port}/_sim/record",
        headers={"Authorization": f"Bearer {SIMULATOR_KEY}"},
        timeout=60,
    )
    answer.raise_for_status()
    return answer.json()["data"]["predictions"]


# -- the official client --------------------------------------------------------------------


def _run_client(app: RunningApp, count: int) -> Figures:
    """The official client's `run()` in `count` threads, each downloading its output."""
    from wavespeed import Client

    client = Client(api_key=SIMULATOR_KEY, base_url=f"http://127.0.0.1:{app.simulator_port}")
    prefix = "pipeline bench client lantern"
    rendered_ahead = _render_ahead(
        app, [(number, f"{prefix} {number:05d}") for number in range(count)]
    )

    def one(number: int) -> tuple[str, float] | None:
        try:
            result = client.run(
                MODEL_ID,
                {
                    "prompt": f"{prefix} {number:05d}",
                    "aspect_ratio": "1:1",
                    "seed": number,
                    "guidance_scale": 3.5,
                    "safety_tolerance": "2",
                },
            )
            url = result["outputs"][0]
            requests.get(url, timeout=60).raise_for_status()
        except Exception as error:  # a failure counts as such; the others go on
            print(f"client prediction {number} failed: {error}", file=sys.stderr)
            return None
        return url, time.time()

    started = time.time()
    with ThreadPoolExecutor(max_workers=count) as pool:
        done = [outcome for outcome in pool.map(one, range(count)) if outcome is not None]
    record = {item["id"]: item for item in _record(app) if item["prompt"].startswith(prefix)}
    samples = []
    for url, downloaded_at in done:
        prediction_id = url.rsplit("/", 2)[-2]
        item = record[prediction_id]
        samples.append(Sample(downloaded_at - item["finished_at"], item["result_gets"]))
    last = max((at for _, at in done), default=started)
    spread = _spread([item["finished_at"] for item in record.values()])
    return Figures(
        samples,
        last - started,
        len(done),
        count - len(done),
        finish_spread=spread,
        rendered_ahead=rendered_ahead,
    )


# -- the figures ----------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    if not values:
        return math.nan
    if len(values) == 1:
        return values[0]
    return quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def _rows(
    section: str, app: Figures, client: Figures, latency: float, poll: float, webhooks: bool
) -> list[Row]:
    reference = "official client"
    added = [sample.added for sample in app.samples]
    client_added = [sample.added for sample in client.samples]
    gets = [sample.result_gets for sample in app.samples]
    client_gets = [sample.result_gets for sample in client.samples]
    added_target = 0.3 if webhooks else 1.0
    get_limit = math.ceil(latency / poll) + 2
    p95 = percentile(added, 0.95)
    ratio = app.wall / client.wall if client.wall > 0 else math.nan
    everything = app.failed == 0 and app.finished > 0
    return [
        Row(section, "generations completed with their image", app.finished, "", client.finished,
            reference, f"all {app.finished + app.failed}", everything),
        Row(section, "added latency p50 (API done -> image stored)",
            percentile(added, 0.50) * 1000, "ms", percentile(client_added, 0.50) * 1000,
            reference),
        Row(section, "added latency p95", p95 * 1000, "ms",
            percentile(client_added, 0.95) * 1000, reference,
            f"<= {added_target * 1000:g} ms", p95 <= added_target),
        Row(section, "added latency max", max(added, default=math.nan) * 1000, "ms",
            max(client_added, default=math.nan) * 1000, reference),
        Row(section, "wall time, first submit -> every image stored", app.wall, "s",
            client.wall, reference),
        Row(section, "wall time ratio (app / client)", ratio, "x", None, "", "<= 1.2x",
            ratio <= 1.2),
        Row(section, "of which: every submit reaching the API (its finishes, first -> last)",
            app.finish_spread, "s", client.finish_spread, reference),
        Row(section, "of which: API done -> download started, p95",
            percentile([s.to_ingest for s in app.samples if s.to_ingest is not None], 0.95)
            * 1000, "ms"),
        Row(section, "of which: API done -> a poll saw it, p95",
            percentile([s.to_seen for s in app.samples if s.to_seen is not None], 0.95)
            * 1000, "ms"),
        Row(section, "created -> taken by the API (its answer), p95",
            percentile([s.to_submit for s in app.samples if s.to_submit is not None], 0.95)
            * 1000, "ms"),
        Row(section, "app CPU per generation (all its processes)",
            (app.cpu or math.nan) / max(1, app.finished + app.failed) * 1000, "ms"),
        Row(section, "result GETs per generation (mean)", mean(gets) if gets else math.nan,
            "GETs", mean(client_gets) if client_gets else None, reference),
        Row(section, "result GETs per generation (max)", max(gets, default=math.nan), "GETs",
            max(client_gets, default=None), reference, f"<= {get_limit}",
            bool(gets) and max(gets) <= get_limit),
    ]  # fmt: skip


# -- backing services -----------------------------------------------------------------------


@contextlib.contextmanager
def _fresh_backing(database_url: str | None, redis_url: str | None) -> Iterator[None]:
    """A PostgreSQL database made anew and an emptied Redis database (nothing for SQLite)."""
    if database_url is None:
        yield
        return
    import psycopg
    import redis
    from psycopg import sql

    name = database_url.rsplit("/", 1)[1]
    server = database_url.rsplit("/", 1)[0] + "/postgres"
    queue = redis.Redis.from_url(redis_url or "", socket_connect_timeout=5)
    queue.flushdb()
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield
        finally:
            admin.execute(drop)
            queue.flushdb()
            queue.close()


def backing_answers(database_url: str, redis_url: str) -> bool:
    """Whether PostgreSQL and Redis answer at these addresses."""
    import psycopg
    import redis

    server = database_url.rsplit("/", 1)[0] + "/postgres"
    try:
        psycopg.connect(server, connect_timeout=5).close()
        redis.Redis.from_url(redis_url, socket_connect_timeout=5).ping()
    except (psycopg.OperationalError, redis.RedisError):
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.pipeline", description=__doc__)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 200])
    parser.add_argument("--latency", type=float, default=10.0)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="dropped, made anew")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="emptied before and after")
    parser.add_argument("--webhooks", action="store_true", help="set PUBLIC_BASE_URL")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for in_flight in args.in_flight:
        if args.database in ("sqlite", "both"):
            rows += measure(in_flight=in_flight, latency=args.latency, webhooks=args.webhooks)
        if args.database in ("postgres", "both"):
            if backing_answers(args.postgres_url, args.redis_url):
                rows += measure(
                    in_flight=in_flight,
                    latency=args.latency,
                    database_url=args.postgres_url,
                    redis_url=args.redis_url,
                    webhooks=args.webhooks,
                )
            else:
                print("PostgreSQL or Redis does not answer; the pipeline bench skips them")
    write(rows, "pipeline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
