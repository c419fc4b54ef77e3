"""Benchmark: what taking in an output costs, what the pages download, what serving holds.

Run with `python -m tests.bench.images`. The API's outputs are photographs of 1-2 MB as PNG;
the simulator's flat placeholders would flatter every figure, so the images here are made to
compress like photographs: soft colour, cloud-like detail at several scales, hard-edged
shapes and a film grain. Figures:

- decodes per output (Pillow decoders created while one output is taken in and its thumbnail
  made after it), and on ingest itself;
- CPU time per output of ingest's image work (the check, the recipe chunks), of the thumbnail
  and placeholder made after it, and of the display rendition a page's first view makes, for
  a 1024x1024 and a 1392x752 PNG;
- thumbnail and display rendition sizes;
- peak Python memory while a 2 MB original is served, against reading it whole.
"""

from __future__ import annotations

import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from unittest import mock

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from tests.bench.report import Row, render

SECTION = "images"
SIZES = ((1024, 1024), (1392, 752))


def photo_like(size: tuple[int, int], seed: int = 1) -> Image.Image:
    """An RGB picture that compresses like a photograph (PNG of 1-2 MB at the API's sizes)."""
    rnd = random.Random(seed)
    width, height = size

    def noise(mode: str, cells: int) -> Image.Image:
        across, down = cells, max(1, round(cells * height / width))
        small = Image.frombytes(mode, (across, down), rnd.randbytes(across * down * len(mode)))
        return small.resize(size, Image.Resampling.BICUBIC)

    colour = Image.blend(noise("RGB", 3), noise("RGB", 8), 0.35)
    detail = noise("L", 16)
    for cells, weight in ((48, 0.4), (160, 0.3), (480, 0.2)):
        detail = Image.blend(detail, noise("L", cells), weight)
    scene = ImageChops.soft_light(colour, detail.convert("RGB"))
    draw = ImageDraw.Draw(scene)
    for _ in range(10):
        x, y, r = (
            rnd.randrange(width),
            rnd.randrange(height),
            rnd.randrange(20, max(21, width // 6)),
        )
        fill = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
        shape((x - r, y - r, x + r, y + r // 2), fill=fill, outline=(20, 20, 20), width=3)
    scene = scene.filter(ImageFilter.GaussianBlur(0.8))
    grain = Image.frombytes("L", size, rnd.randbytes(width * height)).convert("RGB")
    return Image.blend(scene, grain, 0.06)


def photo_like_png(size: tuple[int, int], seed: int = 1) -> bytes:
    buffer = io.BytesIO()
    photo_like(size, seed).save(buffer, format="PNG")
    return buffer.getvalue()


@contextmanager
def counting_decodes() -> Iterator[list[str]]:
    """Every Pillow decoder created inside the block, by name: one per full decode."""
    created: list[str] = []
    real = Image._getdecoder

    def spy(mode, decoder_name, args, extra=()):
        created.append(decoder_name)
        return real(mode, decoder_name, args, extra)

    with mock.patch.object(Image, "_getdecoder", spy):
        yield created


def take_in(data: bytes) -> None:
    """The image work ingest does on one output (the download and the storage aside)."""
    from generations import imaging

    info = imaging.inspect(data, max_pixels=40_000_000)
    imaging.add_png_text(data, {"parameters": "a recipe"})
    assert info.width  # used, so nothing is optimised away


def tile_renditions(data: bytes) -> bytes:
    """The thumbnail and placeholder a worker's background thread makes after ingest."""
    from generations import imaging

    made = imaging.make_renditions(data, max_pixels=40_000_000, thumbnail_width=480)
    return made.thumbnail.data


def first_view(data: bytes) -> bytes:
    """The display rendition a page's first request for it makes."""
    from generations import imaging

    return imaging.make_display_rendition(data, max_pixels=40_000_000, display_size=1600).data


def cpu_ms(action: Callable[[], object], repeats: int) -> float:
    """Median CPU time of `action` in ms (CPU, not wall: the machine is shared)."""
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        action()
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples)


def serving_peak_kb(data: bytes) -> tuple[float, float]:
    """Peak Python memory (KB) serving `data` as a stored original, and reading it whole."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.test import RequestFactory

    from generations import delivery
    from generations.models import OutputImage

    name = default_storage.save("bench/original.png", ContentFile(data))
    try:
        field = OutputImage(original=name).original
        request = RequestFactory().get("/images/1/original/")
        # Once before measuring, so that imports and first-call caches are not counted.
        warm = delivery.stored_file_response(request, field, content_type="image/png")
        b"".join(warm.streaming_content)
        warm.close()
        tracemalloc.start()
        try:
            response = delivery.stored_file_response(request, field, content_type="image/png")
            sent = sum(len(block) for block in response.streaming_content)
            response.close()
            _, streamed = tracemalloc.get_traced_memory()
            assert sent == len(data)
            tracemalloc.reset_peak()
            with default_storage.open(name, "rb") as handle:
                whole = len(handle.read())
            _, read_whole = tracemalloc.get_traced_memory()
            assert whole == len(data)
        finally:
            tracemalloc.stop()
    finally:
        default_storage.delete(name)
    return streamed / 1024, read_whole / 1024


def measure(sizes: tuple[tuple[int, int], ...] = SIZES, *, repeats: int = 3) -> list[Row]:
    """The figures above as report rows; small `sizes` make a quick run for the tests."""
    from generations import imaging

    rows: list[Row] = []
    originals = {size: photo_like_png(size) for size in sizes}
    first = originals[sizes[0]]
    with counting_decodes() as decoders:
        take_in(first)
        on_ingest = len(decoders)
        tile_renditions(first)
    decodes = len(decoders)
    rows.append(
        Row(
            SECTION,
            "decodes per output (ingest, then its thumbnail)",
            decodes,
            "",
            reference=on_ingest,
            reference_label="on ingest itself",
            target="1",
            met=decodes == 1,
        )
    )
    thumbnails, displays = [], []
    for size, data in originals.items():
        label = f"{size[0]}x{size[1]}"
        rows.append(
            Row(
                SECTION,
                f"ingest CPU per output, {label} PNG",
                cpu_ms(lambda data=data: take_in(data), repeats),
                "ms",
            )
        )
        rows.append(
            Row(
                SECTION,
                f"thumbnail and placeholder after ingest, CPU, {label} PNG",
                cpu_ms(lambda data=data: tile_renditions(data), repeats),
                "ms",
            )
        )
        rows.append(
            Row(
                SECTION,
                f"display rendition on first view, CPU, {label} PNG",
                cpu_ms(lambda data=data: first_view(data), repeats),
                "ms",
            )
        )
        renditions = imaging.make_renditions(data, max_pixels=40_000_000, thumbnail_width=480)
        thumbnails.append(len(renditions.thumbnail.data) / 1024)
        displays.append(len(first_view(data)) / 1024)
        rows.append(
            Row(
                SECTION,
                f"display rendition, {label}",
                displays[-1],
                "KB",
                reference=len(data) / 1024,
                reference_label="the PNG",
            )
        )
    # Portrait outputs make the tallest thumbnails at a tile's width.
    portrait = imaging.make_renditions(
        photo_like_png(tuple(reversed(sizes[-1]))), max_pixels=40_000_000, thumbnail_width=480
    )
    thumbnails.append(len(portrait.thumbnail.data) / 1024)
    typical = statistics.median(thumbnails)
    rows.append(
        Row(
            SECTION,
            "thumbnail, typical (median of square, wide, tall)",
            typical,
            "KB",
            reference=max(thumbnails),
            reference_label="the largest",
            target="<= 30 KB",
            met=typical <= 30,
        )
    )
    streamed, whole = serving_peak_kb(_two_megabytes(first))
    rows.append(
        Row(
            SECTION,
            "peak memory serving a 2 MB original",
            streamed,
            "KB",
            reference=whole,
            reference_label="reading it whole",
            target="<= 256 KB",
            met=streamed <= 256,
        )
    )
    return rows


def _two_megabytes(png: bytes) -> bytes:
    # Served bytes are not decoded: padding after IEND makes any PNG the size of a large one.
    return png + b"\0" * max(0, 2 * 1024 * 1024 - len(png))


def main(argv: list[str] | None = None) -> None:
    """Print the figures; with `--json FILE` also write the rows there (for `make bench`)."""
    args = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
        os.environ["PLAYGROUND_VAR_DIR"] = str(Path(folder))
        os.environ["MEDIA_ROOT"] = str(Path(folder) / "media")
        os.environ.pop("AWS_STORAGE_BUCKET_NAME", None)
        import django

        django.setup()
        rows = measure()
        print(render(rows))
        if args[:1] == ["--json"] and len(args) == 2:
            Path(args[1]).write_text(json.dumps([asdict(row) for row in rows]))


def measure_in_a_process() -> list[Row]:
    """`measure` in a process of its own, set up for Django as `main` does."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "rows.json"
        subprocess.run(
            [sys.executable, "-m", "tests.bench.images", "--json", str(out)],
            cwd=Path(__file__).resolve().parents[2],
            check=True,
        )
        return [Row(**fields) for fields in json.loads(out.read_text())]


if __name__ == "__main__":
    main()
