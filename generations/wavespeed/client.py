"""A small client for WaveSpeed's v3 REST API, for FLUX.1 Kontext [pro] text-to-image.

It knows nothing of Django: it turns HTTP into `Prediction` values and a small family of typed
errors. Two rules shape it:

- The submit POST is sent at most once. An answer that never came (a read time-out, a dropped
  connection, a 5xx, an unreadable body) is an `AmbiguousSubmitError`: the task may exist and be
  billed, so the caller settles it through the predictions list instead of resending.
- Reads (the result GET and the predictions list) are safe to repeat, so they are retried on
  connection errors, time-outs and HTTP 429/500/502/503/504, with exponential backoff, jitter and
  a capped `Retry-After`.
"""

from __future__ import annotations

import email.utils
import logging
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.util.retry import Retry

from generations.wavespeed.contract import MODEL_ID, STATUSES, TERMINAL_STATUSES

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.wavespeed.ai"
CLIENT_NAME = "kontext-playground"
# The official client's timeouts: 10 s to connect, 30 s to read an answer (60 s for a submit).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
# Connections kept per session: enough for the sweeper's concurrent polls.
POOL_SIZE = 16
CLIENT_VERSION = "0.1.0"

RETRY_STATUSES = (429, 500, 502, 503, 504)
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
    """The request itself is wrong (other 4xx, or a 1xxx task code): do not retry it."""


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
    """The API failed on its side (5xx, or a 5xxx task code): worth retrying later."""


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
    input: dict[str, Any] = field(default_factory=dict)

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
            input=dict(inputs) if isinstance(inputs, Mapping) else {},
        )


@dataclass(frozen=True)
class PredictionPage:
    """One page of the account's prediction history."""

    page: int
    total: int
    items: tuple[Prediction, ...]


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
        submit_read_timeout: float = 60.0,
        max_retries: int = 4,
        backoff_factor: float = 0.5,
        backoff_max: float = 20.0,
        retry_after_max: int = 60,
    ) -> None:
        if not api_key:
            raise ValueError("an API key is required")
        self.base_url = base_url.rstrip("/")
        self._timeout = (CONNECT_TIMEOUT, READ_TIMEOUT)
        self._submit_timeout = (CONNECT_TIMEOUT, submit_read_timeout)
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Client-Name": CLIENT_NAME,
            "X-Client-Version": CLIENT_VERSION,
            "X-Client-OS": platform.system().lower() or "unknown",
        }
        read_retry = Retry(
            total=max_retries,
            connect=max_retries,
            read=max_retries,
            status=max_retries,
            other=0,
            redirect=0,
            status_forcelist=RETRY_STATUSES,
            # The predictions list is a POST but only reads: it may be repeated.
            allowed_methods=frozenset({"GET", "POST"}),
            backoff_factor=backoff_factor,
            backoff_max=backoff_max,
            backoff_jitter=backoff_factor,
            respect_retry_after_header=True,
            retry_after_max=retry_after_max,
            raise_on_status=False,
        )
        self._reads = _session(headers, read_retry)
        # Sent at most once: only a connection that never opened is tried again.
        submit_retry = Retry(
            total=max_retries,
            connect=max_retries,
            read=0,
            status=0,
            other=0,
            redirect=0,
            allowed_methods=frozenset({"GET"}),
            backoff_factor=backoff_factor,
            backoff_max=backoff_max,
            raise_on_status=False,
        )
        self._submits = _session(headers, submit_retry)

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

    def submit(self, inputs: Mapping[str, Any], *, model: str = MODEL_ID) -> Prediction:
        """Create a prediction. Never resent: see `AmbiguousSubmitError`."""
        url = f"{self.base_url}/api/v3/{model.strip('/')}"
        try:
            response = self._submits.post(url, json=dict(inputs), timeout=self._submit_timeout)
        except requests.RequestException as error:
            if _never_connected(error):
                raise NetworkError(f"could not connect to the API: {_describe(error)}") from None
            raise AmbiguousSubmitError(
                f"the submit was sent but no answer arrived: {_describe(error)}"
            ) from None
        try:
            data = self._data(response)
            return Prediction.from_api(data)
        except (ServerError, ProtocolError) as error:
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
        response = self._read("GET", url)
        prediction = Prediction.from_api(self._data(response))
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

    def list_predictions(
        self,
        *,
        created_after: datetime,
        created_before: datetime,
        model: str | None = None,
        status: str | None = None,
        page: int = 1,
        page_size: int = 100,
    ) -> PredictionPage:
        """One page of the account's predictions created in a time window."""
        body: dict[str, Any] = {
            "page": page,
            "page_size": page_size,
            "created_after": _iso(created_after),
            "created_before": _iso(created_before),
        }
        if model:
            body["model"] = model
        if status:
            body["status"] = status
        response = self._read("POST", f"{self.base_url}/api/v3/predictions", json=body)
        data = self._data(response)
        if not isinstance(data, Mapping) or not isinstance(data.get("items", []), list):
            raise ProtocolError("the predictions list has no items")
        items = []
        for raw in data.get("items") or []:
            try:
                items.append(Prediction.from_api(raw))
            except ProtocolError as error:
                log.warning("Skipping a malformed item of the predictions list: %s", error)
        total, listed_page = data.get("total"), data.get("page")
        return PredictionPage(
            page=listed_page if isinstance(listed_page, int) else page,
            total=total if isinstance(total, int) else len(items),
            items=tuple(items),
        )

    def find_prediction(
        self,
        *,
        inputs: Mapping[str, Any],
        created_after: datetime,
        created_before: datetime,
        model: str = MODEL_ID,
        max_pages: int = 10,
        page_size: int = 100,
        exclude_ids: Iterable[str] = (),
    ) -> Prediction | None:
        """The prediction created with these inputs in the window, if the API has one.

        None only when the whole window was read; more than `max_pages` pages raise
        `IncompleteListError`, since "not seen" would not mean "not there".
        """
        excluded = set(exclude_ids)
        seen = 0
        for page in range(1, max_pages + 1):
            listing = self.list_predictions(
                created_after=created_after,
                created_before=created_before,
                model=model,
                page=page,
                page_size=page_size,
            )
            for prediction in listing.items:
                if prediction.id not in excluded and inputs_match(inputs, prediction.input):
                    return prediction
            seen += len(listing.items)
            if not listing.items or seen >= listing.total:
                return None
        raise IncompleteListError(
            f"the predictions list has more than {max_pages * page_size} entries in the window"
        )

    # -- plumbing -------------------------------------------------------------------------------

    def _read(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self._reads.request(method, url, timeout=self._timeout, **kwargs)
        except requests.RequestException as error:
            raise NetworkError(f"no answer from the API: {_describe(error)}") from None

    @staticmethod
    def _data(response: requests.Response) -> Any:
        """The `data` of a successful envelope, or the typed error the answer stands for."""
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        message = _message(payload, response)
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


def inputs_match(wanted: Mapping[str, Any], found: Mapping[str, Any]) -> bool:
    """Whether a listed prediction's inputs are the ones we sent (numbers compared as numbers)."""
    if not found:
        return False
    for key, value in wanted.items():
        if key not in found:
            return False
        other = found[key]
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not isinstance(other, int | float) or isinstance(other, bool):
                return False
            if abs(float(value) - float(other)) > 1e-9:
                return False
        elif str(value) != str(other):
            return False
    return True


def _session(headers: dict[str, str], retry: Retry) -> requests.Session:
    session = requests.Session()
    session.headers.update(headers)
    adapter = HTTPAdapter(max_retries=retry, pool_connections=2, pool_maxsize=POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _never_connected(error: requests.RequestException) -> bool:
    """True when the request cannot have reached the server (so nothing can have been created)."""
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
    if status >= 500:
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
