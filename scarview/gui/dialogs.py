"""Small dialogs: new patient, importing loose photos, calibration distance, shortcuts."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


class NewPatientDialog(QDialog):
    """Ask for a new patient's code (required), name, birth date, skin type and notes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New patient")
        form = QFormLayout()
        self.code = QLineEdit()
        self.code.setPlaceholderText("The clinic's patient code, e.g. P-0042")
        self.name = QLineEdit()
        self.name.setPlaceholderText("Optional")
        self.has_birth = QCheckBox("Known")
        self.birth = QDateEdit()
        self.birth.setCalendarPopup(True)
        self.birth.setDisplayFormat("yyyy-MM-dd")
        self.birth.setDate(QDate(1990, 1, 1))
        self.birth.setEnabled(False)
        self.has_birth.toggled.connect(self.birth.setEnabled)
        birth_row = QWidget()
        birth_layout = QVBoxLayout(birth_row)
        birth_layout.setContentsMargins(0, 0, 0, 0)
        birth_layout.addWidget(self.has_birth)
        birth_layout.addWidget(self.birth)
        self.skin = QComboBox()
        self.skin.addItem("Not recorded", None)
        for value, text in enumerate(("I", "II", "III", "IV", "V", "VI"), start=1):
            self.skin.addItem(f"Type {text}", value)
        self.notes = QPlainTextEdit()
        self.notes.setFixedHeight(70)
        form.addRow("Code *", self.code)
        form.addRow("Name", self.name)
        form.addRow("Birth date", birth_row)
        form.addRow("Fitzpatrick skin type", self.skin)
        form.addRow("Notes", self.notes)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Add patient")
        self.ok_button.setEnabled(False)
        self.code.textChanged.connect(lambda t: self.ok_button.setEnabled(bool(t.strip())))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def values(self) -> dict[str, object]:
        """Keyword arguments for :meth:`scarview.store.Library.add_patient` (plus ``code``)."""
        birth: date | None = None
        if self.has_birth.isChecked():
            q = self.birth.date()
            birth = date(q.year(), q.month(), q.day())
        return {
            "code": self.code.text().strip(),
            "name": self.name.text().strip() or None,
            "birth_date": birth,
            "fitzpatrick": self.skin.currentData(),
            "notes": self.notes.toPlainText().strip(),
        }


class ImportPhotosDialog(QDialog):
    """Ask which patient loose photos belong to, and their session."""

    def __init__(
        self,
        count: int,
        patients: list[tuple[str, str]],
        current_code: str | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import photos")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Import {count} photo{'s' if count != 1 else ''} into:"))
        form = QFormLayout()
        self.patient = QComboBox()
        self.patient.setEditable(True)
        self.patient.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for code, title in patients:
            self.patient.addItem(title, code)
        if current_code is not None:
            self.patient.setCurrentIndex(max(0, self.patient.findData(current_code)))
        self.patient.setToolTip("Choose a patient, or type a new patient code")
        self.by_exif = QCheckBox("Group into sessions by the photos' capture date")
        self.by_exif.setChecked(True)
        self.session_date = QDateEdit(QDate.currentDate())
        self.session_date.setCalendarPopup(True)
        self.session_date.setDisplayFormat("yyyy-MM-dd")
        self.session_date.setEnabled(False)
        self.by_exif.toggled.connect(lambda on: self.session_date.setEnabled(not on))
        form.addRow("Patient", self.patient)
        form.addRow("", self.by_exif)
        form.addRow("Session date", self.session_date)
        layout.addLayout(form)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def patient_code(self) -> str:
        """The chosen patient's code, or the new code typed."""
        text = self.patient.currentText().strip()
        index = self.patient.findText(text)
        if index >= 0 and self.patient.itemData(index) is not None:
            return str(self.patient.itemData(index))
        return text

    def chosen_date(self) -> date | None:
        """The session date, or None to group by capture date."""
        if self.by_exif.isChecked():
            return None
        q = self.session_date.date()
        return date(q.year(), q.month(), q.day())


class CalibrationDialog(QDialog):
    """Ask the true distance between two clicked points."""

    def __init__(
        self, distance_px: float, default_mm: float, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Calibrate")
        layout = QVBoxLayout(self)
        text = QLabel(
            f"The two points are {distance_px:.1f} px apart in the photo.\n"
            "How far apart are they on the skin?"
        )
        layout.addWidget(text)
        form = QFormLayout()
        self.distance = QDoubleSpinBox()
        self.distance.setDecimals(2)
        self.distance.setRange(0.1, 500.0)
        self.distance.setSuffix(" mm")
        self.distance.setValue(default_mm)
        form.addRow("Distance", self.distance)
        layout.addLayout(form)
        hint = QLabel(
            "Tip: two corners of the printed scale marker are its side apart "
            f"({default_mm:g} mm by default)."
        )
        hint.setProperty("role", "muted")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Set scale")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def distance_mm(self) -> float:
        """The distance typed, mm."""
        return float(self.distance.value())


class ShortcutsDialog(QDialog):
    """Every action with a shortcut, as a table."""

    def __init__(self, actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(460, 560)
        rows = []
        for action in actions:
            keys = ", ".join(
                s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()
            )
            if keys:
                rows.append((action.text().replace("&", "").rstrip("…").rstrip("."), keys))
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Action", "Shortcut"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, (text, keys) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(text))
            item = QTableWidgetItem(keys)
            item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, 1, item)
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
