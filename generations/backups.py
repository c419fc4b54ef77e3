"""Backups of the records and the image files together, and their restore.

A backup is a folder that any database and any storage can take back:

- `database.json`: Django's dumpdata of every record (times to the microsecond, see
  `backup_format`), taken from one consistent snapshot, with content types and permissions
  named by natural key (`migrate` makes those afresh, with ids of its own);
- `media/`: every file an image record names, read through Django's storage API (local disk
  or S3 alike);
- `manifest.json`: the migrations the records are at and a SHA-256 per file, all checked
  before a restore changes anything.

Left out: sessions (everyone signs in again), content types and permissions (see above), and
the task queue's own tables, its queue and results: the sweeper finds work in flight again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django_q.models import Schedule

from generations import backup_format
from generations.models import Generation

FORMAT = 1
DATABASE_FILE = "database.json"
MEDIA_DIR = "media"
MANIFEST_FILE = "manifest.json"
EXCLUDED = (
    "contenttypes",
    "auth.permission",
    "sessions",
    "django_q.ormq",
    "django_q.task",
    "django_q.success",
    "django_q.failure",
)
IMAGE_MODEL = "generations.outputimage"
IMAGE_FILE_FIELDS = ("original", "thumbnail", "display")
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore refused, in words for whoever runs it."""


@dataclass(frozen=True)
class Summary:
    records: int
    files: int
    missing: tuple[str, ...] = ()  # named by a record, absent from storage when backed up


def back_up(directory: Path) -> Summary:
    """Write a backup of the database and the media into `directory` (new or empty)."""
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty: back up into a new folder.")
    (directory / MEDIA_DIR).mkdir(parents=True, exist_ok=True)
    database = directory / DATABASE_FILE
    serializers.register_serializer(backup_format.NAME, backup_format.__name__)
    with _consistent_snapshot():
        call_command(
            "dumpdata",
            exclude=list(EXCLUDED),
            natural_foreign=True,
            format=backup_format.NAME,
            output=str(database),
            verbosity=0,
        )
        migrations = _applied_migrations()
    records = json.loads(database.read_text())
    # The files of the records in the dump, which was taken first: a file without its record
    # is harmless, a record without its file is not.
    files: dict[str, dict[str, Any]] = {}
    missing = []
    for name in sorted(_file_names(records)):
        target = _inside(directory / MEDIA_DIR, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with default_storage.open(name, "rb") as source, target.open("wb") as copy:
                shutil.copyfileobj(source, copy, CHUNK)
        except FileNotFoundError:
            target.unlink(missing_ok=True)
            missing.append(name)
            continue
        files[name] = _fingerprint(target)
    manifest = {
        "format": FORMAT,
        "created_at": timezone.now().isoformat(),
        "migrations": migrations,
        "database": _fingerprint(database),
        "files": files,
        "missing": missing,
    }
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
    return Summary(records=len(records), files=len(files), missing=tuple(missing))


def restore(directory: Path) -> Summary:
    """Load a backup into an empty database of the same migrations, and its files into storage.

    Everything is checked first; then the files are written (an extra file is harmless if
    the records fail to load), then the records in one transaction.
    """
    manifest = _read_manifest(directory)
    database = directory / DATABASE_FILE
    _check(database, manifest["database"])
    for name, fingerprint in manifest["files"].items():
        _check(_inside(directory / MEDIA_DIR, name), fingerprint)
    if manifest["migrations"] != _applied_migrations():
        raise BackupError(
            "The database is not at the backup's migrations: restore with the version of the "
            "app the backup was taken with (then upgrade), after `manage.py migrate`."
        )
    users, generations = get_user_model().objects.count(), Generation.objects.count()
    if users or generations:
        raise BackupError(
            f"The database already holds {users} accounts and {generations} generations: "
            "restore into an empty one (`manage.py flush` empties this one)."
        )
    for name in manifest["files"]:
        _put(directory / MEDIA_DIR, name)
    with transaction.atomic():
        # The backup's schedules replace those `migrate` made, or the sweep would run twice.
        Schedule.objects.all().delete()
        call_command("loaddata", str(database), verbosity=0)
        # Fixtures load without the models' save(): the held flags are read off the images.
        Generation.objects.refresh_held()
    _analyse_loaded_tables()
    records = len(json.loads(database.read_text()))
    return Summary(records=records, files=len(manifest["files"]))


def _analyse_loaded_tables() -> None:
    """Give PostgreSQL statistics on the rows a restore loaded, at once.

    It plans from statistics, and until autovacuum analyses a table loaded in one go (about a
    minute later), it guesses: the gallery's filtered pages and searches read their matches
    through the wrong index and take tens of milliseconds more (`make bench` measures pages
    before and after). SQLite plans without statistics unless asked to keep them; it is left
    as it is.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # every table: the restore filled them all


@contextmanager
def _consistent_snapshot() -> Iterator[None]:
    """Every table read as of one moment, so no record in the dump names one that is not.

    Writers go on meanwhile: PostgreSQL reads a repeatable snapshot; SQLite (in WAL mode)
    reads one from a deferred transaction, which takes no write lock.
    """
    outermost = not connection.in_atomic_block
    connection.ensure_connection()
    sqlite_mode = getattr(connection, "transaction_mode", None)
    if connection.vendor == "sqlite" and outermost:
        connection.transaction_mode = "DEFERRED"  # type: ignore[attr-defined]
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql" and outermost:
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
    finally:
        if connection.vendor == "sqlite" and outermost:
            connection.transaction_mode = sqlite_mode  # type: ignore[attr-defined]


def _applied_migrations() -> list[str]:
    applied = MigrationRecorder(connection).applied_migrations()
    return sorted(f"{app}.{name}" for app, name in applied)


def _file_names(records: list[dict[str, Any]]) -> set[str]:
    return {
        record["fields"][field]
        for record in records
        if record["model"] == IMAGE_MODEL
        for field in IMAGE_FILE_FIELDS
        if record["fields"].get(field)
    }


def _inside(root: Path, name: str) -> Path:
    """The local path of a stored name, refused if the name would leave the folder."""
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise BackupError(f"A file name leaves the backup's folder: {name!r}")
    return path


def _fingerprint(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}


def _check(path: Path, expected: dict[str, Any]) -> None:
    if not path.is_file():
        raise BackupError(f"The backup is incomplete: {path} is missing.")
    if _fingerprint(path) != expected:
        raise BackupError(f"The backup is damaged: {path} is not the file it recorded.")


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise BackupError(f"No backup in {directory}: {MANIFEST_FILE} is missing.")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is of backup format {manifest.get('format')!r}, not {FORMAT}.")
    return manifest


def _put(media: Path, name: str) -> None:
    """Write a backed-up file into storage under its own name, replacing what is there."""
    if default_storage.exists(name):
        default_storage.delete(name)
    with _inside(media, name).open("rb") as handle:
        stored = default_storage.save(name, File(handle, name=name))
    if stored != name:
        raise BackupError(f"Storage kept {name} as {stored}; the records would not find it.")
