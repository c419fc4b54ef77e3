"""What keeps the gallery fast on a large table: the held flag every image change keeps, a
constant number of queries per page, the indexes, and the benchmark that measures it."""

from __future__ import annotations

import pytest
from django.db import connection

from generations import gallery, sharing
from generations.models import Favourite, Generation, Moderation, OutputImage
from generations.moderation import services as moderation
from tests.bench import gallery as gallery_bench
from tests.bench import report
from tests.factories import add_image, completed, make_generation

pytestmark = pytest.mark.django_db


def held(generation: Generation) -> bool:
    return Generation.objects.values_list("held", flat=True).get(pk=generation.pk)


def test_work_without_images_is_not_held(alice):
    assert not held(make_generation(alice))


def test_a_flagged_image_holds_its_generation_until_approved(alice, maude):
    generation = make_generation(alice, status=Generation.Status.COMPLETED)
    image = add_image(generation, nsfw=True)  # saved as ingest saves it: awaiting review
    assert held(generation)
    moderation.decide(maude, [image.pk], "approve")
    assert not held(generation)
    moderation.decide(maude, [image.pk], "reject")
    assert held(generation)


def test_one_shown_image_is_enough_to_free_a_generation(alice):
    generation, _ = completed(alice)
    add_image(generation, index=1, nsfw=True)
    assert not held(generation)


def test_a_shown_image_stored_after_a_flagged_one_frees_the_generation(alice):
    generation = make_generation(alice, status=Generation.Status.COMPLETED)
    add_image(generation, index=0, nsfw=True)
    assert held(generation)
    add_image(generation, index=1)  # a second output of the batch, not flagged
    assert not held(generation)


def test_a_report_holds_the_generation(alice, bob):
    generation, image = completed(alice)
    sharing.report_image(bob, image, "Not for the team")
    assert held(generation)


@pytest.mark.parametrize("state", [Moderation.PENDING, Moderation.REJECTED])
def test_any_update_of_the_images_moderation_follows(alice, state):
    generation, image = completed(alice)
    OutputImage.objects.filter(pk=image.pk).update(moderation=state)
    assert held(generation)
    OutputImage.objects.filter(pk=image.pk).update(moderation=Moderation.APPROVED)
    assert not held(generation)


def test_deleting_the_held_image_frees_the_generation(alice):
    generation = make_generation(alice)
    image = add_image(generation, nsfw=True)
    assert held(generation)
    image.delete()
    assert not held(generation)


def test_images_created_in_bulk_hold_their_generations(alice):
    generation = make_generation(alice)
    OutputImage.objects.bulk_create(
        [
            OutputImage(
                generation=generation,
                index=0,
                format="PNG",
                width=1,
                height=1,
                thumbnail_width=1,
                thumbnail_height=1,
                size_bytes=1,
                nsfw=True,
                moderation=Moderation.PENDING,
            )
        ]
    )
    assert held(generation)


def test_the_visibility_rule_reads_no_images(alice):
    # A column test, no subquery: what lets one index serve the rule and the order.
    sql = str(Generation.objects.visible_to(alice).query)
    assert "generations_outputimage" not in sql
    assert "team_visible" in sql


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"q": "lighthouse"},
        {"aspect_ratio": "16:9", "status": "completed"},
        {"view": "mine", "favourites": True},
    ],
)
def test_a_page_costs_the_same_queries_however_many_rows(
    alice, bob, django_assert_num_queries, filters
):
    def fill(count: int) -> None:
        for number in range(count):
            generation, _ = completed(
                bob if number % 2 else alice,
                prompt=f"A lighthouse {number}",
                aspect_ratio="16:9",
                seed=number,
            )
            add_image(generation, index=1, nsfw=True)
            Favourite.objects.create(user=alice, generation=generation)

    fill(2)
    gallery.gallery_page(alice, filters)  # the account's permissions, read once per request
    # The page, then its images; a search on SQLite first looks in the prompts' index.
    queries = 3 if filters.get("q") and connection.vendor == "sqlite" else 2
    with django_assert_num_queries(queries):
        small = gallery.gallery_page(alice, filters, page_size=5)
    fill(12)
    with django_assert_num_queries(queries):
        large = gallery.gallery_page(alice, filters, page_size=5)
        for generation in large.generations:
            list(generation.images.all())
    assert len(large.generations) >= len(small.generations)


def test_the_gallery_page_costs_the_same_queries_however_many_rows(client_for, alice, bob):
    from django.test.utils import CaptureQueriesContext

    visitor = client_for(alice)

    def queries_of_a_page() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert visitor.get("/gallery/?q=fox").status_code == 200
        return len(queries)

    completed(bob, prompt="A fox")
    few = queries_of_a_page()
    for number in range(30):
        completed(bob if number % 2 else alice, prompt=f"A fox {number}", seed=number)
    assert queries_of_a_page() == few


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's trigram index")
def test_prompt_search_has_a_trigram_index_on_postgresql():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'generation_prompt_trgm'")
        (definition,) = cursor.fetchone()
    assert "gin_trgm_ops" in definition and "upper(prompt)" in definition.lower()


def test_the_gallery_benchmark_runs_on_a_tiny_table():
    """The code `make bench` runs, on 50 rows of the test database (no timing asserted)."""
    measured = gallery_bench.run_here(50, repeats=2)
    assert measured["vendor"] == connection.vendor and measured["count"] == 50
    assert set(measured["analysed"]) == set(gallery_bench.SCENARIOS)
    for figures in measured["analysed"].values():
        assert figures["queries"] > 0 and figures["p95"] >= figures["median"] > 0
        assert figures["plan"] and figures["plan"] != "(no gallery query captured)"
    rows = gallery_bench.rows(measured, measured)
    assert all(row.ratio == pytest.approx(1.0) for row in rows if row.reference)
    assert all(row.met for row in rows if row.figure.endswith("queries"))
    table = report.render(rows)
    assert "first page: page p95" in table and "search, a rare word" in table
