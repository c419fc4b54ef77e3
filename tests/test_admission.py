"""Admission and the provider's breaker: the account's limits, the waiting line, and provider
trouble as one event, against the live simulator in this process.

Submits run one at a time (`submission.submit` called by the test, as the sweeper's errands
call it), so each step can be looked at: who went, who waits, what their pages say, and who
goes when a slot frees (the sweeper releases it and sends it).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations import admission, breaker, lifecycle, provider, submission, sweeper
from generations.models import CircuitBreaker, Generation, SentSubmit, WaitingGeneration
from generations.wavespeed import client as ws
from generations.wavespeed.simulator.config import Faults
from tests.factories import make_generation

pytestmark = [pytest.mark.django_db(transaction=True)]

S = Generation.Status
PARAMS = {
    "prompt": "A paper boat on a puddle, macro",
    "aspect_ratio": "16:9",
    "seed": 42,
    "guidance_scale": 3.5,
    "safety_tolerance": "2",
}
SLOW = "[latency=3600] "  # a prediction that stays processing for the whole test
QUICK = "[latency=0] "  # one that has completed by its first poll
KEY_BANNER = "WaveSpeed refused the API key: set a valid WAVESPEED_API_KEY and restart."


def generate(owner, prompt: str) -> Generation:
    [generation] = submission.create_batch(owner, {**PARAMS, "prompt": prompt})
    return generation


def submit_each(*generations: Generation) -> None:
    for generation in generations:
        submission.submit(generation.pk)
        generation.refresh_from_db()


def words(generation: Generation) -> str:
    generation.refresh_from_db()
    return admission.waiting_words(generation)


def probe_now() -> None:
    """Make the breaker's probe due and sweep: the probe, then a look that releases into any
    slots it opened (and sends what it released)."""
    CircuitBreaker.objects.update(next_probe_at=timezone.now())
    sweeper.sweep_once(timezone.now())
    sweeper.sweep_once(timezone.now())


def due(generation: Generation) -> bool:
    """Whether the sweeper would send it now (a waiting one is due only when released)."""
    generation.refresh_from_db()
    return generation.next_check_at is not None and generation.next_check_at <= timezone.now()


# --- the account's limits ------------------------------------------------------------------


def test_beyond_the_concurrency_cap_generations_wait_in_line_and_go_when_one_finishes(
    alice, simulator, enqueued, settings
):
    settings.WAVESPEED_MAX_CONCURRENT = 2
    quick = generate(alice, QUICK + "a quick one")
    slow = generate(alice, SLOW + "a slow one")
    third = generate(alice, SLOW + "the third")
    fourth = generate(alice, SLOW + "the fourth")
    submit_each(quick, slow, third, fourth)

    assert [quick.status, slow.status] == [S.PROCESSING, S.PROCESSING]
    assert [third.status, fourth.status] == [S.QUEUED, S.QUEUED]
    # Waiting is not trying: no attempt counted, nothing failed.
    assert third.submit_attempts == fourth.submit_attempts == 0
    assert words(third) == "Waiting for a free slot; next in line."
    assert words(fourth) == "Waiting for a free slot, 1 ahead."
    assert not due(third) and not due(fourth)  # in line until released

    # The quick prediction has finished: the look after the sweep that saw it releases the
    # oldest waiting one into its slot, and sends it.
    sweeper.sweep_once(timezone.now() + timedelta(seconds=1))
    quick.refresh_from_db()
    assert quick.status == S.DOWNLOADING
    sweeper.sweep_once(timezone.now())
    third.refresh_from_db()
    fourth.refresh_from_db()
    assert third.status == S.PROCESSING
    assert fourth.status == S.QUEUED
    assert words(fourth) == "Waiting for a free slot; next in line."


def test_a_newcomer_does_not_jump_the_waiting_line(alice, simulator, enqueued, settings):
    settings.WAVESPEED_MAX_CONCURRENT = 1
    running = generate(alice, SLOW + "running")
    waiting = generate(alice, SLOW + "waiting")
    submit_each(running, waiting)
    Generation.objects.filter(pk=running.pk).update(status=S.FAILED)  # its slot frees
    newcomer = generate(alice, SLOW + "newcomer")
    submit_each(newcomer)
    assert newcomer.status == S.QUEUED
    assert words(newcomer) == "Waiting for a free slot, 1 ahead."
    submit_each(waiting)
    assert waiting.status == S.PROCESSING


def test_the_per_minute_cap_holds_submits_until_the_minute_moves_on(
    alice, simulator, enqueued, settings
):
    settings.WAVESPEED_MAX_PER_MINUTE = 2
    first, second, third = (generate(alice, SLOW + f"image {n}") for n in range(3))
    submit_each(first, second, third)
    assert [first.status, second.status, third.status] == [S.PROCESSING, S.PROCESSING, S.QUEUED]
    assert words(third) == "Waiting for a free slot; next in line."
    now = timezone.now()
    assert admission.release_waiting(now) == []
    # The sweeper comes back shortly to look for a slot while someone waits.
    due = admission.next_due(now)
    assert due is not None and now < due <= now + timedelta(seconds=5)

    SentSubmit.objects.update(sent_at=now - timedelta(seconds=61))
    assert admission.release_waiting(timezone.now()) == [third.pk]
    submit_each(third)
    assert third.status == S.PROCESSING
    assert SentSubmit.objects.count() == 1  # sends older than the window are pruned


def test_a_generation_released_into_a_slot_is_not_released_twice(alice, enqueued, settings):
    settings.WAVESPEED_MAX_CONCURRENT = 1
    running = make_generation(alice, status=S.PROCESSING)
    waiting = make_generation(alice)
    assert admission.claim(waiting.pk, lifecycle.claim_submit) is admission.Claim.WAITING
    running.delete()
    assert admission.release_waiting(timezone.now()) == [waiting.pk]
    assert admission.release_waiting(timezone.now()) == []  # its submit has not asked yet
    # A release whose submit never asked (its worker died): after the grace, released again.
    later = timezone.now() + timedelta(seconds=admission.RELEASE_GRACE_SECONDS + 1)
    assert admission.release_waiting(later) == [waiting.pk]


def test_a_second_delivery_of_a_sent_generation_does_not_join_the_line(alice, settings):
    settings.WAVESPEED_MAX_CONCURRENT = 1
    sent = make_generation(alice, status=S.PROCESSING)
    assert admission.claim(sent.pk, lifecycle.claim_submit) is admission.Claim.GONE
    assert not WaitingGeneration.objects.exists()


def in_threads(work: Callable[..., Any], arguments: Sequence[tuple]) -> list[Any]:
    """Run `work` once per argument tuple, all threads released at once; their results."""
    start = threading.Barrier(len(arguments))
    results: list[Any] = [None] * len(arguments)
    errors: list[BaseException] = []

    def run(index: int, args: tuple) -> None:
        try:
            start.wait()
            results[index] = work(*args)
        except BaseException as error:  # reported below, in the test's own thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def share_the_database_with_threads(tmp_path, monkeypatch) -> None:
    """Give threads a database they can wait on each other in, holding this test's rows.

    SQLite's in-memory test database is shared-cache: a second writer there fails at once
    ("table is locked") instead of waiting, as it would on a database file. So threads get a
    file copy. PostgreSQL's test database is shared as it is.
    """
    if connection.vendor != "sqlite":
        return
    copy = tmp_path / "shared.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(copy)
    connection.connection.backup(target)
    target.close()
    monkeypatch.setitem(connections.settings["default"], "NAME", str(copy))


def test_admission_decisions_racing_in_threads_never_pass_the_cap(
    alice, enqueued, settings, tmp_path, monkeypatch
):
    settings.WAVESPEED_MAX_CONCURRENT = 2
    generations = [make_generation(alice, prompt=f"racer {n}") for n in range(8)]
    share_the_database_with_threads(tmp_path, monkeypatch)

    taken = in_threads(
        lambda pk: admission.claim(pk, lifecycle.claim_submit), [(g.pk,) for g in generations]
    )

    [(in_flight, waiting)] = in_threads(
        lambda: (
            Generation.objects.filter(status=S.SUBMITTING).count(),
            WaitingGeneration.objects.count(),
        ),
        [()],
    )
    assert taken.count(admission.Claim.TAKEN) == 2
    assert (in_flight, waiting) == (2, 6)


# --- the breaker ----------------------------------------------------------------------------


def test_the_breaker_opens_after_failures_in_a_row_and_new_submits_wait_instead_of_failing(
    alice, simulator, enqueued
):
    simulator.config = replace(simulator.config, faults=Faults(server_error=1.0))
    failing = [generate(alice, f"try {n}") for n in range(breaker.FAILURE_THRESHOLD)]
    submit_each(*failing)
    # Each answer was lost, so each is settled through the list rather than failed.
    assert {g.status for g in failing} == {S.SUBMITTING}
    assert breaker.current().state == CircuitBreaker.State.OPEN
    assert breaker.current().reason == CircuitBreaker.Reason.OUTAGE

    late = generate(alice, "sent while the API is down")
    submit_each(late)
    assert late.status == S.QUEUED
    assert late.submit_attempts == 0
    assert late.error == ""
    assert words(late) == "Waiting: the WaveSpeed API is not answering; retrying automatically."
    assert len(simulator.store) == 0  # nothing reached the API

    # While it is still down, the probe fails and comes back later, less often.
    probe_now()
    assert breaker.current().state == CircuitBreaker.State.OPEN
    assert breaker.current().probes == 1
    assert not due(late)

    simulator.config = replace(simulator.config, faults=Faults())
    probe_now()
    assert breaker.current().state == CircuitBreaker.State.CLOSED
    late.refresh_from_db()
    assert late.status == S.PROCESSING  # released and sent once the probe closed it


def test_poll_answers_count_as_one_outcome():
    down = ws.ServerError("HTTP 502", status_code=502)
    breaker.record_outcomes([down] * (breaker.FAILURE_THRESHOLD - 1))
    assert breaker.current().failures == breaker.FAILURE_THRESHOLD - 1
    # One prediction's result failing beside answers is that prediction's trouble.
    breaker.record_outcomes([down, down, object()])
    assert breaker.current().failures == 0
    assert breaker.current().state == CircuitBreaker.State.CLOSED
    # Being throttled is not being down.
    breaker.record_outcomes([ws.RateLimitError("HTTP 429")] * 10)
    assert breaker.current().state == CircuitBreaker.State.CLOSED
    breaker.record_outcomes([down] * breaker.FAILURE_THRESHOLD)
    assert breaker.current().state == CircuitBreaker.State.OPEN


def test_a_refused_key_among_poll_answers_opens_the_breaker_for_the_key():
    breaker.record_outcomes([ws.ServerError("HTTP 500"), ws.AuthenticationError("HTTP 401")])
    assert breaker.current().reason == CircuitBreaker.Reason.KEY_REFUSED
    assert breaker.current().detail == "HTTP 401"


def test_a_refused_key_pauses_submitting_and_a_probe_resumes_it_once_the_key_is_fixed(
    alice, bob, stella, simulator, enqueued, settings, client_for
):
    settings.WAVESPEED_API_KEY = "revoked-key"
    first = generate(alice, SLOW + "sent with the revoked key")
    submit_each(first)
    assert first.status == S.QUEUED  # not failed: it waits with the others
    assert breaker.current().reason == CircuitBreaker.Reason.KEY_REFUSED
    assert due(first)  # it asks admission again at once, and waits
    submit_each(first)
    second = generate(alice, SLOW + "sent after")
    submit_each(second)
    assert [first.status, second.status] == [S.QUEUED, S.QUEUED]
    assert [first.submit_attempts, second.submit_attempts] == [1, 0]
    assert "refused this server's API key" in words(second)
    assert KEY_BANNER in client_for(stella).get("/").content.decode()
    assert KEY_BANNER not in client_for(bob).get("/").content.decode()

    probe_now()  # the key is still the revoked one
    assert breaker.current().state == CircuitBreaker.State.OPEN

    settings.WAVESPEED_API_KEY = simulator.config.api_key  # fixed, and restarted
    probe_now()
    assert breaker.current().state == CircuitBreaker.State.CLOSED
    assert KEY_BANNER not in client_for(stella).get("/").content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert [first.status, second.status] == [S.PROCESSING, S.PROCESSING]
    assert len(simulator.store) == 2


def test_an_empty_balance_pauses_submitting_until_a_probe_sees_money(
    alice, simulator, enqueued, monkeypatch
):
    breaker.record_outcome(ws.InsufficientBalanceError("HTTP 402: insufficient balance", 402))
    assert breaker.current().reason == CircuitBreaker.Reason.OUT_OF_FUNDS
    waiting = generate(alice, SLOW + "paid for later")
    submit_each(waiting)
    assert waiting.status == S.QUEUED
    assert "run out of money" in words(waiting)

    # The simulator has no call that empties an account: its store is set directly.
    monkeypatch.setattr(simulator.store, "_balance_cents", 3)  # less than one image
    probe_now()
    assert breaker.current().state == CircuitBreaker.State.OPEN
    assert breaker.current().detail == "balance $0.03"

    monkeypatch.setattr(simulator.store, "_balance_cents", 10_00)  # topped up
    probe_now()
    assert breaker.current().state == CircuitBreaker.State.CLOSED
    waiting.refresh_from_db()
    assert waiting.status == S.PROCESSING


def test_one_worker_runs_the_probe_at_a_time(simulator):
    breaker.record_outcome(ws.AuthenticationError("HTTP 401", 401))
    # Another worker claimed the probe a moment ago and is running it.
    CircuitBreaker.objects.update(
        state=CircuitBreaker.State.HALF_OPEN, next_probe_at=timezone.now() + timedelta(seconds=30)
    )
    with provider.get_client() as client:
        assert breaker.probe_if_due(client, timezone.now()) is False
        # A probe whose worker died is taken over once its claim runs out.
        later = timezone.now() + timedelta(seconds=31)
        assert breaker.probe_if_due(client, later) is True
    assert breaker.current().state == CircuitBreaker.State.CLOSED


def test_the_sweeper_comes_back_for_an_outages_probe_and_leaves_a_persons_fix_to_the_schedule():
    now = timezone.now()
    assert admission.next_due(now) is None
    breaker.record_outcomes([ws.NetworkError("connection refused")] * breaker.FAILURE_THRESHOLD)
    assert admission.next_due(now) == breaker.current().next_probe_at
    breaker.record_outcome(ws.AuthenticationError("HTTP 401", 401))
    assert admission.next_due(now) is None


@pytest.mark.parametrize(
    ("open_for", "expected"),
    [
        (None, "no slot on the WaveSpeed account came free"),
        (ws.AuthenticationError("HTTP 401", 401), "WaveSpeed refused this server's API key"),
        (ws.InsufficientBalanceError("HTTP 402", 402), "the WaveSpeed account was out of money"),
    ],
)
def test_a_generation_waiting_past_its_queue_deadline_fails_with_what_held_it_back(
    alice, enqueued, settings, open_for, expected
):
    settings.WAVESPEED_MAX_CONCURRENT = 1
    settings.GENERATION_QUEUE_TIMEOUT_SECONDS = 60
    make_generation(alice, status=S.PROCESSING, next_check_at=timezone.now() + timedelta(hours=1))
    if open_for is not None:
        breaker.record_outcome(open_for)
    waiting = make_generation(alice)
    assert admission.claim(waiting.pk, lifecycle.claim_submit) is admission.Claim.WAITING
    long_ago = timezone.now() - timedelta(seconds=61)
    Generation.objects.filter(pk=waiting.pk).update(created_at=long_ago, next_check_at=long_ago)
    sweeper.sweep_once(timezone.now())
    waiting.refresh_from_db()
    assert waiting.status == S.FAILED
    assert expected in waiting.error
    assert "within 1 minute:" in waiting.error
    assert "Nothing was charged" in waiting.error


def test_duration_words_count_right():
    assert admission.duration_words(60) == "1 minute"
    assert admission.duration_words(3600) == "60 minutes"
    assert admission.duration_words(90) == "90 seconds"


# --- what people see ------------------------------------------------------------------------


def test_a_waiting_generation_says_so_on_its_page_and_in_its_json(alice, alice_client, settings):
    settings.WAVESPEED_MAX_CONCURRENT = 2
    for _ in range(2):
        make_generation(alice, status=S.PROCESSING)
    third, fourth = make_generation(alice), make_generation(alice)
    for generation in (third, fourth):
        assert admission.claim(generation.pk, lifecycle.claim_submit) is admission.Claim.WAITING
    url = f"/generations/{fourth.pk}/"

    data = alice_client.get(url, HTTP_ACCEPT="application/json").json()
    assert data["status"] == "queued"
    assert data["waiting"] == "Waiting for a free slot, 1 ahead."
    html = alice_client.get(url).content.decode()
    assert "Waiting for a free slot, 1 ahead." in html
    assert "Working on it" not in html

    third.delete()
    assert alice_client.get(url, HTTP_ACCEPT="application/json").json()["waiting"] == (
        "Waiting for a free slot; next in line."
    )


def test_a_generation_nothing_holds_back_says_nothing_of_waiting(alice, alice_client):
    generation = make_generation(alice)
    data = alice_client.get(f"/generations/{generation.pk}/", HTTP_ACCEPT="application/json").json()
    assert data["waiting"] == ""
    assert "Working on it" in alice_client.get(f"/generations/{generation.pk}/").content.decode()


@pytest.mark.parametrize(
    ("error", "banner", "link"),
    [
        (ws.AuthenticationError("HTTP 401: invalid key", 401), KEY_BANNER, breaker.ACCESS_KEY_URL),
        (
            ws.InsufficientBalanceError("HTTP 402: insufficient balance", 402),
            "The WaveSpeed balance is empty: top it up at https://wavespeed.ai/top-up; "
            "submitting resumes by itself.",
            breaker.TOP_UP_URL,
        ),
    ],
)
def test_the_provider_banner_shows_staff_what_to_do_and_nobody_else(
    alice, bob, stella, client_for, error, banner, link
):
    waiting = make_generation(alice)
    breaker.record_outcome(error)
    assert admission.claim(waiting.pk, lifecycle.claim_submit) is admission.Claim.WAITING

    staff_page = client_for(stella).get("/gallery/").content.decode()
    assert banner in staff_page
    assert f'href="{link}"' in staff_page
    assert "1 generation waiting." in staff_page
    assert "The API said: HTTP" in staff_page
    for teammate in (alice, bob):
        page = client_for(teammate).get("/gallery/").content.decode()
        assert 'data-testid="provider-banner"' not in page
    # Teammates learn that their generation waits, in plain words, on its page.
    detail = client_for(alice).get(f"/generations/{waiting.pk}/").content.decode()
    assert "Waiting: " in detail
    assert "WAVESPEED_API_KEY" not in detail


# --- what a claim writes ---------------------------------------------------------------------


def transaction_statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith(("BEGIN", "COMMIT"))]


def test_without_caps_a_claim_is_one_update_outside_any_transaction(alice):
    # Nothing to race for: SQLite's write lock is held for the claim's one statement, not
    # across reads (a burst's submits queued behind each other's).
    generation = make_generation(alice)
    with CaptureQueriesContext(connection) as queries:
        assert admission.claim(generation.pk, lifecycle.claim_submit) is admission.Claim.TAKEN
    statements = [q["sql"] for q in queries.captured_queries]
    assert transaction_statements(queries) == []
    assert sum(sql.startswith("UPDATE") for sql in statements) == 1
    assert admission.claim(generation.pk, lifecycle.claim_submit) is admission.Claim.GONE


def test_with_a_cap_the_decision_and_the_claim_are_one_transaction(alice, settings):
    settings.WAVESPEED_MAX_CONCURRENT = 3
    generation = make_generation(alice)
    with CaptureQueriesContext(connection) as queries:
        assert admission.claim(generation.pk, lifecycle.claim_submit) is admission.Claim.TAKEN
    assert [sql.split()[0] for sql in transaction_statements(queries)] == ["BEGIN", "COMMIT"]
