"""Deterministic placeholder PNGs, visibly marked as simulated."""

from __future__ import annotations

import colorsys
import hashlib
import io
import unicodedata
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFilter, ImageFont, PngImagePlugin

from generations.wavespeed.contract import OUTPUT_SIZES

# The background is painted this many times smaller and scaled up: most of the cost of a
# full-size image is pixels, and a soft abstract background loses nothing by it.
_SCALE = 8
_EXCERPT_CHARS = 48
# Outputs rendered ahead at once (`/_sim/prerender`); the cache keeps twice as many, so they
# outlast as many renders of other outputs (re-downloads are served from it too).
PRERENDERED_AT_MOST = 256
CACHED_OUTPUTS = 2 * PRERENDERED_AT_MOST


def render_png(prompt: str, seed: int, aspect_ratio: str) -> bytes:
    """Return the PNG for these inputs; the same inputs give byte-identical files."""
    if aspect_ratio not in OUTPUT_SIZES:
        raise ValueError(f"unknown aspect ratio {aspect_ratio!r}")
    return _render_cached(prompt, seed, aspect_ratio)


@lru_cache(maxsize=CACHED_OUTPUTS)
def _render_cached(prompt: str, seed: int, aspect_ratio: str) -> bytes:
    """Render and encode once per distinct input; polls and re-downloads hit the cache."""
    width, height = OUTPUT_SIZES[aspect_ratio]
    digest = hashlib.sha256(f"{prompt}\x00{seed}\x00{aspect_ratio}".encode()).digest()
    image = _background(digest, width, height)
    _draw_labels(image, prompt, seed, aspect_ratio)
    info = PngImagePlugin.PngInfo()
    # Metadata lets anyone inspecting a stored file tell it never came from the real API.
    info.add_text("Software", "WaveSpeed simulator")
    info.add_itxt("Description", f"SIMULATED seed={seed} aspect_ratio={aspect_ratio}")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1, pnginfo=info)
    return buffer.getvalue()


def _colour(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    """Convert HSV in 0..1 to an RGB byte triple."""
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def _background(digest: bytes, width: int, height: int) -> Image.Image:
    """Paint a gradient with a few soft shapes, all derived from the digest."""
    small = (max(1, width // _SCALE), max(1, height // _SCALE))
    base_hue = digest[0] / 255
    first = _colour(base_hue, 0.55 + digest[1] / 1000, 0.75 + digest[2] / 1200)
    second = _colour(base_hue + 0.25 + digest[3] / 800, 0.6, 0.35 + digest[4] / 900)
    # A linear gradient rotated by a digest-derived angle, used as the blend mask.
    side = max(small) * 2
    mask = Image.linear_gradient("L").resize((side, side)).rotate(digest[5] * 360 / 256)
    left, top = (side - small[0]) // 2, (side - small[1]) // 2
    mask = mask.crop((left, top, left + small[0], top + small[1]))
    image = Image.composite(Image.new("RGB", small, first), Image.new("RGB", small, second), mask)

    draw = ImageDraw.Draw(image)
    for index in range(6):
        chunk = digest[6 + index * 4 : 10 + index * 4]
        centre_x = chunk[0] * small[0] // 255
        centre_y = chunk[1] * small[1] // 255
        radius = max(2, (chunk[2] % 64 + 16) * min(small) // 160)
        box = (centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius)
        fill = _colour(base_hue + chunk[3] / 255, 0.5, 0.9)
        if chunk[3] % 2:
            draw.ellipse(box, fill=fill)
        else:
            draw.rectangle(box, fill=fill)
    image = image.filter(ImageFilter.GaussianBlur(radius=max(1, min(small) // 40)))
    return image.resize((width, height), Image.Resampling.BILINEAR)


def _printable(text: str) -> str:
    """Fold text to ASCII, because Pillow's built-in font has no glyphs beyond it."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(char for char in folded if not unicodedata.combining(char))
    return folded.encode("ascii", "replace").decode("ascii")


def _excerpt(prompt: str) -> str:
    """Shorten the prompt to one line that fits under the watermark."""
    text = " ".join(_printable(prompt).split())
    if len(text) > _EXCERPT_CHARS:
        text = text[: _EXCERPT_CHARS - 3].rstrip() + "..."
    return text


def _draw_labels(image: Image.Image, prompt: str, seed: int, aspect_ratio: str) -> None:
    """Draw the SIMULATED watermark, a prompt excerpt and the parameters."""
    width, height = image.size
    draw = ImageDraw.Draw(image)
    excerpt = f'"{_excerpt(prompt)}"'
    details = f"seed {seed} - {aspect_ratio} - {width}x{height}"
    lines = [
        ("SIMULATED", _fitted_font("SIMULATED", width // 7, width), max(2, width // 200)),
        (excerpt, _fitted_font(excerpt, max(min(width, height) // 24, width // 40), width), 2),
        (details, _fitted_font(details, max(min(width, height) // 24, width // 40), width), 2),
    ]
    gap = height // 40
    heights = [_text_height(draw, text, font) for text, font, _ in lines]
    y = (height - sum(heights) - gap * (len(lines) - 1)) // 2
    for (text, font, stroke), line_height in zip(lines, heights, strict=True):
        # A dark outline keeps white text legible whatever colours the background drew.
        draw.text(
            (width // 2, y),
            text,
            font=font,
            anchor="mt",
            fill=(255, 255, 255),
            stroke_width=stroke,
            stroke_fill=(20, 20, 20),
        )
        y += line_height + gap


def _fitted_font(text: str, size: int, width: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Load the built-in font at the size, shrunk so the text spans at most 90% of the width."""
    font = ImageFont.load_default(size=max(12, size))
    length = font.getlength(text)
    if length > width * 0.9:
        font = ImageFont.load_default(size=max(12, int(size * width * 0.9 / length)))
    return font


def _text_height(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont
) -> int:
    """Measure how tall a line of text draws."""
    _left, top, _right, bottom = draw.textbbox((0, 0), text, font=font, anchor="lt")
    return int(bottom - top)
