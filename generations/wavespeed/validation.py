"""What WaveSpeed's v3 API accepts in a request body, and how it refuses the rest.

API fact, not simulator behaviour: the simulator answers with it as the real API does, and the
app's gateway validates its callers' bodies with it. Plain Python, no Django (the simulator
runs without it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
)

PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100
# The error text of a sync-mode answer whose server-side wait ran out.
SYNC_TIMEOUT_ERROR = "Sync mode timed out, the task continues asynchronously"


class InvalidInput(ValueError):
    """A request parameter is missing or out of range; the message names it."""


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
