"""Back up the database and the media into a new folder (see generations/backups.py)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations import backups


class Command(BaseCommand):
    help = "Write every record and image file into DIR, to be put back with `restore DIR`."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, help="a new or empty folder")

    def handle(self, *args, directory: Path, **options) -> None:
        try:
            summary = backups.back_up(directory)
        except backups.BackupError as refusal:
            raise CommandError(str(refusal)) from None
        for name in summary.missing:
            self.stderr.write(f"Missing from storage, not backed up: {name}")
        self.stdout.write(
            f"Backed up {summary.records} records and {summary.files} files into {directory}."
        )
