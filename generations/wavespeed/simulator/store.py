"""Predictions held in memory; each one's status follows from the time since it was submitted."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from generations.wavespeed.contract import MODEL_ID

# A prediction reads "created" for this share of its latency, then "processing".
CREATED_SHARE = 0.15
# Old predictions are forgotten so a long-running simulator keeps bounded memory.
RETENTION_SECONDS = 2 * 3600.0
MAX_PREDICTIONS = 20_000
PRICE_CENTS = 4  # $0.04 per image; money is counted in cents to avoid float drift
START_BALANCE_CENTS = 100_00


def utc_now() -> datetime:
    """Return the current UTC time, cut to milliseconds like the API's timestamps."""
    now = datetime.now(UTC)
    # Cut to what created_at shows, so a time read back from a prediction filters exactly.
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso_ms(moment: datetime) -> str:
    """Format a UTC datetime as 2023-04-01T12:34:56.789Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


@dataclass(frozen=True)
class Prediction:
    """One submitted task; immutable, its status is computed from the clock."""

    id: str
    model: str
    input: dict[str, Any]
    submitted: float  # the store clock's reading at submit time
    created_at: datetime
    latency: float
    nsfw: bool = False
    failure: tuple[int, str] | None = None  # (task error code, error text)
    outputs_count: int = field(default=1)
    throttle: float | None = None  # seconds its result answers 429, from the first poll
    vanish_once: bool = False  # its first result GET answers 404

    def status_at(self, now: float) -> str:
        """Return created, processing, or the terminal status, at clock reading now."""
        elapsed = now - self.submitted
        if elapsed >= self.latency:
            return "failed" if self.failure else "completed"
        if elapsed < self.latency * CREATED_SHARE:
            return "created"
        return "processing"

    def remaining(self, now: float) -> float:
        """Seconds until the terminal status, zero if it is already there."""
        return max(0.0, self.submitted + self.latency - now)

    def to_json(
        self, base_url: str, now: float, *, status: str | None = None, with_input: bool = True
    ) -> dict[str, Any]:
        """Render the prediction as the API shows it; status forces a given stage.

        Without `with_input` the item has no `input` key, as the history shows it unless
        asked for inputs (and as the docs' example item looks).
        """
        status = status or self.status_at(now)
        latency_ms = round(self.latency * 1000)
        data: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "input": dict(self.input),
            "outputs": [],
            "urls": {"get": f"{base_url}/api/v3/predictions/{self.id}/result"},
            "has_nsfw_contents": [],
            "status": status,
            "created_at": iso_ms(self.created_at),
            "error": "",
            "timings": {"inference": 0},
            "executionTime": 0,
        }
        if status == "completed":
            data["outputs"] = [
                f"{base_url}/outputs/{self.id}/{index}.png" for index in range(self.outputs_count)
            ]
            data["has_nsfw_contents"] = [self.nsfw] * self.outputs_count
            data["timings"] = {"inference": latency_ms}
            data["executionTime"] = latency_ms
        elif status == "failed" and self.failure:
            data["code"], data["error"] = self.failure
            data["executionTime"] = latency_ms
        if not with_input:
            del data["input"]
        return data


class Store:
    """Thread-safe in-memory predictions and the account balance."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], datetime] = utc_now,
        retention: float = RETENTION_SECONDS,
        max_items: int = MAX_PREDICTIONS,
    ) -> None:
        """Create an empty store; the clocks are injectable so tests need not sleep."""
        self.clock = clock
        self._wallclock = wallclock
        self._retention = retention
        self._max_items = max_items
        self._lock = threading.Lock()
        # Insertion order is submit order, so eviction only ever looks at the front.
        self._items: OrderedDict[str, Prediction] = OrderedDict()
        self._balance_cents = START_BALANCE_CENTS
        # Per-prediction fault state: when a throttle window opened, which results vanished.
        self._throttled_since: dict[str, float] = {}
        self._vanished: set[str] = set()
        # How often each prediction's result and outputs were asked for (the record shows it).
        self._result_reads: Counter[str] = Counter()
        self._output_reads: Counter[str] = Counter()
        # When a result GET first answered that a prediction had ended (store clock): how long
        # a poller took to notice, which the pipeline benchmark reports.
        self._end_seen: dict[str, float] = {}

    def now(self) -> float:
        """Read the store clock."""
        return self.clock()

    def add(
        self,
        inputs: dict[str, Any],
        latency: float,
        *,
        model: str = MODEL_ID,
        nsfw: bool = False,
        failure: tuple[int, str] | None = None,
        throttle: float | None = None,
        vanish_once: bool = False,
    ) -> Prediction:
        """Record a new prediction, charge for it, and return it."""
        prediction = Prediction(
            id=uuid.uuid4().hex,
            model=model,
            input=dict(inputs),
            submitted=self.clock(),
            created_at=self._wallclock(),
            latency=latency,
            nsfw=nsfw,
            failure=failure,
            throttle=throttle,
            vanish_once=vanish_once,
        )
        with self._lock:
            self._evict(prediction.submitted)
            self._items[prediction.id] = prediction
            self._balance_cents = max(0, self._balance_cents - PRICE_CENTS)
        return prediction

    def get(self, prediction_id: str) -> Prediction | None:
        """Return the prediction with this id, or None."""
        with self._lock:
            return self._items.get(prediction_id)

    def count_result_read(self, prediction_id: str) -> None:
        """Count one GET of a prediction's result."""
        with self._lock:
            self._result_reads[prediction_id] += 1

    def count_output_read(self, prediction_id: str) -> None:
        """Count one download of one of a prediction's outputs."""
        with self._lock:
            self._output_reads[prediction_id] += 1

    def note_end_seen(self, prediction_id: str, reading: float) -> None:
        """Remember the first time a result GET answered with the prediction's end."""
        with self._lock:
            if prediction_id in self._items:  # not one evicted meanwhile
                self._end_seen.setdefault(prediction_id, reading)

    def end_seen(self, prediction_id: str) -> float | None:
        """When a result GET first answered with the prediction's end (store clock), if ever."""
        with self._lock:
            return self._end_seen.get(prediction_id)

    def reads(self, prediction_id: str) -> tuple[int, int]:
        """How many result GETs and output downloads a prediction has had."""
        with self._lock:
            return self._result_reads[prediction_id], self._output_reads[prediction_id]

    def epoch_of(self, reading: float) -> float:
        """A store clock reading as seconds since the epoch, the clock other processes read."""
        return time.time() - (self.clock() - reading)

    def throttle_remaining(self, prediction: Prediction) -> float:
        """Seconds its result stays throttled; the window opens at the first look."""
        if not prediction.throttle:
            return 0.0
        now = self.clock()
        with self._lock:
            started = self._throttled_since.setdefault(prediction.id, now)
        return max(0.0, started + prediction.throttle - now)

    def vanishes_now(self, prediction: Prediction) -> bool:
        """True the first time a prediction marked to vanish once is looked at, then never."""
        if not prediction.vanish_once:
            return False
        with self._lock:
            if prediction.id in self._vanished:
                return False
            self._vanished.add(prediction.id)
            return True

    def query(
        self,
        *,
        model: str | None = None,
        status: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> list[Prediction]:
        """Return matching predictions, newest first; both time bounds are inclusive."""
        now = self.clock()
        with self._lock:
            self._evict(now)
            items = list(self._items.values())
        return [
            item
            for item in reversed(items)
            if (model is None or item.model == model)
            and (status is None or item.status_at(now) == status)
            and (created_after is None or item.created_at >= created_after)
            and (created_before is None or item.created_at <= created_before)
        ]

    @property
    def balance(self) -> float:
        """The simulated account balance in USD."""
        with self._lock:
            return self._balance_cents / 100

    def __len__(self) -> int:
        """Count the predictions held."""
        with self._lock:
            return len(self._items)

    def _evict(self, now: float) -> None:
        """Drop predictions past retention or beyond the cap; the caller holds the lock."""
        while self._items:
            oldest = next(iter(self._items.values()))
            if now - oldest.submitted <= self._retention and len(self._items) < self._max_items:
                break
            self._items.popitem(last=False)
            self._throttled_since.pop(oldest.id, None)
            self._vanished.discard(oldest.id)
            self._result_reads.pop(oldest.id, None)
            self._output_reads.pop(oldest.id, None)
            self._end_seen.pop(oldest.id, None)
