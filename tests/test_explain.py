"""API errors and task failures in words a user understands."""

from __future__ import annotations

import pytest

from generations.explain import describe_deadline, describe_error
from generations.wavespeed import client as ws


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (
            ws.InvalidRequestError("code 1400: missing parameter", status_code=200, code=1400),
            "The API said a required parameter was missing.",
        ),
        (
            ws.ServerError("code 5003: service unavailable", status_code=200, code=5003),
            "The API is unavailable right now. Try again in a few minutes.",
        ),
        (
            ws.InvalidRequestError("HTTP 400: guidance_scale too high", status_code=400),
            "The API refused the request: HTTP 400: guidance_scale too high",
        ),
        (
            ws.AuthenticationError("HTTP 401: Unauthorized", status_code=401),
            "The server's WaveSpeed API key was refused. An administrator needs to fix it.",
        ),
    ],
)
def test_an_error_is_told_in_plain_words(error, words):
    assert describe_error(error) == words


def test_a_deadline_without_failed_polls_says_the_api_did_not_finish():
    assert describe_deadline(600) == "The API did not finish this generation within 10 minutes."
    assert describe_deadline(60) == "The API did not finish this generation within 1 minute."


@pytest.mark.parametrize(
    ("error", "kept"),
    [
        (
            ws.ServerError("HTTP 502", status_code=502),
            "kept answering with server errors (HTTP 502)",
        ),
        (ws.ServerError("code 5000", status_code=200, code=5000), "server errors (code 5000)"),
        (ws.ProtocolError("not JSON", status_code=200), "answers that could not be understood"),
        (ws.NetworkError("connection refused"), "could not be reached"),
        (ws.RateLimitError("HTTP 429"), "rate limit reached"),
        (
            ws.InvalidRequestError("HTTP 404", status_code=404),
            "kept answering that it does not know this generation (HTTP 404)",
        ),
    ],
)
def test_a_deadline_reached_while_polls_kept_failing_names_the_cause(error, kept):
    words = describe_deadline(600, error, failing_for_seconds=600)
    assert words.startswith("The API ")
    assert kept in words and "for 10 minutes" in words


def test_a_deadline_after_one_late_failure_says_it_did_not_finish_and_names_the_last_answer():
    error = ws.ServerError("HTTP 503", status_code=503)
    words = describe_deadline(600, error, failing_for_seconds=2)
    assert words == (
        "The API did not finish this generation within 10 minutes "
        "(its last answer: a server error (HTTP 503))."
    )
