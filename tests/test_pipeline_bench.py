"""The pipeline benchmark's code runs: a tiny run of `tests.bench.pipeline.measure`.

No figure is judged here (timings depend on the machine); the run must finish with every
generation completed, by the app and by the official client, and the rows must be complete.
"""

from __future__ import annotations

import math

import pytest

from tests.bench.pipeline import measure
from tests.bench.report import render

pytestmark = pytest.mark.process


def test_a_tiny_pipeline_bench_completes_every_generation_and_reports_each_figure(tmp_path):
    rows = measure(in_flight=3, latency=0.5, workdir=tmp_path)

    print(render(rows))
    figures = {row.figure: row for row in rows}
    completed = figures["generations completed with their image"]
    assert (completed.value, completed.reference, completed.met) == (3, 3, True)
    assert all(row.section == "pipeline (sqlite, 3 in flight, 0.5 s latency)" for row in rows)
    for name in (
        "added latency p95",
        "wall time, first submit -> every image stored",
        "result GETs per generation (max)",
        "of which: every submit reaching the API (its finishes, first -> last)",
    ):
        assert math.isfinite(figures[name].value), name
        assert figures[name].reference is not None and math.isfinite(figures[name].reference)
    # The simulator counted the polls: every generation was looked at at least once, and a
    # poll saw each end (webhooks are off) no earlier than the API finished it.
    assert figures["result GETs per generation (max)"].value >= 1
    assert figures["of which: API done -> a poll saw it, p95"].value >= 0
