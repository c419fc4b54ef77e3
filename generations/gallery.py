"""The gallery's query: filters from the URL, and keyset pages that stay put as work arrives.

A page is "the N generations after this (created_at, id)", never "rows 4801 to 4824": the
query costs the same on page 1 and page 4000, and new generations arriving on top do not
shift what the next page shows.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, prefetch_related_objects
from django.forms.renderers import Jinja2
from django.utils import timezone

from generations.models import (
    ASPECT_RATIO_CHOICES,
    Generation,
    GenerationQuerySet,
    OutputImage,
)
from generations.wavespeed.contract import SEED_MAX

PAGE_SIZE = 24
S = Generation.Status
STATUS_GROUPS = {
    "completed": (S.COMPLETED,),
    "in_progress": Generation.IN_FLIGHT,
    "failed": (S.FAILED, S.TIMED_OUT),
}
SINCE_DAYS = {"today": 0, "7d": 7, "30d": 30}
# The browser's date picker, which sends (and shows) ISO dates.
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class GalleryFilters(forms.Form):
    """The gallery's URL parameters; a bad value is dropped with a message, never a crash."""

    # Django's own widget templates for Jinja2: the filter bar, drawn on every gallery page,
    # took 1.4 ms of it through Django's engine.
    default_renderer = Jinja2()  # one instance: each holds its own engine and compiled templates

    view = forms.ChoiceField(choices=[("team", "Team"), ("mine", "Mine")], required=False)
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search prompts",
        widget=forms.SearchInput(
            attrs={"placeholder": "e.g. lighthouse", "enterkeyhint": "search"}
        ),
    )
    author = forms.CharField(required=False, max_length=150)
    aspect_ratio = forms.ChoiceField(
        choices=[("", "Any ratio"), *ASPECT_RATIO_CHOICES], required=False
    )
    status = forms.ChoiceField(
        choices=[
            ("", "Any status"),
            ("completed", "Completed"),
            ("in_progress", "In progress"),
            ("failed", "Failed"),
        ],
        required=False,
    )
    since = forms.ChoiceField(
        choices=[
            ("", "Any time"),
            ("today", "Today"),
            ("7d", "Last 7 days"),
            ("30d", "Last 30 days"),
        ],
        required=False,
    )
    date_from = forms.DateField(required=False, label="From", widget=DATE_INPUT)
    date_to = forms.DateField(required=False, label="To", widget=DATE_INPUT)
    favourites = forms.BooleanField(required=False, label="Favourites only")
    sort = forms.ChoiceField(
        choices=[("newest", "Newest first"), ("oldest", "Oldest first")], required=False
    )
    after = forms.CharField(required=False, max_length=200)
    before = forms.CharField(required=False, max_length=200)

    def clean_after(self) -> tuple[datetime, int] | None:
        return _cursor_field(self.cleaned_data.get("after"))

    def clean_before(self) -> tuple[datetime, int] | None:
        return _cursor_field(self.cleaned_data.get("before"))

    def clean(self) -> dict[str, Any]:
        super().clean()
        start, end = self.cleaned_data.get("date_from"), self.cleaned_data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return self.cleaned_data


@dataclass(frozen=True)
class GalleryPage:
    generations: list[Generation]
    next_cursor: str | None  # older (or newer, sorted oldest first) generations follow
    prev_cursor: str | None  # the page before this one
    top_cursor: str | None  # the first item's cursor: "anything newer than this?"


def encode_cursor(generation: Generation) -> str:
    raw = f"{generation.created_at.isoformat()}|{generation.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[datetime, int]:
    """Read a cursor; ValueError for anything that is not one."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        moment, _, pk = raw.partition("|")
        created = datetime.fromisoformat(moment)
        if created.tzinfo is None:
            raise ValueError("cursor time without a zone")
        # The database compares in UTC: a time at the calendar's edge must convert now.
        created = created.astimezone(UTC)
        number = int(pk)
        if not 0 < number < 2**63:
            raise ValueError("cursor id out of range")
        return created, number
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as error:
        raise ValueError(f"not a page cursor: {error}") from None


def _cursor_field(token: str | None) -> tuple[datetime, int] | None:
    if not token:
        return None
    try:
        return decode_cursor(token)
    except ValueError:
        raise forms.ValidationError("That page link is damaged; showing the first page.") from None


def filtered(user, filters: dict) -> GenerationQuerySet:
    """Generations this user may see that match the filters (unordered, unpaged)."""
    # Held work (no image cleared for the team) is already out: visible_to treats it as private.
    generations = Generation.objects.visible_to(user)
    if filters.get("view") == "mine":
        generations = generations.filter(owner=user)
    if filters.get("author"):
        generations = generations.filter(owner__username=filters["author"])
    if filters.get("aspect_ratio"):
        generations = generations.filter(aspect_ratio=filters["aspect_ratio"])
    if filters.get("status"):
        generations = generations.filter(status__in=STATUS_GROUPS[filters["status"]])
    elif filters.get("view") != "mine":
        generations = without_teammates_failures(generations, user)
    if filters.get("since"):
        today = timezone.localdate()
        generations = generations.filter(
            created_at__date__gte=today - timedelta(days=SINCE_DAYS[filters["since"]])
        )
    if filters.get("date_from"):
        generations = generations.filter(created_at__date__gte=filters["date_from"])
    if filters.get("date_to"):
        generations = generations.filter(created_at__date__lte=filters["date_to"])
    if filters.get("favourites"):
        generations = generations.filter(favourites__user=user)
    for term in (filters.get("q") or "").split():
        match = prompt_matches(term)
        if term.isascii() and term.isdigit() and int(term) <= SEED_MAX:
            match |= Q(seed=int(term))  # a seed pasted into the search box finds its image
        generations = generations.filter(match)
    return generations


# On SQLite, a search term is looked up in the prompts' trigram index (migration 0014) first:
# if no more prompts than this hold it, their ids are the filter. A common word is found
# faster by reading the newest prompts until a page is full, which is what `icontains` does;
# the look in the index stops at this many (over 100,000 prompts: 0.5 ms, against 2.4 ms for
# five times as many).
INDEXED_MATCHES_AT_MOST = 200


def prompt_matches(term: str) -> Q:
    """Generations whose prompt holds `term`, ignoring ASCII case (as `icontains` does).

    PostgreSQL answers `icontains` from its trigram index (migration 0013). SQLite would read
    every prompt for a rare word; its FTS5 trigram index finds the few that hold it, for
    terms of 3 characters or more, in ASCII (the index folds other letters' case too, which
    `icontains` on SQLite does not) and without LIKE's wildcards.
    """
    searchable = len(term) >= 3 and term.isascii() and not any(c in term for c in "%_\\")
    if connection.vendor == "sqlite" and searchable:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT rowid FROM generations_prompt_trigrams WHERE prompt LIKE %s LIMIT %s",
                [f"%{term}%", INDEXED_MATCHES_AT_MOST + 1],
            )
            ids = [row[0] for row in cursor.fetchall()]
        if len(ids) <= INDEXED_MATCHES_AT_MOST:
            return Q(pk__in=ids)
    return Q(prompt__icontains=term)


def without_teammates_failures(generations: GenerationQuerySet, user) -> GenerationQuerySet:
    """The team feed shows finished work: a teammate's failures stay in their Mine view and
    under the status filter, not as grey boxes in everyone's feed."""
    return generations.exclude(Q(status__in=STATUS_GROUPS["failed"]) & ~Q(owner=user))


# What a tile shows (templates/jinja2/generations/_gallery_card.jinja) and the cursors need:
# a generation row has some fifty columns (its API answer, errors, polling state), and reading
# and converting them all was a third of the page's query time.
TILE_FIELDS = (
    "owner__username",
    "prompt",
    "aspect_ratio",
    "visibility",
    "batch",
    "batch_index",
    "batch_size",
    "status",
    "created_at",
)
TILE_IMAGE_FIELDS = (
    "generation_id",
    "index",
    "moderation",
    "placeholder",
    "color",
    "thumbnail_width",
    "thumbnail_height",
)


def gallery_page(user, filters: dict, page_size: int | None = None) -> GalleryPage:
    """One page of the gallery's tiles, in two queries whatever the page size (plus the
    images'). The rows hold only `TILE_FIELDS`: reading any other field costs a query."""
    page_size = page_size or PAGE_SIZE
    generations = (
        filtered(user, filters).select_related("owner").only(*TILE_FIELDS).with_favourite_of(user)
    )
    after, before = filters.get("after"), filters.get("before")
    # "Forward" is the direction of the sort; a `before` cursor walks back against it.
    backwards = before is not None and after is None
    cursor = before if backwards else after
    descending = (filters.get("sort") == "oldest") == backwards
    if cursor is not None:
        created, pk = cursor
        # The plain bound on created_at is redundant but it is what lets the database start
        # the index scan at the cursor: neither PostgreSQL nor SQLite reads one out of the OR.
        if descending:
            generations = generations.filter(
                Q(created_at__lt=created) | Q(pk__lt=pk), created_at__lte=created
            )
        else:
            generations = generations.filter(
                Q(created_at__gt=created) | Q(pk__gt=pk), created_at__gte=created
            )
    order = ("-created_at", "-pk") if descending else ("created_at", "pk")
    rows = list(generations.order_by(*order)[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    if backwards:
        rows.reverse()
    images = OutputImage.objects.listed_for(user, rows).only(*TILE_IMAGE_FIELDS)
    prefetch_related_objects(rows, Prefetch("images", queryset=images))
    has_next = more if not backwards else True
    has_prev = (cursor is not None) if not backwards else more
    return GalleryPage(
        generations=rows,
        next_cursor=encode_cursor(rows[-1]) if rows and has_next else None,
        prev_cursor=encode_cursor(rows[0]) if rows and has_prev else None,
        top_cursor=encode_cursor(rows[0]) if rows else None,
    )


def authors() -> list[str]:
    """Usernames for the author filter: the team is small enough to list."""
    # EXISTS per account (an index lookup each), not a join over every generation.
    authored = Generation.objects.filter(owner=OuterRef("pk"))
    return list(
        get_user_model()
        .objects.filter(Exists(authored), is_active=True)
        .order_by("username")
        .values_list("username", flat=True)
    )
