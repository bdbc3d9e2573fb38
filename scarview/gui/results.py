"""The right of the window: the trend chart, the table of numbers and the corrections.

The chart is drawn off the GUI thread (see :mod:`scarview.gui.chart`): the
:class:`ChartView` asks for a rendering of its size through a signal and shows
the image it is given, scaled meanwhile. The table shows the same numbers as
the chart; a session that could not be aligned shows no change and says why
in its tooltip. The corrections list shows every correction a clinician made
on this patient, each one revertible (and undoable).
"""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from scarview.gui.loading import TrendRow, format_date
from scarview.gui.theme import Colors

MINUS = "−"


def _signed(value: float, decimals: int, unit: str = "") -> str:
    text = f"{value:+.{decimals}f}{unit}"
    return text.replace("-", MINUS)


class ChartView(QWidget):
    """Shows the trend chart image; asks for a new one when its size changes.

    Signals
    -------
    render_requested(QSize, float)
        Logical size and device pixel ratio wanted.
    """

    render_requested = Signal(QSize, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = QImage()
        self.placeholder = "No measurements yet."
        self.setMinimumHeight(200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(120)
        self._debounce.timeout.connect(self.request_render)

    def set_image(self, image: QImage) -> None:
        """Show a rendered chart (its device pixel ratio set)."""
        self.image = image
        self.update()

    def clear(self, placeholder: str) -> None:
        """Show a message instead of a chart."""
        self.image = QImage()
        self.placeholder = placeholder
        self.update()

    def request_render(self) -> None:
        """Ask for a chart of the current size."""
        if self.width() > 20 and self.height() > 20:
            self.render_requested.emit(self.size(), float(self.devicePixelRatioF() or 1.0))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._debounce.start()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        if self.image.isNull():
            painter.setPen(self.palette().color(self.foregroundRole()))
            painter.drawText(
                self.rect().adjusted(12, 12, -12, -12),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self.placeholder,
            )
        else:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            size = self.image.deviceIndependentSize().toSize()
            if size == self.size():
                painter.drawImage(0, 0, self.image)
            else:
                size.scale(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
                target = QRect(0, 0, size.width(), size.height())
                target.moveCenter(self.rect().center())
                painter.drawImage(target, self.image)
        painter.end()


COLUMNS = (
    ("Session", "Session date (✎: corrected by hand)"),
    ("Scars", "Number of pitted scars in the region of interest"),
    ("Area mm²", "Total pitted-scar area, mm²"),
    ("Change", "Change of the total area from the baseline, mm² (percent)"),
    ("Alignment", "Residual misalignment onto the baseline photo"),
    ("Ice pick", "Ice-pick scar area, mm²"),
    ("Boxcar", "Boxcar scar area, mm²"),
    ("Rolling", "Rolling scar area, mm²"),
)


class TrendTableModel(QAbstractTableModel):
    """The results table: one row per session (see :class:`~scarview.gui.loading.TrendRow`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[TrendRow] = []
        self.colors: Colors | None = None

    def set_rows(self, rows: list[TrendRow]) -> None:
        """Replace the rows."""
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802 - Qt override
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][1]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(
                (Qt.AlignmentFlag.AlignLeft if section == 0 else Qt.AlignmentFlag.AlignRight)
                | Qt.AlignmentFlag.AlignVCenter
            )
        return None

    def text(self, row: TrendRow, column: int) -> str:
        """The cell text (also used by tests)."""
        if column == 0:
            title = format_date(row.session.session_date, row.session.label)
            return title + (f"  ✎{row.corrections}" if row.corrections else "")
        if row.photo_id is None:
            return "no photo" if column == 1 else ""
        if not row.analysed:
            return "analysing…" if column == 1 else ""
        if column == 1:
            return str(row.count)
        if column == 2:
            return "no scale" if row.area_mm2 is None else f"{row.area_mm2:.1f}"
        if column == 3:
            if row.is_baseline:
                return "baseline"
            if row.aligned is False:
                return "not aligned"
            if row.aligned is None:
                return "aligning…"
            if row.change_mm2 is None:
                return "—"
            pct = "" if row.change_pct is None else f" ({_signed(row.change_pct, 0, ' %')})"
            return _signed(row.change_mm2, 1) + pct
        if column == 4:
            return "—" if row.is_baseline else row.alignment_text or "…"
        if 5 <= column <= 7:
            scar_type = ("icepick", "boxcar", "rolling")[column - 5]
            count, area = row.by_type.get(scar_type, (0, None))
            return f"{count}" if area is None else f"{area:.1f}"
        return ""

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(
                (Qt.AlignmentFlag.AlignLeft if column == 0 else Qt.AlignmentFlag.AlignRight)
                | Qt.AlignmentFlag.AlignVCenter
            )
        if role == Qt.ItemDataRole.ForegroundRole and self.colors is not None:
            if column == 3 and row.aligned is False:
                return QColor(self.colors.bad)
            if column == 3 and row.change_mm2 is not None:
                return QColor(self.colors.good if row.change_mm2 < 0 else self.colors.bad)
            if column == 4 and row.aligned is False:
                return QColor(self.colors.bad)
            if (column == 3 and row.is_baseline) or (not row.analysed and column == 1):
                return QColor(self.colors.muted)
        if role == Qt.ItemDataRole.ToolTipRole:
            if row.aligned is False and column in (3, 4):
                return (
                    f"Not aligned onto the baseline: {row.alignment_reason or 'unknown reason'} "
                    "No change is reported for this session."
                )
            if column == 0 and row.corrections:
                return f"{row.corrections} correction(s) by hand on this photo"
            if column == 2 and row.area_mm2 is not None:
                return f"{row.area_mm2:.2f} mm² (scale: {row.calibration_method})"
        return None


class ResultsPanel(QWidget):
    """Chart, table and corrections of the chosen patient (one view).

    Signals
    -------
    session_activated(int)
        A table row was double-clicked (the session id).
    revert_requested(int)
        The user asked to revert a correction (its id).
    """

    session_activated = Signal(int)
    revert_requested = Signal(int)

    def __init__(self, colors: Colors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colors = colors
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)

        head = QHBoxLayout()
        title = QLabel("Results")
        title.setProperty("role", "section")
        head.addWidget(title)
        head.addStretch(1)
        self.csv_button = QToolButton()
        self.pdf_button = QToolButton()
        for button in (self.csv_button, self.pdf_button):
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setAutoRaise(True)
            head.addWidget(button)
        layout.addLayout(head)

        self.headline = QLabel()
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setWordWrap(True)
        layout.addWidget(self.headline)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        self.chart = ChartView()
        splitter.addWidget(self.chart)

        self.tabs = QTabWidget()
        self.model = TrendTableModel(self)
        self.model.colors = colors
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        self.tabs.addTab(self.table, "Numbers")

        corrections = QWidget()
        c_layout = QVBoxLayout(corrections)
        c_layout.setContentsMargins(0, 4, 0, 0)
        self.corrections = QListWidget()
        self.corrections.setAlternatingRowColors(True)
        self.corrections.itemSelectionChanged.connect(self._on_corrections_selection_changed)
        c_layout.addWidget(self.corrections)
        row = QHBoxLayout()
        self.corrections_hint = QLabel("Corrections are kept in the library with the photo.")
        self.corrections_hint.setProperty("role", "muted")
        self.corrections_hint.setWordWrap(True)
        row.addWidget(self.corrections_hint, 1)
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip(
            "Undo this correction (it stays in the library, marked undone)"
        )
        self.revert_button.setEnabled(False)
        self.revert_button.clicked.connect(self._on_revert_clicked)
        row.addWidget(self.revert_button)
        c_layout.addLayout(row)
        self.tabs.addTab(corrections, "Corrections")
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.splitter = splitter
        layout.addWidget(splitter, 1)

    def apply_colors(self, colors: Colors) -> None:
        """Restyle for a theme (the chart is re-rendered by the window)."""
        self.colors = colors
        self.model.colors = colors
        self.table.viewport().update()

    def set_rows(self, rows: list[TrendRow]) -> None:
        """Show one view's numbers."""
        self.model.set_rows(rows)
        self._update_headline(rows)

    def _update_headline(self, rows: list[TrendRow]) -> None:
        measured = [r for r in rows if r.analysed]
        if not rows:
            self.headline.setText("")
            return
        if not measured:
            self.headline.setText(
                f"<span style='color:{self.colors.muted}'>Measuring the photos…</span>"
            )
            return
        latest = measured[-1]
        base = rows[0]
        if latest is base or len(measured) == 1:
            area = "no scale" if base.area_mm2 is None else f"{base.area_mm2:.1f} mm²"
            self.headline.setText(f"Baseline: <b>{area}</b> of pitted scars, {base.count} scars.")
            return
        when = format_date(latest.session.session_date, latest.session.label)
        if latest.aligned is False:
            self.headline.setText(
                f"<span style='color:{self.colors.bad}'>Latest session ({when}) could not be "
                "aligned: no change is reported.</span>"
            )
            return
        if latest.change_pct is None or latest.change_mm2 is None:
            self.headline.setText(f"Latest session ({when}): change not available yet.")
            return
        color = self.colors.good if latest.change_pct < 0 else self.colors.bad
        self.headline.setText(
            f"<span style='font-size:15pt; font-weight:600; color:{color}'>"
            f"{_signed(latest.change_pct, 0, ' %')}</span>"
            f"&nbsp; pitted-scar area since baseline "
            f"({_signed(latest.change_mm2, 1, ' mm²')}, {latest.count} scars, {when})"
        )

    def set_corrections(self, rows: list[tuple[int, str, str]]) -> None:
        """Show ``(correction id, text, tooltip)`` rows, newest first."""
        self.corrections.clear()
        for correction_id, text, tooltip in rows:
            item = QListWidgetItem("✎  " + text)
            item.setData(Qt.ItemDataRole.UserRole, correction_id)
            item.setToolTip(tooltip)
            self.corrections.addItem(item)
        self.tabs.setTabText(1, f"Corrections ({len(rows)})" if rows else "Corrections")
        self.revert_button.setEnabled(False)

    def _on_table_double_clicked(self, index: QModelIndex) -> None:
        if 0 <= index.row() < len(self.model.rows):
            self.session_activated.emit(self.model.rows[index.row()].session.id)

    def _on_corrections_selection_changed(self) -> None:
        self.revert_button.setEnabled(self.corrections.currentItem() is not None)

    def _on_revert_clicked(self) -> None:
        item = self.corrections.currentItem()
        if item is not None:
            self.revert_requested.emit(int(item.data(Qt.ItemDataRole.UserRole)))
