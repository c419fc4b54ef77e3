"""One table for `make bench`: every benchmark contributes rows, printed together and saved.

A row is one figure: what was measured, the app's value, the reference value measured in the
same run where there is one (the official client, or the same query at 1,000 rows), the target
and whether it was met. `write` prints the table and saves it as JSON under `var/bench/`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "var" / "bench"


@dataclass(frozen=True)
class Row:
    """One measured figure of one benchmark."""

    section: str  # e.g. "gallery (postgresql)", "pipeline (sqlite)"
    figure: str  # what was measured, in words
    value: float
    unit: str  # "ms", "s", "KB", "x", "GETs"...
    reference: float | None = None  # the official client's figure, or the 1,000-row figure
    reference_label: str = ""  # what the reference is
    target: str = ""  # the target in words, e.g. "<= 20 ms"
    met: bool | None = None  # None when the figure has no target

    @property
    def ratio(self) -> float | None:
        """The value as a multiple of the reference (how it grew, or how it compares)."""
        if self.reference is None or self.reference == 0:
            return None
        return self.value / self.reference


def render(rows: list[Row]) -> str:
    """The rows as a plain-text table, grouped by section in the order given."""
    lines: list[str] = []
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            lines.append("")
            lines.append(f"== {section}")
        reference = (
            f"{row.reference:10.2f} {row.unit:<4} ({row.reference_label})"
            if row.reference is not None
            else ""
        )
        ratio = f"{row.ratio:6.2f}x" if row.ratio is not None else ""
        verdict = {True: "ok", False: "MISSED", None: ""}[row.met]
        lines.append(
            f"  {row.figure:<52} {row.value:10.2f} {row.unit:<4} {reference:<36} {ratio:>7} "
            f"{row.target:<14} {verdict}"
        )
    return "\n".join(lines)


def write(rows: list[Row], name: str = "bench") -> Path:
    """Print the table and save the rows as `var/bench/<name>.json`; returns the file."""
    print(render(rows))
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"{name}.json"
    path.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "rows": [{**asdict(row), "ratio": row.ratio} for row in rows],
            },
            indent=2,
        )
    )
    print(f"\nsaved {path}")
    return path
