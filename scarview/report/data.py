"""Plain data for a patient's PDF progress report: everything the PDF shows, nothing more.

Two layers keep the GUI, the CLI and the batch runner producing the same file:
whoever gathers the numbers (:mod:`scarview.report.from_library` for the library,
:mod:`scarview.batch` for a folder job) builds one :class:`ReportData`, and
:func:`scarview.report.pdf.render_report` turns it into the PDF. This module does
no I/O and imports neither the library nor Qt.

Conventions
-----------
* One :class:`SessionReport` per photographed view of one session, in session
  order (oldest first). A session photographed in two views gives two entries
  with the same ``session_date``/``label`` and different ``view``.
* For each view, the first entry is that view's baseline; the change figures of
  every later entry of the same view are relative to it.
* Change figures are ``None`` whenever the pair could not be aligned
  (``alignment_ok is False``): the PDF then shows ``alignment_reason`` instead.
* Images are RGB ``uint8`` arrays already reduced to print resolution (see
  :func:`fit_for_print`); the renderer re-encodes them as metadata-free JPEG.
* The clinical record (treatment log and clinical grades) is one
  :class:`ClinicalSession` per session of the patient, in session order, whether
  or not anything was recorded at it. Scores are computed from the entered inputs
  with :mod:`scarview.core.grading`, so every session is scored with the same tables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from scarview.core.grading import (
    GB_QUALITATIVE_GRADES,
    PatientReportedOutcome,
    SessionGrades,
    TreatmentRecord,
)
from scarview.core.types import SCAR_TYPES, TypeSummary

#: Printed width of one photo in the side-by-side figure, in millimetres (A4 portrait,
#: two photos across the text width).
SIDE_BY_SIDE_WIDTH_MM: Final = 84.0
#: Resolution photos are embedded at, in dots per inch of the printed page.
PRINT_DPI: Final = 180.0
#: Longest side, in pixels, of a photo embedded in the report (``SIDE_BY_SIDE_WIDTH_MM``
#: at ``PRINT_DPI``, rounded).
PRINT_MAX_SIDE_PX: Final = round(SIDE_BY_SIDE_WIDTH_MM / 25.4 * PRINT_DPI)


def fit_for_print(
    rgb: NDArray[np.uint8], max_side_px: int = PRINT_MAX_SIDE_PX
) -> NDArray[np.uint8]:
    """Reduce an RGB image so that its longer side is at most ``max_side_px``.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
        RGB pixels (an overlay or a photo).
    max_side_px : int
        Longest side allowed, in pixels (default: :data:`PRINT_MAX_SIDE_PX`,
        about 180 dpi at the side-by-side print width).

    Returns
    -------
    ndarray of shape (h, w, 3) and dtype uint8
        C-contiguous; the input itself (as a contiguous array) when it is already
        small enough, else an area-averaged reduction keeping the aspect ratio.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    height, width = rgb.shape[:2]
    longest = max(height, width)
    if longest <= max_side_px:
        return np.ascontiguousarray(rgb)
    scale = max_side_px / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    out: NDArray[np.uint8] = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(out)


_PATH_START: Final = r"(?:[A-Za-z]:[\\/]|\\\\|~[\\/]|/)"
#: A quoted path may hold spaces: replace everything between the quotes.
_QUOTED_PATH_RE: Final = re.compile(r"""(['"])""" + _PATH_START + r"""[^'"\n]*\1""")
_PATH_RE: Final = re.compile(
    r"(?<![\w.])" + _PATH_START + r"""(?:[^\s/\\'"]+[\\/])*[^\s/\\'"]*[^\s/\\'".,;:)]"""
)


def scrub_paths(text: str) -> str:
    """Replace anything that looks like an absolute file path with ``"[file]"``.

    Warnings and alignment reasons are printed in the report; a sentence such as
    ``"Cannot read '/home/clinic/photos/smith.jpg': ..."`` must not carry the
    clinic computer's folders (or a patient's name in a file name) into it.

    Parameters
    ----------
    text : str
        A sentence for the clinician.

    Returns
    -------
    str
        The sentence with every absolute POSIX path (``/a/b``), Windows path
        (``C:\\a``, ``\\\\server\\share``) and home-relative path (``~/a``)
        replaced. Relative tokens such as ``px/mm`` are kept.
    """
    return _PATH_RE.sub("[file]", _QUOTED_PATH_RE.sub(r"\1[file]\1", text))


def _check_rgb(name: str, image: NDArray[np.uint8] | None) -> None:
    if image is None:
        return
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB array, got {image.shape}")


@dataclass(frozen=True, eq=False)
class SessionReport:
    """One photographed view of one session, as the report shows it.

    Attributes
    ----------
    session_date : date or None
        The session's date (``None`` when unknown; the label is shown instead).
    label : str
        The session's name in the library or the batch folder (often the ISO date).
    view : str or None
        The photographed view (``"closeup"``, ``"left-45"``...), ``None`` when unknown.
    count : int
        Scars found inside the region of interest.
    area_mm2 : float or None
        Total pitted-scar area, mm² (``None`` without a scale).
    by_type : Mapping of str to TypeSummary
        ``{"icepick": TypeSummary(count, area_mm2), "boxcar": ..., "rolling": ...}``;
        a missing type counts as zero.
    calibration_method : str
        ``"marker"``, ``"manual"`` or ``"none"``.
    px_per_mm : float or None
        The scale the areas were computed with, pixels per millimetre.
    calibration_uncertainty_pct : float or None
        One-sigma relative uncertainty of ``px_per_mm``, percent.
    is_baseline : bool
        True for the first entry of its view (no alignment, no change figures).
    alignment_ok : bool or None
        Whether this photo could be aligned onto the baseline photo; ``None`` for
        the baseline itself or when no alignment was attempted.
    alignment_method : str or None
        E.g. ``"sift+magsac+ecc"``.
    alignment_rmse_px : float or None
        Residual alignment error in baseline pixels.
    alignment_reason : str or None
        Why the alignment failed, one sentence for the clinician.
    change_area_mm2 : float or None
        Area minus the baseline's area, mm²; ``None`` for the baseline, without a
        scale, or when ``alignment_ok`` is not True.
    change_area_pct : float or None
        The same change in percent of the baseline's area.
    change_count : int or None
        Scar count minus the baseline's count (``None`` as for ``change_area_mm2``).
    baseline_overlay_rgb : ndarray of shape (H, W, 3) and dtype uint8, or None
        The baseline photo with the baseline's scar outlines, at print resolution
        (:func:`fit_for_print`). Shown on the left of the side-by-side.
    overlay_rgb : ndarray of shape (H, W, 3) and dtype uint8, or None
        This photo with its scar outlines, at print resolution. For a follow-up
        aligned onto the baseline it is warped into the baseline's frame (same
        shape as ``baseline_overlay_rgb``); when alignment failed it is the photo
        unwarped; for the baseline it is the baseline overlay itself.
    overlay_aligned : bool
        True when ``overlay_rgb`` is in the baseline's frame.
    algorithm_version : str
        The analysis version that produced the numbers.
    notes : str
        The session's free-text notes (dropped from a de-identified report).
    warnings : tuple of str
        Analysis or calibration warnings worth printing (one sentence each, no paths).
    """

    session_date: date | None
    label: str
    view: str | None
    count: int
    area_mm2: float | None
    by_type: Mapping[str, TypeSummary] = field(default_factory=dict)
    calibration_method: str = "none"
    px_per_mm: float | None = None
    calibration_uncertainty_pct: float | None = None
    is_baseline: bool = False
    alignment_ok: bool | None = None
    alignment_method: str | None = None
    alignment_rmse_px: float | None = None
    alignment_reason: str | None = None
    change_area_mm2: float | None = None
    change_area_pct: float | None = None
    change_count: int | None = None
    baseline_overlay_rgb: NDArray[np.uint8] | None = None
    overlay_rgb: NDArray[np.uint8] | None = None
    overlay_aligned: bool = False
    algorithm_version: str = ""
    notes: str = ""
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Check the images' shapes and dtypes."""
        _check_rgb("baseline_overlay_rgb", self.baseline_overlay_rgb)
        _check_rgb("overlay_rgb", self.overlay_rgb)

    @property
    def title(self) -> str:
        """``"2026-03-02"`` (or the label when the date is unknown)."""
        return self.session_date.isoformat() if self.session_date else self.label

    def type_summary(self, scar_type: str) -> TypeSummary:
        """Count and area of one type (zero count when the type is absent)."""
        found = self.by_type.get(scar_type)
        if found is not None:
            return found
        return TypeSummary(count=0, area_mm2=0.0 if self.area_mm2 is not None else None)

    @property
    def change_reportable(self) -> bool:
        """True when change figures may be shown (aligned follow-up with a scale)."""
        return (
            not self.is_baseline and self.alignment_ok is True and self.change_area_mm2 is not None
        )


@dataclass(frozen=True)
class ClinicalSession:
    """What the clinic recorded at one session: the treatment given and the grades scored.

    Attributes
    ----------
    session_date : date or None
        The session's date (``None`` when unknown; the label is shown instead).
    label : str
        The session's name in the library (often the ISO date).
    treatment : TreatmentRecord or None
        The session's current treatment record; ``None`` when none was recorded.
    grades : SessionGrades or None
        The session's current clinical grades; ``None`` when none were recorded.
        A calculator whose ``*_suggested`` set is not empty rests on values
        suggested from the measurement that the clinician has not reviewed.
    """

    session_date: date | None
    label: str
    treatment: TreatmentRecord | None = None
    grades: SessionGrades | None = None

    @property
    def title(self) -> str:
        """``"2026-03-02"`` (or the label when the date is unknown)."""
        return self.session_date.isoformat() if self.session_date else self.label

    @property
    def has_treatment(self) -> bool:
        """True when a treatment record was saved for the session."""
        return self.treatment is not None

    @property
    def has_grades(self) -> bool:
        """True when at least one clinical grade was saved for the session."""
        return self.grades is not None and not self.grades.is_empty

    @property
    def has_record(self) -> bool:
        """True when anything (treatment or a grade) was recorded at the session."""
        return self.has_treatment or self.has_grades

    @property
    def gb_qualitative(self) -> int | None:
        """Goodman and Baron qualitative grade, 1 to 4 (``None`` when not graded)."""
        return None if self.grades is None else self.grades.gb_qualitative

    @property
    def gb_qualitative_name(self) -> str | None:
        """The qualitative grade's name (``"Moderate"``...), ``None`` when not graded."""
        grade = self.gb_qualitative
        return None if grade is None else GB_QUALITATIVE_GRADES[grade - 1].name

    @property
    def gb_quantitative(self) -> int | None:
        """Goodman and Baron quantitative score, 0 to 84 (``None`` when not scored)."""
        result = None if self.grades is None else self.grades.gb_quantitative_result
        return None if result is None else result.total

    @property
    def gb_quantitative_suggested(self) -> bool:
        """True when the quantitative score rests on suggested, unreviewed values."""
        return self.grades is not None and bool(self.grades.gb_quantitative_suggested)

    @property
    def ecca(self) -> int | None:
        """ECCA score, 0 to 540 (``None`` when not scored)."""
        result = None if self.grades is None else self.grades.ecca_result
        return None if result is None else result.total

    @property
    def ecca_suggested(self) -> bool:
        """True when the ECCA score rests on suggested, unreviewed values."""
        return self.grades is not None and bool(self.grades.ecca_suggested)

    @property
    def pro(self) -> PatientReportedOutcome | None:
        """The patient-reported outcome (instrument and total score), when recorded."""
        return None if self.grades is None else self.grades.pro

    def deidentify(self) -> ClinicalSession:
        """Return a copy without the clinician's name or any free-text note.

        Dropped: ``clinician``, ``immediate_reactions``, ``other_adverse_events``
        and ``notes`` (free text can name people). Kept: the procedures, device,
        needle depth, passes, anaesthesia, the yes/no adverse events, days of
        erythema and every grade.
        """
        if self.treatment is None:
            return self
        from dataclasses import replace

        return replace(
            self,
            treatment=replace(
                self.treatment,
                clinician="",
                immediate_reactions="",
                other_adverse_events="",
                notes="",
            ),
        )


@dataclass(frozen=True, eq=False)
class ReportData:
    """Everything one patient's progress report shows.

    Attributes
    ----------
    clinic_name : str
        Printed in the header (from the settings); may be empty.
    patient_code : str
        The clinic's patient code; always printed.
    patient_name : str or None
        Printed unless ``deidentified``.
    birth_date : date or None
        Printed unless ``deidentified``.
    notes : str
        The patient's free-text notes; printed unless ``deidentified``.
    deidentified : bool
        When True the renderer prints neither name, date of birth nor any notes,
        and says that the report is de-identified. Builders should also leave
        those fields empty (:meth:`deidentify` does).
    generated_at : datetime
        When the report was made (local time), printed in the footer.
    software_version : str
        ScarView's version, printed in the footer.
    sessions : tuple of SessionReport
        In session order, oldest first (see the module's conventions).
    fitzpatrick : int or None
        Fitzpatrick skin type (1 to 6), printed when known.
    remarks : tuple of str
        Sentences printed under the summary, e.g. ``"1 photo was not analysed and
        is not included."`` (no file paths, no identifying text).
    clinical : tuple of ClinicalSession
        The treatment log and clinical grades of every session, oldest first
        (empty when the builder has no clinical record, e.g. a batch job). The
        report prints its section only when :attr:`has_clinical_data`.
    """

    clinic_name: str
    patient_code: str
    patient_name: str | None
    birth_date: date | None
    notes: str
    deidentified: bool
    generated_at: datetime
    software_version: str
    sessions: tuple[SessionReport, ...]
    fitzpatrick: int | None = None
    remarks: tuple[str, ...] = ()
    clinical: tuple[ClinicalSession, ...] = ()

    @property
    def has_clinical_data(self) -> bool:
        """True when a treatment or a grade was recorded at any session."""
        return any(c.has_record for c in self.clinical)

    @property
    def main_view(self) -> str | None:
        """The view photographed at the most sessions (ties: the first); ``None`` if none."""
        views = self.views
        if not views:
            return None
        return max(views, key=lambda v: (len(self.sessions_of_view(v)), -views.index(v)))

    def session_area_mm2(
        self, session_date: date | None, label: str, view: str | None
    ) -> float | None:
        """The total pitted-scar area (mm²) of one session's photo of ``view``, if measured."""
        for entry in self.sessions:
            if entry.session_date == session_date and entry.label == label and entry.view == view:
                return entry.area_mm2
        return None

    @property
    def views(self) -> tuple[str | None, ...]:
        """The distinct views, in order of first appearance."""
        seen: list[str | None] = []
        for entry in self.sessions:
            if entry.view not in seen:
                seen.append(entry.view)
        return tuple(seen)

    def sessions_of_view(self, view: str | None) -> tuple[SessionReport, ...]:
        """The entries of one view, oldest first (the first is its baseline)."""
        return tuple(s for s in self.sessions if s.view == view)

    @property
    def session_keys(self) -> tuple[tuple[date | None, str], ...]:
        """Distinct sessions as ``(session_date, label)``, oldest first."""
        keys: list[tuple[date | None, str]] = []
        for entry in self.sessions:
            key = (entry.session_date, entry.label)
            if key not in keys:
                keys.append(key)
        return tuple(keys)

    @property
    def session_count(self) -> int:
        """Number of distinct sessions (not photos)."""
        return len(self.session_keys)

    @property
    def date_range(self) -> tuple[date | None, date | None]:
        """First and last known session dates (``None`` when no date is known)."""
        dates = [s.session_date for s in self.sessions if s.session_date is not None]
        if not dates:
            return (None, None)
        return (min(dates), max(dates))

    def deidentify(self) -> ReportData:
        """Return a copy without name, date of birth, clinician or any free-text notes."""
        from dataclasses import replace

        return replace(
            self,
            patient_name=None,
            birth_date=None,
            notes="",
            deidentified=True,
            sessions=tuple(replace(s, notes="") for s in self.sessions),
            clinical=tuple(c.deidentify() for c in self.clinical),
        )


__all__ = [
    "PRINT_DPI",
    "PRINT_MAX_SIDE_PX",
    "SCAR_TYPES",
    "SIDE_BY_SIDE_WIDTH_MM",
    "ClinicalSession",
    "ReportData",
    "SessionReport",
    "fit_for_print",
    "scrub_paths",
]
