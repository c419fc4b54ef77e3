"""The account page's form for a new token."""

from __future__ import annotations

from django import forms

from generations.accounts.tokens import EXPIRY_CHOICES, NAME_MAX_LENGTH
from generations.fields import ReadableTextField


class NewTokenForm(forms.Form):
    name = ReadableTextField(
        noun="token's name",
        max_length=NAME_MAX_LENGTH,
        help_text="What the token is for, e.g. “nightly product shots”.",
        error_messages={"required": "Name the token: say what it is for."},
    )
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="90", label="Expires after")

    def clean_name(self) -> str:
        return self.cleaned_data["name"].strip()

    def expires_in_days(self) -> int | None:
        choice = self.cleaned_data["expires"]
        return None if choice == "never" else int(choice)
