"""Decoding and thumbnails of output images (downloading them: test_outbound.py)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from generations import imaging


def png_bytes(size=(120, 80), fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "orange").save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_png_jpeg_and_webp_decode(fmt):
    decoded = imaging.decode(png_bytes(fmt=fmt), max_pixels=1_000_000)
    assert (decoded.format, decoded.width, decoded.height) == (fmt, 120, 80)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<html>not an image</html>",
        b"GIF89a" + b"\x00" * 100,
        png_bytes(fmt="GIF"),
        png_bytes(fmt="BMP"),
        png_bytes()[:200],  # truncated PNG
    ],
)
def test_anything_else_is_refused_as_permanent(data):
    with pytest.raises(imaging.ImageError) as caught:
        imaging.decode(data, max_pixels=1_000_000)
    assert caught.value.permanent


def test_too_many_pixels_are_refused_before_decoding():
    with pytest.raises(imaging.ImageError, match="more pixels"):
        imaging.decode(png_bytes(size=(200, 200)), max_pixels=100 * 100)
