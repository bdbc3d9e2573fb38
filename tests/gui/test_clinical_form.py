"""The session record dialog and the score-trend chart, driven like a clinician would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLineEdit, QPlainTextEdit
from pytestqt.qtbot import QtBot

from scarview.core.grading import (
    EccaInput,
    GoodmanBaronInput,
    PatientReportedOutcome,
    SessionGrades,
    TreatmentRecord,
)
from scarview.core.types import Calibration
from scarview.gui.clinical import ScoreTrendWidget, SessionRecordDialog, render_score_trend
from scarview.gui.qimage import qimage_to_array
from scarview.gui.theme import LIGHT
from scarview.store import Library
from scarview.store.clinical import (
    grade_trend,
    grades_history,
    grades_of,
    save_grades,
    save_treatment,
    treatment_history,
    treatment_of,
)
from tests.store.helpers import make_clinic_folder, make_scarmap


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = Library.open(tmp_path / "library")
    yield lib
    lib.close()


@pytest.fixture
def session_id(library: Library) -> int:
    patient = library.add_patient("P1", name="Test Patient")
    return library.add_session(patient.id, date(2026, 2, 2)).id


@pytest.fixture
def dialog(qtbot: QtBot, library: Library, session_id: int) -> SessionRecordDialog:
    widget = SessionRecordDialog(library, session_id)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _type(qtbot, edit: QLineEdit | QPlainTextEdit, text: str) -> None:
    edit.clear()
    qtbot.keyClicks(edit, text)


def _choose(combo: QComboBox, data: object) -> None:
    index = combo.findData(data)
    assert index >= 0
    combo.setCurrentIndex(index)


def test_fill_both_forms_and_save(
    qtbot: QtBot, dialog: SessionRecordDialog, library: Library
) -> None:
    session_id = dialog.session_id
    assert not dialog.error_label.isVisible()
    qtbot.mouseClick(dialog.procedure_checks["microneedling"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.procedure_checks["prp"], Qt.MouseButton.LeftButton)
    _type(qtbot, dialog.device_edit, "Dermapen 4")
    _type(qtbot, dialog.needle_depth_edit, "1.5")
    _type(qtbot, dialog.passes_edit, "4")
    dialog.anaesthesia_combo.setCurrentText("Topical anaesthetic cream")
    _type(qtbot, dialog.clinician_edit, "Dr Ngata")
    _type(qtbot, dialog.reactions_edit, "pinpoint bleeding")
    _type(qtbot, dialog.erythema_days_edit, "3")
    qtbot.mouseClick(dialog.pih_check, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(dialog.notes_edit, "Tolerated well.")

    dialog.tabs.setCurrentIndex(1)
    _choose(dialog.gb_qualitative_combo, 3)
    _type(qtbot, dialog.gb_count_edits["punched_out_deep_abnormal"], "25")
    _type(qtbot, dialog.gb_count_edits["punched_out_shallow"], "8")
    assert dialog.gb_total_label.text() == "11 / 84"
    assert dialog.gb_score_labels["punched_out_deep_abnormal"].text() == "9"
    _choose(dialog.ecca_combos["v_shaped"], 3)
    _choose(dialog.ecca_combos["u_shaped"], 2)
    assert dialog.ecca_total_label.text() == "85 / 540"
    dialog.pro_instrument_combo.setCurrentText("DLQI")
    assert (dialog.pro_min_edit.text(), dialog.pro_max_edit.text()) == ("0", "30")
    _type(qtbot, dialog.pro_score_edit, "4")

    assert dialog.errors() == []
    assert dialog.save_button.isEnabled()
    with qtbot.waitSignal(dialog.record_saved, timeout=2000) as saved:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert saved.args == [session_id]
    assert not dialog.isVisible()

    assert treatment_of(library, session_id) == TreatmentRecord(
        procedures=("microneedling", "prp"),
        device="Dermapen 4",
        needle_depth_mm=1.5,
        passes=4,
        anaesthesia="Topical anaesthetic cream",
        clinician="Dr Ngata",
        immediate_reactions="pinpoint bleeding",
        erythema_days=3,
        pih=True,
        notes="Tolerated well.",
    )
    assert grades_of(library, session_id) == SessionGrades(
        gb_qualitative=3,
        gb_quantitative=GoodmanBaronInput(punched_out_deep_abnormal=25, punched_out_shallow=8),
        ecca=EccaInput(v_shaped=3, u_shaped=2),
        pro=PatientReportedOutcome("DLQI", 4),
    )


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("needle_depth_edit", "3.5", "needle depth must be from 0.1 to 3.0 mm; 3.5 mm"),
        ("needle_depth_edit", "0.05", "0.05 mm was entered"),
        ("needle_depth_edit", "deep", "needle depth must be a number in mm"),
        ("passes_edit", "0", "number of passes must be a whole number from 1 to 20"),
        ("erythema_days_edit", "2.5", "days of erythema must be a whole number"),
    ],
)
def test_out_of_range_treatment_is_refused_with_a_message(
    qtbot: QtBot, dialog: SessionRecordDialog, library: Library, field: str, text: str, message: str
) -> None:
    qtbot.mouseClick(dialog.procedure_checks["microneedling"], Qt.MouseButton.LeftButton)
    edit = getattr(dialog, field)
    _type(qtbot, edit, text)
    assert dialog.error_label.isVisible()
    assert message in dialog.error_label.text()
    assert edit.property("invalid") is True
    assert not dialog.save_button.isEnabled()
    with pytest.raises(ValueError, match=message.split(";")[0][:20]):
        dialog.treatment()
    dialog._on_save_clicked()  # even a forced save writes nothing
    assert dialog.isVisible()
    assert treatment_history(library, dialog.session_id) == ()
    # Correcting the field clears the message.
    _type(qtbot, edit, "2")
    assert not dialog.error_label.isVisible()
    assert not edit.property("invalid")
    assert dialog.save_button.isEnabled()


def test_out_of_range_grades_are_refused_with_a_message(
    qtbot: QtBot, dialog: SessionRecordDialog
) -> None:
    dialog.tabs.setCurrentIndex(1)
    edit = dialog.gb_count_edits["macular"]
    _type(qtbot, edit, "-2")
    assert "cannot be negative" in dialog.error_label.text()
    assert dialog.gb_total_label.text() == "— / 84"
    _type(qtbot, edit, "2")
    _type(qtbot, dialog.keloid_area_edit, "-1")
    assert "keloidal or hypertrophic scar area cannot be negative" in dialog.error_label.text()
    _type(qtbot, dialog.keloid_area_edit, "")
    dialog.pro_instrument_combo.setCurrentText("DLQI")
    _type(qtbot, dialog.pro_score_edit, "31")
    assert "A DLQI score must be from 0 to 30; 31 was entered." in dialog.error_label.text()
    assert not dialog.save_button.isEnabled()
    _type(qtbot, dialog.pro_score_edit, "30")
    dialog.pro_instrument_combo.setCurrentText("How do your scars make you feel at work?")
    assert "never the text of its questions" in dialog.error_label.text()
    dialog.pro_instrument_combo.setCurrentText("DLQI")
    assert dialog.errors() == []
    assert dialog.grades().pro == PatientReportedOutcome("DLQI", 30)


def test_calculator_follows_the_count_band_edges(qtbot: QtBot, dialog: SessionRecordDialog) -> None:
    edit = dialog.gb_count_edits["deep_broad"]  # 3 points
    expected = {"10": (1, 3), "11": (2, 6), "20": (2, 6), "21": (3, 9), "0": (0, 0)}
    for text, (multiplier, score) in expected.items():
        _type(qtbot, edit, text)
        assert dialog.gb_multiplier_labels["deep_broad"].text() == str(multiplier)
        assert dialog.gb_score_labels["deep_broad"].text() == str(score)
        assert dialog.gb_total_label.text() == f"{score} / 84"
    for key in dialog.gb_count_edits:
        _type(qtbot, dialog.gb_count_edits[key], "21")
    _type(qtbot, dialog.keloid_area_edit, "25")
    assert dialog.keloid_score_label.text() == "18"
    assert dialog.gb_total_label.text() == "84 / 84"
    for combo in dialog.ecca_combos.values():
        _choose(combo, 3)
    assert dialog.ecca_total_label.text() == "540 / 540"


def test_suggestion_is_marked_until_edited_or_accepted(
    qtbot: QtBot, library: Library, session_id: int, tmp_path: Path
) -> None:
    empty = SessionRecordDialog(library, session_id)
    qtbot.addWidget(empty)
    qtbot.mouseClick(empty.suggest_button, Qt.MouseButton.LeftButton)
    assert "nothing to suggest" in empty.suggest_info.text()
    empty.close()

    library.import_folder(make_clinic_folder(tmp_path / "clinic", patients=1, sessions=1, views=1))
    patient = library.find_patient("P000")
    (session,) = library.sessions_of(patient.id)
    (photo,) = library.photos_of(session.id)
    scarmap = make_scarmap(photo.height, photo.width, 5)
    library.save_analysis(photo.id, scarmap, Calibration(10.0, "marker"), {}, "v1")
    counts = {t: s.count for t, s in scarmap.summary.by_type.items()}

    dialog = SessionRecordDialog(library, session.id)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.tabs.setCurrentIndex(1)
    qtbot.mouseClick(dialog.suggest_button, Qt.MouseButton.LeftButton)
    assert "review every value" in dialog.suggest_info.text()
    icepick = dialog.gb_count_edits["punched_out_deep_abnormal"]
    assert icepick.text() == str(counts["icepick"])
    assert dialog.is_suggested("gb", "punched_out_deep_abnormal")
    assert dialog.gb_suggested_labels["punched_out_deep_abnormal"].isVisible()
    assert icepick.property("suggested") is True
    assert not dialog.is_suggested("gb", "macular")
    assert dialog.is_suggested("ecca", "m_shaped")
    assert dialog.gb_accept_button.isVisible()

    # Editing a suggested value makes it the clinician's own.
    _type(qtbot, icepick, "4")
    assert not dialog.is_suggested("gb", "punched_out_deep_abnormal")
    assert not dialog.gb_suggested_labels["punched_out_deep_abnormal"].isVisible()
    assert not icepick.property("suggested")
    assert dialog.is_suggested("gb", "moderate_dish")
    # Accepting the ECCA suggestion as reviewed clears all of its marks.
    qtbot.mouseClick(dialog.ecca_accept_button, Qt.MouseButton.LeftButton)
    assert not any(dialog.is_suggested("ecca", k) for k in dialog.ecca_combos)
    assert not dialog.ecca_accept_button.isVisible()

    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    grades = grades_of(library, session.id)
    assert grades is not None and grades.gb_quantitative is not None
    assert grades.gb_quantitative.punched_out_deep_abnormal == 4
    assert "punched_out_deep_abnormal" not in grades.gb_quantitative_suggested
    assert "moderate_dish" in grades.gb_quantitative_suggested
    assert grades.ecca_suggested == frozenset()
    (point,) = grade_trend(library, patient.id)
    assert point.gb_quantitative_suggested and not point.ecca_suggested

    # Reopened, the remaining marks are still shown.
    again = SessionRecordDialog(library, session.id)
    qtbot.addWidget(again)
    assert again.is_suggested("gb", "moderate_dish")
    assert not again.is_suggested("gb", "punched_out_deep_abnormal")


def test_saved_record_is_loaded_and_unchanged_save_adds_nothing(
    qtbot: QtBot, library: Library, session_id: int
) -> None:
    record = TreatmentRecord(
        procedures=("microneedling", "other"),
        other_procedure="Fractional CO2",
        needle_depth_mm=2.0,
        passes=3,
        tram_track=True,
    )
    grades = SessionGrades(gb_qualitative=2, ecca=EccaInput(m_shaped=1))
    save_treatment(library, session_id, record)
    save_grades(library, session_id, grades)
    dialog = SessionRecordDialog(library, session_id)
    qtbot.addWidget(dialog)
    assert dialog.procedure_checks["other"].isChecked()
    assert dialog.other_procedure_edit.text() == "Fractional CO2"
    assert dialog.other_procedure_edit.isEnabled()
    assert dialog.needle_depth_edit.text() == "2"
    assert dialog.tram_track_check.isChecked()
    assert dialog.gb_qualitative_combo.currentData() == 2
    assert dialog.gb_total_label.text() == "— / 84"
    assert dialog.ecca_total_label.text() == "25 / 540"
    assert dialog.treatment() == record and dialog.grades() == grades
    dialog._on_save_clicked()
    assert len(treatment_history(library, session_id)) == 1
    assert len(grades_history(library, session_id)) == 1


def _accent_pixels(rgba: np.ndarray) -> int:
    accent = np.array([int(LIGHT.accent[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgba[..., :3].astype(int) - accent).sum(axis=-1) < 30).sum())


def test_score_trend_shows_the_chosen_score(qtbot: QtBot, library: Library, tmp_path: Path) -> None:
    library.import_folder(make_clinic_folder(tmp_path / "clinic", patients=1, sessions=3, views=1))
    patient = library.find_patient("P000")
    sessions = library.sessions_of(patient.id)
    for index, session in enumerate(sessions):
        (photo,) = library.photos_of(session.id)
        scarmap = make_scarmap(photo.height, photo.width, 10 + index)
        library.save_analysis(photo.id, scarmap, Calibration(10.0, "marker"), {}, "v1")
    save_grades(
        library,
        sessions[0].id,
        SessionGrades(gb_quantitative=GoodmanBaronInput(punched_out_deep_abnormal=25)),
    )
    save_grades(
        library,
        sessions[2].id,
        SessionGrades(
            gb_quantitative=GoodmanBaronInput(punched_out_deep_abnormal=8),
            ecca=EccaInput(v_shaped=2),
            gb_quantitative_suggested=frozenset({"punched_out_deep_abnormal"}),
        ),
    )

    widget = ScoreTrendWidget()
    qtbot.addWidget(widget)
    widget.resize(520, 300)
    widget.show()
    qtbot.waitExposed(widget)
    widget.load(library, patient.id)
    assert widget.score() == "gb_quantitative"
    dates = [s.session_date for s in sessions]
    assert widget.series() == [
        (dates[0], sessions[0].label, 9, False),
        (dates[1], sessions[1].label, None, False),
        (dates[2], sessions[2].label, 3, True),
    ]
    image = qimage_to_array(widget.image())
    assert image.shape[0] >= 160 and image.shape[1] >= 240
    assert _accent_pixels(image) > 50  # the score line and its markers
    assert widget.chart_label.pixmap() is not None and not widget.chart_label.pixmap().isNull()

    with qtbot.waitSignal(widget.score_changed, timeout=2000) as changed:
        widget.set_score("ecca")
    assert changed.args == ["ecca"]
    assert [value for _, _, value, _ in widget.series()] == [None, None, 30]
    # Nothing recorded for the patient-reported outcome: no line, a sentence instead.
    widget.set_score("pro")
    assert all(value is None for _, _, value, _ in widget.series())
    assert _accent_pixels(qimage_to_array(widget.image())) == 0


def test_render_score_trend_draws_area_bars_only_when_asked() -> None:
    from scarview.store.clinical import GradeTrendPoint

    points = [
        GradeTrendPoint(1, date(2026, 1, 5), "a", gb_quantitative=20, area_mm2=30.0),
        GradeTrendPoint(2, date(2026, 2, 5), "b", gb_quantitative=14, area_mm2=22.0),
    ]
    with_area = render_score_trend(points, "gb_quantitative", width_px=400, height_px=240)
    without = render_score_trend(
        points, "gb_quantitative", width_px=400, height_px=240, show_area=False
    )
    assert with_area.shape == (240, 400, 4) and with_area.dtype == np.uint8
    grid = np.array([int(LIGHT.grid[i : i + 2], 16) for i in (1, 3, 5)])

    def bar_pixels(rgba: np.ndarray) -> int:
        return int((np.abs(rgba[..., :3].astype(int) - grid).sum(axis=-1) < 6).sum())

    assert bar_pixels(with_area) > 5 * bar_pixels(without) + 1000


def test_score_trend_draws_on_the_task_runner(qtbot: QtBot) -> None:
    from scarview.gui.workers import TaskRunner
    from scarview.store.clinical import GradeTrendPoint

    runner = TaskRunner()
    try:
        widget = ScoreTrendWidget(runner=runner)
        qtbot.addWidget(widget)
        widget.resize(480, 280)
        widget.show()
        points = [
            GradeTrendPoint(1, date(2026, 1, 5), "a", ecca=120),
            GradeTrendPoint(2, date(2026, 2, 5), "b", ecca=80, ecca_suggested=True),
        ]
        with qtbot.waitSignal(widget.chart_drawn, timeout=10_000):
            widget.set_points(points)
        first = qimage_to_array(widget.image())
        with qtbot.waitSignal(widget.chart_drawn, timeout=10_000):
            widget.set_score("ecca")
        second = qimage_to_array(widget.image())
        assert widget.series() == [
            (date(2026, 1, 5), "a", 120, False),
            (date(2026, 2, 5), "b", 80, True),
        ]
        assert _accent_pixels(first) == 0 < _accent_pixels(second)
    finally:
        assert runner.shutdown(10_000)
