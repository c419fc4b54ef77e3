"""`manage.py generate --wait --out` as an operator runs it, beside the running app.

The command only saves the generations and asks for a sweep; the app's own cluster sends
them to its simulator and stores the images, and the command follows that in the database.
"""

from __future__ import annotations

import re

import pytest
from PIL import Image

pytestmark = pytest.mark.e2e


def test_generate_waits_for_the_running_cluster_and_writes_a_valid_image(running_app, tmp_path):
    out = tmp_path / "images"
    result = running_app.manage(
        [
            "generate",
            "A brass telescope on a windowsill",
            "--seed=321",
            "--aspect-ratio=3:2",
            "--wait",
            "--timeout=90",
            f"--out={out}",
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pk = re.search(r"#(\d+)  seed 321  /generations/\1/", result.stdout).group(1)
    # The cluster moved it along while the command watched: queued first, completed last.
    statuses = re.findall(rf"s  #{pk}  (?:\S+ -> )?(\S+)", result.stdout)
    assert statuses[0] == "Queued" and statuses[-1] == "Completed", result.stdout
    assert len(statuses) >= 3, result.stdout
    path = out / f"{pk}-a-brass-telescope-on-a-windowsill-321.png"
    assert [p.name for p in out.iterdir()] == [path.name]
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert (image.format, image.size) == ("PNG", (1248, 832))


def test_generate_exits_non_zero_for_a_failed_generation(running_app, tmp_path):
    result = running_app.manage(
        ["generate", "[fail:1200] a statue", "--wait", "--timeout=90", f"--out={tmp_path}"]
    )
    assert result.returncode == 1
    assert re.search(r"#\d+ failed: .*content moderation", result.stderr), result.stderr
    assert list(tmp_path.iterdir()) == []
