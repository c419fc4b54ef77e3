"""Checking output images and making their smaller copies (`outbound` downloads them).

The files come from an outside service, so only PNG, JPEG and WebP are taken, and the pixel
count is checked before any pixel is decoded. Ingest checks a file without decoding its
pixels where the format allows (`inspect`: a PNG's chunks and their checksums) and stores it;
the thumbnail and placeholder come later, from one decode (`make_renditions`), as does the
display rendition (`make_display_rendition`).
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

from PIL import Image, ImageFilter, UnidentifiedImageError

# Pillow imports its format plugins on the first save; done here, when a worker loads the
# pipeline, rather than in front of the first image a person waits for.
Image.init()

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
TOO_MANY_PIXELS = "The image has more pixels than this server accepts."
# Pillow's words when a compressed PNG chunk (text, colour profile) would expand past its limit.
_CHUNK_BOMB = "decompressed data too large"

# Tall thumbnails stop at three times their width (settings.THUMBNAIL_WIDTH), past any aspect
# ratio the API makes.
THUMBNAIL_TALLEST = 3
# Small pictures served many times, at a quality where downscaled detail holds. Ingest's CPU
# is what limits hundreds of generations in flight on two cores: encoder method 2 costs half
# of method 4's time for files about 10 % larger (about 20 KB for a photograph).
THUMBNAIL_QUALITY = 75
THUMBNAIL_METHOD = 2
# A 3x3 sharpening, less than half of unsharp masking's time: the neighbours weigh -1/28 each,
# the pixel itself 32/28. After the box reduction and Lanczos it gives edges as crisp as
# Lanczos over every pixel of the original, for about 10 % more bytes than none.
THUMBNAIL_SHARPEN = ImageFilter.Kernel((3, 3), (0, -1, 0, -1, 32, -1, 0, -1, 0), scale=28)
# What pages and the lightbox show (settings.DISPLAY_SIZE): as WebP at this quality, about a
# tenth of a photograph's PNG. It is made when a page first asks for it, while a person waits:
# method 0 encodes in half of method 2's time for files about 5 % larger.
DISPLAY_QUALITY = 82
DISPLAY_METHOD = 0
# A JPEG or WebP that `inspect` decodes is decoded at no more than this size where the format
# allows (a JPEG's reduced-scale decode): every byte is still read, so damage still shows.
DRAFT_FOR_CHECK = 256


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


@dataclass(frozen=True)
class ImageInfo:
    """What ingest learns of a file it takes in: its format and size in pixels."""

    format: str
    width: int
    height: int


@dataclass(frozen=True)
class Rendition:
    """A smaller WebP copy of an output and its size in pixels."""

    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class Placeholder:
    data_uri: str
    color: str


@dataclass(frozen=True)
class Renditions:
    """What ingest stores beside an original, all made from its one decode."""

    format: str
    width: int
    height: int
    thumbnail: Rendition
    placeholder: Placeholder


def decode(data: bytes, *, max_pixels: int) -> DecodedImage:
    """Check that bytes are a whole PNG, JPEG or WebP image of a sane size."""
    with _decoded(data, max_pixels=max_pixels) as (_image, image_format, (width, height)):
        pass
    return DecodedImage(data=data, format=image_format, width=width, height=height)


def inspect(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Check that bytes are a whole PNG, JPEG or WebP image of a sane size, cheaply.

    A PNG, what the API sends, is checked without decoding a pixel: its header, and every
    chunk whole with its checksum right, up to IEND (a few hundred microseconds for 2 MB,
    against 20 ms for the decode). The pixels are decoded once, later, for the thumbnail;
    a JPEG or WebP, which have no such checksums, is decoded here (a JPEG at a reduced scale).
    """
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            width, height = image.size
            image_format = image.format or ""
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        # Whatever the header's trouble, the decode below names it as it always has.
        return _decoded_info(data, max_pixels=max_pixels)
    if width * height > max_pixels:
        raise ImageError(TOO_MANY_PIXELS, permanent=True)
    if image_format != "PNG":
        return _decoded_info(data, max_pixels=max_pixels)
    _check_png_chunks(data)
    return ImageInfo(format=image_format, width=width, height=height)


def _decoded_info(data: bytes, *, max_pixels: int) -> ImageInfo:
    with _decoded(data, max_pixels=max_pixels, draft_size=DRAFT_FOR_CHECK) as (_, fmt, size):
        return ImageInfo(format=fmt, width=size[0], height=size[1])


def thumbnail_size(width: int, height: int, thumbnail_width: int) -> tuple[int, int]:
    """The size in pixels of an image's thumbnail: the tile's width at most, keeping the
    ratio, never enlarged, and no taller than THUMBNAIL_TALLEST times the width."""
    box = (thumbnail_width, thumbnail_width * THUMBNAIL_TALLEST)
    scale = min(box[0] / width, box[1] / height)
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def make_renditions(data: bytes, *, max_pixels: int, thumbnail_width: int) -> Renditions:
    """Check an image and make its thumbnail and placeholder, from one decode.

    The display rendition is not made here: the first page view makes it
    (`renditions.display_file`), as it is an encode of every pixel that only a page needs.
    """
    box = (thumbnail_width, thumbnail_width * THUMBNAIL_TALLEST)
    with _decoded(data, max_pixels=max_pixels, draft_size=thumbnail_width) as (
        image,
        image_format,
        (width, height),
    ):
        pixels = _for_webp(image)
        size = thumbnail_size(width, height, thumbnail_width)
        reduced = _reduced_towards(pixels, box)
        thumbnail = (
            reduced
            if reduced.size == size
            else reduced.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        )
        if thumbnail.size != pixels.size:
            # What the box reduction softened, and lossy WebP at a thumbnail's quality would
            # soften more, a light sharpening gives back.
            thumbnail = thumbnail.filter(THUMBNAIL_SHARPEN)
        return Renditions(
            format=image_format,
            width=width,
            height=height,
            thumbnail=_webp(thumbnail, quality=THUMBNAIL_QUALITY, method=THUMBNAIL_METHOD),
            placeholder=make_placeholder(thumbnail),
        )


def make_display_rendition(data: bytes, *, max_pixels: int, display_size: int) -> Rendition:
    """The display rendition of an original: what pages and the lightbox show."""
    with _decoded(data, max_pixels=max_pixels, draft_size=display_size) as (image, _, _size):
        display = _fit(_for_webp(image), (display_size, display_size))
        return _webp(display, quality=DISPLAY_QUALITY, method=DISPLAY_METHOD)


def make_placeholder(image: Image.Image, *, size: int = 16, blur: float = 2.0) -> Placeholder:
    """A tiny blurred WebP as a data: URI, and the average colour, from decoded pixels.

    A few hundred bytes stored with the record: tiles show it while the thumbnail loads, and
    it hides what an image awaiting review shows (nothing can be recognised at this size).
    """
    small = _fit(image.convert("RGB"), (size, size), Image.Resampling.BOX)
    blurred = small.filter(ImageFilter.GaussianBlur(blur))
    # A pixel of an RGB image is a tuple of three; Pillow types any mode's pixel.
    pixel = cast(tuple[int, int, int], small.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0)))
    red, green, blue = pixel
    out = io.BytesIO()
    blurred.save(out, format="WEBP", quality=40)
    encoded = base64.b64encode(out.getvalue()).decode("ascii")
    return Placeholder(
        data_uri=f"data:image/webp;base64,{encoded}", color=f"#{red:02x}{green:02x}{blue:02x}"
    )


@contextmanager
def _decoded(
    data: bytes, *, max_pixels: int, draft_size: int | None = None
) -> Iterator[tuple[Image.Image, str, tuple[int, int]]]:
    """The image in `data` with every pixel decoded, once; its format and full size.

    The decode is the check: with Pillow's LOAD_TRUNCATED_IMAGES left off (its default), a
    truncated or corrupt JPEG or WebP fails it. A PNG's decode stops at its last row, so its
    chunks are checked too (whole, CRCs right, ending with IEND), which costs no decoding.
    """
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        width, height = image.size
        if width * height > max_pixels:
            image.close()
            raise ImageError(TOO_MANY_PIXELS, permanent=True)
        image_format = image.format or ""
        if image_format == "PNG":
            _check_png_chunks(data)
        elif image_format == "JPEG" and draft_size:
            # A JPEG far larger than the display rendition decodes at a reduced scale: every
            # byte of it is still read, so a damaged file still fails.
            image.draft("RGB", (draft_size, draft_size))
        image.load()
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
    with image:
        yield image, image_format, (width, height)


def _check_png_chunks(data: bytes) -> None:
    view = memoryview(data)
    position = len(PNG_SIGNATURE)
    while True:
        if position + 12 > len(data):
            raise ImageError(
                "The image file is damaged (it ends before its IEND chunk).", permanent=True
            )
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if end > len(data):
            raise ImageError("The image file is damaged (it ends inside a chunk).", permanent=True)
        (expected,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(view[position + 4 : end - 4]) != expected:
            name = kind.decode("latin-1", "replace")
            raise ImageError(
                f"The image file is damaged (a {name} chunk fails its checksum).", permanent=True
            )
        if kind == b"IEND":
            return
        position = end


def _for_webp(image: Image.Image) -> Image.Image:
    """The decoded pixels as RGB, or RGBA where the image has transparency; no copy if so."""
    has_alpha = image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info
    mode = "RGBA" if has_alpha else "RGB"
    return image if image.mode == mode else image.convert(mode)


def _fit(
    image: Image.Image,
    box: tuple[int, int],
    resample: Image.Resampling = Image.Resampling.LANCZOS,
) -> Image.Image:
    """The image scaled down to fit in `box`, keeping its ratio; never scaled up."""
    width, height = image.size
    scale = min(box[0] / width, box[1] / height)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # reducing_gap: a cheap integer reduction first, then the filter over a few pixels only.
    return image.resize(size, resample, reducing_gap=3.0)


def _reduced_towards(image: Image.Image, box: tuple[int, int]) -> Image.Image:
    """The image reduced by a whole factor (a box average) to no less than what fits `box`.

    For a thumbnail of a third of the original's width, Lanczos then works on a third as many
    pixels: half the time of Lanczos over the whole original, and the sharpening after it
    keeps the edges.
    """
    width, height = image.size
    factor = int(max(width / box[0], height / box[1]))  # the fit's scale is its inverse
    return image.reduce(factor) if factor >= 2 else image


def _webp(image: Image.Image, *, quality: int, method: int) -> Rendition:
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=quality, method=method)
    return Rendition(data=out.getvalue(), width=image.width, height=image.height)


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
