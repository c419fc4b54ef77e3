"""The one way pages write times, durations, money and titles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from generations.models import Generation
from generations.templatetags import display

NOW = datetime(2026, 11, 25, 21, 55, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ago", "words"),
    [
        (timedelta(seconds=0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(seconds=-20), "just now"),  # a clock a little ahead
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(minutes=59, seconds=59), "59 minutes ago"),
        (timedelta(hours=1), "1 hour ago"),
        (timedelta(hours=23), "23 hours ago"),
        (timedelta(days=1), "1 day ago"),
        (timedelta(days=6), "6 days ago"),
        (timedelta(days=10), "15 Nov"),
        (timedelta(days=400), "21 Oct 2025"),
        (timedelta(minutes=-5), "in 5 minutes"),
    ],
)
def test_relative_times_read_as_words_never_zero_minutes(ago, words):
    assert display.relative_time(NOW - ago, now=NOW) == words


def test_a_moment_carries_the_exact_time_on_hover():
    html = display.moment(NOW - timedelta(minutes=3), now=NOW)
    assert html == (
        '<time datetime="2026-11-25T21:52:00+00:00" title="25 Nov 2026, 21:52 UTC">'
        "3 minutes ago</time>"
    )
    assert display.moment(None) == "\u2013"


@pytest.mark.parametrize(
    ("milliseconds", "text"),
    [(4000, "4.0 s"), (860, "0.9 s"), (12345, "12.3 s"), (0, "0.0 s"), (None, "\u2013")],
)
def test_durations_are_seconds_with_one_decimal(milliseconds, text):
    assert display.seconds(milliseconds) == text


@pytest.mark.parametrize(
    ("status", "charged"),
    [
        (Generation.Status.COMPLETED, Decimal("0.04")),
        (Generation.Status.FAILED, Decimal("0.00")),
        (Generation.Status.PROCESSING, Decimal("0.04")),
    ],
)
def test_a_failed_generation_is_charged_nothing(status, charged):
    generation = Generation(status=status, cost=Decimal("0.04"))
    assert display.charged(generation) == charged
    assert display.money(display.charged(generation)) == f"${charged}"


@pytest.mark.parametrize(
    ("prompt", "title"),
    [
        ("a red kite", "a red kite"),
        ("  a   kite\nover the sea ", "a kite over the sea"),
        ("", "Untitled"),
        ("word " * 30, ("word " * 12).strip()[:59] + "…"),
    ],
)
def test_page_titles_come_from_the_prompt_cut_short(prompt, title):
    assert display.title_words(prompt) == title


@pytest.mark.django_db
def test_a_generations_page_speaks_the_same_way(client_for, alice):
    from tests.factories import completed, make_generation

    generation, _ = completed(alice, prompt="a lighthouse at dusk", inference_ms=4000)
    page = client_for(alice).get(f"/generations/{generation.pk}/").content.decode()
    assert "<title>a lighthouse at dusk · Kontext Playground</title>" in page
    # Headed by its prompt, not its number; a short prompt is not said twice.
    number = f'<span class="hint detail-number">#{generation.pk}</span>'
    assert f"<h1>a lighthouse at dusk {number}</h1>" in page
    assert 'class="prompt-text"' not in page
    assert "4.0 s" in page and "4000 ms" not in page
    assert "minutes ago" not in page and ">just now</time>" in page
    failed = make_generation(alice, prompt="a storm", status=Generation.Status.FAILED)
    page = client_for(alice).get(f"/generations/{failed.pk}/").content.decode()
    assert "<dt>Cost</dt><dd>$0.00" in page and "(refunded)" in page


@pytest.mark.django_db
def test_every_page_links_the_favicon(client_for, alice):
    page = client_for(alice).get("/gallery/").content.decode()
    assert 'rel="icon" href="/static/favicon.svg"' in page
