"""The simulated endpoints: each turns a parsed request into a reply, without touching sockets."""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from generations.wavespeed.contract import (
    MODEL_ID,
    OUTPUT_SIZES,
    SEED_MAX,
    SEED_MIN,
    SYNC_TIMEOUT_CODE,
    TERMINAL_STATUSES,
)
from generations.wavespeed.validation import (
    SYNC_TIMEOUT_ERROR,
    InvalidInput,
    parse_list_query,
    parse_submit,
)

from .config import SimulatorConfig
from .images import PRERENDERED_AT_MOST, render_png
from .protocol import Dice, envelope, parse_markers, parse_webhook_url, task_error
from .store import Prediction, Store
from .tally import Tally
from .webhooks import Deliveries


@dataclass
class Reply:
    """An HTTP answer to write: status, body and extra headers."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class Aborted(Exception):
    """The server is shutting down while a request waits; the connection is dropped."""


class Dropped(Exception):
    """The answer is lost on purpose: the connection closes without a byte."""


@dataclass
class Context:
    """What an endpoint needs: the shared state and this request's details."""

    config: SimulatorConfig
    store: Store
    dice: Dice
    stopping: threading.Event
    base_url: str
    body: bytes = b""
    # Set while the key counts as revoked: every /api/v3 call answers 401.
    key_revoked: threading.Event = field(default_factory=threading.Event)
    # Where injected faults are counted by kind (the server's, shown at /_sim/record).
    tally: Tally = field(default_factory=Tally)
    # The request's query string, parsed (the submit's `webhook`).
    query: dict[str, list[str]] = field(default_factory=dict)
    # Where a submit with a webhook schedules its call; None: the server sends none.
    webhooks: Deliveries | None = None
    # Renders an output in the background ahead of its download (prompt, seed, aspect ratio).
    prerender: Callable[[str, int, str], None] | None = None


Endpoint = Callable[..., Reply]


def json_reply(
    status: int, message: str, data: Any = None, headers: dict[str, str] | None = None
) -> Reply:
    """Build an enveloped JSON reply whose code mirrors the HTTP status."""
    body = json.dumps(envelope(status, message, data), separators=(",", ":")).encode()
    return Reply(status, body, headers=headers or {})


def task_code_reply(code: int) -> Reply:
    """HTTP 200 with a task code in the envelope and no data: the request was refused."""
    _, text = task_error(code)
    body = json.dumps(envelope(code, text), separators=(",", ":")).encode()
    return Reply(200, body)


def success(data: Any) -> Reply:
    """Build the HTTP 200 envelope around data."""
    return json_reply(200, "success", data)


def health(ctx: Context) -> Reply:
    """Answer the liveness probe; it needs no key."""
    return Reply(200, b'{"status":"ok"}')


def balance(ctx: Context) -> Reply:
    """Return the simulated account balance."""
    return success({"balance": ctx.store.balance})


def result(ctx: Context, prediction_id: str) -> Reply:
    """Return one prediction in its current state."""
    prediction = ctx.store.get(prediction_id)
    if prediction is None:
        return json_reply(404, f"Prediction {prediction_id} not found")
    ctx.store.count_result_read(prediction_id)
    if ctx.store.vanishes_now(prediction):
        ctx.tally.add("vanished_result")
        return json_reply(404, f"Prediction {prediction_id} not found")
    throttled = ctx.store.throttle_remaining(prediction)
    if throttled > 0:
        ctx.tally.add("throttled_result")
        return json_reply(
            429,
            "Too many requests for this prediction (simulated)",
            headers={"Retry-After": str(max(1, math.ceil(throttled)))},
        )
    now = ctx.store.now()
    if prediction.status_at(now) in TERMINAL_STATUSES:
        ctx.store.note_end_seen(prediction_id, now)
    return success(prediction.to_json(ctx.base_url, now))


def history(ctx: Context) -> Reply:
    """Return a page of the account's predictions, newest first."""
    try:
        query = parse_list_query(ctx.body)
    except InvalidInput as error:
        return json_reply(400, str(error))
    matches = ctx.store.query(
        model=query.model,
        status=query.status,
        created_after=query.created_after,
        created_before=query.created_before,
    )
    start = (query.page - 1) * query.page_size
    now = ctx.store.now()
    # Inputs only when asked for, and then not if the hide_inputs fault strikes this answer.
    hidden = query.include_inputs and ctx.dice.chance(ctx.config.faults.hide_inputs)
    if hidden:
        ctx.tally.add("hidden_inputs")
    with_input = query.include_inputs and not hidden
    items = [
        item.to_json(ctx.base_url, now, with_input=with_input)
        for item in matches[start : start + query.page_size]
    ]
    return success({"page": query.page, "total": len(matches), "items": items})


def submit(ctx: Context) -> Reply:
    """Create a prediction; in sync mode, wait for it to finish first."""
    try:
        inputs, sync = parse_submit(ctx.body)
        webhook = parse_webhook_url(ctx.query)
    except InvalidInput as error:
        return json_reply(400, str(error))
    markers = parse_markers(inputs["prompt"])
    if markers.refuse is not None:
        ctx.tally.add(f"refused_submit_{markers.refuse // 1000}xxx")
        return task_code_reply(markers.refuse)
    if markers.hang_before:
        ctx.tally.add("hung_submit")
        _hold(ctx, markers.hang_before)
    # Draw in a fixed order so a seeded run repeats the same outcomes.
    if inputs["seed"] is None:
        inputs["seed"] = ctx.dice.seed()
    random_failure = ctx.dice.chance(ctx.config.failure_rate)
    random_nsfw = ctx.dice.chance(ctx.config.nsfw_rate)
    failure = markers.failure or (task_error(5000) if random_failure else None)
    latency = markers.latency if markers.latency is not None else ctx.config.latency
    prediction = ctx.store.add(
        inputs,
        latency,
        model=MODEL_ID,
        nsfw=markers.nsfw or random_nsfw,
        failure=failure,
        throttle=markers.throttle,
        vanish_once=markers.vanish_once,
    )
    if failure:
        ctx.tally.add(f"task_failed_{failure[0] // 1000}xxx")
    if not failure and ctx.prerender is not None:
        # Rendered while it "runs", so its file is ready when it completes, as a CDN's is.
        ctx.prerender(inputs["prompt"], inputs["seed"], inputs["aspect_ratio"])
    if webhook and ctx.webhooks is not None:
        ctx.webhooks.schedule(
            prediction, webhook, ctx.base_url, forced_failures=markers.webhook_failures
        )
    if markers.lose_answer:
        ctx.tally.add("lost_answer")
        raise Dropped  # created and charged, but the client never hears of it
    if markers.hang:
        ctx.tally.add("hung_submit")
        _hold(ctx, markers.hang)
    if not sync:
        # The submit answer shows the task as just created, whatever its latency.
        return success(prediction.to_json(ctx.base_url, ctx.store.now(), status="created"))
    return _wait_in_sync_mode(ctx, prediction)


def _hold(ctx: Context, seconds: float) -> None:
    """Keep the request waiting; a server shutting down cuts it."""
    if ctx.stopping.wait(seconds):
        raise Aborted


def webhook_secret(ctx: Context) -> Reply:
    """The account's webhook signing secret, with its whsec_ prefix, as the API gives it."""
    return success({"secret": ctx.config.webhook_secret})


def revoke_key(ctx: Context) -> Reply:
    """From now on every /api/v3 call answers 401, as if the key had been revoked."""
    ctx.key_revoked.set()
    return success({"key_revoked": True})


def restore_key(ctx: Context) -> Reply:
    """Accept the key again."""
    ctx.key_revoked.clear()
    return success({"key_revoked": False})


def prerender(ctx: Context) -> Reply:
    """Render these outputs now, before their predictions are made, into the renderer's cache.

    Body: {"outputs": [{"prompt": ..., "seed": ..., "aspect_ratio": ...}, ...]}, at most
    `PRERENDERED_AT_MOST` (the cache holds twice as many, so they outlast as many other
    renders). The real API renders on its own machines and serves outputs from a CDN; the
    pipeline benchmark renders here first, so that the simulator's CPU (about 80 ms an
    output) does not compete with what is measured on the same cores.
    """
    try:
        wanted = _outputs_to_render(ctx.body)
    except InvalidInput as error:
        return json_reply(400, str(error))
    for prompt, seed, aspect_ratio in wanted:
        render_png(prompt, seed, aspect_ratio)
    return success({"rendered": len(wanted)})


def _outputs_to_render(body: bytes) -> list[tuple[str, int, str]]:
    """The prerender body's outputs, every one checked before any is rendered."""
    try:
        outputs = json.loads(body or b"{}").get("outputs")
    except (ValueError, AttributeError):
        raise InvalidInput('expected a JSON object: {"outputs": [...]}') from None
    if not isinstance(outputs, list):
        raise InvalidInput('"outputs" must be a list of {prompt, seed, aspect_ratio}')
    if len(outputs) > PRERENDERED_AT_MOST:
        raise InvalidInput(f"at most {PRERENDERED_AT_MOST} outputs at once")
    wanted = []
    for number, item in enumerate(outputs):
        prompt, seed, ratio = (
            (item.get("prompt"), item.get("seed"), item.get("aspect_ratio"))
            if isinstance(item, dict)
            else (None, None, None)
        )
        # bool is an int subclass in Python, but true is no seed.
        if (
            not isinstance(prompt, str)
            or not isinstance(seed, int)
            or isinstance(seed, bool)
            or not SEED_MIN <= seed <= SEED_MAX
            or ratio not in OUTPUT_SIZES
        ):
            raise InvalidInput(
                f"outputs[{number}] must have a prompt, a seed from {SEED_MIN} to {SEED_MAX} "
                f"and one of the aspect ratios {', '.join(OUTPUT_SIZES)}"
            )
        wanted.append((prompt, seed, ratio))
    return wanted


def record(ctx: Context) -> Reply:
    """The simulator's own record: every prediction it holds and the faults it injected.

    Read by soak runs to count predictions per prompt, by the pipeline benchmark for when
    each prediction finished (`finished_at`, seconds since the epoch) and how often its result
    and outputs were read, and by tests for each one's webhook attempts; unlike the history it
    is never faulted, paged or stripped of inputs. `end_seen_at`: when a result GET first
    answered that the prediction had ended (seconds since the epoch), None if none did.
    """
    now = ctx.store.now()
    predictions = []
    for item in reversed(ctx.store.query()):
        result_gets, downloads = ctx.store.reads(item.id)
        seen = ctx.store.end_seen(item.id)
        predictions.append(
            {
                "id": item.id,
                "model": item.model,
                "prompt": item.input.get("prompt"),
                "status": item.status_at(now),
                "created_at": item.created_at.isoformat(),
                "finished_at": ctx.store.epoch_of(item.submitted + item.latency),
                "result_gets": result_gets,
                "downloads": downloads,
                # When a result GET first answered that it had ended: None if none did.
                "end_seen_at": None if seen is None else ctx.store.epoch_of(seen),
                "webhook": ctx.webhooks.summary(item.id) if ctx.webhooks else None,
            }
        )
    return success({"predictions": predictions, "faults": ctx.tally.snapshot()})


def _wait_in_sync_mode(ctx: Context, prediction: Prediction) -> Reply:
    """Hold the request until the prediction ends or the server-side wait runs out."""
    budget = ctx.config.sync_wait_max
    deadline = ctx.store.now() + min(prediction.remaining(ctx.store.now()), budget)
    while True:
        now = ctx.store.now()
        if prediction.status_at(now) in TERMINAL_STATUSES:
            return success(prediction.to_json(ctx.base_url, now))
        if now >= deadline:
            break
        # Event.wait can wake a hair early; the loop re-checks rather than trusting it.
        if ctx.stopping.wait(max(0.001, deadline - now)):
            raise Aborted
    data = prediction.to_json(ctx.base_url, ctx.store.now(), status="processing")
    data.update(code=SYNC_TIMEOUT_CODE, error=SYNC_TIMEOUT_ERROR)
    return success(data)


def output(ctx: Context, prediction_id: str, index: str) -> Reply:
    """Serve a completed prediction's image, publicly, like a CDN."""
    prediction = ctx.store.get(prediction_id)
    if (
        prediction is None
        or int(index) >= prediction.outputs_count
        or prediction.status_at(ctx.store.now()) != "completed"
    ):
        return json_reply(404, "File not found")
    ctx.store.count_output_read(prediction_id)
    inputs = prediction.input
    png = render_png(inputs["prompt"], inputs["seed"], inputs["aspect_ratio"])
    # Outputs never change once written, so caches may keep them.
    return Reply(
        200,
        png,
        content_type="image/png",
        headers={"Cache-Control": "public, max-age=604800, immutable"},
    )


# (path pattern, {method: endpoint}); the pattern's named groups become arguments.
ROUTES: list[tuple[re.Pattern[str], dict[str, Endpoint]]] = [
    (re.compile(r"/healthz"), {"GET": health, "HEAD": health}),
    (
        re.compile(r"/outputs/(?P<prediction_id>[0-9a-f]{1,64})/(?P<index>\d{1,3})\.png"),
        {"GET": output, "HEAD": output},
    ),
    (re.compile(r"/api/v3/" + re.escape(MODEL_ID)), {"POST": submit}),
    (re.compile(r"/api/v3/predictions/(?P<prediction_id>[^/]{1,128})/result"), {"GET": result}),
    (re.compile(r"/api/v3/predictions"), {"POST": history}),
    (re.compile(r"/api/v3/balance"), {"GET": balance}),
    (re.compile(r"/api/v3/webhook/secret"), {"GET": webhook_secret}),
    (re.compile(r"/_sim/revoke-key"), {"POST": revoke_key}),
    (re.compile(r"/_sim/restore-key"), {"POST": restore_key}),
    (re.compile(r"/_sim/record"), {"GET": record}),
    (re.compile(r"/_sim/prerender"), {"POST": prerender}),
]


def resolve(method: str, path: str) -> tuple[Endpoint | None, dict[str, str], Reply | None]:
    """Find the endpoint for a request, or the 404/405 reply to give instead."""
    for pattern, methods in ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        endpoint = methods.get(method)
        if endpoint is None:
            allowed = ", ".join(sorted(methods))
            reply = json_reply(
                405, f"Method {method} not allowed on {path}", headers={"Allow": allowed}
            )
            return None, {}, reply
        return endpoint, match.groupdict(), None
    return None, {}, json_reply(404, f"Not found: {path}")
