"""PDF progress reports: plain data in (:class:`ReportData`), a PDF out.

The GUI's "Export report", ``scarview report`` and ``scarview batch`` all call
:func:`render_report`, so they write the same file. Nothing here imports Qt.

* :mod:`scarview.report.data` -- :class:`ReportData`, :class:`SessionReport` and
  :class:`ClinicalSession` (treatment log and clinical grades);
* :mod:`scarview.report.from_library` -- :func:`report_data_from_library`;
* :mod:`scarview.report.images` -- photos at print resolution with scar outlines;
* :mod:`scarview.report.charts` -- the trend chart (matplotlib Agg);
* :mod:`scarview.report.pdf` -- :func:`render_report` (reportlab).
"""

from scarview.report.data import (
    ClinicalSession,
    ReportData,
    SessionReport,
    fit_for_print,
    scrub_paths,
)
from scarview.report.from_library import report_data_from_library
from scarview.report.images import print_overlay, print_overlay_aligned
from scarview.report.pdf import render_report, render_report_bytes

__all__ = [
    "ClinicalSession",
    "ReportData",
    "SessionReport",
    "fit_for_print",
    "print_overlay",
    "print_overlay_aligned",
    "render_report",
    "render_report_bytes",
    "report_data_from_library",
    "scrub_paths",
]
