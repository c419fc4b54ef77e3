"""A tour of every kind of page, for checks and pictures that look at them all.

The app runs as in production (DEBUG off, so the 404 page is the app's own, static files
collected) with the simulator, and the tour makes the work its pages show through
`manage.py generate`, as an operator would: a finished image, a batch, a failed request, a
flagged image waiting for review and one already approved; the first is a favourite. Then
`PAGES` lists each kind of page, signed in as the admin (a superuser, so also a moderator) or
signed out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.apprunner import RunningApp

# Production's switches, less those that need HTTPS (secure cookies, the redirect).
PRODUCTION_LIKE = {
    "DEBUG": "false",
    "SECRET_KEY": "tour-" + "k" * 60,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "false",
    "SECURE_COOKIES": "false",
}
VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
COLOR_SCHEMES = ("light", "dark")


@dataclass(frozen=True)
class Page:
    name: str
    # Filled from the tour's records: "/generations/{completed}/".
    path: str
    signed_in: bool = True

    @property
    def needs_records(self) -> bool:
        return "{" in self.path


PAGES = (
    Page("login", "/accounts/login/", signed_in=False),
    Page("playground", "/"),
    Page("generation", "/generations/{completed}/"),
    Page("generation-batch", "/generations/{batch}/"),
    Page("generation-failed", "/generations/{failed}/"),
    Page("generation-awaiting-review", "/generations/{flagged}/"),
    Page("generation-delete", "/generations/{completed}/delete/"),
    Page("gallery", "/gallery/"),
    Page("usage", "/usage/"),
    Page("moderation-queue", "/moderation/"),
    Page("moderation-history", "/moderation/history/"),
    Page("moderation-item", "/moderation/images/{flagged_image}/"),
    Page("password-change", "/accounts/password_change/"),
    Page("password-change-done", "/accounts/password_change/done/"),
    Page("access-tokens", "/accounts/tokens/"),
    Page("not-found", "/no-such-page/"),
)


def start_app(workdir: Path) -> RunningApp:
    return RunningApp(workdir=workdir, extra_env=PRODUCTION_LIKE).start()


def make_records(app: RunningApp) -> dict[str, int]:
    """Make the work the pages show; the ids their paths are filled with."""

    def generate(prompt: str, *options: str, succeeds: bool = True) -> list[int]:
        result = app.manage(["generate", prompt, "--wait", "--timeout=90", *options])
        assert (result.returncode == 0) is succeeds, result.stdout + result.stderr
        return [int(pk) for pk in re.findall(r"^  #(\d+)  seed", result.stdout, re.MULTILINE)]

    [completed] = generate("A tin robot watering tomatoes at dawn", "--aspect-ratio=16:9")
    batch = generate("Paper lanterns over a canal", "--num-images=3", "--aspect-ratio=2:3")
    [failed] = generate("[fail:1200] a statue in a fountain", succeeds=False)
    [flagged] = generate("[nsfw] a marble statue in a museum")
    [approved] = generate("[nsfw] a bronze statue in a park", "--visibility=private")
    images = app.shell(
        "from django.contrib.auth.models import User\n"
        "from generations import sharing\n"
        "from generations.models import Generation, OutputImage\n"
        "from generations.moderation import services\n"
        f"flagged = OutputImage.objects.get(generation_id={flagged}).pk\n"
        f"approved = OutputImage.objects.get(generation_id={approved}).pk\n"
        "admin = User.objects.get(is_superuser=True)\n"
        "services.decide(admin, [approved], 'approve', note='A statue, fine for the team.')\n"
        f"sharing.set_favourite(admin, Generation.objects.get(pk={completed}), True)\n"
        "print(flagged)\n"
    )
    return {
        "completed": completed,
        "batch": batch[0],
        "failed": failed,
        "flagged": flagged,
        "flagged_image": int(images.split()[-1]),
    }


def path_of(page: Page, records: dict[str, int]) -> str:
    return page.path.format(**records)
