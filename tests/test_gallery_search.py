"""Prompt search: the same answers from SQLite's trigram index as from reading every prompt."""

from __future__ import annotations

import pytest
from django.db import connection

from generations import gallery
from generations.models import Generation
from tests.factories import make_generation

pytestmark = pytest.mark.django_db

PROMPTS = [
    "A zeppelin over the harbour",
    "ZEPPELIN at dawn",
    "a lighthouse at dusk",
    "100% cotton kite",
    "100 cotton kites",
    "snake_case lantern",
    "snakeXcase lantern",
    "Éclair on a plate",
]


@pytest.fixture
def prompts(alice) -> dict[str, Generation]:
    return {prompt: make_generation(alice, prompt=prompt) for prompt in PROMPTS}


def found(user, query: str) -> set[str]:
    return set(gallery.filtered(user, {"q": query}).values_list("prompt", flat=True))


def read_every_prompt(term: str) -> set[str]:
    return set(Generation.objects.filter(prompt__icontains=term).values_list("prompt", flat=True))


@pytest.mark.parametrize(
    "term", ["zeppelin", "Zeppelin", "lighthouse", "100%", "snake_case", "ot", "éclair", "owl"]
)
def test_a_search_finds_what_reading_every_prompt_finds(alice, prompts, term):
    assert found(alice, term) == read_every_prompt(term)


def test_wildcards_in_a_search_are_plain_characters(alice, prompts):
    assert found(alice, "100%") == {"100% cotton kite"}
    assert found(alice, "snake_case") == {"snake_case lantern"}


def test_a_changed_prompt_is_found_by_its_new_words_only(alice, prompts):
    generation = prompts["A zeppelin over the harbour"]
    Generation.objects.filter(pk=generation.pk).update(prompt="A balloon over the harbour")
    assert found(alice, "zeppelin") == {"ZEPPELIN at dawn"}
    assert found(alice, "balloon") == {"A balloon over the harbour"}
    generation.delete()
    assert found(alice, "balloon") == set()


def test_a_word_in_more_prompts_than_the_index_lists_is_searched_by_reading_them(
    alice, prompts, monkeypatch
):
    monkeypatch.setattr(gallery, "INDEXED_MATCHES_AT_MOST", 1)
    assert found(alice, "zeppelin") == {"A zeppelin over the harbour", "ZEPPELIN at dawn"}


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's own index")
def test_the_index_and_its_triggers_are_in_place_after_every_migration():
    # Django remakes an SQLite table to alter it, and drops its triggers with the old one.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name = 'generations_generation'"
        )
        triggers = {row[0] for row in cursor.fetchall()}
    assert triggers == {
        "generations_prompt_trigrams_insert",
        "generations_prompt_trigrams_update",
        "generations_prompt_trigrams_delete",
    }


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's own index")
def test_a_rare_word_is_looked_up_in_the_index(alice, prompts):
    ids = gallery.prompt_matches("zeppelin").children[0][1]
    assert sorted(ids) == sorted(
        prompts[p].pk for p in ("A zeppelin over the harbour", "ZEPPELIN at dawn")
    )
