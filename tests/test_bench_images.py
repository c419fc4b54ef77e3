"""The images benchmark still runs (its figures are printed by `python -m tests.bench.images`)."""

from __future__ import annotations

from tests.bench import images
from tests.bench.report import Row, render


def test_the_images_benchmark_measures_every_figure_on_a_small_picture():
    rows = images.measure(sizes=((120, 80),), repeats=1)
    assert all(isinstance(row, Row) and row.section == "images" for row in rows)
    figures = {row.figure: row for row in rows}
    decodes = figures["decodes per output (ingest, then its thumbnail)"]
    assert (decodes.value, decodes.reference) == (1, 0)  # none on ingest itself
    assert figures["ingest CPU per output, 120x80 PNG"].value >= 0
    assert figures["thumbnail and placeholder after ingest, CPU, 120x80 PNG"].value >= 0
    assert figures["display rendition, 120x80"].value > 0
    assert figures["thumbnail, typical (median of square, wide, tall)"].value > 0
    serving = figures["peak memory serving a 2 MB original"]
    assert serving.reference is not None and serving.value < serving.reference
    assert "peak memory serving" in render(rows)
