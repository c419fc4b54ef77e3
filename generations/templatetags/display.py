"""One way to write times, durations, money and titles on every page.

Times read relative ("5 minutes ago", "just now") with the exact time on hover; durations in
seconds with one decimal; a failed generation costs $0.00 because the provider refunds it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from generations.models import Generation

register = template.Library()

MINUTE, HOUR, DAY = 60, 3600, 86400
NONE = "\u2013"  # an en dash stands for a value not known (yet)


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}" if number == 1 else f"{number} {unit}s"


def relative_time(moment: datetime, now: datetime | None = None) -> str:
    """How long ago, in words: "just now" under a minute, then minutes, hours, days, a date."""
    now = now or timezone.now()
    seconds = int((now - moment).total_seconds())
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < MINUTE:
        return "just now"  # also a clock a few seconds ahead: never "0 minutes ago"
    if seconds < HOUR:
        words = _count(seconds // MINUTE, "minute")
    elif seconds < DAY:
        words = _count(seconds // HOUR, "hour")
    elif seconds < 7 * DAY:
        words = _count(seconds // DAY, "day")
    else:
        local = timezone.localtime(moment)
        same_year = local.year == timezone.localtime(now).year
        return f"{local.day} {local:%b}" + ("" if same_year else f" {local.year}")
    return f"in {words}" if ahead else f"{words} ago"


def exact_time(moment: datetime) -> str:
    """The full local time, as the hover title shows it: "25 Nov 2026, 21:55 UTC"."""
    local = timezone.localtime(moment)
    return f"{local.day} {local:%b %Y, %H:%M} {local.tzname() or ''}".rstrip()


@register.simple_tag
def moment(value: datetime | None, now: datetime | None = None) -> str:
    """A <time> reading relative, with the machine-readable and the exact time on it."""
    if value is None:
        return NONE
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        exact_time(value),
        relative_time(value, now),
    )


@register.filter
def seconds(milliseconds: int | str | None) -> str:
    """A duration in seconds with one decimal ("4.0 s"); a dash when there is none."""
    if milliseconds is None or milliseconds == "":
        return NONE
    return f"{int(milliseconds) / 1000:.1f} s"


@register.filter
def charged(generation: Generation) -> Decimal:
    """What a generation cost: nothing once it failed, since the provider refunds failures."""
    if generation.status == Generation.Status.FAILED:
        return Decimal("0.00")
    return generation.cost


@register.filter
def money(amount: Decimal | int | float | str | None) -> str:
    """Dollars with cents: "$0.04"."""
    return f"${Decimal(str(amount or 0)):.2f}"


@register.filter
def title_words(prompt: str, length: int = 60) -> str:
    """A page title from a prompt: its first words, cut at a word with an ellipsis."""
    text = " ".join((prompt or "").split())
    return Truncator(text).chars(length) if text else "Untitled"
