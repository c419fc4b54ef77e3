"""Safe download, decoding and thumbnails of output images."""

from __future__ import annotations

import io

import pytest
import requests
import responses
from PIL import Image

from generations import imaging

URL = "https://cdn.example.test/outputs/abc/0.png"


def png_bytes(size=(120, 80), fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "orange").save(buffer, format=fmt)
    return buffer.getvalue()


@responses.activate
def test_a_download_returns_the_body_without_the_api_key():
    responses.get(URL, body=png_bytes())
    data = imaging.download(URL, max_bytes=10_000_000, timeout=5)
    assert data.startswith(b"\x89PNG")
    assert "Authorization" not in responses.calls[0].request.headers


@responses.activate
def test_a_download_larger_than_the_cap_is_refused():
    responses.get(URL, body=b"x" * 5000)
    with pytest.raises(imaging.ImageError) as caught:
        imaging.download(URL, max_bytes=1000, timeout=5)
    assert caught.value.permanent
    assert "larger" in caught.value.message


@responses.activate
def test_a_declared_length_over_the_cap_is_refused_before_reading():
    responses.get(
        URL,
        body=b"x" * 10,
        headers={"Content-Length": "999999999"},
        auto_calculate_content_length=False,
    )
    with pytest.raises(imaging.ImageError, match="larger"):
        imaging.download(URL, max_bytes=1000, timeout=5)


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(404, True), (410, True), (403, True), (429, False), (500, False), (503, False)],
)
@responses.activate
def test_http_errors_say_whether_a_retry_can_help(status, permanent):
    responses.get(URL, status=status)
    with pytest.raises(imaging.ImageError) as caught:
        imaging.download(URL, max_bytes=1000, timeout=5)
    assert caught.value.permanent is permanent


@responses.activate
def test_a_network_failure_is_worth_a_retry():
    responses.get(URL, body=requests.exceptions.ConnectionError("reset"))
    with pytest.raises(imaging.ImageError) as caught:
        imaging.download(URL, max_bytes=1000, timeout=5)
    assert caught.value.permanent is False


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x/y.png", "javascript:alert(1)", ""])
def test_only_web_addresses_are_downloaded(url):
    with pytest.raises(imaging.ImageError, match="not a web address"):
        imaging.download(url, max_bytes=1000, timeout=5)


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
