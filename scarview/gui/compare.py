"""The centre of the window: two sessions compared, in five modes, with overlays.

Modes: side by side (synchronised zoom and pan), wipe (a draggable slider over
the aligned pair), blend (an opacity control), flicker (the two alternate) and
difference. The AFTER photo is shown in the BEFORE photo's frame whenever the
pair has a homography, so every mode shows the same skin at the same place.
A badge says how well the pair is aligned; a pair that failed alignment says
why in a banner and shows no change figures.

The panel turns canvas events into photo coordinates (AFTER's own pixels for
clicks on the aligned AFTER) and re-emits them; the main window turns them into
corrections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QKeySequence, QPainterPath, QPolygonF
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from scarview.core.align import warp_points
from scarview.gui.canvas import ImageCanvas, Layer, Marker, ScarShape, ViewState
from scarview.gui.loading import PairImages, PairQuality, PhotoResult
from scarview.gui.theme import Colors

MODES: tuple[str, ...] = ("side_by_side", "wipe", "blend", "flicker", "difference")
MODE_TITLES = {
    "side_by_side": "Side by side",
    "wipe": "Wipe",
    "blend": "Blend",
    "flicker": "Flicker",
    "difference": "Difference",
}
MODE_ICONS = {
    "side_by_side": "side-by-side",
    "wipe": "wipe",
    "blend": "blend",
    "flicker": "flicker",
    "difference": "difference",
}


@dataclass(frozen=True, eq=False)
class PairInfo:
    """What the panel shows about the two photos besides their pixels.

    Attributes
    ----------
    before, after : PhotoResult
    before_caption, after_caption : str
        E.g. ``"5 Jan 2026 · baseline"``.
    quality : PairQuality
    homography : ndarray of shape (3, 3) or None
        AFTER pixels -> BEFORE frame pixels.
    type_colors : dict
        Scar type -> ``QColor``.
    """

    before: PhotoResult
    after: PhotoResult
    before_caption: str
    after_caption: str
    quality: PairQuality
    homography: np.ndarray | None
    type_colors: dict[str, QColor]


def _shapes(
    result: PhotoResult, H: np.ndarray | None, colors: dict[str, QColor]
) -> list[ScarShape]:
    shapes: list[ScarShape] = []
    for scars, removed in ((result.scars, False), (result.removed, True)):
        for scar in scars:
            contour = np.asarray(scar.contour, dtype=np.float64).reshape(-1, 2)
            if len(contour) < 2:
                continue
            if H is not None:
                contour = warp_points(H, contour)
            path = QPainterPath()
            path.addPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in contour]))
            path.closeSubpath()
            shapes.append(
                ScarShape(
                    scar.id,
                    path,
                    colors.get(scar.type, QColor("#FFFFFF")),
                    manual=scar.source == "manual",
                    removed=removed,
                )
            )
    return shapes


def _roi(result: PhotoResult, H: np.ndarray | None) -> QPolygonF | None:
    if result.roi is None or len(result.roi) < 3:
        return None
    points = np.asarray(result.roi, dtype=np.float64)
    if H is not None:
        points = warp_points(H, points)
    return QPolygonF([QPointF(float(x), float(y)) for x, y in points])


class AlignmentBadge(QLabel):
    """A coloured pill: how well the displayed pair is aligned."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alignmentBadge")
        self.state = "pending"
        self._colors: Colors | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTextFormat(Qt.TextFormat.PlainText)

    def set_quality(self, quality: PairQuality | None, colors: Colors) -> None:
        """Show a pair's quality (None hides the badge)."""
        self._colors = colors
        if quality is None:
            self.hide()
            return
        self.state = quality.state
        symbol = {"good": "✓", "fair": "✓", "failed": "⚠", "pending": "…", "same": "="}[
            quality.state
        ]
        self.setText(f"{symbol}  {quality.title}")
        self.setToolTip(quality.detail)
        background = {
            "good": colors.good,
            "fair": colors.warn,
            "failed": colors.bad,
            "pending": colors.muted,
            "same": colors.muted,
        }[quality.state]
        text = "#111111" if quality.state == "fair" and colors.dark else "#FFFFFF"
        if quality.state == "fair" and not colors.dark:
            text = "#FFFFFF"
        self.setStyleSheet(
            f"QLabel#alignmentBadge {{ background: {background}; color: {text};"
            " border-radius: 10px; padding: 3px 10px; font-weight: 600; }"
        )
        self.show()


class ComparisonPanel(QWidget):
    """Two sessions compared (see the module docstring).

    Signals
    -------
    before_changed(int), after_changed(int)
        The user picked another session (its id) for a side.
    view_changed(str)
        The user picked another photographed view.
    scar_clicked(str, int)
        Role (``"before"``/``"after"``) and scar id (0: none).
    polygon_drawn(str, object)
        Role and vertices ``[(x, y), ...]`` in that photo's own pixels.
    segment_drawn(str, object, object)
        Role and two points ``(x, y)`` in that photo's own pixels.
    point_clicked(str, object)
        Role and a point ``(x, y)`` in that photo's own pixels (raw, never warped).
    align_by_hand_requested()
        The banner's button.
    """

    before_changed = Signal(int)
    after_changed = Signal(int)
    view_changed = Signal(str)
    scar_clicked = Signal(str, int)
    polygon_drawn = Signal(str, object)
    segment_drawn = Signal(str, object, object)
    point_clicked = Signal(str, object)
    align_by_hand_requested = Signal()
    mode_changed = Signal(str)

    def __init__(self, colors: Colors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colors = colors
        self.mode = "side_by_side"
        self.info: PairInfo | None = None
        self.images: PairImages | None = None
        self.manual_alignment = False
        self.view = ViewState(self)
        self.view.changed.connect(self._update_zoom_label)
        self.left = ImageCanvas(self.view)
        self.right = ImageCanvas(self.view)
        self.single = ImageCanvas(self.view)
        self.canvases = (self.left, self.right, self.single)
        self._flicker = QTimer(self)
        self._flicker.setInterval(650)
        self._flicker.timeout.connect(self._on_flicker_timeout)
        self._build_actions()
        self._build_ui()
        for canvas in self.canvases:
            canvas.scar_clicked.connect(self._on_canvas_scar_clicked)
            canvas.polygon_drawn.connect(self._on_canvas_polygon_drawn)
            canvas.segment_drawn.connect(self._on_canvas_segment_drawn)
            canvas.point_clicked.connect(self._on_canvas_point_clicked)
        self.single.wipe_moved.connect(self._on_canvas_wipe_moved)
        self.apply_colors(colors)
        self.set_mode("side_by_side")
        self._show_placeholder("Choose a patient on the left, or drop photos here to import them.")

    # ------------------------------------------------------------------ build

    def _build_actions(self) -> None:
        self.mode_group = QActionGroup(self)
        self.mode_group.setExclusive(True)
        self.mode_actions: dict[str, QAction] = {}
        for index, mode in enumerate(MODES):
            action = QAction(MODE_TITLES[mode], self)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
            action.setData(mode)
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{MODE_TITLES[mode]} ({keys})")
            action.triggered.connect(lambda _checked=False, m=mode: self.set_mode(m))
            self.mode_group.addAction(action)
            self.mode_actions[mode] = action

        def toggle(text: str, shortcut: str, checked: bool) -> QAction:
            action = QAction(text, self)
            action.setCheckable(True)
            action.setChecked(checked)
            action.setShortcut(QKeySequence(shortcut))
            action.setToolTip(f"{text} ({shortcut})")
            action.toggled.connect(self._on_overlay_toggled)
            return action

        self.outlines_action = toggle("Scar outlines", "O", True)
        self.roi_action = toggle("Region of interest", "Shift+R", True)
        self.grid_action = toggle("Millimetre grid", "G", False)

        def command(
            text: str, shortcut: QKeySequence | QKeySequence.StandardKey | str, slot: Any
        ) -> QAction:
            action = QAction(text, self)
            action.setShortcut(QKeySequence(shortcut))
            action.setToolTip(
                f"{text} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
            )
            action.triggered.connect(slot)
            return action

        self.zoom_in_action = command("Zoom in", QKeySequence.StandardKey.ZoomIn, self.zoom_in)
        self.zoom_in_action.setShortcuts(
            [QKeySequence(QKeySequence.StandardKey.ZoomIn), QKeySequence("+"), QKeySequence("=")]
        )
        self.zoom_out_action = command("Zoom out", QKeySequence.StandardKey.ZoomOut, self.zoom_out)
        self.zoom_out_action.setShortcuts(
            [QKeySequence(QKeySequence.StandardKey.ZoomOut), QKeySequence("-")]
        )
        self.fit_action = command("Fit to window", "F", self.fit)
        self.actual_action = command("Actual pixels (100 %)", "1", self.actual_size)

    def _segment(self, actions: list[QAction]) -> QWidget:
        box = QWidget()
        layout = QHBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        for i, action in enumerate(actions):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setIconSize(QSize(18, 18))
            button.setProperty(
                "segment", "first" if i == 0 else "last" if i == len(actions) - 1 else "true"
            )
            button.setAutoRaise(False)
            layout.addWidget(button)
        return box

    def _tool_button(self, action: QAction) -> QToolButton:
        button = QToolButton()
        button.setDefaultAction(action)
        button.setIconSize(QSize(18, 18))
        button.setAutoRaise(True)
        return button

    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)

        # Row 1: which sessions, which view, the badge and the pair's change.
        row1 = QHBoxLayout()
        row1.setSpacing(6)
        self.before_combo = QComboBox()
        self.after_combo = QComboBox()
        for combo in (self.before_combo, self.after_combo):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(15)
        self.before_combo.setToolTip(
            "Before: the earlier session, whose photo is the frame (Ctrl+PgUp / Ctrl+PgDown)"
        )
        self.after_combo.setToolTip(
            "The later session, aligned onto the earlier one (PgUp / PgDown)"
        )
        self.before_combo.activated.connect(self._on_before_combo_activated)
        self.after_combo.activated.connect(self._on_after_combo_activated)
        self.swap_button = QToolButton()
        self.swap_button.setAutoRaise(True)
        self.swap_button.setToolTip("Swap the two sessions")
        self.swap_button.clicked.connect(self._on_swap_clicked)
        self.view_combo = QComboBox()
        self.view_combo.setToolTip("The photographed view to compare")
        self.view_combo.activated.connect(self._on_view_combo_activated)
        row1.addWidget(self.before_combo)
        row1.addWidget(self.swap_button)
        row1.addWidget(self.after_combo)
        row1.addWidget(self.view_combo)
        row1.addSpacing(8)
        self.badge = AlignmentBadge()
        row1.addWidget(self.badge)
        self.change_label = QLabel()
        self.change_label.setTextFormat(Qt.TextFormat.RichText)
        # It may be cut on a narrow window rather than widen the window.
        self.change_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.change_label.setMinimumWidth(40)
        row1.addWidget(self.change_label, 1)
        layout.addLayout(row1)

        # Row 2: modes, overlays, mode controls, zoom.
        row2 = QHBoxLayout()
        row2.setSpacing(6)
        row2.addWidget(self._segment([self.mode_actions[m] for m in MODES]))
        row2.addSpacing(10)
        for action in (self.outlines_action, self.roi_action, self.grid_action):
            row2.addWidget(self._tool_button(action))
        self.opacity_label = QLabel("Opacity of the later photo")
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(50)
        self.opacity_slider.setToolTip("Opacity of the later photo over the earlier one")
        self.opacity_slider.valueChanged.connect(self._on_opacity_changed)
        self.opacity_value = QLabel("50 %")
        self.opacity_value.setMinimumWidth(44)
        self.flicker_label = QLabel("Each photo shows for")
        self.flicker_slider = QSlider(Qt.Orientation.Horizontal)
        self.flicker_slider.setRange(200, 2000)
        self.flicker_slider.setSingleStep(50)
        self.flicker_slider.setValue(650)
        self.flicker_slider.setMaximumWidth(260)
        self.flicker_slider.setToolTip("Time each photo stays on screen")
        self.flicker_slider.valueChanged.connect(self._on_flicker_interval_changed)
        self.flicker_value = QLabel("0.65 s")
        self.flicker_value.setMinimumWidth(44)
        row2.addStretch(1)
        layout.addLayout(row2)

        # Banner for a failed alignment.
        self.banner = QWidget()
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(10, 6, 6, 6)
        self.banner_text = QLabel()
        self.banner_text.setWordWrap(True)
        self.banner_text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.banner_button = QPushButton("Align by hand…")
        self.banner_button.clicked.connect(self.align_by_hand_requested)
        banner_layout.addWidget(self.banner_text, 1)
        banner_layout.addWidget(self.banner_button)
        self.banner.hide()
        layout.addWidget(self.banner)

        # The canvases.
        self.stack = QStackedWidget()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setHandleWidth(4)
        self.splitter.addWidget(self.left)
        self.splitter.addWidget(self.right)
        self.splitter.splitterMoved.connect(lambda *_: self._equalise_splitter())
        self.stack.addWidget(self.splitter)
        self.stack.addWidget(self.single)
        layout.addWidget(self.stack, 1)

        # Under the canvas, the control of the current mode: the wipe slider (the handle
        # on the canvas drags it too), the blend opacity or the flicker interval.
        self.wipe_slider = QSlider(Qt.Orientation.Horizontal)
        self.wipe_slider.setRange(0, 1000)
        self.wipe_slider.setValue(500)
        self.wipe_slider.setToolTip("Wipe position: earlier photo on the left, later on the right")
        self.wipe_slider.valueChanged.connect(self._on_wipe_slider_changed)
        controls = QHBoxLayout()
        controls.setSpacing(8)
        controls.addWidget(self.wipe_slider, 1)
        controls.addWidget(self.opacity_label)
        controls.addWidget(self.opacity_slider, 1)
        controls.addWidget(self.opacity_value)
        controls.addWidget(self.flicker_label)
        controls.addWidget(self.flicker_slider, 1)
        controls.addWidget(self.flicker_value)
        self.controls_spacer = QWidget()
        self.controls_spacer.setSizePolicy(
            QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred
        )
        controls.addWidget(self.controls_spacer, 1)
        for action in (
            self.zoom_out_action,
            self.zoom_in_action,
            self.fit_action,
            self.actual_action,
        ):
            controls.addWidget(self._tool_button(action))
        self.zoom_label = QLabel("Fit")
        self.zoom_label.setMinimumWidth(48)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.zoom_label.setToolTip("Zoom: photo pixels per screen pixel")
        controls.addWidget(self.zoom_label)
        layout.addLayout(controls)

    def _equalise_splitter(self) -> None:
        # Both halves keep one size so that synchronised zoom shows the same skin.
        total = sum(self.splitter.sizes())
        self.splitter.setSizes([total // 2, total - total // 2])

    def apply_colors(self, colors: Colors) -> None:
        """Restyle for a theme."""
        from scarview.gui.icons import icon

        self.colors = colors
        for mode, action in self.mode_actions.items():
            action.setIcon(icon(MODE_ICONS[mode], colors.text))
        self.outlines_action.setIcon(icon("outlines", colors.text))
        self.roi_action.setIcon(icon("roi", colors.text))
        self.grid_action.setIcon(icon("grid", colors.text))
        self.zoom_in_action.setIcon(icon("zoom-in", colors.text))
        self.zoom_out_action.setIcon(icon("zoom-out", colors.text))
        self.fit_action.setIcon(icon("zoom-fit", colors.text))
        self.actual_action.setIcon(icon("zoom-100", colors.text))
        self.swap_button.setIcon(icon("swap", colors.text))
        for canvas in self.canvases:
            canvas.set_background(QColor(colors.canvas))
        self.banner.setStyleSheet(
            f"QWidget {{ background: {colors.bad}; color: #FFFFFF; border-radius: 4px; }}"
            " QPushButton { background: #FFFFFF; color: #1F2A37; padding: 4px 10px;"
            " border-radius: 4px; }"
        )
        if self.info is not None:
            self.badge.set_quality(self.info.quality, colors)
            self._update_change_label()

    # ---------------------------------------------------------------- content

    def set_sessions(
        self,
        sessions: list[tuple[int, str]],
        before_id: int | None,
        after_id: int | None,
        views: list[tuple[str, str]],
        view: str | None,
    ) -> None:
        """Fill the session and view pickers (``(id, title)`` / ``(key, title)`` pairs)."""
        for combo, chosen in ((self.before_combo, before_id), (self.after_combo, after_id)):
            combo.blockSignals(True)
            combo.clear()
            for session_id, title in sessions:
                combo.addItem(title, session_id)
            index = combo.findData(chosen)
            combo.setCurrentIndex(max(0, index))
            combo.setEnabled(bool(sessions))
            combo.blockSignals(False)
        self.view_combo.blockSignals(True)
        self.view_combo.clear()
        for key, title in views:
            self.view_combo.addItem(title, key)
        self.view_combo.setCurrentIndex(max(0, self.view_combo.findData(view)))
        self.view_combo.setVisible(len(views) > 1)
        self.view_combo.blockSignals(False)
        self.swap_button.setEnabled(len(sessions) > 1)

    def set_pair(self, info: PairInfo | None) -> None:
        """Show a pair's overlays, badge and change (its pixels come with :meth:`set_images`)."""
        self.info = info
        if info is None:
            self.badge.set_quality(None, self.colors)
            self.change_label.clear()
            self.banner.hide()
            self.images = None
            self._update_layers()
            return
        self.badge.set_quality(info.quality, self.colors)
        failed = info.quality.state == "failed"
        self.banner_text.setText(
            f"<b>These photos could not be aligned.</b> {info.quality.detail}" if failed else ""
        )
        self.banner.setVisible(failed)
        self._update_change_label()
        self._update_layers()

    def set_images(self, images: PairImages | None) -> None:
        """Show a pair's pixels (None: loading)."""
        self.images = images
        if images is not None:
            self.view.set_frame(QSize(images.before.width, images.before.height))
        self._update_layers()

    def set_loading(self, text: str) -> None:
        """Show a message instead of the photos."""
        self.images = None
        self._show_placeholder(text)
        self._update_layers()

    def _show_placeholder(self, text: str) -> None:
        for canvas in self.canvases:
            canvas.set_placeholder(text)

    def _update_change_label(self) -> None:
        info = self.info
        if info is None:
            self.change_label.clear()
            return
        b, a = info.before.summary, info.after.summary
        if info.quality.state == "same" or b is None or a is None:
            self.change_label.clear()
            return
        if not info.quality.ok:
            self.change_label.setText(
                f"<span style='color:{self.colors.muted}'>No change figures: not aligned</span>"
            )
            return
        parts = []
        if a.area_mm2 is not None and b.area_mm2 is not None:
            delta = a.area_mm2 - b.area_mm2
            pct = f" ({100 * delta / b.area_mm2:+.0f} %)" if b.area_mm2 > 0 else ""
            color = (
                self.colors.good
                if delta < 0
                else self.colors.bad
                if delta > 0
                else self.colors.text
            )
            figure = f"{delta:+.1f} mm²{pct}".replace("-", "−")
            parts.append(f"<span style='color:{color}; font-weight:600'>{figure}</span>")
        dn = a.count - b.count
        count = "±0" if dn == 0 else f"{dn:+d}".replace("-", "−")
        parts.append(f"{count} scar{'s' if abs(dn) != 1 else ''}")
        self.change_label.setText(" · ".join(parts))
        self.change_label.setToolTip("Change from the earlier to the later session")

    def _layers(self) -> tuple[Layer | None, Layer | None, Layer | None]:
        """(before, after, difference) layers in the BEFORE frame."""
        info, images = self.info, self.images
        if info is None or images is None:
            return None, None, None
        if images.before_id != info.before.photo.id or images.after_id != info.after.photo.id:
            return None, None, None
        colors = info.type_colors
        before = Layer(
            "before",
            images.before,
            info.before_caption,
            _shapes(info.before, None, colors),
            _roi(info.before, None),
            info.before.px_per_mm,
        )
        use_aligned = images.after_aligned is not None and not self.manual_alignment
        H = images.homography if use_aligned else None
        after = Layer(
            "after",
            images.after_aligned
            if use_aligned and images.after_aligned is not None
            else images.after_raw,
            info.after_caption + (" · aligned" if use_aligned else " · not aligned"),
            _shapes(info.after, H, colors),
            _roi(info.after, H),
            info.before.px_per_mm if use_aligned else info.after.px_per_mm,
        )
        difference = None
        if images.difference is not None:
            difference = Layer(
                "before",
                images.difference,
                "Difference: bright where the photos differ",
                [],
                _roi(info.before, None),
                info.before.px_per_mm,
            )
        return before, after, difference

    def _update_layers(self) -> None:
        before, after, difference = self._layers()
        if before is None or after is None:
            for canvas in self.canvases:
                canvas.set_layers(None)
            return
        mode = "side_by_side" if self.manual_alignment else self.mode
        self.left.set_layers(before)
        self.right.set_layers(after)
        if mode == "difference":
            self.single.set_layers(difference)
            self.single.set_composite("single")
            if difference is None and self.images is not None:
                self.single.set_placeholder(
                    "Computing the difference picture…"
                    if self.images.homography is not None
                    else "No difference picture: the photos are not aligned. Align them by "
                    "hand to compare them pixel by pixel."
                )
        else:
            self.single.set_layers(before, after)
            self.single.set_composite(
                {"wipe": "wipe", "blend": "blend", "flicker": "flicker"}.get(mode, "single")
            )

    # ------------------------------------------------------------------ modes

    def set_mode(self, mode: str) -> None:
        """One of :data:`MODES`."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.mode_actions[mode].setChecked(True)
        side = mode == "side_by_side" or self.manual_alignment
        self.stack.setCurrentIndex(0 if side else 1)
        self.wipe_slider.setVisible(mode == "wipe" and not side)
        self.controls_spacer.setVisible(side or mode not in ("wipe", "blend", "flicker"))
        for w in (self.opacity_label, self.opacity_slider, self.opacity_value):
            w.setVisible(mode == "blend")
        for w in (self.flicker_label, self.flicker_slider, self.flicker_value):
            w.setVisible(mode == "flicker")
        if mode == "flicker" and not side:
            self._flicker.start()
        else:
            self._flicker.stop()
            self.single.set_flicker_top(False)
        self._update_layers()
        if side:
            QTimer.singleShot(0, self._equalise_splitter)
        self.mode_changed.emit(mode)

    def stop_animations(self) -> None:
        """Stop the flicker timer (the window is closing)."""
        self._flicker.stop()

    def set_manual_alignment(self, on: bool) -> None:
        """Show both photos unwarped, side by side, for clicking matching points."""
        self.manual_alignment = on
        for action in self.mode_actions.values():
            action.setEnabled(not on)
        self.set_mode(self.mode)

    def active_canvases(self) -> tuple[ImageCanvas, ...]:
        """The canvases on screen."""
        return (self.left, self.right) if self.stack.currentIndex() == 0 else (self.single,)

    def set_tool(self, tool: str) -> None:
        """Set the tool of every canvas."""
        for canvas in self.canvases:
            canvas.set_tool(tool)

    def set_selection(self, role: str | None, scar_id: int) -> None:
        """Highlight a scar on every canvas."""
        for canvas in self.canvases:
            canvas.set_selection(role, scar_id)

    def set_markers(self, role: str, points: list[tuple[float, float]], color: str) -> None:
        """Numbered markers at photo points of ``role`` (raw photo pixels)."""
        markers = [
            Marker(QPointF(x, y), str(i + 1), QColor(color)) for i, (x, y) in enumerate(points)
        ]
        for canvas in self.canvases:
            canvas.set_markers(role, markers)

    def clear_markers(self) -> None:
        """Remove every marker."""
        for canvas in self.canvases:
            canvas.clear_markers()

    def finish_sketch(self) -> bool:
        """Close a polygon being drawn on any canvas."""
        return any(canvas.finish_sketch() for canvas in self.active_canvases())

    def cancel_sketch(self) -> bool:
        """Drop a drawing in progress."""
        cancelled = False
        for canvas in self.canvases:
            cancelled = canvas.cancel_sketch() or cancelled
        return cancelled

    # ------------------------------------------------------------------- zoom

    def _zoom_canvas(self) -> ImageCanvas:
        return self.active_canvases()[0]

    def zoom_in(self) -> None:
        """Zoom in around the centre."""
        self._zoom_canvas().zoom_by(1.25)

    def zoom_out(self) -> None:
        """Zoom out around the centre."""
        self._zoom_canvas().zoom_by(1 / 1.25)

    def fit(self) -> None:
        """Fit the photos in the window."""
        self.view.fit()

    def actual_size(self) -> None:
        """One photo pixel per screen pixel."""
        self._zoom_canvas().set_actual_size()

    def _update_zoom_label(self) -> None:
        if self.view.zoom is None:
            self.zoom_label.setText("Fit")
            return
        canvas = self._zoom_canvas()
        pct = self.view.zoom * (canvas.devicePixelRatioF() or 1.0) * 100
        self.zoom_label.setText(f"{pct:.0f} %")

    # ------------------------------------------------------------------ slots

    def _on_overlay_toggled(self, _checked: bool) -> None:
        for canvas in self.canvases:
            canvas.set_overlays(
                outlines=self.outlines_action.isChecked(),
                roi=self.roi_action.isChecked(),
                grid=self.grid_action.isChecked(),
            )

    def _on_opacity_changed(self, value: int) -> None:
        self.opacity_value.setText(f"{value} %")
        self.single.set_opacity(value / 100.0)

    def _on_flicker_interval_changed(self, value: int) -> None:
        self._flicker.setInterval(value)
        self.flicker_value.setText(f"{value / 1000:.2f} s")

    def _on_flicker_timeout(self) -> None:
        self.single.set_flicker_top(not self.single.flicker_top)

    def _on_wipe_slider_changed(self, value: int) -> None:
        self.single.set_wipe(value / 1000.0)

    def _on_canvas_wipe_moved(self, fraction: float) -> None:
        self.wipe_slider.blockSignals(True)
        self.wipe_slider.setValue(round(fraction * 1000))
        self.wipe_slider.blockSignals(False)

    def _on_before_combo_activated(self, index: int) -> None:
        session_id = self.before_combo.itemData(index)
        if session_id is not None:
            self.before_changed.emit(int(session_id))

    def _on_after_combo_activated(self, index: int) -> None:
        session_id = self.after_combo.itemData(index)
        if session_id is not None:
            self.after_changed.emit(int(session_id))

    def _on_view_combo_activated(self, index: int) -> None:
        key = self.view_combo.itemData(index)
        if key is not None:
            self.view_changed.emit(str(key))

    def _on_swap_clicked(self) -> None:
        before = self.before_combo.currentData()
        after = self.after_combo.currentData()
        if before is not None and after is not None:
            self.after_changed.emit(int(before))
            self.before_changed.emit(int(after))

    def _photo_xy(self, role: str, xy: QPointF) -> tuple[float, float]:
        """Frame pixels of a click -> the clicked photo's own pixels."""
        images = self.images
        if (
            role == "after"
            and images is not None
            and images.homography is not None
            and images.after_aligned is not None
            and not self.manual_alignment
        ):
            inverse = np.linalg.inv(images.homography)
            x, y = warp_points(inverse, np.array([xy.x(), xy.y()]))
            return float(x), float(y)
        return float(xy.x()), float(xy.y())

    def _on_canvas_scar_clicked(self, role: str, scar_id: int) -> None:
        self.set_selection(role, scar_id)
        self.scar_clicked.emit(role, scar_id)

    def _on_canvas_polygon_drawn(self, role: str, points: list[tuple[float, float]]) -> None:
        photo = [self._photo_xy(role, QPointF(x, y)) for x, y in points]
        self.polygon_drawn.emit(role, photo)

    def _on_canvas_segment_drawn(self, role: str, p1: QPointF, p2: QPointF) -> None:
        self.segment_drawn.emit(role, self._photo_xy(role, p1), self._photo_xy(role, p2))

    def _on_canvas_point_clicked(self, role: str, xy: QPointF) -> None:
        self.point_clicked.emit(role, self._photo_xy(role, xy))
