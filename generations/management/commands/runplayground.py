"""Migrate, ensure an admin, then run the web server, the task cluster and the simulator."""

import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from generations.admin_account import ensure_admin
from generations.management.commands.ensure_admin import describe_account
from playground import launcher
from playground.env import env_int, env_str


class Command(BaseCommand):
    help = "Run Kontext Playground in the foreground (what `make run` does)."

    def handle(self, *args, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)
        account = ensure_admin(
            env_str("PLAYGROUND_ADMIN_USER"), env_str("PLAYGROUND_ADMIN_PASSWORD")
        )
        status = launcher.run(
            host=env_str("HOST", "127.0.0.1"),
            port=env_int("PORT", 8000, minimum=1, maximum=65535),
            simulated=settings.WAVESPEED_SIMULATED,
            simulator_port=settings.SIMULATOR_PORT,
            base_dir=settings.BASE_DIR,
            admin_message=describe_account(account),
        )
        sys.exit(status)
