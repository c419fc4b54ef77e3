"""Make ahead the renditions (display, thumbnail) that pages would otherwise make on their first
view."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations import renditions


class Command(BaseCommand):
    help = (
        "Give every image without a display rendition or a thumbnail the ones it lacks (the "
        "WebPs pages show, otherwise made when a page first asks for them). "
        "Safe to run again: images that have both are left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=renditions.BATCH_SIZE, help="images per query"
        )

    def handle(self, *args, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        waiting = renditions.images_missing_renditions()
        self.stdout.write(f"{waiting} images without a display rendition or a thumbnail.")
        backfill = renditions.make_missing_renditions(
            batch_size=batch_size,
            progress=lambda done: self.stdout.write(f"  {done.made} made so far"),
        )
        for failure in backfill.failed:
            self.stderr.write(failure)
        self.stdout.write(f"Made the renditions of {backfill.made} images.")
        if backfill.failed:
            raise CommandError(
                f"{len(backfill.failed)} images could not be given one (listed above); "
                "their pages show the original."
            )
