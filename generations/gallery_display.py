"""How the gallery presents a page: one tile per batch, and the active filters as chips.

The query itself (filters, keyset pages) is `gallery.py`'s; this module only shapes its rows
for the templates.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import QueryDict

from generations.gallery import GalleryFilters
from generations.models import Generation

# The URL parameters that page through results rather than choose them.
PAGING = ("after", "before", "partial")


@dataclass(frozen=True)
class FilterChip:
    """One active filter, with the link that removes it."""

    name: str
    label: str
    remove_url: str


def batch_tiles(generations: list[Generation]) -> list[Generation]:
    """One generation per batch (the first the page shows), in the page's order.

    A batch of four reads as one set of four: the tile shows its count and opens to the
    whole batch.
    """
    seen: set[object] = set()
    tiles = []
    for generation in generations:
        if generation.batch is not None:
            if generation.batch in seen:
                continue
            seen.add(generation.batch)
        tiles.append(generation)
    return tiles


def _value_label(form: GalleryFilters, name: str, value: object) -> str:
    field = form.fields[name]
    choices = dict(getattr(field, "choices", ()) or ())
    if value in choices:
        return str(choices[value])
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


CHIP_NAMES = {
    "q": "Search",
    "author": "Author",
    "aspect_ratio": "Ratio",
    "status": "Status",
    "since": "When",
    "date_from": "From",
    "date_to": "To",
}


def filter_chips(form: GalleryFilters, cleaned: dict, query: QueryDict) -> list[FilterChip]:
    """The filters in effect, each as a chip whose link is this page without that filter."""
    chips = []
    for name, value in cleaned.items():
        if name in ("view", *PAGING) or value in (None, "", False):
            continue
        if name == "sort" and value == "newest":
            continue
        if name == "favourites":
            label = "Favourites only"
        elif name == "sort":
            label = _value_label(form, name, value)
        else:
            label = f"{CHIP_NAMES.get(name, name)}: {_value_label(form, name, value)}"
        rest = query.copy()
        for param in (name, *PAGING):
            rest.pop(param, None)
        chips.append(FilterChip(name=name, label=label, remove_url="?" + rest.urlencode()))
    return chips
