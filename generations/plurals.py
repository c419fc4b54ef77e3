"""Counts and durations in words, with the plural right ("1 minute", "2 minutes")."""

from __future__ import annotations


def plural(count: float, noun: str, nouns: str | None = None) -> str:
    """'1 image', '3 images', '1.5 minutes'; `nouns` for a plural that is not noun + 's'."""
    many = nouns if nouns is not None else noun + "s"
    return f"{count:g} {noun if count == 1 else many}"


def duration(seconds: float) -> str:
    """A length of time in the unit a person would use: '45 seconds', '1 minute', '2 hours'."""
    whole = round(seconds)
    # Under five minutes, an odd number of seconds reads better than a rounded minute.
    if whole < 60 or (whole < 300 and whole % 60):
        return plural(whole, "second")
    minutes = round(whole / 60)
    if minutes < 60 or minutes % 60:
        return plural(minutes, "minute")
    return plural(minutes // 60, "hour")
