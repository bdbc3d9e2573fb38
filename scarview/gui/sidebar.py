"""The left of the window: patients (search, new patient) and the chosen patient's sessions.

The session timeline lists the sessions earliest first with a thumbnail, the
date, the weeks since baseline and the session's numbers; chips mark the two
sessions being compared. Clicking a session compares it with the baseline (or
the chosen BEFORE session); the context menu picks either side.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QFont, QImage, QKeySequence, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from scarview.gui.theme import Colors

ID_ROLE = Qt.ItemDataRole.UserRole
SUBTITLE_ROLE = Qt.ItemDataRole.UserRole + 1
CHIPS_ROLE = Qt.ItemDataRole.UserRole + 2
WARN_ROLE = Qt.ItemDataRole.UserRole + 3
THUMB_ROLE = Qt.ItemDataRole.UserRole + 4
DETAIL_ROLE = Qt.ItemDataRole.UserRole + 5

THUMB_SIZE = QSize(80, 60)


class TwoLineDelegate(QStyledItemDelegate):
    """Draws an item as a bold title over a muted subtitle, with an optional thumbnail and chips."""

    def __init__(self, parent: QWidget | None = None, *, thumbnails: bool = False) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.colors: Colors | None = None

    def sizeHint(  # noqa: N802 - Qt override
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        metrics = option.fontMetrics
        lines = 3 if self.thumbnails else 2
        text_height = metrics.height() * lines + 12
        height = max(text_height, THUMB_SIZE.height() + 10) if self.thumbnails else text_height
        return QSize(200, height)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        painter.save()
        rect: QRect = option.rect
        palette: QPalette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Highlight))
        elif option.state & QStyle.StateFlag.State_MouseOver:
            hover = QColor(palette.color(QPalette.ColorRole.Highlight))
            hover.setAlpha(30)
            painter.fillRect(rect, hover)
        text_color = palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        muted = QColor(text_color)
        muted.setAlpha(175)
        x = rect.left() + 8
        if self.thumbnails:
            thumb_rect = QRect(
                x,
                rect.top() + (rect.height() - THUMB_SIZE.height()) // 2,
                THUMB_SIZE.width(),
                THUMB_SIZE.height(),
            )
            pixmap = index.data(THUMB_ROLE)
            if isinstance(pixmap, QPixmap) and not pixmap.isNull():
                size = pixmap.deviceIndependentSize().toSize()
                size.scale(THUMB_SIZE, Qt.AspectRatioMode.KeepAspectRatio)
                target = QRect(0, 0, size.width(), size.height())
                target.moveCenter(thumb_rect.center())
                painter.drawPixmap(target, pixmap)
            else:
                painter.fillRect(thumb_rect, palette.color(QPalette.ColorRole.Mid))
            x = thumb_rect.right() + 10
        title = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        subtitle = str(index.data(SUBTITLE_ROLE) or "")
        detail = str(index.data(DETAIL_ROLE) or "")
        chips = [c for c in str(index.data(CHIPS_ROLE) or "").split("|") if c]
        warn = bool(index.data(WARN_ROLE))
        font = QFont(option.font)
        bold = QFont(font)
        bold.setWeight(QFont.Weight.DemiBold)
        metrics = option.fontMetrics
        line = metrics.height()
        lines = 3 if detail else 2
        top = rect.top() + (rect.height() - lines * line - 2 * (lines - 1)) // 2
        painter.setFont(bold)
        painter.setPen(text_color)
        title_rect = QRect(x, top, rect.right() - x - 6, line)
        painter.drawText(
            title_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title
        )
        # Chips after the title.
        chip_x = x + painter.fontMetrics().horizontalAdvance(title) + 8
        small = QFont(font)
        small.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        small.setWeight(QFont.Weight.DemiBold)
        painter.setFont(small)
        for chip in chips:
            width = painter.fontMetrics().horizontalAdvance(chip) + 10
            if chip_x + width > rect.right() - 4:
                break
            chip_rect = QRect(chip_x, top + 1, width, line - 2)
            accent = QColor(self.colors.accent if self.colors else "#2463EB")
            if selected:
                accent = QColor("#FFFFFF")
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(accent)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.drawRoundedRect(chip_rect, 4, 4)
            painter.setPen(QColor("#1F2A37") if selected else QColor("#FFFFFF"))
            painter.drawText(chip_rect, Qt.AlignmentFlag.AlignCenter, chip)
            chip_x += width + 4
        painter.setFont(font)
        color = muted
        if warn and not selected and self.colors is not None:
            color = QColor(self.colors.warn)
        painter.setPen(color)
        for number, text in enumerate((subtitle, detail), start=1):
            if not text:
                continue
            sub_rect = QRect(x, top + number * (line + 2), rect.right() - x - 6, line)
            elided = painter.fontMetrics().elidedText(
                text, Qt.TextElideMode.ElideRight, sub_rect.width()
            )
            painter.drawText(
                sub_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, elided
            )
        painter.restore()


def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "section")
    return label


class PatientPanel(QWidget):
    """Patient search and list, and the chosen patient's session timeline.

    Signals
    -------
    search_changed(str)
    patient_selected(int)
    new_patient_requested()
    session_clicked(int)
        A session to compare (as AFTER, or as BEFORE when it is earlier than the
        current BEFORE... the window decides).
    before_requested(int), after_requested(int)
        From the context menu.
    record_requested(int)
        Open a session's clinical record (context menu).
    """

    search_changed = Signal(str)
    patient_selected = Signal(int)
    new_patient_requested = Signal()
    session_clicked = Signal(int)
    before_requested = Signal(int)
    after_requested = Signal(int)
    record_requested = Signal(int)

    def __init__(self, colors: Colors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colors = colors
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)

        header = QHBoxLayout()
        header.addWidget(_section("Patients"))
        header.addStretch(1)
        self.new_button = QToolButton()
        self.new_button.setAutoRaise(True)
        self.new_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        header.addWidget(self.new_button)
        layout.addLayout(header)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search by name or code")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.search_changed)
        self.search_action = QAction("Find patient", self)
        self.search_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Find))
        self.search_action.triggered.connect(self._on_find_triggered)
        self.addAction(self.search_action)
        layout.addWidget(self.search)

        self.patients = QListWidget()
        self.patients.setItemDelegate(TwoLineDelegate(self.patients))
        self.patients.setUniformItemSizes(True)
        self.patients.setMouseTracking(True)
        self.patients.currentItemChanged.connect(self._on_patients_current_changed)
        self.patients.setMinimumHeight(90)
        layout.addWidget(self.patients, 2)

        self.sessions_header = _section("Sessions")
        layout.addWidget(self.sessions_header)
        self.sessions = QListWidget()
        self.session_delegate = TwoLineDelegate(self.sessions, thumbnails=True)
        self.session_delegate.colors = colors
        self.sessions.setItemDelegate(self.session_delegate)
        self.sessions.setMouseTracking(True)
        self.sessions.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.sessions.customContextMenuRequested.connect(self._on_sessions_menu_requested)
        self.sessions.itemClicked.connect(self._on_sessions_item_clicked)
        self.sessions.itemActivated.connect(self._on_sessions_item_clicked)
        layout.addWidget(self.sessions, 5)
        self.empty_hint = QLabel(
            "No photos yet. Drop photos or a folder on the window, or use File › Import."
        )
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setProperty("role", "muted")
        self.empty_hint.hide()
        layout.addWidget(self.empty_hint)

    def apply_colors(self, colors: Colors) -> None:
        """Restyle for a theme."""
        self.colors = colors
        self.session_delegate.colors = colors
        self.sessions.viewport().update()

    # ---------------------------------------------------------------- patients

    def set_patients(self, rows: list[tuple[int, str, str]], current: int | None) -> None:
        """Fill the patient list with ``(id, title, subtitle)`` rows and select ``current``."""
        self.patients.blockSignals(True)
        self.patients.clear()
        for patient_id, title, subtitle in rows:
            item = QListWidgetItem(title)
            item.setData(ID_ROLE, patient_id)
            item.setData(SUBTITLE_ROLE, subtitle)
            item.setToolTip(f"{title}\n{subtitle}")
            self.patients.addItem(item)
            if patient_id == current:
                self.patients.setCurrentItem(item)
        self.patients.blockSignals(False)

    def current_patient_id(self) -> int | None:
        """The selected patient."""
        item = self.patients.currentItem()
        return None if item is None else int(item.data(ID_ROLE))

    def select_patient(self, patient_id: int) -> None:
        """Select a patient in the list (emits ``patient_selected`` when it changes)."""
        for row in range(self.patients.count()):
            item = self.patients.item(row)
            if int(item.data(ID_ROLE)) == patient_id:
                self.patients.setCurrentItem(item)
                return

    # ---------------------------------------------------------------- sessions

    def set_sessions(self, rows: list[dict[str, object]]) -> None:
        """Fill the timeline.

        Parameters
        ----------
        rows : list of dict
            Keys ``id``, ``title``, ``subtitle``, ``chips`` (list of str),
            ``warn`` (bool), ``tooltip``.
        """
        thumbs = {
            int(self.sessions.item(i).data(ID_ROLE)): self.sessions.item(i).data(THUMB_ROLE)
            for i in range(self.sessions.count())
        }
        current = self.sessions.currentItem()
        current_id = None if current is None else int(current.data(ID_ROLE))
        self.sessions.blockSignals(True)
        self.sessions.clear()
        for row in rows:
            session_id = int(str(row["id"]))
            item = QListWidgetItem(str(row["title"]))
            item.setData(ID_ROLE, session_id)
            item.setData(SUBTITLE_ROLE, row.get("subtitle", ""))
            item.setData(DETAIL_ROLE, row.get("detail", ""))
            chips = row.get("chips", [])
            item.setData(
                CHIPS_ROLE, "|".join(str(c) for c in chips) if isinstance(chips, list) else ""
            )
            item.setData(WARN_ROLE, bool(row.get("warn", False)))
            item.setToolTip(str(row.get("tooltip", "")))
            if thumbs.get(session_id) is not None:
                item.setData(THUMB_ROLE, thumbs[session_id])
            self.sessions.addItem(item)
            if session_id == current_id:
                self.sessions.setCurrentItem(item)
        self.sessions.blockSignals(False)
        self.empty_hint.setVisible(not rows)
        self.sessions_header.setText(f"Sessions ({len(rows)})" if rows else "Sessions")

    def set_thumbnail(self, session_id: int, image: QImage) -> None:
        """Show a session's thumbnail (an image at twice the thumbnail size)."""
        if image.isNull():
            return
        pixmap = QPixmap.fromImage(image)
        ratio = max(image.width() / THUMB_SIZE.width(), image.height() / THUMB_SIZE.height(), 1.0)
        pixmap.setDevicePixelRatio(ratio)
        for row in range(self.sessions.count()):
            item = self.sessions.item(row)
            if int(item.data(ID_ROLE)) == session_id:
                item.setData(THUMB_ROLE, pixmap)

    def has_thumbnail(self, session_id: int) -> bool:
        """True when the timeline already shows this session's thumbnail."""
        for row in range(self.sessions.count()):
            item = self.sessions.item(row)
            if int(item.data(ID_ROLE)) == session_id:
                return item.data(THUMB_ROLE) is not None
        return False

    def clear_thumbnails(self) -> None:
        """Forget every thumbnail (another patient)."""
        for row in range(self.sessions.count()):
            self.sessions.item(row).setData(THUMB_ROLE, None)

    def select_session(self, session_id: int | None) -> None:
        """Highlight a session without emitting."""
        self.sessions.blockSignals(True)
        self.sessions.setCurrentRow(-1)
        for row in range(self.sessions.count()):
            item = self.sessions.item(row)
            if session_id is not None and int(item.data(ID_ROLE)) == session_id:
                self.sessions.setCurrentItem(item)
        self.sessions.blockSignals(False)

    # ------------------------------------------------------------------- slots

    def _on_find_triggered(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def _on_patients_current_changed(self, current: QListWidgetItem | None, _prev: object) -> None:
        if current is not None:
            self.patient_selected.emit(int(current.data(ID_ROLE)))

    def _on_sessions_item_clicked(self, item: QListWidgetItem) -> None:
        self.session_clicked.emit(int(item.data(ID_ROLE)))

    def _on_sessions_menu_requested(self, pos: QPoint) -> None:
        item = self.sessions.itemAt(pos)
        if item is None:
            return
        session_id = int(item.data(ID_ROLE))
        menu = QMenu(self)
        menu.addAction("Compare as before (left)", lambda: self.before_requested.emit(session_id))
        menu.addAction("Compare as after (right)", lambda: self.after_requested.emit(session_id))
        menu.addSeparator()
        menu.addAction(
            "Clinical record and grades…", lambda: self.record_requested.emit(session_id)
        )
        menu.exec(self.sessions.viewport().mapToGlobal(pos))
