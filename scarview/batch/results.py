"""A photo's batch result as plain JSON-ready data, and back.

Workers send these small records to the parent (never pixel arrays); the parent
keeps them in the resume state and writes the CSV rows from them. Floats are
kept at full precision (JSON keeps a float exactly); rounding happens once,
when a row is formatted by :func:`scarview.core.records.measurement_row`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from scarview import __version__
from scarview.core.types import Alignment, Calibration, ScarSummary, TypeSummary

#: Version of the record layout below; part of every result key.
RECORD_VERSION = 1

Record = dict[str, Any]


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def calibration_record(calibration: Calibration) -> Record:
    """JSON-ready scale (without the marker's polygon)."""
    return {
        "px_per_mm": _float(calibration.px_per_mm),
        "method": calibration.method,
        "uncertainty_pct": _float(calibration.uncertainty_pct),
        "marker_id": None if calibration.marker_id is None else int(calibration.marker_id),
        "marker_mm": _float(calibration.marker_mm),
    }


def calibration_from_record(record: Record) -> Calibration:
    """Inverse of :func:`calibration_record`."""
    return Calibration(
        px_per_mm=record["px_per_mm"],
        method=record["method"],
        uncertainty_pct=record.get("uncertainty_pct"),
        marker_id=record.get("marker_id"),
        marker_mm=record.get("marker_mm"),
    )


def summary_record(summary: ScarSummary) -> Record:
    """JSON-ready totals of an analysis."""
    return {
        "count": int(summary.count),
        "area_mm2": _float(summary.area_mm2),
        "area_px": int(summary.area_px),
        "roi_area_mm2": _float(summary.roi_area_mm2),
        "area_fraction": float(summary.area_fraction),
        "by_type": {
            str(t): {"count": int(s.count), "area_mm2": _float(s.area_mm2)}
            for t, s in summary.by_type.items()
        },
    }


def summary_from_record(record: Record) -> ScarSummary:
    """Inverse of :func:`summary_record`."""
    return ScarSummary(
        count=record["count"],
        area_mm2=record["area_mm2"],
        area_px=record["area_px"],
        roi_area_mm2=record["roi_area_mm2"],
        area_fraction=record["area_fraction"],
        by_type={
            t: TypeSummary(count=s["count"], area_mm2=s["area_mm2"])
            for t, s in record["by_type"].items()
        },
    )


def alignment_record(alignment: Alignment) -> Record:
    """JSON-ready alignment (homography maps the photo onto its baseline photo)."""
    H = alignment.homography
    return {
        "ok": bool(alignment.ok),
        "method": alignment.method,
        "homography": None
        if H is None
        else [[float(v) for v in row] for row in np.asarray(H, dtype=np.float64)],
        "inliers": int(alignment.inliers),
        "inlier_ratio": float(alignment.inlier_ratio),
        "rmse_px": _float(alignment.rmse_px),
        "ecc": _float(alignment.ecc),
        "reason": alignment.reason,
        "warnings": [str(w) for w in alignment.warnings],
    }


def alignment_from_record(record: Record) -> Alignment:
    """Inverse of :func:`alignment_record`."""
    H = record.get("homography")
    return Alignment(
        ok=bool(record["ok"]),
        method=record["method"],
        homography=None if H is None else np.asarray(H, dtype=np.float64),
        inliers=record.get("inliers", 0),
        inlier_ratio=record.get("inlier_ratio", 0.0),
        rmse_px=record.get("rmse_px"),
        ecc=record.get("ecc"),
        reason=record.get("reason"),
        warnings=tuple(record.get("warnings", ())),
    )


def algorithm_fingerprint() -> str:
    """What produced the numbers: ScarView's version and the engine's and aligner's versions.

    A change of any of them invalidates the resume state, so a re-run measures again.
    """
    from scarview.core.align import METHOD
    from scarview.core.scars import ALGORITHM_VERSION

    return f"scarview-{__version__}/{ALGORITHM_VERSION}/{METHOD}"


def settings_key(settings_dict: Record, fingerprint: str) -> str:
    """Hex digest identifying the settings and algorithms of a run."""
    text = json.dumps(
        {"settings": settings_dict, "algorithm": fingerprint, "record": RECORD_VERSION},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def result_key(sha256: str, baseline_sha256: str | None, settings_hash: str) -> str:
    """Key of one photo's result: its bytes, its baseline photo's bytes, the settings.

    A photo's alignment and change depend on the baseline photo it was compared
    with, so the same file compared with another baseline is measured again.
    """
    text = f"{sha256}:{baseline_sha256 or '-'}:{settings_hash}"
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:40]
