"""How soon a finished prediction reaches its generation, with webhooks and by polling alone.

Starts the app as `make run` does (web server, cluster, simulator; the launcher points the
simulator's webhooks at the web server), sends generations one after another, and measures
for each the added latency: from the moment the simulator finished the prediction (its
`created_at` plus its latency) to the generation's `finished_at`, when its image is stored
and shown in its JSON. Also the result GETs each prediction had (the simulator's record).

Polling alone is measured in the same app with prompts marked `[webhook-fail=99]` (the call
is never delivered) and the safety net polled as often as polling alone would
(`WEBHOOK_POLL_INTERVAL_SECONDS` equal to `POLL_INTERVAL_SECONDS`).

    python -m tests.bench.webhooks [--generations 20] [--database-url postgres://... --redis-url
        redis://...]   (with both: the webhook figures again on PostgreSQL and Redis; the
                       database must exist and is migrated, and gets the generations)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import requests

from tests.apprunner import RunningApp, log_in, submit_generation, wait_for
from tests.bench.report import Row, write

LATENCY_SECONDS = 1.5
POLL_INTERVAL_SECONDS = 1.0
TARGET_P95_MS = 300.0


@dataclass(frozen=True)
class Figures:
    """One generation's figures: its added latency and its prediction's result GETs."""

    prompt: str
    added_ms: float
    result_reads: int
    webhook_delivered: bool


def start_app(
    workdir: Path, *, safety_net_seconds: float, services: dict[str, str] | None = None
) -> RunningApp:
    """The app as `make run` starts it; `services` may name a DATABASE_URL and REDIS_URL."""
    return RunningApp(
        workdir=workdir,
        extra_env={
            "SIMULATOR_LATENCY": str(LATENCY_SECONDS),
            "POLL_INTERVAL_SECONDS": str(POLL_INTERVAL_SECONDS),
            "WEBHOOK_POLL_INTERVAL_SECONDS": str(safety_net_seconds),
            **(services or {}),
        },
    ).start()


def simulator_record(app: RunningApp) -> dict[str, dict]:
    answer = requests.get(
        f"http://127.0.0.1:{app.simulator_port}/_sim/record",
        headers={"Authorization": "Bearer simulator"},
        timeout=10,
    )
    return {item["id"]: item for item in answer.json()["data"]["predictions"]}


def finished_generations(app: RunningApp) -> dict[str, tuple[str, str]]:
    """Every completed generation's prediction id -> (prompt, finished_at ISO)."""
    out = app.shell(
        "import json\n"
        "from generations.models import Generation\n"
        "rows = Generation.objects.filter(status='completed').values_list("
        "'prediction_id', 'prompt', 'finished_at')\n"
        "print(json.dumps({p: [q, f.isoformat()] for p, q, f in rows}))\n"
    )
    return {key: (prompt, at) for key, (prompt, at) in json.loads(out).items()}


def run_generations(app: RunningApp, prompts: list[str]) -> list[Figures]:
    """Send each prompt and wait for it to finish, one at a time; the figures of each."""
    session = log_in(app)
    for prompt in prompts:
        url = submit_generation(session, app, prompt)

        def finished(url: str = url) -> bool:
            data = session.get(url, headers={"Accept": "application/json"}, timeout=10).json()
            return bool(data["finished"])

        wait_for(finished, 120, f"{prompt} finished", interval=0.2)
    record = simulator_record(app)
    figures = []
    for prediction_id, (prompt, finished_at) in finished_generations(app).items():
        if prompt not in prompts:
            continue
        item = record[prediction_id]
        ended = datetime.fromisoformat(item["created_at"]) + timedelta(seconds=LATENCY_SECONDS)
        added = (datetime.fromisoformat(finished_at) - ended).total_seconds() * 1000
        webhook = item["webhook"] or {}
        figures.append(Figures(prompt, added, item["result_gets"], bool(webhook.get("delivered"))))
    return figures


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def rows_for(section: str, figures: list[Figures], *, target: bool) -> list[Row]:
    added = [f.added_ms for f in figures]
    reads = [f.result_reads for f in figures]
    allowed = math.ceil(LATENCY_SECONDS / POLL_INTERVAL_SECONDS) + 2
    p95 = percentile(added, 0.95)
    return [
        Row(section, "added latency p50", statistics.median(added), "ms"),
        Row(
            section,
            "added latency p95",
            p95,
            "ms",
            target=f"<= {TARGET_P95_MS:g} ms" if target else "",
            met=(p95 <= TARGET_P95_MS) if target else None,
        ),
        Row(section, "added latency max", max(added), "ms"),
        Row(
            section,
            "result GETs per generation, max",
            max(reads),
            "GETs",
            target=f"<= {allowed}",
            met=max(reads) <= allowed,
        ),
        Row(section, "webhooks delivered", sum(f.webhook_delivered for f in figures), "calls"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()
    count = args.generations
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as folder:
        if args.database_url and args.redis_url:
            services = {"DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url}
            app = start_app(Path(folder) / "services", safety_net_seconds=15, services=services)
            try:
                prompts = [f"Webhook lantern {n} (services)" for n in range(count)]
                figures = run_generations(app, prompts)
            finally:
                app.stop()
            rows += rows_for("webhooks (postgresql, redis broker)", figures, target=True)
        app = start_app(Path(folder) / "webhooks", safety_net_seconds=15)
        try:
            figures = run_generations(app, [f"Webhook lantern {n}" for n in range(count)])
        finally:
            app.stop()
        rows += rows_for("webhooks (sqlite, ORM broker)", figures, target=True)
        app = start_app(Path(folder) / "polling", safety_net_seconds=POLL_INTERVAL_SECONDS)
        try:
            prompts = [f"Polled lantern {n} [webhook-fail=99]" for n in range(count)]
            figures = run_generations(app, prompts)
        finally:
            app.stop()
        rows += rows_for("polling alone (sqlite, ORM broker)", figures, target=False)
    write(rows, "webhooks")


if __name__ == "__main__":
    main()
