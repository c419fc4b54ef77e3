"""A generation's recipe as text: copied by users, and written into every stored PNG.

Two forms: JSON with the API's own parameter names (to redo it anywhere), and the one-line
"parameters" text that AUTOMATIC1111, ComfyUI loaders and image viewers read from PNGs.
"""

from __future__ import annotations

import json
from typing import Any

from generations.models import Generation

RECIPE_KEY = "kontext-playground"
PARAMETERS_KEY = "parameters"


def recipe(generation: Generation) -> dict[str, Any]:
    """Everything needed to make the image again."""
    return {
        "model": generation.model,
        **generation.api_inputs(),
    }


def parameters_text(generation: Generation, size: tuple[int, int] | None = None) -> str:
    """The recipe in the plain-text form other image tools read and write."""
    width, height = size or generation.expected_size
    details = [
        f"Seed: {generation.seed}",
        f"Size: {width}x{height}",
        f"Aspect ratio: {generation.aspect_ratio}",
        f"Guidance scale: {generation.guidance_scale:g}",
        f"Safety tolerance: {generation.safety_tolerance}",
        f"Model: {generation.model}",
    ]
    return f"{generation.prompt}\n{', '.join(details)}"


def png_texts(generation: Generation, size: tuple[int, int]) -> dict[str, str]:
    """The text chunks written into a stored PNG."""
    return {
        PARAMETERS_KEY: parameters_text(generation, size),
        RECIPE_KEY: json.dumps(recipe(generation), ensure_ascii=False, sort_keys=True),
    }
