"""A small client for WaveSpeed's v3 REST API, for FLUX.1 Kontext [pro] text-to-image.

It knows nothing of Django: it turns HTTP into `Prediction` values and a small family of typed
errors. Two rules shape it:

- The submit POST is sent at most once. An answer that never came (a read time-out, a dropped
  connection, a 5xx, an unreadable body) is an `AmbiguousSubmitError`: the task may exist and be
  billed, so the caller settles it through the predictions list instead of resending.
- Reads (the result GET and the predictions list) are safe to repeat, so they are retried on
  connection errors, time-outs and HTTP 500/502/503/504, with exponential backoff and jitter.
  An answer that names its own wait (429, or any `Retry-After`) is handed back at once instead
  of slept on: the caller schedules that one call later, and nothing else waits behind it.

Every call has a total deadline, connecting, every read and every retry included (see
`transport`): `timeout` for reads, `submit_timeout` for a submit, and optionally a `deadline`
for every call of the client, such as the end of a sweep.

A task code in an envelope (1xxx, 5xxx) means what it says whatever the HTTP status: an HTTP 200
with `{"code": 1400}` is a refused input, not a server error and not a lost answer.
"""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import platform
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from generations.wavespeed import transport
from generations.wavespeed.contract import (
    MODEL_ID,
    STATUSES,
    TERMINAL_STATUSES,
    is_refusal_code,
    is_task_code,
)
from generations.wavespeed.history import History

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.wavespeed.ai"
CLIENT_NAME = "kontext-playground"
# The official client's timeouts: 10 s to connect, 30 s to read an answer (60 s for a submit).
# Here the last two bound the whole call, connecting and every read (and retry) included.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
SUBMIT_TIMEOUT = 60.0
# Connections kept per session: enough for the sweeper's concurrent polls.
POOL_SIZE = 16
CLIENT_VERSION = "0.1.0"

# Answers a read is tried again after (unless they say how long to wait: see `_read`).
RETRY_STATUSES = (500, 502, 503, 504)
# A retry is not started with less time than this left before the deadline.
MIN_ATTEMPT_SECONDS = 1.0
_BALANCE_WORDS = ("balance", "credit", "insufficient")
_MESSAGE_LIMIT = 500


# --- errors ------------------------------------------------------------------------------------


class WaveSpeedError(Exception):
    """Anything that went wrong talking to the API."""

    def __init__(self, message: str, status_code: int | None = None, code: int | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code


class AuthenticationError(WaveSpeedError):
    """The API key was refused (HTTP 401/403)."""


class InsufficientBalanceError(WaveSpeedError):
    """The account has no money left (HTTP 402 or a balance message)."""


class InvalidRequestError(WaveSpeedError):
    """The request itself is wrong (other 4xx, or a 1xxx task code in `code`): do not retry it."""


class RateLimitError(WaveSpeedError):
    """Too many requests or too many tasks at once (HTTP 429)."""

    def __init__(
        self,
        message: str,
        status_code: int | None = 429,
        code: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, status_code, code)
        self.retry_after = retry_after


class ServerError(WaveSpeedError):
    """The API failed on its side (5xx, or a 5xxx task code in `code`): worth retrying later."""


class NetworkError(WaveSpeedError):
    """No answer: the connection failed or timed out."""


class ProtocolError(WaveSpeedError):
    """An answer that does not follow the API's protocol."""


class IncompleteListError(WaveSpeedError):
    """The predictions list was not read to its end, so "not found" cannot be concluded."""


class AmbiguousSubmitError(WaveSpeedError):
    """A submit was sent but its answer never arrived: the task may exist. Do not resend."""


def _mentions_balance(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in _BALANCE_WORDS)


# --- values ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """What the API says of one task."""

    id: str
    model: str
    status: str
    outputs: tuple[str, ...] = ()
    has_nsfw_contents: tuple[bool, ...] = ()
    error: str = ""
    error_code: int | None = None
    created_at: datetime | None = None
    inference_ms: int | None = None
    # None when the answer did not show the input (the history without `include_inputs`) or
    # showed something that is not an object: "unknown", never "empty".
    input: dict[str, Any] | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_completed(self) -> bool:
        return self.status == "completed"

    @classmethod
    def from_api(cls, data: Any) -> Prediction:
        """Read a prediction object; refuse one without an id or with malformed fields."""
        if not isinstance(data, Mapping):
            raise ProtocolError(f"expected a prediction object, got {type(data).__name__}")
        prediction_id = data.get("id")
        if not isinstance(prediction_id, str) or not prediction_id.strip():
            raise ProtocolError("prediction without an id")
        status = data.get("status")
        if not isinstance(status, str) or not status:
            raise ProtocolError(f"prediction {prediction_id} without a status")
        if status not in STATUSES:
            # A status added by the API later: keep polling; the caller's deadline bounds it.
            log.warning("Prediction %s has an unknown status %r", prediction_id, status)
        outputs = data.get("outputs") or []
        if not isinstance(outputs, list) or not all(isinstance(url, str) for url in outputs):
            raise ProtocolError(f"prediction {prediction_id} has malformed outputs")
        flags = data.get("has_nsfw_contents") or []
        if not isinstance(flags, list):
            raise ProtocolError(f"prediction {prediction_id} has malformed has_nsfw_contents")
        error = data.get("error") or ""
        code = data.get("code")
        inputs = data.get("input")
        return cls(
            id=prediction_id,
            model=str(data.get("model") or ""),
            status=status,
            outputs=tuple(outputs),
            # Anything but an explicit false counts as flagged: a moderation flag fails closed.
            has_nsfw_contents=tuple(flag is not False for flag in flags),
            error=error if isinstance(error, str) else str(error),
            error_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
            created_at=_parse_time(data.get("created_at")),
            inference_ms=_inference_ms(data.get("timings")),
            input=dict(inputs) if isinstance(inputs, Mapping) else None,
        )


@dataclass(frozen=True)
class PredictionPage:
    """One page of the account's prediction history."""

    page: int
    total: int
    items: tuple[Prediction, ...]
    # Items that could not be read at all (no id, say): nobody can tell whose they are.
    malformed: int = 0


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _inference_ms(timings: Any) -> int | None:
    if not isinstance(timings, Mapping):
        return None
    value = timings.get("inference")
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return round(value)
    return None


# --- the client --------------------------------------------------------------------------------


class WaveSpeedClient:
    """Submit predictions, read their results and search the account's history."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = READ_TIMEOUT,
        submit_timeout: float = SUBMIT_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        max_retries: int = 4,
        backoff_factor: float = 0.5,
        backoff_max: float = 20.0,
        deadline: float | None = None,
    ) -> None:
        """`timeout` and `submit_timeout` bound one read or one submit in seconds, everything
        included; `deadline`, a `time.monotonic()` reading, bounds every call of this client;
        `max_retries` is how often a read is tried again after a transient failure."""
        if not api_key:
            raise ValueError("an API key is required")
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._submit_timeout = submit_timeout
        self._connect_timeout = connect_timeout
        self._max_retries = max(0, max_retries)
        self._backoff_factor = backoff_factor
        self._backoff_max = backoff_max
        self._deadline = deadline
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Client-Name": CLIENT_NAME,
            "X-Client-Version": CLIENT_VERSION,
            "X-Client-OS": platform.system().lower() or "unknown",
        }
        self._reads = transport.session(headers, POOL_SIZE)
        self._submits = transport.session(headers, POOL_SIZE)

    def __repr__(self) -> str:
        return f"<WaveSpeedClient {self.base_url}>"

    def __enter__(self) -> WaveSpeedClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._reads.close()
        self._submits.close()

    # -- calls ----------------------------------------------------------------------------------

    def submit(
        self, inputs: Mapping[str, Any], *, model: str = MODEL_ID, webhook: str | None = None
    ) -> Prediction:
        """Create a prediction. Never resent: see `AmbiguousSubmitError`.

        With `webhook` (a URL the API can reach), the API also POSTs the prediction there when
        it completes or fails (see `webhooks`). Only a connection that never opened is tried
        again, within the submit's deadline.
        """
        url = f"{self.base_url}/api/v3/{model.strip('/')}"
        params = {"webhook": webhook} if webhook else None
        deadline = self._deadline_after(self._submit_timeout)
        attempt = 0
        while True:
            try:
                response = transport.send(
                    self._submits,
                    "POST",
                    url,
                    deadline=deadline,
                    connect_timeout=self._connect_timeout,
                    json=dict(inputs),
                    params=params,
                )
                break
            except requests.RequestException as error:
                if _never_connected(error):
                    if self._pause_before_retry(attempt, deadline):
                        attempt += 1
                        continue
                    raise NetworkError(
                        f"could not connect to the API: {_describe(error)}"
                    ) from None
                raise AmbiguousSubmitError(
                    f"the submit was sent but no answer arrived: {_describe(error)}"
                ) from None
        try:
            return self._prediction(response)
        except (ServerError, ProtocolError) as error:
            if error.code is not None and is_task_code(error.code):
                # An answer with a task code and no task in it: the API answered that it did
                # not make one (see `_named_prediction` for an answer that names its task).
                raise
            # The server may have created the task before failing to answer.
            raise AmbiguousSubmitError(
                f"the submit's answer was unusable: {error}",
                status_code=error.status_code,
                code=error.code,
            ) from None

    def get_result(self, prediction_id: str) -> Prediction:
        """The current state of a prediction."""
        if not prediction_id or "/" in prediction_id:
            raise InvalidRequestError(f"not a prediction id: {prediction_id!r}")
        url = f"{self.base_url}/api/v3/predictions/{prediction_id}/result"
        prediction = self._prediction(self._read("GET", url))
        if prediction.id != prediction_id:
            raise ProtocolError(f"asked for {prediction_id}, got {prediction.id}")
        return prediction

    def get_balance(self) -> float:
        """The account's balance in USD: a cheap call that shows whether the API and the key work.

        Asked once, without the reads' retries (only a connection that never opened is tried
        again): it is a probe, and its caller decides when to ask again.
        """
        try:
            response = self._submits.get(f"{self.base_url}/api/v3/balance", timeout=self._timeout)
        except requests.RequestException as error:
            raise NetworkError(f"no answer from the API: {_describe(error)}") from None
        data = self._data(response)
        balance = data.get("balance") if isinstance(data, Mapping) else None
        if not isinstance(balance, int | float) or isinstance(balance, bool):
            raise ProtocolError("the balance answer has no balance")
        return float(balance)

    def get_webhook_secret(self) -> str:
        """The account's webhook signing secret, as the API gives it (with its `whsec_` prefix).

        A read, retried like any other. The caller keeps it out of logs, records and pages.
        """
        data = self._data(self._read("GET", f"{self.base_url}/api/v3/webhook/secret"))
        secret = data.get("secret") if isinstance(data, Mapping) else None
        if not isinstance(secret, str) or not secret.strip():
            raise ProtocolError("the webhook secret answer has no secret")
        return secret.strip()

    def list_predictions(
        self,
        *,
        created_after: datetime,
        created_before: datetime,
        model: str | None = None,
        status: str | None = None,
        page: int = 1,
        page_size: int = 100,
        include_inputs: bool = True,
    ) -> PredictionPage:
        """One page of the account's predictions created in a time window."""
        body: dict[str, Any] = {
            "page": page,
            "page_size": page_size,
            "created_after": _iso(created_after),
            "created_before": _iso(created_before),
            # Without it the items carry no input, and a lost submit looks like any other.
            "include_inputs": include_inputs,
        }
        if model:
            body["model"] = model
        if status:
            body["status"] = status
        response = self._read("POST", f"{self.base_url}/api/v3/predictions", json=body)
        data = self._data(response)
        if not isinstance(data, Mapping) or not isinstance(data.get("items", []), list):
            raise ProtocolError("the predictions list has no items")
        items, malformed = [], 0
        for raw in data.get("items") or []:
            try:
                items.append(Prediction.from_api(raw))
            except ProtocolError as error:
                malformed += 1
                log.warning("A malformed item of the predictions list: %s", error)
        total, listed_page = data.get("total"), data.get("page")
        return PredictionPage(
            page=listed_page if isinstance(listed_page, int) else page,
            total=total if isinstance(total, int) else len(items) + malformed,
            items=tuple(items),
            malformed=malformed,
        )

    def read_history(
        self,
        *,
        created_after: datetime,
        created_before: datetime,
        model: str | None = MODEL_ID,
        max_pages: int = 10,
        page_size: int = 100,
    ) -> History:
        """Every prediction created in the window, with inputs, read to the end of the list.

        One read can settle every unconfirmed submit of the window (`History.candidates`).
        More than `max_pages` pages raise `IncompleteListError`: an unread rest could hold
        anything, so "not seen" would not mean "not there".
        """
        items: dict[str, Prediction] = {}
        seen = malformed = 0
        for page in range(1, max_pages + 1):
            listing = self.list_predictions(
                created_after=created_after,
                created_before=created_before,
                model=model,
                page=page,
                page_size=page_size,
            )
            # By id: an item pushed to the next page by a newer one is read twice.
            items.update((item.id, item) for item in listing.items)
            malformed += listing.malformed
            seen += len(listing.items) + listing.malformed
            if not (listing.items or listing.malformed) or seen >= listing.total:
                return History(created_after, created_before, tuple(items.values()), malformed)
        raise IncompleteListError(
            f"the predictions list has more than {max_pages * page_size} entries in the window"
        )

    # -- plumbing -------------------------------------------------------------------------------

    def _prediction(self, response: requests.Response) -> Prediction:
        """The prediction an answer carries, or the typed error the answer stands for."""
        try:
            return Prediction.from_api(self._data(response))
        except WaveSpeedError as error:
            named = _named_prediction(response, error)
            if named is None:
                raise
            return named

    def _read(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send a read, trying again after transient failures while its deadline allows.

        The predictions list is a POST but only reads: it may be repeated too.
        """
        deadline = self._deadline_after(self._timeout)
        attempt = 0
        while True:
            try:
                response = transport.send(
                    self._reads,
                    method,
                    url,
                    deadline=deadline,
                    connect_timeout=self._connect_timeout,
                    **kwargs,
                )
            except requests.RequestException as error:
                if self._pause_before_retry(attempt, deadline):
                    attempt += 1
                    continue
                raise NetworkError(f"no answer from the API: {_describe(error)}") from None
            # A wait the server named is the caller's to schedule, not ours to sleep through.
            transient = (
                response.status_code in RETRY_STATUSES and "Retry-After" not in response.headers
            )
            if transient and self._pause_before_retry(attempt, deadline):
                attempt += 1
                response.close()
                continue
            return response

    def _deadline_after(self, seconds: float) -> float:
        """When a call started now must be over: its own timeout, or the client's deadline."""
        own = time.monotonic() + seconds
        return own if self._deadline is None else min(own, self._deadline)

    def _pause_before_retry(self, attempt: int, deadline: float) -> bool:
        """Wait out the back-off before another attempt; False when no attempt may follow."""
        if attempt >= self._max_retries:
            return False
        pause = min(self._backoff_max, self._backoff_factor * 2**attempt)
        pause += random.uniform(0, self._backoff_factor)  # noqa: S311 (jitter)
        if time.monotonic() + pause + MIN_ATTEMPT_SECONDS > deadline:
            return False
        _wait(pause)
        return True

    @staticmethod
    def _data(response: requests.Response) -> Any:
        """The `data` of a successful envelope, or the typed error the answer stands for."""
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        message = _message(payload, response)
        code = payload.get("code") if isinstance(payload, Mapping) else None
        if isinstance(code, int) and not isinstance(code, bool) and is_task_code(code):
            # What the task code says, whatever the HTTP status: 200 with 1400 is a refusal.
            raise _task_code_error(code, message, status)
        if status >= 400 or payload is None:
            raise _http_error(status, message, response)
        if not isinstance(payload, Mapping):
            raise ProtocolError(
                f"expected a JSON object, got {type(payload).__name__}", status_code=status
            )
        code = payload.get("code", 200)
        if code != 200:
            # The envelope's code mirrors HTTP statuses; trust it when the two disagree.
            raise _http_error(code if isinstance(code, int) else 500, message, response)
        if "data" not in payload or payload["data"] is None:
            raise ProtocolError("the answer has no data", status_code=status)
        return payload["data"]


def _named_prediction(response: requests.Response, error: WaveSpeedError) -> Prediction | None:
    """The task an answer with a task code still names in its data, if it names one.

    Such an answer is about a task that exists (a submit must follow it, never resend it), and
    that task's own status says what became of it; the envelope's code fills in a missing one.
    """
    if error.code is None or not is_task_code(error.code):
        return None
    try:
        payload = response.json()
        prediction = Prediction.from_api(payload.get("data"))
    except (ValueError, AttributeError, ProtocolError):
        return None
    if prediction.is_terminal and prediction.error_code is None:
        prediction = dataclasses.replace(
            prediction, error_code=error.code, error=prediction.error or error.message
        )
    return prediction


def _task_code_error(code: int, message: str, status: int) -> WaveSpeedError:
    """The typed error a task code in an envelope stands for."""
    text = f"code {code}: {message}" if message else f"code {code}"
    if _mentions_balance(message):
        return InsufficientBalanceError(text, status_code=status, code=code)
    if is_refusal_code(code):
        return InvalidRequestError(text, status_code=status, code=code)
    return ServerError(text, status_code=status, code=code)


def _wait(seconds: float) -> None:
    """The back-off pause between attempts (its own name, so tests can watch it)."""
    time.sleep(seconds)


def _never_connected(error: requests.RequestException) -> bool:
    """True when the request cannot have reached the server (so nothing can have been created)."""
    if isinstance(error, transport.DeadlineExceeded):
        return not error.started
    if isinstance(error, requests.ConnectTimeout):
        return True
    if isinstance(error, requests.ConnectionError) and error.args:
        reason = error.args[0]
        if isinstance(reason, MaxRetryError):
            return isinstance(reason.reason, NewConnectionError | ConnectTimeoutError)
    return False


def _http_error(status: int, message: str, response: requests.Response) -> WaveSpeedError:
    text = f"HTTP {status}: {message}" if message else f"HTTP {status}"
    if status in (401, 403):
        return AuthenticationError(text, status_code=status)
    if status == 402 or (400 <= status < 500 and _mentions_balance(message)):
        return InsufficientBalanceError(text, status_code=status)
    if status == 429:
        return RateLimitError(
            text, status_code=status, retry_after=_retry_after(response.headers.get("Retry-After"))
        )
    if 400 <= status < 500:
        return InvalidRequestError(text, status_code=status)
    if 500 <= status < 600:
        return ServerError(text, status_code=status)
    return ProtocolError(f"unreadable answer ({text})", status_code=status)


def _message(payload: Any, response: requests.Response) -> str:
    if isinstance(payload, Mapping):
        message = payload.get("message") or ""
        data = payload.get("data")
        if not message and isinstance(data, Mapping):
            message = data.get("error") or ""
        return str(message)[:_MESSAGE_LIMIT]
    return response.text.strip()[:_MESSAGE_LIMIT] if payload is None else ""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _describe(error: Exception) -> str:
    """A short description of a transport error; requests' texts never contain headers."""
    reason = error.args[0] if error.args else error
    if isinstance(reason, MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    return f"{type(reason).__name__}: {reason}"[:_MESSAGE_LIMIT]
