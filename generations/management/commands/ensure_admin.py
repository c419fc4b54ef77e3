"""Create the admin account if it does not exist yet."""

from django.core.management.base import BaseCommand

from generations.admin_account import ensure_admin
from playground.env import env_str


class Command(BaseCommand):
    help = "Make sure the admin account exists (PLAYGROUND_ADMIN_USER / PLAYGROUND_ADMIN_PASSWORD)."

    def handle(self, *args, **options) -> None:
        account = ensure_admin(
            env_str("PLAYGROUND_ADMIN_USER"), env_str("PLAYGROUND_ADMIN_PASSWORD")
        )
        self.stdout.write(describe_account(account))


def describe_account(account) -> str:
    if account.password_shown:
        return (
            f"Created the admin account. Log in as {account.username!r} with password "
            f"{account.password_shown!r} (shown only this once; change it in the admin)."
        )
    if account.created:
        return f"Created the admin account {account.username!r} with the configured password."
    return (
        f"Log in as {account.username!r} (its password was printed on first run; "
        f"reset it with: .venv/bin/python manage.py changepassword {account.username})."
    )
