"""What the gateway's endpoints do: generations made, read and listed as WaveSpeed predictions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django.utils import timezone

from generations import budgets, submission
from generations.accounts.models import PersonalAccessToken
from generations.fields import validate_readable_text
from generations.forms import PROMPT_MAX_LENGTH
from generations.models import Generation, Moderation, OutputImage
from generations.wavespeed import validation
from generations.wavespeed.contract import SYNC_TIMEOUT_CODE

S = Generation.Status
# The app's statuses as WaveSpeed's: "completed" only once the image is stored here.
API_STATUS: dict[str, str] = {
    S.QUEUED: "created",
    S.SUBMITTING: "created",
    S.PROCESSING: "processing",
    S.DOWNLOADING: "processing",
    S.COMPLETED: "completed",
    S.FAILED: "failed",
    S.TIMED_OUT: "timeout",
}
APP_STATUSES: dict[str, list[str]] = {}
for _app, _api in API_STATUS.items():
    APP_STATUSES.setdefault(_api, []).append(_app)

WITHHELD = (
    "The output was flagged as possibly unsafe and is withheld until a moderator approves it; "
    "ask for this result again later."
)
REMOVED = "The output was removed by a moderator."
SYNC_TIMEOUT_ERROR = validation.SYNC_TIMEOUT_ERROR
# A sync-mode submit looks at its generation this often while it waits.
SYNC_POLL_SECONDS = 0.25

# Builds an absolute URL from a path, from the request (scheme and host the caller used).
AbsoluteUrl = Callable[[str], str]


class Refused(Exception):
    """A call the gateway answers with an error envelope of this HTTP status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def parse_submit(body: bytes) -> tuple[dict[str, Any], bool]:
    """The generation's parameters and the sync flag, validated as WaveSpeed does, and then
    as the app's form does (its length limit, readable text); `Refused` (400) otherwise."""
    # WaveSpeed's own validation, shared with the simulator.
    try:
        inputs, sync = validation.parse_submit(body)
    except validation.InvalidInput as error:
        raise Refused(400, str(error)) from None
    prompt = inputs["prompt"].strip()
    if len(prompt) > PROMPT_MAX_LENGTH:
        raise Refused(400, f"prompt must be at most {PROMPT_MAX_LENGTH} characters long")
    try:
        validate_readable_text(prompt, "prompt")
    except ValidationError as error:
        raise Refused(400, " ".join(error.messages)) from None
    params = {
        "prompt": prompt,
        "aspect_ratio": inputs["aspect_ratio"],
        "seed": inputs["seed"],
        "guidance_scale": inputs["guidance_scale"],
        "safety_tolerance": inputs["safety_tolerance"],
        "num_images": 1,
    }
    return params, sync


def submit(token: PersonalAccessToken, body: bytes) -> tuple[Generation, bool]:
    """Make one generation of the token's user from a WaveSpeed submit body.

    The token's row is written first: that locks it (PostgreSQL) or takes the write lock
    (SQLite), so two calls of one token never both pass the in-flight cap.
    """
    params, sync = parse_submit(body)
    cap = settings.GATEWAY_MAX_IN_FLIGHT
    with transaction.atomic():
        PersonalAccessToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        in_flight = Generation.objects.filter(
            access_token=token, status__in=Generation.IN_FLIGHT
        ).count()
        if in_flight >= cap:
            raise Refused(
                429,
                f"Too many predictions in flight: this token may have {cap} at once, and "
                f"{in_flight} are not finished yet. Wait for one to finish.",
                headers={"Retry-After": "5"},
            )
        try:
            [generation] = submission.create_batch(token.user, params)
        except budgets.BudgetExceeded as refusal:
            raise Refused(402, f"Insufficient balance: {refusal.message}") from None
        Generation.objects.filter(pk=generation.pk).update(access_token=token)
    return generation, sync


def wait_until_finished(generation_id: int, seconds: float) -> bool:
    """Wait for a generation to finish, looking at its row a few times a second; finished?

    Bounded by `seconds`, the sync timeout: a request may not hold its worker longer.
    """
    deadline = time.monotonic() + seconds
    while True:
        status = Generation.objects.filter(pk=generation_id).values_list("status", flat=True)
        if status.first() in Generation.FINISHED:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(SYNC_POLL_SECONDS, left))


def visible_generations(user) -> QuerySet[Generation]:
    """The generations this user may read, with the images they may be told about."""
    return Generation.objects.visible_to(user).prefetch_related(
        Prefetch("images", queryset=OutputImage.objects.listed_for(user))
    )


def prediction_data(
    generation: Generation, absolute: AbsoluteUrl, *, with_input: bool = True
) -> dict[str, Any]:
    """A generation as a WaveSpeed prediction object, for a viewer whose images are prefetched.

    Outputs are the stored files the viewer may fetch, as absolute URLs of the gateway; an
    image awaiting review (or removed) is withheld, and the answer says so.
    """
    status = API_STATUS[generation.status]
    images = list(generation.images.all())
    shown = [image for image in images if image.is_shown]
    held = [image for image in images if not image.is_shown]
    error = generation.error if status in ("failed", "timeout") else ""
    if held and not shown:
        rejected = all(image.moderation == Moderation.REJECTED for image in held)
        error = REMOVED if rejected else WITHHELD
    inference = generation.inference_ms or 0
    data: dict[str, Any] = {
        "id": str(generation.pk),
        "model": generation.model,
        "input": generation.api_inputs(),
        "outputs": [absolute(reverse("gateway:output", args=[image.pk])) for image in shown],
        "urls": {"get": absolute(reverse("gateway:result", args=[generation.pk]))},
        # One flag per output; a withheld output is counted as flagged, with no URL.
        "has_nsfw_contents": [image.nsfw for image in shown] or [True for _ in held],
        "status": status,
        "created_at": generation.created_at.isoformat(),
        "error": error,
        "timings": {"inference": inference},
        "executionTime": inference,
    }
    if status in ("failed", "timeout") and generation.error_code is not None:
        data["code"] = generation.error_code
    if not with_input:
        del data["input"]
    return data


def still_processing(data: dict[str, Any]) -> dict[str, Any]:
    """A sync-mode answer whose wait ran out: poll for the rest, as WaveSpeed says."""
    return {**data, "status": "processing", "code": SYNC_TIMEOUT_CODE, "error": SYNC_TIMEOUT_ERROR}


def find(user, prediction_id: str) -> Generation:
    """One generation this user may read, by its gateway id; `Refused` (404) otherwise."""
    # ASCII digits only: "²".isdigit() is true, and int() refuses it.
    if prediction_id.isascii() and prediction_id.isdigit() and len(prediction_id) <= 18:
        generation = visible_generations(user).filter(pk=int(prediction_id)).first()
        if generation is not None:
            return generation
    raise Refused(404, f"Prediction {prediction_id[:64]} not found")


@dataclass(frozen=True)
class HistoryPage:
    page: int
    total: int
    items: list[Generation]


def history(user, body: bytes) -> tuple[HistoryPage, bool]:
    """A page of the caller's own generations, newest first, filtered as WaveSpeed's list is;
    and whether to show their inputs."""
    try:
        query = validation.parse_list_query(body)
    except validation.InvalidInput as error:
        raise Refused(400, str(error)) from None
    mine = visible_generations(user).filter(owner=user)
    if query.model is not None:
        mine = mine.filter(model=query.model)
    if query.status is not None:
        mine = mine.filter(status__in=APP_STATUSES.get(query.status, []))
    if query.created_after is not None:
        mine = mine.filter(created_at__gte=query.created_after)
    if query.created_before is not None:
        mine = mine.filter(created_at__lt=query.created_before)
    mine = mine.order_by("-created_at", "-id")
    total = mine.count()
    start = (query.page - 1) * query.page_size
    # A page past the end is empty without asking: its offset may not fit the database's
    # integers (any positive page number is valid).
    items = list(mine[start : start + query.page_size]) if start < total else []
    return HistoryPage(query.page, total, items), query.include_inputs


def balance(user, now: datetime | None = None) -> dict[str, Any]:
    """What the caller's monthly budget has left, in US dollars (None: no limit is set)."""
    left = budgets.left_this_month(user, now)
    return {
        "balance": float(left) if left is not None else None,
        "currency": "USD",
        "spent_this_month": float(budgets.spent_this_month(user, now)),
        "price_per_image": float(settings.PRICE_PER_IMAGE),
    }


def output_image(user, image_id: int) -> OutputImage:
    """A stored output this user may fetch through the gateway: shown images only."""
    image = OutputImage.objects.visible_to(user).shown().filter(pk=image_id).first()
    if image is None:
        raise Refused(404, f"Output {image_id} not found")
    return image
