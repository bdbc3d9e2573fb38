"""Render a :class:`~scarview.report.data.ReportData` as a PDF progress report (reportlab).

The layout (A4 portrait):

1. patient block (code; name and date of birth unless de-identified), date range,
   number of sessions; a notice when the report is de-identified;
2. summary per view: baseline against latest session by scar type, with the change
   (or the reason it is not reported), and the trend chart of area per session;
3. measurements of every session, then scale and alignment of every session;
3b. when the clinic recorded any, the treatment log and clinical scores: scores by
   session beside the measured area (table and small charts), then what was done
   at each session; a score resting on values suggested from the measurement is
   marked *suggested* and never charted;
4. one comparison per follow-up: baseline and session side by side, aligned, with
   scar outlines coloured by type and the pair's numbers (or why they are missing);
5. a plain-language note on how the figures were measured and their limits.

Every page carries the clinic's name and the patient code in its header, and
"Page N of M", the generation date and ScarView's version in its footer. Text is
real text in an embedded DejaVu Sans subset. Photos are embedded once each as
metadata-free JPEG at print resolution; no file path or EXIF is written.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape

import numpy as np
from numpy.typing import NDArray
from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from scarview.atomic import atomic_write_bytes
from scarview.core.grading import ECCA_MAX, GB_QUANTITATIVE_MAX, SCALES_VERSION
from scarview.core.types import (
    SCAR_TYPES,
    CancelToken,
    ProgressCallback,
    check_cancel,
    report_progress,
)
from scarview.report import style
from scarview.report.charts import (
    NOT_ALIGNED_MARK,
    TrendPanel,
    score_trend_layout,
    score_trend_png,
    trend_chart_png,
)
from scarview.report.data import (
    PRINT_DPI,
    SIDE_BY_SIDE_WIDTH_MM,
    ClinicalSession,
    ReportData,
    SessionReport,
    fit_for_print,
    scrub_paths,
)
from scarview.report.style import (
    DASH,
    FONT_BOLD,
    FONT_REGULAR,
    TYPE_LABELS,
    fmt_area,
    fmt_date,
    fmt_depth_mm,
    fmt_pct,
    fmt_px_per_mm,
    fmt_range,
    fmt_rmse,
    fmt_score,
    fmt_signed_area,
    fmt_signed_int,
)

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN_X: Final = 18 * mm
MARGIN_TOP: Final = 24 * mm
MARGIN_BOTTOM: Final = 20 * mm
TEXT_WIDTH: Final = PAGE_WIDTH - 2 * MARGIN_X
#: JPEG quality of embedded photos (visually lossless at print size).
JPEG_QUALITY: Final = 85
REPORT_TITLE: Final = "Acne scar progress report"

#: What the report says when it is de-identified.
DEIDENTIFIED_NOTICE: Final = (
    "De-identified report: the patient's name, date of birth, the clinician's name and all "
    "free-text notes have been removed. The patient is identified by code only."
)
#: Heading of the treatment log and clinical scores section.
CLINICAL_HEADING: Final = "Treatment log and clinical scores"
#: Printed beside a score that rests on values suggested from the measurement.
SUGGESTED_MARK: Final = "suggested"
#: What a suggested score means, printed once wherever one appears.
SUGGESTED_NOTICE: Final = (
    "A score marked suggested was computed from scar counts that ScarView suggested from its "
    "own measurement of a photo and that the clinician has not reviewed: it is a starting "
    "point, not a clinical grade, and is not charted."
)
#: Printed instead of a session's record when nothing was recorded at it.
NOTHING_RECORDED: Final = "no treatment or grades recorded."
#: What a failed pair shows instead of change figures (after the reason).
NOT_REPORTED_NOTICE: Final = "Change from baseline is not reported for this session."

_VIEW_NAMES: Final = {
    "frontal": "frontal",
    "left-45": "left 45°",
    "right-45": "right 45°",
    "left-90": "left 90°",
    "right-90": "right 90°",
    "closeup": "close-up",
}


def view_name(view: str | None) -> str:
    """The view as printed (``"left 45°"``), or ``"view not recorded"``."""
    if view is None:
        return "view not recorded"
    return _VIEW_NAMES.get(view, view)


def weeks_label(entry: SessionReport, baseline: SessionReport) -> str:
    """``"baseline"``, ``"week 4"``, ``"day 10"`` or a dash when a date is unknown."""
    if entry is baseline or entry.is_baseline:
        return "baseline"
    if entry.session_date is None or baseline.session_date is None:
        return DASH
    days = (entry.session_date - baseline.session_date).days
    return f"week {days // 7}" if days % 7 == 0 else f"day {days}"


# ------------------------------------------------------------------------- styles


@dataclass(frozen=True)
class _Styles:
    title: ParagraphStyle
    subtitle: ParagraphStyle
    h1: ParagraphStyle
    h2: ParagraphStyle
    body: ParagraphStyle
    small: ParagraphStyle
    caption: ParagraphStyle
    caption_center: ParagraphStyle
    cell: ParagraphStyle
    cell_right: ParagraphStyle
    cell_head: ParagraphStyle
    cell_head_right: ParagraphStyle
    cell_head_center: ParagraphStyle
    label: ParagraphStyle
    notice: ParagraphStyle
    warning: ParagraphStyle


def _styles() -> _Styles:
    base = ParagraphStyle(
        "sv-body",
        fontName=FONT_REGULAR,
        fontSize=9,
        leading=12.5,
        textColor=style.INK,
        alignment=TA_LEFT,
    )

    def derive(name: str, **kw: Any) -> ParagraphStyle:
        return ParagraphStyle(f"sv-{name}", parent=base, **kw)

    return _Styles(
        title=derive("title", fontName=FONT_BOLD, fontSize=17, leading=21, spaceAfter=1 * mm),
        subtitle=derive("subtitle", fontSize=9.5, textColor=style.MUTED, spaceAfter=5 * mm),
        h1=derive(
            "h1",
            fontName=FONT_BOLD,
            fontSize=12.5,
            leading=16,
            textColor=style.ACCENT,
            spaceBefore=5 * mm,
            spaceAfter=2.5 * mm,
        ),
        h2=derive(
            "h2", fontName=FONT_BOLD, fontSize=10, leading=13, spaceBefore=3 * mm, spaceAfter=2 * mm
        ),
        body=derive("body2", spaceAfter=2 * mm),
        small=derive("small", fontSize=7.5, leading=10, textColor=style.MUTED),
        caption=derive("caption", fontSize=7.5, leading=9.5, textColor=style.MUTED),
        caption_center=derive(
            "caption-center", fontSize=7.5, leading=9.5, textColor=style.MUTED, alignment=1
        ),
        cell=derive("cell", fontSize=7.8, leading=9.8),
        cell_right=derive("cell-right", fontSize=7.8, leading=9.8, alignment=2),
        cell_head=derive("cell-head", fontName=FONT_BOLD, fontSize=7.5, leading=9.5),
        cell_head_right=derive(
            "cell-head-right", fontName=FONT_BOLD, fontSize=7.5, leading=9.5, alignment=2
        ),
        cell_head_center=derive(
            "cell-head-center", fontName=FONT_BOLD, fontSize=7.5, leading=9.5, alignment=1
        ),
        label=derive("label", fontSize=8, leading=10.5, textColor=style.MUTED),
        notice=derive("notice", fontName=FONT_BOLD, fontSize=8.5, leading=11.5),
        warning=derive("warning", fontSize=8.3, leading=11, textColor=style.WARN_INK),
    )


def _p(text: str, st: ParagraphStyle) -> Paragraph:
    """A paragraph of markup we wrote ourselves (user text must go through :func:`_t`)."""
    return Paragraph(text, st)


def _t(text: str) -> str:
    """Escape user-supplied text for reportlab's paragraph markup."""
    return escape(text).replace("\n", "<br/>")


def _free(text: str) -> str:
    """Escape free text (notes, warnings, reasons) after removing any file path from it."""
    return _t(scrub_paths(text))


def _swatch(scar_type: str) -> str:
    r, g, b = style.TYPE_COLORS_RGB[scar_type]
    return f'<font color="#{r:02x}{g:02x}{b:02x}">■</font>'


def _type_label(scar_type: str) -> str:
    return f"{_swatch(scar_type)} {TYPE_LABELS[scar_type]}"


def _legend() -> str:
    return "Outlines: " + "   ".join(_type_label(t) for t in SCAR_TYPES)


_BASE_TABLE: Final = [
    ("FONT", (0, 0), (-1, -1), FONT_REGULAR, 7.8),
    ("TEXTCOLOR", (0, 0), (-1, -1), style.INK),
    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ("TOPPADDING", (0, 0), (-1, -1), 2.2),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 2.6),
    ("LEFTPADDING", (0, 0), (-1, -1), 3.5),
    ("RIGHTPADDING", (0, 0), (-1, -1), 3.5),
]


def _data_table(
    rows: list[list[Any]],
    col_widths: Sequence[float],
    *,
    header_rows: int = 1,
    right_from_col: int = 1,
    extra: Sequence[tuple[Any, ...]] = (),
) -> Table:
    """A clinical table: shaded header, hairlines between rows, numbers right-aligned."""
    table = Table(rows, colWidths=list(col_widths), repeatRows=header_rows, hAlign="LEFT")
    commands: list[tuple[Any, ...]] = [
        *_BASE_TABLE,
        ("BACKGROUND", (0, 0), (-1, header_rows - 1), style.HEADER_FILL),
        ("FONT", (0, 0), (-1, header_rows - 1), FONT_BOLD, 7.5),
        ("ALIGN", (right_from_col, 0), (-1, -1), "RIGHT"),
        ("LINEABOVE", (0, 0), (-1, 0), 0.8, style.INK),
        ("LINEBELOW", (0, header_rows - 1), (-1, header_rows - 1), 0.6, style.INK),
        ("LINEBELOW", (0, -1), (-1, -1), 0.8, style.INK),
    ]
    for row in range(header_rows, len(rows)):
        if (row - header_rows) % 2 == 1:
            commands.append(("BACKGROUND", (0, row), (-1, row), style.ZEBRA_FILL))
        if row < len(rows) - 1:
            commands.append(("LINEBELOW", (0, row), (-1, row), 0.25, style.RULE))
    commands.extend(extra)
    table.setStyle(TableStyle(commands))
    return table


def _boxed(paragraphs: list[Flowable], fill: colors.Color, rule: colors.Color) -> Table:
    table = Table([[paragraphs]], colWidths=[TEXT_WIDTH], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), fill),
                ("LINEBEFORE", (0, 0), (0, -1), 2.2, rule),
                ("LEFTPADDING", (0, 0), (-1, -1), 7),
                ("RIGHTPADDING", (0, 0), (-1, -1), 7),
                ("TOPPADDING", (0, 0), (-1, -1), 4.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
            ]
        )
    )
    return table


# ------------------------------------------------------------------------- images


class _ImageCache:
    """Encodes each image array once as a metadata-free JPEG."""

    def __init__(self) -> None:
        self._jpeg: dict[int, tuple[NDArray[np.uint8], bytes]] = {}

    def jpeg(self, rgb: NDArray[np.uint8]) -> bytes:
        key = id(rgb)
        hit = self._jpeg.get(key)
        if hit is not None and hit[0] is rgb:
            return hit[1]
        small = fit_for_print(rgb)
        buffer = io.BytesIO()
        PILImage.fromarray(small, mode="RGB").save(
            buffer,
            format="JPEG",
            quality=JPEG_QUALITY,
            optimize=True,
            dpi=(PRINT_DPI, PRINT_DPI),
        )
        data = buffer.getvalue()
        self._jpeg[key] = (rgb, data)
        return data

    def flowable(self, rgb: NDArray[np.uint8], width_pt: float) -> Image:
        height_px, width_px = rgb.shape[:2]
        height_pt = width_pt * height_px / width_px
        return Image(io.BytesIO(self.jpeg(rgb)), width=width_pt, height=height_pt)


def _blank(width_pt: float, height_pt: float, text: str, st: ParagraphStyle) -> Table:
    table = Table([[_p(text, st)]], colWidths=[width_pt], rowHeights=[height_pt])
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.5, style.RULE),
                ("BACKGROUND", (0, 0), (-1, -1), style.ZEBRA_FILL),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("ALIGN", (0, 0), (-1, -1), "CENTER"),
            ]
        )
    )
    return table


# ------------------------------------------------------------------------ builder


class _Builder:
    def __init__(self, data: ReportData) -> None:
        self.data = data
        self.s = _styles()
        self.images = _ImageCache()
        self.story: list[Flowable] = []

    # -- page 1 -------------------------------------------------------------------

    def title_block(self) -> None:
        d = self.data
        self.story.append(_p(REPORT_TITLE, self.s.title))
        self.story.append(
            _p(
                "Atrophic (pitted) acne scars measured from clinical photographs "
                "across treatment sessions",
                self.s.subtitle,
            )
        )
        first, last = d.date_range
        if first is None or last is None:
            period = DASH
        elif first == last:
            period = fmt_date(first)
        else:
            weeks = (last - first).days / 7
            period = f"{fmt_date(first)} to {fmt_date(last)} ({weeks:.0f} weeks)"
        views = ", ".join(view_name(v) for v in d.views) or DASH
        n = d.session_count
        left: list[tuple[str, str]] = [("Patient code", _t(d.patient_code))]
        if d.deidentified:
            left.append(("Name", "<i>removed (de-identified)</i>"))
            left.append(("Date of birth", "<i>removed (de-identified)</i>"))
        else:
            left.append(("Name", _t(d.patient_name) if d.patient_name else DASH))
            left.append(("Date of birth", fmt_date(d.birth_date)))
        roman = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI"}
        left.append(("Fitzpatrick type", roman.get(d.fitzpatrick or 0, DASH)))
        right: list[tuple[str, str]] = [
            ("Sessions", f"{n} session{'s' if n != 1 else ''}"),
            ("Period", period),
            ("View" + ("s" if len(d.views) != 1 else ""), _t(views)),
            ("Report date", fmt_date(d.generated_at.date())),
        ]
        rows = []
        for (k1, v1), (k2, v2) in zip(left, right, strict=True):
            rows.append(
                [
                    _p(k1, self.s.label),
                    _p(f"<b>{v1}</b>" if k1 == "Patient code" else v1, self.s.body),
                    _p(k2, self.s.label),
                    _p(v2, self.s.body),
                ]
            )
        table = Table(
            rows, colWidths=[30 * mm, 46 * mm, 29 * mm, TEXT_WIDTH - 105 * mm], hAlign="LEFT"
        )
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("LINEABOVE", (0, 0), (-1, 0), 0.8, style.INK),
                    ("LINEBELOW", (0, -1), (-1, -1), 0.4, style.RULE),
                    ("TOPPADDING", (0, 0), (-1, 0), 4),
                    ("BOTTOMPADDING", (0, -1), (-1, -1), 2),
                ]
            )
        )
        self.story.append(table)
        if d.deidentified:
            self.story.append(Spacer(1, 3 * mm))
            self.story.append(
                _boxed([_p(DEIDENTIFIED_NOTICE, self.s.notice)], style.HEADER_FILL, style.ACCENT)
            )

    def summary(self) -> None:
        d = self.data
        self.story.append(_p("Summary", self.s.h1))
        if not d.sessions:
            self.story.append(_p("No analysed photo of this patient is available.", self.s.body))
            return
        many_views = len(d.views) > 1
        for view in d.views:
            entries = d.sessions_of_view(view)
            baseline, latest = entries[0], entries[-1]
            flow: list[Flowable] = []
            if many_views:
                flow.append(_p(f"View: {_t(view_name(view))}", self.s.h2))
            flow.append(_p(self._summary_sentence(baseline, latest, len(entries)), self.s.body))
            flow.append(self._summary_table(baseline, latest))
            self.story.append(KeepTogether(flow))
            self.story.append(Spacer(1, 3 * mm))
            self.trend(entries, view if many_views else None)
        for remark in d.remarks:
            self.story.append(_p(_free(remark), self.s.small))
        if not d.deidentified and d.notes.strip():
            self.story.append(
                KeepTogether(
                    [_p("Clinical notes", self.s.h2), _p(_free(d.notes.strip()), self.s.body)]
                )
            )

    def _summary_sentence(self, baseline: SessionReport, latest: SessionReport, n: int) -> str:
        def area(entry: SessionReport) -> str:
            if entry.area_mm2 is None:
                return "not known (no scale)"
            return f"<b>{fmt_area(entry.area_mm2)} mm²</b>"

        def scars(entry: SessionReport) -> str:
            return f"{entry.count} scar{'s' if entry.count != 1 else ''}"

        if n == 1 or latest is baseline:
            return (
                f"Only the baseline session ({baseline.title}) has been photographed so far: "
                f"{scars(baseline)}, total pitted-scar area {area(baseline)}. Later sessions "
                "will be compared with it."
            )
        start = (
            f"At baseline ({baseline.title}) the total pitted-scar area was {area(baseline)} "
            f"({scars(baseline)}); at the latest session ({latest.title}) it was "
            f"{area(latest)} ({scars(latest)})"
        )
        if latest.change_reportable:
            return (
                f"{start}, a change of <b>{fmt_signed_area(latest.change_area_mm2)} mm² "
                f"({fmt_pct(latest.change_area_pct)})</b>."
            )
        if latest.alignment_ok is False:
            why = "the latest photo could not be aligned onto the baseline"
            reason = _free(latest.alignment_reason) if latest.alignment_reason else ""
        elif latest.alignment_ok is None:
            why, reason = "the latest photo has not been aligned onto the baseline", ""
        else:
            why, reason = "the areas are not known without a scale", ""
        return f"{start}. The change is <b>not reported</b> because {why}. {reason}".rstrip()

    def _summary_table(self, baseline: SessionReport, latest: SessionReport) -> Table:
        s = self.s
        single = latest is baseline
        show_change = latest.change_reportable
        head1: list[Any] = [_p("Scar type", s.cell_head), f"Baseline {baseline.title}", ""]
        head2: list[Any] = ["", "Scars", "Area mm²"]
        if not single:
            head1 += [f"Latest {latest.title}", "", "Change", ""]
            head2 += ["Scars", "Area mm²", "Area mm²", "%"]
        rows: list[list[Any]] = [head1, head2]
        for scar_type in (*SCAR_TYPES, None):
            name = _p(
                "<b>All pitted scars</b>" if scar_type is None else _type_label(scar_type), s.cell
            )
            b = self._counts(baseline, scar_type)
            row: list[Any] = [name, str(b[0]), fmt_area(b[1])]
            if not single:
                lt = self._counts(latest, scar_type)
                if show_change and b[1] is not None and lt[1] is not None:
                    change = lt[1] - b[1]
                    pct = (100.0 * change / b[1]) if b[1] > 0 else None
                    if scar_type is None:
                        change, pct = latest.change_area_mm2 or 0.0, latest.change_area_pct
                    row += [str(lt[0]), fmt_area(lt[1]), fmt_signed_area(change), fmt_pct(pct)]
                else:
                    row += [str(lt[0]), fmt_area(lt[1]), DASH, DASH]
            rows.append(row)
        widths = [46 * mm, 20 * mm, 22 * mm]
        if not single:
            widths += [20 * mm, 22 * mm, 22 * mm, 22 * mm]
        extra: list[tuple[Any, ...]] = [
            ("SPAN", (1, 0), (2, 0)),
            ("SPAN", (0, 0), (0, 1)),
            ("ALIGN", (1, 0), (-1, 0), "CENTER"),
            ("LINEBELOW", (1, 0), (-1, 0), 0.25, style.RULE),
            ("FONT", (0, -1), (-1, -1), FONT_BOLD, 7.8),
            ("LINEABOVE", (0, -1), (-1, -1), 0.6, style.INK),
        ]
        if not single:
            extra += [("SPAN", (3, 0), (4, 0)), ("SPAN", (5, 0), (6, 0))]
        return _data_table(rows, widths, header_rows=2, extra=extra)

    @staticmethod
    def _counts(entry: SessionReport, scar_type: str | None) -> tuple[int, float | None]:
        if scar_type is None:
            return entry.count, entry.area_mm2
        summary = entry.type_summary(scar_type)
        return summary.count, summary.area_mm2

    def trend(self, entries: Sequence[SessionReport], view: str | None) -> None:
        s = self.s
        heading = "Scar area per session"
        if view is not None:
            heading += f" · {_t(view_name(view))}"
        if all(e.area_mm2 is None for e in entries):
            self.story.append(
                KeepTogether(
                    [
                        _p(heading, s.h2),
                        _p(
                            "No photo of this view has a scale, so no area can be charted.",
                            s.body,
                        ),
                    ]
                )
            )
            return
        png = trend_chart_png(entries, width_mm=TEXT_WIDTH / mm, height_mm=74)
        chart = Image(io.BytesIO(png), width=TEXT_WIDTH, height=74 * mm)
        caption = (
            "Pitted-scar area of each session, stacked by scar type; the figure above each bar "
            "is the total in mm²."
        )
        if any(not e.is_baseline and e.alignment_ok is False for e in entries):
            caption += (
                f" {NOT_ALIGNED_MARK} The photo could not be aligned onto the baseline; its area "
                "is shown but no change is reported."
            )
        self.story.append(
            KeepTogether(
                [
                    _p(heading, s.h2),
                    chart,
                    Spacer(1, 1 * mm),
                    _p(caption, s.caption),
                ]
            )
        )

    # -- tables -------------------------------------------------------------------

    def measurement_tables(self) -> None:
        d = self.data
        s = self.s
        self.story.append(CondPageBreak(90 * mm))
        self.story.append(_p("Measurements by session", s.h1))
        self.story.append(
            _p(
                "Every analysed photo, oldest first. Areas are in mm² on the skin; change is "
                "from the baseline photo of the same view and is given only when the two photos "
                "could be aligned.",
                s.body,
            )
        )
        head1: list[Any] = ["Date", "", "Scars", "Total", ""]
        head2: list[Any] = ["", "", "", "mm²", ""]
        for scar_type in SCAR_TYPES:
            head1 += [_p(_type_label(scar_type), s.cell_head_center), ""]
            head2 += ["n", "mm²"]
        head1 += ["Change from baseline", ""]
        head2 += ["mm²", "%"]
        head1[1] = "Week"
        head1[4] = ""
        rows: list[list[Any]] = [head1, head2]
        many_views = len(d.views) > 1
        for view in d.views:
            entries = d.sessions_of_view(view)
            if many_views:
                rows.append([_p(f"<b>{_t(view_name(view).capitalize())}</b>", s.cell)])
            for entry in entries:
                row: list[Any] = [
                    entry.title,
                    weeks_label(entry, entries[0]),
                    str(entry.count),
                    fmt_area(entry.area_mm2),
                    "",
                ]
                for scar_type in SCAR_TYPES:
                    ts = entry.type_summary(scar_type)
                    row += [str(ts.count), fmt_area(ts.area_mm2)]
                if entry.is_baseline:
                    row += ["baseline", ""]
                elif entry.change_reportable:
                    row += [fmt_signed_area(entry.change_area_mm2), fmt_pct(entry.change_area_pct)]
                elif entry.alignment_ok is False:
                    row += ["not aligned", ""]
                else:
                    row += [DASH, DASH]
                rows.append(row)
        widths = [19 * mm, 15 * mm, 11 * mm, 14 * mm, 2 * mm]
        widths += [10 * mm, 13 * mm] * 3
        widths += [TEXT_WIDTH - sum(widths) - 15 * mm, 15 * mm]
        extra: list[tuple[Any, ...]] = [
            ("SPAN", (0, 0), (0, 1)),
            ("SPAN", (1, 0), (1, 1)),
            ("SPAN", (2, 0), (2, 1)),
            ("SPAN", (5, 0), (6, 0)),
            ("SPAN", (7, 0), (8, 0)),
            ("SPAN", (9, 0), (10, 0)),
            ("SPAN", (11, 0), (12, 0)),
            ("ALIGN", (0, 0), (1, -1), "LEFT"),
            ("ALIGN", (5, 0), (-1, 0), "CENTER"),
            ("VALIGN", (0, 0), (-1, 1), "BOTTOM"),
            ("FONT", (3, 2), (3, -1), FONT_BOLD, 7.8),
        ]
        for i, row in enumerate(rows):
            if len(row) == 1:
                row.extend([""] * 12)
                extra.append(("SPAN", (0, i), (-1, i)))
            elif row[11] in ("baseline", "not aligned"):
                extra.append(("SPAN", (11, i), (12, i)))
                extra.append(("ALIGN", (11, i), (12, i), "CENTER"))
                extra.append(("TEXTCOLOR", (11, i), (12, i), style.MUTED))
                if row[11] == "not aligned":
                    extra.append(("TEXTCOLOR", (11, i), (12, i), style.WARN_INK))
        self.story.append(_data_table(rows, widths, header_rows=2, right_from_col=2, extra=extra))

        self.story.append(_p("Scale and alignment", s.h2))
        self.story.append(
            _p(
                "How each photo was scaled to millimetres and how well it was aligned onto the "
                "baseline photo (alignment error: residual distance between matched skin "
                "features, in baseline pixels).",
                s.body,
            )
        )
        rows = [
            [
                "Date",
                "View",
                "Scale from",
                "px/mm",
                "± %",
                "Aligned",
                "Error",
                _p("Note", s.cell_head),
            ]
        ]
        for view in d.views:
            for entry in d.sessions_of_view(view):
                rows.append(
                    [
                        entry.title,
                        view_name(entry.view),
                        _scale_method(entry.calibration_method),
                        fmt_px_per_mm(entry.px_per_mm),
                        DASH
                        if entry.calibration_uncertainty_pct is None
                        else f"{entry.calibration_uncertainty_pct:.1f}",
                        _alignment_word(entry),
                        DASH if entry.is_baseline else fmt_rmse(entry.alignment_rmse_px),
                        _p(self._note(entry), s.cell),
                    ]
                )
        widths = [19 * mm, 22 * mm, 24 * mm, 13 * mm, 10 * mm, 17 * mm, 16 * mm]
        widths.append(TEXT_WIDTH - sum(widths))
        extra = [
            ("ALIGN", (0, 0), (2, -1), "LEFT"),
            ("ALIGN", (3, 0), (4, -1), "RIGHT"),
            ("ALIGN", (5, 0), (5, -1), "LEFT"),
            ("ALIGN", (6, 0), (6, -1), "RIGHT"),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
        for i, row in enumerate(rows[1:], start=1):
            if row[5] == "failed":
                extra.append(("TEXTCOLOR", (5, i), (5, i), style.WARN_INK))
                extra.append(("FONT", (5, i), (5, i), FONT_BOLD, 7.8))
        self.story.append(_data_table(rows, widths, extra=extra))

    def _note(self, entry: SessionReport) -> str:
        parts: list[str] = []
        if not entry.is_baseline and entry.alignment_ok is False:
            reason = _free(entry.alignment_reason or "Alignment failed.")
            parts.append(f'<font color="#8A2C0D">{reason}</font>')
        parts.extend(_free(w) for w in entry.warnings)
        if not self.data.deidentified and entry.notes.strip():
            parts.append(f"<i>{_free(entry.notes.strip())}</i>")
        return "<br/>".join(parts) if parts else ""

    # -- treatment log and clinical scores ----------------------------------------

    def clinical_record(self) -> None:
        """The treatment log and clinical scores; nothing at all when none was recorded."""
        d = self.data
        if not d.has_clinical_data:
            return
        s = self.s
        self.story.append(CondPageBreak(90 * mm))
        self.story.append(_p(CLINICAL_HEADING, s.h1))
        intro = (
            "What was done at each session and the scar grades the clinic recorded, oldest "
            "first, beside the pitted-scar area ScarView measured."
        )
        if any(c.gb_quantitative_suggested or c.ecca_suggested for c in d.clinical):
            intro += " " + _mark_suggested(SUGGESTED_NOTICE)
        if d.deidentified:
            intro += (
                " <b>De-identified:</b> the clinician's name, reactions and adverse events "
                "described in words, and notes are left out."
            )
        self.story.append(_p(intro, s.body))
        if any(c.has_grades for c in d.clinical):
            self._scores_by_session()
        self.story.append(_p("Treatment log", s.h2))
        first = _first_date(d.clinical)
        for entry in d.clinical:
            self.story.extend(self._clinical_session(entry, first))

    def _score_cell(self, value: int | None, maximum: int | None, suggested: bool) -> Any:
        text = fmt_score(value, maximum) if maximum is not None else fmt_score(value)
        if value is None or not suggested:
            return text
        return _p(
            f'{text}<br/><font color="#8A2C0D"><i>{SUGGESTED_MARK}</i></font>', self.s.cell_right
        )

    def _scores_by_session(self) -> None:
        d = self.data
        s = self.s
        view = d.main_view
        first = _first_date(d.clinical)
        instruments = list(dict.fromkeys(c.pro.instrument for c in d.clinical if c.pro))
        area_head = "Area mm²" + (f" ({view_name(view)})" if len(d.views) > 1 else "")
        header: list[Any] = [
            "Date",
            "Week",
            _p(area_head, s.cell_head_right),
            _p("G&amp;B qualitative (1–4)", s.cell_head_right),
            _p(f"G&amp;B quantitative (0–{GB_QUANTITATIVE_MAX})", s.cell_head_right),
            _p(f"ECCA (0–{ECCA_MAX})", s.cell_head_right),
        ]
        if instruments:
            pro_head = (
                _t(instruments[0]) if len(instruments) == 1 else "Patient-reported (instrument)"
            )
            header.append(_p(pro_head, s.cell_head_right))
        rows: list[list[Any]] = [header]
        for entry in d.clinical:
            qualitative = _qualitative(entry)
            row: list[Any] = [
                entry.title,
                _week_of(entry, first),
                fmt_area(d.session_area_mm2(entry.session_date, entry.label, view)),
                qualitative,
                self._score_cell(
                    entry.gb_quantitative, GB_QUANTITATIVE_MAX, entry.gb_quantitative_suggested
                ),
                self._score_cell(entry.ecca, ECCA_MAX, entry.ecca_suggested),
            ]
            if instruments:
                pro = entry.pro
                if pro is None:
                    row.append(DASH)
                elif len(instruments) == 1:
                    row.append(fmt_score(pro.total_score))
                else:
                    row.append(
                        _p(f"{fmt_score(pro.total_score)} ({_t(pro.instrument)})", s.cell_right)
                    )
            rows.append(row)
        widths = [19 * mm, 15 * mm, 20 * mm, 27 * mm, 30 * mm, 26 * mm]
        if instruments:
            widths.append(TEXT_WIDTH - sum(widths))
        extra: list[tuple[Any, ...]] = [
            ("ALIGN", (0, 0), (1, -1), "LEFT"),
            ("VALIGN", (0, 0), (-1, 0), "BOTTOM"),
            ("VALIGN", (0, 1), (-1, -1), "TOP"),
        ]
        table = _data_table(rows, widths, right_from_col=2, extra=extra)
        flow: list[Flowable] = [_p("Scores by session", s.h2), table]
        chart = self._score_trend(first)
        self.story.append(KeepTogether(flow))
        if chart:
            self.story.append(KeepTogether(chart))
        self.story.append(Spacer(1, 2 * mm))

    def _score_trend(self, first: date | None) -> list[Flowable]:
        """Small charts of the area and every clinician-entered score, when one has a trend."""
        d = self.data
        view = d.main_view
        entries = d.clinical
        dated = first is not None and all(c.session_date is not None for c in entries)
        if dated:
            assert first is not None
            x = [(c.session_date - first).days / 7.0 for c in entries if c.session_date]
            x_label = "weeks since the first session"
        else:
            x = [float(i) for i in range(1, len(entries) + 1)]
            x_label = "session"
        clinician_quant = tuple(
            None if c.gb_quantitative_suggested else c.gb_quantitative for c in entries
        )
        clinician_ecca = tuple(None if c.ecca_suggested else c.ecca for c in entries)
        score_panels = [
            TrendPanel(
                f"G&B quantitative (0–{GB_QUANTITATIVE_MAX})",
                tuple(float(v) if v is not None else None for v in clinician_quant),
            ),
            TrendPanel(
                f"ECCA (0–{ECCA_MAX})",
                tuple(float(v) if v is not None else None for v in clinician_ecca),
            ),
            TrendPanel(
                "G&B qualitative grade (1–4)",
                tuple(
                    float(c.gb_qualitative) if c.gb_qualitative is not None else None
                    for c in entries
                ),
                y_range=(1.0, 4.0),
            ),
        ]
        instruments = {c.pro.instrument for c in entries if c.pro}
        if len(instruments) == 1:
            name = next(iter(instruments))
            ranges = {fmt_range(c.pro.score_min, c.pro.score_max) for c in entries if c.pro}
            span = next(iter(ranges)) if len(ranges) == 1 else ""
            score_panels.append(
                TrendPanel(
                    f"{name}" + (f" ({span})" if span else ""),
                    tuple(c.pro.total_score if c.pro else None for c in entries),
                    decimals=0
                    if all(c.pro is None or float(c.pro.total_score).is_integer() for c in entries)
                    else 1,
                )
            )
        score_panels = [p for p in score_panels if sum(v is not None for v in p.values) >= 1]
        if not any(sum(v is not None for v in p.values) >= 2 for p in score_panels):
            return []
        panels: list[TrendPanel] = []
        areas = tuple(d.session_area_mm2(c.session_date, c.label, view) for c in entries)
        if any(a is not None for a in areas):
            title = "Pitted-scar area, mm²"
            if len(d.views) > 1:
                title += f" ({view_name(view)})"
            panels.append(TrendPanel(title, areas, decimals=1, is_area=True))
        panels.extend(score_panels)
        panel_height_mm = 42.0
        rows, _ = score_trend_layout(len(panels))
        png = score_trend_png(
            x, panels, x_label=x_label, width_mm=TEXT_WIDTH / mm, panel_height_mm=panel_height_mm
        )
        height = rows * panel_height_mm * mm
        caption = (
            "Measured area (blue) and clinical scores (purple) at each session, each on its own "
            "scale."
        )
        if any(c.gb_quantitative_suggested or c.ecca_suggested for c in entries):
            caption += " Suggested scores are not charted."
        if len(instruments) > 1:
            caption += (
                " The patient-reported scores come from different questionnaires and are not "
                "charted."
            )
        return [
            _p("Score trend", self.s.h2),
            Image(io.BytesIO(png), width=TEXT_WIDTH, height=height),
            Spacer(1, 1 * mm),
            _p(caption, self.s.caption),
        ]

    def _clinical_session(self, entry: ClinicalSession, first: date | None) -> list[Flowable]:
        s = self.s
        week = _week_of(entry, first)
        heading = f"{entry.title} · {week}" if week != DASH else entry.title
        if not entry.has_record:
            return [
                _p(
                    f"<b>{_t(heading)}</b>: {NOTHING_RECORDED}",
                    ParagraphStyle("sv-nothing", parent=s.body, textColor=style.MUTED),
                )
            ]
        left = self._treatment_rows(entry)
        right = self._grade_rows(entry)
        n = max(len(left), len(right))
        left += [["", ""]] * (n - len(left))
        right += [["", ""]] * (n - len(right))
        rows: list[list[Any]] = [
            [_p("Treatment", s.cell_head), "", _p("Clinical scores", s.cell_head), ""]
        ]
        rows.extend([*a, *b] for a, b in zip(left, right, strict=True))
        widths = [27 * mm, 64 * mm, 29 * mm]
        widths.append(TEXT_WIDTH - sum(widths))
        # A "not recorded" line spans its side's label and value columns.
        spans: list[tuple[Any, ...]] = []
        if entry.treatment is None:
            spans.append(("SPAN", (0, 1), (1, 1)))
        if not entry.has_grades:
            spans.append(("SPAN", (2, 1), (3, 1)))
        # splitInRow: a very long entry may run onto the next page instead of failing.
        table = Table(rows, colWidths=widths, hAlign="LEFT", repeatRows=1, splitInRow=1)
        table.setStyle(
            TableStyle(
                [
                    *_BASE_TABLE,
                    *spans,
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("SPAN", (0, 0), (1, 0)),
                    ("SPAN", (2, 0), (3, 0)),
                    ("BACKGROUND", (0, 0), (-1, 0), style.HEADER_FILL),
                    ("LINEABOVE", (0, 0), (-1, 0), 0.8, style.INK),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.6, style.INK),
                    ("LINEBELOW", (0, -1), (-1, -1), 0.8, style.INK),
                    ("LINEBEFORE", (2, 0), (2, -1), 0.6, style.RULE),
                ]
            )
        )
        flow: list[Flowable] = [_p(_t(heading), s.h2), table]
        notes = entry.treatment.notes.strip() if entry.treatment is not None else ""
        after: list[Flowable] = []
        if notes and not self.data.deidentified:
            after.append(Spacer(1, 1.5 * mm))
            for index, block in enumerate(n for n in notes.split("\n\n") if n.strip()):
                lead = "<b>Notes.</b> " if index == 0 else ""
                after.append(_p(lead + _free(block.strip()), s.body))
        return [KeepTogether(flow), *after, Spacer(1, 3 * mm)]

    def _treatment_rows(self, entry: ClinicalSession) -> list[list[Any]]:
        s = self.s
        record = entry.treatment
        if record is None:
            return [[_p("<i>No treatment recorded.</i>", s.cell), ""]]

        def row(label: str, value: str) -> list[Any]:
            return [_p(label, s.label), _p(value, s.cell)]

        rows = [
            row("Procedure", f"<b>{_free(record.procedure_text)}</b>"),
            row("Device", _free(record.device) if record.device.strip() else DASH),
            row("Needle depth", fmt_depth_mm(record.needle_depth_mm)),
            row("Passes", DASH if record.passes is None else str(record.passes)),
            row("Anaesthesia", _free(record.anaesthesia) if record.anaesthesia.strip() else DASH),
        ]
        if not self.data.deidentified:
            rows.append(
                row("Clinician", _free(record.clinician) if record.clinician.strip() else DASH)
            )
            reactions = record.immediate_reactions.strip()
            rows.append(row("Immediate reactions", _free(reactions) if reactions else DASH))
        events = record.adverse_events
        rows.append(row("Adverse events", _free(", ".join(events)) if events else "none recorded"))
        return rows

    def _grade_rows(self, entry: ClinicalSession) -> list[list[Any]]:
        s = self.s
        if not entry.has_grades:
            return [[_p("<i>No grades recorded.</i>", s.cell), ""]]

        def row(label: str, value: str) -> list[Any]:
            return [_p(label, s.label), _p(value, s.cell)]

        def scored(value: int | None, maximum: int, suggested: bool) -> str:
            text = fmt_score(value, maximum)
            if value is not None and suggested:
                text += f' <font color="#8A2C0D"><i>{SUGGESTED_MARK}</i></font>'
            return text

        qualitative = _qualitative(entry)
        rows = [
            row("G&amp;B qualitative", qualitative),
            row(
                "G&amp;B quantitative",
                scored(entry.gb_quantitative, GB_QUANTITATIVE_MAX, entry.gb_quantitative_suggested),
            ),
            row("ECCA", scored(entry.ecca, ECCA_MAX, entry.ecca_suggested)),
        ]
        pro = entry.pro
        if pro is not None:
            span = fmt_range(pro.score_min, pro.score_max)
            rows.append(
                row(
                    "Patient-reported",
                    f"{fmt_score(pro.total_score)}"
                    + (f" (range {span})" if span else "")
                    + f"<br/>{_t(pro.instrument)}",
                )
            )
        else:
            rows.append(row("Patient-reported", DASH))
        return rows

    # -- comparisons --------------------------------------------------------------

    def comparisons(self) -> None:
        d = self.data
        s = self.s
        if not d.sessions:
            return
        self.story.append(CondPageBreak(150 * mm))
        if all(len(d.sessions_of_view(v)) == 1 for v in d.views):
            self.story.append(_p("Baseline photograph", s.h1))
            self.story.append(
                _p(f"The baseline photo with the scars found outlined. {_legend()}", s.body)
            )
        else:
            self.story.append(_p("Session comparisons", s.h1))
            self.story.append(
                _p(
                    "Each follow-up photo beside the baseline photo of the same view, warped into "
                    "the baseline's frame so that the same skin appears in the same place. "
                    f"{_legend()}",
                    s.body,
                )
            )
        for view in d.views:
            entries = d.sessions_of_view(view)
            baseline = entries[0]
            if len(entries) == 1:
                self.story.append(self._baseline_only(baseline))
            for index, entry in enumerate(entries[1:], start=2):
                self.story.append(self._pair(baseline, entry, index))

    def _photo(self, rgb: NDArray[np.uint8] | None, width: float, missing: str) -> Flowable:
        if rgb is None:
            return _blank(width, width * 0.75, missing, self.s.caption_center)
        return self.images.flowable(rgb, width)

    def _baseline_only(self, baseline: SessionReport) -> Flowable:
        s = self.s
        width = 100 * mm
        image = baseline.overlay_rgb if baseline.overlay_rgb is not None else None
        if image is None:
            image = baseline.baseline_overlay_rgb
        return KeepTogether(
            [
                _p(
                    f"Baseline {baseline.title} · {_t(view_name(baseline.view))}",
                    s.h2,
                ),
                self._photo(image, width, "Photo not available"),
                Spacer(1, 1.5 * mm),
                _p(
                    f"<b>{baseline.title}</b> (baseline): {baseline.count} scars outlined. "
                    "No follow-up session of this view has been photographed yet.",
                    s.caption_center,
                ),
            ]
        )

    def _pair(self, baseline: SessionReport, entry: SessionReport, number: int) -> Flowable:
        s = self.s
        width = SIDE_BY_SIDE_WIDTH_MM * mm
        gap = TEXT_WIDTH - 2 * width
        failed = entry.alignment_ok is False
        left_img = baseline.baseline_overlay_rgb
        if left_img is None:
            left_img = entry.baseline_overlay_rgb
        if left_img is None:
            left_img = baseline.overlay_rgb
        left = self._photo(left_img, width, "Baseline photo not available")
        right = self._photo(entry.overlay_rgb, width, "Photo not available")
        if entry.overlay_rgb is None:
            right_caption = f"{entry.title}: photo not available"
        elif entry.overlay_aligned:
            right_caption = (
                f"<b>{entry.title}</b> ({weeks_label(entry, baseline)}), aligned "
                f"(error {fmt_rmse(entry.alignment_rmse_px)})"
            )
        else:
            right_caption = (
                f"<b>{entry.title}</b> ({weeks_label(entry, baseline)}), "
                "<b>not aligned</b>: shown as photographed"
            )
        images = Table(
            [
                [left, "", right],
                [
                    _p(f"<b>{baseline.title}</b> (baseline)", s.caption),
                    "",
                    _p(right_caption, s.caption),
                ],
            ],
            colWidths=[width, gap, width],
            hAlign="LEFT",
        )
        images.setStyle(
            TableStyle(
                [
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                    ("TOPPADDING", (0, 0), (-1, -1), 0),
                    ("BOTTOMPADDING", (0, 0), (-1, 0), 1.5 * mm),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        flow: list[Flowable] = [
            _p(
                f"Session {number} · {entry.title} · {weeks_label(entry, baseline)} · "
                f"{_t(view_name(entry.view))}",
                s.h2,
            ),
            images,
            Spacer(1, 2.5 * mm),
        ]
        if failed:
            reason = entry.alignment_reason or "The photos could not be aligned."
            flow.append(
                _boxed(
                    [
                        _p(
                            f"<b>Alignment failed.</b> {_free(reason)} {NOT_REPORTED_NOTICE} "
                            "The measurements of each photo are listed for reference only.",
                            s.warning,
                        )
                    ],
                    style.WARN_FILL,
                    style.WARN_RULE,
                )
            )
            flow.append(Spacer(1, 2 * mm))
        flow.append(self._pair_table(baseline, entry))
        flow.append(Spacer(1, 4 * mm))
        return KeepTogether(flow)

    def _pair_table(self, baseline: SessionReport, entry: SessionReport) -> Table:
        s = self.s
        show = entry.change_reportable
        rows: list[list[Any]] = [
            [
                _p("Measure", s.cell_head),
                f"Baseline {baseline.title}",
                f"Session {entry.title}",
                "Change",
                "Change %",
            ]
        ]

        def change_cells(before: float | None, after: float | None) -> list[str]:
            if not show or before is None or after is None:
                return [DASH, DASH]
            diff = after - before
            return [fmt_signed_area(diff), fmt_pct(100.0 * diff / before if before > 0 else None)]

        total = (
            [fmt_signed_area(entry.change_area_mm2), fmt_pct(entry.change_area_pct)]
            if show
            else [DASH, DASH]
        )
        rows.append(
            [
                _p("<b>Pitted-scar area, mm²</b>", s.cell),
                fmt_area(baseline.area_mm2),
                fmt_area(entry.area_mm2),
                *total,
            ]
        )
        for scar_type in SCAR_TYPES:
            b = baseline.type_summary(scar_type).area_mm2
            a = entry.type_summary(scar_type).area_mm2
            rows.append(
                [
                    _p(f"{_type_label(scar_type)} area, mm²", s.cell),
                    fmt_area(b),
                    fmt_area(a),
                    *change_cells(b, a),
                ]
            )
        count_change = entry.change_count
        if count_change is None and show:
            count_change = entry.count - baseline.count
        rows.append(
            [
                _p("Number of scars", s.cell),
                str(baseline.count),
                str(entry.count),
                fmt_signed_int(count_change) if show else DASH,
                "",
            ]
        )
        widths = [52 * mm, 33 * mm, 33 * mm, 28 * mm, TEXT_WIDTH - 146 * mm]
        extra: list[tuple[Any, ...]] = [("FONT", (1, 1), (-1, 1), FONT_BOLD, 7.8)]
        return _data_table(rows, widths, extra=extra)

    # -- methods ------------------------------------------------------------------

    def methods(self) -> None:
        s = self.s
        versions = sorted({e.algorithm_version for e in self.data.sessions if e.algorithm_version})
        version_text = f" (analysis version {_t(', '.join(versions))})" if versions else ""
        paragraphs = [
            (
                "What is measured. ",
                "A pitted (atrophic) scar is counted where the skin lies at least about 0.05 mm "
                "below the surrounding surface; its outline is where the depression begins. "
                "ScarView finds these depressions from the way side lighting shades the skin"
                f"{version_text}, and separates them from flat brown or red marks, pores and "
                "hair. Each scar is typed by its width and wall shape (after Jacob et al. 2001): "
                "ice pick (narrow, under 2 mm), boxcar (1.5 to 4 mm, steep walls) and rolling "
                "(over 4 mm, sloping edges).",
            ),
            (
                "Millimetres. ",
                "Areas are converted from pixels with the printed scale marker placed flat on "
                "the skin beside the scars (or a scale entered by hand), and are given in mm² on "
                "the skin surface. The table lists the scale of every photo.",
            ),
            (
                "Change. ",
                "Each follow-up photo is aligned onto the baseline photo of the same view so that "
                "the same area of skin is compared. Change is reported only when this alignment "
                "succeeded; its residual error is listed. When it failed, the photo's own "
                "figures are shown but no change is claimed.",
            ),
            (
                "Limits. ",
                "These are estimates from two-dimensional photographs, not three-dimensional "
                "measurements of depth. Differences between sessions in light direction, camera "
                "distance or angle, facial expression, make-up or redness can change the figures "
                "by several percent; a scale marker that does not lie flat on the skin alters "
                "all areas (about 7 % when it is 1 cm off the skin at 30 cm). Very shallow scars "
                "may be missed and some pores or shadows counted. Small changes, of a few "
                "percent, may be within this variation. The report supports, and does not "
                "replace, the clinical examination.",
            ),
        ]
        if self.data.has_clinical_data:
            paragraphs.insert(
                3,
                (
                    "Clinical scores. ",
                    "The Goodman and Baron qualitative grade (1 to 4) and the patient-reported "
                    "score are entered by the clinic. The Goodman and Baron quantitative score "
                    f"(0 to {GB_QUANTITATIVE_MAX}) and the ECCA score (0 to {ECCA_MAX}) are "
                    "computed from the scar counts and extent ratings the clinician entered, "
                    "with the published tables (Goodman and Baron 2006; Dréno et al. 2007; "
                    f"tables {SCALES_VERSION}), the same tables for every session. "
                    + _mark_suggested(SUGGESTED_NOTICE),
                ),
            )
        flow: list[Flowable] = [_p("How these figures were measured", s.h1)]
        flow.extend(_p(f"<b>{head}</b>{text}", s.body) for head, text in paragraphs)
        self.story.append(CondPageBreak(70 * mm))
        self.story.extend(flow)


def _mark_suggested(text: str) -> str:
    """Italicise the first "suggested" of a sentence, as the tables print it."""
    return text.replace(SUGGESTED_MARK, f"<i>{SUGGESTED_MARK}</i>", 1)


def _qualitative(entry: ClinicalSession) -> str:
    """``"3 · Moderate"`` or a dash."""
    if entry.gb_qualitative is None:
        return DASH
    return f"{entry.gb_qualitative} · {entry.gb_qualitative_name}"


def _first_date(entries: Sequence[ClinicalSession]) -> date | None:
    dates = [c.session_date for c in entries if c.session_date is not None]
    return min(dates) if dates else None


def _week_of(entry: ClinicalSession, first: date | None) -> str:
    """``"week 4"`` / ``"day 10"`` since the first session, or a dash when undated."""
    if entry.session_date is None or first is None:
        return DASH
    days = (entry.session_date - first).days
    if days == 0:
        return "week 0"
    return f"week {days // 7}" if days % 7 == 0 else f"day {days}"


def _scale_method(method: str) -> str:
    return {
        "marker": "scale marker",
        "manual": "entered by hand",
        "none": "no scale",
    }.get(method, method)


def _alignment_word(entry: SessionReport) -> str:
    if entry.is_baseline:
        return "baseline"
    if entry.alignment_ok is True:
        return "yes"
    if entry.alignment_ok is False:
        return "failed"
    return "not done"


# ------------------------------------------------------------------ page furniture


def _page_decorator(data: ReportData) -> Callable[[Canvas, int, int], None]:
    clinic = data.clinic_name.strip() or "ScarView"
    generated = data.generated_at.strftime("%Y-%m-%d %H:%M")
    footer_left = f"Generated {generated} · ScarView {data.software_version}"
    if data.deidentified:
        footer_left += " · de-identified"

    def decorate(canvas: Canvas, page: int, total: int) -> None:
        canvas.saveState()
        top = PAGE_HEIGHT - 13 * mm
        canvas.setFillColor(style.INK)
        canvas.setFont(FONT_BOLD, 9.5)
        canvas.drawString(MARGIN_X, top, clinic[:80])
        canvas.setFont(FONT_REGULAR, 8)
        canvas.setFillColor(style.MUTED)
        canvas.drawRightString(
            PAGE_WIDTH - MARGIN_X, top, f"{REPORT_TITLE} · Patient {data.patient_code[:40]}"
        )
        canvas.setStrokeColor(style.ACCENT)
        canvas.setLineWidth(1.2)
        canvas.line(MARGIN_X, top - 3 * mm, PAGE_WIDTH - MARGIN_X, top - 3 * mm)
        bottom = 11 * mm
        canvas.setStrokeColor(style.RULE)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN_X, bottom + 4 * mm, PAGE_WIDTH - MARGIN_X, bottom + 4 * mm)
        canvas.setFont(FONT_REGULAR, 7.5)
        canvas.setFillColor(style.MUTED)
        canvas.drawString(MARGIN_X, bottom, footer_left)
        canvas.drawRightString(PAGE_WIDTH - MARGIN_X, bottom, f"Page {page} of {total}")
        canvas.restoreState()

    return decorate


def _numbered_canvas(decorate: Callable[[Canvas, int, int], None]) -> type[Canvas]:
    """A canvas that draws header and footer after layout, so it knows the page count."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._page_states: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._page_states.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._page_states)
            for number, state in enumerate(self._page_states, start=1):
                self.__dict__.update(state)
                decorate(self, number, total)
                super().showPage()
            super().save()

    return NumberedCanvas


# ---------------------------------------------------------------------- public API


def render_report_bytes(
    data: ReportData,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> bytes:
    """Lay out the report and return the PDF's bytes.

    Parameters
    ----------
    data : ReportData
        Everything the report shows (see :mod:`scarview.report.data`).
    progress : callable, optional
        ``progress(fraction, message)``.
    cancel : CancelToken, optional
        Checked between the report's parts.

    Returns
    -------
    bytes
        A complete PDF document (A4, fonts embedded).

    Raises
    ------
    Cancelled
        If ``cancel`` was set.
    """
    style.register_fonts()
    if data.deidentified:
        data = data.deidentify()
    builder = _Builder(data)
    steps: list[tuple[str, Callable[[], None]]] = [
        ("Patient and summary", builder.title_block),
        ("Trend chart", builder.summary),
        ("Measurement tables", builder.measurement_tables),
        ("Treatment log and clinical scores", builder.clinical_record),
        ("Session comparisons", builder.comparisons),
        ("Methods", builder.methods),
    ]
    for index, (message, step) in enumerate(steps):
        check_cancel(cancel)
        report_progress(progress, 0.8 * index / len(steps), message)
        step()
    check_cancel(cancel)
    report_progress(progress, 0.85, "Laying out pages")
    buffer = io.BytesIO()
    title = f"{REPORT_TITLE} – patient {data.patient_code}"
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=title,
        author=data.clinic_name.strip() or "ScarView",
        subject="Atrophic acne scar measurements across treatment sessions",
        creator=f"ScarView {data.software_version}",
        keywords="",
        lang="en",
    )
    doc.build(builder.story, canvasmaker=_numbered_canvas(_page_decorator(data)))
    report_progress(progress, 1.0, "Report ready")
    return buffer.getvalue()


def render_report(
    data: ReportData,
    out: str | os.PathLike[str],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Write the patient's PDF progress report atomically and return its path.

    Parameters
    ----------
    data : ReportData
        Everything the report shows (see :mod:`scarview.report.data`).
    out : str or PathLike
        The PDF file to write; its folder is created when missing, an existing
        file is replaced in one step.
    progress : callable, optional
        ``progress(fraction, message)``.
    cancel : CancelToken, optional
        Checked between the report's parts; nothing is written when cancelled.

    Returns
    -------
    Path
        ``out``.
    """
    pdf = render_report_bytes(data, progress=progress, cancel=cancel)
    return atomic_write_bytes(out, pdf)


__all__ = [
    "CLINICAL_HEADING",
    "DEIDENTIFIED_NOTICE",
    "NOTHING_RECORDED",
    "NOT_REPORTED_NOTICE",
    "REPORT_TITLE",
    "SUGGESTED_MARK",
    "SUGGESTED_NOTICE",
    "render_report",
    "render_report_bytes",
    "view_name",
    "weeks_label",
]
