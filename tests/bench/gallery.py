"""Benchmark: gallery pages over 100,000 generations, keyset cursor against OFFSET.

Run with `make bench` (or `python -m tests.bench.gallery [count]`). It builds a throwaway
SQLite database (or uses BENCH_DATABASE_URL, e.g. a PostgreSQL database it may fill), fills it
with generations and images, and prints how long the gallery's query takes on the first page,
deep in the history, with a search, and what OFFSET paging would cost at the same depth.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from playground.env import env_str


def setup_django(workdir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
    os.environ["DATABASE_URL"] = env_str(
        "BENCH_DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}"
    )
    os.environ["PLAYGROUND_VAR_DIR"] = str(workdir)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def fill(count: int) -> None:
    from django.contrib.auth.models import User
    from django.utils import timezone

    from generations.models import Generation, OutputImage

    users = [User.objects.get_or_create(username=f"bench{n}")[0] for n in range(8)]
    if Generation.objects.count() >= count:
        return
    words = ["lighthouse", "fox", "harbour", "kite", "lantern", "statue", "forest", "city"]
    start = timezone.now() - timedelta(days=60)
    batch: list[Generation] = []
    for number in range(count):
        batch.append(
            Generation(
                owner=users[number % len(users)],
                prompt=f"A {words[number % 8]} number {number}",
                aspect_ratio="1:1",
                seed=number,
                guidance_scale=3.5,
                safety_tolerance="2",
                status=Generation.Status.COMPLETED,
                visibility="private" if number % 10 == 0 else "team",
            )
        )
        if len(batch) == 5000:
            _save(batch, start, number)
            batch = []
    if batch:
        _save(batch, start, count)
    del OutputImage


def _save(batch, start, number) -> None:
    from generations.models import Generation, Moderation, OutputImage

    created = Generation.objects.bulk_create(batch)
    # auto_now_add ignores a given value: spread creation times over the period afterwards.
    for offset, generation in enumerate(created):
        generation.created_at = start + timedelta(seconds=(number - len(created) + offset) * 30)
    Generation.objects.bulk_update(created, ["created_at"], batch_size=1000)
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


def timed(label: str, action, repeats: int = 15) -> float:
    action()  # warm caches
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    median = statistics.median(samples)
    p90 = sorted(samples)[int(0.9 * len(samples))]
    print(f"  {label:<48} median {median:8.2f} ms   p90 {p90:8.2f} ms")
    return median


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    keep = env_str("BENCH_DIR")  # reuse a filled database between runs
    with tempfile.TemporaryDirectory() as folder:
        setup_django(Path(keep or folder))
        from django.contrib.auth.models import User
        from django.db import connection

        from generations import gallery
        from generations.models import Generation

        started = time.perf_counter()
        fill(count)
        print(
            f"{Generation.objects.count()} generations on {connection.vendor} "
            f"(filled in {time.perf_counter() - started:.1f} s)"
        )
        viewer = User.objects.get(username="bench1")

        def page(filters):
            return lambda: list(gallery.gallery_page(viewer, filters).generations)

        timed("first page", page({}))
        deep = gallery.gallery_page(viewer, {}, page_size=count // 2).next_cursor
        timed("a page halfway down (keyset cursor)", page({"after": gallery.decode_cursor(deep)}))
        last = gallery.filtered(viewer, {}).order_by("created_at", "pk").first()
        timed("the last page (keyset cursor)", page({"after": (last.created_at, last.pk + 1)}))
        timed("search q=lighthouse, first page", page({"q": "lighthouse"}))
        timed("mine + favourites, first page", page({"view": "mine", "favourites": True}))
        halfway = count // 2
        offset_query = gallery.filtered(viewer, {}).order_by("-created_at", "-pk")
        timed(
            "a page halfway down with OFFSET (for comparison)",
            lambda: list(offset_query[halfway : halfway + gallery.PAGE_SIZE]),
        )
        timed("counting all pages (what OFFSET paging needs)", lambda: offset_query.count())


if __name__ == "__main__":
    main()
