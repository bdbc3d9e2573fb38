"""A small archive of patients for the batch tests, generated once per test session.

Layout (what a clinic's archive looks like, with its usual accidents)::

    alice/2026-01-05/closeup.jpg          baseline
    alice/2026-02-02/closeup.jpg
    alice/2026-03-02/closeup.jpg
    alice/2026-03-02/closeup-2.jpg        an unrelated photo (skimage's coffee): not alignable
    alice/2026-03-02/notes.txt            not a photo by name: skipped silently
    bob/left-45 first.jpg                 no session folders: grouped by EXIF date
    bob/left-45 second.jpg
    carol/visit-1/frontal.jpg             session names that are not dates
    carol/visit-1/frontal.mask.png        a ground-truth mask (not a photo)
    carol/visit-1/frontal-copy.jpg        a truncated JPEG
    carol/visit-2/frontal.jpg
    carol/visit-2/readme.jpg              a text file with a photo's extension
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from scarview.synth import Camera, Capture, Light, SessionJitter, make_patient, session_captures

PX_PER_MM = 18.0
SIZE = (1200, 900)
#: The patients of :func:`small_archive`.
SMALL_PATIENTS = ("bob", "carol")


@dataclass(frozen=True)
class Archive:
    """The generated input folder and what it holds."""

    root: Path
    good: tuple[str, ...]  # photos that must be measured (relative paths)
    corrupt: str
    text: str
    unrelated: str
    skipped: tuple[str, ...]  # not photos by name: never mentioned anywhere


#: How little the camera and the light move between a patient's sessions here.
JITTER = SessionJitter(
    zoom=(0.97, 1.03), rotation_deg=4.0, shift_mm=1.5, perspective=0.01, light_azimuth_deg=10.0
)


def _session_photos(
    seed: int, dates: list[str], *, light_azimuth: float = 135.0
) -> list[tuple[str, bytes]]:
    """One view of a patient photographed at each date, the camera moved a little each time."""
    patient = make_patient(seed, fitzpatrick=2 + seed % 3, n_scars=10)
    photos = session_captures(
        patient,
        len(dates),
        np.random.default_rng(seed),
        camera=Camera(width=SIZE[0], height=SIZE[1], px_per_mm=PX_PER_MM, blur_px=0.6),
        light=Light(azimuth_deg=light_azimuth, elevation_deg=40),
        capture=Capture(jpeg_quality=90),
        jitter=JITTER,
        dates=[datetime.fromisoformat(date).replace(hour=10) for date in dates],
    )
    return [(date, photo.encoded) for date, photo in zip(dates, photos, strict=True)]


def make_archive(root: Path) -> Archive:
    """Write the archive described in this module's docstring under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    alice_dates = ["2026-01-05", "2026-02-02", "2026-03-02"]
    for date, encoded in _session_photos(101, alice_dates):
        folder = root / "alice" / date
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "closeup.jpg").write_bytes(encoded)
    coffee = Image.fromarray(skdata.coffee())
    coffee.save(root / "alice" / "2026-03-02" / "closeup-2.jpg", format="JPEG", quality=90)
    (root / "alice" / "2026-03-02" / "notes.txt").write_text("patient tolerated well\n", "utf-8")

    (root / "bob").mkdir()
    bob = _session_photos(202, ["2026-01-10", "2026-02-07"], light_azimuth=60.0)
    # Named so the later session sorts first by name: only the EXIF date orders them.
    (root / "bob" / "left-45 b.jpg").write_bytes(bob[0][1])
    (root / "bob" / "left-45 a.jpg").write_bytes(bob[1][1])

    carol = _session_photos(303, ["2026-04-01", "2026-05-06"])
    for label, (_, encoded) in zip(["visit-1", "visit-2"], carol, strict=True):
        folder = root / "carol" / label
        folder.mkdir(parents=True)
        (folder / "frontal.jpg").write_bytes(encoded)
    mask = np.zeros((SIZE[1], SIZE[0]), dtype=np.uint8)
    Image.fromarray(mask).save(root / "carol" / "visit-1" / "frontal.mask.png")
    (root / "carol" / "visit-1" / "frontal-copy.jpg").write_bytes(
        carol[0][1][: len(carol[0][1]) // 2]
    )
    (root / "carol" / "visit-2" / "readme.jpg").write_text("This is not a photo.\n", "utf-8")

    return Archive(
        root=root,
        good=(
            "alice/2026-01-05/closeup.jpg",
            "alice/2026-02-02/closeup.jpg",
            "alice/2026-03-02/closeup.jpg",
            "alice/2026-03-02/closeup-2.jpg",
            "bob/left-45 b.jpg",
            "bob/left-45 a.jpg",
            "carol/visit-1/frontal.jpg",
            "carol/visit-2/frontal.jpg",
        ),
        corrupt="carol/visit-1/frontal-copy.jpg",
        text="carol/visit-2/readme.jpg",
        unrelated="alice/2026-03-02/closeup-2.jpg",
        skipped=("alice/2026-03-02/notes.txt", "carol/visit-1/frontal.mask.png"),
    )


@pytest.fixture(scope="session")
def archive_template(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """The archive, generated once per test session (treat as read-only)."""
    return make_archive(tmp_path_factory.mktemp("batch-archive") / "in")


@pytest.fixture
def small_archive(archive_template: Archive, tmp_path: Path) -> Path:
    """A private copy of bob's and carol's folders only (with carol's two bad files).

    Half the work of the whole archive, for the tests that run the batch again
    (on Dask, interrupted); their rows must equal the whole archive's rows for
    the same photos.
    """
    root = tmp_path / "in"
    root.mkdir()
    for patient in SMALL_PATIENTS:
        shutil.copytree(archive_template.root / patient, root / patient)
    return root
