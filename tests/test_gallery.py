"""The gallery's filters, search and keyset pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from generations import gallery
from generations.models import Favourite, Generation
from tests.factories import add_image, completed, make_generation

pytestmark = pytest.mark.django_db

S = Generation.Status


def prompts_on(response) -> list[str]:
    return re.findall(r'<span class="tile-prompt">([^<]*)</span>', response.content.decode())


def test_team_shows_everyones_team_work_and_mine_only_mine(client_for, alice, bob):
    make_generation(alice, prompt="alice red")
    make_generation(bob, prompt="bob blue")
    make_generation(bob, prompt="bob hidden", visibility="private")
    visitor = client_for(alice)
    assert set(prompts_on(visitor.get("/gallery/"))) == {"alice red", "bob blue"}
    assert prompts_on(visitor.get("/gallery/?view=mine")) == ["alice red"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=lighthouse", {"a lighthouse at dusk", "LIGHTHOUSE in fog"}),
        ("q=lighthouse+fog", {"LIGHTHOUSE in fog"}),
        ("q=4242", {"a kite"}),
        ("author=bob", {"LIGHTHOUSE in fog"}),
        ("aspect_ratio=16:9", {"a kite"}),
        ("status=failed", {"a failed fox"}),
        ("status=in_progress", {"a lighthouse at dusk"}),
        ("status=completed", {"LIGHTHOUSE in fog", "a kite"}),
        ("favourites=on", {"a kite"}),
        ("since=today", {"a lighthouse at dusk", "LIGHTHOUSE in fog", "a kite"}),
        ("since=7d", {"a lighthouse at dusk", "LIGHTHOUSE in fog", "a kite"}),
        ("since=30d", {"a lighthouse at dusk", "LIGHTHOUSE in fog", "a kite", "a failed fox"}),
    ],
)
def test_filters_narrow_the_gallery(client_for, alice, bob, query, expected):
    make_generation(alice, prompt="a lighthouse at dusk")
    completed(bob, prompt="LIGHTHOUSE in fog")
    kite, _ = completed(alice, prompt="a kite", seed=4242, aspect_ratio="16:9")
    old = make_generation(alice, prompt="a failed fox", status=S.FAILED)
    Generation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    Favourite.objects.create(user=alice, generation=kite)
    assert set(prompts_on(client_for(alice).get(f"/gallery/?{query}"))) == expected


def test_a_date_range_keeps_the_days_given(client_for, alice):
    for days_ago in (1, 3, 5):
        generation = make_generation(alice, prompt=f"{days_ago} days ago")
        Generation.objects.filter(pk=generation.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago)
        )
    today = timezone.localdate()
    start, end = today - timedelta(days=4), today - timedelta(days=2)
    response = client_for(alice).get(f"/gallery/?date_from={start}&date_to={end}")
    assert prompts_on(response) == ["3 days ago"]


@pytest.mark.parametrize(
    "query",
    [
        "status=nonsense",
        "aspect_ratio=5:4",
        "after=%%%garbage",
        "date_from=yesterday",
        "date_from=2026-05-02&date_to=2026-05-01",
        "sort=sideways",
        "q=" + "x" * 300,
    ],
)
def test_bad_filters_are_dropped_with_a_message_not_a_crash(client_for, alice, query):
    make_generation(alice, prompt="still here")
    response = client_for(alice).get(f"/gallery/?{query}")
    assert response.status_code == 200
    assert 'class="message message-warning"' in response.content.decode()


def test_newest_and_oldest_first(client_for, alice):
    for number in range(3):
        make_generation(alice, prompt=f"number {number}")
    visitor = client_for(alice)
    assert prompts_on(visitor.get("/gallery/")) == ["number 2", "number 1", "number 0"]
    assert prompts_on(visitor.get("/gallery/?sort=oldest")) == ["number 0", "number 1", "number 2"]


def test_pages_stay_put_while_new_work_arrives(alice):
    for number in range(10):
        make_generation(alice, prompt=f"number {number}")
    first = gallery.gallery_page(alice, {}, page_size=4)
    for number in range(10, 15):  # five new ones land on top meanwhile
        make_generation(alice, prompt=f"number {number}")
    second = gallery.gallery_page(
        alice, {"after": gallery.decode_cursor(first.next_cursor)}, page_size=4
    )
    assert [g.prompt for g in first.generations] == [f"number {n}" for n in (9, 8, 7, 6)]
    assert [g.prompt for g in second.generations] == [f"number {n}" for n in (5, 4, 3, 2)]
    back = gallery.gallery_page(
        alice, {"before": gallery.decode_cursor(second.prev_cursor)}, page_size=4
    )
    assert [g.prompt for g in back.generations] == [f"number {n}" for n in (9, 8, 7, 6)]


def test_the_last_page_has_no_next_link_and_the_first_no_previous(alice):
    for number in range(5):
        make_generation(alice, prompt=f"number {number}")
    first = gallery.gallery_page(alice, {}, page_size=3)
    assert first.prev_cursor is None and first.next_cursor
    last = gallery.gallery_page(
        alice, {"after": gallery.decode_cursor(first.next_cursor)}, page_size=3
    )
    assert [g.prompt for g in last.generations] == ["number 1", "number 0"]
    assert last.next_cursor is None and last.prev_cursor


def test_newer_tiles_come_as_a_fragment_for_the_live_gallery(client_for, alice):
    make_generation(alice, prompt="older")
    top = gallery.encode_cursor(Generation.objects.get(prompt="older"))
    make_generation(alice, prompt="newer")
    response = client_for(alice).get(f"/gallery/?before={top}&partial=1")
    assert prompts_on(response) == ["newer"]
    assert "<html" not in response.content.decode()


def test_teammates_do_not_see_work_whose_only_image_awaits_review(client_for, alice, bob, maude):
    generation = make_generation(alice, prompt="flagged statue", status=S.COMPLETED)
    add_image(generation, nsfw=True)
    assert prompts_on(client_for(bob).get("/gallery/")) == []
    assert prompts_on(client_for(alice).get("/gallery/")) == ["flagged statue"]
    assert prompts_on(client_for(maude).get("/gallery/")) == ["flagged statue"]


@pytest.mark.parametrize("page_size", [4, 24])
def test_query_count_does_not_grow_with_page_size(
    client_for, alice, bob, page_size, django_assert_max_num_queries, monkeypatch
):
    monkeypatch.setattr(gallery, "PAGE_SIZE", page_size)
    for number in range(page_size):
        generation, _ = completed(alice if number % 2 else bob, prompt=f"tile {number}")
        Favourite.objects.create(user=alice, generation=generation)
    visitor = client_for(alice)
    visitor.get("/gallery/")  # warm the session and the permission cache
    with django_assert_max_num_queries(7):
        response = visitor.get("/gallery/")
    assert len(prompts_on(response)) == page_size


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        # The live gallery's request for newer tiles, with the page's own (bad) filters.
        ("status=nonsense&partial=1", {}),
        ("status=nonsense&partial=1", {"HTTP_ACCEPT": "application/json"}),
        # A script asking for JSON gets the page, and its warning said in it.
        ("status=nonsense", {"HTTP_ACCEPT": "application/json"}),
    ],
)
def test_a_background_request_leaves_no_warning_for_the_next_page(
    client_for, alice, query, headers
):
    make_generation(alice, prompt="still here")
    visitor = client_for(alice)
    answer = visitor.get(f"/gallery/?{query}", **headers)
    assert prompts_on(answer) == ["still here"]
    following = visitor.get("/gallery/?view=mine").content.decode()
    assert "message-warning" not in following and "Status:" not in following


def test_tiles_escape_what_a_prompt_holds(client_for, alice):
    completed(alice, prompt='<img src=x onerror="alert(1)"> & co')
    page = client_for(alice).get("/gallery/").content.decode()
    assert "<img src=x" not in page
    assert prompts_on(client_for(alice).get("/gallery/")) == [
        "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; co"
    ]


def test_the_tiles_favourite_forms_share_one_working_csrf_token(alice, bob):
    from django.test import Client

    first, _ = completed(bob, prompt="first")
    completed(bob, prompt="second")
    visitor = Client(enforce_csrf_checks=True)
    visitor.force_login(alice)
    page = visitor.get("/gallery/").content.decode()
    tile_tokens = re.findall(
        r'class="tile-favourite"><input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)"',
        page,
    )
    assert len(tile_tokens) == 2 and len(set(tile_tokens)) == 1
    answer = visitor.post(
        f"/generations/{first.pk}/favourite/",
        {"csrfmiddlewaretoken": tile_tokens[0], "favourite": "1", "next": "/gallery/"},
    )
    assert answer.status_code == 302
    assert Favourite.objects.filter(user=alice, generation=first).exists()
