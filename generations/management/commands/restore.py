"""Restore a backup made by `backup` into an empty database (see generations/backups.py)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations import backups


class Command(BaseCommand):
    help = "Load the records and image files of a backup folder into an empty database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, help="a folder written by `backup`")

    def handle(self, *args, directory: Path, **options) -> None:
        try:
            summary = backups.restore(directory)
        except backups.BackupError as refusal:
            raise CommandError(str(refusal)) from None
        self.stdout.write(
            f"Restored {summary.records} records and {summary.files} files from {directory}."
        )
