"""Decoding and thumbnails of output images (downloading them: test_outbound.py)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

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


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def handmade_png(width: int, height: int, *extra_chunks: bytes) -> bytes:
    """A PNG of an RGB header, any extra chunks, and one all-black row per line."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    rows = zlib.compress((b"\0" + b"\0" * 3 * width) * min(height, 4))
    return (
        imaging.PNG_SIGNATURE
        + header
        + b"".join(extra_chunks)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_called_too_many_pixels_not_an_unknown_format():
    # 400 megapixels in 70 bytes: past Pillow's own ceiling, which it meets before ours.
    with pytest.raises(imaging.ImageError) as caught:
        imaging.decode(handmade_png(20_000, 20_000), max_pixels=10**12)
    assert caught.value.message == imaging.TOO_MANY_PIXELS
    assert caught.value.permanent


def test_a_compressed_text_chunk_that_expands_too_far_is_named_as_such():
    expands = zlib.compress(b"a" * (PngImagePlugin.MAX_TEXT_CHUNK + 1))
    bomb = handmade_png(4, 4, png_chunk(b"zTXt", b"comment\0\0" + expands))
    with pytest.raises(imaging.ImageError) as caught:
        imaging.decode(bomb, max_pixels=1_000_000)
    assert "expands past" in caught.value.message
    assert caught.value.permanent


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1392, 752), (512, 277)), ((672, 1568), (219, 512)), ((300, 200), (300, 200))],
)
def test_thumbnails_are_webp_within_the_box_keeping_the_ratio(size, expected):
    thumbnail = imaging.make_thumbnail(png_bytes(size=size), max_size=512)
    assert (thumbnail.width, thumbnail.height) == expected
    with Image.open(io.BytesIO(thumbnail.data)) as image:
        assert image.format == "WEBP"
        assert image.size == expected


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_taking_an_image_in_at_once_gives_what_the_three_steps_give(fmt):
    data = png_bytes((640, 320), fmt)

    taken = imaging.take_in(data, max_pixels=10**6, thumbnail_size=128)

    assert taken.decoded == imaging.decode(data, max_pixels=10**6)
    alone = imaging.make_thumbnail(data, max_size=128)
    assert (taken.thumbnail.width, taken.thumbnail.height) == (alone.width, alone.height)
    with Image.open(io.BytesIO(taken.thumbnail.data)) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("WEBP", (128, 64))
    assert taken.placeholder.data_uri.startswith("data:image/webp;base64,")
    # Made from the thumbnail, the average colour is the full image's within a shade.
    own = imaging.make_placeholder(data).color
    assert all(
        abs(int(taken.placeholder.color[i : i + 2], 16) - int(own[i : i + 2], 16)) <= 3
        for i in (1, 3, 5)
    )


def test_taking_in_too_many_pixels_is_refused_before_decoding():
    with pytest.raises(imaging.ImageError) as refused:
        imaging.take_in(png_bytes((200, 200)), max_pixels=100, thumbnail_size=64)
    assert refused.value.permanent and refused.value.message == imaging.TOO_MANY_PIXELS
