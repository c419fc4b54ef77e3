"""The playground form: the model's parameters with the ranges of its API (from its contract)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from generations.fields import DigitsField, ReadableTextField
from generations.models import ASPECT_RATIO_CHOICES, SAFETY_TOLERANCE_CHOICES, Visibility
from generations.wavespeed.contract import (
    ASPECT_RATIO_DEFAULT,
    GUIDANCE_DEFAULT,
    GUIDANCE_MAX,
    GUIDANCE_MIN,
    SAFETY_TOLERANCE_DEFAULT,
    SEED_MAX,
    SEED_MIN,
)

# The app's own limit: the API documents none.
PROMPT_MAX_LENGTH = 2000


class RangeInput(forms.NumberInput):
    """A slider; its min, max and step come from the field, as a number input's do."""

    input_type = "range"


def _between(noun: str, low: float, high: float) -> str:
    return f"{noun} must be between {low:g} and {high:g}."


class GenerationForm(forms.Form):
    prompt = ReadableTextField(
        noun="prompt",
        max_length=PROMPT_MAX_LENGTH,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "autofocus": True,
                "placeholder": "A [shot type] of [subject] [action] in [scene]. "
                "[Lighting + mood]. [Camera/framing]. [Style cues].",
            }
        ),
        error_messages={
            "required": "Describe the image you want: the prompt is required.",
            "max_length": "The prompt can be at most %(limit_value)d characters long "
            "(it has %(show_value)d).",
        },
    )
    aspect_ratio = forms.ChoiceField(
        choices=ASPECT_RATIO_CHOICES,
        initial=ASPECT_RATIO_DEFAULT,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose an aspect ratio.",
            "invalid_choice": "Choose one of the aspect ratios shown.",
        },
    )
    seed = DigitsField(
        minus_one=True,
        required=False,
        min_value=SEED_MIN,
        max_value=SEED_MAX,
        error_messages={
            "invalid": "Type the seed as a whole number in the digits 0-9, "
            "or -1 for a random seed.",
            "min_value": f"The seed must be between 0 and {SEED_MAX}, or -1 for a random seed.",
            "max_value": f"The seed must be between 0 and {SEED_MAX}, or -1 for a random seed.",
        },
        help_text="Leave empty for a random seed; the seed used is always recorded.",
        widget=forms.NumberInput(attrs={"placeholder": "random", "inputmode": "numeric"}),
    )
    guidance_scale = forms.FloatField(
        min_value=GUIDANCE_MIN,
        max_value=GUIDANCE_MAX,
        initial=GUIDANCE_DEFAULT,
        help_text="How strictly to follow the prompt. Moderate values look more natural.",
        error_messages={
            "required": "Guidance scale is required: " + _between("it", GUIDANCE_MIN, GUIDANCE_MAX),
            "invalid": "Guidance scale must be a number between "
            f"{GUIDANCE_MIN:g} and {GUIDANCE_MAX:g}.",
            "min_value": _between("Guidance scale", GUIDANCE_MIN, GUIDANCE_MAX),
            "max_value": _between("Guidance scale", GUIDANCE_MIN, GUIDANCE_MAX),
        },
        widget=RangeInput(attrs={"step": "0.1"}),
    )
    safety_tolerance = forms.ChoiceField(
        choices=SAFETY_TOLERANCE_CHOICES,
        initial=SAFETY_TOLERANCE_DEFAULT,
        help_text="1 is the strictest filtering, 5 the most permissive.",
        error_messages={
            "required": "Choose a safety tolerance from 1 to 5.",
            "invalid_choice": "Safety tolerance must be one of 1, 2, 3, 4 or 5.",
        },
    )

    num_images = DigitsField(
        required=False,
        min_value=1,
        max_value=settings.MAX_IMAGES_PER_SUBMISSION,
        initial=1,
        label="Images",
        help_text="Each image is its own request with its own seed.",
        error_messages={
            "invalid": "Type the number of images as a whole number in the digits 0-9.",
            "min_value": f"Choose between 1 and {settings.MAX_IMAGES_PER_SUBMISSION} images.",
            "max_value": f"Choose between 1 and {settings.MAX_IMAGES_PER_SUBMISSION} images.",
        },
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    visibility = forms.ChoiceField(
        required=False,
        label="Who sees it",
        choices=[(Visibility.TEAM, "Team"), (Visibility.PRIVATE, "Private")],
        help_text="Team: everyone signed in. Private: only you and moderators. "
        "You can change this later.",
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Choose team or private."},
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["visibility"].initial = settings.DEFAULT_VISIBILITY
        for name, field in self.fields.items():
            # The message's element is always on the page (empty until there is an error),
            # so the ids named here exist; Django would name a help text id nobody renders.
            described_by = [f"{name}-error"]
            if field.help_text:
                described_by.append(f"{name}-hint")
            field.widget.attrs["aria-describedby"] = " ".join(described_by)
            # The browser's check says what the server would, in the same words.
            messages = field.error_messages
            if "max_value" in messages:
                field.widget.attrs["data-range-message"] = str(messages["max_value"])
            if "invalid" in messages and not isinstance(field, forms.ChoiceField):
                field.widget.attrs["data-invalid-message"] = str(messages["invalid"])
            if field.required:
                field.widget.attrs["data-required-message"] = str(messages["required"])

    @property
    def aspect_ratio_chips(self) -> list[tuple[Any, str, str]]:
        """Each aspect ratio's radio, the CSS class that draws its shape, and its name's
        words after the ratio ("widescreen"), which only a screen reader needs."""
        chips = []
        for radio in self["aspect_ratio"]:
            value = str(radio.data["value"])
            words = str(radio.data["label"]).removeprefix(value).strip()
            chips.append((radio, "ratio-" + value.replace(":", "x"), words))
        return chips

    @property
    def advanced_summary(self) -> str:
        """The Advanced section's settings in one line, as its closed summary shows them."""
        seed = self["seed"].value()
        return (
            f"guidance {self['guidance_scale'].value()} · "
            f"safety {self['safety_tolerance'].value()} · "
            f"seed {seed if seed not in (None, '', -1, '-1') else 'random'}"
        )

    def clean_num_images(self) -> int:
        return self.cleaned_data.get("num_images") or 1

    def clean_visibility(self) -> str:
        return self.cleaned_data.get("visibility") or settings.DEFAULT_VISIBILITY

    def clean_prompt(self) -> str:
        prompt = self.cleaned_data["prompt"].strip()
        if not prompt:
            raise forms.ValidationError("Describe the image you want: the prompt is required.")
        return prompt


class ReportForm(forms.Form):
    reason = ReadableTextField(
        noun="reason",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say what is wrong with the image."},
    )


class VisibilityForm(forms.Form):
    visibility = forms.ChoiceField(choices=Visibility.choices)
