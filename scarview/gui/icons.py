"""Toolbar and menu icons: the SVGs in ``resources/icons``, tinted for the theme.

Each SVG draws with the placeholder colour ``#000000``; :func:`icon` swaps in
the theme's text colour (white when the button is checked, muted when it is
disabled) and renders crisp pixmaps for every size and device pixel ratio.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from scarview.resources import read_text

_SIZES = (16, 24, 32)
_PLACEHOLDER = "#000000"


@lru_cache(maxsize=64)
def _svg(name: str) -> str:
    return read_text("icons", f"{name}.svg")


def _render(name: str, color: str, size: int, dpr: float, opacity: float = 1.0) -> QPixmap:
    svg = _svg(name).replace(_PLACEHOLDER, color)
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    side = max(1, round(size * dpr))
    image = QImage(side, side, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setOpacity(opacity)
    renderer.render(painter, QRectF(0, 0, side, side))
    painter.end()
    pixmap = QPixmap.fromImage(image)
    pixmap.setDevicePixelRatio(dpr)
    return pixmap


def icon(name: str, color: str, *, checked_color: str = "#FFFFFF", dpr: float = 2.0) -> QIcon:
    """Return a themed icon.

    Parameters
    ----------
    name : str
        File stem in ``resources/icons`` (``"wipe"``, ``"zoom-in"``...).
    color : str
        ``#RRGGBB`` of the normal state.
    checked_color : str
        Colour when the action is checked (drawn on the highlight colour).
    dpr : float
        Device pixel ratio the pixmaps are rendered for (2 covers high-DPI
        screens; Qt scales down smoothly for 1).
    """
    result = QIcon()
    for size in _SIZES:
        result.addPixmap(_render(name, color, size, dpr), QIcon.Mode.Normal, QIcon.State.Off)
        result.addPixmap(_render(name, checked_color, size, dpr), QIcon.Mode.Normal, QIcon.State.On)
        result.addPixmap(_render(name, color, size, dpr), QIcon.Mode.Active, QIcon.State.Off)
        result.addPixmap(_render(name, checked_color, size, dpr), QIcon.Mode.Active, QIcon.State.On)
        faded = _render(name, color, size, dpr, 0.35)
        result.addPixmap(faded, QIcon.Mode.Disabled, QIcon.State.Off)
        result.addPixmap(faded, QIcon.Mode.Disabled, QIcon.State.On)
    return result


def app_icon() -> QIcon:
    """The application's window icon (its colours are fixed)."""
    result = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256):
        result.addPixmap(_render("app", "#2463EB", size, 1.0))
    return result
