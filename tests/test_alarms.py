"""Alarms (generations/wavespeed/alarms.py): the calls' deadlines, fired by one thread."""

from __future__ import annotations

import threading

from generations.wavespeed import alarms
from tests.forking import in_child

WAIT = 10.0  # seconds: far more than any alarm here needs


def test_an_alarm_fires_after_its_delay():
    fired = threading.Event()
    alarms.call_later(0.01, fired.set)
    assert fired.wait(WAIT)


def test_alarms_fire_in_the_order_of_their_moments_not_of_their_setting():
    order: list[str] = []
    both = threading.Event()

    def note(name: str) -> None:
        order.append(name)
        if len(order) == 2:
            both.set()

    alarms.call_later(0.3, lambda: note("later"))
    alarms.call_later(0.01, lambda: note("sooner"))  # wakes the thread sleeping for "later"

    assert both.wait(WAIT)
    assert order == ["sooner", "later"]


def test_a_cancelled_alarm_never_fires():
    cancelled, after = threading.Event(), threading.Event()
    alarms.call_later(0.01, cancelled.set).cancel()
    alarms.call_later(0.05, after.set)

    assert after.wait(WAIT)
    assert not cancelled.is_set()


def test_a_failing_callback_stops_no_other_alarm(caplog):
    after = threading.Event()

    def fail() -> None:
        raise RuntimeError("a callback's own failure")

    alarms.call_later(0.01, fail)
    alarms.call_later(0.05, after.set)

    assert after.wait(WAIT)
    assert "An alarm's callback failed" in caplog.text


def test_cancelled_alarms_do_not_pile_up():
    for _ in range(3 * alarms._Alarms.SWEEP_AT):
        alarms.call_later(3600, lambda: None).cancel()
    assert len(alarms._alarms._queue) <= alarms._Alarms.SWEEP_AT


def test_a_forked_child_has_alarms_of_its_own():
    alarms.call_later(3600, lambda: None)  # the parent's thread is running

    def fires() -> bool:
        fired = threading.Event()
        alarms.call_later(0.01, fired.set)
        return fired.wait(WAIT)

    assert in_child(fires)
