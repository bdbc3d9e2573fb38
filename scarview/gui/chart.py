"""The trend chart of the results panel, drawn with matplotlib's Agg canvas on a worker.

Total pitted-scar area (mm²) per session against the session's date, stacked
by scar type, with the scar count and the percent change from the baseline
above each bar. A session whose photo could not be aligned onto the baseline
shows its measured area hatched and "not aligned" instead of a change figure.

No Qt and no pyplot here: :func:`render_trend_chart` returns RGBA pixels that
the chart widget wraps with :func:`scarview.gui.qimage.array_to_qimage`, so the
drawing (tens of milliseconds) never runs on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise

import matplotlib.dates as mdates
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray

from scarview.core.types import SCAR_TYPES

TYPE_LABELS: Mapping[str, str] = {"icepick": "Ice pick", "boxcar": "Boxcar", "rolling": "Rolling"}


@dataclass(frozen=True)
class ChartPoint:
    """One session's bar.

    Attributes
    ----------
    session_date : date or None
        Where the bar stands (sessions without a date are placed after the last dated one).
    label : str
        Session label, used when there is no date.
    area_by_type_mm2 : Mapping of str to float
        Area per scar type in mm²; empty when not measured yet or without a scale.
    count : int or None
        Scars counted (None: not analysed yet).
    change_pct : float or None
        Percent change of the total area from the baseline (None for the baseline,
        without a scale, or when not aligned).
    is_baseline : bool
    aligned : bool or None
        False when the photo could not be aligned onto the baseline.
    """

    session_date: date | None
    label: str
    area_by_type_mm2: Mapping[str, float] = field(default_factory=dict)
    count: int | None = None
    change_pct: float | None = None
    is_baseline: bool = False
    aligned: bool | None = None


@dataclass(frozen=True)
class ChartStyle:
    """Colours of the chart (``#RRGGBB``) and the scar types' colours (RGB 0-255)."""

    background: str
    text: str
    muted: str
    grid: str
    good: str
    bad: str
    warn: str
    type_rgb: Mapping[str, tuple[int, int, int]]


def _positions(points: Sequence[ChartPoint]) -> list[date]:
    dated = [p.session_date for p in points if p.session_date is not None]
    last = max(dated) if dated else date.today()
    out: list[date] = []
    extra = 0
    for p in points:
        if p.session_date is not None:
            out.append(p.session_date)
        else:
            extra += 1
            out.append(last + timedelta(days=14 * extra))
    return out


def render_trend_chart(
    points: Sequence[ChartPoint],
    style: ChartStyle,
    *,
    width_px: int,
    height_px: int,
    dpr: float = 1.0,
) -> NDArray[np.uint8]:
    """Draw the trend chart.

    Parameters
    ----------
    points : sequence of ChartPoint
        Sessions, oldest first; the first is the baseline.
    style : ChartStyle
    width_px, height_px : int
        Logical size of the chart in screen pixels.
    dpr : float
        Device pixel ratio; the raster has ``width_px * dpr`` columns.

    Returns
    -------
    ndarray of shape (round(height_px * dpr), round(width_px * dpr), 4) and dtype uint8
        RGBA pixels.
    """
    dpi = 96.0 * dpr
    fig = Figure(figsize=(max(width_px, 50) / 96.0, max(height_px, 50) / 96.0), dpi=dpi)
    fig.patch.set_facecolor(style.background)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_facecolor(style.background)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    for spine in ("left", "bottom"):
        ax.spines[spine].set_color(style.grid)
    ax.tick_params(colors=style.muted, labelsize=8.5)
    ax.yaxis.label.set_color(style.text)
    ax.grid(axis="y", color=style.grid, linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_ylabel("Pitted-scar area (mm²)", fontsize=9)

    xs = _positions(points)
    if len(xs) > 1:
        gaps = [(b - a).days for a, b in pairwise(xs) if (b - a).days > 0]
        width_days = 0.55 * min(gaps) if gaps else 10.0
    else:
        width_days = 10.0
    width_days = max(2.0, width_days)
    x_num = np.asarray(mdates.date2num(xs), dtype=np.float64) if xs else np.zeros(0)

    totals = np.zeros(len(points))
    measured = [bool(p.area_by_type_mm2) for p in points]
    for scar_type in SCAR_TYPES:
        r, g, b = style.type_rgb.get(scar_type, (128, 128, 128))
        heights = np.array([float(p.area_by_type_mm2.get(scar_type, 0.0)) for p in points])
        hatches = ["////" if p.aligned is False else "" for p in points]
        bars = ax.bar(
            x_num,
            heights,
            width=width_days,
            bottom=totals,
            color=(r / 255, g / 255, b / 255),
            edgecolor=style.background,
            linewidth=0.6,
            label=TYPE_LABELS.get(scar_type, scar_type),
        )
        for bar, hatch in zip(bars, hatches, strict=True):
            if hatch:
                bar.set_hatch(hatch)
                bar.set_alpha(0.55)
        totals = totals + heights

    # Bars narrower than this many screen pixels get a shorter label (no area line).
    plot_width_px = max(
        1.0, width_px * (1 - min(0.4, 56 / max(width_px, 50)) - min(0.2, 10 / max(width_px, 50)))
    )
    span_days = (max(xs) - min(xs)).days + 2 * max(width_days, 7.0) if xs else 1.0
    bar_px = width_days * plot_width_px / max(span_days, 1.0)
    wide = bar_px >= 58
    top = float(totals.max()) if len(totals) and totals.max() > 0 else 1.0
    ax.set_ylim(0, top * 1.3)
    for x, total, point, has_area in zip(x_num, totals, points, measured, strict=True):
        if point.count is None:
            ax.text(
                x,
                top * 0.04,
                "analysing…",
                ha="center",
                va="bottom",
                fontsize=7.5,
                color=style.muted,
                rotation=90,
            )
            continue
        if not has_area:
            ax.text(
                x,
                top * 0.04,
                "no scale",
                ha="center",
                va="bottom",
                fontsize=7.5,
                color=style.warn,
                rotation=90,
            )
        lines = [f"{total:.1f} mm²" if has_area and wide else "", f"n = {point.count}"]
        color = style.text
        if point.is_baseline:
            lines.append("baseline")
            color = style.muted
        elif point.aligned is False:
            lines.append("not aligned")
            color = style.warn
        elif point.change_pct is not None:
            lines.append(f"{point.change_pct:+.0f} %".replace("-", "−"))
            color = style.good if point.change_pct < 0 else style.bad
        text = "\n".join(line for line in lines if line)
        ax.annotate(
            text,
            (x, total),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
            color=color,
            linespacing=1.15,
        )

    if len(x_num):
        pad = max(width_days, 7.0)
        ax.set_xlim(x_num.min() - pad, x_num.max() + pad)
        ax.set_xticks(x_num)
        ax.set_xticklabels(
            [
                f"{p.session_date.day} {p.session_date:%b}\n{p.session_date.year}"
                if p.session_date
                else p.label
                for p in points
            ]
        )
    legend = ax.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncols=3,
        fontsize=8.5,
        frameon=False,
        handlelength=1.0,
        columnspacing=1.0,
        borderaxespad=0.2,
    )
    for text_item in legend.get_texts():
        text_item.set_color(style.text)
    # Margins in pixels (tight_layout warns on small sizes, and warnings are errors in tests).
    w, h = max(width_px, 50), max(height_px, 50)
    fig.subplots_adjust(
        left=min(0.4, 56 / w),
        right=1 - min(0.2, 10 / w),
        bottom=min(0.45, 40 / h),
        top=1 - min(0.3, 26 / h),
    )
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba(), dtype=np.uint8)
    return np.array(rgba, copy=True)
