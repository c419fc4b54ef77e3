"""Counts and durations read right in the singular and the plural."""

from __future__ import annotations

import pytest

from generations.plurals import duration, plural


@pytest.mark.parametrize(
    ("count", "words"),
    [(0, "0 images"), (1, "1 image"), (2, "2 images"), (1.5, "1.5 images")],
)
def test_a_count_takes_the_plural_unless_it_is_one(count, words):
    assert plural(count, "image") == words


def test_an_irregular_plural_can_be_given():
    assert plural(2, "child", "children") == "2 children"
    assert plural(1, "child", "children") == "1 child"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (45, "45 seconds"),
        (60, "1 minute"),
        (90, "90 seconds"),
        (120, "2 minutes"),
        (603.4, "10 minutes"),
        (600, "10 minutes"),
        (3600, "1 hour"),
        (5400, "90 minutes"),
        (7200, "2 hours"),
    ],
)
def test_a_duration_is_said_in_the_unit_a_person_would_use(seconds, words):
    assert duration(seconds) == words
