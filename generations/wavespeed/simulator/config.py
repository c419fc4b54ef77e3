"""Simulator settings, read from SIMULATOR_* environment variables."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# Maps the names used in SIMULATOR_FAULTS to Faults fields; "500" is not a valid identifier.
_FAULT_NAMES = {
    "500": "server_error",
    "429": "rate_limited",
    "drop": "drop",
    "slow": "slow",
    "slow_seconds": "slow_seconds",
    "drop_created": "drop_created",
}
_RATE_FIELDS = ("server_error", "rate_limited", "drop", "slow")
# Returns a stripped variable, or None when it is unset or empty.
Reader = Callable[[str], str | None]


@dataclass(frozen=True)
class Faults:
    """Rates of injected transport faults on /api/v3 requests."""

    server_error: float = 0.0  # answer HTTP 500
    rate_limited: float = 0.0  # answer HTTP 429 with Retry-After: 1
    drop: float = 0.0  # close the connection without any answer
    slow: float = 0.0  # sleep slow_seconds, then answer normally
    slow_seconds: float = 5.0
    # Share of dropped submits that had already created (and charged) the task when the
    # connection died: the ambiguous outcome clients must settle through the history list.
    drop_created: float = 0.5

    @property
    def any(self) -> bool:
        """Whether any fault can happen at all."""
        return any(getattr(self, name) > 0 for name in _RATE_FIELDS)

    @classmethod
    def parse(cls, text: str, variable: str = "SIMULATOR_FAULTS") -> Faults:
        """Parse "500=0.1,429=0.05,drop=0.02,slow=0.1,slow_seconds=3" (all optional)."""
        values: dict[str, float] = {}
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, raw = item.partition("=")
            name = name.strip().lower()
            if not sep or name not in _FAULT_NAMES:
                known = ", ".join(_FAULT_NAMES)
                raise ValueError(f"{variable}: {item!r} is not name=value with a name in {known}")
            attribute = _FAULT_NAMES[name]
            if attribute == "slow_seconds":
                values[attribute] = _number(f"{variable} ({name})", raw, minimum=0.0)
            else:
                values[attribute] = _rate(f"{variable} ({name})", raw)
        return cls(**values)


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes the simulator's behaviour."""

    api_key: str = "simulator"
    latency: float = 3.0  # seconds from submit to a terminal status
    nsfw_rate: float = 0.0
    failure_rate: float = 0.0
    faults: Faults = field(default_factory=Faults)
    sync_wait_max: float = 90.0  # the server-side wait of sync mode
    seed: int | None = None  # makes the random draws reproducible

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SimulatorConfig:
        """Build a config from SIMULATOR_* variables; malformed values raise ValueError."""

        def raw(name: str) -> str | None:
            value = environ.get(name)
            # An empty variable means "unset", like the app's own env readers.
            return value.strip() if value and value.strip() else None

        defaults = cls()
        api_key = raw("SIMULATOR_API_KEY") or defaults.api_key
        latency = _optional(raw, "SIMULATOR_LATENCY", defaults.latency, minimum=0.0)
        nsfw_rate = _optional_rate(raw, "SIMULATOR_NSFW_RATE", defaults.nsfw_rate)
        failure_rate = _optional_rate(raw, "SIMULATOR_FAILURE_RATE", defaults.failure_rate)
        sync_wait = _optional(raw, "SIMULATOR_SYNC_WAIT", defaults.sync_wait_max, minimum=0.0)
        faults_text = raw("SIMULATOR_FAULTS")
        faults = Faults.parse(faults_text) if faults_text else Faults()
        seed_text = raw("SIMULATOR_RANDOM_SEED")
        seed = None
        if seed_text is not None:
            try:
                seed = int(seed_text)
            except ValueError:
                raise ValueError(
                    f"SIMULATOR_RANDOM_SEED must be an integer; got {seed_text!r}"
                ) from None
        return cls(
            api_key=api_key,
            latency=latency,
            nsfw_rate=nsfw_rate,
            failure_rate=failure_rate,
            faults=faults,
            sync_wait_max=sync_wait,
            seed=seed,
        )


def _number(
    variable: str, raw: str, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    """Parse a finite number within bounds, or raise ValueError naming the variable."""
    try:
        number = float(raw)
    except ValueError:
        raise ValueError(f"{variable} must be a number; got {raw.strip()!r}") from None
    # NaN and infinity would pass or break every comparison further down.
    if not math.isfinite(number):
        raise ValueError(f"{variable} must be a finite number; got {raw.strip()!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{variable} must be at least {minimum}; got {number}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{variable} must be at most {maximum}; got {number}")
    return number


def _rate(variable: str, raw: str) -> float:
    """Parse a probability between 0 and 1."""
    return _number(variable, raw, minimum=0.0, maximum=1.0)


def _optional(raw: Reader, name: str, default: float, *, minimum: float) -> float:
    """Read a number variable, falling back to the default when unset."""
    value = raw(name)
    return default if value is None else _number(name, value, minimum=minimum)


def _optional_rate(raw: Reader, name: str, default: float) -> float:
    """Read a rate variable, falling back to the default when unset."""
    value = raw(name)
    return default if value is None else _rate(name, value)
