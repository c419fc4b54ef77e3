"""The playground form enforces the model's documented ranges and choices."""

import pytest

from generations.forms import GenerationForm

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
        ("prompt", "null\x00byte", "Null characters"),
        ("aspect_ratio", "5:4", "not one of the available choices"),
        ("aspect_ratio", "", "required"),
        ("aspect_ratio", "1:1; DROP TABLE", "not one of the available choices"),
        ("seed", "-2", "greater than or equal to -1"),
        ("seed", "2147483648", "less than or equal to 2147483647"),
        ("seed", "1.5", "whole number"),
        ("seed", "abc", "whole number"),
        ("guidance_scale", "0.99", "greater than or equal to 1.0"),
        ("guidance_scale", "20.01", "less than or equal to 20.0"),
        ("guidance_scale", "nan", "number"),
        ("guidance_scale", "inf", "number"),
        ("guidance_scale", "", "required"),
        ("safety_tolerance", "0", "not one of the available choices"),
        ("safety_tolerance", "6", "not one of the available choices"),
        ("safety_tolerance", "2.0", "not one of the available choices"),
        ("num_images", "0", "greater than or equal to 1"),
        ("num_images", "5", "less than or equal to 4"),
        ("num_images", "two", "whole number"),
        ("visibility", "public", "not one of the available choices"),
    ],
)
def test_bad_input_is_refused_with_a_message_beside_the_field(field, value, message_part):
    form = form_with(**{field: value})
    assert not form.is_valid()
    assert field in form.errors
    assert message_part in " ".join(form.errors[field])


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
