"""Backup and restore: every record and image file comes back, on local disk and on S3.

The round trip: Alice's and Bob's work with images, a report, Maude's decision, favourites
and a budget; `backup`, then the database flushed and the media gone; `restore`; then the
same rows and the same bytes.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django_q.models import Schedule

from generations import sharing
from generations.models import Budget, Favourite, Generation, OutputImage
from generations.moderation import services as moderation
from tests.factories import add_image, completed
from tests.test_storage import s3_storage  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def make_history(alice, bob, maude) -> list[Generation]:
    """Work of two people, with everything that hangs off it."""
    team, _ = completed(alice, prompt="A lighthouse", cost=Decimal("0.04"))
    add_image(team, index=1, size=(80, 48))
    private, _ = completed(bob, prompt="A private harbour", visibility="private")
    flagged, _ = completed(alice, prompt="A statue")
    flagged.images.all().delete()
    held = add_image(flagged, nsfw=True)
    moderation.decide(maude, [held.pk], "reject", "Not for the team")
    sharing.report_image(bob, team.images.get(index=0), "Looks off")
    Favourite.objects.create(user=bob, generation=team)
    Budget.objects.create(scope=Budget.Scope.USER, user=alice, monthly_limit=Decimal("10"))
    Budget.objects.create(scope=Budget.Scope.TEAM, monthly_limit=Decimal("100"))
    return [team, private, flagged]


@pytest.fixture
def team_history(alice, bob, maude) -> list[Generation]:
    return make_history(alice, bob, maude)


def everything() -> dict:
    """Every row of the project's records, accounts and schedules, and every stored file."""
    rows = {
        model._meta.label: list(model.objects.order_by("pk").values())
        for model in [*apps.get_app_config("generations").get_models(), Schedule]
    }
    users = get_user_model().objects.order_by("pk")
    rows["accounts"] = [
        (user.pk, user.username, user.password, user.is_staff, user.is_superuser) for user in users
    ]
    # Permission ids differ in a new database; what each person may do must not.
    rows["permissions"] = [(user.username, sorted(user.get_all_permissions())) for user in users]
    files = {}
    for image in OutputImage.objects.all():
        for field in (image.original, image.thumbnail, image.display):
            with default_storage.open(field.name, "rb") as handle:
                files[field.name] = handle.read()
    return {"rows": rows, "files": files}


def wipe(media_root: Path) -> None:
    """The database emptied, the media gone."""
    for image in OutputImage.objects.all():
        default_storage.delete(image.original.name)
        default_storage.delete(image.thumbnail.name)
        default_storage.delete(image.display.name)
    shutil.rmtree(media_root, ignore_errors=True)
    call_command("flush", interactive=False, verbosity=0)


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_a_backup_restores_every_record_and_file(
    request, storage, alice, bob, maude, media_root, tmp_path
):
    if storage == "s3":
        request.getfixturevalue("s3_storage")
    make_history(alice, bob, maude)
    before = everything()
    assert len(before["files"]) == 12 and len(before["rows"]["generations.ModerationDecision"]) == 1
    backup = tmp_path / "backup"
    output = StringIO()
    call_command("backup", str(backup), stdout=output)
    assert "12 files" in output.getvalue()

    wipe(media_root)
    assert not Generation.objects.exists() and not get_user_model().objects.exists()
    assert not default_storage.exists(next(iter(before["files"])))

    call_command("restore", str(backup), stdout=StringIO())
    after = everything()
    assert after["rows"] == before["rows"]
    assert after["files"] == before["files"]


def test_the_restored_site_works_for_its_people(team_history, tmp_path, media_root, client_for):
    call_command("backup", str(tmp_path / "backup"), stdout=StringIO())
    wipe(media_root)
    call_command("restore", str(tmp_path / "backup"), stdout=StringIO())
    bob = get_user_model().objects.get(username="bob")
    image = OutputImage.objects.get(generation__prompt="A lighthouse", index=1)
    answer = client_for(bob).get(f"/images/{image.pk}/original/")
    assert answer.status_code == 200 and b"".join(answer.streaming_content)[:4] == b"\x89PNG"
    # New records get ids after the restored ones (PostgreSQL's sequences included).
    newer, _ = completed(bob)
    assert newer.pk > max(generation.pk for generation in team_history)


def test_postgresql_has_statistics_on_the_restored_tables_at_once(team_history, tmp_path):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite plans without statistics")
    call_command("backup", str(tmp_path / "backup"), stdout=StringIO())
    call_command("flush", interactive=False)
    call_command("restore", str(tmp_path / "backup"), stdout=StringIO())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL "
            "AND relname IN ('generations_generation', 'generations_outputimage')"
        )
        assert {row[0] for row in cursor.fetchall()} == {
            "generations_generation",
            "generations_outputimage",
        }


def test_a_restore_refuses_a_database_that_holds_work(team_history, tmp_path):
    call_command("backup", str(tmp_path / "backup"), stdout=StringIO())
    with pytest.raises(CommandError, match="restore into an empty one"):
        call_command("restore", str(tmp_path / "backup"))


def test_a_damaged_backup_changes_nothing(team_history, tmp_path, media_root):
    backup = tmp_path / "backup"
    call_command("backup", str(backup), stdout=StringIO())
    manifest = json.loads((backup / "manifest.json").read_text())
    damaged = backup / "media" / next(iter(manifest["files"]))
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"!")
    wipe(media_root)
    with pytest.raises(CommandError, match="damaged"):
        call_command("restore", str(backup))
    assert not get_user_model().objects.exists()
    assert not any(default_storage.exists(name) for name in manifest["files"])


def test_a_backup_goes_into_a_new_folder_only(team_history, tmp_path):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "notes.txt").write_text("mine")
    with pytest.raises(CommandError, match="not empty"):
        call_command("backup", str(tmp_path / "backup"))


def test_a_file_missing_from_storage_is_named_and_the_rest_backed_up(team_history, tmp_path):
    lost = OutputImage.objects.first()
    default_storage.delete(lost.thumbnail.name)
    errors = StringIO()
    call_command("backup", str(tmp_path / "backup"), stdout=StringIO(), stderr=errors)
    assert lost.thumbnail.name in errors.getvalue()
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["missing"] == [lost.thumbnail.name]
    assert lost.original.name in manifest["files"]
