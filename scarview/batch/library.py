"""``scarview batch --library DIR``: keep the batch's results in a patient library too.

Before any task runs, the input folder is imported
(:meth:`scarview.store.Library.import_folder`, the same layout rules as the
batch: the same patients and sessions; originals stored once by content). Each
measured photo then gets its analysis (label image and scars, which the worker
sends only when a library is used) and, for a follow-up, its alignment onto its
baseline photo, saved by the parent as the results arrive -- one transaction
each, so an interrupted batch leaves the library consistent.

A photo counts as done only when the library also holds an analysis of it made
with the same settings and algorithm (and, for a follow-up, an alignment onto
the same baseline photo), so adding ``--library`` to a finished batch stores
what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from scarview.batch.plan import BatchPlan, PlannedPhoto
from scarview.batch.results import (
    Record,
    alignment_from_record,
    calibration_from_record,
    summary_from_record,
)
from scarview.core.types import CancelToken, ScarMap
from scarview.store import Library


def encode_labels(labels: NDArray[np.integer]) -> bytes:
    """A label image as a 16-bit single-channel PNG (fast compression), for transport."""
    ok, data = cv2.imencode(
        ".png", np.ascontiguousarray(labels, dtype=np.uint16), [cv2.IMWRITE_PNG_COMPRESSION, 1]
    )
    if not ok:  # pragma: no cover - OpenCV always encodes uint16
        raise OSError("PNG encoding failed")
    return bytes(data.tobytes())


def decode_labels(data: bytes) -> NDArray[np.int32]:
    """Inverse of :func:`encode_labels`: an int32 array of shape (H, W)."""
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 2:
        raise ValueError("the label image sent by a worker could not be decoded")
    return np.ascontiguousarray(image, dtype=np.int32)


def _json_round_trip(value: Mapping[str, Any]) -> Any:
    return json.loads(json.dumps(dict(value), sort_keys=True, default=str))


class LibrarySink:
    """Stores a batch's results in a library.

    Parameters
    ----------
    path : Path
        The library folder (created when missing or empty).
    plan : BatchPlan
    settings : Mapping
        The analysis settings, recorded with every analysis.
    cancel : CancelToken, optional
        Stops the import (sessions already imported stay).

    Raises
    ------
    scarview.errors.Cancelled
        If ``cancel`` was set during the import.
    """

    def __init__(
        self,
        path: Path,
        plan: BatchPlan,
        settings: Mapping[str, Any],
        *,
        cancel: CancelToken | None = None,
    ) -> None:
        self.path = Path(path)
        self.plan = plan
        self.settings = dict(settings)
        self._settings_json = _json_round_trip(self.settings)
        self.library = Library.open(self.path)
        try:
            self.imported = self.library.import_folder(plan.input_dir, cancel=cancel)
            self.photo_ids: dict[int, int] = {}
            for photo in plan.photos:
                record = self.library.photo_by_sha256(photo.sha256)
                if record is not None:
                    self.photo_ids[photo.index] = record.id
        except BaseException:
            self.library.close()
            raise
        self.analyses_saved = 0
        self.alignments_saved = 0

    def close(self) -> None:
        """Close the library."""
        self.library.close()

    def has(self, photo: PlannedPhoto, record: Record | None) -> bool:
        """True when the library holds this photo's result as the batch would store it."""
        photo_id = self.photo_ids.get(photo.index)
        if photo_id is None or record is None:
            return photo_id is None  # a photo the library refused cannot be stored anyway
        analysis = self.library.latest_analysis(photo_id)
        if (
            analysis is None
            or analysis.algorithm_version != record.get("algorithm_version")
            or _json_round_trip(analysis.settings) != self._settings_json
        ):
            return False
        if photo.baseline is None or record.get("alignment") is None:
            return True
        baseline_id = self.photo_ids.get(photo.baseline)
        if baseline_id is None or baseline_id == photo_id:
            return True
        stored = self.library.alignment_for(photo_id)
        return stored is not None and stored.baseline_photo_id == baseline_id

    def store(self, photo: PlannedPhoto, record: Record, payload: Mapping[str, Any]) -> None:
        """Save one photo's analysis (and alignment) sent by a worker."""
        photo_id = self.photo_ids.get(photo.index)
        if photo_id is None:
            return
        scarmap = ScarMap(
            scars=tuple(payload["scars"]),
            labels=decode_labels(payload["labels_png"]),
            summary=summary_from_record(record["summary"]),
            px_per_mm=payload.get("px_per_mm"),
            roi_polygon=payload.get("roi_polygon"),
            light_azimuth_deg=payload.get("light_azimuth_deg"),
            algorithm_version=record.get("algorithm_version") or "",
            warnings=tuple(payload.get("warnings", ())),
        )
        self.library.save_analysis(
            photo_id,
            scarmap,
            calibration_from_record(record["calibration"]),
            self.settings,
            scarmap.algorithm_version,
        )
        self.analyses_saved += 1
        alignment = record.get("alignment")
        baseline_id = None if photo.baseline is None else self.photo_ids.get(photo.baseline)
        if alignment is not None and baseline_id is not None and baseline_id != photo_id:
            self.library.save_alignment(photo_id, baseline_id, alignment_from_record(alignment))
            self.alignments_saved += 1

    def summary(self) -> dict[str, Any]:
        """What the library received, for the ``--json`` summary."""
        return {
            "path": str(self.path),
            "photos_imported": self.imported.imported,
            "photos_already_present": self.imported.already_present,
            "analyses_saved": self.analyses_saved,
            "alignments_saved": self.alignments_saved,
        }
