"""Simulator settings, read from SIMULATOR_* environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from playground.env import InvalidSetting, env_float, env_int, env_str, parse_float

# Maps the names used in SIMULATOR_FAULTS to Faults fields; "500" is not a valid identifier.
_FAULT_NAMES = {
    "500": "server_error",
    "502": "bad_gateway",
    "503": "unavailable",
    "429": "rate_limited",
    "429_bare": "rate_limited_bare",
    "drop": "drop",
    "slow": "slow",
    "slow_seconds": "slow_seconds",
    "drop_created": "drop_created",
    "hide_inputs": "hide_inputs",
}
_RATE_FIELDS = (
    "server_error",
    "bad_gateway",
    "unavailable",
    "rate_limited",
    "rate_limited_bare",
    "drop",
    "slow",
)


@dataclass(frozen=True)
class Faults:
    """Rates of injected transport faults on /api/v3 requests."""

    server_error: float = 0.0  # answer HTTP 500
    bad_gateway: float = 0.0  # answer HTTP 502, as a proxy in front of the API does
    unavailable: float = 0.0  # answer HTTP 503
    rate_limited: float = 0.0  # answer HTTP 429 with Retry-After: 1
    rate_limited_bare: float = 0.0  # answer HTTP 429 without Retry-After
    drop: float = 0.0  # close the connection without any answer
    slow: float = 0.0  # sleep slow_seconds, then answer normally
    slow_seconds: float = 5.0
    # Share of dropped submits that had already created (and charged) the task when the
    # connection died: the ambiguous outcome clients must settle through the history list.
    drop_created: float = 0.5
    # Share of history answers whose items carry no `input` even when asked for inputs, like
    # the docs' example item: a lost submit cannot then be told apart from its neighbours.
    hide_inputs: float = 0.0

    @property
    def any(self) -> bool:
        """Whether any fault can happen at all."""
        return any(getattr(self, name) > 0 for name in _RATE_FIELDS)

    @classmethod
    def parse(cls, text: str, variable: str = "SIMULATOR_FAULTS") -> Faults:
        """Parse e.g. "500=0.1,502=0.05,429=0.05,drop=0.02,slow=0.1,slow_seconds=3"."""
        values: dict[str, float] = {}
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, raw = item.partition("=")
            name = name.strip().lower()
            if not sep or name not in _FAULT_NAMES:
                known = ", ".join(_FAULT_NAMES)
                raise InvalidSetting(
                    f"{variable}: {item!r} is not name=value with a name in {known}"
                )
            attribute = _FAULT_NAMES[name]
            # Every value but slow_seconds is a share of requests.
            maximum = None if attribute == "slow_seconds" else 1.0
            values[attribute] = parse_float(
                f"{variable} ({name})", raw, minimum=0.0, maximum=maximum
            )
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
    # What GET /api/v3/webhook/secret answers and webhook calls are signed with; as public
    # as the simulator's API key.
    webhook_secret: str = "whsec_simulator-webhook-secret"  # noqa: S105
    webhook_failure_rate: float = 0.0  # share of webhook attempts lost (then retried)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SimulatorConfig:
        """Build a config from SIMULATOR_* variables (unset or empty: the default).

        A malformed value raises playground.env.InvalidSetting, a ValueError naming the variable.
        """
        defaults = cls()
        return cls(
            api_key=env_str("SIMULATOR_API_KEY", defaults.api_key, environ=environ),
            latency=env_float("SIMULATOR_LATENCY", defaults.latency, minimum=0.0, environ=environ),
            nsfw_rate=env_float(
                "SIMULATOR_NSFW_RATE", defaults.nsfw_rate, minimum=0.0, maximum=1.0, environ=environ
            ),
            failure_rate=env_float(
                "SIMULATOR_FAILURE_RATE",
                defaults.failure_rate,
                minimum=0.0,
                maximum=1.0,
                environ=environ,
            ),
            faults=Faults.parse(env_str("SIMULATOR_FAULTS", environ=environ)),
            sync_wait_max=env_float(
                "SIMULATOR_SYNC_WAIT", defaults.sync_wait_max, minimum=0.0, environ=environ
            ),
            seed=env_int("SIMULATOR_RANDOM_SEED", defaults.seed, environ=environ),
            webhook_secret=env_str(
                "SIMULATOR_WEBHOOK_SECRET", defaults.webhook_secret, environ=environ
            ),
            webhook_failure_rate=env_float(
                "SIMULATOR_WEBHOOK_FAILURE_RATE",
                defaults.webhook_failure_rate,
                minimum=0.0,
                maximum=1.0,
                environ=environ,
            ),
        )
