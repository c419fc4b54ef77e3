"""Decoding and thumbnails of output images (downloading them: test_outbound.py)."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from generations import imaging
from tests.bench.images import counting_decodes, photo_like_png

BIG = 10**8  # a pixel limit no test image reaches


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
    ids=["empty", "html", "gif-header", "gif", "bmp", "truncated-png"],
)
def test_anything_else_is_refused_as_permanent(data):
    with pytest.raises(imaging.ImageError) as caught:
        imaging.decode(data, max_pixels=1_000_000)
    assert caught.value.permanent
    with pytest.raises(imaging.ImageError) as inspected:
        imaging.inspect(data, max_pixels=1_000_000)
    assert inspected.value.permanent


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_inspect_tells_format_and_size(fmt):
    info = imaging.inspect(png_bytes(fmt=fmt), max_pixels=1_000_000)
    assert (info.format, info.width, info.height) == (fmt, 120, 80)


def test_inspect_checks_a_png_without_decoding_a_pixel():
    data = photo_like_png((1024, 1024))
    with counting_decodes() as decoders:
        info = imaging.inspect(data, max_pixels=BIG)
    assert (info.width, info.height) == (1024, 1024)
    assert decoders == []


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_inspect_decodes_a_jpeg_or_webp_and_refuses_one_cut_short(fmt):
    buffer = io.BytesIO()
    Image.open(io.BytesIO(photo_like_png((300, 200)))).save(buffer, format=fmt)
    whole = buffer.getvalue()
    assert imaging.inspect(whole, max_pixels=BIG).format == fmt
    with pytest.raises(imaging.ImageError) as caught:
        imaging.inspect(whole[: len(whole) // 2], max_pixels=BIG)
    assert caught.value.permanent


def test_too_many_pixels_are_refused_before_decoding():
    with pytest.raises(imaging.ImageError, match="more pixels"):
        imaging.decode(png_bytes(size=(200, 200)), max_pixels=100 * 100)
    with counting_decodes() as decoders, pytest.raises(imaging.ImageError, match="more pixels"):
        imaging.inspect(png_bytes(size=(200, 200), fmt="JPEG"), max_pixels=100 * 100)
    assert decoders == []


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


def renditions(data: bytes, thumbnail_width=480) -> imaging.Renditions:
    return imaging.make_renditions(data, max_pixels=BIG, thumbnail_width=thumbnail_width)


def display(data: bytes, display_size=1600) -> imaging.Rendition:
    return imaging.make_display_rendition(data, max_pixels=BIG, display_size=display_size)


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_an_output_is_decoded_once_for_its_check_renditions_and_placeholder(fmt):
    with counting_decodes() as decoders:
        made = renditions(png_bytes(size=(900, 600), fmt=fmt))
    assert len(decoders) == 1, decoders
    assert made.thumbnail.data and made.placeholder.data_uri


def photo_png_cut_after_its_pixels() -> bytes:
    data = photo_like_png((256, 256))
    return data[: -len(png_chunk(b"IEND", b""))]


def flipped(data: bytes, at: int) -> bytes:
    damaged = bytearray(data)
    damaged[at] ^= 0x01
    return bytes(damaged)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        # Pillow's decode stops once it has every row: these pass it, the chunk walk catches them.
        (lambda data: data[: -len(png_chunk(b"IEND", b""))], "ends before its IEND"),
        (lambda data: data[:-14], "ends inside a chunk"),
        (lambda data: flipped(data, len(data) - 40), "IDAT chunk fails its checksum"),
        (lambda data: data[: len(data) // 2], "damaged"),
    ],
    ids=["no-iend", "cut-in-last-chunk", "flipped-bit-in-pixels", "half"],
)
def test_a_truncated_or_damaged_png_is_refused_even_when_its_rows_decode(damage, words):
    whole = photo_like_png((256, 256))
    renditions(whole)  # the undamaged file is taken in
    with pytest.raises(imaging.ImageError, match=words) as caught:
        renditions(damage(whole))
    assert caught.value.permanent
    with pytest.raises(imaging.ImageError):
        imaging.decode(damage(whole), max_pixels=BIG)
    with pytest.raises(imaging.ImageError, match=words):
        imaging.inspect(damage(whole), max_pixels=BIG)


def test_pillow_alone_would_take_a_png_cut_after_its_pixels():
    # Why the chunk walk exists: keep it for as long as this holds.
    opened(photo_png_cut_after_its_pixels())


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1392, 752), (480, 259)),
        ((752, 1392), (480, 889)),
        ((1024, 1024), (480, 480)),
        ((300, 200), (300, 200)),  # never enlarged
        ((400, 4000), (144, 1440)),  # tall ones stop at three times the width
    ],
)
def test_thumbnails_are_webp_at_the_tiles_width_keeping_the_ratio(size, expected):
    thumbnail = renditions(png_bytes(size=size)).thumbnail
    assert (thumbnail.width, thumbnail.height) == expected
    # What ingest records before the thumbnail is made: the same size.
    assert imaging.thumbnail_size(*size, 480) == expected
    image = opened(thumbnail.data)
    assert (image.format, image.size) == ("WEBP", expected)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        # Every size the API makes is below the display size: kept, but as WebP, since a
        # WebP at display quality is about a tenth of the PNG (measured: tests/bench/images.py).
        ((1392, 752), (1392, 752)),
        ((1024, 1024), (1024, 1024)),
        ((3200, 1800), (1600, 900)),
        ((1000, 3000), (533, 1600)),
    ],
)
def test_the_display_rendition_is_webp_within_the_display_size(size, expected):
    made = display(png_bytes(size=size))
    assert (made.width, made.height) == expected
    image = opened(made.data)
    assert (image.format, image.size) == ("WEBP", expected)


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_and_still_recorded_at_its_size():
    data = png_bytes(size=(4000, 3000), fmt="JPEG")
    made = renditions(data)
    assert (made.format, made.width, made.height) == ("JPEG", 4000, 3000)
    assert (made.thumbnail.width, made.thumbnail.height) == (480, 360)
    shown = display(data)
    assert (shown.width, shown.height) == (1600, 1200)


def test_photographs_get_thumbnails_of_at_most_30_kb_and_displays_a_tenth_of_the_png():
    for size in [(1024, 1024), (1392, 752)]:
        data = photo_like_png(size)
        assert len(data) > 1_000_000  # as large as the API's outputs
        made = renditions(data)
        assert len(made.thumbnail.data) <= 30 * 1024, (size, len(made.thumbnail.data))
        shown = display(data)
        assert len(shown.data) <= len(data) / 8, (size, len(shown.data))


def test_transparency_is_kept_in_the_renditions():
    buffer = io.BytesIO()
    Image.new("RGBA", (600, 400), (255, 0, 0, 128)).save(buffer, format="PNG")
    made = renditions(buffer.getvalue())
    assert opened(made.thumbnail.data).mode == "RGBA"
    assert opened(display(buffer.getvalue()).data).mode == "RGBA"


def test_the_placeholder_is_a_tiny_webp_with_the_average_colour():
    made = renditions(png_bytes(size=(300, 200)))
    assert made.placeholder.color == "#ffa500"  # orange
    data = base64.b64decode(made.placeholder.data_uri.removeprefix("data:image/webp;base64,"))
    assert max(opened(data).size) <= 16
