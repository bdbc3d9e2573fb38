"""Reading photos and masks: formats, orientation, metadata and refusals.

Every file is made in ``tmp_path`` with Pillow, pillow-heif or OpenCV (or by
hand where a header must lie). Expected pixels come from how the file was made,
never from the code under test.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pillow_heif
import pytest
from PIL import Image

from scarview.core import io as sio
from scarview.core.io import (
    DEFAULT_MAX_PIXELS,
    PHOTO_SUFFIXES,
    classify_path,
    read_mask,
    read_photo,
    read_photo_info,
    sha256_file,
)
from scarview.errors import PhotoError

pillow_heif.register_heif_opener()  # lets the tests *write* HEIC files

RED, GREEN, BLUE, GREY = (255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128)
H, W, BLOCK = 48, 64, 12

# Pillow transpose that turns the image a person sees into what is stored
# under each EXIF orientation (the inverse of what a viewer applies).
_T = Image.Transpose
STORE_FOR_ORIENTATION = {
    1: None,
    2: _T.FLIP_LEFT_RIGHT,
    3: _T.ROTATE_180,
    4: _T.FLIP_TOP_BOTTOM,
    5: _T.TRANSPOSE,
    6: _T.ROTATE_90,  # the viewer turns it 90° clockwise back
    7: _T.TRANSVERSE,
    8: _T.ROTATE_270,
}


# --------------------------------------------------------------------------- helpers


def seen_image() -> np.ndarray:
    """(H, W, 3) uint8 as a person should see it: red, green, blue corners on grey."""
    rgb = np.full((H, W, 3), GREY, np.uint8)
    rgb[:BLOCK, :BLOCK] = RED  # top-left
    rgb[:BLOCK, -BLOCK:] = GREEN  # top-right
    rgb[-BLOCK:, :BLOCK] = BLUE  # bottom-left
    return rgb


def stored_for(orientation: int, rgb: np.ndarray | None = None) -> Image.Image:
    image = Image.fromarray(seen_image() if rgb is None else rgb)
    transpose = STORE_FOR_ORIENTATION[orientation]
    return image if transpose is None else image.transpose(transpose)


def exif_bytes(
    orientation: int | None = None,
    make: str | None = None,
    model: str | None = None,
    original: str | None = None,
    datetime_tag: str | None = None,
) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if make is not None:
        exif[0x010F] = make
    if model is not None:
        exif[0x0110] = model
    if datetime_tag is not None:
        exif[0x0132] = datetime_tag
    if original is not None:
        exif.get_ifd(0x8769)[0x9003] = original
    return exif.tobytes()


def corner_colours(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Mean colour well inside each corner block."""
    m = BLOCK // 4
    inner = slice(m, BLOCK - m)
    h, w = rgb.shape[:2]
    return {
        "top_left": rgb[inner, inner].reshape(-1, 3).mean(0),
        "top_right": rgb[inner, w - BLOCK + m : w - m].reshape(-1, 3).mean(0),
        "bottom_left": rgb[h - BLOCK + m : h - m, inner].reshape(-1, 3).mean(0),
        "bottom_right": rgb[h - BLOCK + m : h - m, w - BLOCK + m : w - m].reshape(-1, 3).mean(0),
    }


def assert_seen(rgb: np.ndarray, tol: float) -> None:
    """The photo shows red top-left, green top-right, blue bottom-left, grey bottom-right."""
    assert rgb.shape == (H, W, 3)
    assert rgb.dtype == np.uint8
    assert rgb.flags.c_contiguous
    corners = corner_colours(rgb)
    for name, expected in (
        ("top_left", RED),
        ("top_right", GREEN),
        ("bottom_left", BLUE),
        ("bottom_right", GREY),
    ):
        assert np.abs(corners[name] - expected).max() <= tol, (name, corners[name])


def snapshot(path: Path) -> tuple[bytes, int, int]:
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, st.st_mode


def assert_one_sentence(exc: PhotoError, path: Path) -> str:
    message = str(exc)
    prefix = f"Cannot read {str(path)!r}: "
    assert message.startswith(prefix), message
    assert message.endswith("."), message
    body = message[len(prefix) : -1]
    assert body and "\n" not in message and ". " not in body and not body.endswith("."), message
    assert exc.path == str(path)
    return body


def refuse(path: Path, *, info_too: bool = True, **kwargs: int) -> str:
    """Assert both readers refuse ``path`` with one sentence, leaving it untouched."""
    before = snapshot(path) if path.is_file() else None
    readers = (read_photo, read_photo_info) if info_too else (read_photo,)
    bodies = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow/OpenCV warning may escape
        for reader in readers:
            with pytest.raises(PhotoError) as caught:
                reader(path, **kwargs)
            bodies.append(assert_one_sentence(caught.value, path))
    if before is not None:
        assert snapshot(path) == before
    return bodies[0]


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def crafted_png(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height but holds a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def tiff16(rgb16: np.ndarray, orientation: int = 1) -> bytes:
    """A minimal uncompressed little-endian 16-bit RGB TIFF with an orientation tag."""
    h, w, _ = rgb16.shape
    pixels = rgb16.astype("<u2").tobytes()
    n_tags = 11
    bits_offset = 8 + 2 + n_tags * 12 + 4
    data_offset = bits_offset + 6

    def short(tag: int, value: int) -> bytes:
        return struct.pack("<HHIHH", tag, 3, 1, value, 0)

    def long(tag: int, value: int) -> bytes:
        return struct.pack("<HHII", tag, 4, 1, value)

    entries = [
        long(256, w),
        long(257, h),
        struct.pack("<HHII", 258, 3, 3, bits_offset),
        short(259, 1),  # no compression
        short(262, 2),  # RGB
        long(273, data_offset),
        short(274, orientation),
        short(277, 3),
        long(278, h),
        long(279, len(pixels)),
        short(284, 1),  # chunky
    ]
    ifd = struct.pack("<H", n_tags) + b"".join(entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<HHH", 16, 16, 16) + pixels


def expected_8bit(v16: np.ndarray) -> np.ndarray:
    """round(v * 255 / 65535), computed exactly with integers."""
    return ((v16.astype(np.int64) * 255 * 2 + 65535) // (2 * 65535)).astype(np.uint8)


# --------------------------------------------------------------------------- orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_exif_orientation_puts_corners_where_a_person_sees_them(
    tmp_path: Path, orientation: int
) -> None:
    path = tmp_path / f"o{orientation}.jpg"
    stored_for(orientation).save(path, "JPEG", quality=95, exif=exif_bytes(orientation))
    photo = read_photo(path)
    assert_seen(photo.rgb, tol=12)
    assert photo.info.orientation == orientation
    assert (photo.info.width, photo.info.height) == (W, H)
    # Pillow's own exif_transpose agrees within JPEG rounding.
    with Image.open(path) as im:
        reference = np.asarray(_exif_transpose(im).convert("RGB"))
    assert np.abs(photo.rgb.astype(int) - reference.astype(int)).max() <= 2


def _exif_transpose(im: Image.Image) -> Image.Image:
    from PIL import ImageOps

    out = ImageOps.exif_transpose(im)
    assert out is not None
    return out


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_lossless_orientation_is_exact(tmp_path: Path, fmt: str, orientation: int) -> None:
    path = tmp_path / f"o{orientation}.{fmt.lower()}"
    extra = {"lossless": True} if fmt == "WEBP" else {}
    stored_for(orientation).save(path, fmt, exif=exif_bytes(orientation), **extra)
    photo = read_photo(path)
    np.testing.assert_array_equal(photo.rgb, seen_image())
    assert photo.info.orientation == orientation
    assert read_photo_info(path) == photo.info


@pytest.mark.parametrize("orientation", range(1, 9))
def test_tiff_orientation_8_and_16_bit(tmp_path: Path, orientation: int) -> None:
    path8 = tmp_path / f"o{orientation}.tif"
    stored_for(orientation).save(path8, "TIFF", tiffinfo={274: orientation})
    photo8 = read_photo(path8)
    np.testing.assert_array_equal(photo8.rgb, seen_image())
    assert photo8.info.orientation == orientation
    assert photo8.info.bit_depth == 8

    stored16 = np.asarray(stored_for(orientation)).astype(np.uint16) * 257
    path16 = tmp_path / f"o{orientation}-16.tiff"
    path16.write_bytes(tiff16(stored16, orientation))
    photo16 = read_photo(path16)
    np.testing.assert_array_equal(photo16.rgb, seen_image())
    assert photo16.info.orientation == orientation
    assert photo16.info.bit_depth == 16
    assert (photo16.info.width, photo16.info.height) == (W, H)


@pytest.mark.parametrize("orientation", [2, 3, 6, 7])
def test_tiff_orientation_through_pillow(tmp_path: Path, orientation: int) -> None:
    # Alpha and CMYK TIFFs are decoded by Pillow rather than OpenCV.
    rgba = np.dstack([seen_image(), np.full((H, W), 255, np.uint8)])
    path = tmp_path / "rgba.tif"
    stored_for(orientation, rgba).save(path, "TIFF", tiffinfo={274: orientation})
    photo = read_photo(path)
    np.testing.assert_array_equal(photo.rgb, seen_image())
    assert photo.info.orientation == orientation

    path = tmp_path / "cmyk.tif"
    stored_for(orientation).convert("CMYK").save(
        path, "TIFF", tiffinfo={274: orientation}, compression="tiff_lzw"
    )
    photo = read_photo(path)
    np.testing.assert_array_equal(photo.rgb, seen_image())
    assert (photo.info.width, photo.info.height) == (W, H)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_heic_rotation_is_applied(tmp_path: Path, orientation: int) -> None:
    path = tmp_path / f"o{orientation}.heic"
    stored_for(orientation).save(path, "HEIF", quality=95, exif=exif_bytes(orientation))
    photo = read_photo(path)
    assert_seen(photo.rgb, tol=20)
    assert photo.info.format == "HEIF"
    assert photo.info.orientation == orientation
    assert read_photo_info(path) == photo.info


# --------------------------------------------------------------------------- formats and modes


@pytest.mark.parametrize(
    ("fmt", "suffix", "tol", "options"),
    [
        ("JPEG", ".jpg", 12, {"quality": 95}),
        ("PNG", ".png", 0, {}),
        ("TIFF", ".tif", 0, {}),
        ("TIFF", ".tiff", 0, {"compression": "tiff_lzw"}),
        ("WEBP", ".webp", 20, {"quality": 90}),
        ("WEBP", ".webp", 0, {"lossless": True}),
        ("BMP", ".bmp", 0, {}),
        ("HEIF", ".heic", 20, {"quality": 90}),
        ("HEIF", ".heif", 20, {"quality": 90}),
    ],
)
def test_every_format_reads_as_rgb(
    tmp_path: Path, fmt: str, suffix: str, tol: int, options: dict[str, object]
) -> None:
    path = tmp_path / f"photo{suffix}"
    Image.fromarray(seen_image()).save(path, fmt, **options)
    photo = read_photo(path)
    assert_seen(photo.rgb, tol=tol)
    if tol == 0:
        np.testing.assert_array_equal(photo.rgb, seen_image())
    assert photo.info.format == fmt
    assert photo.info.bit_depth == 8
    assert photo.info.orientation == 1


def test_content_decides_not_the_name(tmp_path: Path) -> None:
    path = tmp_path / "really-a-png.jpg"
    Image.fromarray(seen_image()).save(path, "PNG")
    photo = read_photo(path)
    assert photo.info.format == "PNG"
    np.testing.assert_array_equal(photo.rgb, seen_image())


def test_greyscale_becomes_three_equal_channels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (H, W), dtype=np.uint8)
    for fmt, suffix in (("PNG", ".png"), ("TIFF", ".tif"), ("BMP", ".bmp")):
        path = tmp_path / f"grey{suffix}"
        Image.fromarray(grey).save(path, fmt)
        rgb = read_photo(path).rgb
        for c in range(3):
            np.testing.assert_array_equal(rgb[..., c], grey)
    path = tmp_path / "grey.jpg"
    Image.fromarray(grey).save(path, "JPEG", quality=95)
    rgb = read_photo(path).rgb
    assert rgb.shape == (H, W, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 1])
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_alpha_is_composited_on_white(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (H, W), dtype=np.uint8)
    alpha[0, 0], alpha[0, 1] = 0, 255
    a = alpha[..., None].astype(np.float64) / 255.0
    expected = np.rint(rgb * a + 255.0 * (1.0 - a)).astype(np.uint8)
    rgba = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    for fmt, suffix, options in (
        ("PNG", ".png", {}),
        ("WEBP", ".webp", {"lossless": True, "exact": True}),
        ("TIFF", ".tif", {}),
    ):
        path = tmp_path / f"rgba{suffix}"
        rgba.save(path, fmt, **options)
        out = read_photo(path).rgb
        assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1, fmt
        np.testing.assert_array_equal(out[0, 0], (255, 255, 255))  # transparent -> white
        np.testing.assert_array_equal(out[0, 1], rgb[0, 1])  # opaque -> unchanged


def test_grey_with_alpha_is_composited_on_white(tmp_path: Path) -> None:
    grey = np.full((H, W), 40, np.uint8)
    alpha = np.zeros((H, W), np.uint8)
    alpha[:, W // 2 :] = 255
    path = tmp_path / "la.png"
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(path)
    rgb = read_photo(path).rgb
    assert (rgb[:, : W // 2] == 255).all()
    assert (rgb[:, W // 2 :] == 40).all()


def test_palette_images_expand_to_their_colours(tmp_path: Path) -> None:
    seen = seen_image()
    palette_image = Image.fromarray(seen).quantize(colors=4, dither=Image.Dither.NONE)
    for fmt, suffix in (("PNG", ".png"), ("BMP", ".bmp"), ("TIFF", ".tif")):
        path = tmp_path / f"palette{suffix}"
        palette_image.save(path, fmt)
        np.testing.assert_array_equal(read_photo(path).rgb, seen, err_msg=fmt)

    # Palette with a transparent entry: that entry becomes white.
    path = tmp_path / "palette-transparent.png"
    grey_index = int(np.asarray(palette_image)[-1, -1])
    palette_image.save(path, "PNG", transparency=grey_index)
    rgb = read_photo(path).rgb
    assert (rgb[-BLOCK:, -BLOCK:] == 255).all()
    np.testing.assert_array_equal(rgb[0, 0], RED)


def test_bmp_with_unused_fourth_byte_is_not_treated_as_transparent(tmp_path: Path) -> None:
    # 32-bit BMPs often carry a zero "alpha" byte that means nothing.
    seen = seen_image()
    rgba = np.dstack([seen, np.zeros((H, W), np.uint8)])
    path = tmp_path / "32bit.bmp"
    Image.fromarray(rgba, "RGBA").save(path, "BMP")
    np.testing.assert_array_equal(read_photo(path).rgb, seen)


def test_cmyk_jpeg_and_tiff_have_correct_colours(tmp_path: Path) -> None:
    seen = seen_image()
    seen[-BLOCK:, -BLOCK:] = (255, 255, 255)
    seen[H // 2 - 4 : H // 2 + 4, W // 2 - 4 : W // 2 + 4] = (0, 0, 0)
    cmyk = Image.fromarray(seen).convert("CMYK")
    assert cmyk.getpixel((0, 0)) == (0, 255, 255, 0)  # red in CMYK, as written
    for fmt, suffix, tol, options in (
        ("JPEG", ".jpg", 12, {"quality": 95}),
        ("TIFF", ".tif", 0, {}),
    ):
        path = tmp_path / f"cmyk{suffix}"
        cmyk.save(path, fmt, **options)
        photo = read_photo(path)
        corners = corner_colours(photo.rgb)
        assert np.abs(corners["top_left"] - RED).max() <= tol, fmt
        assert np.abs(corners["top_right"] - GREEN).max() <= tol, fmt
        assert np.abs(corners["bottom_left"] - BLUE).max() <= tol, fmt
        assert np.abs(corners["bottom_right"] - 255).max() <= tol, fmt
        assert photo.rgb[H // 2, W // 2].max() <= tol, fmt


@pytest.fixture
def ramp16() -> np.ndarray:
    """(H, W, 3) uint16 covering values where rounding, truncation and wrapping differ."""
    rng = np.random.default_rng(3)
    values = rng.integers(0, 65536, (H, W, 3), dtype=np.uint16)
    specials = np.array([0, 128, 129, 257, 300, 385, 386, 65280, 65407, 65408, 65535], np.uint16)
    values[0, : len(specials), 0] = specials
    return values


def test_16_bit_png_is_scaled_with_rounding(tmp_path: Path, ramp16: np.ndarray) -> None:
    path = tmp_path / "deep.png"
    assert cv2.imwrite(str(path), np.ascontiguousarray(ramp16[..., ::-1]))
    photo = read_photo(path)
    assert photo.info.bit_depth == 16
    np.testing.assert_array_equal(photo.rgb, expected_8bit(ramp16))
    # Not truncation (v >> 8) and not wrapping (v & 0xFF).
    assert photo.rgb[0, 1, 0] == 0 and photo.rgb[0, 2, 0] == 1  # 128 -> 0, 129 -> 1
    assert photo.rgb[0, 10, 0] == 255


def test_16_bit_grey_png_and_tiff(tmp_path: Path, ramp16: np.ndarray) -> None:
    grey = ramp16[..., 0]
    path = tmp_path / "grey16.png"
    Image.fromarray(grey).save(path)  # Pillow writes mode I;16 as 16-bit PNG
    photo = read_photo(path)
    assert photo.info.bit_depth == 16
    for c in range(3):
        np.testing.assert_array_equal(photo.rgb[..., c], expected_8bit(grey))

    path = tmp_path / "grey16.tif"
    Image.fromarray(grey).save(path, "TIFF")
    photo = read_photo(path)
    assert photo.info.bit_depth == 16
    np.testing.assert_array_equal(photo.rgb[..., 1], expected_8bit(grey))


def test_16_bit_tiff_rgb(tmp_path: Path, ramp16: np.ndarray) -> None:
    path = tmp_path / "deep.tif"
    assert cv2.imwrite(str(path), np.ascontiguousarray(ramp16[..., ::-1]))
    photo = read_photo(path)
    assert photo.info.bit_depth == 16
    assert photo.info.format == "TIFF"
    np.testing.assert_array_equal(photo.rgb, expected_8bit(ramp16))


def test_16_bit_png_with_alpha(tmp_path: Path, ramp16: np.ndarray) -> None:
    alpha = np.zeros((H, W), np.uint16)
    alpha[:, : W // 2] = 65535
    path = tmp_path / "deep-alpha.png"
    bgra = np.dstack([ramp16[..., ::-1], alpha])
    assert cv2.imwrite(str(path), np.ascontiguousarray(bgra))
    rgb = read_photo(path).rgb
    np.testing.assert_array_equal(rgb[:, : W // 2], expected_8bit(ramp16[:, : W // 2]))
    assert (rgb[:, W // 2 :] == 255).all()


# --------------------------------------------------------------------------- metadata


def test_exif_date_camera_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "cheek.jpg"
    exif = exif_bytes(
        orientation=1,
        make="Canon",
        model="Canon EOS R6",
        original="2026:03:01 10:12:00",
        datetime_tag="2026:03:05 09:00:00",
    )
    Image.fromarray(seen_image()).save(path, "JPEG", exif=exif)
    info = read_photo_info(path)
    assert info.captured_at == datetime(2026, 3, 1, 10, 12, 0)  # DateTimeOriginal first
    assert info.captured_at.tzinfo is None
    assert info.camera_model == "Canon EOS R6"  # make not repeated
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.sha256 == sha256_file(path)
    assert info.path == str(path)
    assert info.format == "JPEG"
    assert read_photo(path).info == info


def test_exif_datetime_fallback_and_make_prefix(tmp_path: Path) -> None:
    path = tmp_path / "phone.jpg"
    exif = exif_bytes(make="Apple", model="iPhone 15 Pro", datetime_tag="2025:12:24 18:30:05")
    Image.fromarray(seen_image()).save(path, "JPEG", exif=exif)
    info = read_photo_info(path)
    assert info.captured_at == datetime(2025, 12, 24, 18, 30, 5)
    assert info.camera_model == "Apple iPhone 15 Pro"


def test_exif_in_png_webp_and_heic(tmp_path: Path) -> None:
    exif = exif_bytes(make="Google", model="Pixel 8", original="2026:01:05 08:15:30")
    for fmt, suffix in (("PNG", ".png"), ("WEBP", ".webp"), ("HEIF", ".heic")):
        path = tmp_path / f"meta{suffix}"
        Image.fromarray(seen_image()).save(path, fmt, exif=exif)
        info = read_photo_info(path)
        assert info.captured_at == datetime(2026, 1, 5, 8, 15, 30), fmt
        assert info.camera_model == "Google Pixel 8", fmt


def test_missing_or_invalid_exif_gives_none(tmp_path: Path) -> None:
    path = tmp_path / "plain.jpg"
    Image.fromarray(seen_image()).save(path, "JPEG")
    info = read_photo_info(path)
    assert info.captured_at is None and info.camera_model is None and info.orientation == 1

    path = tmp_path / "zero-date.jpg"
    exif = exif_bytes(orientation=9, original="0000:00:00 00:00:00")
    Image.fromarray(seen_image()).save(path, "JPEG", exif=exif)
    info = read_photo_info(path)
    assert info.captured_at is None
    assert info.orientation == 1  # out-of-range tag is ignored
    assert read_photo(path).rgb.shape == (H, W, 3)


def test_read_photo_info_does_not_decode_pixels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = []
    for fmt, suffix in (("JPEG", ".jpg"), ("PNG", ".png"), ("TIFF", ".tif"), ("HEIF", ".heic")):
        path = tmp_path / f"p{suffix}"
        stored_for(6).save(path, fmt, exif=exif_bytes(6))
        paths.append(path)

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(Image.Image, "convert", no_decoding)
    for path in paths:
        info = read_photo_info(path)
        assert (info.width, info.height) == (W, H), path.suffix
        assert info.orientation == 6


def test_non_ascii_path(tmp_path: Path) -> None:
    folder = tmp_path / "Müller 東京"
    folder.mkdir()
    path = folder / "wange.jpg"
    Image.fromarray(seen_image()).save(path, "JPEG", quality=95, exif=exif_bytes(1))
    photo = read_photo(path)
    assert_seen(photo.rgb, tol=12)
    assert photo.info.path == str(path)
    assert read_photo_info(str(path)).sha256 == photo.info.sha256
    mask_path = folder / "wange.mask.png"
    Image.fromarray(np.full((H, W), 255, np.uint8)).save(mask_path)
    assert read_mask(mask_path, shape=(H, W)).all()


def test_original_is_never_modified(tmp_path: Path) -> None:
    path = tmp_path / "original.jpg"
    stored_for(6).save(path, "JPEG", exif=exif_bytes(6, make="Canon", model="EOS"))
    path.chmod(0o444)
    before = snapshot(path)
    read_photo(path)
    read_photo_info(path)
    sha256_file(path)
    assert snapshot(path) == before


# --------------------------------------------------------------------------- refusals


def test_refuses_missing_file_and_folder(tmp_path: Path) -> None:
    assert "does not exist" in refuse(tmp_path / "nowhere.jpg")
    folder = tmp_path / "session.jpg"
    folder.mkdir()
    assert "folder" in refuse(folder)
    with pytest.raises(PhotoError):
        sha256_file(folder)


def test_refuses_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(b"")
    assert refuse(path) == "the file is empty"
    with pytest.raises(PhotoError, match=r"^Cannot read '.*x\.jpg': the file is empty\.$"):
        read_photo(path)


@pytest.mark.parametrize("fraction", [0.3, 0.7, 0.98])
@pytest.mark.parametrize("progressive", [False, True])
def test_refuses_truncated_jpeg(tmp_path: Path, fraction: float, progressive: bool) -> None:
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(
        buffer, "JPEG", quality=90, progressive=progressive, exif=exif_bytes(1)
    )
    data = buffer.getvalue()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * fraction)])
    assert "truncated" in refuse(path)


def test_jpeg_with_trailing_data_after_end_marker_is_accepted(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(seen_image()).save(buffer, "JPEG", quality=95)
    path = tmp_path / "trailer.jpg"
    path.write_bytes(buffer.getvalue() + b"MAKER-TRAILER" + bytes(64))
    assert_seen(read_photo(path).rgb, tol=12)


def test_jpeg_with_stray_bytes_between_segments_is_accepted(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(seen_image()).save(buffer, "JPEG", quality=95)
    data = buffer.getvalue()
    dqt = data.index(b"\xff\xdb")
    path = tmp_path / "padded.jpg"
    path.write_bytes(data[:dqt] + b"\x00\x00" + data[dqt:])
    assert_seen(read_photo(path).rgb, tol=12)
    path.write_bytes(data[:dqt] + b"\x00\x00" + data[dqt : len(data) // 2])
    assert "truncated" in refuse(path)


def test_refuses_truncated_and_damaged_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(buffer, "PNG")
    data = buffer.getvalue()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    assert "truncated" in refuse(path)

    damaged = bytearray(data)
    start = data.index(b"IDAT") + 8
    damaged[start : start + 200] = bytes(200)
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(damaged))
    assert "damaged" in refuse(path, info_too=False)


def test_refuses_text_named_like_a_photo(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("Patient said the left cheek itched after session 2.\n", encoding="utf-8")
    assert "text file" in refuse(path)


@pytest.mark.parametrize("name", ["anim.gif", "anim.jpg"])
def test_refuses_gif(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    Image.fromarray(seen_image()).save(path, "GIF")
    assert "GIF" in refuse(path)


def test_refuses_pdf_svg_avif_and_other_formats(tmp_path: Path) -> None:
    pdf = tmp_path / "scan.jpg"
    Image.fromarray(seen_image()).save(pdf, "PDF")
    assert "PDF" in refuse(pdf)

    for name in ("drawing.svg", "drawing.png"):
        svg = tmp_path / name
        svg.write_text(
            '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" '
            'height="10"><rect width="10" height="10"/></svg>\n',
            encoding="utf-8",
        )
        assert "SVG" in refuse(svg)

    avif = tmp_path / "photo.heic"
    Image.fromarray(seen_image()).save(avif, "AVIF")
    assert "AVIF" in refuse(avif)

    jp2 = tmp_path / "photo.tif"
    Image.fromarray(seen_image()).save(jp2, "JPEG2000")
    assert "JPEG 2000" in refuse(jp2)

    binary = tmp_path / "random.bmp"
    binary.write_bytes(np.random.default_rng(6).integers(0, 256, 4096, np.uint8).tobytes())
    refuse(binary)


def test_refuses_camera_raw(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.CR2"
    path.write_bytes(b"II*\x00\x10\x00\x00\x00CR\x02\x00" + bytes(64))
    assert "RAW" in refuse(path)


def test_refuses_decompression_bomb_png_from_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(crafted_png(40_000, 40_000))
    assert path.stat().st_size < 2000

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("a bomb must be refused before decoding")

    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    body = refuse(path)
    assert "40000 x 40000" in body and "120 million" in body


def test_refuses_decompression_bomb_jpeg_from_header(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(seen_image()).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 40_000, 40_000)
    path = tmp_path / "bomb.jpg"
    path.write_bytes(bytes(data))
    assert "40000 x 40000" in refuse(path)


def test_refuses_decompression_bomb_bmp(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(seen_image()).save(buffer, "BMP")
    data = bytearray(buffer.getvalue())
    data[18:26] = struct.pack("<ii", 40_000, 40_000)
    path = tmp_path / "bomb.bmp"
    path.write_bytes(bytes(data))
    assert "decompression bomb" in refuse(path)


def test_max_pixels_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.fromarray(seen_image()).save(path)
    assert "64 x 48" in refuse(path, max_pixels=W * H - 1)
    assert read_photo(path, max_pixels=W * H).rgb.shape == (H, W, 3)


def test_large_header_below_the_limit_gives_info_without_warnings(tmp_path: Path) -> None:
    # 100 MP is above Pillow's warning threshold (89 MP) but below ours (120 MP).
    path = tmp_path / "huge.png"
    path.write_bytes(crafted_png(10_000, 10_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = read_photo_info(path)
    assert (info.width, info.height) == (10_000, 10_000)
    assert DEFAULT_MAX_PIXELS == 120_000_000


# --------------------------------------------------------------------------- classify, masks


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cheek-left.jpg", "photo"),
        ("CHEEK.JPEG", "photo"),
        ("scan.TIF", "photo"),
        ("scan.tiff", "photo"),
        ("x.png", "photo"),
        ("x.webp", "photo"),
        ("x.bmp", "photo"),
        ("IMG_0001.HEIC", "photo"),
        ("x.heif", "photo"),
        ("cheek-left.mask.png", "mask"),
        ("cheek-left.MASK.PNG", "mask"),
        ("cheek-left.truth.json", "ignore"),
        ("notes.txt", "ignore"),
        ("measurements.csv", "ignore"),
        ("README.md", "ignore"),
        ("anim.gif", "ignore"),
        (".DS_Store", "ignore"),
        ("._IMG_0001.jpg", "ignore"),
        ("Thumbs.db", "ignore"),
        ("desktop.ini", "ignore"),
        ("noextension", "ignore"),
    ],
)
def test_classify_path(name: str, expected: str) -> None:
    assert classify_path(name) == expected
    assert classify_path(Path("/data/patient/2026-03-01") / name) == expected


def test_photo_suffixes() -> None:
    assert {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".heic", ".heif"} <= (
        PHOTO_SUFFIXES
    )
    assert all(s == s.lower() and s.startswith(".") for s in PHOTO_SUFFIXES)
    assert isinstance(PHOTO_SUFFIXES, frozenset)


def test_read_mask(tmp_path: Path) -> None:
    values = np.zeros((H, W), np.uint8)
    values[0, :4] = (0, 127, 128, 255)
    values[10:20, 30:40] = 255
    path = tmp_path / "cheek.mask.png"
    Image.fromarray(values).save(path)
    before = snapshot(path)
    mask = read_mask(path, shape=(H, W))
    assert mask.dtype == np.bool_ and mask.shape == (H, W)
    np.testing.assert_array_equal(mask, values > 127)
    assert snapshot(path) == before
    assert read_mask(path).shape == (H, W)

    with pytest.raises(PhotoError) as caught:
        read_mask(path, shape=(H + 1, W))
    assert "64 x 48" in assert_one_sentence(caught.value, path)


def test_read_mask_accepts_bilevel_and_grey_rgb(tmp_path: Path) -> None:
    inside = np.zeros((H, W), bool)
    inside[5:15, 5:25] = True
    path = tmp_path / "bilevel.mask.png"
    Image.fromarray(inside).save(path)  # mode "1"
    np.testing.assert_array_equal(read_mask(path), inside)

    path = tmp_path / "rgb.mask.png"
    grey = np.where(inside, 255, 0).astype(np.uint8)
    Image.fromarray(np.dstack([grey] * 3)).save(path)
    np.testing.assert_array_equal(read_mask(path), inside)


def test_read_mask_refusals(tmp_path: Path) -> None:
    cases: list[tuple[Path, str]] = []
    path = tmp_path / "lossy.mask.png"
    Image.fromarray(np.zeros((H, W), np.uint8)).save(path, "JPEG")
    cases.append((path, "PNG"))
    path = tmp_path / "colour.mask.png"
    Image.fromarray(seen_image()).save(path)
    cases.append((path, "colour"))
    path = tmp_path / "deep.mask.png"
    Image.fromarray(np.zeros((H, W), np.uint16)).save(path)
    cases.append((path, "16-bit"))
    path = tmp_path / "empty.mask.png"
    path.write_bytes(b"")
    cases.append((path, "empty"))
    cases.append((tmp_path / "missing.mask.png", "does not exist"))
    for path, words in cases:
        with pytest.raises(PhotoError) as caught:
            read_mask(path)
        assert words in assert_one_sentence(caught.value, path)


def test_module_state_is_not_leaked() -> None:
    # The HEIF opener registers once; Pillow's global limit is left alone.
    before = Image.MAX_IMAGE_PIXELS
    sio._register_heif()
    sio._register_heif()
    assert before == Image.MAX_IMAGE_PIXELS
