"""The one place that turns API errors and task failures into words a user understands."""

from __future__ import annotations

from generations.plurals import duration
from generations.wavespeed import client as ws

# The words for task codes; what each code is (a refusal, or transient) is in the contract.
_TASK_CODES = {
    1200: "The API's content moderation refused this prompt or its result. "
    "Rephrase the prompt, or lower the risk of unsafe content.",
    1400: "The API said a required parameter was missing.",
    1401: "The API refused one of the parameters as invalid.",
    1402: "The API could not reach a media file it needed.",
    1403: "The generation failed on the API's side.",
    1405: "The generation failed on the API's side.",
    5000: "The API had an internal error. Trying again usually works.",
    5003: "The API is unavailable right now. Try again in a few minutes.",
    5004: "The API took too long to answer.",
}


def describe_error(error: ws.WaveSpeedError) -> str:
    """Words for a user about an error raised by the client."""
    if isinstance(error, ws.AuthenticationError):
        return "The server's WaveSpeed API key was refused. An administrator needs to fix it."
    if isinstance(error, ws.InsufficientBalanceError):
        return "The WaveSpeed account is out of funds. An administrator needs to top it up."
    if isinstance(error, ws.RateLimitError):
        return "The API is busy with this account's other requests (rate limit reached)."
    task_words = _TASK_CODES.get(error.code or 0)
    if task_words is not None and isinstance(error, ws.InvalidRequestError | ws.ServerError):
        return task_words  # a task code in the envelope says it in the API's own terms
    if isinstance(error, ws.InvalidRequestError):
        detail = f": {error.message}" if error.message else "."
        return f"The API refused the request{detail}"
    if isinstance(error, ws.AmbiguousSubmitError):
        return "The API did not confirm the request."
    if isinstance(error, ws.ServerError):
        return "The API had a server error. Trying again usually works."
    if isinstance(error, ws.NetworkError):
        return "The API could not be reached."
    return "The API gave an answer that could not be understood."


def describe_task_failure(status: str, code: int | None, message: str) -> str:
    """Words for a user about a prediction the API ended without images."""
    if status == "timeout":
        return "The API gave up on this generation (it timed out on their side)."
    if status in {"cancelled", "deleted"}:
        return f"The API reports this generation as {status}."
    words = _TASK_CODES.get(code or 0)
    if words is None:
        words = "The API could not make this image."
    if message and code not in (1200,):
        return f"{words} (API said: {message[:300]})"
    return words


def describe_deadline(
    deadline_seconds: float,
    last_error: ws.WaveSpeedError | None = None,
    failing_for_seconds: float = 0.0,
) -> str:
    """Words for a generation given up at its deadline, naming the cause when polls failed."""
    if last_error is None:
        return f"The API did not finish this generation within {duration(deadline_seconds)}."
    if failing_for_seconds >= 60:
        return (
            f"The API {_kept_doing(last_error)} for {duration(failing_for_seconds)}, so this "
            "generation was given up. Trying again later usually works."
        )
    return (
        f"The API did not finish this generation within {duration(deadline_seconds)} "
        f"(its last answer: {_one_answer(last_error)})."
    )


def _status(error: ws.WaveSpeedError) -> str:
    if error.code is not None:
        return f"code {error.code}"
    return f"HTTP {error.status_code}" if error.status_code else "no status"


def _kept_doing(error: ws.WaveSpeedError) -> str:
    """What the API kept doing, e.g. 'kept answering with server errors (HTTP 502)'."""
    if isinstance(error, ws.ServerError):
        return f"kept answering with server errors ({_status(error)})"
    if isinstance(error, ws.RateLimitError):
        return "kept refusing to answer (rate limit reached)"
    if isinstance(error, ws.NetworkError):
        return "could not be reached"
    if isinstance(error, ws.ProtocolError):
        return "kept giving answers that could not be understood"
    if error.status_code == 404:
        return "kept answering that it does not know this generation (HTTP 404)"
    return f"kept refusing to show this generation ({_status(error)})"


def _one_answer(error: ws.WaveSpeedError) -> str:
    """The last answer of a poll that failed, e.g. 'a server error (HTTP 502)'."""
    if isinstance(error, ws.ServerError):
        return f"a server error ({_status(error)})"
    if isinstance(error, ws.RateLimitError):
        return "rate limit reached"
    if isinstance(error, ws.NetworkError):
        return "none, the API could not be reached"
    if isinstance(error, ws.ProtocolError):
        return "one that could not be understood"
    if error.status_code == 404:
        return "not found (HTTP 404)"
    return f"a refusal ({_status(error)})"
