"""The playground form enforces the model's documented ranges and choices."""

import pytest

from generations.forms import GenerationForm, ReportForm
from generations.moderation.forms import BulkDecisionForm, DecisionForm

VALID = {
    "prompt": "A red fox in the snow, golden hour",
    "aspect_ratio": "16:9",
    "seed": "42",
    "guidance_scale": "3.5",
    "safety_tolerance": "2",
}


def form_with(**changes):
    data = {**VALID, **changes}
    return GenerationForm(data={k: v for k, v in data.items() if v is not None})


def test_valid_input_is_accepted_and_typed():
    form = form_with()
    assert form.is_valid(), form.errors
    assert form.cleaned_data == {
        "prompt": "A red fox in the snow, golden hour",
        "aspect_ratio": "16:9",
        "seed": 42,
        "guidance_scale": 3.5,
        "safety_tolerance": "2",
        "num_images": 1,
        "visibility": "team",
    }


@pytest.mark.parametrize(
    "ratio", ["21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21"]
)
def test_every_documented_aspect_ratio_is_accepted(ratio):
    assert form_with(aspect_ratio=ratio).is_valid()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", ""),
        ("seed", "-1"),
        ("seed", "0"),
        ("seed", "2147483647"),
        ("guidance_scale", "1"),
        ("guidance_scale", "20"),
        ("guidance_scale", "7.25"),
        ("safety_tolerance", "1"),
        ("safety_tolerance", "5"),
    ],
)
def test_boundaries_inside_the_range_are_accepted(field, value):
    form = form_with(**{field: value})
    assert form.is_valid(), form.errors


@pytest.mark.parametrize(
    ("field", "value", "message_part"),
    [
        ("prompt", "", "prompt is required"),
        ("prompt", "   \n\t ", "prompt is required"),
        ("prompt", None, "prompt is required"),
        ("prompt", "x" * 2001, "at most 2000"),
        ("prompt", "null\x00byte", "control character (U+0000)"),
        ("aspect_ratio", "5:4", "Choose one of the aspect ratios shown."),
        ("aspect_ratio", "", "Choose an aspect ratio."),
        ("aspect_ratio", "1:1; DROP TABLE", "Choose one of the aspect ratios shown."),
        ("seed", "-2", "or -1 for a random seed"),
        ("seed", "2147483648", "The seed must be between 0 and 2147483647, or -1"),
        ("seed", "1.5", "whole number"),
        ("seed", "abc", "whole number"),
        ("guidance_scale", "0.99", "Guidance scale must be between 1 and 20."),
        ("guidance_scale", "20.01", "Guidance scale must be between 1 and 20."),
        ("guidance_scale", "nan", "number"),
        ("guidance_scale", "inf", "number"),
        ("guidance_scale", "", "required"),
        ("safety_tolerance", "0", "must be one of 1, 2, 3, 4 or 5"),
        ("safety_tolerance", "6", "must be one of 1, 2, 3, 4 or 5"),
        ("safety_tolerance", "2.0", "must be one of 1, 2, 3, 4 or 5"),
        ("num_images", "0", "Choose between 1 and 4 images."),
        ("num_images", "5", "Choose between 1 and 4 images."),
        ("num_images", "two", "whole number"),
        ("visibility", "public", "Choose team or private."),
    ],
)
def test_bad_input_is_refused_with_a_message_beside_the_field(field, value, message_part):
    form = form_with(**{field: value})
    assert not form.is_valid()
    assert field in form.errors
    message = " ".join(form.errors[field])
    assert message_part in message
    # Plain words that name the range, never Django's defaults.
    assert "Ensure this value" not in message
    assert "Select a valid choice" not in message


INVISIBLE = "only spaces or invisible characters"
UNREADABLE = "could not be read"
DIGITS = "in the digits 0-9, or -1 for a random seed"


@pytest.mark.parametrize(
    ("field", "value", "message_part"),
    [
        ("prompt", "\u200b\u200b\u200b", INVISIBLE),  # zero-width spaces
        ("prompt", "\u200c \u200d\u2060", INVISIBLE),  # non-joiner, joiner, word joiner
        ("prompt", "\ufeff", INVISIBLE),  # a byte order mark
        ("prompt", "\u200e\u200f\u00ad", INVISIBLE),  # direction marks, a soft hyphen
        ("prompt", "\u3000\u00a0\u2028\u2029", "prompt is required"),  # stripped as spaces
        ("prompt", "\u0301\u0308", INVISIBLE),  # combining marks on nothing
        ("prompt", "\u3164\u2800", INVISIBLE),  # a Hangul filler, the blank Braille cell
        ("prompt", "\U000e0041\ufe0f", INVISIBLE),  # a tag character, a variation selector
        ("prompt", "a fox \ufffd in the snow", UNREADABLE),  # what invalid UTF-8 became
        ("prompt", "a fox \ud800 in the snow", UNREADABLE),  # a lone surrogate
        ("prompt", "a fox\x1b[31m", "control character (U+001B)"),
        ("prompt", "a fox\x85in the snow", "control character (U+0085)"),
        ("seed", "\u0664\u0662", DIGITS),  # Arabic-Indic 42, which int() reads
        ("seed", "\u06f4\u06f2", DIGITS),  # Extended Arabic-Indic 42
        ("seed", "\uff14\uff12", DIGITS),  # full-width 42
        ("seed", "\u0968", DIGITS),  # Devanagari 2
        ("seed", "4_2", DIGITS),
        ("seed", "+42", DIGITS),
        ("seed", "42.0", DIGITS),
        ("seed", "-0", DIGITS),
        ("seed", "--1", DIGITS),
        ("seed", "0x10", DIGITS),
        ("num_images", "\u0662", "in the digits 0-9"),
    ],
)
def test_invisible_unreadable_or_foreign_digit_input_is_refused(field, value, message_part):
    form = form_with(**{field: value})
    assert not form.is_valid()
    assert field in form.errors
    assert message_part in " ".join(form.errors[field])


@pytest.mark.parametrize(
    "prompt",
    [
        "🦊 in the snow",
        "🫨",  # newer than Python's Unicode tables: unassigned to it, still a character
        "👩\u200d🚀 on the moon",  # a joiner inside an emoji sequence
        "café crème, Zürich, façade",
        "東京の夜景、ネオン",
        "नमस्ते, a street in Mumbai",
        "\u200fשלום\u200f",  # right-to-left marks around Hebrew
        "line one\n\tline two\r\n",
        "e\u0301te\u0301",  # accents as combining marks
    ],
)
def test_readable_prompts_in_any_script_pass(prompt):
    form = form_with(prompt=prompt)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["prompt"] == prompt.strip()


@pytest.mark.parametrize(("typed", "seed"), [("-1", -1), ("0", 0), ("007", 7), (" 42 ", 42)])
def test_seeds_in_ascii_digits_pass(typed, seed):
    form = form_with(seed=typed)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["seed"] == seed


@pytest.mark.parametrize(
    ("form_class", "field", "extra"),
    [
        (ReportForm, "reason", {}),
        (DecisionForm, "note", {}),
        (BulkDecisionForm, "note", {"action": "approve", "images": ["1"], "confirm_count": "1"}),
    ],
)
@pytest.mark.parametrize(
    ("value", "message_part"),
    [("\u200b\u2060", INVISIBLE), ("bad \ufffd", UNREADABLE), ("bad \udfff", UNREADABLE)],
)
def test_the_same_rule_holds_for_report_reasons_and_moderation_notes(
    form_class, field, extra, value, message_part
):
    from django.http import QueryDict

    data = QueryDict(mutable=True)
    data.update({**extra, field: value})
    data.setlist("images", extra.get("images", []))
    form = form_class(data=data)
    assert not form.is_valid()
    assert message_part in " ".join(form.errors[field])
    fine = QueryDict(mutable=True)
    fine.update({**extra, field: "Ça va: 日本の彫刻 🗿"})
    fine.setlist("images", extra.get("images", []))
    assert form_class(data=fine).is_valid()


def test_the_prompt_is_trimmed():
    form = form_with(prompt="  a lighthouse  ")
    assert form.is_valid()
    assert form.cleaned_data["prompt"] == "a lighthouse"


def test_an_empty_seed_means_random():
    form = form_with(seed="")
    assert form.is_valid()
    assert form.cleaned_data["seed"] is None


def test_images_and_visibility_default_when_left_out():
    form = form_with()
    form.data = {k: v for k, v in form.data.items() if k not in ("num_images", "visibility")}
    assert form.is_valid(), form.errors
    assert form.cleaned_data["num_images"] == 1
    assert form.cleaned_data["visibility"] == "team"


def test_the_default_visibility_follows_the_setting(settings):
    settings.DEFAULT_VISIBILITY = "private"
    form = form_with()
    assert form.fields["visibility"].initial == "private"
    form.data = {k: v for k, v in form.data.items() if k != "visibility"}
    assert form.is_valid() and form.cleaned_data["visibility"] == "private"
