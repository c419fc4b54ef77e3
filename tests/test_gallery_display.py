"""How the gallery presents its pages: the team feed's content, batch tiles, next-page fragments
and filter chips. Alice and Bob are teammates."""

from __future__ import annotations

import re
import uuid

import pytest

from generations import gallery
from generations.models import Generation
from tests.factories import add_image, completed, make_generation

pytestmark = pytest.mark.django_db

S = Generation.Status


def prompts_on(response) -> list[str]:
    return re.findall(r'<span class="tile-prompt">([^<]*)</span>', response.content.decode())


def test_the_team_feed_leaves_out_teammates_failures_but_mine_keeps_them(client_for, alice, bob):
    completed(bob, prompt="bob finished")
    make_generation(bob, prompt="bob failed", status=S.FAILED)
    make_generation(bob, prompt="bob timed out", status=S.TIMED_OUT)
    make_generation(alice, prompt="alice failed", status=S.FAILED)
    alice_sees = client_for(alice)
    assert set(prompts_on(alice_sees.get("/gallery/"))) == {"bob finished", "alice failed"}
    # Bob still finds his own failures in Mine, and Alice finds them under the status filter.
    assert set(prompts_on(client_for(bob).get("/gallery/?view=mine"))) == {
        "bob finished",
        "bob failed",
        "bob timed out",
    }
    assert set(prompts_on(alice_sees.get("/gallery/?status=failed"))) == {
        "bob failed",
        "bob timed out",
        "alice failed",
    }


def test_a_batch_is_one_tile_with_its_count(client_for, alice):
    batch = uuid.uuid4()
    for index in range(4):
        completed(alice, prompt="a set of four", batch=batch, batch_index=index, batch_size=4)
    completed(alice, prompt="on its own")
    page = client_for(alice).get("/gallery/").content.decode()
    assert prompts_on_text(page).count("a set of four") == 1
    assert page.count(f'data-batch="{batch}"') == 1
    assert ">4 images</span>" in page
    assert "on its own" in page


def prompts_on_text(html: str) -> list[str]:
    return re.findall(r'<span class="tile-prompt">([^<]*)</span>', html)


def test_the_next_page_comes_as_a_fragment_of_the_same_tiles(client_for, alice, monkeypatch):
    monkeypatch.setattr(gallery, "PAGE_SIZE", 2)
    for n in range(5):
        completed(alice, prompt=f"picture {n}")
    visitor = client_for(alice)
    first = visitor.get("/gallery/").content.decode()
    cursor = re.search(r'data-next-cursor="([^"]+)"', first).group(1)
    fragment = visitor.get(f"/gallery/?after={cursor}&partial=1").content.decode()
    assert "<html" not in fragment and 'class="tile' in fragment
    assert prompts_on_text(fragment) == ["picture 2", "picture 1"]
    assert 'class="tile-actions"' in fragment  # the same tile as the page's, actions and all
    following = re.search(r'class="tiles-page"[^>]*data-next-cursor="([^"]*)"', fragment)
    assert following and following.group(1)
    last = visitor.get(f"/gallery/?after={following.group(1)}&partial=1").content.decode()
    assert prompts_on_text(last) == ["picture 0"]
    assert 'data-next-cursor=""' in last


def test_active_filters_show_as_chips_that_remove_themselves(client_for, alice):
    completed(alice, prompt="a fox", aspect_ratio="16:9")
    page = client_for(alice).get("/gallery/?view=team&q=fox&aspect_ratio=16:9").content.decode()
    chips = dict(
        (label, href.replace("&amp;", "&"))
        for href, label in re.findall(
            r'<a class="chip" href="([^"]+)" data-filter="[^"]+" title="Remove this filter">'
            r"([^<]+)<",
            page,
        )
    )
    assert chips == {
        "Search: fox": "?view=team&aspect_ratio=16%3A9",
        "Ratio: 16:9 widescreen": "?view=team&q=fox",
    }
    plain = client_for(alice).get("/gallery/").content.decode()
    assert 'class="filter-chips"' not in plain


def test_tiles_carry_quick_actions_and_no_completed_word(client_for, alice):
    generation, image = completed(alice, prompt="a kite")
    page = client_for(alice).get("/gallery/").content.decode()
    assert f'href="/images/{image.pk}/original/?download=1"' in page
    assert f'href="/?from={generation.pk}"' in page
    assert f'action="/generations/{generation.pk}/favourite/"' in page
    assert re.search(r'data-status="completed" hidden>Completed<', page)


def test_an_empty_gallery_says_what_to_do_next(client_for, alice):
    page = client_for(alice).get("/gallery/?view=mine").content.decode()
    assert "Create your first image" in page
    filtered = client_for(alice).get("/gallery/?q=nothing-like-this").content.decode()
    assert "Nothing matches these filters" in filtered


def test_a_flagged_tile_has_no_download(client_for, alice):
    generation = make_generation(alice, prompt="held", status=S.COMPLETED)
    image = add_image(generation, nsfw=True)
    page = client_for(alice).get("/gallery/?view=mine").content.decode()
    assert f"/images/{image.pk}/original/?download=1" not in page
