"""The Jinja2 environment, for the templates a page repeats many times over.

Django's template engine interprets its node tree on every render: a gallery page of 24 tiles
resolved some 1,400 variables and took about half of the page's time. Jinja2 compiles a
template to Python once, so the same tiles cost a fraction. Pages and one-off fragments stay
with Django's engine; only the tile templates (`templates/jinja2/`, named `*.jinja`) use this.

The helpers are the Django tags and filters those templates need, as plain functions.
"""

from __future__ import annotations

from typing import Any

from django.template import defaultfilters
from jinja2 import Environment

from generations.templatetags.display import moment
from generations.templatetags.paths import path_to


def truncatechars(value: str, length: int) -> str:
    """Django's `truncatechars`, without its walk over every character of a text that fits
    (most prompts: the walk was a tenth of the tiles' time)."""
    if len(value) <= length:
        return value
    return defaultfilters.truncatechars(value, length)


def environment(**options: Any) -> Environment:
    """The environment Django's Jinja2 backend builds its templates with."""
    options.pop("autoescape", None)  # always on: these templates draw people's prompts
    env = Environment(autoescape=True, **options)
    env.globals.update(path_to=path_to, moment=moment)
    env.filters.update(truncatechars=truncatechars)
    return env
