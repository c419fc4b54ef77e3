"""SQLite under a web server and a worker cluster writing at once: nobody sees "locked"."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.apprunner import ROOT

pytestmark = pytest.mark.e2e

# Each writer reads then writes inside one transaction: under SQLite's default DEFERRED
# transactions two of these deadlock and one fails at once with "database is locked".
WRITER = """
import django, sys
django.setup()
from django.db import transaction
from generations.models import Lease
name = sys.argv[1]
for n in range(150):
    with transaction.atomic():
        lease, _ = Lease.objects.get_or_create(name="counter")
        count = int(lease.holder or 0)
        Lease.objects.filter(name="counter").update(holder=str(count + 1))
        Lease.objects.update_or_create(name=name, defaults={"holder": str(n)})
print("ok")
"""


def test_concurrent_read_then_write_transactions_never_fail(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "playground.settings",
        "PLAYGROUND_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"writer-{n}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    results = [writer.communicate(timeout=180) for writer in writers]
    for writer, (out, err) in zip(writers, results, strict=True):
        assert writer.returncode == 0, err[-2000:]
        assert out.strip() == "ok"
    count = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-v0",
            "-c",
            "from generations.models import Lease; print(Lease.objects.get(name='counter').holder)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert count.strip() == str(4 * 150)  # no increment lost
