"""What the GUI shows, gathered on worker threads: a patient's records and a pair's pixels.

Nothing here touches a widget. :func:`load_snapshot` reads one patient's
sessions, photos, analyses (with the clinician's corrections applied),
alignments and corrections from the library into frozen records;
:func:`trend_rows` turns a snapshot into the numbers of the results panel;
:func:`load_pair` decodes two photos (once: a small cache keeps recent ones),
warps the later one into the earlier one's frame through the stored
alignments, makes the difference image and builds the display pyramids.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps
from PySide6.QtGui import QImage

from scarview.core.align import warp_to_before
from scarview.core.io import read_photo
from scarview.core.types import (
    SCAR_TYPES,
    CancelToken,
    ProgressCallback,
    Scar,
    ScarSummary,
    check_cancel,
    report_progress,
)
from scarview.gui import engine
from scarview.gui.pyramid import ImagePyramid, build_pyramid
from scarview.gui.qimage import array_to_qimage
from scarview.store import (
    AlignmentRecord,
    AnalysisRecord,
    CorrectionRecord,
    Library,
    PatientRecord,
    PhotoRecord,
    SessionRecord,
)

FloatArray = NDArray[np.float64]

#: Alignment residual (baseline pixels) up to which a pair is badged "good".
GOOD_RMSE_PX = 0.6


def view_key(photo: PhotoRecord) -> str:
    """What pairs photos across sessions: the view, else the file name's stem."""
    if photo.view:
        return photo.view
    return "file:" + Path(photo.original_name).stem.casefold()


def view_title(key: str) -> str:
    """A view key for people (``"closeup"`` -> ``"Close-up"``, files by name)."""
    titles = {
        "frontal": "Frontal",
        "left-45": "Left 45°",
        "right-45": "Right 45°",
        "left-90": "Left 90°",
        "right-90": "Right 90°",
        "closeup": "Close-up",
    }
    if key.startswith("file:"):
        return key[5:]
    return titles.get(key, key)


def format_date(value: date | None, fallback: str = "") -> str:
    """``5 Jan 2026`` (locale-independent, no leading zero)."""
    if value is None:
        return fallback
    return f"{value.day} {value:%b} {value.year}"


# ---------------------------------------------------------------------------------- records


@dataclass(frozen=True, eq=False)
class PhotoResult:
    """One photo with its effective measurement (corrections applied).

    Attributes
    ----------
    photo : PhotoRecord
    analysis : AnalysisRecord or None
        The latest stored analysis; None until the photo is analysed.
    summary : ScarSummary or None
        Totals with the corrections applied.
    scars : tuple of Scar
        The scars counted (``source == "manual"`` for drawn ones).
    removed : tuple of Scar
        Scars the analysis found and a clinician removed (shown crossed out).
    roi : ndarray of shape (N, 2) and dtype float64, or None
        Region of interest in this photo's pixels.
    px_per_mm : float or None
    calibration_method : str
    alignment : AlignmentRecord or None
        How this photo maps onto its baseline photo.
    corrections : tuple of CorrectionRecord
        Active corrections, oldest first.
    warnings : tuple of str
    up_to_date : bool
        False while a correction waits to be applied by processing.
    """

    photo: PhotoRecord
    analysis: AnalysisRecord | None = None
    summary: ScarSummary | None = None
    scars: tuple[Scar, ...] = ()
    removed: tuple[Scar, ...] = ()
    roi: FloatArray | None = None
    px_per_mm: float | None = None
    calibration_method: str = "none"
    alignment: AlignmentRecord | None = None
    corrections: tuple[CorrectionRecord, ...] = ()
    warnings: tuple[str, ...] = ()
    up_to_date: bool = True

    @property
    def analysed(self) -> bool:
        """True once the photo has an analysis."""
        return self.analysis is not None

    def scar(self, scar_id: int) -> Scar | None:
        """The counted scar with this id."""
        return next((s for s in self.scars if s.id == scar_id), None)


@dataclass(frozen=True, eq=False)
class SessionEntry:
    """A session and its photos."""

    session: SessionRecord
    photos: tuple[PhotoResult, ...]

    def photo(self, key: str) -> PhotoResult | None:
        """This session's photo of view ``key`` (see :func:`view_key`)."""
        return next((p for p in self.photos if view_key(p.photo) == key), None)

    @property
    def title(self) -> str:
        """The date, else the label."""
        return format_date(self.session.session_date, self.session.label)


@dataclass(frozen=True, eq=False)
class PatientSnapshot:
    """Everything the window shows about one patient, read in one go.

    Attributes
    ----------
    patient : PatientRecord
    sessions : tuple of SessionEntry
        Earliest first; the first is the baseline.
    view_keys : tuple of str
        The views photographed, baseline's first.
    """

    patient: PatientRecord
    sessions: tuple[SessionEntry, ...]
    view_keys: tuple[str, ...]

    def session_index(self, session_id: int) -> int | None:
        """Position of a session, or None."""
        return next((i for i, s in enumerate(self.sessions) if s.session.id == session_id), None)

    def photo_result(self, photo_id: int) -> PhotoResult | None:
        """The result of a photo of this patient."""
        for entry in self.sessions:
            for result in entry.photos:
                if result.photo.id == photo_id:
                    return result
        return None

    def baseline(self, key: str) -> PhotoResult | None:
        """The first session's photo of a view."""
        return self.sessions[0].photo(key) if self.sessions else None


def _load_photo(library: Library, photo: PhotoRecord) -> PhotoResult:
    corrections = library.corrections_of(photo.id)
    analysis, up_to_date = engine.current_analysis(library, photo.id, corrections)
    alignment = library.alignment_for(photo.id)
    if analysis is None:
        return PhotoResult(photo, alignment=alignment, corrections=corrections)
    effective = engine.effective_result(library, photo, analysis, corrections, up_to_date)
    return PhotoResult(
        photo=photo,
        analysis=analysis,
        summary=effective.summary,
        scars=effective.scars,
        removed=effective.removed,
        roi=effective.roi,
        px_per_mm=effective.px_per_mm,
        calibration_method=effective.calibration_method,
        alignment=alignment,
        corrections=corrections,
        warnings=analysis.warnings,
        up_to_date=effective.up_to_date,
    )


def load_snapshot(
    library: Library, patient_id: int, *, cancel: CancelToken | None = None
) -> PatientSnapshot:
    """Read one patient for the window (run on a worker thread).

    Parameters
    ----------
    library : Library
    patient_id : int
    cancel : CancelToken, optional
        Checked between photos.

    Returns
    -------
    PatientSnapshot
    """
    patient = library.get_patient(patient_id)
    entries: list[SessionEntry] = []
    keys: list[str] = []
    for session in library.sessions_of(patient_id):
        results = []
        for photo in library.photos_of(session.id):
            check_cancel(cancel)
            results.append(_load_photo(library, photo))
            key = view_key(photo)
            if key not in keys:
                keys.append(key)
        entries.append(SessionEntry(session, tuple(results)))
    return PatientSnapshot(patient, tuple(entries), tuple(keys))


def interior_point(contour: FloatArray, fallback_xy: tuple[float, float]) -> tuple[float, float]:
    """The point of an outline farthest inside it (its centroid when that is inside).

    Parameters
    ----------
    contour : ndarray of shape (N, 2) and dtype float64
        Closed outline ``(x, y)`` in photo pixels.
    fallback_xy : (float, float)
        Returned when the outline has fewer than three points.

    Returns
    -------
    (float, float)
        ``(x, y)`` in photo pixels, inside the outline.
    """
    pts = np.asarray(contour, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return float(fallback_xy[0]), float(fallback_xy[1])
    if cv2.pointPolygonTest(pts.astype(np.float32), tuple(map(float, fallback_xy)), True) >= 1.0:
        return float(fallback_xy[0]), float(fallback_xy[1])
    x0, y0 = np.floor(pts.min(axis=0)) - 2
    x1, y1 = np.ceil(pts.max(axis=0)) + 2
    mask = np.zeros((int(y1 - y0) + 1, int(x1 - x0) + 1), np.uint8)
    cv2.fillPoly(mask, [np.round(pts - (x0, y0)).astype(np.int32)], 255)
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    row, col = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return float(col + x0), float(row + y0)


# ------------------------------------------------------------------------------ trend rows


@dataclass(frozen=True)
class TrendRow:
    """One session's numbers in the results panel (one view).

    Attributes
    ----------
    session : SessionRecord
    photo_id : int or None
        None when the session has no photo of the view.
    is_baseline : bool
    analysed : bool
    count : int or None
    area_mm2 : float or None
    by_type : Mapping of str to (int, float or None)
        Count and area (mm²) per scar type.
    change_mm2, change_pct : float or None
        From the baseline; None for the baseline, without scale, or when the
        photo could not be aligned (``aligned is False``).
    change_count : int or None
    aligned : bool or None
        None for the baseline or when no alignment was attempted yet.
    alignment_text : str
        E.g. ``"0.42 px"``, ``"failed"``, ``"manual, 0.8 px"``.
    alignment_reason : str or None
        Why the alignment failed.
    corrections : int
        Active corrections on the photo.
    calibration_method : str
    """

    session: SessionRecord
    photo_id: int | None
    is_baseline: bool
    analysed: bool
    count: int | None = None
    area_mm2: float | None = None
    by_type: Mapping[str, tuple[int, float | None]] = field(default_factory=dict)
    change_mm2: float | None = None
    change_pct: float | None = None
    change_count: int | None = None
    aligned: bool | None = None
    alignment_text: str = ""
    alignment_reason: str | None = None
    corrections: int = 0
    calibration_method: str = "none"


def alignment_text(record: AlignmentRecord | None) -> str:
    """Short description of an alignment for tables and badges."""
    if record is None:
        return ""
    a = record.alignment
    if not a.ok:
        return "failed"
    manual = a.method.startswith("manual")
    rmse = "" if a.rmse_px is None else f"{a.rmse_px:.2f} px"
    if manual:
        return f"manual, {rmse}" if rmse else "manual"
    return rmse or "aligned"


def trend_rows(snapshot: PatientSnapshot, key: str) -> list[TrendRow]:
    """The results-panel rows of one view, earliest session first."""
    baseline = snapshot.baseline(key)
    base_summary = baseline.summary if baseline is not None else None
    rows: list[TrendRow] = []
    for index, entry in enumerate(snapshot.sessions):
        result = entry.photo(key)
        if result is None:
            rows.append(TrendRow(entry.session, None, index == 0, False))
            continue
        is_baseline = index == 0
        summary = result.summary
        record = result.alignment
        aligned: bool | None = None
        reason = None
        if not is_baseline and record is not None:
            aligned = bool(record.alignment.ok)
            reason = record.alignment.reason
        change_mm2 = change_pct = None
        change_count = None
        if not is_baseline and aligned and summary is not None and base_summary is not None:
            change_count = summary.count - base_summary.count
            if summary.area_mm2 is not None and base_summary.area_mm2 is not None:
                change_mm2 = summary.area_mm2 - base_summary.area_mm2
                if base_summary.area_mm2 > 0:
                    change_pct = 100.0 * change_mm2 / base_summary.area_mm2
        by_type: dict[str, tuple[int, float | None]] = {}
        if summary is not None:
            for scar_type in SCAR_TYPES:
                part = summary.by_type.get(scar_type)
                by_type[scar_type] = (0, 0.0) if part is None else (part.count, part.area_mm2)
        rows.append(
            TrendRow(
                session=entry.session,
                photo_id=result.photo.id,
                is_baseline=is_baseline,
                analysed=summary is not None,
                count=None if summary is None else summary.count,
                area_mm2=None if summary is None else summary.area_mm2,
                by_type=by_type,
                change_mm2=change_mm2,
                change_pct=change_pct,
                change_count=change_count,
                aligned=aligned,
                alignment_text="" if is_baseline else alignment_text(record),
                alignment_reason=reason,
                corrections=len(result.corrections),
                calibration_method=result.calibration_method,
            )
        )
    return rows


# ------------------------------------------------------------------------------------ pairs


@dataclass(frozen=True)
class PairQuality:
    """How far a pair can be trusted, for the badge.

    Attributes
    ----------
    state : {"good", "fair", "failed", "pending", "same"}
    title : str
        Badge text, e.g. ``"Aligned · 0.42 px"``.
    detail : str
        Tooltip / explanation; the failure's reason when failed.
    ok : bool
        Change figures may be shown.
    """

    state: str
    title: str
    detail: str
    ok: bool


def _invert(H: FloatArray) -> FloatArray:
    inv = np.linalg.inv(H)
    return np.asarray(inv / inv[2, 2], dtype=np.float64)


def pair_transform(
    before: PhotoResult, after: PhotoResult
) -> tuple[FloatArray | None, PairQuality]:
    """The homography taking AFTER's pixels into BEFORE's frame, and the pair's quality.

    Both photos are aligned onto the patient's baseline photo; a pair of two
    follow-ups goes through it (``inv(H_before) @ H_after``) and is as good as
    the worse of its two alignments.
    """
    if before.photo.id == after.photo.id:
        return np.eye(3), PairQuality("same", "Same photo", "Both sides show the same photo.", True)
    links: list[tuple[AlignmentRecord | None, bool]] = []  # (record, invert)
    H_after: FloatArray | None = np.eye(3)
    H_before: FloatArray | None = np.eye(3)
    if after.alignment is not None and after.alignment.baseline_photo_id == before.photo.id:
        links.append((after.alignment, False))
        H_after = after.alignment.alignment.homography
    elif before.alignment is not None and before.alignment.baseline_photo_id == after.photo.id:
        links.append((before.alignment, True))
        H_before = before.alignment.alignment.homography
    elif (
        before.alignment is not None
        and after.alignment is not None
        and before.alignment.baseline_photo_id == after.alignment.baseline_photo_id
    ):
        links.append((before.alignment, True))
        links.append((after.alignment, False))
        H_before = before.alignment.alignment.homography
        H_after = after.alignment.alignment.homography
    else:
        pending = not (before.analysed and after.analysed) or (
            before.alignment is None and after.alignment is None
        )
        return None, PairQuality(
            "pending" if pending else "failed",
            "Not aligned yet" if pending else "No alignment",
            "The photos have not been aligned yet; change figures appear once they are."
            if pending
            else "These photos have no alignment onto the same baseline photo.",
            False,
        )
    if H_before is None or H_after is None:
        broken = next((r for r, _ in links if r is not None and not r.alignment.ok), None)
        reason = (broken.alignment.reason if broken else None) or "No transformation was found."
        return None, PairQuality("failed", "Alignment failed", reason, False)
    H = _invert(np.asarray(H_before, dtype=np.float64)) @ np.asarray(H_after, dtype=np.float64)
    H = H / H[2, 2]
    records = [r for r, _ in links if r is not None]
    failed = [r for r in records if not r.alignment.ok]
    if failed:
        reason = failed[0].alignment.reason or "The alignment is not trustworthy."
        return H, PairQuality(
            "failed",
            "Alignment failed",
            reason + " No change is reported for this pair; align it by hand if needed.",
            False,
        )
    rmses = [r.alignment.rmse_px for r in records if r.alignment.rmse_px is not None]
    worst = max(rmses) if rmses else None
    manual = any(r.alignment.method.startswith("manual") for r in records)
    rmse_text = "" if worst is None else f"{worst:.2f} px"
    via = " (through the baseline)" if len(records) > 1 else ""
    method = ", ".join(sorted({r.alignment.method for r in records}))
    detail = f"Residual misalignment {rmse_text or 'unknown'}{via}; method {method}."
    warnings = [w for r in records for w in r.alignment.warnings]
    if warnings:
        detail += " " + " ".join(warnings)
    if manual:
        return H, PairQuality("fair", f"Aligned by hand · {rmse_text}".rstrip(" ·"), detail, True)
    if worst is not None and worst <= GOOD_RMSE_PX and not warnings:
        return H, PairQuality("good", f"Aligned · {rmse_text}", detail, True)
    return H, PairQuality("fair", f"Aligned · {rmse_text}".rstrip(" ·"), detail, True)


@dataclass(frozen=True, eq=False)
class PairImages:
    """The pixels of a pair, ready to paint.

    Attributes
    ----------
    before_id, after_id : int
        Photo ids.
    before : ImagePyramid
        BEFORE in its own pixels (the frame).
    after_raw : ImagePyramid
        AFTER in its own pixels.
    after_aligned : ImagePyramid or None
        AFTER warped into BEFORE's frame (None without a homography).
    difference : ImagePyramid or None
        Where the aligned photos differ (None without a homography).
    homography : ndarray of shape (3, 3) and dtype float64, or None
        AFTER pixels -> BEFORE frame pixels.
    """

    before_id: int
    after_id: int
    before: ImagePyramid
    after_raw: ImagePyramid
    after_aligned: ImagePyramid | None
    difference: ImagePyramid | None
    homography: FloatArray | None


class PhotoCache:
    """A small thread-safe cache of decoded photos, their pyramids and derived pictures.

    Parameters
    ----------
    capacity : int
        Photos kept (each holds its RGB array and pyramid: about 100 MB for 12 MP).
    """

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[NDArray[np.uint8], ImagePyramid]] = OrderedDict()
        self._derived: OrderedDict[tuple[object, ...], ImagePyramid] = OrderedDict()

    def get(
        self, photo: PhotoRecord, cancel: CancelToken | None = None
    ) -> tuple[NDArray[np.uint8], ImagePyramid]:
        """The photo's RGB pixels and pyramid, decoding it on a miss."""
        with self._lock:
            hit = self._items.get(photo.sha256)
            if hit is not None:
                self._items.move_to_end(photo.sha256)
                return hit
        rgb = read_photo(photo.path).rgb
        check_cancel(cancel)
        item = (rgb, build_pyramid(rgb, cancel=cancel))
        with self._lock:
            self._items[photo.sha256] = item
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return item

    def derived(self, key: tuple[object, ...], make: Callable[[], ImagePyramid]) -> ImagePyramid:
        """A picture derived from photos (aligned AFTER, difference), made on a miss."""
        with self._lock:
            hit = self._derived.get(key)
            if hit is not None:
                self._derived.move_to_end(key)
                return hit
        item = make()
        with self._lock:
            self._derived[key] = item
            while len(self._derived) > 4:
                self._derived.popitem(last=False)
        return item

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._derived.clear()


def _pair_key(
    kind: str, before: PhotoRecord, after: PhotoRecord, H: FloatArray
) -> tuple[object, ...]:
    return (kind, before.sha256, after.sha256, np.asarray(H, dtype=np.float64).round(6).tobytes())


def load_pair(
    before: PhotoRecord,
    after: PhotoRecord,
    homography: FloatArray | None,
    cache: PhotoCache,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PairImages:
    """Decode and align two photos for display (run on a worker thread).

    The difference picture is slower and comes separately (:func:`load_difference`),
    so the photos are on screen first.

    Parameters
    ----------
    before, after : PhotoRecord
    homography : ndarray of shape (3, 3) and dtype float64, or None
        AFTER pixels -> BEFORE pixels (see :func:`pair_transform`).
    cache : PhotoCache
    progress, cancel
        The usual callback and cancel event.

    Returns
    -------
    PairImages
        With ``difference`` None.
    """
    report_progress(progress, 0.0, "Opening the photos")
    before_rgb, before_pyr = cache.get(before, cancel)
    report_progress(progress, 0.35, "Opening the photos")
    after_rgb, after_pyr = cache.get(after, cancel)
    check_cancel(cancel)
    aligned = None
    if homography is not None:
        H = np.asarray(homography, dtype=np.float64)

        def make() -> ImagePyramid:
            report_progress(progress, 0.6, "Aligning the photos for display")
            warped = warp_to_before(after_rgb, H, before_rgb.shape)
            check_cancel(cancel)
            return build_pyramid(warped, cancel=cancel)

        aligned = cache.derived(_pair_key("aligned", before, after, H), make)
    report_progress(progress, 1.0, "Photos ready")
    return PairImages(
        before.id,
        after.id,
        before_pyr,
        after_pyr,
        aligned,
        None,
        None if homography is None else np.asarray(homography, dtype=np.float64),
    )


#: The difference picture is computed with at most this many pixels on its long side.
DIFFERENCE_MAX_SIDE_PX = 2048


def load_difference(
    before: PhotoRecord,
    after: PhotoRecord,
    homography: FloatArray,
    cache: PhotoCache,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ImagePyramid:
    """The pyramid of the Difference mode's picture (run on a worker thread).

    Computed at a display resolution (long side at most
    :data:`DIFFERENCE_MAX_SIDE_PX`) and mapped onto BEFORE's whole frame.

    Parameters
    ----------
    before, after : PhotoRecord
    homography : ndarray of shape (3, 3) and dtype float64
        AFTER pixels -> BEFORE pixels.
    cache : PhotoCache
    progress, cancel
        The usual callback and cancel event.

    Returns
    -------
    ImagePyramid
        In BEFORE's frame (``width``, ``height`` of BEFORE).
    """
    H = np.asarray(homography, dtype=np.float64)

    def make() -> ImagePyramid:
        report_progress(progress, 0.0, "Computing the difference picture")
        before_rgb, _ = cache.get(before, cancel)
        after_rgb, _ = cache.get(after, cancel)
        rows, cols = before_rgb.shape[:2]
        scale = min(1.0, DIFFERENCE_MAX_SIDE_PX / max(rows, cols))
        size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
        # AFTER straight into the reduced BEFORE frame: scale after the homography.
        S = np.diag([scale, scale, 1.0])
        small_before = cv2.resize(before_rgb, size, interpolation=cv2.INTER_AREA)
        small_shape = (size[1], size[0])
        warped = warp_to_before(after_rgb, S @ H, small_shape)
        valid = warp_to_before(np.full(after_rgb.shape[:2], 255, np.uint8), S @ H, small_shape)
        check_cancel(cancel)
        picture = engine.difference_rgb(small_before, warped, valid > 127)
        check_cancel(cancel)
        return build_pyramid(picture, frame_size=(cols, rows), cancel=cancel)

    pyramid = cache.derived(_pair_key("difference", before, after, H), make)
    report_progress(progress, 1.0, "Difference picture ready")
    return pyramid


# ------------------------------------------------------------------------------ thumbnails


def load_thumbnail(path: Path, max_side_px: int) -> QImage:
    """A small preview of a photo file (display only), EXIF orientation applied.

    Uses JPEG's reduced-size decoding, so it costs a few milliseconds even for
    a 12-megapixel photo.

    Parameters
    ----------
    path : Path
    max_side_px : int
        Longest side of the result in pixels.

    Returns
    -------
    QImage
        Null when the file cannot be read.
    """
    try:
        with Image.open(path) as image:
            image.draft("RGB", (max_side_px * 2, max_side_px * 2))
            oriented = ImageOps.exif_transpose(image)
            oriented = oriented.convert("RGB")
            oriented.thumbnail((max_side_px, max_side_px), Image.Resampling.LANCZOS)
            rgb = np.asarray(oriented, dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError):
        return QImage()
    return array_to_qimage(rgb)
