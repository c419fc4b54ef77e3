"""Prompt markers, envelopes and random draws of the simulated API.

Request validation is the API's own, in `generations.wavespeed.validation`.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from generations.wavespeed.contract import SEED_MAX, TASK_ERRORS
from generations.wavespeed.validation import InvalidInput

_NSFW_MARKER = re.compile(r"\[nsfw\]", re.IGNORECASE)
_FAIL_MARKER = re.compile(r"\[fail(?::(\d{1,6}))?\]", re.IGNORECASE)
_SECONDS = r"(\d+(?:\.\d*)?|\.\d+)"
_LATENCY_MARKER = re.compile(rf"\[latency={_SECONDS}\]", re.IGNORECASE)
_REFUSE_MARKER = re.compile(r"\[refuse:(\d{1,6})\]", re.IGNORECASE)
_THROTTLE_MARKER = re.compile(rf"\[throttle={_SECONDS}\]", re.IGNORECASE)
_HANG_MARKER = re.compile(rf"\[hang={_SECONDS}\]", re.IGNORECASE)
_HANG_BEFORE_MARKER = re.compile(rf"\[hang-before={_SECONDS}\]", re.IGNORECASE)
_LOSE_ANSWER_MARKER = re.compile(r"\[lose-answer\]", re.IGNORECASE)
_VANISH_ONCE_MARKER = re.compile(r"\[vanish-once\]", re.IGNORECASE)
_WEBHOOK_FAIL_MARKER = re.compile(r"\[webhook-fail=(\d{1,3})\]", re.IGNORECASE)


@dataclass(frozen=True)
class Markers:
    """Outcomes forced by markers in a prompt, for deterministic tests."""

    nsfw: bool = False
    failure: tuple[int, str] | None = None
    latency: float | None = None
    refuse: int | None = None  # the submit answers HTTP 200 with this code and creates nothing
    throttle: float | None = None  # seconds the result answers 429 from its first poll
    hang: float | None = None  # seconds the submit waits after creating the task
    hang_before: float | None = None  # seconds the submit waits before creating it
    lose_answer: bool = False  # the submit creates the task, then drops the connection
    vanish_once: bool = False  # the first result GET answers 404
    webhook_failures: int = 0  # webhook attempts lost before one is sent


def task_error(code: int) -> tuple[int, str]:
    """Return (code, text) for a task error code, with a generic text for unknown codes."""
    return code, TASK_ERRORS.get(code, f"task failed with code {code}")


def parse_markers(prompt: str) -> Markers:
    """Find the markers of the package docstring in a prompt."""
    failure = None
    fail = _FAIL_MARKER.search(prompt)
    if fail:
        failure = task_error(int(fail.group(1)) if fail.group(1) else 5000)
    refuse = _REFUSE_MARKER.search(prompt)
    webhook_fail = _WEBHOOK_FAIL_MARKER.search(prompt)
    return Markers(
        nsfw=bool(_NSFW_MARKER.search(prompt)),
        failure=failure,
        latency=_seconds(_LATENCY_MARKER, prompt),
        refuse=int(refuse.group(1)) if refuse else None,
        throttle=_seconds(_THROTTLE_MARKER, prompt),
        hang=_seconds(_HANG_MARKER, prompt),
        hang_before=_seconds(_HANG_BEFORE_MARKER, prompt),
        lose_answer=bool(_LOSE_ANSWER_MARKER.search(prompt)),
        vanish_once=bool(_VANISH_ONCE_MARKER.search(prompt)),
        webhook_failures=int(webhook_fail.group(1)) if webhook_fail else 0,
    )


def _seconds(marker: re.Pattern[str], prompt: str) -> float | None:
    """The number of seconds a marker names, or None if the prompt has no such marker."""
    found = marker.search(prompt)
    return float(found.group(1)) if found else None


def parse_webhook_url(query: dict[str, list[str]]) -> str | None:
    """The submit's `webhook` query parameter: an http(s) URL, or None when absent."""
    values = query.get("webhook") or []
    if not values or not values[0]:
        return None
    url = values[0]
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidInput(f"webhook must be an http(s) URL; got {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"webhook must be an http(s) URL; got {url!r}")
    return url


def envelope(code: int, message: str, data: Any = None) -> dict[str, Any]:
    """Wrap data the way every WaveSpeed answer is wrapped."""
    return {"code": code, "message": message, "data": data}


class Dice:
    """Thread-safe random draws, reproducible when seeded."""

    def __init__(self, seed: int | None = None) -> None:
        """Seed the generator; None draws from the OS."""
        # Simulation, not security: a seedable PRNG is what makes runs reproducible.
        self._random = random.Random(seed)  # noqa: S311
        self._lock = threading.Lock()

    def chance(self, rate: float) -> bool:
        """Return True with probability rate; rates of 0 and 1 never consume a draw."""
        if rate <= 0.0:
            return False
        if rate >= 1.0:
            return True
        with self._lock:
            return self._random.random() < rate

    def seed(self) -> int:
        """Pick a generation seed like the API does when none is given."""
        with self._lock:
            return self._random.randint(0, SEED_MAX)
