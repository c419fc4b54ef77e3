"""Form fields for what people type and the app saves: readable text, numbers in ASCII digits.

A browser's form data is decoded with errors replaced: bytes that are not UTF-8 arrive as
U+FFFD, and a surrogate's UTF-8 form too. Such text is refused with a message rather than
saved in its replaced form, as is text with nothing visible in it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

REPLACEMENT_CHARACTER = "\ufffd"
# Categories that draw nothing on their own: controls, format characters (zero-width spaces
# and joiners, the byte order mark, direction marks), surrogates, separators, combining marks.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp", "Mn", "Me"})
# Letters and symbols that are blank by design (Hangul fillers, the blank Braille pattern).
_BLANK_GRAPHICS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Line breaks and tabs are the only control characters a typed text needs.
_TYPED_CONTROLS = frozenset("\t\n\r")


def _is_visible(character: str) -> bool:
    # Unassigned code points count as visible: Python's Unicode tables lag behind the
    # newest emoji, which are real characters to whoever typed them.
    return (
        unicodedata.category(character) not in _INVISIBLE_CATEGORIES
        and character not in _BLANK_GRAPHICS
    )


def validate_readable_text(value: str, noun: str = "text") -> None:
    """Refuse text that was damaged on its way (U+FFFD, surrogates), that holds control
    characters, or that has no visible character; `noun` names the field in the message."""
    if REPLACEMENT_CHARACTER in value or any("\ud800" <= c <= "\udfff" for c in value):
        raise ValidationError(
            f"The {noun} contains characters that could not be read (shown as \ufffd); retype it.",
            code="unreadable",
        )
    control = next(
        (c for c in value if unicodedata.category(c) == "Cc" and c not in _TYPED_CONTROLS), None
    )
    if control is not None:
        raise ValidationError(
            f"The {noun} contains a control character (U+{ord(control):04X}); remove it.",
            code="control_character",
        )
    if not any(_is_visible(c) for c in value):
        raise ValidationError(
            f"The {noun} has only spaces or invisible characters; type some words.",
            code="invisible",
        )


class ReadableTextField(forms.CharField):
    """A CharField whose text is refused, with a message, unless it is readable and visible."""

    def __init__(self, *, noun: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.noun = noun

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value not in self.empty_values:
            validate_readable_text(value, self.noun)


class DigitsField(forms.IntegerField):
    """An integer typed in the digits 0-9 (and -1 when `minus_one` is allowed).

    int() also reads Arabic-Indic or full-width digits, underscores and a plus sign; the API
    and every reader of a seed expect plain digits, so the typed form is checked first.
    """

    default_error_messages = {"invalid": "Enter a whole number in the digits 0-9."}

    def __init__(self, *, minus_one: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pattern = re.compile(r"-1|[0-9]+" if minus_one else r"[0-9]+", re.ASCII)

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        text = str(value).strip()
        if not self.pattern.fullmatch(text):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return int(text)
