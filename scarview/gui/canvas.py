"""The photo canvas: paints one or two photos of a pair, their overlays and the tools.

A :class:`ImageCanvas` shows a *base* layer and optionally a *top* layer in one
frame (the BEFORE photo's pixels; the AFTER photo is warped into it when the
pair is aligned), composited as a single image, a wipe (base left of the
slider, top right of it), a blend (top at an opacity) or a flicker (one or the
other). Overlays are drawn as vector paths over the pixels: scar outlines
coloured by type (dashed for scars a clinician drew, crossed out for scars a
clinician removed), the region of interest (outside dimmed), a millimetre grid
and a scale bar.

Zoom and pan live in a shared :class:`ViewState`, so every canvas bound to the
same state (side by side) moves together. Painting draws only the visible part
of the pyramid level that matches the zoom (see :mod:`scarview.gui.pyramid`).
The canvas computes nothing about the photos: it reports clicks, drawn
polygons and picked points (in frame pixels, with the role of the layer under
the cursor) through signals, and its owner turns them into corrections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PySide6.QtCore import QLineF, QObject, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPolygonF,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from scarview.gui.pyramid import ImagePyramid

#: Tools of the canvas: what a left click does.
TOOLS: tuple[str, ...] = ("navigate", "roi", "add_scar", "calibrate", "points")
#: How the top layer is composited over the base layer.
COMPOSITES: tuple[str, ...] = ("single", "wipe", "blend", "flicker")

ZOOM_MIN = 0.02
ZOOM_MAX = 40.0
ZOOM_STEP = 1.25
_WIPE_GRAB_PX = 9.0
_CLICK_SLOP_PX = 4.0
_FREEHAND_PX = 7.0
_VERTEX_GRAB_PX = 8.0
ROI_COLOR = QColor("#F6C343")
SELECT_COLOR = QColor("#FFFFFF")


@dataclass(eq=False)
class ScarShape:
    """One scar outline as the canvas draws it.

    Attributes
    ----------
    scar_id : int
        The scar's id in its photo's effective scar map.
    path : QPainterPath
        Closed outline in frame pixels.
    color : QColor
        Colour of its type.
    manual : bool
        Drawn by a clinician (dashed).
    removed : bool
        Removed by a clinician (dotted grey, crossed out, not counted).
    """

    scar_id: int
    path: QPainterPath
    color: QColor
    manual: bool = False
    removed: bool = False

    @property
    def bounds(self) -> QRectF:
        """Bounding rectangle in frame pixels."""
        return self.path.boundingRect()


@dataclass(eq=False)
class Layer:
    """A photo (or difference image) in the canvas frame, with its overlays.

    Attributes
    ----------
    role : str
        ``"before"``, ``"after"`` or ``"difference"``: who a click belongs to.
    pyramid : ImagePyramid
        Pixels in frame coordinates.
    caption : str
        Shown in the corner (e.g. ``"30 Mar 2026 · aligned"``).
    scars : list of ScarShape
    roi : QPolygonF or None
        Region of interest in frame pixels.
    px_per_mm : float or None
        The frame's scale, for the grid and the scale bar.
    """

    role: str
    pyramid: ImagePyramid
    caption: str = ""
    scars: list[ScarShape] = field(default_factory=list)
    roi: QPolygonF | None = None
    px_per_mm: float | None = None


@dataclass(eq=False)
class Marker:
    """A numbered point drawn on the canvas (manual alignment, calibration)."""

    xy: QPointF
    label: str
    color: QColor = field(default_factory=lambda: QColor("#38BDF8"))


class ViewState(QObject):
    """Zoom and centre shared by the canvases showing one frame.

    ``zoom`` is logical screen pixels per frame pixel, or ``None`` to fit the
    frame in each canvas; ``center`` is the frame point at the canvas centre
    (``None``: the frame's centre).

    Signals
    -------
    changed()
    """

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.zoom: float | None = None
        self.center: QPointF | None = None
        self.frame = QSize(0, 0)
        self.canvases: list[ImageCanvas] = []

    def set_frame(self, size: QSize) -> None:
        """Set the frame's size; a new size refits the view."""
        if size != self.frame:
            self.frame = QSize(size)
            self.zoom = None
            self.center = None
            self.changed.emit()

    def fit(self) -> None:
        """Fit the whole frame in the canvases."""
        self.zoom = None
        self.center = None
        self.changed.emit()

    def set_zoom(self, zoom: float, center: QPointF | None = None) -> None:
        """Set the zoom (clamped) and optionally the centre."""
        self.zoom = min(ZOOM_MAX, max(ZOOM_MIN, float(zoom)))
        if center is not None:
            self.center = QPointF(center)
        self.changed.emit()

    def set_center(self, center: QPointF) -> None:
        """Pan so that ``center`` (frame pixels) is in the middle."""
        self.center = QPointF(center)
        self.changed.emit()


class ImageCanvas(QWidget):
    """Paints a pair of layers in one frame; reports clicks and drawings.

    Signals
    -------
    scar_clicked(str, int)
        Role and scar id under a click (0: empty skin, clears the selection).
    polygon_drawn(str, object)
        Role and the polygon's vertices ``[(x, y), ...]`` in frame pixels
        (tools ``"roi"`` and ``"add_scar"``).
    segment_drawn(str, QPointF, QPointF)
        Role and two points in frame pixels (tool ``"calibrate"``).
    point_clicked(str, QPointF)
        Role and a point in frame pixels (tool ``"points"``).
    wipe_moved(float)
        The wipe position, 0 (left edge) to 1 (right edge).
    cursor_moved(str, QPointF)
        Role and frame pixel under the mouse.
    """

    scar_clicked = Signal(str, int)
    polygon_drawn = Signal(str, object)
    segment_drawn = Signal(str, QPointF, QPointF)
    point_clicked = Signal(str, QPointF)
    wipe_moved = Signal(float)
    cursor_moved = Signal(str, QPointF)

    def __init__(self, view: ViewState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        view.canvases.append(self)
        view.changed.connect(self.update)
        self.base: Layer | None = None
        self.top: Layer | None = None
        self.composite = "single"
        self.wipe = 0.5
        self.opacity = 0.5
        self.flicker_top = False
        self.show_outlines = True
        self.show_roi = True
        self.show_grid = False
        self.tool = "navigate"
        self.selection: tuple[str, int] | None = None
        self.markers: dict[str, list[Marker]] = {}
        self.placeholder = ""
        self.background = QColor("#3A3F47")
        self._sketch: list[QPointF] = []
        self._sketch_role = ""
        self._overlay_version = 0
        self._view_moving = False
        self._last_view_key: tuple[float, float, float] | None = None
        self._overlay_cache: dict[str, tuple[tuple[object, ...], QImage]] = {}
        self._hover: QPointF | None = None
        self._press: QPointF | None = None
        self._press_center: QPointF | None = None
        self._dragging = ""  # "", "pan", "wipe", "sketch", "freehand", "vertex"
        self._vertex: tuple[str, int] | None = None
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 120)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    # --------------------------------------------------------------- content

    def set_layers(self, base: Layer | None, top: Layer | None = None) -> None:
        """Show ``base`` (and ``top`` for composites); ``None`` clears."""
        self.base = base
        self.top = top
        if self.selection is not None and self._layer(self.selection[0]) is None:
            self.selection = None
        self._overlays_changed()

    def set_composite(self, composite: str) -> None:
        """One of :data:`COMPOSITES`."""
        if composite not in COMPOSITES:
            raise ValueError(f"unknown composite {composite!r}")
        self.composite = composite
        self.update()

    def set_wipe(self, fraction: float) -> None:
        """Move the wipe slider (0 left edge, 1 right edge)."""
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction != self.wipe:
            self.wipe = fraction
            self.update()

    def set_opacity(self, opacity: float) -> None:
        """Opacity of the top layer in blend mode (0 to 1)."""
        self.opacity = min(1.0, max(0.0, float(opacity)))
        self.update()

    def set_flicker_top(self, top: bool) -> None:
        """Show the top layer (True) or the base layer (False) in flicker mode."""
        self.flicker_top = bool(top)
        self.update()

    def set_tool(self, tool: str) -> None:
        """One of :data:`TOOLS`; drops any unfinished drawing."""
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = tool
        self._sketch = []
        self._dragging = ""
        cursor = Qt.CursorShape.OpenHandCursor if tool == "navigate" else Qt.CursorShape.CrossCursor
        self.setCursor(cursor)
        self._overlays_changed()

    def set_selection(self, role: str | None, scar_id: int = 0) -> None:
        """Highlight one scar (``None`` or id 0 clears)."""
        self.selection = None if role is None or scar_id <= 0 else (role, int(scar_id))
        self._overlays_changed()

    def set_markers(self, role: str, markers: list[Marker]) -> None:
        """Numbered points to draw on the layer of ``role``."""
        self.markers[role] = list(markers)
        self._overlays_changed()

    def clear_markers(self) -> None:
        """Remove every marker."""
        self.markers.clear()
        self._overlays_changed()

    def set_overlays(self, *, outlines: bool, roi: bool, grid: bool) -> None:
        """Toggle the overlays."""
        self.show_outlines, self.show_roi, self.show_grid = outlines, roi, grid
        self._overlays_changed()

    def _overlays_changed(self) -> None:
        self._overlay_version += 1
        self._overlay_cache.clear()
        self.update()

    def set_placeholder(self, text: str) -> None:
        """Text shown when there is no photo (e.g. "Loading…")."""
        self.placeholder = text
        self.update()

    def set_background(self, color: QColor) -> None:
        """Colour around the photo."""
        self.background = QColor(color)
        self.update()

    @property
    def sketch(self) -> list[QPointF]:
        """Vertices of the polygon being drawn, in frame pixels."""
        return list(self._sketch)

    def finish_sketch(self) -> bool:
        """Close the polygon being drawn (Enter, double-click); True if one was emitted."""
        if self.tool in ("roi", "add_scar") and len(self._sketch) >= 3:
            points = [(p.x(), p.y()) for p in self._sketch]
            role = self._sketch_role
            self._sketch = []
            self.update()
            self.polygon_drawn.emit(role, points)
            return True
        return False

    def cancel_sketch(self) -> bool:
        """Drop the drawing in progress; True if there was one."""
        had = bool(self._sketch)
        self._sketch = []
        self._dragging = ""
        self.update()
        return had

    def undo_sketch_point(self) -> None:
        """Remove the last vertex of the drawing in progress."""
        if self._sketch:
            self._sketch.pop()
            self.update()

    # -------------------------------------------------------------- geometry

    def frame_size(self) -> QSize:
        """Size of the frame in pixels (the view's, else the base layer's)."""
        if self.view.frame.width() > 0:
            return self.view.frame
        if self.base is not None:
            return QSize(self.base.pyramid.width, self.base.pyramid.height)
        return QSize(0, 0)

    def _own_fit_zoom(self) -> float:
        frame = self.frame_size()
        if frame.width() <= 0 or frame.height() <= 0 or self.width() <= 0:
            return 1.0
        return min(self.width() / frame.width(), self.height() / frame.height()) * 0.98

    def fit_zoom(self) -> float:
        """The zoom that fits the frame in every visible canvas sharing this view.

        Canvases shown side by side get the same zoom even when their widths
        differ by a pixel, so both halves show the same skin.
        """
        fits = [c._own_fit_zoom() for c in self.view.canvases if c.isVisible() and c.width() > 0]
        return min(fits) if fits else self._own_fit_zoom()

    def zoom(self) -> float:
        """Current logical screen pixels per frame pixel."""
        return self.view.zoom if self.view.zoom is not None else self.fit_zoom()

    def center(self) -> QPointF:
        """Frame point at the middle of the canvas."""
        if self.view.center is not None:
            return self.view.center
        frame = self.frame_size()
        return QPointF(frame.width() / 2.0, frame.height() / 2.0)

    def transform(self) -> QTransform:
        """Frame pixels -> widget (logical) pixels."""
        s = self.zoom()
        c = self.center()
        t = QTransform()
        t.translate(self.width() / 2.0, self.height() / 2.0)
        t.scale(s, s)
        t.translate(-c.x(), -c.y())
        return t

    def to_frame(self, pos: QPointF) -> QPointF:
        """Widget position -> frame pixels."""
        s = self.zoom()
        c = self.center()
        return QPointF(
            (pos.x() - self.width() / 2.0) / s + c.x(), (pos.y() - self.height() / 2.0) / s + c.y()
        )

    def to_widget(self, xy: QPointF) -> QPointF:
        """Frame pixels -> widget position."""
        return self.transform().map(xy)

    def wipe_x(self) -> float:
        """The wipe line's x in widget pixels."""
        return self.wipe * self.width()

    def role_at(self, pos: QPointF) -> str:
        """Role of the layer a click at widget position ``pos`` belongs to."""
        if self.base is None:
            return ""
        top = self.top
        if top is None or self.composite == "single":
            return self.base.role
        if self.composite == "wipe":
            return self.base.role if pos.x() < self.wipe_x() else top.role
        if self.composite == "blend":
            return top.role if self.opacity >= 0.5 else self.base.role
        return top.role if self.flicker_top else self.base.role

    def _layer(self, role: str) -> Layer | None:
        for layer in (self.base, self.top):
            if layer is not None and layer.role == role:
                return layer
        return None

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping the frame point under ``anchor`` (widget px) in place."""
        if self.base is None:
            return
        old = self.zoom()
        new = min(ZOOM_MAX, max(ZOOM_MIN, old * factor))
        if anchor is None:
            anchor = QPointF(self.width() / 2.0, self.height() / 2.0)
        fixed = self.to_frame(anchor)
        c = QPointF(
            fixed.x() - (anchor.x() - self.width() / 2.0) / new,
            fixed.y() - (anchor.y() - self.height() / 2.0) / new,
        )
        self.view.set_zoom(new, c)

    def set_actual_size(self) -> None:
        """100 %: one photo pixel per device pixel."""
        ratio = self.devicePixelRatioF() or 1.0
        self.view.set_zoom(1.0 / ratio, self.center())

    # -------------------------------------------------------------- painting

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.background)
        base = self.base
        if base is None:
            self._paint_placeholder(painter)
            painter.end()
            return
        transform = self.transform()
        view_key = (round(transform.m11(), 9), round(transform.dx(), 4), round(transform.dy(), 4))
        self._view_moving = view_key != self._last_view_key
        self._last_view_key = view_key
        top = self.top
        mode = self.composite if top is not None else "single"
        full = QRectF(self.rect())
        if mode == "single":
            self._paint_layer(painter, base, transform, full, 1.0)
        elif mode == "wipe":
            assert top is not None
            x = self.wipe_x()
            left = QRectF(0, 0, x, self.height())
            right = QRectF(x, 0, self.width() - x, self.height())
            self._paint_layer(painter, base, transform, left, 1.0)
            self._paint_layer(painter, top, transform, right, 1.0)
        elif mode == "blend":
            assert top is not None
            self._paint_layer(painter, base, transform, full, 1.0, overlays=self.opacity < 0.5)
            self._paint_layer(painter, top, transform, full, self.opacity, overlays=False)
            if self.opacity >= 0.5:
                self._paint_overlays(painter, top, transform, full)
        else:  # flicker
            assert top is not None
            self._paint_layer(painter, top if self.flicker_top else base, transform, full, 1.0)
        self._paint_sketch(painter, transform)
        if mode == "wipe":
            self._paint_wipe_handle(painter)
        self._paint_captions(painter, mode)
        self._paint_scale_bar(painter, base)
        painter.end()

    def _paint_placeholder(self, painter: QPainter) -> None:
        if not self.placeholder:
            return
        painter.setPen(QColor(255, 255, 255, 170))
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.15)
        painter.setFont(font)
        painter.drawText(
            self.rect().adjusted(24, 24, -24, -24),
            Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
            self.placeholder,
        )

    def _paint_layer(
        self,
        painter: QPainter,
        layer: Layer,
        transform: QTransform,
        clip: QRectF,
        opacity: float,
        *,
        overlays: bool = True,
    ) -> None:
        if clip.width() <= 0 or clip.height() <= 0:
            return
        pyramid = layer.pyramid
        inverse, _ok = transform.inverted()
        visible = inverse.mapRect(clip).intersected(QRectF(0, 0, pyramid.width, pyramid.height))
        painter.save()
        painter.setClipRect(clip)
        if not visible.isEmpty():
            dpr = self.devicePixelRatioF() or 1.0
            image, _ = pyramid.level_for(self.zoom() * dpr)
            sx = image.width() / pyramid.width
            sy = image.height() / pyramid.height
            source = QRectF(
                visible.x() * sx, visible.y() * sy, visible.width() * sx, visible.height() * sy
            )
            target = transform.mapRect(visible)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.setOpacity(opacity)
            painter.drawImage(target, image, source)
            painter.setOpacity(1.0)
        if overlays:
            self._paint_overlays(painter, layer, transform, clip)
        painter.restore()

    def _paint_overlays(
        self, painter: QPainter, layer: Layer, transform: QTransform, clip: QRectF
    ) -> None:
        painter.save()
        painter.setClipRect(clip)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if self.show_grid and layer.px_per_mm:
            self._paint_grid(painter, layer, transform, clip)
        if self._has_vector_overlays(layer):
            if self._view_moving:
                # Zooming or panning: draw what the clip shows, directly.
                painter.setTransform(transform)
                self._draw_vector_overlays(painter, layer, transform, clip)
            else:
                # A still view: outlines, ROI and markers are drawn once into a cached
                # image, so dragging the wipe slider or the opacity only blits them.
                overlay = self._overlay_image(layer, transform)
                painter.drawImage(clip, overlay, self._device_rect(clip, overlay))
        painter.restore()

    def _has_vector_overlays(self, layer: Layer) -> bool:
        return bool(
            (self.show_outlines and layer.scars)
            or (self.show_roi and layer.roi is not None and layer.roi.size() >= 3)
            or self.markers.get(layer.role)
        )

    def _draw_vector_overlays(
        self, painter: QPainter, layer: Layer, transform: QTransform, area: QRectF
    ) -> None:
        """ROI, outlines (those within ``area``, widget pixels) and markers; painter in frame px."""
        if self.show_roi and layer.roi is not None and layer.roi.size() >= 3:
            outside = QPainterPath()
            outside.addRect(QRectF(0, 0, layer.pyramid.width, layer.pyramid.height))
            inside = QPainterPath()
            inside.addPolygon(layer.roi)
            inside.closeSubpath()
            painter.fillPath(outside.subtracted(inside), QColor(0, 0, 0, 90))
            pen = QPen(ROI_COLOR, 2.0, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(inside)
            if self.tool == "roi":
                # Corner handles: drag one to reshape the region.
                painter.save()
                painter.resetTransform()
                painter.setPen(QPen(QColor(0, 0, 0, 180), 1.0))
                painter.setBrush(ROI_COLOR)
                for i in range(layer.roi.size()):
                    corner = transform.map(layer.roi.at(i))
                    painter.drawRect(QRectF(corner.x() - 4, corner.y() - 4, 8, 8))
                painter.restore()
        if self.show_outlines:
            selected = (
                self.selection[1] if self.selection and self.selection[0] == layer.role else 0
            )
            inverse, _ok = transform.inverted()
            margin = 6.0 / max(transform.m11(), 1e-9)
            visible = inverse.mapRect(area).adjusted(-margin, -margin, margin, margin)
            for shape in layer.scars:
                if shape.bounds.intersects(visible):
                    self._paint_scar(painter, shape, shape.scar_id == selected)
        for marker_index, marker in enumerate(self.markers.get(layer.role, [])):
            self._paint_marker(painter, transform, marker, marker_index)

    @staticmethod
    def _device_rect(clip: QRectF, image: QImage) -> QRectF:
        ratio = image.devicePixelRatio()
        return QRectF(
            clip.x() * ratio, clip.y() * ratio, clip.width() * ratio, clip.height() * ratio
        )

    def _overlay_image(self, layer: Layer, transform: QTransform) -> QImage:
        dpr = self.devicePixelRatioF() or 1.0
        key = (
            self._overlay_version,
            id(layer),
            round(transform.m11(), 9),
            round(transform.dx(), 4),
            round(transform.dy(), 4),
            self.width(),
            self.height(),
            dpr,
        )
        cached = self._overlay_cache.get(layer.role)
        if cached is not None and cached[0] == key:
            return cached[1]
        image = QImage(
            max(1, round(self.width() * dpr)),
            max(1, round(self.height() * dpr)),
            QImage.Format.Format_ARGB32_Premultiplied,
        )
        image.setDevicePixelRatio(dpr)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setTransform(transform)
        self._draw_vector_overlays(painter, layer, transform, QRectF(self.rect()))
        painter.end()
        self._overlay_cache[layer.role] = (key, image)
        return image

    def _paint_scar(self, painter: QPainter, shape: ScarShape, selected: bool) -> None:
        if shape.removed:
            pen = QPen(QColor(220, 220, 220, 200), 1.4, Qt.PenStyle.DotLine)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(shape.path)
            box = shape.bounds
            painter.drawLine(QLineF(box.topLeft(), box.bottomRight()))
            painter.drawLine(QLineF(box.topRight(), box.bottomLeft()))
            return
        if selected:
            halo = QPen(SELECT_COLOR, 5.0)
            halo.setCosmetic(True)
            painter.setPen(halo)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(shape.path)
            fill = QColor(shape.color)
            fill.setAlpha(70)
            painter.fillPath(shape.path, fill)
        pen = QPen(shape.color, 2.2 if selected else 1.6)
        pen.setCosmetic(True)
        if shape.manual:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(shape.path)

    def _paint_marker(
        self, painter: QPainter, transform: QTransform, marker: Marker, index: int
    ) -> None:
        painter.save()
        painter.resetTransform()
        centre = transform.map(marker.xy)
        painter.setPen(QPen(QColor(0, 0, 0, 200), 3.0))
        painter.drawEllipse(centre, 7.0, 7.0)
        painter.setPen(QPen(marker.color, 2.0))
        painter.drawEllipse(centre, 7.0, 7.0)
        painter.drawLine(QLineF(centre.x() - 11, centre.y(), centre.x() - 4, centre.y()))
        painter.drawLine(QLineF(centre.x() + 4, centre.y(), centre.x() + 11, centre.y()))
        painter.drawLine(QLineF(centre.x(), centre.y() - 11, centre.x(), centre.y() - 4))
        painter.drawLine(QLineF(centre.x(), centre.y() + 4, centre.x(), centre.y() + 11))
        label_rect = QRectF(centre.x() + 8, centre.y() - 22, 28, 16)
        painter.fillRect(label_rect, QColor(0, 0, 0, 160))
        painter.setPen(marker.color)
        painter.drawText(label_rect, Qt.AlignmentFlag.AlignCenter, marker.label or str(index + 1))
        painter.restore()

    def _paint_grid(
        self, painter: QPainter, layer: Layer, transform: QTransform, clip: QRectF
    ) -> None:
        px_per_mm = float(layer.px_per_mm or 0.0)
        s = self.zoom()
        step_mm = next(
            (m for m in (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0) if m * px_per_mm * s >= 22.0), 100.0
        )
        major_every = 10.0 if step_mm < 5 else 5.0
        inverse, _ok = transform.inverted()
        frame_rect = QRectF(0, 0, layer.pyramid.width, layer.pyramid.height)
        area = inverse.mapRect(clip).intersected(frame_rect)
        if area.isEmpty():
            return
        step_px = step_mm * px_per_mm
        minor = QPen(QColor(255, 255, 255, 60), 1.0)
        major = QPen(QColor(255, 255, 255, 120), 1.0)
        first_x = math.ceil(area.left() / step_px)
        last_x = math.floor(area.right() / step_px)
        first_y = math.ceil(area.top() / step_px)
        last_y = math.floor(area.bottom() / step_px)
        top_w = transform.map(QPointF(0, max(0.0, area.top()))).y()
        bottom_w = transform.map(QPointF(0, area.bottom())).y()
        left_w = transform.map(QPointF(area.left(), 0)).x()
        right_w = transform.map(QPointF(area.right(), 0)).x()
        for i in range(first_x, last_x + 1):
            x = transform.map(QPointF(i * step_px, 0)).x()
            painter.setPen(major if (i * step_mm) % (major_every * step_mm) == 0 else minor)
            painter.drawLine(QLineF(x, top_w, x, bottom_w))
        for j in range(first_y, last_y + 1):
            y = transform.map(QPointF(0, j * step_px)).y()
            painter.setPen(major if (j * step_mm) % (major_every * step_mm) == 0 else minor)
            painter.drawLine(QLineF(left_w, y, right_w, y))

    def _paint_sketch(self, painter: QPainter, transform: QTransform) -> None:
        if not self._sketch:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        points = [transform.map(p) for p in self._sketch]
        if self._dragging == "vertex":
            points.append(points[0])  # an existing ROI being reshaped stays closed
        elif self._hover is not None and self._dragging != "freehand":
            points.append(transform.map(self._hover))
        color = ROI_COLOR if self.tool == "roi" else QColor("#38BDF8")
        outline = QPen(QColor(0, 0, 0, 160), 3.5)
        painter.setPen(outline)
        painter.drawPolyline(QPolygonF(points))
        pen = QPen(
            color, 1.8, Qt.PenStyle.DashLine if self.tool == "roi" else Qt.PenStyle.SolidLine
        )
        painter.setPen(pen)
        painter.drawPolyline(QPolygonF(points))
        painter.setBrush(QBrush(color))
        for p in points[: len(self._sketch)] if self._dragging != "freehand" else points[:1]:
            painter.drawEllipse(p, 3.0, 3.0)
        painter.restore()

    def _paint_wipe_handle(self, painter: QPainter) -> None:
        x = self.wipe_x()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(QColor(0, 0, 0, 120), 3.0))
        painter.drawLine(QLineF(x, 0, x, self.height()))
        painter.setPen(QPen(QColor("#FFFFFF"), 1.5))
        painter.drawLine(QLineF(x, 0, x, self.height()))
        centre = QPointF(x, self.height() / 2.0)
        painter.setBrush(QColor("#FFFFFF"))
        painter.setPen(QPen(QColor(0, 0, 0, 140), 1.0))
        painter.drawEllipse(centre, 13.0, 13.0)
        painter.setBrush(QColor("#1F2A37"))
        painter.setPen(Qt.PenStyle.NoPen)
        for sign in (-1.0, 1.0):
            tip = QPointF(x + sign * 9.0, centre.y())
            painter.drawPolygon(
                QPolygonF(
                    [
                        tip,
                        QPointF(x + sign * 3.0, centre.y() - 5.0),
                        QPointF(x + sign * 3.0, centre.y() + 5.0),
                    ]
                )
            )
        painter.restore()

    def _caption_box(self, painter: QPainter, text: str, right: bool) -> None:
        if not text:
            return
        metrics = painter.fontMetrics()
        width = metrics.horizontalAdvance(text) + 16
        height = metrics.height() + 8
        x = self.width() - width - 10 if right else 10
        box = QRectF(x, 10, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor("#FFFFFF"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_captions(self, painter: QPainter, mode: str) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        base, top = self.base, self.top
        assert base is not None
        if mode == "wipe" and top is not None:
            self._caption_box(painter, base.caption, False)
            self._caption_box(painter, top.caption, True)
        elif mode == "blend" and top is not None:
            pct = round(self.opacity * 100)
            self._caption_box(painter, f"{base.caption}  ◐  {top.caption} at {pct} %", False)
        elif mode == "flicker" and top is not None:
            self._caption_box(painter, top.caption if self.flicker_top else base.caption, False)
        else:
            self._caption_box(painter, base.caption, False)
        painter.restore()

    def _paint_scale_bar(self, painter: QPainter, layer: Layer) -> None:
        px_per_mm = layer.px_per_mm
        if not px_per_mm:
            return
        s = self.zoom()
        mm = next((m for m in (0.5, 1, 2, 5, 10, 20, 50, 100) if m * px_per_mm * s >= 60.0), None)
        if mm is None:
            return
        length = mm * px_per_mm * s
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        x0, y0 = 16.0, self.height() - 18.0
        text = f"{mm:g} mm"
        metrics = painter.fontMetrics()
        box = QRectF(
            x0 - 6,
            y0 - metrics.height() - 10,
            max(length, metrics.horizontalAdvance(text)) + 12,
            metrics.height() + 18,
        )
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 140))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QPen(QColor("#FFFFFF"), 2.0))
        painter.drawLine(QLineF(x0, y0, x0 + length, y0))
        painter.drawLine(QLineF(x0, y0 - 4, x0, y0 + 3))
        painter.drawLine(QLineF(x0 + length, y0 - 4, x0 + length, y0 + 3))
        painter.drawText(
            QRectF(x0, y0 - metrics.height() - 6, length, metrics.height()),
            Qt.AlignmentFlag.AlignLeft,
            text,
        )
        painter.restore()

    # ----------------------------------------------------------------- input

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        delta = event.angleDelta().y()
        if delta == 0 or self.base is None:
            event.ignore()
            return
        self.zoom_by(ZOOM_STEP ** (delta / 120.0), event.position())
        event.accept()

    def _grab_roi_vertex(self, pos: QPointF) -> bool:
        """Start moving the ROI corner under ``pos`` (tool "roi"); True if there is one."""
        role = self.role_at(pos)
        layer = self._layer(role)
        if layer is None or layer.roi is None or not self.show_roi:
            return False
        corners = [layer.roi.at(i) for i in range(layer.roi.size())]
        for index, corner in enumerate(corners):
            if QLineF(self.to_widget(corner), pos).length() <= _VERTEX_GRAB_PX:
                # The edited polygon is drawn as a sketch until the button is released.
                self._sketch = [QPointF(c) for c in corners]
                self._sketch_role = role
                self._vertex = (role, index)
                return True
        return False

    def _near_wipe(self, pos: QPointF) -> bool:
        return (
            self.composite == "wipe"
            and self.top is not None
            and abs(pos.x() - self.wipe_x()) <= _WIPE_GRAB_PX
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self.base is None:
            return
        pos = event.position()
        self._press = pos
        self._press_center = self.center()
        button = event.button()
        if button in (Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton):
            self._dragging = "pan"
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if button != Qt.MouseButton.LeftButton:
            return
        if self._near_wipe(pos):
            self._dragging = "wipe"
            return
        if self.tool == "navigate":
            self._dragging = "pan"
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self.tool == "roi" and not self._sketch and self._grab_roi_vertex(pos):
            self._dragging = "vertex"
        elif self.tool in ("roi", "add_scar"):
            role = self.role_at(pos)
            if self._sketch and role != self._sketch_role:
                role = self._sketch_role
            self._sketch_role = role
            self._sketch.append(self.to_frame(pos))
            self._dragging = "sketch"
            self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        pos = event.position()
        if self.base is not None:
            self._hover = self.to_frame(pos)
            self.cursor_moved.emit(self.role_at(pos), self._hover)
        if self._dragging == "wipe":
            self.set_wipe(pos.x() / max(1, self.width()))
            self.wipe_moved.emit(self.wipe)
            return
        if self._dragging == "vertex" and self._vertex is not None:
            index = self._vertex[1]
            self._sketch[index] = self.to_frame(pos)
            self.update()
            return
        if self._dragging == "pan" and self._press is not None and self._press_center is not None:
            s = self.zoom()
            d = pos - self._press
            self.view.zoom = s
            self.view.set_center(
                QPointF(self._press_center.x() - d.x() / s, self._press_center.y() - d.y() / s)
            )
            return
        if self._dragging in ("sketch", "freehand") and self._press is not None:
            if self._dragging == "sketch" and QLineF(self._press, pos).length() > _FREEHAND_PX:
                self._dragging = "freehand"
            if self._dragging == "freehand":
                last = self.to_widget(self._sketch[-1]) if self._sketch else self._press
                if QLineF(last, pos).length() >= 3.0:
                    self._sketch.append(self.to_frame(pos))
        if self._dragging == "" and self.tool == "navigate":
            self.setCursor(
                Qt.CursorShape.SplitHCursor
                if self._near_wipe(pos)
                else Qt.CursorShape.OpenHandCursor
            )
        if self._sketch or self.tool != "navigate":
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        pos = event.position()
        dragging = self._dragging
        press = self._press
        self._dragging = ""
        self._press = None
        if self.base is None:
            return
        if self.tool == "navigate":
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self.setCursor(Qt.CursorShape.CrossCursor)
        moved = press is not None and QLineF(press, pos).length() > _CLICK_SLOP_PX
        if dragging == "vertex":
            role = self._vertex[0] if self._vertex is not None else ""
            if self._vertex is not None and moved:
                self._sketch[self._vertex[1]] = self.to_frame(pos)
            points = [(p.x(), p.y()) for p in self._sketch]
            self._vertex = None
            self._sketch = []
            self.update()
            if moved:
                self.polygon_drawn.emit(role, points)
            return
        if dragging == "freehand":
            if len(self._sketch) >= 3:
                self.finish_sketch()
            return
        if event.button() != Qt.MouseButton.LeftButton or dragging == "wipe":
            return
        if moved and dragging == "pan":
            return
        role = self.role_at(pos)
        xy = self.to_frame(pos)
        if self.tool == "navigate":
            self._emit_scar_click(role, xy)
        elif self.tool == "calibrate":
            if self._sketch and role != self._sketch_role:
                self._sketch = []
            self._sketch_role = role
            self._sketch.append(xy)
            if len(self._sketch) == 2:
                p1, p2 = self._sketch
                self._sketch = []
                self.update()
                self.segment_drawn.emit(role, p1, p2)
            else:
                self.update()
        elif self.tool == "points":
            self.point_clicked.emit(role, xy)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self.tool in ("roi", "add_scar"):
            # The double-click's first press already added its vertex.
            self.finish_sketch()
            return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.finish_sketch():
            return
        if key == Qt.Key.Key_Backspace and self._sketch:
            self.undo_sketch_point()
            return
        if key == Qt.Key.Key_Escape and self.cancel_sketch():
            return
        super().keyPressEvent(event)

    def _emit_scar_click(self, role: str, xy: QPointF) -> None:
        layer = self._layer(role)
        hit = 0
        if layer is not None and self.show_outlines:
            tolerance = 4.0 / max(self.zoom(), 1e-6)
            best_area = math.inf
            for shape in layer.scars:
                if shape.removed:
                    continue
                box = shape.bounds.adjusted(-tolerance, -tolerance, tolerance, tolerance)
                if not box.contains(xy):
                    continue
                area = box.width() * box.height()
                inside = shape.path.contains(xy) or box.width() * self.zoom() < 12
                if inside and area < best_area:
                    best_area = area
                    hit = shape.scar_id
        self.set_selection(role, hit)
        self.scar_clicked.emit(role, hit)
