"""Fixtures for the report tests: a library holding the sample patient, measured.

The analyses stored here come from the sample patient's ground truth (its
``*.mask.png`` and ``*.truth.json``) and the alignments from its true
homographies, so the report tests depend on the library and the renderer only,
not on the scar detector's accuracy.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from scarview.core.grading import (
    EccaInput,
    GoodmanBaronInput,
    PatientReportedOutcome,
    SessionGrades,
    TreatmentRecord,
)
from scarview.core.io import read_mask
from scarview.core.types import Alignment, Calibration, Scar, ScarMap, ScarSummary, TypeSummary
from scarview.store import Library
from scarview.store.clinical import save_grades, save_treatment

SAMPLE = Path(__file__).resolve().parents[2] / "sample_images" / "demo-patient"
PATIENT_NAME = "Jane Quentin Example"
BIRTH_DATE = date(1987, 4, 23)
PATIENT_NOTES = "Prefers morning appointments; PRP added from session 2."
FAILED_REASON = "Too few skin features matched (12 of at least 40)."

#: The clinical record saved for the ``treated`` patient, by session label. The
#: session ``2026-02-02`` has none. Free text names people, to test de-identification.
CLINICIAN = "Dr Hildegard Voss"
TREATMENTS: dict[str, TreatmentRecord] = {
    "2026-01-05": TreatmentRecord(
        procedures=("microneedling", "prp"),
        device="Dermapen 4, 16-pin cartridge",
        needle_depth_mm=1.5,
        passes=3,
        anaesthesia="Topical lidocaine 5 %, 45 min",
        clinician=CLINICIAN,
        immediate_reactions="Pinpoint bleeding and oedema noted by nurse Bertrand Okafor",
        erythema_days=3,
        pih=True,
        other_adverse_events="Itching reported to Ms Rosalind Pemberton",
        notes="Discussed expectations with the patient's sister Marguerite Delacroix.\n\n"
        "Next session in four weeks; avoid retinoids for five days.",
    ),
    "2026-03-02": TreatmentRecord(
        procedures=("microneedling", "subcision", "other"),
        other_procedure="Cryo roller",
        device="SkinPen Precision",
        needle_depth_mm=1.75,
        passes=4,
        anaesthesia="Topical lidocaine 5 %",
        clinician=CLINICIAN,
        tram_track=True,
        notes="Subcision of two rolling scars on the left cheek, per Dr Ignatius Farquhar.",
    ),
}
GRADES: dict[str, SessionGrades] = {
    "2026-01-05": SessionGrades(
        gb_qualitative=3,
        gb_quantitative=GoodmanBaronInput(
            macular=4, punched_out_shallow=12, punched_out_deep_abnormal=23, deep_broad=2
        ),
        # The ECCA rests on the measurement's suggestion, not reviewed.
        ecca=EccaInput(v_shaped=3, u_shaped=2, m_shaped=1),
        ecca_suggested=frozenset({"v_shaped", "u_shaped", "m_shaped"}),
        pro=PatientReportedOutcome("ACNE-Q Appearance of Scars", 38.0),
    ),
    "2026-03-02": SessionGrades(
        gb_qualitative=3,
        gb_quantitative=GoodmanBaronInput(
            macular=3, punched_out_shallow=9, punched_out_deep_abnormal=15, deep_broad=1
        ),
        ecca=EccaInput(v_shaped=2, u_shaped=2, m_shaped=1, elastolysis=1),
        pro=PatientReportedOutcome("ACNE-Q Appearance of Scars", 51.0),
    ),
    "2026-03-30": SessionGrades(
        gb_qualitative=2,
        # The quantitative score rests on suggested counts, not reviewed.
        gb_quantitative=GoodmanBaronInput(punched_out_shallow=8, punched_out_deep_abnormal=11),
        gb_quantitative_suggested=frozenset({"punched_out_shallow", "punched_out_deep_abnormal"}),
        ecca=EccaInput(v_shaped=2, u_shaped=1, m_shaped=1),
        pro=PatientReportedOutcome("ACNE-Q Appearance of Scars", 64.0),
    ),
}


def record_clinical(library: Library, code: str) -> None:
    """Save :data:`TREATMENTS` and :data:`GRADES` on a patient's sessions."""
    patient = library.find_patient(code)
    for session in library.sessions_of(patient.id):
        if session.label in TREATMENTS:
            save_treatment(library, session.id, TREATMENTS[session.label])
        if session.label in GRADES:
            save_grades(library, session.id, GRADES[session.label])


def truth_scarmap(photo_path: Path) -> tuple[ScarMap, Calibration]:
    """A ScarMap built from the ground-truth mask beside ``photo_path``.

    Each connected component of the mask is one scar, typed after the nearest
    true scar centroid; areas use the truth's px/mm.
    """
    truth = json.loads(photo_path.with_suffix(".truth.json").read_text())
    mask = read_mask(photo_path.with_suffix(".mask.png"))
    px_per_mm = float(truth["px_per_mm"])
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    true_xy = np.array([s["centroid_xy"] for s in truth["scars"]], dtype=np.float64)
    true_types = [s["type"] for s in truth["scars"]]
    scars: list[Scar] = []
    for label in range(1, count):
        component = (labels == label).astype(np.uint8)
        contours, _ = cv2.findContours(component, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        contour = max(contours, key=len).reshape(-1, 2).astype(np.float64)
        cx, cy = centroids[label]
        nearest = int(np.argmin(np.hypot(true_xy[:, 0] - cx, true_xy[:, 1] - cy)))
        area_px = int(stats[label, cv2.CC_STAT_AREA])
        area_mm2 = area_px / px_per_mm**2
        scars.append(
            Scar(
                id=label,
                type=true_types[nearest],
                area_px=area_px,
                area_mm2=area_mm2,
                diameter_mm=2.0 * float(np.sqrt(area_mm2 / np.pi)),
                centroid_xy=(float(cx), float(cy)),
                bbox_xywh=tuple(int(v) for v in stats[label, :4]),  # type: ignore[arg-type]
                contour=contour,
                confidence=0.9,
            )
        )
    by_type = {
        t: TypeSummary(
            count=sum(1 for s in scars if s.type == t),
            area_mm2=sum(float(s.area_mm2 or 0.0) for s in scars if s.type == t),
        )
        for t in ("icepick", "boxcar", "rolling")
    }
    summary = ScarSummary(
        count=len(scars),
        area_mm2=sum(float(s.area_mm2 or 0.0) for s in scars),
        area_px=int(mask.sum()),
        roi_area_mm2=mask.size / px_per_mm**2,
        area_fraction=float(mask.mean()),
        by_type=by_type,
    )
    scarmap = ScarMap(
        scars=tuple(scars),
        labels=labels.astype(np.int32),
        summary=summary,
        px_per_mm=px_per_mm,
        algorithm_version="truth-1",
    )
    calibration = Calibration(px_per_mm, "marker", uncertainty_pct=0.5, marker_mm=10.0)
    return scarmap, calibration


def measure_patient(library: Library, code: str, *, fail_session: str | None = None) -> None:
    """Store truth analyses for every photo of a patient and truth alignments for follow-ups.

    ``fail_session``: the label of a session whose alignment is stored as failed.
    """
    patient = library.find_patient(code)
    for session in library.sessions_of(patient.id):
        for photo in library.photos_of(session.id):
            source = SAMPLE / session.label / photo.original_name
            scarmap, calibration = truth_scarmap(source)
            library.save_analysis(photo.id, scarmap, calibration, {"source": "truth"}, "truth-1")
            baseline = library.baseline_photo_for(photo.id)
            if baseline is None:
                continue
            if session.label == fail_session:
                alignment = Alignment(
                    ok=False,
                    method="sift+magsac+ecc-patches",
                    homography=None,
                    reason=FAILED_REASON,
                )
            else:
                truth = json.loads(source.with_suffix(".truth.json").read_text())
                alignment = Alignment(
                    ok=True,
                    method="sift+magsac+ecc-patches",
                    homography=np.asarray(truth["homography_to_baseline"], dtype=np.float64),
                    inliers=640,
                    inlier_ratio=0.8,
                    rmse_px=0.41,
                    ecc=0.97,
                )
            library.save_alignment(photo.id, baseline.id, alignment)


def _copy_photo(source: Path, target: Path, quality: int | None) -> None:
    """Copy a photo; with ``quality``, re-encode it (same pixels' geometry and EXIF date).

    The library stores identical bytes once, so each test patient needs its own bytes.
    """
    if quality is None:
        shutil.copy2(source, target)
        return
    with Image.open(source) as image:
        image.save(target, format="JPEG", quality=quality, exif=image.info.get("exif", b""))


@pytest.fixture(scope="session")
def sample_library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    """A library with three patients built from the sample photos, all measured.

    * ``demo-patient``: the four sessions, named, with date of birth and notes;
    * ``solo``: only the baseline session;
    * ``failed``: the four sessions, the third one's alignment failed;
    * ``treated``: the four sessions with a clinical record (:data:`TREATMENTS`,
      :data:`GRADES`); the others have none.
    """
    root = tmp_path_factory.mktemp("report-lib")
    sources = root / "sources"
    for code, sessions, quality in (
        ("demo-patient", None, None),
        ("solo", ["2026-01-05"], 91),
        ("failed", None, 89),
        ("treated", None, 87),
    ):
        for session in sorted(SAMPLE.iterdir()):
            if sessions is not None and session.name not in sessions:
                continue
            target = sources / code / session.name
            target.mkdir(parents=True)
            # Photos only: the truth files stay out of the library, as in a clinic.
            _copy_photo(session / "cheek-left.jpg", target / "cheek-left.jpg", quality)
    library = Library.open(root / "library")
    report = library.import_folder(sources)
    assert report.imported == 13, report
    demo = library.find_patient("demo-patient")
    library.update_patient(
        demo.id, name=PATIENT_NAME, birth_date=BIRTH_DATE, fitzpatrick=3, notes=PATIENT_NOTES
    )
    measure_patient(library, "demo-patient")
    measure_patient(library, "solo")
    measure_patient(library, "failed", fail_session="2026-03-02")
    measure_patient(library, "treated")
    record_clinical(library, "treated")
    yield library
    library.close()
