"""The patient library: SQLite records plus read-only, content-addressed originals.

Open one with :meth:`Library.open`; find its folder with :func:`resolve_library_dir`.
"""

from __future__ import annotations

from scarview.store.layout import guess_view
from scarview.store.library import Library, LibraryError, ensure_sample_patient
from scarview.store.models import (
    CORRECTION_KINDS,
    VIEWS,
    AlignmentRecord,
    AnalysisRecord,
    CorrectionRecord,
    ImportIssue,
    ImportReport,
    PatientRecord,
    PhotoRecord,
    SessionRecord,
    TrashRecord,
)
from scarview.store.paths import LIBRARY_ENV, default_library_dir, resolve_library_dir

__all__ = [
    "CORRECTION_KINDS",
    "LIBRARY_ENV",
    "VIEWS",
    "AlignmentRecord",
    "AnalysisRecord",
    "CorrectionRecord",
    "ImportIssue",
    "ImportReport",
    "Library",
    "LibraryError",
    "PatientRecord",
    "PhotoRecord",
    "SessionRecord",
    "TrashRecord",
    "default_library_dir",
    "ensure_sample_patient",
    "guess_view",
    "resolve_library_dir",
]
