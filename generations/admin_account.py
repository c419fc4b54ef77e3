"""Making sure an administrator account exists on a fresh install."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model

DEFAULT_ADMIN_USERNAME = "admin"


@dataclass(frozen=True)
class AdminAccount:
    username: str
    created: bool
    password_shown: str | None  # only when we generated it: it cannot be shown again


def ensure_admin(username: str | None, password: str | None) -> AdminAccount:
    """Create the admin account if missing; with an explicit password, keep it in sync."""
    User = get_user_model()
    username = username or DEFAULT_ADMIN_USERNAME
    user = User.objects.filter(username=username).first()
    if user is None:
        generated = None if password else secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password or generated)
        return AdminAccount(username=username, created=True, password_shown=generated)
    if password and not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    return AdminAccount(username=username, created=False, password_shown=None)
