"""Error reports (Django's debug page, the admins' error e-mail) that never show a secret."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

from generations.accounts.tokens import IN_TEXT as PERSONAL_TOKEN


class SecretValueFilter(SafeExceptionReporterFilter):
    """Hide every frame variable whose text holds the API key, the secret key, the webhook
    secret or a personal access token.

    Django hides settings by their names, and a function's variables only where it is marked
    @sensitive_variables, and only with DEBUG off. The API key also travels through requests'
    and urllib3's frames as a header value, where neither applies: so values are matched here,
    DEBUG on or off.
    """

    def cleanse_special_types(self, request: HttpRequest | None, value: Any) -> Any:
        value = super().cleanse_special_types(request, value)
        from generations.webhooks import secret as webhook_secret  # the app's, once loaded

        held = (
            settings.WAVESPEED_API_KEY,
            settings.SECRET_KEY,
            *settings.SECRET_KEY_FALLBACKS,
            *webhook_secret.held(),
        )
        secrets = [secret for secret in held if secret]
        try:
            text = repr(value)
        except Exception:  # the report has its own words for a value it cannot show
            return value
        # Personal access tokens too, wherever one travels (a header, a variable, a body).
        if any(secret in text for secret in secrets) or PERSONAL_TOKEN.search(text):
            return self.cleansed_substitute
        return value
