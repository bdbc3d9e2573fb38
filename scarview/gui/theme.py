"""Light and dark themes: the Fusion style with a clinical, low-glare palette.

``"system"`` follows the platform's colour scheme (``QStyleHints.colorScheme``)
and switches live when the platform does; ``"light"`` and ``"dark"`` force one.
One stylesheet (``resources/style/scarview.qss``) refers to palette roles
only, so it serves both themes.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from scarview.resources import read_text

THEMES: tuple[str, ...] = ("system", "light", "dark")


@dataclass(frozen=True)
class Colors:
    """Colours the custom-painted widgets and the chart use, per theme.

    All are ``#RRGGBB`` strings.
    """

    dark: bool
    window: str
    base: str
    text: str
    muted: str
    grid: str
    accent: str
    canvas: str
    good: str
    warn: str
    bad: str


LIGHT = Colors(
    dark=False,
    window="#F2F4F7",
    base="#FFFFFF",
    text="#1F2A37",
    muted="#5B6675",
    grid="#D5DCE4",
    accent="#2463EB",
    canvas="#3A3F47",
    good="#1E8E4E",
    warn="#B7791F",
    bad="#C53030",
)

DARK = Colors(
    dark=True,
    window="#1F2228",
    base="#17191E",
    text="#E5E8EC",
    muted="#9AA3AF",
    grid="#3A404A",
    accent="#5B8DEF",
    canvas="#101216",
    good="#48BB78",
    warn="#ECC94B",
    bad="#FC8181",
)


def system_is_dark() -> bool:
    """True when the platform asks for a dark colour scheme."""
    hints = QGuiApplication.styleHints()
    return bool(hints is not None and hints.colorScheme() == Qt.ColorScheme.Dark)


def resolve(choice: str) -> Colors:
    """The colours of a theme choice (``"system"``, ``"light"`` or ``"dark"``)."""
    if choice == "dark":
        return DARK
    if choice == "light":
        return LIGHT
    return DARK if system_is_dark() else LIGHT


def palette_for(colors: Colors) -> QPalette:
    """A complete QPalette for one theme."""
    p = QPalette()
    window, base, text = QColor(colors.window), QColor(colors.base), QColor(colors.text)
    muted = QColor(colors.muted)
    accent = QColor(colors.accent)
    button = QColor("#2A2E36") if colors.dark else QColor("#E9EDF2")
    alternate = QColor("#1C1F24") if colors.dark else QColor("#F6F8FA")
    group = QPalette.ColorGroup
    role = QPalette.ColorRole
    for g in (group.Active, group.Inactive):
        p.setColor(g, role.Window, window)
        p.setColor(g, role.WindowText, text)
        p.setColor(g, role.Base, base)
        p.setColor(g, role.AlternateBase, alternate)
        p.setColor(g, role.Text, text)
        p.setColor(g, role.Button, button)
        p.setColor(g, role.ButtonText, text)
        p.setColor(g, role.BrightText, QColor("#FFFFFF"))
        p.setColor(g, role.Highlight, accent)
        p.setColor(g, role.HighlightedText, QColor("#FFFFFF"))
        p.setColor(g, role.ToolTipBase, base)
        p.setColor(g, role.ToolTipText, text)
        p.setColor(g, role.PlaceholderText, muted)
        p.setColor(g, role.Link, accent)
        p.setColor(g, role.Light, button.lighter(130))
        p.setColor(g, role.Midlight, button.lighter(115))
        p.setColor(g, role.Mid, QColor(colors.grid))
        p.setColor(g, role.Dark, button.darker(150))
        p.setColor(g, role.Shadow, QColor("#000000"))
    disabled = QColor(colors.muted)
    disabled.setAlpha(150)
    for r in (role.WindowText, role.Text, role.ButtonText, role.HighlightedText):
        p.setColor(group.Disabled, r, disabled)
    for r in (role.Window, role.Base, role.Button):
        p.setColor(group.Disabled, r, p.color(group.Active, r))
    p.setColor(group.Disabled, role.Highlight, QColor(colors.grid))
    return p


def apply_theme(app: QApplication, choice: str) -> Colors:
    """Style the whole application for ``choice`` and return its colours."""
    colors = resolve(choice)
    app.setStyle("Fusion")
    app.setPalette(palette_for(colors))
    app.setStyleSheet(read_text("style", "scarview.qss"))
    return colors
