"""How far a generation has come: one account of its stage, in the words every page shows."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from django.utils import timezone

from generations import admission
from generations.models import Generation

S = Generation.Status

# Recent enough to follow the provider's current speed, many enough that one slow image
# does not move the estimate.
TYPICAL_SAMPLE = 30

STAGES: dict[str, str] = {
    S.QUEUED: "queued",
    S.SUBMITTING: "sending",
    S.PROCESSING: "generating",
    S.DOWNLOADING: "saving",
    S.COMPLETED: "done",
    S.FAILED: "failed",
    S.TIMED_OUT: "timed_out",
}

_WORDS: dict[str, str] = {
    S.QUEUED: "About to be sent.",
    S.SUBMITTING: "Sending the request to WaveSpeed.",
    S.PROCESSING: "The model is working on it.",
    S.DOWNLOADING: "Saving the image.",
    S.COMPLETED: "Done.",
    S.FAILED: "Failed.",
    S.TIMED_OUT: "Timed out.",
}


@dataclass(frozen=True)
class Progress:
    """A generation's stage as its badge, words and clock show it, all from one reading."""

    status: str
    stage: str
    label: str
    words: str
    finished: bool
    elapsed: int  # seconds since it was made (until it finished, once finished)
    typical: int | None  # seconds a generation typically takes from making to done

    @property
    def percent(self) -> int | None:
        """A rough share of the typical time; never 100 before it is done."""
        if self.finished:
            return 100
        if not self.typical:
            return None
        return min(95, round(100 * self.elapsed / self.typical))

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "stage": self.stage,
            "label": self.label,
            "words": self.words,
            "finished": self.finished,
            "elapsed": self.elapsed,
            "typical": self.typical,
            "percent": self.percent,
        }


def typical_seconds() -> int | None:
    """The median time from making to done of the last completed generations, or None."""
    rows = (
        Generation.objects.filter(status=S.COMPLETED, finished_at__isnull=False)
        # By id, newest first: the primary key's index, whatever the table's size.
        .order_by("-id")
        .values_list("created_at", "finished_at")[:TYPICAL_SAMPLE]
    )
    durations = [(done - made).total_seconds() for made, done in rows if done >= made]
    if not durations:
        return None
    return max(1, round(statistics.median(durations)))


def progress_of(generation: Generation, typical: int | None) -> Progress:
    """Where a generation is now; `typical` from typical_seconds(), read once per answer."""
    end = generation.finished_at if generation.is_finished and generation.finished_at else None
    elapsed = max(0, int(((end or timezone.now()) - generation.created_at).total_seconds()))
    words = _WORDS[generation.status]
    if generation.status == S.QUEUED:
        # Held back by the account's limits or the provider: the line and its position.
        words = admission.waiting_words(generation) or words
    elif generation.status == S.COMPLETED:
        words = f"Done in {elapsed} s."
    return Progress(
        status=generation.status,
        stage=STAGES[generation.status],
        label=generation.get_status_display(),
        words=words,
        finished=generation.is_finished,
        elapsed=elapsed,
        typical=typical,
    )
