"""The playground form: the model's parameters with the ranges of its API (from its contract)."""

from __future__ import annotations

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
        error_messages={"required": "Describe the image you want: the prompt is required."},
    )
    aspect_ratio = forms.ChoiceField(choices=ASPECT_RATIO_CHOICES, initial=ASPECT_RATIO_DEFAULT)
    seed = DigitsField(
        minus_one=True,
        required=False,
        min_value=SEED_MIN,
        max_value=SEED_MAX,
        error_messages={
            "invalid": "Type the seed as a whole number in the digits 0-9, or -1 for a random seed."
        },
        help_text="Leave empty (or -1) for a random seed; the seed used is always recorded.",
        widget=forms.NumberInput(attrs={"placeholder": "random", "inputmode": "numeric"}),
    )
    guidance_scale = forms.FloatField(
        min_value=GUIDANCE_MIN,
        max_value=GUIDANCE_MAX,
        initial=GUIDANCE_DEFAULT,
        help_text=f"How strictly to follow the prompt ({GUIDANCE_MIN:g} to {GUIDANCE_MAX:g}). "
        "Moderate values look more natural.",
        widget=forms.NumberInput(attrs={"step": "0.1"}),
    )
    safety_tolerance = forms.ChoiceField(
        choices=SAFETY_TOLERANCE_CHOICES,
        initial=SAFETY_TOLERANCE_DEFAULT,
        help_text="1 is the strictest filtering, 5 the most permissive.",
    )

    num_images = DigitsField(
        required=False,
        min_value=1,
        max_value=settings.MAX_IMAGES_PER_SUBMISSION,
        initial=1,
        label="Images",
        help_text=f"1 to {settings.MAX_IMAGES_PER_SUBMISSION}; "
        "each image is its own request with its own seed.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    visibility = forms.ChoiceField(
        required=False,
        choices=[
            (Visibility.TEAM, "Team: everyone signed in sees it"),
            (Visibility.PRIVATE, "Private: only you (and moderators)"),
        ],
        help_text="You can change this later on the image's page.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["visibility"].initial = settings.DEFAULT_VISIBILITY

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
