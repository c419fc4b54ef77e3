"""What FLUX.1 Kontext [pro] text-to-image on WaveSpeed's v3 API accepts and answers, written once.

From the model's page (its parameter table) and the API's documentation. The client, the
simulator, and the app's models and forms all read these; plain values, no Django, since the
simulator runs without it.

The API documents no limit on the prompt's length: the form's limit is the app's own.
"""

from __future__ import annotations

MODEL_ID = "wavespeed-ai/flux-kontext-pro/text-to-image"

# (width, height) per aspect ratio, about one megapixel each, in the order the API lists them.
OUTPUT_SIZES: dict[str, tuple[int, int]] = {
    "21:9": (1568, 672),
    "16:9": (1392, 752),
    "4:3": (1184, 880),
    "3:2": (1248, 832),
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:4": (880, 1184),
    "9:16": (752, 1392),
    "9:21": (672, 1568),
}
ASPECT_RATIOS: tuple[str, ...] = tuple(OUTPUT_SIZES)
ASPECT_RATIO_DEFAULT = "1:1"

# -1 (or no seed) asks the API to pick one.
SEED_MIN, SEED_MAX = -1, 2_147_483_647
GUIDANCE_MIN, GUIDANCE_MAX, GUIDANCE_DEFAULT = 1.0, 20.0, 3.5
# Strings, not numbers; from the strictest filtering (1) to the most permissive (5).
SAFETY_TOLERANCES: tuple[str, ...] = ("1", "2", "3", "4", "5")
SAFETY_TOLERANCE_DEFAULT = "2"

# A prediction's statuses, in the order it goes through them. The docs list all but "deleted",
# which the official clients also treat as terminal.
STATUSES: tuple[str, ...] = (
    "created",
    "processing",
    "completed",
    "failed",
    "cancelled",
    "timeout",
    "deleted",
)
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "timeout", "deleted"})
# In a sync-mode answer this code means "still running, poll for it", not a failure.
SYNC_TIMEOUT_CODE = 5004

# Where WaveSpeed serves output files from, as its own documentation and clients show them:
# d11ewybssaphwx.cloudfront.net in the predictions-list example of the API reference
# (wavespeed.ai/docs/docs-common-api/predictions), cdn.wavespeed.ai in "How to get result"
# (wavespeed.ai/docs/get-result) and the official n8n node's tests, d1q70pf5vjeyhc.cloudfront.net
# for the files in the official ComfyUI nodes' examples (WaveSpeedAI/wavespeed-comfyui).
OUTPUT_HOSTS: tuple[str, ...] = (
    "d1q70pf5vjeyhc.cloudfront.net",
    "d11ewybssaphwx.cloudfront.net",
    "cdn.wavespeed.ai",
)

# Task error codes, with the API's own short texts: a failed prediction's `data.code`, or an
# envelope's `code`, which means what it says whatever the HTTP status. 1xxx: the input was
# refused, sending it again changes nothing; 5xxx: trouble on the API's side, transient. The
# provider refunds failed tasks.
TASK_ERRORS: dict[int, str] = {
    1200: "content flagged by moderation",
    1400: "missing parameter",
    1401: "invalid parameter",
    1402: "media URL unreachable",
    1403: "task failed",
    1405: "task failed",
    5000: "internal error",
    5003: "service unavailable",
    SYNC_TIMEOUT_CODE: "timeout",
}


def is_refusal_code(code: int) -> bool:
    """A 1xxx task code: the API refused the input."""
    return 1000 <= code <= 1999


def is_transient_code(code: int) -> bool:
    """A 5xxx task code: the API failed on its side; later may work."""
    return 5000 <= code <= 5999


def is_task_code(code: int) -> bool:
    """A task code (1xxx or 5xxx), as opposed to an HTTP status mirrored in an envelope."""
    return is_refusal_code(code) or is_transient_code(code)
