"""Request validation, prompt markers and random draws of the simulated API."""

from __future__ import annotations

import json
import random
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from generations.wavespeed.contract import (
    ASPECT_RATIO_DEFAULT,
    ASPECT_RATIOS,
    GUIDANCE_DEFAULT,
    GUIDANCE_MAX,
    GUIDANCE_MIN,
    SAFETY_TOLERANCE_DEFAULT,
    SAFETY_TOLERANCES,
    SEED_MAX,
    SEED_MIN,
    STATUSES,
    TASK_ERRORS,
)

PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100
SYNC_TIMEOUT_ERROR = "Sync mode timed out, the task continues asynchronously"

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


class InvalidInput(ValueError):
    """A request parameter is missing or out of range; the message names it."""


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


@dataclass(frozen=True)
class ListQuery:
    """The filters and page of a prediction history request."""

    page: int = 1
    page_size: int = PAGE_SIZE_DEFAULT
    created_after: datetime | None = None
    created_before: datetime | None = None
    model: str | None = None
    status: str | None = None
    include_inputs: bool = False


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


def load_json_object(body: bytes) -> dict[str, Any]:
    """Decode a JSON object body; an empty body counts as {}."""
    if not body.strip():
        return {}
    try:
        # NaN and Infinity are not JSON and would slip through every range check.
        value = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput(f"Invalid JSON body: {error}") from None
    if not isinstance(value, dict):
        raise InvalidInput("Invalid JSON body: expected an object")
    return value


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


def parse_submit(body: bytes) -> tuple[dict[str, Any], bool]:
    """Validate a submit body; return (normalised inputs with seed None if random, sync)."""
    raw = load_json_object(body)
    prompt = raw.get("prompt")
    if prompt is None or prompt == "":
        raise InvalidInput("prompt is required")
    if not isinstance(prompt, str):
        raise InvalidInput("prompt must be a string")
    if not prompt.strip():
        raise InvalidInput("prompt must not be blank")

    aspect_ratio = raw.get("aspect_ratio", ASPECT_RATIO_DEFAULT)
    if aspect_ratio not in ASPECT_RATIOS:
        raise InvalidInput(
            f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}; got {aspect_ratio!r}"
        )

    seed = raw.get("seed")
    # bool is an int subclass in Python, but true is no seed.
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise InvalidInput(f"seed must be an integer; got {seed!r}")
    if seed is not None and not SEED_MIN <= seed <= SEED_MAX:
        raise InvalidInput(f"seed must be between {SEED_MIN} and {SEED_MAX}; got {seed}")

    guidance = raw.get("guidance_scale", GUIDANCE_DEFAULT)
    if not isinstance(guidance, int | float) or isinstance(guidance, bool):
        raise InvalidInput(f"guidance_scale must be a number; got {guidance!r}")
    if not GUIDANCE_MIN <= guidance <= GUIDANCE_MAX:
        raise InvalidInput(
            f"guidance_scale must be between {GUIDANCE_MIN} and {GUIDANCE_MAX}; got {guidance}"
        )

    safety = raw.get("safety_tolerance", SAFETY_TOLERANCE_DEFAULT)
    if isinstance(safety, int) and not isinstance(safety, bool):
        safety = str(safety)
    if safety not in SAFETY_TOLERANCES:
        raise InvalidInput(
            f"safety_tolerance must be one of {', '.join(SAFETY_TOLERANCES)}; got {safety!r}"
        )

    sync = raw.get("enable_sync_mode", False)
    if not isinstance(sync, bool):
        raise InvalidInput(f"enable_sync_mode must be a boolean; got {sync!r}")

    inputs = {
        "prompt": prompt,
        "aspect_ratio": aspect_ratio,
        "seed": None if seed in (None, -1) else seed,
        "guidance_scale": float(guidance),
        "safety_tolerance": safety,
        "enable_sync_mode": sync,
    }
    return inputs, sync


def parse_list_query(body: bytes) -> ListQuery:
    """Validate a prediction history request body."""
    raw = load_json_object(body)
    page = _positive_int(raw, "page", 1)
    # Larger pages are capped rather than refused, as a list API usually does.
    page_size = min(_positive_int(raw, "page_size", PAGE_SIZE_DEFAULT), PAGE_SIZE_MAX)
    model = raw.get("model") or None
    if model is not None and not isinstance(model, str):
        raise InvalidInput(f"model must be a string; got {model!r}")
    status = raw.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
    include_inputs = raw.get("include_inputs", False)
    if not isinstance(include_inputs, bool):
        raise InvalidInput(f"include_inputs must be a boolean; got {include_inputs!r}")
    return ListQuery(
        page=page,
        page_size=page_size,
        created_after=_timestamp(raw, "created_after"),
        created_before=_timestamp(raw, "created_before"),
        model=model,
        status=status,
        include_inputs=include_inputs,
    )


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


def _reject_constant(name: str) -> Any:
    """Refuse NaN and Infinity while decoding JSON."""
    raise ValueError(f"{name} is not valid JSON")


def _positive_int(raw: dict[str, Any], name: str, default: int) -> int:
    """Read an optional integer of at least 1."""
    value = raw.get(name)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput(f"{name} must be a positive integer; got {value!r}")
    return value


def _timestamp(raw: dict[str, Any], name: str) -> datetime | None:
    """Read an optional ISO 8601 time; a time without a zone is taken as UTC."""
    value = raw.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be an ISO 8601 string; got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 string; got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
