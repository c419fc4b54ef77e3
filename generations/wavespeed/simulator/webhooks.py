"""Webhook calls, as the API makes them: signed, sent when a prediction ends, retried.

A submit with ``?webhook=<url>`` schedules one call for the moment its prediction reaches a
terminal status. One scheduler thread hands due calls to a small pool of sender threads, so
no request of the simulator ever waits on a delivery. A call is the bare prediction object,
signed as WaveSpeed documents it (written out here on its own, not borrowed from the app's
verifier, so a test of one against the other checks both):

    webhook-id: <one id per call, the same on every retry>
    webhook-timestamp: <unix seconds, at each attempt>
    webhook-signature: v3,<hex HMAC-SHA256 of "{id}.{timestamp}.{body}"; key: the secret
                       without its "whsec_" prefix, as text>

An attempt that gets no 2xx answer (or no answer) is tried again after ``RETRY_DELAYS``.
Failures can be injected: a share of attempts (``SIMULATOR_WEBHOOK_FAILURE_RATE``) or a
prompt's first N attempts (``[webhook-fail=N]``) are lost as if the network dropped them.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .protocol import Dice
from .store import Prediction
from .tally import Tally

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
# Seconds before each retry; one first attempt plus these.
RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
SEND_TIMEOUT_SECONDS = 5.0
SENDERS = 8


@dataclass
class Call:
    """One webhook call of one prediction, and how its delivery went."""

    prediction: Prediction
    url: str
    base_url: str
    webhook_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    forced_failures: int = 0  # attempts to lose first, from a [webhook-fail=N] marker
    attempts: int = 0
    delivered: bool = False
    last_outcome: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "webhook_id": self.webhook_id,
            "attempts": self.attempts,
            "delivered": self.delivered,
            "last_outcome": self.last_outcome,
        }


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header's value for one attempt."""
    key = secret.removeprefix(SECRET_PREFIX).encode()
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return f"v3,{digest.hexdigest()}"


class Deliveries:
    """The scheduler and senders of webhook calls; ``close()`` stops both."""

    def __init__(
        self,
        secret: str,
        *,
        failure_rate: float = 0.0,
        dice: Dice | None = None,
        tally: Tally | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret = secret
        self.failure_rate = failure_rate
        self.dice = dice or Dice()
        self.tally = tally or Tally()
        self.clock = clock
        self._calls: dict[str, Call] = {}
        self._due: list[tuple[float, int, Call]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._senders = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="webhook")
        self._scheduler = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._scheduler.start()

    def schedule(
        self, prediction: Prediction, url: str, base_url: str, *, forced_failures: int = 0
    ) -> Call:
        """Call `url` when the prediction ends."""
        call = Call(prediction, url, base_url, forced_failures=forced_failures)
        with self._wake:
            self._calls[prediction.id] = call
        self._at(prediction.submitted + prediction.latency, call)
        return call

    def summary(self, prediction_id: str) -> dict[str, Any] | None:
        """How the prediction's call went so far, or None if it has none."""
        with self._wake:
            call = self._calls.get(prediction_id)
            return call.summary() if call else None

    def close(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        self._senders.shutdown(wait=False, cancel_futures=True)

    def _at(self, moment: float, call: Call) -> None:
        with self._wake:
            heapq.heappush(self._due, (moment, next(self._order), call))
            self._wake.notify_all()

    def _run(self) -> None:
        """Hand every call to a sender when it is due."""
        with self._wake:
            while not self._stopping:
                now = self.clock()
                while self._due and self._due[0][0] <= now:
                    _, _, call = heapq.heappop(self._due)
                    try:
                        self._senders.submit(self._attempt, call)
                    except RuntimeError:  # shutting down
                        return
                wait = self._due[0][0] - now if self._due else None
                self._wake.wait(timeout=wait)

    def _attempt(self, call: Call) -> None:
        """One attempt: lost on purpose, or sent; another is scheduled unless it got a 2xx."""
        with self._wake:
            call.attempts += 1
            attempt = call.attempts
        if attempt <= call.forced_failures or self.dice.chance(self.failure_rate):
            self.tally.add("webhook_lost")
            outcome = "lost"
        else:
            outcome = self._send(call)
        with self._wake:
            call.last_outcome = outcome
            call.delivered = outcome.startswith("2")
        if call.delivered:
            self.tally.add("webhook_delivered")
        elif attempt <= len(RETRY_DELAYS):
            self._at(self.clock() + RETRY_DELAYS[attempt - 1], call)
        else:
            self.tally.add("webhook_given_up")

    def _send(self, call: Call) -> str:
        """POST the signed prediction; the HTTP status as text, or what went wrong."""
        prediction = call.prediction
        # Rendered at its end, whatever a test's clock says now.
        ended = max(self.clock(), prediction.submitted + prediction.latency)
        data = prediction.to_json(call.base_url, ended)
        body = json.dumps(data, separators=(",", ":")).encode()
        timestamp = int(time.time())
        request = urllib.request.Request(  # noqa: S310 (the submitter's own http(s) URL)
            call.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "WaveSpeedSimulator-Webhook/1.0",
                "webhook-id": call.webhook_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(self.secret, call.webhook_id, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as answer:  # noqa: S310
                return str(answer.status)
        except urllib.error.HTTPError as error:
            self.tally.add(f"webhook_answered_{error.code}")
            return str(error.code)
        except (OSError, ValueError) as error:
            self.tally.add("webhook_unreachable")
            return f"unreachable: {type(error).__name__}"
