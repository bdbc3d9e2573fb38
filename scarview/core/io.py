"""Read photos and ground-truth masks safely.

Everything ScarView knows about a photo file starts here. A file is read once,
as bytes, in read-only mode; those bytes give the SHA-256 identity, the header
and EXIF (parsed lazily with Pillow, no pixel decoding) and the pixels (decoded
from memory, so non-ASCII paths work on every platform).

Decoding
--------
JPEG, PNG, TIFF, WebP and BMP are decoded by OpenCV (libjpeg-turbo, libpng,
libtiff, libwebp); HEIC/HEIF by Pillow through pillow-heif; CMYK images by
Pillow's CMYK to RGB conversion; Pillow also takes over when OpenCV cannot
decode a variant it does not know. Whatever the file holds, the result is an
RGB ``uint8`` array of shape (H, W, 3):

- greyscale is repeated on three channels; palettes are expanded;
- 16-bit samples are scaled to 8 bits with rounding (``round(v * 255 / 65535)``);
- **transparency is composited onto white** (what an image viewer shows on a
  white page); fully opaque pixels are unchanged;
- the EXIF orientation (1 to 8) is applied, so pixel coordinates are what a
  person sees. HEIF stores its rotation in the container and libheif applies
  it, as libtiff-based decoders do for TIFF; :attr:`PhotoInfo.orientation`
  reports the orientation that was applied either way.

Refusals
--------
Every file that cannot be used raises :class:`scarview.errors.PhotoError`,
whose message is one sentence naming the file: missing, a folder, empty,
text, an unsupported format (GIF, PDF, SVG, AVIF, camera RAW...), truncated
(a JPEG without its end-of-image marker, a PNG without its ``IEND`` chunk),
damaged, or declaring more than ``max_pixels`` pixels (refused from the header,
before any decoding). No Pillow or OpenCV exception or warning escapes.

Pillow's warnings are silenced around its calls with
:func:`warnings.catch_warnings`, which changes process-wide state; a module
lock keeps concurrent readers in this module from interleaving those changes.
Pillow refuses on its own any image above ``2 * PIL.Image.MAX_IMAGE_PIXELS``
(about 179 million pixels); a ``max_pixels`` above that also needs
``PIL.Image.MAX_IMAGE_PIXELS`` raised by the application.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import stat
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from scarview.core.types import Photo, PhotoInfo
from scarview.errors import PhotoError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "PHOTO_SUFFIXES",
    "PathClass",
    "classify_path",
    "read_mask",
    "read_photo",
    "read_photo_info",
    "sha256_file",
]

#: Largest photo read by default, in pixels (width x height): 120 megapixels.
DEFAULT_MAX_PIXELS = 120_000_000

#: File-name suffixes (lower case) of the photo formats ScarView reads.
PHOTO_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".webp", ".bmp"}
    | {".heic", ".heif", ".hif"}
)

#: What :func:`classify_path` says a file is.
PathClass = Literal["photo", "mask", "ignore"]

_MASK_SUFFIX = ".mask.png"
_SYSTEM_FILES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini"})
_RAW_SUFFIXES = frozenset(
    {".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf", ".rw2"}
    | {".raf", ".pef", ".srw", ".raw", ".3fr", ".iiq", ".erf", ".kdc", ".mos", ".x3f"}
)
_SUPPORTED_TEXT = "JPEG, PNG, TIFF, WebP, BMP or HEIC"
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_HEVC_BRANDS = _HEIF_BRANDS - {b"mif1", b"msf1"}
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
# Extra bytes a file may hold beyond its pixels (metadata, thumbnails, pages).
_FILE_SLACK_BYTES = 64 * 1024 * 1024
# Up to 8 bytes per pixel (16-bit RGBA, uncompressed) plus metadata.
_MAX_BYTES_PER_PIXEL = 8
_SNIFF_BYTES = 1024

_EXIF_ORIENTATION = 0x0112
_EXIF_MAKE = 0x010F
_EXIF_MODEL = 0x0110
_EXIF_DATETIME = 0x0132
_EXIF_IFD = 0x8769
_EXIF_DATETIME_ORIGINAL = 0x9003
_TIFF_IMAGE_WIDTH = 256
_TIFF_IMAGE_LENGTH = 257
_TIFF_BITS_PER_SAMPLE = 258
_TIFF_SAMPLE_FORMAT = 339
_TIFF_DNG_VERSION = 50706

_JPEG_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB} | {0xCD, 0xCE, 0xCF}
)

_DATETIME_RE = re.compile(r"(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")

_PIL_LOCK = threading.Lock()

#: OpenCV >= 4.11 can decode straight to RGB; older versions decode BGR and convert.
_IMREAD_COLOR_RGB: int | None = getattr(cv2, "IMREAD_COLOR_RGB", None)

#: Decoded samples before conversion to 8 bits.
_Samples = NDArray[Any]


# --------------------------------------------------------------------------- public API


def sha256_file(path: str | Path) -> str:
    """Return the hex SHA-256 of a file's bytes, reading it in chunks.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    str
        64 lower-case hex digits.

    Raises
    ------
    PhotoError
        If the file is missing, a folder or cannot be opened.
    """
    _check_regular_file(path)
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as f:
            for chunk in iter(functools.partial(f.read, 1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise PhotoError(path, _os_error_reason(exc)) from None
    return digest.hexdigest()


def read_photo_info(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> PhotoInfo:
    """Read a photo's header, EXIF and SHA-256 without decoding its pixels.

    Refuses everything :func:`read_photo` would refuse that can be seen without
    decoding: a missing, empty, text, unsupported, truncated or too large file.

    Parameters
    ----------
    path : str or Path
        The photo file; any format of :data:`PHOTO_SUFFIXES`, recognised by content.
    max_pixels : int, optional
        Largest accepted ``width * height`` in pixels (default 120 million).

    Returns
    -------
    PhotoInfo
        Width and height after EXIF orientation, capture date, camera, format,
        bit depth and the SHA-256 of the file.

    Raises
    ------
    PhotoError
        With one sentence naming the file and what is wrong.
    """
    data = _read_bytes(path, max_pixels)
    header = _inspect(path, data, max_pixels)
    header.image.close()
    return header.info


def read_photo(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Read a photo as RGB pixels with its EXIF orientation applied.

    Parameters
    ----------
    path : str or Path
        The photo file (JPEG, PNG, TIFF 8 or 16 bit, WebP, BMP, HEIC/HEIF),
        recognised by content, not by name. It is opened read-only, read once
        and never modified.
    max_pixels : int, optional
        Largest accepted ``width * height`` in pixels (default 120 million);
        larger images are refused from their header, before decoding.

    Returns
    -------
    Photo
        ``rgb``: ndarray of shape (H, W, 3) and dtype uint8, RGB, C-contiguous,
        as a person sees the photo (orientation applied, 16-bit scaled to 8,
        transparency composited onto white). ``info``: see :func:`read_photo_info`.

    Raises
    ------
    PhotoError
        With one sentence naming the file and what is wrong.
    """
    data = _read_bytes(path, max_pixels)
    header = _inspect(path, data, max_pixels)
    try:
        rgb = _decode(path, data, header)
    finally:
        header.image.close()
    rgb = _apply_orientation(rgb, header.orientation_to_apply)
    info = header.info
    if rgb.shape[:2] != (info.height, info.width):
        raise PhotoError(
            path,
            f"its pixels ({rgb.shape[1]} x {rgb.shape[0]}) do not match its header "
            f"({info.width} x {info.height})",
        )
    return Photo(rgb=np.ascontiguousarray(rgb), info=info)


def classify_path(path: str | Path) -> PathClass:
    """Say by its name alone what import and batch should do with a file.

    Parameters
    ----------
    path : str or Path
        A file name or path; the file system is not touched.

    Returns
    -------
    {"photo", "mask", "ignore"}
        ``"mask"`` for ``*.mask.png`` (ground-truth masks); ``"photo"`` for a
        suffix in :data:`PHOTO_SUFFIXES` (whose content is then read and
        reported if unreadable); ``"ignore"`` for hidden files (``.DS_Store``,
        ``._IMG_1.jpg``), system files (``Thumbs.db``, ``desktop.ini``) and any
        other suffix (``.json``, ``.txt``, ``.csv``, ``.md``...).
    """
    name = Path(path).name
    lower = name.lower()
    if not name or name.startswith(".") or lower in _SYSTEM_FILES:
        return "ignore"
    if lower.endswith(_MASK_SUFFIX) and len(lower) > len(_MASK_SUFFIX):
        return "mask"
    return "photo" if Path(lower).suffix in PHOTO_SUFFIXES else "ignore"


def read_mask(path: str | Path, *, shape: tuple[int, int] | None = None) -> NDArray[np.bool_]:
    """Read a ground-truth mask PNG (``*.mask.png``).

    Parameters
    ----------
    path : str or Path
        An 8-bit greyscale PNG (1, 2 and 4-bit greyscale and grey palettes are
        accepted too; colour images whose three channels are equal as well),
        in the photo's oriented pixel frame. Values above 127 are inside.
    shape : tuple of int, optional
        Expected ``(H, W)`` in pixels, e.g. ``photo.rgb.shape[:2]``.

    Returns
    -------
    ndarray of shape (H, W) and dtype bool
        True inside the marked scars.

    Raises
    ------
    PhotoError
        If the file is not a readable 8-bit greyscale PNG or its size is not ``shape``.
    """
    data = _read_bytes(path, DEFAULT_MAX_PIXELS)
    kind = _sniff(path, data)
    if kind != "PNG":
        raise PhotoError(path, "a ground-truth mask must be a PNG image")
    png = _parse_png(path, data)
    _check_pixels(path, png.width, png.height, DEFAULT_MAX_PIXELS)
    if png.bit_depth == 16:
        raise PhotoError(path, "the mask is 16-bit; masks must be 8-bit greyscale PNGs")
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        arr = None
    if arr is None:
        raise PhotoError(path, "the PNG data is damaged and could not be decoded")
    if arr.ndim == 3:
        colour = arr[..., :3]
        if not (
            np.array_equal(colour[..., 0], colour[..., 1])
            and np.array_equal(colour[..., 0], colour[..., 2])
        ):
            raise PhotoError(path, "the mask is in colour; masks must be greyscale")
        arr = colour[..., 0]
    if shape is not None and arr.shape != tuple(shape):
        raise PhotoError(
            path,
            f"the mask is {arr.shape[1]} x {arr.shape[0]} pixels but the photo is "
            f"{shape[1]} x {shape[0]}",
        )
    return np.ascontiguousarray(arr > 127)


# --------------------------------------------------------------------------- reading bytes


def _os_error_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "the file does not exist"
    if isinstance(exc, IsADirectoryError):
        return "it is a folder, not a file"
    if isinstance(exc, PermissionError):
        return "permission to read it was denied"
    detail = (exc.strerror or type(exc).__name__).rstrip(".")
    return f"the file could not be opened ({detail})"


def _check_regular_file(path: str | Path) -> os.stat_result:
    try:
        st = Path(path).stat()
    except OSError as exc:
        raise PhotoError(path, _os_error_reason(exc)) from None
    except ValueError:  # e.g. an embedded NUL character in the name
        raise PhotoError(path, "the file name is not valid") from None
    if stat.S_ISDIR(st.st_mode):
        raise PhotoError(path, "it is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise PhotoError(path, "it is not a regular file")
    return st


def _read_bytes(path: str | Path, max_pixels: int) -> bytes:
    """Return the whole file, refusing from its first bytes what cannot be a photo."""
    st = _check_regular_file(path)
    if st.st_size == 0:
        raise PhotoError(path, "the file is empty")
    try:
        # Unbuffered: readall() sizes one buffer from fstat, so the bytes are copied once.
        with Path(path).open("rb", buffering=0) as f:
            head = f.read(_SNIFF_BYTES)
            if not head:
                raise PhotoError(path, "the file is empty")
            _sniff(path, head)
            max_bytes = _MAX_BYTES_PER_PIXEL * max_pixels + _FILE_SLACK_BYTES
            if st.st_size > max_bytes:
                raise PhotoError(
                    path,
                    f"the file is {st.st_size / 1e6:.0f} MB, too large for a photo of at "
                    f"most {max_pixels / 1e6:g} million pixels",
                )
            f.seek(0)
            data = f.readall()
    except OSError as exc:
        raise PhotoError(path, _os_error_reason(exc)) from None
    if not data:
        raise PhotoError(path, "the file is empty")
    return data


def _sniff(path: str | Path, head: bytes) -> str:
    """Return the supported format the first bytes announce, or refuse the file."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        if head[8:10] == b"CR" or _has_raw_suffix(path):
            raise PhotoError(path, _raw_reason())
        return "TIFF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM") and len(head) >= 26:
        return "BMP"
    if head[4:8] == b"ftyp":
        return _sniff_iso_media(path, head)
    raise PhotoError(path, _unsupported_reason(head))


def _sniff_iso_media(path: str | Path, head: bytes) -> str:
    box_size = int.from_bytes(head[:4], "big")
    end = min(len(head), max(box_size, 16))
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}
    if brands & _HEVC_BRANDS or (head[8:12] in _HEIF_BRANDS and not brands & _AVIF_BRANDS):
        return "HEIF"
    if brands & _AVIF_BRANDS:
        raise PhotoError(path, _format_reason("an AVIF image"))
    if b"crx " in brands:
        raise PhotoError(path, _raw_reason())
    raise PhotoError(path, "it is a video or other media file, not a photo")


def _has_raw_suffix(path: str | Path) -> bool:
    return Path(path).suffix.lower() in _RAW_SUFFIXES


def _raw_reason() -> str:
    return "it is a camera RAW file, which ScarView does not read (export it as JPEG or TIFF)"


def _format_reason(what: str) -> str:
    return f"it is {what}, which ScarView does not read (use {_SUPPORTED_TEXT})"


def _unsupported_reason(head: bytes) -> str:
    named = {
        b"GIF87a": "a GIF image",
        b"GIF89a": "a GIF image",
        b"\x00\x00\x00\x0cjP  ": "a JPEG 2000 image",
        b"\xff\x4f\xff\x51": "a JPEG 2000 image",
        b"\xff\x0a": "a JPEG XL image",
        b"\x00\x00\x00\x0cJXL ": "a JPEG XL image",
        b"8BPS": "a Photoshop document",
        b"qoif": "a QOI image",
        b"\x00\x00\x01\x00": "an icon file",
    }
    for magic, what in named.items():
        if head.startswith(magic):
            return _format_reason(what)
    if head.startswith(b"%PDF"):
        return "it is a PDF document, not a photo"
    if head.startswith(b"PK\x03\x04"):
        return "it is a ZIP archive or office document, not a photo"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith((b"<svg", b"<?xml", b"<!doctype svg")) and b"<svg" in stripped:
        return "it is an SVG drawing, not a photo"
    if _looks_like_text(head):
        return "it is a text file, not a photo"
    return f"it is not a photo in a format ScarView reads ({_SUPPORTED_TEXT})"


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    controls = sum(1 for b in head if b < 0x20 and b not in b"\t\n\r\f\b")
    return controls == 0


# --------------------------------------------------------------------------- header and EXIF


@dataclass(frozen=True)
class _PngHeader:
    width: int
    height: int
    bit_depth: int
    exif: bytes | None


@dataclass(frozen=True, eq=False)
class _Header:
    """What the header says, plus the lazily opened Pillow image."""

    info: PhotoInfo
    image: Image.Image
    kind: str
    orientation_to_apply: int
    stored_bit_depth: int


@contextmanager
def _quiet_pillow() -> Iterator[None]:
    """Silence Pillow's warnings (decompression bomb, odd EXIF) for one call."""
    with _PIL_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@functools.cache
def _register_heif() -> None:
    """Teach Pillow to open HEIC/HEIF through pillow-heif, once per process."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def _inspect(path: str | Path, data: bytes, max_pixels: int) -> _Header:
    """Parse the header and EXIF of ``data`` and apply every check that needs no decoding."""
    kind = _sniff(path, data[:_SNIFF_BYTES])
    png: _PngHeader | None = None
    if kind == "PNG":
        png = _parse_png(path, data)
        _check_pixels(path, png.width, png.height, max_pixels)
    elif kind == "JPEG":
        size, complete = _scan_jpeg(data)
        if size is not None:
            _check_pixels(path, size[0], size[1], max_pixels)
        if not complete:
            raise PhotoError(
                path, "the file is truncated (the JPEG data ends before its end marker)"
            )
    if kind == "HEIF":
        try:
            _register_heif()
        except ImportError:
            raise PhotoError(path, "reading HEIC photos needs the pillow-heif package") from None
    with _quiet_pillow():
        try:
            image = Image.open(io.BytesIO(data), formats=[kind])
        except Image.DecompressionBombError:
            limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
            raise PhotoError(
                path,
                f"it declares more than {limit / 1e6:.0f} million pixels, "
                "so it was refused as a possible decompression bomb",
            ) from None
        except Exception:
            raise PhotoError(path, _damaged_reason(kind)) from None
        try:
            width, height = image.size
            _check_pixels(path, width, height, max_pixels)
            if width <= 0 or height <= 0:
                raise PhotoError(path, "its header declares an empty image")
            if kind == "TIFF":
                _check_tiff(path, image)
            stored_bits = _stored_bit_depth(kind, image, png)
            exif = _read_exif(image, png)
        except BaseException:
            image.close()
            raise
    orientation = _orientation(exif)
    to_apply = orientation
    if kind == "HEIF":
        # libheif applies the container's rotation and resets EXIF to 1; Pillow's size
        # is already the displayed one.
        to_apply = 1
        original = image.info.get("original_orientation")
        orientation = original if isinstance(original, int) and 1 <= original <= 8 else 1
    elif kind == "TIFF":
        # OpenCV's TIFF decoder orients the pixels itself, even with
        # IMREAD_IGNORE_ORIENTATION (and recent Pillow does too, see _decode_with_pillow);
        # size from the stored dimensions, whatever Pillow's version reports.
        to_apply = 1
        tags = getattr(image, "tag_v2", {})
        width = int(tags.get(_TIFF_IMAGE_WIDTH, width))
        height = int(tags.get(_TIFF_IMAGE_LENGTH, height))
        if orientation >= 5:
            width, height = height, width
    elif to_apply >= 5:
        width, height = height, width
    fmt = "JPEG" if image.format == "MPO" else (image.format or kind)
    info = PhotoInfo(
        path=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        width=int(width),
        height=int(height),
        captured_at=_captured_at(exif),
        camera_model=_camera_model(exif),
        orientation=orientation,
        format=fmt,
        bit_depth=16 if stored_bits > 8 else 8,
    )
    return _Header(
        info=info,
        image=image,
        kind=kind,
        orientation_to_apply=to_apply,
        stored_bit_depth=stored_bits,
    )


def _check_pixels(path: str | Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise PhotoError(
            path,
            f"it declares {width} x {height} pixels, more than the "
            f"{max_pixels / 1e6:g} million allowed",
        )


def _damaged_reason(kind: str) -> str:
    name = {"WEBP": "WebP", "HEIF": "HEIC"}.get(kind, kind)
    return f"the {name} data is damaged or incomplete and could not be decoded"


def _scan_jpeg(data: bytes) -> tuple[tuple[int, int] | None, bool]:
    """Return the frame's ``(width, height)`` and whether the main image is complete.

    Walks the marker segments from SOI to the first SOS, reading the size from
    the SOF segment, then looks for the EOI marker ``FF D9`` after the SOS (it
    cannot occur inside entropy-coded data). Data appended after the EOI (maker
    trailers, MPF images) is allowed.
    """
    size: tuple[int, int] | None = None
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            # Stray bytes between segments (libjpeg skips them): fall back to any EOI
            # after the first start-of-scan.
            sos = data.find(b"\xff\xda", pos)
            return size, sos != -1 and data.rfind(b"\xff\xd9", sos) != -1
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:
            return size, False
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _JPEG_SOF_MARKERS and size is None and pos + 9 <= n:
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            size = (width, height)
        if marker == 0xDA:
            # Searched from the end: the marker is there in a complete file.
            return size, data.rfind(b"\xff\xd9", pos + 2 + length) != -1
        pos += 2 + length
    return size, False


def _parse_png(path: str | Path, data: bytes) -> _PngHeader:
    """Walk the PNG chunks: size and depth from IHDR, the eXIf chunk, IEND present."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise PhotoError(path, _damaged_reason("PNG"))
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    bit_depth = data[24]
    exif: bytes | None = None
    pos, n = 8, len(data)
    while pos + 8 <= n:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if kind == b"eXIf" and end <= n and exif is None:
            exif = data[pos + 8 : pos + 8 + length]
        elif kind == b"IEND":
            return _PngHeader(width, height, bit_depth, exif)
        pos = end
    raise PhotoError(path, "the file is truncated (the PNG data ends before its IEND chunk)")


def _check_tiff(path: str | Path, image: Image.Image) -> None:
    tags = getattr(image, "tag_v2", {})
    if _TIFF_DNG_VERSION in tags:
        raise PhotoError(path, _raw_reason())
    formats = tags.get(_TIFF_SAMPLE_FORMAT, 1)
    formats = formats if isinstance(formats, tuple) else (formats,)
    if any(f == 3 for f in formats):
        raise PhotoError(path, _format_reason("a floating-point TIFF"))
    bits = tags.get(_TIFF_BITS_PER_SAMPLE, 8)
    bits = bits if isinstance(bits, tuple) else (bits,)
    if any(int(b) > 16 for b in bits):
        raise PhotoError(path, _format_reason(f"a {max(int(b) for b in bits)}-bit TIFF"))


def _stored_bit_depth(kind: str, image: Image.Image, png: _PngHeader | None) -> int:
    if png is not None:
        return 16 if png.bit_depth == 16 else 8
    if kind == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(_TIFF_BITS_PER_SAMPLE, 8)
        bits = bits if isinstance(bits, tuple) else (bits,)
        return max(int(b) for b in bits) if bits else 8
    if kind == "HEIF":
        depth = image.info.get("bit_depth", 8)
        return int(depth) if isinstance(depth, int) else 8
    if image.mode.startswith("I;16"):
        return 16
    return 8


def _read_exif(image: Image.Image, png: _PngHeader | None) -> Image.Exif:
    """Return the EXIF tags, or an empty set when there are none or they are corrupt."""
    try:
        if png is not None:
            # PngImageFile.getexif() decodes the pixels when eXIf is not before IDAT.
            exif = Image.Exif()
            if png.exif:
                exif.load(png.exif)
            return exif
        return image.getexif()
    except Exception:
        return Image.Exif()


def _orientation(exif: Image.Exif) -> int:
    value = exif.get(_EXIF_ORIENTATION, 1)
    try:
        value = int(value)
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def _exif_text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = " ".join(value.replace("\x00", " ").split())
    return text or None


def _captured_at(exif: Image.Exif) -> datetime | None:
    try:
        candidates = [exif.get_ifd(_EXIF_IFD).get(_EXIF_DATETIME_ORIGINAL)]
    except Exception:
        candidates = []
    candidates.append(exif.get(_EXIF_DATETIME))
    for value in candidates:
        text = _exif_text(value)
        match = _DATETIME_RE.search(text) if text else None
        if match is None:
            continue
        try:
            year, month, day, hour, minute, second = (int(g) for g in match.groups())
            return datetime(year, month, day, hour, minute, second)
        except ValueError:  # e.g. "0000:00:00 00:00:00"
            continue
    return None


def _camera_model(exif: Image.Exif) -> str | None:
    make = _exif_text(exif.get(_EXIF_MAKE))
    model = _exif_text(exif.get(_EXIF_MODEL))
    if make and model:
        if model.lower().startswith(make.split()[0].lower()):
            return model
        return f"{make} {model}"
    return model or make


# --------------------------------------------------------------------------- decoding


def _decode(path: str | Path, data: bytes, header: _Header) -> NDArray[np.uint8]:
    """Decode to RGB uint8 in the stored (not yet oriented) frame."""
    image = header.image
    has_alpha = "A" in image.mode or "a" in image.mode or "transparency" in image.info
    if header.kind == "HEIF" or image.mode == "CMYK" or (header.kind == "TIFF" and has_alpha):
        # OpenCV reads TIFF alpha through libtiff's RGBA interface, which premultiplies it.
        return _decode_with_pillow(path, data, header)
    buffer = np.frombuffer(data, np.uint8)
    try:
        if header.kind == "JPEG" and _IMREAD_COLOR_RGB is not None:
            # libjpeg-turbo writes RGB directly: no conversion pass.
            rgb = cv2.imdecode(buffer, _IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
            if rgb is not None:
                return np.asarray(rgb, dtype=np.uint8)
        else:
            # IMREAD_COLOR_RGB with 16-bit TIFF mixes channels in OpenCV 5.0.0: stay in BGR.
            flags = cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_ANYDEPTH
            flags = cv2.IMREAD_UNCHANGED if has_alpha else flags | cv2.IMREAD_COLOR
            pixels = cv2.imdecode(buffer, flags)
            if pixels is not None and pixels.dtype in (np.uint8, np.uint16):
                return _bgr_to_rgb8(pixels)
    except cv2.error:
        pass
    return _decode_with_pillow(path, data, header)


def _to_uint8(pixels: _Samples) -> NDArray[np.uint8]:
    """Scale uint16 samples to uint8 with rounding; pass uint8 through."""
    if pixels.dtype == np.uint16:
        return np.asarray(cv2.convertScaleAbs(pixels, alpha=255.0 / 65535.0), dtype=np.uint8)
    return np.asarray(pixels, dtype=np.uint8)


def _composite_on_white(rgb: _Samples, alpha: _Samples) -> NDArray[np.uint8]:
    """Blend (H, W, 3) colour over white with (H, W) alpha of the same dtype; return uint8."""
    full = 65535.0 if rgb.dtype == np.uint16 else 255.0
    a = alpha.astype(np.float32)[..., None] / full
    out = rgb.astype(np.float32) * a + full * (1.0 - a)
    out *= 255.0 / full
    return np.asarray(np.clip(np.rint(out), 0, 255), dtype=np.uint8)


def _bgr_to_rgb8(pixels: _Samples) -> NDArray[np.uint8]:
    """OpenCV's decoded (H, W), (H, W, 3) BGR or (H, W, 4) BGRA, 8 or 16 bit, to RGB uint8."""
    if pixels.ndim == 2:
        return np.asarray(cv2.cvtColor(_to_uint8(pixels), cv2.COLOR_GRAY2RGB), dtype=np.uint8)
    channels = pixels.shape[2]
    if channels == 4:
        return _composite_on_white(pixels[..., 2::-1], pixels[..., 3])
    if channels == 2:
        grey = np.repeat(pixels[..., :1], 3, axis=2)
        return _composite_on_white(grey, pixels[..., 1])
    rgb = _to_uint8(pixels[..., :3])
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB, dst=rgb), dtype=np.uint8)


def _decode_with_pillow(path: str | Path, data: bytes, header: _Header) -> NDArray[np.uint8]:
    image = header.image
    with _quiet_pillow():
        try:
            image.load()
            rgb = _pillow_pixels_to_rgb8(image, header)
            tags = getattr(image, "tag_v2", None)
            if header.kind == "TIFF" and tags is not None and _EXIF_ORIENTATION in tags:
                # Pillow versions that do not orient TIFF on load keep the tag.
                rgb = _apply_orientation(rgb, header.info.orientation)
            return rgb
        except MemoryError:
            raise PhotoError(path, "there is not enough memory to decode it") from None
        except Exception:
            raise PhotoError(path, _damaged_reason(header.kind)) from None


def _pillow_pixels_to_rgb8(image: Image.Image, header: _Header) -> NDArray[np.uint8]:
    """A loaded Pillow image of any mode as (H, W, 3) RGB uint8, alpha over white."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        deep = header.stored_bit_depth > 8
        grey = np.clip(np.asarray(image), 0, 65535 if deep else 255)
        return _bgr_to_rgb8(grey.astype(np.uint16 if deep else np.uint8))
    if "A" in mode or "a" in mode or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"))
        return _composite_on_white(rgba[..., :3], rgba[..., 3])
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _apply_orientation(rgb: NDArray[np.uint8], orientation: int) -> NDArray[np.uint8]:
    """Turn stored pixels into what a person sees, for EXIF orientation 1 to 8."""
    if orientation == 2:
        out = cv2.flip(rgb, 1)
    elif orientation == 3:
        out = cv2.rotate(rgb, cv2.ROTATE_180)
    elif orientation == 4:
        out = cv2.flip(rgb, 0)
    elif orientation == 5:
        out = cv2.transpose(rgb)
    elif orientation == 6:
        out = cv2.rotate(rgb, cv2.ROTATE_90_CLOCKWISE)
    elif orientation == 7:
        out = cv2.flip(cv2.transpose(rgb), -1)
    elif orientation == 8:
        out = cv2.rotate(rgb, cv2.ROTATE_90_COUNTERCLOCKWISE)
    else:
        return rgb
    return np.asarray(out, dtype=np.uint8)
