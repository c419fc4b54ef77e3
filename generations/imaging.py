"""Decoding and thumbnails of output images (`outbound` downloads them).

The files come from an outside service, so only PNG, JPEG and WebP are decoded, and the pixel
count is checked before any pixel is decoded.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from dataclasses import dataclass, field
from typing import cast

from PIL import Image, ImageFilter, UnidentifiedImageError

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
TOO_MANY_PIXELS = "The image has more pixels than this server accepts."
# Pillow's words when a compressed PNG chunk (text, colour profile) would expand past its limit.
_CHUNK_BOMB = "decompressed data too large"


class ImageError(Exception):
    """An output image could not be taken in; `permanent` says whether a retry can help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class DecodedImage:
    data: bytes
    format: str
    width: int
    height: int
    # The decoded pixels, so a thumbnail need not decode the file a second time.
    pixels: Image.Image | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    width: int
    height: int


def decode(data: bytes, *, max_pixels: int) -> DecodedImage:
    """Check that bytes are a whole PNG, JPEG or WebP image of a sane size."""
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(TOO_MANY_PIXELS, permanent=True)
            image_format = image.format or ""
            image.load()  # decodes every pixel: a truncated or corrupt file fails here
            pixels = image.copy()  # outlives the file, which the `with` closes
    except ImageError:
        raise
    except Image.DecompressionBombError:
        # Pillow's own ceiling, met before ours when a header claims billions of pixels.
        raise ImageError(TOO_MANY_PIXELS, permanent=True) from None
    except UnidentifiedImageError:
        raise ImageError(
            "The API's answer is not a PNG, JPEG or WebP image.", permanent=True
        ) from None
    except ValueError as error:
        if _CHUNK_BOMB in str(error).lower():
            raise ImageError(
                "The image holds compressed data that expands past what this server accepts.",
                permanent=True,
            ) from None
        raise ImageError(f"The image file is damaged ({error}).", permanent=True) from None
    except (OSError, SyntaxError) as error:
        raise ImageError(f"The image file is damaged ({error}).", permanent=True) from None
    return DecodedImage(data=data, format=image_format, width=width, height=height, pixels=pixels)


def make_thumbnail(data: bytes | DecodedImage, *, max_size: int) -> Thumbnail:
    """A WebP thumbnail that fits in a max_size square, keeping the aspect ratio.

    From a `DecodedImage`, its pixels are used as they are (no second decode).
    """
    if isinstance(data, DecodedImage) and data.pixels is not None:
        return _thumbnail_of(data.pixels, max_size)
    raw = data.data if isinstance(data, DecodedImage) else data
    with Image.open(io.BytesIO(raw), formats=ALLOWED_FORMATS) as source:
        source.draft("RGB", (max_size, max_size))  # lets JPEG decode at a reduced scale
        return _thumbnail_of(source, max_size)


def _thumbnail_of(source: Image.Image, max_size: int) -> Thumbnail:
    image = source.convert("RGBA" if source.mode in {"RGBA", "LA", "P"} else "RGB")
    # reducing_gap: an integer box reduce first (properly averaged), then Lanczos over what
    # is left: a fraction of the time of Lanczos over the whole image, for a small preview.
    image.thumbnail((max_size, max_size), Image.Resampling.LANCZOS, reducing_gap=1.0)
    out = io.BytesIO()
    # method 2: within 3% of method 4's size, in half its time (the encoder is most of it).
    image.save(out, format="WEBP", quality=82, method=2)
    return Thumbnail(data=out.getvalue(), width=image.width, height=image.height)


@dataclass(frozen=True)
class Placeholder:
    data_uri: str
    color: str


def make_placeholder(data: bytes, *, size: int = 16, blur: float = 2.0) -> Placeholder:
    """A tiny blurred WebP as a data: URI, and the average colour, from a decoded image.

    A few hundred bytes stored with the record: tiles show it while the thumbnail loads, and
    it hides what an image awaiting review shows (nothing can be recognised at this size).
    """
    with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
        image.draft("RGB", (size * 4, size * 4))
        small = image.convert("RGB")
        small.thumbnail((size, size), Image.Resampling.BOX)
        blurred = small.filter(ImageFilter.GaussianBlur(blur))
        # A pixel of an RGB image is a tuple of three; Pillow types any mode's pixel.
        pixel = cast(
            tuple[int, int, int], small.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
        )
        red, green, blue = pixel
        out = io.BytesIO()
        blurred.save(out, format="WEBP", quality=40)
    encoded = base64.b64encode(out.getvalue()).decode("ascii")
    return Placeholder(
        data_uri=f"data:image/webp;base64,{encoded}", color=f"#{red:02x}{green:02x}{blue:02x}"
    )


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def add_png_text(data: bytes, texts: dict[str, str]) -> bytes:
    """Insert UTF-8 text chunks (iTXt) into a PNG before IEND, leaving its pixels untouched.

    Re-encoding through Pillow would take longer than the download and change nothing else;
    a chunk is length, type, body and CRC, so it is inserted as it is.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    end = data.rfind(b"IEND")
    if end < len(PNG_SIGNATURE) + 4:
        raise ValueError("a PNG file without its IEND chunk")
    chunks = b"".join(_itxt_chunk(key, value) for key, value in texts.items())
    cut = end - 4  # the IEND chunk starts with its 4-byte length
    return data[:cut] + chunks + data[cut:]


def _itxt_chunk(keyword: str, text: str) -> bytes:
    # keyword, NUL, compression flag 0, method 0, empty language tag NUL, empty translated
    # keyword NUL, then the UTF-8 text.
    body = keyword.encode("latin-1")[:79] + b"\0\0\0\0\0" + text.encode("utf-8")
    kind = b"iTXt"
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
