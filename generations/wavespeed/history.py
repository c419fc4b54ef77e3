"""Which predictions of the account's history may be the one an unconfirmed submit created.

A submit whose answer was lost may or may not have created (and charged for) a task. The
history, read once for a window (`WaveSpeedClient.read_history`), tells: an item with the same
model and input is that task; an item whose input is not shown or cannot be compared may be it.
Only a window with neither allows sending the request again.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from generations.wavespeed.contract import MODEL_ID

if TYPE_CHECKING:
    from generations.wavespeed.client import Prediction


class Comparison(enum.Enum):
    """How a listed prediction's input compares with the input a submit sent."""

    MATCH = "match"  # every parameter sent is there with the same value
    DIFFERS = "differs"  # some parameter sent is there with another value: not that submit
    UNKNOWN = "unknown"  # not shown, or not comparable: it may be that submit


@dataclass(frozen=True)
class Candidates:
    """The predictions of a window that may be the one an unconfirmed submit created."""

    matching: tuple[Prediction, ...] = ()  # the same model and the very same input
    unreadable: tuple[Prediction, ...] = ()  # an input that cannot be compared: possibly it
    malformed: int = 0  # items without even an id: possibly it, and impossible to follow

    @property
    def none(self) -> bool:
        """Nothing in the window can be the submit's prediction."""
        return not self.matching and not self.unreadable and not self.malformed

    @property
    def ids(self) -> list[str]:
        return [prediction.id for prediction in (*self.matching, *self.unreadable)]

    def describe(self) -> str:
        """The candidates for staff: ids, and how many items were unreadable."""
        parts = []
        if self.matching:
            parts.append("with the same input: " + ", ".join(p.id for p in self.matching))
        if self.unreadable:
            parts.append("input not shown: " + ", ".join(p.id for p in self.unreadable))
        if self.malformed:
            parts.append(f"unreadable items: {self.malformed}")
        return "; ".join(parts) or "none"


@dataclass(frozen=True)
class History:
    """The account's predictions created in a window, read to the end of the list once."""

    created_after: datetime
    created_before: datetime
    items: tuple[Prediction, ...]
    malformed: int = 0

    def get(self, prediction_id: str) -> Prediction | None:
        """The listed prediction with this id, if the window holds it."""
        return next((item for item in self.items if item.id == prediction_id), None)

    def candidates(
        self,
        inputs: Mapping[str, Any],
        *,
        model: str = MODEL_ID,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        exclude_ids: Iterable[str] = (),
    ) -> Candidates:
        """The predictions in a sub-window that may have been created by a submit of `inputs`.

        An item whose input is not shown or cannot be compared counts as possibly that submit's,
        and so does an item without a readable time (it cannot be placed outside the window).
        """
        excluded = set(exclude_ids)
        matching: list[Prediction] = []
        unreadable: list[Prediction] = []
        for item in self.items:
            if item.id in excluded or not _within(item.created_at, created_after, created_before):
                continue
            if item.model and item.model != model:
                continue
            comparison = compare_inputs(inputs, item.input)
            if comparison is Comparison.MATCH and item.model == model:
                matching.append(item)
            elif comparison is not Comparison.DIFFERS:
                unreadable.append(item)
        return Candidates(tuple(matching), tuple(unreadable), self.malformed)


def _within(moment: datetime | None, after: datetime | None, before: datetime | None) -> bool:
    if moment is None:
        return True
    return (after is None or moment >= after) and (before is None or moment <= before)


def compare_inputs(wanted: Mapping[str, Any], found: Mapping[str, Any] | None) -> Comparison:
    """Compare a listed prediction's input with the input sent.

    DIFFERS needs proof: a parameter sent that is there with another value. A missing input, a
    missing parameter or a value of another shape only makes it UNKNOWN, since reading those as
    "not ours" and resending could charge twice.
    """
    if found is None:
        return Comparison.UNKNOWN
    unknown = False
    for key, value in wanted.items():
        same = _same_value(value, found[key]) if key in found else None
        if same is False:
            return Comparison.DIFFERS
        unknown = unknown or same is None
    return Comparison.UNKNOWN if unknown else Comparison.MATCH


def inputs_match(wanted: Mapping[str, Any], found: Mapping[str, Any] | None) -> bool:
    """Whether a listed prediction's input is the one we sent (numbers compared as numbers)."""
    return compare_inputs(wanted, found) is Comparison.MATCH


def _same_value(sent: Any, shown: Any) -> bool | None:
    """Whether a value shown is the value sent; None when the two cannot be compared."""
    sent_number, shown_number = _as_number(sent), _as_number(shown)
    if isinstance(sent, str) and isinstance(shown, str):
        if " ".join(sent.split()) == " ".join(shown.split()):
            return True
        # "3.5" against "3.50": both numbers, compared as such; otherwise different text.
        if sent_number is None or shown_number is None:
            return False
    if sent_number is not None and shown_number is not None:
        return abs(sent_number - shown_number) <= 1e-9
    if type(sent) is type(shown) and not isinstance(sent, int | float | str):
        return bool(sent == shown)
    return None


def _as_number(value: Any) -> float | None:
    """A number, or a string holding one (an API may echo "2" for 2); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
