"""Benchmark: the gallery's pages over many generations, on SQLite and PostgreSQL.

`measure(database_url, count)` fills a fresh database with `count` generations (and another
with 1,000, the reference) and times four requests to the gallery page through the whole
Django stack (middleware, the query, the template): the first page, a keyset page halfway
down, a filtered page and a search (a common word, and a word in ten prompts whatever the
table's size). Each gets its p95 and median server time, the same at 1,000 rows and the ratio
between them, and its query count, which must not grow with the table. On PostgreSQL the
pages are also timed straight after the bulk load, before the tables were ever analysed: a
plan that only holds with fresh statistics shows up there.

Each database is filled and measured in a child process (`python -m tests.bench.gallery
--database-url URL --count N`), since one process holds one Django configuration. The query
plans go to `var/bench/gallery-plans-<database>.txt`.

`make bench` runs it through `python -m tests.bench`; alone: `python -m tests.bench.gallery
--count 20000 [--database-url postgres://...]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from tests.bench.report import BENCH_DIR, Row

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_COUNT = 1_000
TARGET_MS = 20.0
TARGET_RATIO = 1.5
REPEATS = 40
WORDS = ["lighthouse", "fox", "harbour", "kite", "lantern", "statue", "forest", "city"]
# In RARE_MATCHES prompts however large the table (team work the viewer may see), so its page
# holds as many tiles at 1,000 rows as at 100,000: the ratio compares the same page.
RARE_WORD = "zeppelin"
RARE_MATCHES = 10
RATIOS = ["21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21"]
# The scenarios, in the table's order: label -> the gallery's query string (the deep page's
# cursor is added once the table is filled).
SCENARIOS = {
    "first page": {},
    "a keyset page halfway down": {"after": "<halfway>"},
    "filtered page (16:9, completed)": {"aspect_ratio": "16:9", "status": "completed"},
    "search, a common word": {"q": "lighthouse"},
    f"search, a rare word ({RARE_WORD}, in {RARE_MATCHES} prompts)": {"q": RARE_WORD},
}
# Right after a bulk load one slow plan can take minutes; it is reported, not waited for.
BEFORE_ANALYSE_TIMEOUT_MS = 120_000


# --- In the child: one database, one Django -------------------------------------------------


def fill(count: int) -> None:
    """`count` generations by 8 authors, one image each, spread over 60 days."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from generations.models import Generation

    users = [User.objects.get_or_create(username=f"bench{n}")[0] for n in range(8)]
    start = timezone.now() - timedelta(days=60)
    step = timedelta(days=60) / max(count, 1)
    batch: list[Generation] = []
    # A whole number of hundreds apart, so that every one is number 1 of its hundred: team
    # work, completed, shown (see the choices below and `_held`).
    rare_every = max(100, count // RARE_MATCHES // 100 * 100)
    for number in range(count):
        word = RARE_WORD if number % rare_every == 1 else WORDS[number % len(WORDS)]
        batch.append(
            Generation(
                owner=users[number % len(users)],
                prompt=f"A {word} number {number}",
                aspect_ratio=RATIOS[number % len(RATIOS)],
                seed=number,
                guidance_scale=3.5,
                safety_tolerance="2",
                status=Generation.Status.FAILED
                if number % 20 == 3
                else Generation.Status.COMPLETED,
                visibility="private" if number % 10 == 0 else "team",
            )
        )
        if len(batch) == 5000:
            _save(batch, start, step, number + 1)
            batch = []
    if batch:
        _save(batch, start, step, count)


def _save(batch: list, start, step, end: int) -> None:
    from generations.models import Generation, Moderation, OutputImage

    # Creation times spread over the period, written with the rows as a restore writes them
    # (auto_now_add would put "now" on every one).
    for offset, generation in enumerate(batch):
        generation.created_at = start + step * (end - len(batch) + offset)
    created_at = Generation._meta.get_field("created_at")
    created_at.auto_now_add = False  # type: ignore[attr-defined]
    try:
        created = Generation.objects.bulk_create(batch)
    finally:
        created_at.auto_now_add = True  # type: ignore[attr-defined]
    OutputImage.objects.bulk_create(
        [
            OutputImage(
                generation=g,
                index=0,
                format="PNG",
                width=1024,
                height=1024,
                thumbnail_width=512,
                thumbnail_height=512,
                size_bytes=1,
                nsfw=_held(g) != Moderation.VISIBLE,
                moderation=_held(g),
                original=f"originals/{g.pk}.png",
                thumbnail=f"thumbnails/{g.pk}.webp",
            )
            for g in created
            if g.status == Generation.Status.COMPLETED
        ]
    )


def _held(generation) -> str:
    """One generation in 25 waits for review and one in 50 was removed: hidden from the team."""
    from generations.models import Moderation

    if generation.seed % 25 == 7:
        return Moderation.PENDING
    if generation.seed % 50 == 13:
        return Moderation.REJECTED
    return Moderation.VISIBLE


def _bench_tables() -> list[str]:
    from generations.models import Favourite, Generation, OutputImage

    return [model._meta.db_table for model in (Generation, OutputImage, Favourite)]


def _autovacuum(enabled: bool) -> None:
    """Autovacuum off while filling, so "before ANALYZE" really is before any analysis."""
    from django.db import connection

    # Not in a test's transaction, whose pending constraint checks forbid ALTER TABLE.
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        for table in _bench_tables():
            cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = {enabled})")


def analyse() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return  # the app never runs ANALYZE on SQLite: measure what it gets
    # What autovacuum would do by itself; VACUUM cannot run in a test's transaction.
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
    with connection.cursor() as cursor:
        for table in _bench_tables():
            cursor.execute(f"{command} {table}")


def _requests(viewer) -> dict[str, str]:
    """The URL of each scenario, the deep page's cursor found in the filled table."""
    from generations import gallery
    from generations.models import Generation

    halfway = Generation.objects.count() // 2
    newest_first = gallery.filtered(viewer, {}).order_by("-created_at", "-pk")
    middle = newest_first.values_list("created_at", "pk")[halfway : halfway + 1].get()
    cursor = gallery.encode_cursor(Generation(created_at=middle[0], pk=middle[1]))
    urls = {}
    for label, query in SCENARIOS.items():
        query = {key: cursor if value == "<halfway>" else value for key, value in query.items()}
        urls[label] = "/gallery/" + (f"?{urlencode(query)}" if query else "")
    return urls


def time_requests(
    viewer, repeats: int = REPEATS, timeout_ms: float | None = None
) -> dict[str, dict[str, Any]]:
    """Each scenario's times (ms): the whole request, and the gallery's data alone (its query
    and the images' prefetch, what grows with the table); its query count and query plan."""
    from django.db import connection
    from django.http import QueryDict
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from generations import gallery

    client = Client()
    client.force_login(viewer)
    figures: dict[str, dict[str, Any]] = {}
    for label, url in _requests(viewer).items():
        filters = gallery.GalleryFilters(QueryDict(urlsplit(url).query))
        if not filters.is_valid():
            raise RuntimeError(f"{url}: {filters.errors}")

        def data(cleaned: dict = filters.cleaned_data) -> None:
            for generation in gallery.gallery_page(viewer, cleaned).generations:
                list(generation.images.all())

        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            first = (time.perf_counter() - started) * 1000
        # Read now: the log is the connection's, and the next request clears it.
        sqls = [query["sql"] for query in queries.captured_queries]
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        # One slow answer is enough to know: a plan taking seconds is not timed 40 times.
        rounds = 0 if timeout_ms is not None and first > timeout_ms / 10 else repeats
        pages = [] if rounds else [first]  # otherwise the first was a warm-up
        for _ in range(rounds):
            started = time.perf_counter()
            client.get(url)
            pages.append((time.perf_counter() - started) * 1000)
        datas = [_timed(data) for _ in range(max(rounds, 1))]
        figures[label] = {
            "url": url,
            "median": statistics.median(pages),
            "p95": _percentile(pages, 95),
            "data_median": statistics.median(datas),
            "data_p95": _percentile(datas, 95),
            "samples": len(pages),
            "queries": len(sqls),
            "plan": _plan(sqls),
        }
    return figures


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def _percentile(samples: list[float], percent: int) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


def _plan(sqls: list[str]) -> str:
    """The plan of the page's gallery query (the one ordered by creation time)."""
    from django.db import connection

    gallery_sql = [
        sql for sql in sqls if "generations_generation" in sql and "LIMIT" in sql.upper()
    ]
    if not gallery_sql:
        return "(no gallery query captured)"
    sql = gallery_sql[0]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def run_here(count: int, before_analyse: bool = False, repeats: int = REPEATS) -> dict[str, Any]:
    """Fill the configured (empty, migrated) database and time the pages: the child's work."""
    from django.contrib.auth.models import User
    from django.db import connection

    _autovacuum(False)
    started = time.perf_counter()
    fill(count)
    result: dict[str, Any] = {
        "vendor": connection.vendor,
        "count": count,
        "fill_seconds": time.perf_counter() - started,
    }
    viewer = User.objects.get(username="bench1")
    if before_analyse and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {BEFORE_ANALYSE_TIMEOUT_MS}")
        try:
            result["before_analyse"] = time_requests(
                viewer, repeats=5, timeout_ms=BEFORE_ANALYSE_TIMEOUT_MS
            )
        except Exception as error:  # a timed-out plan is a figure too: "over 120 s"
            result["before_analyse_error"] = str(error).splitlines()[0]
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
    analyse()
    _autovacuum(True)
    result["analysed"] = time_requests(viewer, repeats=repeats)
    return result


def _child_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--before-analyse", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.child:
        from tests.bench import report

        report.write(measure(args.database_url or None, args.count), "gallery")
        return
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # What production runs: no query log, no test instrumentation of templates.
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", verbosity=0)
    print(json.dumps(run_here(args.count, args.before_analyse)))


# --- In the parent: fresh databases, child processes, rows ----------------------------------


def _fresh_postgres(url: str) -> None:
    """Drop and create the database: new tables that PostgreSQL has never analysed."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def _run_child(database_url: str, count: int, before_analyse: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "tests.bench.gallery", "--child", "--count", str(count)]
    command += ["--database-url", database_url]
    if before_analyse:
        command.append("--before-analyse")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"gallery bench on {database_url} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fill_and_time(database_url: str | None, count: int, folder: Path) -> dict[str, Any]:
    if database_url is None:
        database = folder / f"gallery-{count}.sqlite3"
        database.unlink(missing_ok=True)
        return _run_child(f"sqlite:///{database}", count, before_analyse=False)
    _fresh_postgres(database_url)
    return _run_child(database_url, count, before_analyse=True)


def measure(database_url: str | None, count: int) -> list[Row]:
    """The gallery's figures on SQLite (None) or on this PostgreSQL database (emptied first)."""
    with tempfile.TemporaryDirectory() as folder:
        reference = _fill_and_time(database_url, REFERENCE_COUNT, Path(folder))
        measured = _fill_and_time(database_url, count, Path(folder))
    _write_plans(measured)
    return rows(measured, reference)


def rows(measured: dict[str, Any], reference: dict[str, Any]) -> list[Row]:
    """The table's rows from a child's figures at `count` and at 1,000 rows."""
    section = f"gallery ({measured['vendor']}, {measured['count']:,} generations)"
    label = f"at {reference['count']:,}"
    out: list[Row] = []
    target = f"<= {TARGET_MS:g} ms, <= {TARGET_RATIO:g}x"
    for scenario, now in measured["analysed"].items():
        then = reference["analysed"][scenario]
        for key, what in (("p95", "page p95"), ("data_p95", "its data p95")):
            met = now[key] <= TARGET_MS and now[key] <= TARGET_RATIO * then[key]
            out.append(
                Row(section, f"{scenario}: {what}", now[key], "ms", then[key], label, target, met)
            )
        for key, what in (("median", "page median"), ("data_median", "its data median")):
            out.append(Row(section, f"{scenario}: {what}", now[key], "ms", then[key], label))
        out.append(
            Row(
                section,
                f"{scenario}: queries",
                now["queries"],
                "",
                then["queries"],
                label,
                "same as at 1,000",
                now["queries"] == then["queries"],
            )
        )
    if "before_analyse_error" in measured:
        out.append(
            Row(
                section,
                f"before ANALYZE: {measured['before_analyse_error'][:40]}",
                BEFORE_ANALYSE_TIMEOUT_MS,
                "ms",
                target=f"<= {TARGET_MS:g} ms",
                met=False,
            )
        )
    for scenario, fresh in measured.get("before_analyse", {}).items():
        out.append(
            Row(
                section,
                f"before ANALYZE, {scenario}: page median",
                fresh["median"],
                "ms",
                target=f"<= {TARGET_MS:g} ms",
                met=fresh["median"] <= TARGET_MS,
            )
        )
    out.append(Row(section, "bulk load", measured["fill_seconds"], "s"))
    return out


def _write_plans(measured: dict[str, Any]) -> Path:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"gallery-plans-{measured['vendor']}.txt"
    parts = []
    for stage in ("before_analyse", "analysed"):
        for scenario, figures in measured.get(stage, {}).items():
            parts.append(f"== {stage}: {scenario}  ({figures['url']})\n{figures['plan']}\n")
    path.write_text("\n".join(parts))
    return path


if __name__ == "__main__":
    _child_main(sys.argv[1:])
