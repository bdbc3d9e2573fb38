"""ScarView's main window: patients on the left, the comparison in the centre, results on the right.

The window is the controller: it owns the library, the background task runner,
the undo stack and the current selection (patient, view, the two sessions
compared, the tool), asks workers for data and hands what comes back to the
panels. It never computes on the GUI thread: reading a patient, decoding and
aligning photos, drawing the chart, analysing, importing and exporting all run
on the runner's pools, with progress and a Cancel button in the status bar.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QColor,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from scarview import __version__
from scarview.core.align import align_from_points
from scarview.core.calibrate import calibration_from_points
from scarview.core.types import SCAR_TYPES
from scarview.errors import ScarViewError
from scarview.gui import engine
from scarview.gui.chart import ChartPoint, ChartStyle, render_trend_chart
from scarview.gui.clinical import ScoreTrendWidget, SessionRecordDialog
from scarview.gui.compare import ComparisonPanel, PairInfo
from scarview.gui.dialogs import (
    CalibrationDialog,
    ImportPhotosDialog,
    NewPatientDialog,
    ShortcutsDialog,
)
from scarview.gui.icons import app_icon, icon
from scarview.gui.loading import (
    PairImages,
    PatientSnapshot,
    PhotoCache,
    PhotoResult,
    TrendRow,
    format_date,
    interior_point,
    load_difference,
    load_pair,
    load_snapshot,
    load_thumbnail,
    pair_transform,
    trend_rows,
    view_title,
)
from scarview.gui.pyramid import ImagePyramid
from scarview.gui.qimage import array_to_qimage
from scarview.gui.results import ResultsPanel
from scarview.gui.sidebar import THUMB_SIZE, PatientPanel
from scarview.gui.theme import THEMES, Colors, apply_theme, resolve
from scarview.gui.undo import CorrectionCommand, CorrectionEdit, RevertCorrectionCommand
from scarview.gui.workers import TaskRunner
from scarview.settings import config_dir, load_settings, save_settings
from scarview.store import Library, PatientRecord
from scarview.store.clinical import grade_trend
from scarview.store.layout import date_from_label

log = logging.getLogger(__name__)

TYPE_TITLES = {"icepick": "Ice pick", "boxcar": "Boxcar", "rolling": "Rolling"}
TOOL_HINTS = {
    "navigate": "",
    "roi": (
        "Region of interest: click its corners, or drag to draw freehand; double-click or "
        "press Enter to close it. Drag a corner of an existing region to reshape it. It is "
        "carried to the other sessions through the alignment."
    ),
    "add_scar": (
        "Add a missed scar: click around its outline, or drag to draw it; double-click or "
        "press Enter to close it."
    ),
    "calibrate": (
        "Calibrate: click two points a known distance apart on the skin (for example two "
        "corners of the scale marker); you will be asked the distance."
    ),
    "points": (
        "Align by hand: click a landmark on the later photo (right), then the same landmark "
        "on the baseline (left). Four or more pairs, spread over the photo, work best."
    ),
}


def gui_settings() -> QSettings:
    """The window-state file (``gui.ini``) in ScarView's config folder."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return QSettings(str(folder / "gui.ini"), QSettings.Format.IniFormat)


def classify_folder(folder: Path) -> str:
    """``"patient"`` for one patient's folder, ``"patients"`` for a folder of patient folders.

    A folder holding photos directly, or session folders named by date, is one
    patient's; a folder whose sub-folders hold further folders is a folder of
    patients (``sample_images/`` is one).
    """
    from scarview.core.io import classify_path

    entries = [e for e in sorted(folder.iterdir()) if not e.name.startswith(".")]
    if any(e.is_file() and classify_path(e) == "photo" for e in entries):
        return "patient"
    dirs = [e for e in entries if e.is_dir()]
    if any(date_from_label(d.name) is not None for d in dirs):
        return "patient"
    for d in dirs:
        if any(c.is_dir() and not c.name.startswith(".") for c in d.iterdir()):
            return "patients"
    return "patient"


def _import_job(
    library: Library,
    folders: list[tuple[Path, str | None]],
    files: list[Path],
    patient_code: str | None,
    session_date: Any,
    *,
    progress: Callable[[float, str], None] | None = None,
    cancel: Any = None,
) -> dict[str, Any]:
    """Import folders and files (worker thread); return counts, messages and new photo ids."""
    imported = 0
    already = 0
    errors: list[str] = []
    warnings: list[str] = []
    patients: list[str] = []
    photo_ids: list[int] = []
    jobs = len(folders) + (1 if files else 0)
    done = 0

    def sub(fraction: float, message: str) -> None:
        if progress is not None:
            progress((done + fraction) / max(1, jobs), message)

    for folder, patient in folders:
        report = library.import_folder(folder, patient=patient, progress=sub, cancel=cancel)
        done += 1
        imported += report.imported
        already += report.already_present
        errors.extend(e.message for e in report.errors)
        warnings.extend(w.message for w in report.warnings)
        patients.extend(report.patients)
        photo_ids.extend(report.photo_ids)
    if files and patient_code:
        report = library.import_photos(
            files, patient_code, session_date, progress=sub, cancel=cancel
        )
        imported += report.imported
        already += report.already_present
        errors.extend(e.message for e in report.errors)
        warnings.extend(w.message for w in report.warnings)
        patients.extend(report.patients)
        photo_ids.extend(report.photo_ids)
    return {
        "imported": imported,
        "already": already,
        "errors": errors,
        "warnings": warnings,
        "patients": list(dict.fromkeys(patients)),
        "photo_ids": photo_ids,
    }


def _export_report_job(
    library: Library,
    patient_id: int,
    out: str,
    clinic_name: str,
    *,
    progress: Callable[[float, str], None] | None = None,
    cancel: Any = None,
) -> str:
    from scarview.report.from_library import report_data_from_library
    from scarview.report.pdf import render_report

    data = report_data_from_library(library, patient_id, clinic_name=clinic_name or None)
    return str(render_report(data, out, progress=progress, cancel=cancel))


def _report_available() -> bool:
    try:
        import scarview.report.from_library
        import scarview.report.pdf  # noqa: F401
    except ImportError:
        return False
    return True


class MainWindow(QMainWindow):
    """The desktop app's window.

    Parameters
    ----------
    library : Library
        The open library (the window closes it when it closes, if it owns it).
    sample_dir : Path, optional
        ``sample_images/``: imported on first run (a library that never had a
        patient), through the same path a dropped folder takes.
    owns_library : bool
        Close the library with the window.

    Signals
    -------
    snapshot_loaded()
        A patient's records were (re)loaded and shown.
    pair_loaded()
        The two photos compared are on screen.
    processing_finished()
        The imports and analyses that were running have all finished.
    chart_rendered()
        A new trend chart is on screen.
    """

    snapshot_loaded = Signal()
    pair_loaded = Signal()
    processing_finished = Signal()
    chart_rendered = Signal()

    def __init__(
        self,
        library: Library,
        *,
        sample_dir: Path | None = None,
        owns_library: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.owns_library = owns_library
        self.sample_dir = sample_dir
        self.settings = load_settings()
        self.theme_choice = self.settings.theme if self.settings.theme in THEMES else "system"
        self.colors: Colors = resolve(self.theme_choice)
        self.runner = TaskRunner(self)
        self.cache = PhotoCache()
        self.undo_stack = QUndoStack(self)
        self.snapshot: PatientSnapshot | None = None
        self.patient_id: int | None = None
        self.view_key: str | None = None
        self.before_session_id: int | None = None
        self.after_session_id: int | None = None
        self.pair_images: PairImages | None = None
        self.selection: tuple[str, int] | None = None
        self.tool = "navigate"
        self.align_after: list[tuple[float, float]] = []
        self.align_before: list[tuple[float, float]] = []
        self.queued_photos: set[int] = set()
        self.failed_photos: set[int] = set()
        self._was_busy = False
        self._chart_points: list[ChartPoint] = []
        self._layout_restored = False
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(150)
        self._reload_timer.timeout.connect(self._reload_snapshot)
        self._chart_size: tuple[QSize, float] | None = None

        self.setWindowTitle("ScarView")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks
        )

        self.comparison = ComparisonPanel(self.colors)
        self.patients_panel = PatientPanel(self.colors)
        self.results = ResultsPanel(self.colors)
        self.scores = ScoreTrendWidget(runner=self.runner)
        self.results.tabs.addTab(self.scores, "Scores")
        self._build_central()
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_statusbar()
        self._connect()
        self.apply_colors(self.colors)
        self._restore_layout()
        hints = QGuiApplication.styleHints()
        if hints is not None:
            hints.colorSchemeChanged.connect(self._on_system_color_scheme_changed)
        self._update_actions()
        self.refresh_patients(select=self._initial_patient())
        if sample_dir is not None and not library.has_patients():
            QTimer.singleShot(0, self._import_sample)

    # ------------------------------------------------------------------ build

    def _build_central(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.comparison, 1)
        self.tool_bar_widget = QWidget()
        self.tool_bar_widget.setObjectName("toolHint")
        bar = QHBoxLayout(self.tool_bar_widget)
        bar.setContentsMargins(10, 6, 10, 6)
        self.tool_hint = QLabel()
        self.tool_hint.setWordWrap(True)
        bar.addWidget(self.tool_hint, 1)
        self.align_model = QComboBox()
        self.align_model.addItem("Similarity (3+ pairs)", "similarity")
        self.align_model.addItem("Perspective (4+ pairs)", "homography")
        self.align_model.setToolTip(
            "Similarity: rotation, scale and shift. Perspective: also the camera's tilt."
        )
        self.align_model.currentIndexChanged.connect(lambda _i: self._update_align_bar())
        bar.addWidget(self.align_model)
        self.align_undo_point = QPushButton("Remove last point")
        self.align_undo_point.clicked.connect(self._on_align_undo_point_clicked)
        bar.addWidget(self.align_undo_point)
        self.tool_apply = QPushButton("Apply")
        self.tool_apply.clicked.connect(self._on_tool_apply_clicked)
        bar.addWidget(self.tool_apply)
        self.tool_cancel = QPushButton("Done")
        self.tool_cancel.clicked.connect(lambda: self.set_tool("navigate"))
        bar.addWidget(self.tool_cancel)
        self.tool_bar_widget.hide()
        layout.addWidget(self.tool_bar_widget)
        self.setCentralWidget(central)

    def _build_docks(self) -> None:
        self.patients_dock = QDockWidget("Patients", self)
        self.patients_dock.setObjectName("patientsDock")
        self.patients_dock.setWidget(self.patients_panel)
        self.patients_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.patients_dock)
        self.results_dock = QDockWidget("Results", self)
        self.results_dock.setObjectName("resultsDock")
        self.results_dock.setWidget(self.results)
        self.results_dock.setFeatures(self.patients_dock.features())
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.results_dock)
        self.patients_dock.setTitleBarWidget(QWidget())
        self.results_dock.setTitleBarWidget(QWidget())
        self.resizeDocks(
            [self.patients_dock, self.results_dock], [280, 420], Qt.Orientation.Horizontal
        )

    def _action(
        self,
        text: str,
        slot: Callable[..., Any] | None = None,
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
        *,
        icon_name: str | None = None,
        checkable: bool = False,
        tip: str = "",
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        if icon_name:
            action.setProperty("iconName", icon_name)
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        plain = text.replace("&", "").rstrip("…")
        tooltip = tip or plain
        action.setToolTip(f"{tooltip} ({keys})" if keys else tooltip)
        action.setStatusTip(tip or plain)
        if slot is not None:
            action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        A = self._action
        self.import_files_action = A(
            "&Import photos…",
            self.import_files_dialog,
            "Ctrl+I",
            icon_name="import",
            tip="Import photos into a patient (or drop them on the window)",
        )
        self.import_folder_action = A(
            "Import &folder…",
            self.import_folder_dialog,
            "Ctrl+Shift+I",
            tip="Import a patient's folder, or a folder of patient folders",
        )
        self.new_patient_action = A(
            "&New patient…",
            self.new_patient_dialog,
            QKeySequence.StandardKey.New,
            icon_name="new-patient",
            tip="Add a patient",
        )
        self.export_csv_action = A(
            "Export &CSV…",
            self.export_csv_dialog,
            "Ctrl+E",
            icon_name="export-csv",
            tip="Write this patient's measurements as CSV",
        )
        self.report_action = A(
            "PDF &report…",
            self.export_report_dialog,
            "Ctrl+P",
            icon_name="export-pdf",
            tip="Write this patient's PDF progress report",
        )
        if not _report_available():
            self.report_action.setEnabled(False)
            self.report_action.setToolTip("PDF reports are not available in this installation yet")
        self.quit_action = A("&Quit", self.close, QKeySequence.StandardKey.Quit)

        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
        self.undo_action.setProperty("iconName", "undo")
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts(
            [QKeySequence(QKeySequence.StandardKey.Redo), QKeySequence("Ctrl+Y")]
        )
        self.redo_action.setProperty("iconName", "redo")
        self.addAction(self.undo_action)
        self.addAction(self.redo_action)

        self.delete_action = A(
            "&Remove scar",
            self.remove_selected_scar,
            QKeySequence.StandardKey.Delete,
            icon_name="delete",
            tip="Remove the selected scar (it was not a scar)",
        )
        self.delete_action.setShortcuts(
            [QKeySequence(QKeySequence.StandardKey.Delete), QKeySequence("Backspace")]
        )
        self.delete_action.setEnabled(False)
        self.type_actions: dict[str, QAction] = {}
        for i, scar_type in enumerate(SCAR_TYPES):
            self.type_actions[scar_type] = A(
                f"Mark as {TYPE_TITLES[scar_type].lower()}",
                lambda _c=False, t=scar_type: self.retype_selected_scar(t),
                f"Alt+{i + 1}",
            )
            self.type_actions[scar_type].setEnabled(False)

        self.tool_group = QActionGroup(self)
        self.tool_actions: dict[str, QAction] = {}
        for tool, text, key, icon_name, tip in (
            ("navigate", "&Select and pan", "V", "select", "Select scars and pan the photos"),
            ("roi", "Draw region of &interest", "R", "roi", "Draw the region to measure"),
            ("add_scar", "&Add a scar", "A", "add-scar", "Outline a scar the analysis missed"),
            (
                "calibrate",
                "&Calibrate scale",
                "C",
                "calibrate",
                "Click two points a known distance apart",
            ),
            (
                "points",
                "Align by &hand",
                "M",
                "align",
                "Click matching points when automatic alignment failed",
            ),
        ):
            action = A(
                text,
                lambda _c=False, t=tool: self.set_tool(t),
                key,
                icon_name=icon_name,
                checkable=True,
                tip=tip,
            )
            self.tool_group.addAction(action)
            self.tool_actions[tool] = action
        self.tool_actions["navigate"].setChecked(True)
        self.record_action = A(
            "Clinical &record and grades…",
            lambda: self.open_clinical_record(self.after_session_id),
            "Ctrl+G",
            tip="Treatment record and clinical grades of the later (right) session",
        )
        self.clear_roi_action = A(
            "Clear region of interest",
            self.clear_roi,
            None,
            tip="Measure the whole photo again (on every session of this view)",
        )
        self.reanalyse_action = A(
            "Re-analyse this patient",
            self.reanalyse_patient,
            None,
            tip="Analyse and align every photo of this patient again",
        )

        self.next_session_action = A(
            "&Next session", lambda: self.step_after(1), "PgDown", tip="Compare the next session"
        )
        self.prev_session_action = A(
            "&Previous session",
            lambda: self.step_after(-1),
            "PgUp",
            tip="Compare the previous session",
        )
        self.next_before_action = A(
            "Next before-session", lambda: self.step_before(1), "Ctrl+PgDown"
        )
        self.prev_before_action = A(
            "Previous before-session", lambda: self.step_before(-1), "Ctrl+PgUp"
        )
        self.theme_group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for theme, text in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            action = QAction(text, self)
            action.setCheckable(True)
            action.setChecked(theme == self.theme_choice)
            action.triggered.connect(lambda _c=False, t=theme: self.set_theme(t))
            self.theme_group.addAction(action)
            self.theme_actions[theme] = action
        self.reset_layout_action = A("Reset layout", self.reset_layout, None)
        self.shortcuts_action = A("&Keyboard shortcuts", self.show_shortcuts, "F1")
        self.about_action = A("&About ScarView", self.show_about, None)
        self.cancel_action = A("Cancel background work", self.runner.cancel_visible, None)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for action in (
            self.new_patient_action,
            self.import_files_action,
            self.import_folder_action,
            None,
            self.export_csv_action,
            self.report_action,
            None,
            self.quit_action,
        ):
            file_menu.addSeparator() if action is None else file_menu.addAction(action)
        edit = bar.addMenu("&Edit")
        edit.addAction(self.undo_action)
        edit.addAction(self.redo_action)
        edit.addSeparator()
        for action in self.tool_actions.values():
            edit.addAction(action)
        edit.addSeparator()
        edit.addAction(self.delete_action)
        type_menu = edit.addMenu("Scar &type")
        for action in self.type_actions.values():
            type_menu.addAction(action)
        edit.addAction(self.clear_roi_action)
        edit.addSeparator()
        edit.addAction(self.record_action)
        edit.addSeparator()
        edit.addAction(self.reanalyse_action)
        edit.addAction(self.cancel_action)
        view = bar.addMenu("&View")
        for action in self.comparison.mode_actions.values():
            view.addAction(action)
        view.addSeparator()
        for action in (
            self.comparison.outlines_action,
            self.comparison.roi_action,
            self.comparison.grid_action,
        ):
            view.addAction(action)
        view.addSeparator()
        for action in (
            self.comparison.zoom_in_action,
            self.comparison.zoom_out_action,
            self.comparison.fit_action,
            self.comparison.actual_action,
        ):
            view.addAction(action)
        view.addSeparator()
        for action in (
            self.next_session_action,
            self.prev_session_action,
            self.next_before_action,
            self.prev_before_action,
        ):
            view.addAction(action)
        view.addSeparator()
        theme_menu = view.addMenu("&Theme")
        for action in self.theme_actions.values():
            theme_menu.addAction(action)
        panels = view.addMenu("&Panels")
        toggle_patients = self.patients_dock.toggleViewAction()
        toggle_patients.setText("Patients and sessions")
        toggle_patients.setShortcut(QKeySequence("F9"))
        toggle_results = self.results_dock.toggleViewAction()
        toggle_results.setText("Results")
        toggle_results.setShortcut(QKeySequence("F10"))
        panels.addAction(toggle_patients)
        panels.addAction(toggle_results)
        panels.addAction(self.reset_layout_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)
        for action in (
            *self.comparison.mode_actions.values(),
            self.comparison.outlines_action,
            self.comparison.roi_action,
            self.comparison.grid_action,
            self.comparison.zoom_in_action,
            self.comparison.zoom_out_action,
            self.comparison.fit_action,
            self.comparison.actual_action,
        ):
            self.addAction(action)

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Main toolbar", self)
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setIconSize(QSize(20, 20))
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        for action in (self.import_files_action, self.new_patient_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        toolbar.addAction(self.undo_action)
        toolbar.addAction(self.redo_action)
        toolbar.addSeparator()
        for action in self.tool_actions.values():
            toolbar.addAction(action)
        toolbar.addAction(self.delete_action)
        spacer = QWidget()
        spacer.setSizePolicy(
            spacer.sizePolicy().Policy.Expanding, spacer.sizePolicy().Policy.Preferred
        )
        toolbar.addWidget(spacer)
        self.patient_title = QLabel()
        self.patient_title.setTextFormat(Qt.TextFormat.RichText)
        toolbar.addWidget(self.patient_title)
        toolbar.addSeparator()
        for action in (self.export_csv_action, self.report_action):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setAutoRaise(True)
            toolbar.addWidget(button)
        self.toolbar = toolbar
        self.results.csv_button.hide()
        self.results.pdf_button.hide()

    def _build_statusbar(self) -> None:
        status = self.statusBar()
        self.status_text = QLabel()
        self.cursor_text = QLabel()
        self.cursor_text.setProperty("role", "muted")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(180)
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the import or analysis (work already saved is kept)")
        self.cancel_button.clicked.connect(self.runner.cancel_visible)
        status.addWidget(self.status_text, 1)
        status.addPermanentWidget(self.cursor_text)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        self.progress.hide()
        self.cancel_button.hide()

    def _connect(self) -> None:
        self.runner.status_changed.connect(self._on_runner_status_changed)
        p = self.patients_panel
        p.new_button.setDefaultAction(self.new_patient_action)
        p.search_changed.connect(self._on_patients_search_changed)
        p.patient_selected.connect(self.open_patient)
        p.session_clicked.connect(self._on_sessions_session_clicked)
        p.before_requested.connect(self.set_before_session)
        p.after_requested.connect(self.set_after_session)
        p.record_requested.connect(self.open_clinical_record)
        c = self.comparison
        c.before_changed.connect(self.set_before_session)
        c.after_changed.connect(self.set_after_session)
        c.view_changed.connect(self._on_comparison_view_changed)
        c.scar_clicked.connect(self._on_comparison_scar_clicked)
        c.polygon_drawn.connect(self._on_comparison_polygon_drawn)
        c.segment_drawn.connect(self._on_comparison_segment_drawn)
        c.point_clicked.connect(self._on_comparison_point_clicked)
        c.align_by_hand_requested.connect(lambda: self.set_tool("points"))
        c.mode_changed.connect(self._on_comparison_mode_changed)
        for canvas in c.canvases:
            canvas.cursor_moved.connect(self._on_canvas_cursor_moved)
        r = self.results
        r.chart.render_requested.connect(self._on_chart_render_requested)
        r.session_activated.connect(self.set_after_session)
        r.revert_requested.connect(self.revert_correction)
        self.undo_stack.indexChanged.connect(lambda _i: self._update_actions())

    # ---------------------------------------------------------------- layout

    def _restore_layout(self) -> None:
        store = gui_settings()
        geometry = store.value("window/geometry")
        state = store.value("window/state")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            screen = QGuiApplication.primaryScreen()
            available = screen.availableGeometry() if screen is not None else None
            if available is not None and available.width() > 0:
                width = min(1680, int(available.width() * 0.94))
                height = min(1020, int(available.height() * 0.92))
                self.resize(width, height)
            else:
                self.resize(1480, 920)
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
            self._layout_restored = True
        mode = store.value("view/mode", "side_by_side")
        if mode in self.comparison.mode_actions:
            self.comparison.set_mode(str(mode))
        for key, action in (
            ("view/outlines", self.comparison.outlines_action),
            ("view/roi", self.comparison.roi_action),
            ("view/grid", self.comparison.grid_action),
        ):
            value = store.value(key)
            if value is not None:
                action.setChecked(str(value).lower() in ("true", "1"))
        splitter = store.value("results/splitter")
        if isinstance(splitter, QByteArray):
            self.results.splitter.restoreState(splitter)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._layout_restored:
            # Docks take their sizes only once the window has its own; first run only.
            self._layout_restored = True
            QTimer.singleShot(0, self.reset_layout)

    def save_layout(self) -> None:
        """Remember the window's geometry, docks, mode and overlays."""
        store = gui_settings()
        store.setValue("window/geometry", self.saveGeometry())
        store.setValue("window/state", self.saveState())
        store.setValue("view/mode", self.comparison.mode)
        store.setValue("view/outlines", self.comparison.outlines_action.isChecked())
        store.setValue("view/roi", self.comparison.roi_action.isChecked())
        store.setValue("view/grid", self.comparison.grid_action.isChecked())
        store.setValue("results/splitter", self.results.splitter.saveState())
        if self.patient_id is not None:
            store.setValue("library/last_patient", self.patient_id)
        store.sync()

    def reset_layout(self) -> None:
        """Put the panels back where they start."""
        for dock, area in (
            (self.patients_dock, Qt.DockWidgetArea.LeftDockWidgetArea),
            (self.results_dock, Qt.DockWidgetArea.RightDockWidgetArea),
        ):
            dock.setFloating(False)
            dock.show()
            self.addDockWidget(area, dock)
        self.resizeDocks(
            [self.patients_dock, self.results_dock], [280, 420], Qt.Orientation.Horizontal
        )

    def _initial_patient(self) -> int | None:
        value = gui_settings().value("library/last_patient")
        try:
            return None if value is None else int(str(value))
        except ValueError:
            return None

    # ------------------------------------------------------------------ theme

    def set_theme(self, choice: str) -> None:
        """``"system"``, ``"light"`` or ``"dark"``; saved in the settings."""
        self.theme_choice = choice
        self.theme_actions[choice].setChecked(True)
        app = QApplication.instance()
        colors = apply_theme(app, choice) if isinstance(app, QApplication) else resolve(choice)
        self.apply_colors(colors)
        try:
            self.settings = dataclasses.replace(load_settings(), theme=choice)
            save_settings(self.settings)
        except OSError as exc:
            self.show_message(f"The theme could not be saved: {exc}")

    def apply_colors(self, colors: Colors) -> None:
        """Restyle every panel and icon for a theme."""
        self.colors = colors
        for action in self.findChildren(QAction):
            name = action.property("iconName")
            if isinstance(name, str) and name:
                action.setIcon(icon(name, colors.text))
        self.comparison.apply_colors(colors)
        self.patients_panel.apply_colors(colors)
        self.results.apply_colors(colors)
        self.tool_bar_widget.setStyleSheet(
            f"QWidget#toolHint {{ background: {colors.accent}; }}"
            " QWidget#toolHint QLabel { color: #FFFFFF; }"
        )
        self._update_patient_title()
        self._request_chart()

    def _on_system_color_scheme_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self.theme_choice == "system":
            self.set_theme("system")

    # --------------------------------------------------------------- messages

    def show_message(self, text: str, timeout_ms: int = 8000) -> None:
        """A transient message in the status bar."""
        self.statusBar().showMessage(text, timeout_ms)

    def _on_runner_status_changed(self, text: str, fraction: float, busy: bool) -> None:
        self.status_text.setText(text)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            if fraction < 0:
                self.progress.setRange(0, 0)
            else:
                self.progress.setRange(0, 1000)
                self.progress.setValue(round(fraction * 1000))
        if busy:
            self._was_busy = True
        elif self._was_busy and not self.queued_photos:
            self._was_busy = False
            self.processing_finished.emit()

    def _warn(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)

    def _on_task_error(self, message: str) -> None:
        self.show_message(message, 15000)

    # ---------------------------------------------------------------- patients

    def refresh_patients(self, select: int | None = None) -> None:
        """Re-read the patient list (a quick query) and select a patient."""
        search = self.patients_panel.search.text()
        patients = self.library.list_patients(search)
        rows = [(p.id, p.display_name, self._patient_subtitle(p)) for p in patients]
        wanted = select if select is not None else self.patient_id
        if wanted is None or wanted not in {p.id for p in patients}:
            wanted = patients[0].id if patients and not search else wanted
        self.patients_panel.set_patients(rows, wanted)
        if wanted is not None and wanted != self.patient_id and wanted in {p.id for p in patients}:
            self.open_patient(wanted)

    @staticmethod
    def _patient_subtitle(p: PatientRecord) -> str:
        parts = [p.code] if p.name else []
        parts.append(f"{p.session_count} session{'s' if p.session_count != 1 else ''}")
        if p.last_session_date is not None:
            parts.append(f"last {format_date(p.last_session_date)}")
        return " · ".join(parts)

    def _on_patients_search_changed(self, _text: str) -> None:
        self.refresh_patients()

    def open_patient(self, patient_id: int) -> None:
        """Show a patient: its sessions, the baseline and latest compared, its results."""
        if patient_id == self.patient_id and self.snapshot is not None:
            return
        self.patient_id = patient_id
        self.snapshot = None
        self.pair_images = None
        self.view_key = None
        self.before_session_id = self.after_session_id = None
        self.selection = None
        self.undo_stack.clear()
        self.set_tool("navigate")
        self.patients_panel.set_sessions([])
        self.comparison.set_pair(None)
        self.comparison.set_loading("Opening…")
        self.results.set_rows([])
        self.results.set_corrections([])
        self.results.chart.clear("")
        self._reload_snapshot()
        self._update_patient_title()

    def _reload_snapshot(self) -> None:
        if self.patient_id is None:
            return
        self.runner.submit(
            load_snapshot,
            self.library,
            self.patient_id,
            key="snapshot",
            on_result=self._on_snapshot_loaded,
            on_error=self._on_task_error,
        )

    def schedule_reload(self) -> None:
        """Re-read the patient soon (several changes in a row cost one reload)."""
        self._reload_timer.start()

    def _on_snapshot_loaded(self, snapshot: PatientSnapshot) -> None:
        if snapshot.patient.id != self.patient_id:
            return
        self.snapshot = snapshot
        if self.view_key not in snapshot.view_keys:
            self.view_key = snapshot.view_keys[0] if snapshot.view_keys else None
        ids = [e.session.id for e in snapshot.sessions if self._has_view(e.session.id)]
        if self.before_session_id not in ids:
            self.before_session_id = ids[0] if ids else None
        if self.after_session_id not in ids:
            self.after_session_id = ids[-1] if ids else None
        self._show_snapshot()
        self._ensure_pair()
        self._load_thumbnails()
        self._load_scores()
        self._queue_pending()
        self.snapshot_loaded.emit()

    def _has_view(self, session_id: int) -> bool:
        snapshot = self.snapshot
        if snapshot is None or self.view_key is None:
            return False
        index = snapshot.session_index(session_id)
        return index is not None and snapshot.sessions[index].photo(self.view_key) is not None

    def current_rows(self) -> list[TrendRow]:
        """The results rows of the shown view."""
        if self.snapshot is None or self.view_key is None:
            return []
        return trend_rows(self.snapshot, self.view_key)

    def _show_snapshot(self) -> None:
        snapshot = self.snapshot
        if snapshot is None:
            return
        rows = self.current_rows()
        self.results.set_rows(rows)
        self._show_sessions(rows)
        titles = [
            (e.session.id, self._session_title(i))
            for i, e in enumerate(snapshot.sessions)
            if self._has_view(e.session.id)
        ]
        views = [(k, view_title(k)) for k in snapshot.view_keys]
        self.comparison.set_sessions(
            titles, self.before_session_id, self.after_session_id, views, self.view_key
        )
        self._show_corrections()
        self._update_pair_info()
        self._chart_points = self._chart_data(rows)
        self._request_chart()
        self._update_patient_title()
        self._update_actions()
        if not snapshot.sessions:
            self.comparison.set_loading(
                "This patient has no photos yet. Drop photos or a folder here to import them."
            )

    def _session_title(self, index: int) -> str:
        assert self.snapshot is not None
        entry = self.snapshot.sessions[index]
        title = entry.title
        return f"{title} (baseline)" if index == 0 else title

    def _show_sessions(self, rows: list[TrendRow]) -> None:
        snapshot = self.snapshot
        assert snapshot is not None
        out: list[dict[str, object]] = []
        base_date = snapshot.sessions[0].session.session_date if snapshot.sessions else None
        for index, (entry, row) in enumerate(zip(snapshot.sessions, rows, strict=True)):
            chips = []
            if entry.session.id == self.before_session_id:
                chips.append("BEFORE")
            if entry.session.id == self.after_session_id:
                chips.append("AFTER")
            when = "Baseline"
            if index > 0 and entry.session.session_date and base_date:
                days = (entry.session.session_date - base_date).days
                when = f"Week {days / 7:.0f}" if days % 7 == 0 else f"Day {days}"
            elif index > 0:
                when = f"Session {index + 1}"
            parts = [when]
            details: list[str] = []
            warn = False
            result = entry.photo(self.view_key) if self.view_key else None
            if result is None:
                details.append("no photo of this view")
            elif not row.analysed or not result.up_to_date:
                details.append("analysing…" if not row.analysed else "updating…")
            else:
                parts.append(f"{row.count} scars")
                if row.area_mm2 is not None:
                    details.append(f"{row.area_mm2:.1f} mm²")
                if row.aligned is False:
                    details.append("⚠ not aligned")
                    warn = True
                elif row.change_pct is not None:
                    details.append(f"{row.change_pct:+.0f} %".replace("-", "−"))
            tooltip = f"{entry.session.label}: {len(entry.photos)} photo(s)"
            if row.aligned is False and row.alignment_reason:
                tooltip += f"\nNot aligned: {row.alignment_reason}"
            out.append(
                {
                    "id": entry.session.id,
                    "title": entry.title,
                    "subtitle": " · ".join(parts),
                    "detail": " · ".join(details),
                    "chips": chips,
                    "warn": warn,
                    "tooltip": tooltip,
                }
            )
        self.patients_panel.set_sessions(out)
        self.patients_panel.select_session(self.after_session_id)

    def _show_corrections(self) -> None:
        snapshot = self.snapshot
        rows: list[tuple[int, str, str]] = []
        if snapshot is not None:
            for entry in snapshot.sessions:
                for result in entry.photos:
                    for c in result.corrections:
                        rows.append(
                            (
                                c.id,
                                f"{entry.title}: {self._describe(c.kind, c.payload)}",
                                self._correction_tooltip(result, c),
                            )
                        )
        rows.sort(key=lambda r: r[0], reverse=True)
        self.results.set_corrections(rows)

    @staticmethod
    def _describe(kind: str, payload: Any) -> str:
        p = payload if isinstance(payload, dict) else {}
        if kind == "remove_scar":
            x, y = p.get("centroid_xy", (0, 0))
            return f"removed a scar at ({x:.0f}, {y:.0f}) px"
        if kind == "add_scar":
            t = p.get("type")
            return f"added a {TYPE_TITLES.get(t, 'drawn').lower()} scar" if t else "added a scar"
        if kind == "scar_type":
            return f"marked a scar as {TYPE_TITLES.get(p.get('type', ''), '?').lower()}"
        if kind == "roi":
            if not p.get("polygon"):
                return "cleared the region of interest"
            return "region of interest" + (
                " (carried from another session)" if p.get("carried_from") else " drawn"
            )
        if kind == "calibration":
            return f"scale set by hand to {float(p.get('px_per_mm', 0)):.2f} px/mm"
        if kind == "alignment_points":
            n = len(p.get("after_xy", []))
            return f"aligned by hand ({n} point pairs)"
        return kind

    @staticmethod
    def _correction_tooltip(result: PhotoResult, c: Any) -> str:
        when = c.created_at
        stamp = when.strftime("%Y-%m-%d %H:%M") if isinstance(when, datetime) else str(when)
        return f"{result.photo.original_name} · recorded {stamp} UTC · correction #{c.id}"

    def _update_patient_title(self) -> None:
        snapshot = self.snapshot
        if snapshot is None:
            self.patient_title.setText("")
            self.setWindowTitle("ScarView")
            return
        p = snapshot.patient
        extra = f" <span style='color:{self.colors.muted}'>· {p.code}</span>" if p.name else ""
        self.patient_title.setText(f"<b>{p.display_name}</b>{extra}&nbsp;&nbsp;")
        self.setWindowTitle(f"{p.display_name} – ScarView")

    def _update_actions(self) -> None:
        has_patient = self.snapshot is not None
        has_photos = bool(self.snapshot and self.snapshot.sessions)
        self.export_csv_action.setEnabled(has_photos)
        if _report_available():
            self.report_action.setEnabled(has_photos)
        for tool, action in self.tool_actions.items():
            action.setEnabled(has_photos or tool == "navigate")
        self.clear_roi_action.setEnabled(has_photos)
        self.reanalyse_action.setEnabled(has_photos)
        self.record_action.setEnabled(has_photos and self.after_session_id is not None)
        selected = self._selected_scar() is not None
        self.delete_action.setEnabled(selected)
        for action in self.type_actions.values():
            action.setEnabled(selected)
        self.next_session_action.setEnabled(has_patient)
        self.prev_session_action.setEnabled(has_patient)

    # ------------------------------------------------------------------ pair

    def _photo_for_session(self, session_id: int | None) -> PhotoResult | None:
        snapshot = self.snapshot
        if snapshot is None or session_id is None or self.view_key is None:
            return None
        index = snapshot.session_index(session_id)
        return None if index is None else snapshot.sessions[index].photo(self.view_key)

    def pair(self) -> tuple[PhotoResult, PhotoResult] | None:
        """The BEFORE and AFTER photo results on screen."""
        before = self._photo_for_session(self.before_session_id)
        after = self._photo_for_session(self.after_session_id)
        return None if before is None or after is None else (before, after)

    def _caption(self, session_id: int | None) -> str:
        snapshot = self.snapshot
        if snapshot is None or session_id is None:
            return ""
        index = snapshot.session_index(session_id)
        if index is None:
            return ""
        entry = snapshot.sessions[index]
        return f"{entry.title} · baseline" if index == 0 else entry.title

    def _type_qcolors(self) -> dict[str, QColor]:
        return {k: QColor(*rgb) for k, rgb in engine.type_colors_rgb().items()}

    def _update_pair_info(self) -> None:
        pair = self.pair()
        if pair is None:
            self.comparison.set_pair(None)
            return
        before, after = pair
        H, quality = pair_transform(before, after)
        info = PairInfo(
            before,
            after,
            self._caption(self.before_session_id),
            self._caption(self.after_session_id),
            quality,
            H,
            self._type_qcolors(),
        )
        self.comparison.set_pair(info)
        if self.selection is not None:
            role, scar_id = self.selection
            result = before if role == "before" else after
            if result.scar(scar_id) is None:
                self.selection = None
                self.comparison.set_selection(None, 0)
        self._update_actions()

    def _ensure_pair(self) -> None:
        pair = self.pair()
        if pair is None:
            if self.snapshot is not None and self.snapshot.sessions:
                self.comparison.set_loading("No photo of this view in one of the sessions.")
            return
        before, after = pair
        H, _quality = pair_transform(before, after)
        images = self.pair_images
        if (
            images is not None
            and images.before_id == before.photo.id
            and images.after_id == after.photo.id
            and ((images.homography is None) == (H is None))
            and (H is None or images.homography is None or np.allclose(images.homography, H))
        ):
            return
        if (
            images is None
            or images.before_id != before.photo.id
            or images.after_id != after.photo.id
        ):
            self.comparison.set_loading("Opening the photos…")
        self.runner.submit(
            load_pair,
            before.photo,
            after.photo,
            H,
            self.cache,
            key="pair",
            on_result=self._on_pair_loaded,
            on_error=self._on_task_error,
        )

    def _on_pair_loaded(self, images: PairImages) -> None:
        pair = self.pair()
        if pair is None or (images.before_id, images.after_id) != (
            pair[0].photo.id,
            pair[1].photo.id,
        ):
            return
        self.pair_images = images
        self.comparison.set_images(images)
        self.pair_loaded.emit()
        self._ensure_difference()

    def _ensure_difference(self) -> None:
        """Compute the difference picture when the Difference mode shows it (lazily)."""
        images = self.pair_images
        pair = self.pair()
        if (
            images is not None
            and pair is not None
            and self.comparison.mode == "difference"
            and images.homography is not None
            and images.difference is None
            and not self.runner.has_task("difference")
        ):
            before, after = pair
            self.runner.submit(
                load_difference,
                before.photo,
                after.photo,
                images.homography,
                self.cache,
                key="difference",
                on_result=partial(self._on_difference_loaded, images),
                on_error=self._on_task_error,
                on_done=self._ensure_difference,  # the pair may have changed meanwhile
            )

    def _on_comparison_mode_changed(self, _mode: str) -> None:
        self._ensure_difference()

    def _on_difference_loaded(self, images: PairImages, difference: ImagePyramid) -> None:
        if self.pair_images is not images:
            return  # another pair is on screen now
        self.pair_images = dataclasses.replace(images, difference=difference)
        self.comparison.set_images(self.pair_images)

    def set_before_session(self, session_id: int) -> None:
        """Compare ``session_id`` on the left (the frame)."""
        if session_id == self.before_session_id or not self._has_view(session_id):
            return
        self.before_session_id = session_id
        self._pair_changed()

    def set_after_session(self, session_id: int) -> None:
        """Compare ``session_id`` on the right."""
        if session_id == self.after_session_id or not self._has_view(session_id):
            return
        self.after_session_id = session_id
        self._pair_changed()

    def _pair_changed(self) -> None:
        self.selection = None
        self.comparison.set_selection(None, 0)
        if self.tool == "points":
            self.set_tool("navigate")
        self._show_snapshot()
        self._ensure_pair()

    def _session_ids(self) -> list[int]:
        snapshot = self.snapshot
        if snapshot is None:
            return []
        return [e.session.id for e in snapshot.sessions if self._has_view(e.session.id)]

    def step_after(self, step: int) -> None:
        """Compare the next (1) or previous (-1) session on the right."""
        ids = self._session_ids()
        if not ids or self.after_session_id not in ids:
            return
        index = min(len(ids) - 1, max(0, ids.index(self.after_session_id) + step))
        self.set_after_session(ids[index])

    def step_before(self, step: int) -> None:
        """Compare the next (1) or previous (-1) session on the left."""
        ids = self._session_ids()
        if not ids or self.before_session_id not in ids:
            return
        index = min(len(ids) - 1, max(0, ids.index(self.before_session_id) + step))
        self.set_before_session(ids[index])

    def _on_sessions_session_clicked(self, session_id: int) -> None:
        if session_id == self.before_session_id and session_id != self.after_session_id:
            return
        self.set_after_session(session_id)

    def _on_comparison_view_changed(self, key: str) -> None:
        if self.snapshot is None or key == self.view_key:
            return
        self.view_key = key
        ids = self._session_ids()
        self.before_session_id = ids[0] if ids else None
        self.after_session_id = ids[-1] if ids else None
        self._pair_changed()

    # ---------------------------------------------------------- clinical record

    def _load_scores(self) -> None:
        if self.patient_id is None:
            return
        view = self.view_key if self.view_key and not self.view_key.startswith("file:") else None
        self.runner.submit(
            grade_trend,
            self.library,
            self.patient_id,
            view=view,
            key="scores",
            on_result=self.scores.set_points,
            on_error=self._on_task_error,
        )

    def open_clinical_record(self, session_id: int | None) -> None:
        """Edit a session's treatment record and clinical grades (G&B, ECCA...)."""
        if session_id is None or self.snapshot is None:
            return
        dialog = SessionRecordDialog(self.library, session_id, self)
        dialog.record_saved.connect(lambda _sid: self._load_scores())
        dialog.exec()

    # ------------------------------------------------------------ thumbnails

    def _load_thumbnails(self) -> None:
        snapshot = self.snapshot
        if snapshot is None:
            return
        for entry in snapshot.sessions:
            result = entry.photo(self.view_key) if self.view_key else None
            result = result or (entry.photos[0] if entry.photos else None)
            if result is None or self.patients_panel.has_thumbnail(entry.session.id):
                continue
            session_id = entry.session.id
            self.runner.submit(
                load_thumbnail,
                result.photo.path,
                THUMB_SIZE.width() * 2,
                key=f"thumb:{session_id}",
                on_result=partial(self._on_thumbnail_loaded, session_id),
            )

    def _on_thumbnail_loaded(self, session_id: int, image: QImage) -> None:
        self.patients_panel.set_thumbnail(session_id, image)

    # ------------------------------------------------------------------ chart

    def _chart_data(self, rows: list[TrendRow]) -> list[ChartPoint]:
        points = []
        for row in rows:
            if row.photo_id is None:
                continue
            by_type = {}
            if row.analysed and row.area_mm2 is not None:
                by_type = {t: float(a or 0.0) for t, (_n, a) in row.by_type.items()}
            points.append(
                ChartPoint(
                    row.session.session_date,
                    row.session.label,
                    by_type,
                    row.count if row.analysed else None,
                    row.change_pct,
                    row.is_baseline,
                    row.aligned,
                )
            )
        return points

    def _chart_style(self) -> ChartStyle:
        c = self.colors
        return ChartStyle(
            c.base, c.text, c.muted, c.grid, c.good, c.bad, c.warn, engine.type_colors_rgb()
        )

    def _on_chart_render_requested(self, size: QSize, dpr: float) -> None:
        self._chart_size = (QSize(size), dpr)
        self._request_chart()

    def _request_chart(self) -> None:
        if not hasattr(self, "results"):
            return
        points = self._chart_points
        if not points or all(p.count is None for p in points):
            self.results.chart.clear(
                "The chart appears once the photos are measured."
                if points
                else "No measurements yet."
            )
            if not points:
                return
        chart = self.results.chart
        size, dpr = self._chart_size or (chart.size(), float(chart.devicePixelRatioF() or 1.0))
        if size.width() < 40 or size.height() < 40:
            return
        self.runner.submit(
            _render_chart_image,
            list(points),
            self._chart_style(),
            size.width(),
            size.height(),
            dpr,
            key="chart",
            on_result=self._on_chart_rendered,
        )

    def _on_chart_rendered(self, image: QImage) -> None:
        if self._chart_points and any(p.count is not None for p in self._chart_points):
            self.results.chart.set_image(image)
            self.chart_rendered.emit()

    # ------------------------------------------------------------- processing

    def _queue_pending(self) -> None:
        if self.patient_id is None:
            return
        patient_id = self.patient_id
        if self.runner.has_task(f"scan:{patient_id}"):
            return
        self.runner.submit(
            engine.photos_needing_work,
            self.library,
            patient_id,
            key=f"scan:{patient_id}",
            on_result=self.process_photos,
            on_error=self._on_task_error,
        )

    def process_photos(
        self, photo_ids: Sequence[int], *, urgent: bool = False, force: bool = False
    ) -> None:
        """Analyse and align photos in the background (urgent ones on the quick pool)."""
        for photo_id in photo_ids:
            if not urgent and (photo_id in self.queued_photos or photo_id in self.failed_photos):
                continue
            self.queued_photos.add(photo_id)
            try:
                photo = self.library.get_photo(photo_id)
                session = self.library.get_session(photo.session_id)
                name = format_date(session.session_date, session.label)
            except ScarViewError:
                name = f"photo {photo_id}"
            self.runner.submit(
                engine.process_photo,
                self.library,
                photo_id,
                force=force,
                key=f"process:{photo_id}" if urgent else None,
                label=("Updating " if urgent else "Analysing ") + name,
                heavy=not urgent,
                on_result=self._on_photo_processed,
                on_error=partial(self._on_photo_failed, photo_id),
                on_done=partial(self._on_photo_done, photo_id),
            )

    def _on_photo_failed(self, photo_id: int, message: str) -> None:
        # Not retried automatically (Re-analyse retries); the message says why.
        self.failed_photos.add(photo_id)
        self.show_message(message, 15000)

    def _on_photo_processed(self, photo_id: int) -> None:
        self.failed_photos.discard(photo_id)
        if self.snapshot is not None and self.snapshot.photo_result(photo_id) is not None:
            self.schedule_reload()
        elif self.patient_id is not None:
            try:
                if self.library.get_photo(photo_id).patient_id == self.patient_id:
                    self.schedule_reload()
            except ScarViewError:
                pass

    def _on_photo_done(self, photo_id: int) -> None:
        if not any(t.key == f"process:{photo_id}" for t in self.runner.tasks):
            self.queued_photos.discard(photo_id)
        if not self.queued_photos:
            self.refresh_patients()

    def reanalyse_patient(self) -> None:
        """Analyse and align every photo of the patient again, in the background."""
        if self.snapshot is None:
            return
        ids = [r.photo.id for e in self.snapshot.sessions for r in e.photos]
        self.failed_photos.difference_update(ids)
        self.process_photos(ids, force=True)

    # ------------------------------------------------------------------ import

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        mime = event.mimeData()
        if mime.hasUrls() and any(u.isLocalFile() for u in mime.urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.import_paths(paths)

    def import_paths(self, paths: Sequence[Path]) -> bool:
        """Import dropped or chosen files and folders, then analyse them in the background.

        Folders are imported by their layout (a patient's folder is named by the
        patient's code); loose photos go to a patient chosen in a dialog.

        Returns
        -------
        bool
            False when nothing was started (cancelled or nothing to import).
        """
        folders: list[tuple[Path, str | None]] = []
        files: list[Path] = []
        for path in paths:
            if path.is_dir():
                kind = classify_folder(path)
                folders.append((path, path.name if kind == "patient" else None))
            elif path.is_file():
                files.append(path)
        patient_code: str | None = None
        session_date = None
        if files:
            choices = [
                (p.code, p.display_name + (f" ({p.code})" if p.name else ""))
                for p in self.library.list_patients()
            ]
            current = self.snapshot.patient.code if self.snapshot is not None else None
            dialog = ImportPhotosDialog(len(files), choices, current, self)
            if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.patient_code():
                files = []
            else:
                patient_code = dialog.patient_code()
                session_date = dialog.chosen_date()
        if not folders and not files:
            return False
        self.runner.submit(
            _import_job,
            self.library,
            folders,
            files,
            patient_code,
            session_date,
            label="Importing",
            heavy=True,
            on_result=self._on_import_finished,
            on_error=self._on_import_failed,
            on_cancel=lambda: self.show_message(
                "Import cancelled; the sessions already imported are kept."
            ),
        )
        return True

    def _on_import_failed(self, message: str) -> None:
        QMessageBox.warning(self, "Import", message)

    def _on_import_finished(self, result: dict[str, Any]) -> None:
        imported = int(result["imported"])
        already = int(result["already"])
        parts = [f"Imported {imported} photo{'s' if imported != 1 else ''}"]
        if already:
            parts.append(f"{already} already in the library")
        errors: list[str] = result["errors"]
        if errors:
            parts.append(f"{len(errors)} could not be read")
        self.show_message("; ".join(parts) + ".", 12000)
        select = None
        codes: list[str] = result["patients"]
        if codes:
            record = self.library.patient_by_code(codes[0])
            select = None if record is None else record.id
        self.refresh_patients(select=select)
        if select is not None and select == self.patient_id:
            self.schedule_reload()
        photo_ids: list[int] = result["photo_ids"]
        ordered = self._baseline_first(photo_ids)
        if ordered:
            self.process_photos(ordered)
        if errors:
            box = QMessageBox(
                QMessageBox.Icon.Warning, "Import", "Some files were not imported.", parent=self
            )
            box.setInformativeText("\n".join(errors[:12]) + ("\n…" if len(errors) > 12 else ""))
            box.setModal(False)
            box.show()

    def _baseline_first(self, photo_ids: Sequence[int]) -> list[int]:
        wanted = set(photo_ids)
        patients = {self.library.get_photo(i).patient_id for i in wanted}
        ordered: list[int] = []
        from scarview.store.processing import pending_photo_ids

        for patient_id in patients:
            ordered.extend(i for i in pending_photo_ids(self.library, patient_id) if i in wanted)
        return ordered

    def _import_sample(self) -> None:
        assert self.sample_dir is not None
        if self.library.has_patients():
            return
        self.import_paths([self.sample_dir])

    def import_files_dialog(self) -> None:
        """Choose photos to import."""
        names, _ = QFileDialog.getOpenFileNames(
            self,
            "Import photos",
            str(Path.home()),
            "Photos (*.jpg *.jpeg *.png *.tif *.tiff *.webp *.bmp *.heic *.heif);;All files (*)",
        )
        if names:
            self.import_paths([Path(n) for n in names])

    def import_folder_dialog(self) -> None:
        """Choose a folder to import."""
        name = QFileDialog.getExistingDirectory(self, "Import a folder", str(Path.home()))
        if name:
            self.import_paths([Path(name)])

    def new_patient_dialog(self) -> None:
        """Add a patient."""
        dialog = NewPatientDialog(self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        values = dialog.values()
        code = str(values.pop("code"))
        try:
            record = self.library.add_patient(code, **values)  # type: ignore[arg-type]
        except ScarViewError as exc:
            QMessageBox.warning(self, "New patient", str(exc))
            return
        self.patients_panel.search.clear()
        self.refresh_patients(select=record.id)
        self.show_message(
            f"Added patient {record.display_name}. Drop photos on the window to import them."
        )

    # ----------------------------------------------------------------- export

    def export_csv_dialog(self) -> None:
        """Write the patient's measurements as CSV."""
        if self.snapshot is None:
            return
        patient = self.snapshot.patient
        name, _ = QFileDialog.getSaveFileName(
            self, "Export CSV", str(Path.home() / f"{patient.code}-measurements.csv"), "CSV (*.csv)"
        )
        if name:
            self.export_csv(Path(name))

    def export_csv(self, path: Path) -> None:
        """Write the CSV in the background."""
        if self.snapshot is None:
            return
        self.runner.submit(
            self.library.export_csv,
            self.snapshot.patient.id,
            str(path),
            label="Exporting CSV",
            heavy=True,
            on_result=lambda n: self.show_message(f"Wrote {n} rows to {path}."),
            on_error=partial(self._warn, "Export CSV"),
        )

    def export_report_dialog(self) -> None:
        """Write the patient's PDF report."""
        if self.snapshot is None or not _report_available():
            return
        patient = self.snapshot.patient
        name, _ = QFileDialog.getSaveFileName(
            self, "PDF report", str(Path.home() / f"{patient.code}-report.pdf"), "PDF (*.pdf)"
        )
        if name:
            self.export_report(Path(name))

    def export_report(self, path: Path) -> None:
        """Write the PDF report in the background and open it."""
        if self.snapshot is None:
            return
        self.runner.submit(
            _export_report_job,
            self.library,
            self.snapshot.patient.id,
            str(path),
            load_settings().clinic_name,
            label="Writing the PDF report",
            heavy=True,
            on_result=self._on_report_written,
            on_error=partial(self._warn, "PDF report"),
        )

    def _on_report_written(self, path: str) -> None:
        self.show_message(f"Report written to {path}.")
        if QGuiApplication.platformName() not in ("offscreen", "minimal"):
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    # ------------------------------------------------------------------ tools

    def set_tool(self, tool: str) -> None:
        """Switch the tool: ``navigate``, ``roi``, ``add_scar``, ``calibrate`` or ``points``."""
        if tool == "points" and not self._start_manual_alignment():
            tool = "navigate"
        if self.tool == "points" and tool != "points":
            self.comparison.set_manual_alignment(False)
            self.comparison.clear_markers()
        self.tool = tool
        self.tool_actions[tool].setChecked(True)
        if tool == "roi":
            self.comparison.roi_action.setChecked(True)  # show the region being edited
        self.comparison.set_tool(tool)
        hint = TOOL_HINTS.get(tool, "")
        self.tool_hint.setText(hint)
        self.tool_bar_widget.setVisible(bool(hint))
        manual = tool == "points"
        self.align_model.setVisible(manual)
        self.align_undo_point.setVisible(manual)
        self.tool_apply.setVisible(manual)
        self.tool_cancel.setText("Cancel" if manual else "Done")
        if manual:
            self._update_align_bar()

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Escape:
            if self.comparison.cancel_sketch():
                return
            if self.tool != "navigate":
                self.set_tool("navigate")
                return
            if self.selection is not None:
                self.selection = None
                self.comparison.set_selection(None, 0)
                self._update_actions()
                return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.comparison.finish_sketch():
            return
        super().keyPressEvent(event)

    def _photo_of_role(self, role: str) -> PhotoResult | None:
        pair = self.pair()
        if pair is None:
            return None
        return pair[0] if role in ("before", "difference") else pair[1]

    def _on_canvas_cursor_moved(self, role: str, xy: Any) -> None:
        result = self._photo_of_role(role)
        if result is None:
            self.cursor_text.clear()
            return
        text = f"{xy.x():.0f}, {xy.y():.0f} px"
        if result.px_per_mm:
            text += f"  ·  {xy.x() / result.px_per_mm:.1f}, {xy.y() / result.px_per_mm:.1f} mm"
        self.cursor_text.setText(text)

    def _on_comparison_scar_clicked(self, role: str, scar_id: int) -> None:
        self.selection = (role, scar_id) if scar_id > 0 else None
        scar = self._selected_scar()
        if scar is not None:
            _result, s = scar
            area = "" if s.area_mm2 is None else f", {s.area_mm2:.2f} mm²"
            diameter = "" if s.diameter_mm is None else f", ⌀ {s.diameter_mm:.2f} mm"
            source = " (drawn by hand)" if s.source == "manual" else ""
            self.show_message(
                f"{TYPE_TITLES.get(s.type, s.type)} scar{source}{area}{diameter}, confidence "
                f"{s.confidence:.2f}. Del removes it; Alt+1/2/3 changes its type."
            )
        self._update_actions()

    def _selected_scar(self) -> tuple[PhotoResult, Any] | None:
        if self.selection is None:
            return None
        role, scar_id = self.selection
        result = self._photo_of_role(role)
        if result is None:
            return None
        scar = result.scar(scar_id)
        return None if scar is None else (result, scar)

    def _push(self, edits: list[CorrectionEdit], text: str) -> None:
        self.undo_stack.push(
            CorrectionCommand(
                self.library, edits, text, self._on_corrections_changed, self._on_task_error
            )
        )

    def _on_corrections_changed(self, photo_ids: set[int]) -> None:
        self.selection = None
        self.comparison.set_selection(None, 0)
        self.schedule_reload()
        self.process_photos(sorted(photo_ids), urgent=True)

    @staticmethod
    def _scar_point(scar: Any) -> list[float]:
        """A point inside the scar naming it in a correction (a crescent's centroid is not)."""
        x, y = interior_point(scar.contour, scar.centroid_xy)
        return [round(x, 2), round(y, 2)]

    def remove_selected_scar(self) -> None:
        """Remove the selected scar (a correction, undoable)."""
        selected = self._selected_scar()
        if selected is None:
            return
        result, scar = selected
        payload = {"centroid_xy": self._scar_point(scar), "scar_id": scar.id}
        self._push([CorrectionEdit(result.photo.id, "remove_scar", payload)], "Remove scar")
        self.show_message("Scar removed. Ctrl+Z brings it back.")

    def retype_selected_scar(self, scar_type: str) -> None:
        """Change the selected scar's type (a correction, undoable)."""
        selected = self._selected_scar()
        if selected is None or selected[1].type == scar_type:
            return
        result, scar = selected
        payload = {"centroid_xy": self._scar_point(scar), "scar_id": scar.id, "type": scar_type}
        self._push(
            [CorrectionEdit(result.photo.id, "scar_type", payload)],
            f"Mark scar as {TYPE_TITLES[scar_type].lower()}",
        )

    def revert_correction(self, correction_id: int) -> None:
        """Revert a correction from the corrections list (undoable)."""
        snapshot = self.snapshot
        if snapshot is None:
            return
        for entry in snapshot.sessions:
            for result in entry.photos:
                for c in result.corrections:
                    if c.id == correction_id:
                        self.undo_stack.push(
                            RevertCorrectionCommand(
                                self.library,
                                correction_id,
                                result.photo.id,
                                f"Revert: {self._describe(c.kind, c.payload)}",
                                self._on_corrections_changed,
                                self._on_task_error,
                            )
                        )
                        return

    def _on_comparison_polygon_drawn(self, role: str, points: list[tuple[float, float]]) -> None:
        result = self._photo_of_role(role)
        if result is None or len(points) < 3:
            return
        polygon = [[round(x, 2), round(y, 2)] for x, y in points]
        if self.tool == "add_scar":
            self._push(
                [CorrectionEdit(result.photo.id, "add_scar", {"contour": polygon, "type": None})],
                "Add scar",
            )
            self.show_message("Scar added (typed from its size and shading). Ctrl+Z removes it.")
        elif self.tool == "roi":
            self.set_roi(result, polygon)

    def set_roi(self, drawn_on: PhotoResult, polygon: list[list[float]]) -> None:
        """Record a region of interest on a photo and carry it to the view's other sessions."""
        snapshot = self.snapshot
        if snapshot is None or self.view_key is None:
            return
        edits = [CorrectionEdit(drawn_on.photo.id, "roi", {"polygon": polygon})]
        H_drawn = self._to_baseline(drawn_on)
        skipped: list[str] = []
        if H_drawn is not None:
            from scarview.core.align import warp_points

            in_base = warp_points(H_drawn, np.asarray(polygon, dtype=np.float64))
            for entry in snapshot.sessions:
                other = entry.photo(self.view_key)
                if other is None or other.photo.id == drawn_on.photo.id:
                    continue
                H_other = self._to_baseline(other)
                if H_other is None:
                    skipped.append(entry.title)
                    continue
                carried = warp_points(np.linalg.inv(H_other), in_base)
                edits.append(
                    CorrectionEdit(
                        other.photo.id,
                        "roi",
                        {
                            "polygon": [
                                [round(float(x), 2), round(float(y), 2)] for x, y in carried
                            ],
                            "carried_from": drawn_on.photo.id,
                        },
                    )
                )
        self._push(edits, "Draw region of interest")
        text = f"Region of interest set on {len(edits)} session{'s' if len(edits) != 1 else ''}"
        if skipped:
            text += f"; not carried to {', '.join(skipped)} (not aligned)"
        self.show_message(text + ". The photos are measured again inside it.")

    def clear_roi(self) -> None:
        """Measure the whole photos of this view again."""
        snapshot = self.snapshot
        if snapshot is None or self.view_key is None:
            return
        edits = [
            CorrectionEdit(r.photo.id, "roi", {"polygon": None})
            for e in snapshot.sessions
            if (r := e.photo(self.view_key)) is not None and r.roi is not None
        ]
        if edits:
            self._push(edits, "Clear region of interest")

    @staticmethod
    def _to_baseline(result: PhotoResult) -> np.ndarray | None:
        """This photo's pixels -> its baseline photo's pixels (identity for a baseline)."""
        record = result.alignment
        if record is None:
            return np.eye(3)
        a = record.alignment
        if not a.ok or a.homography is None:
            return None
        return np.asarray(a.homography, dtype=np.float64)

    def _on_comparison_segment_drawn(
        self, role: str, p1: tuple[float, float], p2: tuple[float, float]
    ) -> None:
        result = self._photo_of_role(role)
        if result is None:
            return
        distance_px = float(np.hypot(p2[0] - p1[0], p2[1] - p1[1]))
        dialog = CalibrationDialog(distance_px, load_settings().marker_mm, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.calibrate(result, p1, p2, dialog.distance_mm())

    def calibrate(
        self,
        result: PhotoResult,
        p1: tuple[float, float],
        p2: tuple[float, float],
        distance_mm: float,
    ) -> None:
        """Record a manual scale from two points ``distance_mm`` apart on the skin."""
        try:
            calibration = calibration_from_points(p1, p2, distance_mm)
        except ValueError as exc:
            self.show_message(str(exc))
            return
        payload = {
            "px_per_mm": calibration.px_per_mm,
            "uncertainty_pct": calibration.uncertainty_pct,
            "points": [[p1[0], p1[1]], [p2[0], p2[1]]],
            "distance_mm": distance_mm,
        }
        self._push([CorrectionEdit(result.photo.id, "calibration", payload)], "Calibrate scale")
        self.show_message(
            f"Scale set to {calibration.px_per_mm:.2f} px/mm "
            f"(±{calibration.uncertainty_pct:.1f} %); the photo is measured again."
        )
        self.set_tool("navigate")

    # ------------------------------------------------------- manual alignment

    def _start_manual_alignment(self) -> bool:
        snapshot = self.snapshot
        pair = self.pair()
        if snapshot is None or pair is None or self.view_key is None:
            return False
        after = pair[1]
        baseline = snapshot.baseline(self.view_key)
        if baseline is None or after.photo.id == baseline.photo.id:
            self.show_message(
                "Choose a later session on the right to align it onto the baseline by hand."
            )
            return False
        if self.before_session_id != snapshot.sessions[0].session.id:
            self.before_session_id = snapshot.sessions[0].session.id
            self._show_snapshot()
            self._ensure_pair()
        self.align_after = []
        self.align_before = []
        self.comparison.set_manual_alignment(True)
        self.comparison.clear_markers()
        return True

    def _on_comparison_point_clicked(self, role: str, xy: tuple[float, float]) -> None:
        if self.tool != "points":
            return
        if role == "after" and len(self.align_after) == len(self.align_before):
            self.align_after.append(xy)
        elif role == "before" and len(self.align_before) < len(self.align_after):
            self.align_before.append(xy)
        else:
            side = (
                "later photo (right)"
                if len(self.align_after) == len(self.align_before)
                else "baseline (left)"
            )
            self.show_message(f"Now click the matching point on the {side}.")
            return
        self._update_align_bar()

    def _on_align_undo_point_clicked(self) -> None:
        if len(self.align_after) > len(self.align_before):
            self.align_after.pop()
        elif self.align_before:
            self.align_before.pop()
        self._update_align_bar()

    def _update_align_bar(self) -> None:
        self.comparison.set_markers("after", self.align_after, "#38BDF8")
        self.comparison.set_markers("before", self.align_before, "#38BDF8")
        pairs = min(len(self.align_after), len(self.align_before))
        need = 3 if self.align_model.currentData() == "similarity" else 4
        waiting = (
            "later photo (right)"
            if len(self.align_after) == len(self.align_before)
            else "baseline (left)"
        )
        self.tool_hint.setText(
            f"{TOOL_HINTS['points']}  {pairs} pair{'s' if pairs != 1 else ''} so far; "
            f"next: the {waiting}."
        )
        self.tool_apply.setEnabled(
            pairs >= need and len(self.align_after) == len(self.align_before)
        )
        self.align_undo_point.setEnabled(bool(self.align_after))

    def _on_tool_apply_clicked(self) -> None:
        if self.tool == "points":
            self.apply_manual_alignment()

    def apply_manual_alignment(self) -> None:
        """Store the hand alignment from the clicked pairs (undoable)."""
        pair = self.pair()
        if pair is None:
            return
        after = pair[1]
        model = str(self.align_model.currentData())
        try:
            alignment = align_from_points(
                np.asarray(self.align_after),
                np.asarray(self.align_before),
                model=model,  # type: ignore[arg-type]
            )
        except ValueError as exc:
            self.show_message(str(exc))
            return
        payload = {
            "after_xy": [[float(x), float(y)] for x, y in self.align_after],
            "before_xy": [[float(x), float(y)] for x, y in self.align_before],
            "model": model,
        }
        worst = max(alignment.residuals_px) if alignment.residuals_px else 0.0
        self._push([CorrectionEdit(after.photo.id, "alignment_points", payload)], "Align by hand")
        self.set_tool("navigate")
        self.show_message(
            f"Aligned by hand: RMSE {alignment.rmse_px or 0:.2f} px, worst pair {worst:.2f} px"
            + (f". {alignment.warnings[0]}" if alignment.warnings else ".")
        )

    # ------------------------------------------------------------------- help

    def show_shortcuts(self) -> None:
        """List every keyboard shortcut."""
        actions = [a for a in self.findChildren(QAction) if not a.shortcut().isEmpty()]
        seen: set[str] = set()
        unique = []
        for a in actions:
            if a.text() not in seen:
                seen.add(a.text())
                unique.append(a)
        ShortcutsDialog(unique, self).exec()

    def show_about(self) -> None:
        """Version and purpose."""
        QMessageBox.about(
            self,
            "About ScarView",
            f"<b>ScarView {__version__}</b><p>Measures atrophic (pitted) acne scars in clinical "
            "photos across treatment sessions: outlines them, measures their area in mm², "
            "aligns the sessions and charts the change.</p>"
            f"<p>Library: {self.library.root}</p>",
        )

    # ----------------------------------------------------------------- close

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.save_layout()
        self._reload_timer.stop()
        self.comparison.stop_animations()
        # Work in progress stops at its next cancel check (what was saved stays saved);
        # the window disappears at once rather than while it waits.
        self.hide()
        if not self.runner.shutdown():
            log.warning("Background work did not stop in time; closing anyway.")
        if self.owns_library:
            self.library.close()
        super().closeEvent(event)


def _render_chart_image(
    points: list[ChartPoint], style: ChartStyle, width: int, height: int, dpr: float
) -> QImage:
    """Render the chart (worker thread) and wrap it as a QImage with its device pixel ratio."""
    rgba = render_trend_chart(points, style, width_px=width, height_px=height, dpr=dpr)
    image = array_to_qimage(rgba, fast=True)
    image.setDevicePixelRatio(dpr)
    return image


__all__ = ["MainWindow", "classify_folder", "gui_settings"]
