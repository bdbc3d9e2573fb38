"""Cost of :func:`scarview.core.io.read_photo` against a bare ``cv2.imdecode``.

A generated 12-megapixel (4000 x 3000) textured photo is saved as a quality-90
JPEG with EXIF (make, model, capture date, orientation). ``imdecode`` times
OpenCV decoding the bytes already in memory (``IMREAD_COLOR``); ``read_photo``
times everything ScarView does: reading the file, SHA-256, header and EXIF
parsing, the truncation check, decoding to RGB and applying the orientation.
Both are timed in the same run, interleaved, median of several repetitions,
in process CPU time (wall-clock time is shown beside it).
Target: ``read_photo`` costs at most 1.3 times ``imdecode``. The second row is
a portrait phone photo (orientation 6): both sides pay for the 90° rotation
there, since ``cv2.imdecode`` applies the EXIF orientation by default.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from scarview.core.io import read_photo, read_photo_info

TITLE = "Reading photos: read_photo vs cv2.imdecode (12 MP JPEG, q90, EXIF)"
TARGET_RATIO = 1.3
REPEATS = 21
WIDTH, HEIGHT = 4000, 3000


def _textured_rgb(seed: int = 0) -> np.ndarray:
    """(HEIGHT, WIDTH, 3) uint8: smooth skin-like shading plus fine texture and noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(60, 220, (HEIGHT // 50, WIDTH // 50, 3), dtype=np.uint8)
    base = cv2.resize(coarse, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0.0, 12.0, (HEIGHT // 2, WIDTH // 2, 1)).astype(np.float32)
    fine = cv2.resize(fine, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)[..., None]
    noise = rng.normal(0.0, 4.0, (HEIGHT, WIDTH, 3)).astype(np.float32)
    return np.clip(base.astype(np.float32) + fine + noise, 0, 255).astype(np.uint8)


def _write_jpeg(rgb: np.ndarray, path: Path, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS R6"
    exif[0x0132] = "2026:03:01 10:12:00"
    exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x9003] = "2026:03:01 10:12:00"
    Image.fromarray(rgb).save(path, "JPEG", quality=90, exif=exif.tobytes())


def _time_once(fn: Callable[[], object]) -> tuple[float, float]:
    """Return (wall ms, process CPU ms) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) * 1000.0, (time.process_time() - cpu) * 1000.0


def run() -> list[dict[str, object]]:
    """Return one row per orientation: imdecode ms, read_photo ms, ratio, target.

    Ratios compare medians of process CPU time (what the call costs, robust to
    other processes on a shared machine); wall-clock medians are shown too.
    """
    rgb = _textured_rgb()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for orientation in (1, 6):
            path = Path(tmp) / f"cheek-{orientation}.jpg"
            _write_jpeg(rgb, path, orientation)
            data = path.read_bytes()
            buffer = np.frombuffer(data, np.uint8)
            read_photo(path)  # warm the page cache and the decoders
            cv2.imdecode(buffer, cv2.IMREAD_COLOR)
            decode: list[tuple[float, float]] = []
            ours: list[tuple[float, float]] = []
            info: list[tuple[float, float]] = []
            for _ in range(REPEATS):  # interleaved, so machine load hits all alike
                decode.append(_time_once(lambda b=buffer: cv2.imdecode(b, cv2.IMREAD_COLOR)))
                ours.append(_time_once(lambda p=path: read_photo(p)))
                info.append(_time_once(lambda p=path: read_photo_info(p)))
            decode_wall, decode_cpu = (statistics.median(v) for v in zip(*decode, strict=True))
            ours_wall, ours_cpu = (statistics.median(v) for v in zip(*ours, strict=True))
            ratio = ours_cpu / decode_cpu
            rows.append(
                {
                    "case": f"orientation {orientation}",
                    "file_MB": round(len(data) / 1e6, 2),
                    "imdecode_ms": round(decode_cpu, 1),
                    "read_photo_ms": round(ours_cpu, 1),
                    "ratio": round(ratio, 3),
                    "target": TARGET_RATIO,
                    "pass": "yes" if ratio <= TARGET_RATIO else "no",
                    "wall_imdecode_ms": round(decode_wall, 1),
                    "wall_read_photo_ms": round(ours_wall, 1),
                    "wall_ratio": round(ours_wall / decode_wall, 3),
                    "read_photo_info_ms": round(statistics.median(c for _, c in info), 2),
                }
            )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
