"""The moderation pages' forms: one image's decision, a bulk decision, the history's filters."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from generations.fields import ReadableTextField
from generations.models import Moderation
from generations.moderation import services as moderation
from generations.plurals import plural


class DecisionForm(forms.Form):
    """One image's decision, from its review page."""

    note = ReadableTextField(
        noun="note",
        required=False,
        max_length=moderation.NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    next = forms.BooleanField(required=False)


def _image_id(value: str) -> int:
    number = int(value)
    if not 0 < number < 2**63:
        raise ValueError("not an image id")
    return number


class BulkDecisionForm(forms.Form):
    """The same decision for the images ticked in the queue, with their count confirmed."""

    action = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    images = forms.TypedMultipleChoiceField(coerce=_image_id, choices=())
    confirm_count = forms.IntegerField(min_value=1)
    note = ReadableTextField(
        noun="note",
        required=False,
        max_length=moderation.NOTE_MAX,
        widget=forms.TextInput(attrs={"placeholder": "Note (optional)"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Any id may be sent; decide() only touches images that exist.
        ids = self.data.getlist("images") if hasattr(self.data, "getlist") else []
        images = cast(forms.TypedMultipleChoiceField, self.fields["images"])
        images.choices = [(value, value) for value in ids]

    def clean_images(self) -> list[int]:
        return list(dict.fromkeys(self.cleaned_data["images"]))  # each image once

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        images, count = data.get("images") or [], data.get("confirm_count")
        if images and count is not None and count != len(images):
            raise forms.ValidationError(
                f"You confirmed {plural(count, 'image')} but {len(images)} are selected; "
                "nothing changed."
            )
        return data


class HistoryFilters(forms.Form):
    """The history's filters; the moderator is chosen among those who decided something."""

    moderator = forms.ChoiceField(required=False, choices=())
    outcome = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any outcome"),
            (Moderation.APPROVED, "Approved"),
            (Moderation.REJECTED, "Rejected"),
        ],
    )
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        moderator = cast(forms.ChoiceField, self.fields["moderator"])
        moderator.choices = [("", "Anyone")] + [
            (name, name) for name in moderation.moderator_names()
        ]
