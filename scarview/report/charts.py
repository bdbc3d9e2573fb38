"""Charts for the PDF report, drawn with matplotlib's Agg canvas into PNG bytes in memory.

No pyplot and no global ``rcParams`` changes: every figure is a
:class:`matplotlib.figure.Figure` on its own Agg canvas, so charts can be drawn
from any thread and never touch a GUI.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
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
    return _png(figure)


def _png(figure: Figure) -> bytes:
    """Rasterise a figure on its Agg canvas into opaque RGB PNG bytes."""
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


# ----------------------------------------------------------------- score trend

#: Line colour of the measured area and of the clinical scores in the score trend.
AREA_COLOR: Final = "#2B5D8C"
SCORE_COLOR: Final = "#7A3E9D"
#: Panels per row of the score trend.
TREND_COLUMNS_MAX: Final = 3


@dataclass(frozen=True)
class TrendPanel:
    """One small chart of the score trend: one value per session, or none.

    Attributes
    ----------
    title : str
        Printed above the panel, e.g. ``"ECCA (0–540)"``.
    values : tuple of float or None
        One per session, in the order of the chart's x positions; ``None`` where
        the session has no value (nothing is drawn there).
    y_range : tuple of (float, float), optional
        A fixed axis range (e.g. ``(1, 4)`` for a grade); by default from 0 to a
        little above the largest value.
    decimals : int
        Decimals of the value printed beside each point.
    is_area : bool
        True for the measured area (drawn in :data:`AREA_COLOR`), else a clinical
        score (:data:`SCORE_COLOR`).
    """

    title: str
    values: tuple[float | None, ...]
    y_range: tuple[float, float] | None = None
    decimals: int = 0
    is_area: bool = False


def score_trend_layout(panels: int) -> tuple[int, int]:
    """Return ``(rows, columns)`` of the score trend's grid for ``panels`` panels."""
    if panels < 1:
        raise ValueError("a score trend needs at least one panel")
    columns = 2 if panels in (2, 4) else min(panels, TREND_COLUMNS_MAX)
    return math.ceil(panels / columns), columns


def score_trend_png(
    x: Sequence[float],
    panels: Sequence[TrendPanel],
    *,
    x_label: str,
    width_mm: float = 170.0,
    panel_height_mm: float = 44.0,
    dpi: int = CHART_DPI,
) -> bytes:
    """Draw the measured area and the clinical scores across sessions, one small panel each.

    Small multiples rather than one chart with several axes: every score keeps
    its own scale and none is read against another's axis.

    Parameters
    ----------
    x : sequence of float
        Each session's position on the time axis (weeks since the first session,
        or the session's number when dates are unknown), ascending.
    panels : sequence of TrendPanel
        The panels, in reading order; each has one value (or ``None``) per ``x``.
    x_label : str
        The time axis' title, e.g. ``"weeks since the first session"``.
    width_mm : float
        Printed width of the whole chart, millimetres.
    panel_height_mm : float
        Printed height of one row of panels, millimetres.
    dpi : int
        Raster resolution at that size.

    Returns
    -------
    bytes
        An opaque RGB PNG of ``width_mm`` by ``rows * panel_height_mm`` (see
        :func:`score_trend_layout`) at ``dpi``.
    """
    rows, columns = score_trend_layout(len(panels))
    xs = [float(v) for v in x]
    for panel in panels:
        if len(panel.values) != len(xs):
            raise ValueError(f"the panel {panel.title!r} needs one value per session")
    height_mm = rows * panel_height_mm
    figure = Figure(figsize=(width_mm / 25.4, height_mm / 25.4), dpi=dpi, facecolor="white")
    FigureCanvasAgg(figure)
    x_span = (max(xs) - min(xs)) if xs else 1.0
    x_pad = max(0.5, 0.08 * x_span)
    for index, panel in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        color = AREA_COLOR if panel.is_area else SCORE_COLOR
        points = [(px, float(v)) for px, v in zip(xs, panel.values, strict=True) if v is not None]
        top = max([v for _, v in points] or [1.0])
        if panel.y_range is not None:
            low, high = panel.y_range
            span = high - low
            axes.set_ylim(low - 0.15 * span, high + 0.25 * span)
            axes.set_yticks(list(range(math.ceil(low), math.floor(high) + 1)))
        else:
            axes.set_ylim(0, top * 1.28 if top > 0 else 1.0)
        if points:
            axes.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                color=color,
                linewidth=1.3,
                marker="o",
                markersize=3.6,
                zorder=3,
            )
            low_y, high_y = axes.get_ylim()
            for px, value in points:
                axes.text(
                    px,
                    value + 0.05 * (high_y - low_y),
                    f"{value:.{panel.decimals}f}",
                    ha="center",
                    va="bottom",
                    fontsize=6.3,
                    color=_INK,
                )
        else:
            axes.text(
                0.5,
                0.5,
                "not recorded",
                transform=axes.transAxes,
                ha="center",
                fontsize=7,
                color=_MUTED,
            )
        axes.set_title(panel.title, fontsize=7.5, color=_INK, loc="left", pad=3)
        axes.set_xlim(min(xs, default=0.0) - x_pad, max(xs, default=1.0) + x_pad)
        if len(xs) <= 8:
            axes.set_xticks(xs, [f"{v:g}" for v in xs])
        axes.tick_params(axis="both", labelsize=6.3, colors=_MUTED, length=2)
        if index >= len(panels) - columns:
            axes.set_xlabel(x_label, fontsize=6.5, color=_MUTED, labelpad=2)
        axes.grid(axis="y", color=_GRID, linewidth=0.5, zorder=0)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        for side in ("left", "bottom"):
            axes.spines[side].set_color(_MUTED)
            axes.spines[side].set_linewidth(0.6)
    figure.subplots_adjust(
        left=0.06 if columns > 1 else 0.08,
        right=0.99,
        top=1.0 - 6.5 / height_mm,
        bottom=11.0 / height_mm,
        wspace=0.28,
        hspace=16.0 / panel_height_mm,
    )
    return _png(figure)


__all__ = [
    "AREA_COLOR",
    "CHART_DPI",
    "NOT_ALIGNED_MARK",
    "SCORE_COLOR",
    "TrendPanel",
    "score_trend_layout",
    "score_trend_png",
    "session_axis_label",
    "trend_chart_png",
]
