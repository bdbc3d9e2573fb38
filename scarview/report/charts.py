"""Charts for the PDF report, drawn with matplotlib's Agg canvas into PNG bytes in memory.

No pyplot and no global ``rcParams`` changes: every figure is a
:class:`matplotlib.figure.Figure` on its own Agg canvas, so charts can be drawn
from any thread and never touch a GUI.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Final

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from scarview.core.types import SCAR_TYPES
from scarview.report.data import SessionReport
from scarview.report.style import TYPE_COLORS_RGB, TYPE_LABELS, fmt_area

#: Resolution charts are rasterised at, dots per inch of the printed page.
CHART_DPI: Final = 220
_INK = "#1F2A37"
_MUTED = "#5B6675"
_GRID = "#D5DCE4"
#: Marks a session whose photo could not be aligned onto the baseline.
NOT_ALIGNED_MARK: Final = "†"


def _rgb01(scar_type: str) -> tuple[float, float, float]:
    r, g, b = TYPE_COLORS_RGB[scar_type]
    return (r / 255.0, g / 255.0, b / 255.0)


def session_axis_label(entry: SessionReport, baseline: SessionReport) -> str:
    """Two-line x-axis label: the date, then ``Baseline`` or weeks since the baseline.

    Parameters
    ----------
    entry : SessionReport
        The session labelled.
    baseline : SessionReport
        Its view's baseline.

    Returns
    -------
    str
        E.g. ``"2026-03-02\\nweek 8"``.
    """
    if entry.is_baseline or entry is baseline:
        second = "baseline"
    elif entry.session_date is not None and baseline.session_date is not None:
        days = (entry.session_date - baseline.session_date).days
        second = f"week {days / 7:.0f}" if days % 7 == 0 else f"day {days}"
    else:
        second = ""
    return f"{entry.title}\n{second}" if second else entry.title


def trend_chart_png(
    sessions: Sequence[SessionReport],
    *,
    width_mm: float = 170.0,
    height_mm: float = 78.0,
    dpi: int = CHART_DPI,
) -> bytes:
    """Draw the pitted-scar area of each session, stacked by scar type, as a PNG.

    Parameters
    ----------
    sessions : sequence of SessionReport
        One view's entries, oldest first; the first is the baseline.
    width_mm, height_mm : float
        Printed size of the chart, millimetres.
    dpi : int
        Raster resolution at that size.

    Returns
    -------
    bytes
        An opaque RGB PNG of ``width_mm / 25.4 * dpi`` by ``height_mm / 25.4 * dpi``
        pixels (to within one pixel). Sessions without a scale show "no scale" instead
        of a bar; sessions whose photo could not be aligned carry
        :data:`NOT_ALIGNED_MARK` after their total.
    """
    if not sessions:
        raise ValueError("a trend chart needs at least one session")
    figure = Figure(figsize=(width_mm / 25.4, height_mm / 25.4), dpi=dpi, facecolor="white")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    positions = list(range(len(sessions)))
    baseline = sessions[0]
    bottoms = [0.0] * len(sessions)
    bar_width = 0.56
    for scar_type in SCAR_TYPES:
        heights = []
        for entry in sessions:
            area = entry.type_summary(scar_type).area_mm2
            heights.append(0.0 if area is None else float(area))
        axes.bar(
            positions,
            heights,
            bar_width,
            bottom=bottoms,
            color=_rgb01(scar_type),
            edgecolor="white",
            linewidth=0.6,
            label=TYPE_LABELS[scar_type],
            zorder=3,
        )
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    top = max([*bottoms, 1.0])
    for x, entry, total in zip(positions, sessions, bottoms, strict=True):
        if entry.area_mm2 is None:
            axes.text(x, top * 0.03, "no scale", ha="center", va="bottom", fontsize=7, color=_MUTED)
            continue
        text = fmt_area(entry.area_mm2)
        if not entry.is_baseline and entry.alignment_ok is False:
            text += NOT_ALIGNED_MARK
        axes.text(
            x,
            total + top * 0.015,
            text,
            ha="center",
            va="bottom",
            fontsize=7.5,
            color=_INK,
            fontweight="bold",
        )
    axes.set_xticks(positions, [session_axis_label(e, baseline) for e in sessions])
    axes.tick_params(axis="x", labelsize=7, colors=_INK, length=0, pad=4)
    axes.tick_params(axis="y", labelsize=7, colors=_MUTED, length=2)
    axes.set_ylabel("Pitted-scar area (mm²)", fontsize=8, color=_INK)
    axes.set_ylim(0, top * 1.16)
    # Few sessions: keep bars at the width four sessions would give them, centred.
    pad = max(0, 4 - len(sessions)) * 0.5
    axes.set_xlim(-0.6 - pad, len(sessions) - 0.4 + pad)
    axes.grid(axis="y", color=_GRID, linewidth=0.6, zorder=0)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color(_MUTED)
        axes.spines[side].set_linewidth(0.6)
    handles, labels = axes.get_legend_handles_labels()
    axes.legend(
        handles,
        labels,
        loc="upper right",
        bbox_to_anchor=(1.0, 1.12),
        ncol=3,
        fontsize=7,
        frameon=False,
        handlelength=1.2,
        columnspacing=1.2,
    )
    figure.subplots_adjust(left=0.08, right=0.99, top=0.88, bottom=0.2)
    canvas = figure.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    buffer = io.BytesIO()
    # Opaque RGB: no soft mask in the PDF, and no PNG text chunks.
    Image.fromarray(np.ascontiguousarray(rgba[..., :3]), mode="RGB").save(
        buffer, format="PNG", optimize=True
    )
    return buffer.getvalue()


__all__ = ["CHART_DPI", "NOT_ALIGNED_MARK", "session_axis_label", "trend_chart_png"]
