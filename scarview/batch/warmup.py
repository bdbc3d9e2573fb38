"""Warm the report renderer up in the forkserver, once, before any worker is forked.

Imported only as a forkserver preload (see :mod:`scarview.batch.executors`):
importing it renders one small throwaway report in memory. A report's first
rendering in a process loads fonts and fills matplotlib's and reportlab's
caches (about 17 MB); done here, every worker forked from the server starts
with them (shared copy-on-write), so the first report a worker renders is as
quick as the others, and every worker's memory is the same whatever tasks it
happened to run -- which is what lets a long batch's memory figures compare
like with like. A failure here only costs the warm-up; it never stops the
forkserver.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import numpy as np

from scarview import __version__


def warm_up_reports() -> bool:
    """Render a two-session report with a chart and photos in memory; ``True`` when it worked."""
    try:
        from scarview.core.types import TypeSummary
        from scarview.report.data import ReportData, SessionReport
        from scarview.report.pdf import render_report_bytes

        overlay = np.full((60, 80, 3), 200, dtype=np.uint8)
        by_type = {"icepick": TypeSummary(count=1, area_mm2=0.5)}
        baseline = SessionReport(
            session_date=date(2000, 1, 3),
            label="warm-up",
            view="closeup",
            count=1,
            area_mm2=0.5,
            by_type=by_type,
            calibration_method="manual",
            px_per_mm=10.0,
            is_baseline=True,
            baseline_overlay_rgb=overlay,
            overlay_rgb=overlay,
            overlay_aligned=True,
        )
        later = replace(
            baseline,
            session_date=date(2000, 1, 31),
            label="warm-up 2",
            area_mm2=0.4,
            is_baseline=False,
            alignment_ok=True,
            alignment_method="warm-up",
            alignment_rmse_px=0.5,
            change_area_mm2=-0.1,
            change_area_pct=-20.0,
            change_count=0,
        )
        data = ReportData(
            clinic_name="",
            patient_code="warm-up",
            patient_name=None,
            birth_date=None,
            notes="",
            deidentified=True,
            generated_at=datetime(2000, 2, 1),
            software_version=__version__,
            sessions=(baseline, later),
        )
        render_report_bytes(data)
    except Exception:  # a warm-up must never stop the forkserver
        return False
    finally:
        from scarview.batch.tasks import _release_free_memory

        _release_free_memory()
    return True


WARMED_UP = warm_up_reports()
