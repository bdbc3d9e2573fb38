"""The report's look in one place: fonts, colours, type names and number formats.

Fonts are DejaVu Sans from matplotlib's own data folder (reportlab's built-in
Helvetica has no "²", "±" or "→"); they are registered with reportlab once per
process under :data:`FONT_REGULAR` / :data:`FONT_BOLD` / :data:`FONT_ITALIC`.
"""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import Final

import matplotlib
from reportlab.lib import colors
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from scarview.core.types import SCAR_TYPES

FONT_REGULAR: Final = "ScarViewSans"
FONT_BOLD: Final = "ScarViewSans-Bold"
FONT_ITALIC: Final = "ScarViewSans-Oblique"
FONT_BOLD_ITALIC: Final = "ScarViewSans-BoldOblique"

_FONT_FILES: Final = {
    FONT_REGULAR: "DejaVuSans.ttf",
    FONT_BOLD: "DejaVuSans-Bold.ttf",
    FONT_ITALIC: "DejaVuSans-Oblique.ttf",
    FONT_BOLD_ITALIC: "DejaVuSans-BoldOblique.ttf",
}
_FONT_LOCK = threading.Lock()

#: Outline and chart colour of each scar type, RGB 0-255. The same three hues as the
#: GUI's overlay (``scarview.core.overlay.TYPE_COLORS_RGB`` when that module exists):
#: ice pick magenta, boxcar amber, rolling cyan-blue; chosen to stay apart from skin
#: tones, from one another for colour-blind readers, and legible in print.
TYPE_COLORS_RGB: Final[dict[str, tuple[int, int, int]]] = {
    "icepick": (214, 39, 160),
    "boxcar": (240, 160, 0),
    "rolling": (0, 140, 220),
}

#: How each type is named for the clinician.
TYPE_LABELS: Final[dict[str, str]] = {
    "icepick": "Ice pick",
    "boxcar": "Boxcar",
    "rolling": "Rolling",
}

#: Ink for headings, rules and table headers.
INK: Final = colors.HexColor("#1F2A37")
MUTED: Final = colors.HexColor("#5B6675")
RULE: Final = colors.HexColor("#C9D1DB")
HEADER_FILL: Final = colors.HexColor("#E8EDF3")
ZEBRA_FILL: Final = colors.HexColor("#F6F8FA")
ACCENT: Final = colors.HexColor("#2B5D8C")
WARN_INK: Final = colors.HexColor("#8A2C0D")
WARN_FILL: Final = colors.HexColor("#FDF1E7")
WARN_RULE: Final = colors.HexColor("#E3A57A")


def type_color(scar_type: str) -> colors.Color:
    """The reportlab colour of a scar type."""
    r, g, b = TYPE_COLORS_RGB[scar_type]
    return colors.Color(r / 255.0, g / 255.0, b / 255.0)


def register_fonts() -> None:
    """Register DejaVu Sans (regular, bold, oblique) with reportlab, once per process.

    Raises
    ------
    FileNotFoundError
        If matplotlib's DejaVu fonts are missing from this installation.
    """
    with _FONT_LOCK:
        registered = set(pdfmetrics.getRegisteredFontNames())
        if FONT_REGULAR in registered:
            return
        folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        for name, file_name in _FONT_FILES.items():
            pdfmetrics.registerFont(TTFont(name, str(folder / file_name)))
        pdfmetrics.registerFontFamily(
            FONT_REGULAR,
            normal=FONT_REGULAR,
            bold=FONT_BOLD,
            italic=FONT_ITALIC,
            boldItalic=FONT_BOLD_ITALIC,
        )


# ------------------------------------------------------------------ number formats
# The PDF prints every figure through these, so tests can compare what the
# library holds with what the report says by formatting it the same way.

#: Decimals of areas (mm²) and percentages as printed.
AREA_DECIMALS: Final = 1
PCT_DECIMALS: Final = 1
PX_PER_MM_DECIMALS: Final = 2
RMSE_DECIMALS: Final = 2
#: Printed for a value that is unknown (no scale, not aligned...).
DASH: Final = "–"


def fmt_area(value_mm2: float | None) -> str:
    """``"48.4"`` (mm², one decimal) or a dash when unknown."""
    if value_mm2 is None:
        return DASH
    text = f"{value_mm2:.{AREA_DECIMALS}f}"
    return _no_negative_zero(text)


def fmt_signed_area(value_mm2: float | None) -> str:
    """``"+1.2"`` / ``"-3.4"`` (mm²) or a dash when unknown."""
    if value_mm2 is None:
        return DASH
    return _no_negative_zero(f"{value_mm2:+.{AREA_DECIMALS}f}")


def fmt_pct(value_pct: float | None) -> str:
    """``"-7.5 %"`` (signed, one decimal) or a dash when unknown."""
    if value_pct is None:
        return DASH
    return _no_negative_zero(f"{value_pct:+.{PCT_DECIMALS}f}") + " %"


def fmt_signed_int(value: int | None) -> str:
    """``"+2"`` / ``"-3"`` / ``"0"`` or a dash when unknown."""
    if value is None:
        return DASH
    return f"{value:+d}" if value else "0"


def fmt_px_per_mm(value: float | None) -> str:
    """``"18.15"`` or a dash."""
    return DASH if value is None else f"{value:.{PX_PER_MM_DECIMALS}f}"


def fmt_rmse(value_px: float | None) -> str:
    """``"0.42 px"`` or a dash."""
    return DASH if value_px is None else f"{value_px:.{RMSE_DECIMALS}f} px"


def fmt_date(value: date | None) -> str:
    """ISO ``"2026-03-02"`` (unambiguous in every country) or a dash."""
    return DASH if value is None else value.isoformat()


def fmt_depth_mm(value_mm: float | None) -> str:
    """A needle depth as ``"1.5 mm"`` (no trailing zeros) or a dash."""
    return DASH if value_mm is None else f"{value_mm:g} mm"


def fmt_score(value: float | None, maximum: float | None = None) -> str:
    """A clinical score as ``"23 / 84"`` (or ``"23"`` without a maximum) or a dash."""
    if value is None:
        return DASH
    return f"{value:g} / {maximum:g}" if maximum is not None else f"{value:g}"


def fmt_range(low: float | None, high: float | None) -> str:
    """A score range as ``"0–100"`` or ``""`` when either end is unknown."""
    if low is None or high is None:
        return ""
    return f"{low:g}–{high:g}"


def _no_negative_zero(text: str) -> str:
    if text.startswith("-") and float(text) == 0:
        return text[1:]
    return text


__all__ = [
    "ACCENT",
    "AREA_DECIMALS",
    "DASH",
    "FONT_BOLD",
    "FONT_ITALIC",
    "FONT_REGULAR",
    "INK",
    "MUTED",
    "SCAR_TYPES",
    "TYPE_COLORS_RGB",
    "TYPE_LABELS",
    "fmt_area",
    "fmt_date",
    "fmt_depth_mm",
    "fmt_pct",
    "fmt_px_per_mm",
    "fmt_range",
    "fmt_rmse",
    "fmt_score",
    "fmt_signed_area",
    "fmt_signed_int",
    "register_fonts",
    "type_color",
]
