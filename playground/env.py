"""Typed readers of environment variables that refuse a malformed value at startup.

The one rule for empty values: a variable set to an empty or blank string counts as unset, so
the default applies, for text, numbers, switches and lists alike (`DEBUG=` in a .env file means
"DEBUG's default", not "false"). Values are read with surrounding whitespace stripped.

No Django here: the settings, the simulator, the launchers and the tests all read the
environment through these. A refused value raises `InvalidSetting`, whose message names the
variable. Every reader takes an optional `environ` mapping (tests pass their own); without it,
the process environment is read.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import TypeVar
from urllib.parse import urlsplit

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

Default = TypeVar("Default")


class InvalidSetting(ValueError):
    """An environment variable holds a value its reader refuses; the message names it."""


def env_str(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    """Return a string variable, or the default when it is unset."""
    value = _raw(name, environ)
    return default if value is None else value


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """Return a boolean variable; anything but a clear yes/no is refused."""
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidSetting(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {value!r}")


def env_int(
    name: str,
    default: Default,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int | Default:
    """Return an integer variable within optional bounds, or the default when it is unset."""
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidSetting(f"{name} must be an integer; got {value!r}") from None
    _check_bounds(name, number, minimum, maximum)
    return number


def env_float(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> float:
    """Return a finite number variable within optional bounds."""
    value = _raw(name, environ)
    if value is None:
        return default
    return parse_float(name, value, minimum=minimum, maximum=maximum)


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """Return a comma-separated list variable, blank items dropped."""
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_http_url(name: str, environ: Mapping[str, str] | None = None) -> str:
    """Return an http(s) URL with a host and no query or fragment, without a trailing slash;
    "" when the variable is unset."""
    value = _raw(name, environ)
    if value is None:
        return ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a malformed port)
    except ValueError:
        raise InvalidSetting(f"{name} must be an http(s) URL; got {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidSetting(f"{name} must be an http(s) URL with a host; got {value!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidSetting(f"{name} must have no query, fragment or credentials; got {value!r}")
    return value.rstrip("/")


def parse_float(
    name: str, text: str, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    """Parse a finite number within optional bounds, for a variable or a part of one."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        raise InvalidSetting(f"{name} must be a number; got {text!r}") from None
    # NaN passes every bound, and infinity is no duration or rate.
    if not math.isfinite(number):
        raise InvalidSetting(f"{name} must be a finite number; got {text!r}")
    _check_bounds(name, number, minimum, maximum)
    return number


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    """The stripped value, or None when the variable is unset or empty."""
    value = (os.environ if environ is None else environ).get(name)
    value = value.strip() if value is not None else ""
    return value or None


def _check_bounds(name: str, number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and number < minimum:
        raise InvalidSetting(f"{name} must be at least {minimum}; got {number}")
    if maximum is not None and number > maximum:
        raise InvalidSetting(f"{name} must be at most {maximum}; got {number}")
