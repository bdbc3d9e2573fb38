"""The session's clinical record: a treatment and grading dialog, and a score-trend chart.

:class:`SessionRecordDialog` edits one session's treatment record and clinical
grades (Goodman and Baron qualitative and quantitative, ECCA, a
patient-reported outcome). The calculators update their scores as the
clinician types; every field is checked as it changes, problems are listed in
one sentence each under the form, and *Save* stays disabled until the form is
valid. *Use suggestion* fills the calculators from the session's measured
photo; those values are marked "suggested" until the clinician edits them or
accepts them as reviewed.

:class:`ScoreTrendWidget` plots one clinical score per session date, with the
measured pitted-scar area beside it as bars on a second axis.

Both read and write the library on the GUI thread: each call is one small
SQLite query or transaction (milliseconds). The scores come from
:mod:`scarview.core.grading`; this module only collects input and shows results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial

import matplotlib.dates as mdates
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from scarview.core.grading import (
    CLINICAL_SCORES,
    ECCA_EXTENTS,
    ECCA_ITEMS,
    ECCA_MAX,
    GB_KELOID_LABEL,
    GB_QUALITATIVE_GRADES,
    GB_QUANTITATIVE_ITEMS,
    GB_QUANTITATIVE_MAX,
    KNOWN_PRO_INSTRUMENTS,
    NEEDLE_DEPTH_MAX_MM,
    NEEDLE_DEPTH_MIN_MM,
    PASSES_MAX,
    PASSES_MIN,
    PROCEDURE_LABELS,
    PROCEDURES,
    EccaInput,
    GoodmanBaronInput,
    PatientReportedOutcome,
    SessionGrades,
    TreatmentRecord,
    count_multiplier,
    ecca,
    goodman_baron_quantitative,
    keloid_points,
    score_scale,
)
from scarview.gui import theme
from scarview.gui.qimage import array_to_qimage
from scarview.gui.workers import TaskRunner
from scarview.store import Library
from scarview.store.clinical import (
    GradeTrendPoint,
    grade_trend,
    grades_of,
    save_grades,
    save_treatment,
    suggestion_for_session,
    treatment_of,
)

#: Anaesthesia choices offered (the field also takes free text).
ANAESTHESIA_CHOICES: tuple[str, ...] = (
    "",
    "None",
    "Topical anaesthetic cream",
    "Local infiltration",
    "Nerve block",
)

_NOT_GRADED = "Not graded"
_NOT_RATED = "–"
_DIALOG_STYLE = """
QLineEdit[invalid="true"], QComboBox[invalid="true"] { border: 1px solid %(bad)s; }
QLineEdit[suggested="true"], QComboBox[suggested="true"] { font-style: italic; }
QLabel[role="error"] { color: %(bad)s; }
QLabel[role="suggested"] { color: %(warn)s; font-style: italic; }
"""


def _colors(widget: QWidget) -> theme.Colors:
    """The theme colours matching the widget's palette (dark or light)."""
    return theme.DARK if widget.palette().window().color().lightness() < 128 else theme.LIGHT


def _set_flag(widget: QWidget, name: str, value: bool) -> None:
    """Set a boolean dynamic property used by the stylesheet and re-polish the widget."""
    if bool(widget.property(name)) == value:
        return
    widget.setProperty(name, value)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)


def _fmt(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------- the dialog


@dataclass
class _Problems:
    """Validation messages collected while reading the form, by field."""

    messages: list[str]
    fields: set[QWidget]

    def add(self, widget: QWidget | None, message: str) -> None:
        if message not in self.messages:
            self.messages.append(message)
        if widget is not None:
            self.fields.add(widget)


class SessionRecordDialog(QDialog):
    """Edit one session's treatment record and clinical grades.

    Parameters
    ----------
    library : Library
        The open patient library (read and written on the GUI thread).
    session_id : int
        A session not in the trash.
    parent : QWidget, optional

    Signals
    -------
    record_saved(int)
        Emitted with the session's id after *Save* wrote something.
    """

    record_saved = Signal(int)

    def __init__(self, library: Library, session_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.session_id = int(session_id)
        self.session = library.get_session(self.session_id)
        self.patient = library.get_patient(self.session.patient_id)
        self._stored_treatment = treatment_of(library, self.session_id)
        self._stored_grades = grades_of(library, self.session_id)
        self._filling = False
        self._suggested: dict[str, set[str]] = {"gb": set(), "ecca": set()}
        when = self.session.session_date.isoformat() if self.session.session_date else ""
        label = self.session.label
        title = label if not when or when == label else f"{label} ({when})"
        self.setWindowTitle(f"Clinical record — {self.patient.code}, session {title}")
        colors = _colors(self)
        self.setStyleSheet(_DIALOG_STYLE % {"bad": colors.bad, "warn": colors.warn})

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_treatment_tab(), "Treatment")
        self.tabs.addTab(self._build_grades_tab(), "Grades")

        self.error_label = QLabel()
        self.error_label.setObjectName("errors")
        self.error_label.setProperty("role", "error")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.hide()

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        save = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        assert save is not None
        self.save_button: QPushButton = save
        self.buttons.accepted.connect(self._on_save_clicked)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        self._fill_treatment(self._stored_treatment)
        self._fill_grades(self._stored_grades)
        self._revalidate()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        """A size that shows a calculator without scrolling sideways."""
        return QSize(760, 720)

    # ---------------------------------------------------------------- treatment

    def _build_treatment_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)

        grid = QGridLayout()
        self.procedure_checks: dict[str, QCheckBox] = {}
        for index, key in enumerate(PROCEDURES):
            box = QCheckBox(PROCEDURE_LABELS[key])
            box.toggled.connect(self._on_field_changed)
            self.procedure_checks[key] = box
            grid.addWidget(box, index // 2, index % 2)
        self.other_procedure_edit = QLineEdit()
        self.other_procedure_edit.setPlaceholderText("What the other procedure was")
        self.other_procedure_edit.setEnabled(False)
        self.other_procedure_edit.textChanged.connect(self._on_field_changed)
        self.procedure_checks["other"].toggled.connect(self.other_procedure_edit.setEnabled)
        grid.addWidget(self.other_procedure_edit, len(PROCEDURES) // 2, 0, 1, 2)
        form.addRow("Procedures", grid)

        def line(placeholder: str = "") -> QLineEdit:
            edit = QLineEdit()
            edit.setPlaceholderText(placeholder)
            edit.textChanged.connect(self._on_field_changed)
            return edit

        self.device_edit = line("Device, cartridge, needle configuration")
        form.addRow("Device", self.device_edit)
        self.needle_depth_edit = line(
            f"{_fmt(NEEDLE_DEPTH_MIN_MM)} – {_fmt(NEEDLE_DEPTH_MAX_MM)} mm"
        )
        form.addRow("Needle depth (mm)", self.needle_depth_edit)
        self.passes_edit = line(f"{PASSES_MIN} – {PASSES_MAX}")
        form.addRow("Passes", self.passes_edit)
        self.anaesthesia_combo = QComboBox()
        self.anaesthesia_combo.setEditable(True)
        self.anaesthesia_combo.addItems(ANAESTHESIA_CHOICES)
        self.anaesthesia_combo.currentTextChanged.connect(self._on_field_changed)
        form.addRow("Anaesthesia", self.anaesthesia_combo)
        self.clinician_edit = line("Who treated")
        form.addRow("Clinician", self.clinician_edit)
        self.reactions_edit = line("E.g. pinpoint bleeding, oedema")
        form.addRow("Immediate reactions", self.reactions_edit)

        adverse = QGroupBox("Adverse events")
        adverse_form = QFormLayout(adverse)
        self.erythema_days_edit = line("Days the redness lasted")
        adverse_form.addRow("Erythema (days)", self.erythema_days_edit)
        flags = QHBoxLayout()
        self.pih_check = QCheckBox("Post-inflammatory hyperpigmentation")
        self.infection_check = QCheckBox("Infection")
        self.tram_track_check = QCheckBox("Tram-track marks")
        for box in (self.pih_check, self.infection_check, self.tram_track_check):
            box.toggled.connect(self._on_field_changed)
            flags.addWidget(box)
        flags.addStretch(1)
        adverse_form.addRow(flags)
        self.other_adverse_edit = line()
        adverse_form.addRow("Other", self.other_adverse_edit)
        form.addRow(adverse)

        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setTabChangesFocus(True)
        self.notes_edit.setMinimumHeight(70)
        self.notes_edit.textChanged.connect(self._on_field_changed)
        form.addRow("Notes", self.notes_edit)
        return page

    def _fill_treatment(self, record: TreatmentRecord | None) -> None:
        self._filling = True
        try:
            chosen = set() if record is None else set(record.procedures)
            for key, box in self.procedure_checks.items():
                box.setChecked(key in chosen)
            if record is None:
                return
            self.other_procedure_edit.setText(record.other_procedure)
            self.device_edit.setText(record.device)
            depth = record.needle_depth_mm
            self.needle_depth_edit.setText("" if depth is None else _fmt(depth))
            self.passes_edit.setText("" if record.passes is None else str(record.passes))
            self.anaesthesia_combo.setCurrentText(record.anaesthesia)
            self.clinician_edit.setText(record.clinician)
            self.reactions_edit.setText(record.immediate_reactions)
            days = record.erythema_days
            self.erythema_days_edit.setText("" if days is None else str(days))
            self.pih_check.setChecked(record.pih)
            self.infection_check.setChecked(record.infection)
            self.tram_track_check.setChecked(record.tram_track)
            self.other_adverse_edit.setText(record.other_adverse_events)
            self.notes_edit.setPlainText(record.notes)
        finally:
            self._filling = False

    def _treatment_is_blank(self) -> bool:
        texts = (
            self.other_procedure_edit,
            self.device_edit,
            self.needle_depth_edit,
            self.passes_edit,
            self.clinician_edit,
            self.reactions_edit,
            self.erythema_days_edit,
            self.other_adverse_edit,
        )
        return (
            not any(box.isChecked() for box in self.procedure_checks.values())
            and not any(edit.text().strip() for edit in texts)
            and not self.anaesthesia_combo.currentText().strip()
            and not any(
                box.isChecked()
                for box in (self.pih_check, self.infection_check, self.tram_track_check)
            )
            and not self.notes_edit.toPlainText().strip()
        )

    def _read_treatment(self, problems: _Problems) -> TreatmentRecord | None:
        if self._treatment_is_blank():
            return None
        depth = _parse_number(self.needle_depth_edit, "The needle depth", problems, unit="mm")
        passes = _parse_number(self.passes_edit, "The number of passes", problems, whole=True)
        days = _parse_number(self.erythema_days_edit, "The days of erythema", problems, whole=True)
        # Each number on its own first, so every out-of-range field gets its own message.
        numbers: list[tuple[QWidget, Callable[[], TreatmentRecord]]] = [
            (self.needle_depth_edit, lambda: TreatmentRecord(needle_depth_mm=depth)),
            (self.passes_edit, lambda: TreatmentRecord(passes=_as_int(passes))),
            (self.erythema_days_edit, lambda: TreatmentRecord(erythema_days=_as_int(days))),
        ]
        for widget, build in numbers:
            try:
                build()
            except ValueError as exc:
                problems.add(widget, str(exc))
        bad_numbers = problems.fields & {
            self.needle_depth_edit,
            self.passes_edit,
            self.erythema_days_edit,
        }
        chosen = tuple(k for k, box in self.procedure_checks.items() if box.isChecked())
        try:
            record = TreatmentRecord(
                procedures=chosen,
                other_procedure=self.other_procedure_edit.text()
                if self.procedure_checks["other"].isChecked()
                else "",
                device=self.device_edit.text().strip(),
                needle_depth_mm=None if self.needle_depth_edit in bad_numbers else depth,
                passes=None if self.passes_edit in bad_numbers else _as_int(passes),
                anaesthesia=self.anaesthesia_combo.currentText().strip(),
                clinician=self.clinician_edit.text().strip(),
                immediate_reactions=self.reactions_edit.text().strip(),
                erythema_days=None if self.erythema_days_edit in bad_numbers else _as_int(days),
                pih=self.pih_check.isChecked(),
                infection=self.infection_check.isChecked(),
                tram_track=self.tram_track_check.isChecked(),
                other_adverse_events=self.other_adverse_edit.text().strip(),
                notes=self.notes_edit.toPlainText().strip(),
            )
        except ValueError as exc:
            widget = (
                self.other_procedure_edit
                if "other procedure" in str(exc).lower()
                else self.procedure_checks["microneedling"]
            )
            problems.add(widget, str(exc))
            return None
        return None if bad_numbers else record

    # ------------------------------------------------------------------- grades

    def _build_grades_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)

        top = QHBoxLayout()
        self.suggest_button = QPushButton("Use suggestion")
        self.suggest_button.setToolTip(
            "Fill the calculators from the scars measured in this session's photo: a starting "
            "point to review, marked as suggested until you edit or accept it"
        )
        self.suggest_button.clicked.connect(self._on_suggest_clicked)
        top.addWidget(self.suggest_button)
        self.suggest_info = QLabel()
        self.suggest_info.setWordWrap(True)
        self.suggest_info.setProperty("role", "muted")
        top.addWidget(self.suggest_info, 1)
        layout.addLayout(top)

        qualitative = QHBoxLayout()
        qualitative.addWidget(QLabel("Goodman & Baron qualitative grade"))
        self.gb_qualitative_combo = QComboBox()
        self.gb_qualitative_combo.addItem(_NOT_GRADED, None)
        for grade in GB_QUALITATIVE_GRADES:
            self.gb_qualitative_combo.addItem(f"{grade.grade} – {grade.name}", grade.grade)
            self.gb_qualitative_combo.setItemData(
                self.gb_qualitative_combo.count() - 1,
                grade.description,
                Qt.ItemDataRole.ToolTipRole,
            )
        self.gb_qualitative_combo.currentIndexChanged.connect(self._on_field_changed)
        qualitative.addWidget(self.gb_qualitative_combo, 1)
        layout.addLayout(qualitative)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        inner = QWidget()
        inner_layout = QVBoxLayout(inner)
        inner_layout.addWidget(self._build_gb_group())
        inner_layout.addWidget(self._build_ecca_group())
        inner_layout.addWidget(self._build_pro_group())
        inner_layout.addStretch(1)
        scroll.setWidget(inner)
        layout.addWidget(scroll, 1)
        return page

    def _suggested_row_label(self) -> QLabel:
        label = QLabel("suggested")
        label.setProperty("role", "suggested")
        label.hide()
        return label

    def _build_gb_group(self) -> QGroupBox:
        group = QGroupBox(f"Goodman && Baron quantitative (0 – {GB_QUANTITATIVE_MAX})")
        outer = QVBoxLayout(group)
        grid = QGridLayout()
        for column, text in enumerate(("Grade", "Description", "Points", "Scars", "×", "Score")):
            header = QLabel(text)
            header.setProperty("role", "section")
            grid.addWidget(header, 0, column)
        self.gb_count_edits: dict[str, QLineEdit] = {}
        self.gb_score_labels: dict[str, QLabel] = {}
        self.gb_multiplier_labels: dict[str, QLabel] = {}
        self.gb_suggested_labels: dict[str, QLabel] = {}
        row = 1
        for item in GB_QUANTITATIVE_ITEMS:
            edit = QLineEdit()
            edit.setPlaceholderText("0")
            edit.setMaximumWidth(70)
            edit.textChanged.connect(self._on_gb_field_changed(item.key))
            self.gb_count_edits[item.key] = edit
            self.gb_multiplier_labels[item.key] = QLabel("0")
            self.gb_score_labels[item.key] = QLabel("0")
            self.gb_suggested_labels[item.key] = self._suggested_row_label()
            description = QLabel(item.label)
            description.setWordWrap(True)
            for column, widget in enumerate(
                (
                    QLabel(item.grade),
                    description,
                    QLabel(str(item.points)),
                    edit,
                    self.gb_multiplier_labels[item.key],
                    self.gb_score_labels[item.key],
                    self.gb_suggested_labels[item.key],
                )
            ):
                grid.addWidget(widget, row, column)
            row += 1
        self.keloid_area_edit = QLineEdit()
        self.keloid_area_edit.setPlaceholderText("cm²")
        self.keloid_area_edit.setMaximumWidth(70)
        self.keloid_area_edit.textChanged.connect(self._on_gb_field_changed("keloid_area_cm2"))
        self.keloid_score_label = QLabel("0")
        self.gb_suggested_labels["keloid_area_cm2"] = self._suggested_row_label()
        keloid = QLabel(f"{GB_KELOID_LABEL}, cm²: < 5 → 6, 5 – 20 → 12, > 20 → 18")
        keloid.setWordWrap(True)
        for column, widget in enumerate(
            (
                QLabel("D"),
                keloid,
                QLabel(""),
                self.keloid_area_edit,
                QLabel(""),
                self.keloid_score_label,
                self.gb_suggested_labels["keloid_area_cm2"],
            )
        ):
            grid.addWidget(widget, row, column)
        grid.setColumnStretch(1, 1)
        outer.addLayout(grid)
        hint = QLabel(
            "Multiplier per description: 1 – 10 scars × 1, 11 – 20 × 2, more than 20 × 3."
        )
        hint.setProperty("role", "muted")
        outer.addWidget(hint)
        footer = QHBoxLayout()
        self.gb_total_label = QLabel()
        self.gb_total_label.setProperty("role", "figure")
        footer.addWidget(self.gb_total_label)
        self.gb_suggested_note = QLabel("Suggested from the measurement: review every value.")
        self.gb_suggested_note.setProperty("role", "suggested")
        footer.addWidget(self.gb_suggested_note, 1)
        self.gb_accept_button = QPushButton("Accept as reviewed")
        self.gb_accept_button.clicked.connect(lambda: self._accept_suggestion("gb"))
        footer.addWidget(self.gb_accept_button)
        outer.addLayout(footer)
        return group

    def _build_ecca_group(self) -> QGroupBox:
        group = QGroupBox(f"ECCA (0 – {ECCA_MAX})")
        outer = QVBoxLayout(group)
        grid = QGridLayout()
        for column, text in enumerate(("Item", "Weight", "Extent", "Score")):
            header = QLabel(text)
            header.setProperty("role", "section")
            grid.addWidget(header, 0, column)
        self.ecca_combos: dict[str, QComboBox] = {}
        self.ecca_score_labels: dict[str, QLabel] = {}
        self.ecca_suggested_labels: dict[str, QLabel] = {}
        for row, item in enumerate(ECCA_ITEMS, start=1):
            combo = QComboBox()
            combo.addItem(_NOT_RATED, None)
            for rating, meaning in ECCA_EXTENTS.items():
                combo.addItem(f"{rating} – {meaning}", rating)
            combo.currentIndexChanged.connect(self._on_ecca_field_changed(item.key))
            self.ecca_combos[item.key] = combo
            self.ecca_score_labels[item.key] = QLabel("0")
            self.ecca_suggested_labels[item.key] = self._suggested_row_label()
            label = QLabel(item.label)
            label.setWordWrap(True)
            for column, widget in enumerate(
                (
                    label,
                    QLabel(str(item.weight)),
                    combo,
                    self.ecca_score_labels[item.key],
                    self.ecca_suggested_labels[item.key],
                )
            ):
                grid.addWidget(widget, row, column)
        grid.setColumnStretch(0, 1)
        outer.addLayout(grid)
        footer = QHBoxLayout()
        self.ecca_total_label = QLabel()
        self.ecca_total_label.setProperty("role", "figure")
        footer.addWidget(self.ecca_total_label)
        self.ecca_suggested_note = QLabel("Suggested from the measurement: review every value.")
        self.ecca_suggested_note.setProperty("role", "suggested")
        footer.addWidget(self.ecca_suggested_note, 1)
        self.ecca_accept_button = QPushButton("Accept as reviewed")
        self.ecca_accept_button.clicked.connect(lambda: self._accept_suggestion("ecca"))
        footer.addWidget(self.ecca_accept_button)
        outer.addLayout(footer)
        return group

    def _build_pro_group(self) -> QGroupBox:
        group = QGroupBox("Patient-reported outcome")
        form = QFormLayout(group)
        self.pro_instrument_combo = QComboBox()
        self.pro_instrument_combo.setEditable(True)
        self.pro_instrument_combo.addItem("")
        self.pro_instrument_combo.addItems(list(KNOWN_PRO_INSTRUMENTS))
        self.pro_instrument_combo.currentTextChanged.connect(self._on_pro_instrument_changed)
        form.addRow("Questionnaire", self.pro_instrument_combo)
        self.pro_score_edit = QLineEdit()
        self.pro_score_edit.setPlaceholderText("Total score")
        self.pro_score_edit.textChanged.connect(self._on_field_changed)
        form.addRow("Total score", self.pro_score_edit)
        span = QHBoxLayout()
        self.pro_min_edit = QLineEdit()
        self.pro_min_edit.setPlaceholderText("lowest")
        self.pro_max_edit = QLineEdit()
        self.pro_max_edit.setPlaceholderText("highest")
        for edit in (self.pro_min_edit, self.pro_max_edit):
            edit.setMaximumWidth(90)
            edit.textChanged.connect(self._on_field_changed)
        span.addWidget(self.pro_min_edit)
        span.addWidget(QLabel("to"))
        span.addWidget(self.pro_max_edit)
        span.addStretch(1)
        form.addRow("Score range", span)
        note = QLabel(
            "Record only the questionnaire's name and its total score, never its questions."
        )
        note.setProperty("role", "muted")
        note.setWordWrap(True)
        form.addRow(note)
        return group

    def _fill_grades(self, grades: SessionGrades | None) -> None:
        self._filling = True
        try:
            if grades is None:
                grades = SessionGrades()
            index = self.gb_qualitative_combo.findData(grades.gb_qualitative)
            self.gb_qualitative_combo.setCurrentIndex(max(0, index))
            gb = grades.gb_quantitative
            for key, edit in self.gb_count_edits.items():
                edit.setText("" if gb is None else str(gb.count_of(key)))
            self.keloid_area_edit.setText("" if gb is None else _fmt(gb.keloid_area_cm2))
            for key, combo in self.ecca_combos.items():
                rating = None if grades.ecca is None else grades.ecca.rating_of(key)
                combo.setCurrentIndex(max(0, combo.findData(rating)))
            pro = grades.pro
            self.pro_instrument_combo.setCurrentText("" if pro is None else pro.instrument)
            self.pro_score_edit.setText("" if pro is None else _fmt(pro.total_score))
            low = None if pro is None else pro.score_min
            high = None if pro is None else pro.score_max
            self.pro_min_edit.setText("" if low is None else _fmt(low))
            self.pro_max_edit.setText("" if high is None else _fmt(high))
            self._suggested = {
                "gb": set(grades.gb_quantitative_suggested),
                "ecca": set(grades.ecca_suggested),
            }
        finally:
            self._filling = False

    def _read_gb(self, problems: _Problems) -> GoodmanBaronInput | None:
        texts = [edit.text().strip() for edit in self.gb_count_edits.values()]
        if not any(texts) and not self.keloid_area_edit.text().strip():
            return None
        counts: dict[str, int] = {}
        for item in GB_QUANTITATIVE_ITEMS:
            edit = self.gb_count_edits[item.key]
            name = f"The count of {item.label[0].lower()}{item.label[1:]}"
            value = _parse_number(edit, name, problems, whole=True)
            if value is None:
                counts[item.key] = 0
                continue
            try:
                GoodmanBaronInput(**{item.key: int(value)})
            except ValueError as exc:
                problems.add(edit, str(exc))
                counts[item.key] = 0
                continue
            counts[item.key] = int(value)
        area = _parse_number(
            self.keloid_area_edit, "The keloidal or hypertrophic scar area", problems, unit="cm²"
        )
        try:
            keloid_points(0.0 if area is None else area)
        except ValueError as exc:
            problems.add(self.keloid_area_edit, str(exc))
            area = None
        if problems.fields & {*self.gb_count_edits.values(), self.keloid_area_edit}:
            return None
        return GoodmanBaronInput(**counts, keloid_area_cm2=0.0 if area is None else area)

    def _read_ecca(self) -> EccaInput | None:
        ratings = {key: combo.currentData() for key, combo in self.ecca_combos.items()}
        if all(value is None for value in ratings.values()):
            return None
        return EccaInput(**{key: int(value or 0) for key, value in ratings.items()})

    def _read_pro(self, problems: _Problems) -> PatientReportedOutcome | None:
        name = self.pro_instrument_combo.currentText().strip()
        score_text = self.pro_score_edit.text().strip()
        if not name and not score_text:
            return None
        score = _parse_number(self.pro_score_edit, "The patient-reported score", problems)
        low = _parse_number(self.pro_min_edit, "The questionnaire's lowest score", problems)
        high = _parse_number(self.pro_max_edit, "The questionnaire's highest score", problems)
        if score is None:
            if not score_text:
                problems.add(self.pro_score_edit, f"Enter the {name} total score.")
            return None
        try:
            return PatientReportedOutcome(name, score, low, high)
        except ValueError as exc:
            is_name = "name" in str(exc).lower()
            widget = self.pro_instrument_combo if is_name else self.pro_score_edit
            problems.add(widget, str(exc))
            return None

    # --------------------------------------------------------------- reading

    def _collect(
        self,
    ) -> tuple[TreatmentRecord | None, SessionGrades | None, _Problems, _Problems]:
        """Read the whole form: the records (``None`` where invalid) and the problems of each."""
        treatment_problems = _Problems([], set())
        treatment = self._read_treatment(treatment_problems)
        grade_problems = _Problems([], set())
        gb = self._read_gb(grade_problems)
        scored = self._read_ecca()
        pro = self._read_pro(grade_problems)
        grades = (
            None
            if grade_problems.messages
            else SessionGrades(
                gb_qualitative=self.gb_qualitative_combo.currentData(),
                gb_quantitative=gb,
                ecca=scored,
                pro=pro,
                gb_quantitative_suggested=frozenset(self._suggested["gb"]),
                ecca_suggested=frozenset(self._suggested["ecca"]),
            )
        )
        return treatment, grades, treatment_problems, grade_problems

    def errors(self) -> list[str]:
        """The form's problems, one sentence each (empty when it can be saved)."""
        _, _, treatment_problems, grade_problems = self._collect()
        return treatment_problems.messages + grade_problems.messages

    def treatment(self) -> TreatmentRecord | None:
        """The treatment record as entered (``None`` when the treatment form is blank).

        Raises
        ------
        ValueError
            With the first problem, when the treatment form is not valid.
        """
        treatment, _, problems, _ = self._collect()
        if problems.messages:
            raise ValueError(problems.messages[0])
        return treatment

    def grades(self) -> SessionGrades:
        """The clinical grades as entered (suggested marks included).

        Raises
        ------
        ValueError
            With the first problem, when the grades are not valid.
        """
        _, grades, _, problems = self._collect()
        if grades is None:
            raise ValueError(problems.messages[0])
        return grades

    def is_suggested(self, calculator: str, key: str) -> bool:
        """True while field ``key`` of ``"gb"`` or ``"ecca"`` holds an unreviewed suggestion."""
        return key in self._suggested[calculator]

    # ---------------------------------------------------------------- updating

    def _on_field_changed(self, *_args: object) -> None:
        if not self._filling:
            self._revalidate()

    def _on_gb_field_changed(self, key: str) -> Callable[[str], None]:
        def changed(_text: str) -> None:
            if self._filling:
                return
            self._suggested["gb"].discard(key)
            self._revalidate()

        return changed

    def _on_ecca_field_changed(self, key: str) -> Callable[[int], None]:
        def changed(_index: int) -> None:
            if self._filling:
                return
            self._suggested["ecca"].discard(key)
            self._revalidate()

        return changed

    def _on_pro_instrument_changed(self, name: str) -> None:
        if self._filling:
            return
        known = KNOWN_PRO_INSTRUMENTS.get(name.strip())
        if known is not None:
            self._filling = True
            try:
                self.pro_min_edit.setText(_fmt(known[0]))
                self.pro_max_edit.setText(_fmt(known[1]))
            finally:
                self._filling = False
        self._revalidate()

    def _accept_suggestion(self, calculator: str) -> None:
        self._suggested[calculator].clear()
        self._revalidate()

    def _revalidate(self) -> None:
        """Check every field, update the scores, the marks and the message list."""
        _, _, treatment_problems, grade_problems = self._collect()
        messages = treatment_problems.messages + grade_problems.messages
        fields = treatment_problems.fields | grade_problems.fields
        invalid_widgets: list[QWidget] = [
            self.needle_depth_edit,
            self.passes_edit,
            self.erythema_days_edit,
            self.other_procedure_edit,
            *self.gb_count_edits.values(),
            self.keloid_area_edit,
            self.pro_instrument_combo,
            self.pro_score_edit,
            self.pro_min_edit,
            self.pro_max_edit,
        ]
        for widget in invalid_widgets:
            _set_flag(widget, "invalid", widget in fields)
        self.error_label.setText("\n".join(f"• {m}" for m in messages))
        self.error_label.setVisible(bool(messages))
        self.save_button.setEnabled(not messages)
        self._show_scores()
        self._show_suggested()

    def _show_scores(self) -> None:
        gb = self._read_gb(_Problems([], set()))
        for item in GB_QUANTITATIVE_ITEMS:
            count = _count_or_zero(self.gb_count_edits[item.key].text())
            multiplier = count_multiplier(count) if count is not None else 0
            self.gb_multiplier_labels[item.key].setText(str(multiplier))
            self.gb_score_labels[item.key].setText(str(item.points * multiplier))
        area = _float_or_none(self.keloid_area_edit.text())
        try:
            keloid = keloid_points(area) if area is not None else 0
        except ValueError:
            keloid = 0
        self.keloid_score_label.setText(str(keloid))
        if gb is None:
            self.gb_total_label.setText(f"— / {GB_QUANTITATIVE_MAX}")
        else:
            total = goodman_baron_quantitative(gb).total
            self.gb_total_label.setText(f"{total} / {GB_QUANTITATIVE_MAX}")
        scored = self._read_ecca()
        for ecca_item in ECCA_ITEMS:
            rating = self.ecca_combos[ecca_item.key].currentData()
            self.ecca_score_labels[ecca_item.key].setText(str(ecca_item.weight * int(rating or 0)))
        if scored is None:
            self.ecca_total_label.setText(f"— / {ECCA_MAX}")
        else:
            self.ecca_total_label.setText(f"{ecca(scored).total} / {ECCA_MAX}")

    def _show_suggested(self) -> None:
        for key, label in self.gb_suggested_labels.items():
            marked = key in self._suggested["gb"]
            label.setVisible(marked)
            edit = self.keloid_area_edit if key == "keloid_area_cm2" else self.gb_count_edits[key]
            _set_flag(edit, "suggested", marked)
        for key, label in self.ecca_suggested_labels.items():
            marked = key in self._suggested["ecca"]
            label.setVisible(marked)
            _set_flag(self.ecca_combos[key], "suggested", marked)
        for calculator, note, button in (
            ("gb", self.gb_suggested_note, self.gb_accept_button),
            ("ecca", self.ecca_suggested_note, self.ecca_accept_button),
        ):
            note.setVisible(bool(self._suggested[calculator]))
            button.setVisible(bool(self._suggested[calculator]))

    # ---------------------------------------------------------------- actions

    def _on_suggest_clicked(self) -> None:
        suggestion = suggestion_for_session(self.library, self.session_id)
        if suggestion is None:
            self.suggest_info.setText(
                "No photo of this session has been measured yet, so there is nothing to "
                "suggest from."
            )
            return
        self._filling = True
        try:
            for key in suggestion.goodman_baron_fields:
                if key == "keloid_area_cm2":
                    self.keloid_area_edit.setText(_fmt(suggestion.goodman_baron.keloid_area_cm2))
                else:
                    self.gb_count_edits[key].setText(str(suggestion.goodman_baron.count_of(key)))
            for key in suggestion.ecca_fields:
                combo = self.ecca_combos[key]
                combo.setCurrentIndex(combo.findData(suggestion.ecca.rating_of(key)))
            self._suggested["gb"] |= set(suggestion.goodman_baron_fields)
            self._suggested["ecca"] |= set(suggestion.ecca_fields)
        finally:
            self._filling = False
        self.suggest_info.setText(" ".join(suggestion.notes))
        self._revalidate()

    def _on_save_clicked(self) -> None:
        treatment, grades, treatment_problems, grade_problems = self._collect()
        if treatment_problems.messages or grade_problems.messages:
            self._revalidate()
            return
        wrote = False
        if treatment is not None and treatment != self._stored_treatment:
            save_treatment(self.library, self.session_id, treatment)
            self._stored_treatment = treatment
            wrote = True
        previous = self._stored_grades
        if grades is not None and grades != (previous or SessionGrades()):
            save_grades(self.library, self.session_id, grades)
            self._stored_grades = grades
            wrote = True
        if wrote:
            self.record_saved.emit(self.session_id)
        self.accept()


def _parse_number(
    edit: QLineEdit,
    name: str,
    problems: _Problems,
    *,
    unit: str = "",
    whole: bool = False,
) -> float | None:
    """Read a number from a line edit; ``None`` when blank or not a number (then reported)."""
    text = edit.text().strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        problems.add(edit, f"{name} must be {kind}{f' in {unit}' if unit else ''}, not {text!r}.")
        return None
    if whole and not value.is_integer():
        problems.add(edit, f"{name} must be a whole number, not {text}.")
        return None
    return value


def _as_int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _float_or_none(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        return None


def _count_or_zero(text: str) -> int | None:
    value = _float_or_none(text) if text.strip() else 0.0
    if value is None or not value.is_integer() or value < 0 or value > 9999:
        return None
    return int(value)


# ---------------------------------------------------------------- trend chart


def render_score_trend(
    points: Sequence[GradeTrendPoint],
    score_key: str,
    *,
    width_px: int,
    height_px: int,
    show_area: bool = True,
    colors: theme.Colors = theme.LIGHT,
    dpi: float = 100.0,
) -> NDArray[np.uint8]:
    """Draw one clinical score per session, with the measured area as bars behind it.

    Parameters
    ----------
    points : sequence of GradeTrendPoint
        Sessions in order (see :func:`scarview.store.clinical.grade_trend`).
    score_key : str
        One of :data:`scarview.core.grading.CLINICAL_SCORES`' keys.
    width_px, height_px : int
        Size of the image in pixels.
    show_area : bool
        Draw each session's measured area (mm², right axis) as bars.
    colors : theme.Colors
    dpi : float

    Returns
    -------
    ndarray of shape (height_px, width_px, 4) and dtype uint8
        RGBA pixels. Suggested scores are drawn as hollow markers.
    """
    scale = score_scale(score_key)
    width_px, height_px = max(width_px, 120), max(height_px, 90)
    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    figure.patch.set_facecolor(colors.base)
    axes = figure.add_subplot(1, 1, 1)
    axes.set_facecolor(colors.base)
    dated = all(p.session_date is not None for p in points) and len(points) > 0
    xs: list[float] = [
        float(mdates.date2num(p.session_date)) if dated and p.session_date else float(i)
        for i, p in enumerate(points)
    ]
    values = [p.value(score_key) for p in points]
    for spine in axes.spines.values():
        spine.set_color(colors.grid)
    axes.tick_params(colors=colors.muted, labelsize=8)
    axes.grid(axis="y", color=colors.grid, linewidth=0.6)
    gaps = np.diff(xs) if len(xs) > 1 else np.array([1.0])
    width = 0.5 * float(np.min(gaps[gaps > 0])) if np.any(gaps > 0) else 0.5
    if show_area and any(p.area_mm2 is not None for p in points):
        area_axes = axes.twinx()
        area_axes.bar(
            [x for x, p in zip(xs, points, strict=True) if p.area_mm2 is not None],
            [p.area_mm2 for p in points if p.area_mm2 is not None],
            width=width,
            color=colors.grid,
            zorder=0,
            label="Measured area (mm²)",
        )
        area_axes.set_ylabel("Measured area (mm²)", color=colors.muted, fontsize=8)
        area_axes.tick_params(colors=colors.muted, labelsize=8)
        for spine in area_axes.spines.values():
            spine.set_visible(False)
        area_axes.set_ylim(bottom=0)
        # Keep the score line in front of the bars.
        axes.set_zorder(area_axes.get_zorder() + 1)
        axes.patch.set_visible(False)
    known = [(x, v, p) for x, v, p in zip(xs, values, points, strict=True) if v is not None]
    if known:
        axes.plot(
            [x for x, _, _ in known],
            [v for _, v, _ in known],
            color=colors.accent,
            linewidth=1.8,
            zorder=2,
        )
        for x, v, p in known:
            hollow = p.is_suggested(score_key)
            axes.plot(
                [x],
                [v],
                marker="o",
                markersize=7,
                markerfacecolor=colors.base if hollow else colors.accent,
                markeredgecolor=colors.accent,
                markeredgewidth=1.6,
                zorder=3,
            )
            axes.annotate(
                f"{v:g}" + (" (suggested)" if hollow else ""),
                (x, v),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize=8,
                color=colors.text,
            )
    else:
        axes.text(
            0.5,
            0.5,
            f"No {scale.label} recorded yet",
            transform=axes.transAxes,
            ha="center",
            va="center",
            color=colors.muted,
            fontsize=9,
        )
    low, high = scale.minimum, scale.maximum
    if score_key == "pro":
        names = {p.pro_instrument for p in points if p.pro_instrument}
        if len(names) == 1:
            name = next(iter(names))
            known_range = KNOWN_PRO_INSTRUMENTS.get(name)
            if known_range is not None:
                low, high = known_range
            axes.set_ylabel(name, color=colors.text, fontsize=8)
        else:
            axes.set_ylabel(scale.label, color=colors.text, fontsize=8)
    else:
        axes.set_ylabel(scale.label, color=colors.text, fontsize=8)
    if low is not None and high is not None:
        margin = 0.08 * (high - low)
        axes.set_ylim(low - (margin if score_key == "gb_qualitative" else 0), high + margin)
    if points:
        axes.set_xticks(xs)
        axes.set_xticklabels(
            [p.session_date.isoformat() if p.session_date else p.label for p in points],
            rotation=0 if len(points) <= 4 else 30,
            ha="center" if len(points) <= 4 else "right",
        )
        pad = max((max(xs) - min(xs)) * 0.08, 0.6 * width)
        axes.set_xlim(min(xs) - pad, max(xs) + pad)
    figure.tight_layout(pad=0.6)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba(), dtype=np.uint8)
    return np.ascontiguousarray(rgba)


class ScoreTrendWidget(QWidget):
    """A clinical score per session date, chosen from a list, beside the measured area.

    Call :meth:`load` (from the library) or :meth:`set_points`; the chart redraws
    when the score, the data or the widget's size changes.

    Parameters
    ----------
    parent : QWidget, optional
    runner : TaskRunner, optional
        The window's task runner: drawing (about 0.1 s with matplotlib) then
        runs on its light pool and the newest drawing wins. Without one the
        chart is drawn on the GUI thread.

    Signals
    -------
    score_changed(str)
        The key of the score now shown.
    chart_drawn()
        A new picture of the chart is shown.
    """

    score_changed = Signal(str)
    chart_drawn = Signal()

    def __init__(self, parent: QWidget | None = None, *, runner: TaskRunner | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._task_key = f"score-trend-{id(self)}"
        self._points: tuple[GradeTrendPoint, ...] = ()
        self.score_combo = QComboBox()
        for scale in CLINICAL_SCORES:
            self.score_combo.addItem(scale.label, scale.key)
        self.score_combo.currentIndexChanged.connect(self._on_score_combo_changed)
        self.area_check = QCheckBox("Measured area")
        self.area_check.setChecked(True)
        self.area_check.toggled.connect(self._schedule_redraw)
        self.chart_label = QLabel()
        self.chart_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.chart_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.chart_label.setMinimumSize(240, 160)
        top = QHBoxLayout()
        top.addWidget(QLabel("Clinical score"))
        top.addWidget(self.score_combo, 1)
        top.addWidget(self.area_check)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.chart_label, 1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self.redraw)
        self._image = QImage()

    def load(self, library: Library, patient_id: int, *, view: str | None = None) -> None:
        """Read the patient's scores and areas from the library and draw them."""
        self.set_points(grade_trend(library, patient_id, view=view))

    def set_points(self, points: Sequence[GradeTrendPoint]) -> None:
        """Show these sessions (earliest first)."""
        self._points = tuple(points)
        self.redraw()

    def set_score(self, key: str) -> None:
        """Show the score ``key`` (``"gb_quantitative"``, ``"ecca"``, ...)."""
        score_scale(key)
        self.score_combo.setCurrentIndex(self.score_combo.findData(key))

    def score(self) -> str:
        """The key of the score shown."""
        return str(self.score_combo.currentData())

    def series(self) -> list[tuple[date | None, str, float | None, bool]]:
        """What is plotted: ``(session_date, label, value, suggested)`` per session."""
        key = self.score()
        return [(p.session_date, p.label, p.value(key), p.is_suggested(key)) for p in self._points]

    def image(self) -> QImage:
        """The chart as last drawn."""
        return self._image

    def redraw(self) -> None:
        """Draw the chart at the label's size (in the background when there is a runner)."""
        size = self.chart_label.size()
        draw = partial(
            render_score_trend,
            self._points,
            self.score(),
            width_px=max(size.width(), 240),
            height_px=max(size.height(), 160),
            show_area=self.area_check.isChecked(),
            colors=_colors(self),
        )
        if self._runner is None:
            self._show_chart(draw())
        else:
            self._runner.submit(draw, key=self._task_key, on_result=self._show_chart)

    def _show_chart(self, pixels: NDArray[np.uint8]) -> None:
        self._image = array_to_qimage(pixels)
        self.chart_label.setPixmap(QPixmap.fromImage(self._image))
        self.chart_drawn.emit()

    def _schedule_redraw(self, *_args: object) -> None:
        self._timer.start()

    def _on_score_combo_changed(self, _index: int) -> None:
        self.redraw()
        self.score_changed.emit(self.score())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        """Redraw at the new size once resizing pauses."""
        super().resizeEvent(event)
        self._schedule_redraw()


__all__ = ["ANAESTHESIA_CHOICES", "ScoreTrendWidget", "SessionRecordDialog", "render_score_trend"]
