"""`{% path_to %}`: a route's path like `{% url %}`, for templates that repeat it per item.

Django's `reverse()` walks the URL resolver on every call (tens of microseconds); a gallery
page links each of its 24 tiles to five routes, over 200 reverses, about a fifth of the
page's time. A route with one integer argument differs between items only in that number,
so its path is reversed once, with a stand-in number, and the item's number is put in its
place.
"""

from __future__ import annotations

from functools import lru_cache

from django import template
from django.urls import NoReverseMatch, get_script_prefix, reverse

register = template.Library()

# A number no route's own text contains: where it shows, the argument went.
_STAND_IN = 2_147_480_647


@register.simple_tag
def path_to(name: str, pk: int | None = None) -> str:
    """The path of route `name` (with `pk` as its one argument when given), as `{% url %}`."""
    head, tail = _halves(name, get_script_prefix(), pk is not None)
    if pk is None:
        return head
    return f"{head}{int(pk)}{tail}"


@lru_cache(maxsize=128)
def _halves(name: str, script_prefix: str, with_argument: bool) -> tuple[str, str]:
    """The route's path before and after its argument (all of it in the first without one)."""
    if not with_argument:
        return reverse(name), ""
    path = reverse(name, args=[_STAND_IN])
    head, found, tail = path.rpartition(str(_STAND_IN))
    if not found:
        raise NoReverseMatch(f"{name}'s path does not carry its argument as it is")
    return head, tail
