"""`make bench`: every benchmark on SQLite, then on PostgreSQL when it answers; one table.

    python -m tests.bench [--generations N]

Each benchmark module exposes `measure(database_url, count) -> list[Row]` (None is SQLite in
a throwaway folder). The PostgreSQL database is BENCH_POSTGRES_URL
(postgres://postgres@127.0.0.1:5432/playground_bench by default), created when missing; a
benchmark may empty it. The table is printed and saved as `var/bench/bench.json`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from playground.env import env_str
from tests.bench import gallery, images, pipeline, report
from tests.bench.report import Row

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/playground_bench"

Measure = Callable[[str | None, int], list[Row]]


def images_measure(database_url: str | None, count: int) -> list[Row]:
    """Decoding, renditions and serving touch no database: measured once, with SQLite."""
    return images.measure_in_a_process() if database_url is None else []


def pipeline_measure(database_url: str | None, count: int) -> list[Row]:
    """The running app beside the official client: one generation and 200 in flight, polling
    and webhooks; on PostgreSQL the team stack with Redis, in a database of its own (the
    benchmark drops and makes it anew) at the same server."""
    backing: dict[str, str] = {}
    if database_url is not None:
        own = urlunsplit(urlsplit(database_url)._replace(path="/pipeline_bench"))
        redis_url = env_str("BENCH_REDIS_URL", pipeline.DEFAULT_REDIS_URL)
        if not pipeline.backing_answers(own, redis_url):
            print("Redis does not answer; the pipeline runs on SQLite only")
            return []
        backing = {"database_url": own, "redis_url": redis_url}
    rows: list[Row] = []
    for webhooks in (False, True):
        for in_flight in (1, 200):
            rows += pipeline.measure(in_flight=in_flight, webhooks=webhooks, **backing)
    return rows


# The benchmarks, in the table's order: (name, measure).
BENCHES: list[tuple[str, Measure]] = [
    ("gallery", gallery.measure),
    ("images", images_measure),
    ("pipeline", pipeline_measure),
]


def postgres_answering(url: str) -> bool:
    """Whether PostgreSQL answers at `url`; the database is created when missing."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    try:
        with psycopg.connect(
            urlunsplit(parts._replace(path="/postgres")), autocommit=True, connect_timeout=3
        ) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [name]
            ).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as error:
        print(f"PostgreSQL at {parts.hostname}:{parts.port or 5432} does not answer ({error});")
        print("measuring SQLite only.")
        return False
    return True


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=100_000)
    parser.add_argument("--only", choices=[name for name, _ in BENCHES], action="append")
    args = parser.parse_args(argv)
    postgres_url = env_str("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    databases: list[str | None] = [None]
    if postgres_answering(postgres_url):
        databases.append(postgres_url)
    rows: list[Row] = []
    for name, measure in BENCHES:
        if args.only and name not in args.only:
            continue
        for database in databases:
            print(f"{name} on {'PostgreSQL' if database else 'SQLite'}...", flush=True)
            rows += measure(database, args.generations)
    report.write(rows)
    return rows


if __name__ == "__main__":
    main()
