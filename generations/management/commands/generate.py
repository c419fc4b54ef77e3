"""Generate images from the command line, as a user, by the web form's rules and path.

The prompt and options are checked by the playground's own form (`GenerationForm`), and the
generations are made by `submission.create_batch`, which asks for a sweep once they are
saved: exactly what a POST to the playground does. `--wait` follows them in the database
until each has finished (or the timeout passes); `--out DIR` then copies their originals
there under names that say what they are.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from generations import admission, budgets, submission
from generations.forms import GenerationForm
from generations.models import Generation, Moderation, OutputImage
from generations.presenters import file_extension, prompt_slug

# The form's fields that have an option of the same name (`--aspect-ratio` for aspect_ratio).
OPTION_FIELDS = (
    "aspect_ratio",
    "seed",
    "guidance_scale",
    "safety_tolerance",
    "num_images",
    "visibility",
)
# Long enough for a generation that had to wait for a slot; it goes on after a timeout anyway.
DEFAULT_TIMEOUT_SECONDS = 600.0
# How often the database is read while waiting: the pages' own refresh is about as often.
POLL_SECONDS = 0.5
# With no change for this long, a line says the generation is still at it (not a hung command).
STILL_SECONDS = 15.0

S = Generation.Status


@dataclass
class Progress:
    """What was last shown of one generation while waiting."""

    status: str = ""
    waiting: str = ""
    at: float = 0.0  # seconds elapsed when its last line was printed


class Command(BaseCommand):
    help = (
        "Generate images from PROMPT as a user, with the playground's rules (its form) and its "
        "path (the same queue and sweeper). Prints each generation's id and page; --wait "
        "follows them until they finish, --out DIR saves the images (and implies --wait)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        form = GenerationForm()
        parser.add_argument("prompt", help="what the image should show")
        for name in OPTION_FIELDS:
            parser.add_argument(
                f"--{name.replace('_', '-')}",
                dest=name,
                metavar=name.upper(),
                help=_option_help(form, name),
            )
        parser.add_argument(
            "--user",
            help="the account the generations belong to (and whose budget they count "
            "against); by default the only active superuser, if there is exactly one",
        )
        parser.add_argument(
            "--wait", action="store_true", help="follow the generations until they finish"
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=DEFAULT_TIMEOUT_SECONDS,
            help=f"seconds to wait at most (default {DEFAULT_TIMEOUT_SECONDS:g}); the "
            "generations go on in the background after it",
        )
        parser.add_argument(
            "--out",
            type=Path,
            metavar="DIR",
            help="write the original images into DIR (made if missing); implies --wait",
        )
        parser.add_argument(
            "--base-url",
            default=(settings.CSRF_TRUSTED_ORIGINS or [""])[0],
            help="put before the pages' paths, e.g. https://playground.example.com "
            "(default: the first of CSRF_TRUSTED_ORIGINS, if any)",
        )

    def handle(self, *args, **options) -> None:
        if options["timeout"] <= 0:
            raise CommandError("--timeout must be a positive number of seconds.")
        author = find_author(options["user"])
        params = validated_params(options)
        if options["out"]:
            # Before anything is queued: an unusable folder is learnt now, not after the wait.
            make_folder(options["out"])
        started = time.monotonic()
        try:
            generations = submission.create_batch(author, params)
        except budgets.BudgetExceeded as refusal:
            raise CommandError(refusal.message) from None
        base_url = options["base_url"].rstrip("/")
        count = len(generations)
        self.stdout.write(
            f"Queued {count} generation{'s' if count > 1 else ''} for "
            f"{author.get_username()} ({generations[0].visibility}):"
        )
        for generation in generations:
            page = base_url + reverse("generations:detail", args=[generation.pk])
            self.stdout.write(f"  #{generation.pk}  seed {generation.seed}  {page}")
        if not (options["wait"] or options["out"]):
            return
        try:
            finished, pending = self.wait_for(generations, started, options["timeout"])
        except KeyboardInterrupt:
            # Ctrl-C stops the waiting, not the work: say so instead of a traceback.
            raise CommandError(
                "Stopped waiting. The generations go on in the background; their pages show "
                "the outcome.",
                returncode=130,
            ) from None
        if options["out"]:
            self.write_images(author, [g for g in finished if g.status == S.COMPLETED], options)
        problems = [
            f"#{g.pk} {g.get_status_display().lower()}: {g.error or 'no reason given'}"
            for g in finished
            if g.status != S.COMPLETED
        ]
        if pending:
            waiting = ", ".join(f"#{g.pk} ({g.get_status_display().lower()})" for g in pending)
            problems.append(
                f"Not finished within {options['timeout']:g} s: {waiting}. They go on in the "
                "background; their pages show the outcome."
            )
            if all(g.status == S.QUEUED and not admission.waiting_words(g) for g in pending):
                # Nothing holds them back, yet nothing sent them: no cluster took the sweep.
                problems.append("Is the task cluster running (make run, make stack)?")
        if problems:
            raise CommandError("\n".join(problems))

    def wait_for(
        self, generations: list[Generation], started: float, timeout: float
    ) -> tuple[list[Generation], list[Generation]]:
        """Show each generation's changes of status until all have finished or the timeout
        passes; the finished ones and the others, as last read."""
        ids = [g.pk for g in generations]
        shown = {pk: Progress() for pk in ids}
        deadline = started + timeout
        while True:
            current = {g.pk: g for g in Generation.objects.filter(pk__in=ids)}
            if len(current) < len(ids):
                raise CommandError("A generation was deleted while waiting for it.")
            elapsed = time.monotonic() - started
            for pk in ids:
                self.show_progress(current[pk], shown[pk], elapsed)
            latest = [current[pk] for pk in ids]
            if all(g.is_finished for g in latest) or time.monotonic() >= deadline:
                return (
                    [g for g in latest if g.is_finished],
                    [g for g in latest if not g.is_finished],
                )
            time.sleep(POLL_SECONDS)  # the next read of the database, not a synchronisation

    def show_progress(self, generation: Generation, shown: Progress, elapsed: float) -> None:
        """Print a line when a generation's status (or what it waits for) has changed."""
        status = generation.get_status_display()
        waiting = admission.waiting_words(generation)
        if (status, waiting) == (shown.status, shown.waiting):
            if elapsed - shown.at >= STILL_SECONDS:
                self.stdout.write(f"{elapsed:7.1f}s  #{generation.pk}  still {status.lower()}")
                shown.at = elapsed
            return
        change = f"{shown.status} -> {status}" if shown.status else status
        line = f"{elapsed:7.1f}s  #{generation.pk}  {change}"
        if waiting:
            line += f"  ({waiting})"
        if generation.status in (S.FAILED, S.TIMED_OUT) and generation.error:
            line += f": {generation.error}"
        self.stdout.write(line)
        shown.status, shown.waiting, shown.at = status, waiting, elapsed

    def write_images(self, author, generations: list[Generation], options: dict) -> None:
        folder: Path = options["out"]
        # The owner's own view of their images: shown ones, and those awaiting review.
        images = OutputImage.objects.visible_to(author).filter(generation__in=generations)
        by_generation = {g.pk: g for g in generations}
        for image in images.order_by("generation_id", "index"):
            generation = by_generation[image.generation_id]
            path = folder / image_file_name(generation, image)
            try:
                with image.original.open("rb") as source, path.open("wb") as target:
                    shutil.copyfileobj(source, target)
            except OSError as error:
                raise CommandError(
                    f"Cannot write {path}: {error.strerror or error}. The image stays in the "
                    f"gallery: /generations/{generation.pk}/."
                ) from None
            self.stdout.write(f"Wrote {path}")
            if image.moderation == Moderation.PENDING:
                self.stderr.write(
                    f"  #{generation.pk} was flagged by the API and awaits a moderator's "
                    "review: the team does not see it until then."
                )


def make_folder(folder: Path) -> None:
    """Make the --out folder (and its parents); a clear CommandError if it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"Cannot make the folder {folder}: {error.strerror}.") from None


def image_file_name(generation: Generation, image: OutputImage) -> str:
    """`<id>-<prompt's first words>-<seed>.png`, with `-<n>of<size>` for a batch's images."""
    name = f"{generation.pk}-{prompt_slug(generation.prompt)}-{generation.seed}"
    if generation.batch_size > 1:
        name += f"-{generation.batch_index + 1}of{generation.batch_size}"
    if image.index:
        name += f"-{image.index}"  # a second output of one prediction, kept apart
    return f"{name}.{file_extension(image)}"


def find_author(username: str | None):
    """The account named by --user, or else the only active superuser."""
    users = get_user_model().objects.filter(is_active=True)
    if username is not None:
        user = users.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"No active account named {username!r}: give another --user.")
        return user
    superusers = list(users.filter(is_superuser=True)[:2])
    if len(superusers) != 1:
        found = "There is no active superuser" if not superusers else "There are several superusers"
        raise CommandError(f"{found}: say whose generations these are with --user.")
    return superusers[0]


def validated_params(options: dict) -> dict:
    """The options checked by the playground's form, as its cleaned data; CommandError if not."""
    form = GenerationForm()
    data = {"prompt": options["prompt"]}
    for name in OPTION_FIELDS:
        value = options.get(name)
        initial = form.fields[name].initial
        data[name] = value if value is not None else ("" if initial is None else str(initial))
    bound = GenerationForm(data=data)
    if not bound.is_valid():
        problems = [
            f"{'prompt' if name == 'prompt' else '--' + name.replace('_', '-')}: {message}"
            for name, messages in bound.errors.items()
            for message in messages
        ]
        raise CommandError("\n".join(problems))
    return bound.cleaned_data


def _option_help(form: GenerationForm, name: str) -> str:
    """The form field's own help, choices and default, so the ranges are written once."""
    field = form.fields[name]
    parts = [str(field.help_text)] if field.help_text else []
    choices = getattr(field, "choices", None)
    if choices:
        parts.append("One of: " + ", ".join(str(value) for value, _ in choices) + ".")
    if field.initial not in (None, ""):
        parts.append(f"Default: {field.initial}.")
    # argparse formats help with %: a literal one is doubled.
    return " ".join(parts).replace("%", "%%")
