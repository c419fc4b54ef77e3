"""Issue a personal access token from the shell: the token alone on the last line."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from generations.accounts import tokens
from generations.fields import validate_readable_text


class Command(BaseCommand):
    help = (
        "Issue a personal access token for USERNAME, named NAME. The token is printed once, "
        "alone on the last line (e.g. TOKEN=$(manage.py issue_token ann nightly | tail -n1))."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("name", help="What the token is for.")
        parser.add_argument(
            "--expires-in-days",
            type=int,
            default=None,
            help="Days until it expires (default: never).",
        )

    def handle(
        self, *args, username: str, name: str, expires_in_days: int | None, **options
    ) -> None:
        users = get_user_model()
        try:
            user = users.objects.get(**{users.USERNAME_FIELD: username})
        except users.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"The account {username!r} is inactive: its tokens would not work.")
        name = name.strip()
        try:
            validate_readable_text(name, "token's name")
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        if len(name) > tokens.NAME_MAX_LENGTH:
            raise CommandError(f"The name is longer than {tokens.NAME_MAX_LENGTH} characters.")
        if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
            raise CommandError("--expires-in-days must be between 1 and 3650.")
        row, token = tokens.issue(user, name, expires_in_days)
        expiry = (
            f"expires {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else "never expires"
        )
        self.stdout.write(
            f"Token {row.name!r} for {username} ({expiry}). It is shown only now; "
            "revoke it on the account page or in the admin."
        )
        self.stdout.write(token)
