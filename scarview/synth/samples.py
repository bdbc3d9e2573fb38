"""Write ``sample_images/``: one synthetic demo patient, four monthly sessions.

Run ``python -m scarview.synth.samples sample_images`` (``make samples``). The
output is deterministic: the same seed gives the same bytes.

Layout (``CONTRACT.md``)::

    sample_images/<patient>/<YYYY-MM-DD>/<view>.jpg
    sample_images/<patient>/<YYYY-MM-DD>/<view>.mask.png
    sample_images/<patient>/<YYYY-MM-DD>/<view>.truth.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from scarview.synth.render import (
    Camera,
    Capture,
    Light,
    RenderedPhoto,
    SessionJitter,
    session_captures,
)
from scarview.synth.skin import make_patient

PATIENT_CODE = "demo-patient"
VIEW = "cheek-left"
SESSION_DATES = ("2026-01-05", "2026-02-02", "2026-03-02", "2026-03-30")
SEED = 20260105


def write_photo(photo: RenderedPhoto, folder: Path, view: str, extra: Mapping[str, object]) -> None:
    """Write a rendered photo, its truth mask (8-bit PNG, 255 inside) and truth JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".jpg" if photo.encoded[:2] == b"\xff\xd8" else ".png"
    (folder / f"{view}{suffix}").write_bytes(photo.encoded)
    ok, png = cv2.imencode(".png", (photo.mask * 255).astype(np.uint8))
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 mask
        raise RuntimeError("PNG encoding failed")
    (folder / f"{view}.mask.png").write_bytes(png.tobytes())
    truth = dict(photo.truth)
    truth.update(extra)
    (folder / f"{view}.truth.json").write_text(json.dumps(truth, indent=1) + "\n", "utf-8")


#: How the demo patient's set-up moves between sessions (see ``sample_images/README.md``).
SESSION_JITTER = SessionJitter(
    zoom=(0.93, 1.07),
    rotation_deg=8.0,
    shift_mm=3.0,
    perspective=0.015,
    light_azimuth_deg=25.0,
    light_elevation_deg=6.5,
    capture_minutes=59,
    exposure=0.1,
    white_balance=0.03,
)


def make_samples(out: Path) -> list[Path]:
    """Render the demo patient's four sessions into ``out``; return the photo paths."""
    patient = make_patient(SEED, fitzpatrick=3, n_scars=18)
    rng = np.random.default_rng(SEED)
    photos = session_captures(
        patient,
        len(SESSION_DATES),
        rng,
        camera=Camera(width=1600, height=1200, px_per_mm=18.0, rotation_deg=0.0, blur_px=0.6),
        light=Light(azimuth_deg=135.0, elevation_deg=38.5, ambient=0.3, specular=0.04),
        capture=Capture(noise=0.004, jpeg_quality=90),
        jitter=SESSION_JITTER,
        dates=[datetime.fromisoformat(d).replace(hour=10) for d in SESSION_DATES],
    )
    baseline: RenderedPhoto | None = None
    paths = []
    for date, photo in zip(SESSION_DATES, photos, strict=True):
        if baseline is None:
            baseline = photo
        extra = {
            "patient": PATIENT_CODE,
            "date": date,
            "view": VIEW,
            "homography_to_baseline": [
                [float(x) for x in row] for row in photo.homography_to(baseline)
            ],
            "marker_corners_xy": None
            if photo.marker_corners_xy is None
            else [[round(float(x), 3), round(float(y), 3)] for x, y in photo.marker_corners_xy],
        }
        folder = out / PATIENT_CODE / date
        write_photo(photo, folder, VIEW, extra)
        paths.append(folder / f"{VIEW}.jpg")
    return paths


def main(argv: list[str]) -> int:
    """Command-line entry: ``python -m scarview.synth.samples OUT_DIR``."""
    out = Path(argv[0] if argv else "sample_images")
    for path in make_samples(out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
