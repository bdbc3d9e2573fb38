"""The treatment log and clinical scores in the PDF report, read back with pypdf."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from scarview.core.grading import (
    ECCA_MAX,
    GB_QUANTITATIVE_MAX,
    EccaInput,
    GoodmanBaronInput,
    PatientReportedOutcome,
    SessionGrades,
    TreatmentRecord,
)
from scarview.report import ClinicalSession, ReportData, render_report, render_report_bytes
from scarview.report import pdf as pdf_module
from scarview.report.charts import TrendPanel, score_trend_layout, score_trend_png
from scarview.report.data import SessionReport
from scarview.report.from_library import report_data_from_library
from scarview.report.pdf import (
    CLINICAL_HEADING,
    DEIDENTIFIED_NOTICE,
    NOTHING_RECORDED,
    SUGGESTED_MARK,
    SUGGESTED_NOTICE,
)
from scarview.report.style import fmt_area, fmt_depth_mm, fmt_score
from scarview.store import Library

from .conftest import CLINICIAN, GRADES, TREATMENTS
from .helpers import pdf_all_bytes, pdf_pages, pdf_text

CLINIC = "Northside Dermatology Clinic"
#: Every name or sentence typed as free text into the ``treated`` patient's record.
FREE_TEXT_SECRETS = (
    CLINICIAN,
    "Hildegard",
    "Bertrand Okafor",
    "Rosalind Pemberton",
    "Marguerite Delacroix",
    "Ignatius Farquhar",
    "Pinpoint bleeding",
    "Itching reported",
    "avoid retinoids",
    "Subcision of two rolling scars",
)


def _render(library: Library, code: str, out: Path, *, deidentify: bool = False) -> Path:
    data = report_data_from_library(library, code, deidentify=deidentify, clinic_name=CLINIC)
    return render_report(data, out)


def _clinical_section(text: str) -> str:
    """The report's text from the clinical heading to the next top-level section."""
    assert text.count(CLINICAL_HEADING) == 1
    start = text.index(CLINICAL_HEADING)
    ends = [
        text.find(h, start)
        for h in ("Session comparisons", "Baseline photograph", "How these figures were measured")
    ]
    return text[start : min(e for e in ends if e > 0)]


def _log_chunks(section: str, labels: list[str]) -> dict[str, str]:
    """Split the treatment log into one chunk of text per session, by its dated heading."""
    log = section[section.index("Treatment log", len(CLINICAL_HEADING)) :]
    starts = []
    for label in labels:
        found = re.search(re.escape(label) + r" · (week|day) \d+", log)
        assert found is not None, label
        starts.append(found.start())
    assert starts == sorted(starts), "sessions are listed oldest first"
    bounds = [*starts, len(log)]
    return {label: log[bounds[i] : bounds[i + 1]] for i, label in enumerate(labels)}


def _labels(library: Library, code: str) -> list[str]:
    patient = library.find_patient(code)
    return [s.label for s in library.sessions_of(patient.id)]


def _score_texts(grades: SessionGrades) -> tuple[str, str]:
    gb = grades.gb_quantitative_result
    ecca = grades.ecca_result
    assert gb is not None and ecca is not None
    return fmt_score(gb.total, GB_QUANTITATIVE_MAX), fmt_score(ecca.total, ECCA_MAX)


# ------------------------------------------------------------------ from the library


def test_report_data_holds_every_session_clinical_record(sample_library: Library) -> None:
    data = report_data_from_library(sample_library, "treated", clinic_name=CLINIC)
    labels = _labels(sample_library, "treated")
    assert [c.label for c in data.clinical] == labels
    assert data.has_clinical_data
    for entry in data.clinical:
        assert entry.treatment == TREATMENTS.get(entry.label)
        assert entry.has_grades == (entry.label in GRADES)
        assert entry.has_record == (entry.label in TREATMENTS or entry.label in GRADES)
    plain = report_data_from_library(sample_library, "demo-patient", clinic_name=CLINIC)
    assert len(plain.clinical) == 4 and not plain.has_clinical_data


def test_each_session_procedure_depth_and_scores_appear_with_their_date(
    sample_library: Library, tmp_path: Path
) -> None:
    text = pdf_text(_render(sample_library, "treated", tmp_path / "treated.pdf"))
    section = _clinical_section(text)
    labels = _labels(sample_library, "treated")
    chunks = _log_chunks(section, labels)
    for label, chunk in chunks.items():
        treatment = TREATMENTS.get(label)
        grades = GRADES.get(label)
        if treatment is None and grades is None:
            assert NOTHING_RECORDED in chunk, label
            assert "/ 84" not in chunk and "Needle depth" not in chunk
            continue
        if treatment is not None:
            assert treatment.procedure_text in chunk, label
            assert f"Needle depth {fmt_depth_mm(treatment.needle_depth_mm)}" in chunk, label
            assert f"Passes {treatment.passes}" in chunk, label
            assert treatment.device in chunk, label
            assert CLINICIAN in chunk
            for event in treatment.adverse_events:
                assert event in chunk, (label, event)
        else:
            assert "No treatment recorded." in chunk
        if grades is not None:
            gb, ecca = _score_texts(grades)
            assert f"G&B quantitative {gb}" in chunk, label
            assert f"ECCA {ecca}" in chunk, label
            assert f"G&B qualitative {grades.gb_qualitative} · " in chunk, label
            assert grades.pro is not None
            assert f"{grades.pro.total_score:g} (range 0–100)" in chunk
            assert grades.pro.instrument in chunk
    # The notes are printed (this report is not de-identified).
    assert "Marguerite Delacroix" in section and "avoid retinoids" in section
    # The scores-by-session table: one row per session, with the measured area beside.
    data = report_data_from_library(sample_library, "treated", clinic_name=CLINIC)
    table = section[section.index("Scores by session") : section.index("Treatment log", 40)]
    for label in labels:
        area = data.session_area_mm2(date.fromisoformat(label), label, data.main_view)
        row = re.search(re.escape(label) + r" week \d+ " + re.escape(fmt_area(area)), table)
        assert row is not None, label
        grades = GRADES.get(label)
        if grades is not None:
            gb, ecca = _score_texts(grades)
            assert gb in table[row.end() :] and ecca in table[row.end() :]


def test_suggested_scores_are_marked_as_suggested(sample_library: Library, tmp_path: Path) -> None:
    text = pdf_text(_render(sample_library, "treated", tmp_path / "treated.pdf"))
    section = _clinical_section(text)
    chunks = _log_chunks(section, _labels(sample_library, "treated"))
    assert " ".join(SUGGESTED_NOTICE.split()[:8]) in section
    for label, grades in GRADES.items():
        gb, ecca = _score_texts(grades)
        chunk = chunks[label]
        for score, suggested in (
            (gb, bool(grades.gb_quantitative_suggested)),
            (ecca, bool(grades.ecca_suggested)),
        ):
            marked = f"{score} {SUGGESTED_MARK}" in chunk
            assert marked == suggested, (label, score)
    # The clinician-entered scores carry no mark anywhere near them.
    assert chunks["2026-03-02"].count(SUGGESTED_MARK) == 0
    # The summary table marks them too: every "suggested" follows a suggested score.
    table = section[section.index("Scores by session") : section.index("Treatment log", 40)]
    suggested_in_table = sum(
        bool(g.gb_quantitative_suggested) + bool(g.ecca_suggested) for g in GRADES.values()
    )
    assert table.count(SUGGESTED_MARK) == suggested_in_table


def test_suggested_scores_are_never_charted(
    sample_library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[list[float], list[TrendPanel]]] = []
    original = pdf_module.score_trend_png

    def spy(x: Any, panels: Any, **kw: Any) -> bytes:
        seen.append((list(x), list(panels)))
        return original(x, panels, **kw)

    monkeypatch.setattr(pdf_module, "score_trend_png", spy)
    _render(sample_library, "treated", tmp_path / "treated.pdf")
    assert len(seen) == 1
    x, panels = seen[0]
    labels = _labels(sample_library, "treated")
    first = date.fromisoformat(labels[0])
    assert x == [(date.fromisoformat(label) - first).days / 7 for label in labels]
    by_title = {p.title.split(" (")[0]: p for p in panels}
    assert panels[0].is_area
    for key, name in (("gb_quantitative", "G&B quantitative"), ("ecca", "ECCA")):
        values = by_title[name].values
        for label, value in zip(labels, values, strict=True):
            grades = GRADES.get(label)
            if grades is None or getattr(grades, f"{key}_suggested"):
                assert value is None, (name, label)
            else:
                result = getattr(grades, f"{key}_result")
                assert value == result.total, (name, label)


def test_deidentified_report_has_no_clinician_or_free_text(
    sample_library: Library, tmp_path: Path
) -> None:
    out = _render(sample_library, "treated", tmp_path / "deid.pdf", deidentify=True)
    text = pdf_text(out)
    everything = pdf_all_bytes(out)
    assert DEIDENTIFIED_NOTICE.split(":")[0] in text
    assert "clinician's name" in text
    for secret in FREE_TEXT_SECRETS:
        assert secret not in text, secret
        assert secret.encode() not in everything, secret
    # The treatment parameters, the structured adverse events and the scores stay.
    section = _clinical_section(text)
    chunks = _log_chunks(section, _labels(sample_library, "treated"))
    for label, treatment in TREATMENTS.items():
        assert treatment.procedure_text in chunks[label]
        assert f"Needle depth {fmt_depth_mm(treatment.needle_depth_mm)}" in chunks[label]
        assert "Clinician" not in chunks[label]
    assert "erythema 3 days, post-inflammatory hyperpigmentation" in chunks["2026-01-05"]
    assert "tram-track marks" in chunks["2026-03-02"]
    for label, grades in GRADES.items():
        for score in _score_texts(grades):
            assert score in chunks[label]


def test_patient_without_clinical_data_gets_no_clinical_section(
    sample_library: Library, tmp_path: Path
) -> None:
    for code in ("demo-patient", "solo"):
        out = _render(sample_library, code, tmp_path / f"{code}.pdf")
        assert out.read_bytes().startswith(b"%PDF-")
        pages = pdf_pages(out)
        text = " ".join(pages)
        assert f"Page {len(pages)} of {len(pages)}" in pages[-1]
        assert CLINICAL_HEADING not in text
        assert "Treatment log" not in text and "Scores by session" not in text
        assert SUGGESTED_MARK not in text
        assert "Clinical scores." not in text  # the methods paragraph too


# ------------------------------------------------------------ on ReportData directly

DAY0 = date(2025, 9, 1)


def _session(index: int, area_mm2: float) -> SessionReport:
    day = DAY0 + timedelta(weeks=4 * index)
    return SessionReport(
        session_date=day,
        label=day.isoformat(),
        view="closeup",
        count=10,
        area_mm2=area_mm2,
        calibration_method="marker",
        px_per_mm=18.0,
        is_baseline=index == 0,
        alignment_ok=None if index == 0 else True,
        change_area_mm2=None if index == 0 else area_mm2 - 40.0,
        change_area_pct=None if index == 0 else 100.0 * (area_mm2 - 40.0) / 40.0,
    )


def _clinical(index: int, **kw: Any) -> ClinicalSession:
    day = DAY0 + timedelta(weeks=4 * index)
    return ClinicalSession(session_date=day, label=day.isoformat(), **kw)


def _data(clinical: tuple[ClinicalSession, ...], **kw: Any) -> ReportData:
    values: dict[str, Any] = {
        "clinic_name": "Test Clinic",
        "patient_code": "P-0042",
        "patient_name": "Ada Example",
        "birth_date": date(1990, 2, 3),
        "notes": "",
        "deidentified": False,
        "generated_at": datetime(2026, 4, 2, 8, 15),
        "software_version": "9.9.9",
        "sessions": tuple(_session(i, 40.0 - 2.5 * i) for i in range(3)),
        "clinical": clinical,
    }
    values.update(kw)
    return ReportData(**values)


def test_deidentify_drops_clinician_and_notes_keeps_the_treatment() -> None:
    record = TreatmentRecord(
        procedures=("microneedling",),
        device="Pen A",
        needle_depth_mm=0.5,
        anaesthesia="none",
        clinician="Dr Who",
        immediate_reactions="fine, says Amy",
        erythema_days=2,
        infection=True,
        other_adverse_events="Rory saw a rash",
        notes="Call Clara",
    )
    data = _data((_clinical(0, treatment=record), _clinical(1)))
    clean = data.deidentify()
    treatment = clean.clinical[0].treatment
    assert treatment is not None
    assert (treatment.clinician, treatment.immediate_reactions) == ("", "")
    assert (treatment.other_adverse_events, treatment.notes) == ("", "")
    assert treatment.adverse_events == ("erythema 2 days", "infection")
    assert (treatment.device, treatment.needle_depth_mm, treatment.anaesthesia) == (
        "Pen A",
        0.5,
        "none",
    )
    assert clean.clinical[1] == data.clinical[1]
    # The renderer de-identifies on its own when only the flag is set.
    text = pdf_text(render_report_bytes(replace(data, deidentified=True)))
    for secret in ("Dr Who", "Amy", "Rory", "Clara"):
        assert secret not in text
    assert "Pen A" in text and "infection" in text


def test_sessions_with_nothing_recorded_give_no_section() -> None:
    empty = (_clinical(0), _clinical(1, grades=SessionGrades()))
    for clinical in ((), empty):
        text = pdf_text(render_report_bytes(_data(clinical)))
        assert CLINICAL_HEADING not in text
        assert "P-0042" in text


def test_treatment_only_and_grades_only_sessions() -> None:
    clinical = (
        _clinical(0, treatment=TreatmentRecord(needle_depth_mm=1.25, passes=2)),
        _clinical(1, grades=SessionGrades(gb_qualitative=2)),
        _clinical(2),
    )
    text = pdf_text(render_report_bytes(_data(clinical)))
    section = _clinical_section(text)
    chunks = _log_chunks(section, [c.label for c in clinical])
    assert "No grades recorded." in chunks[clinical[0].label]
    assert "Needle depth 1.25 mm" in chunks[clinical[0].label]
    assert "No treatment recorded." in chunks[clinical[1].label]
    assert "G&B qualitative 2 · Mild" in chunks[clinical[1].label]
    assert NOTHING_RECORDED in chunks[clinical[2].label]
    # Only one graded session: a table, but no trend chart.
    assert "Scores by session" in section and "Score trend" not in section
    treatment_only = (clinical[0],)
    text = pdf_text(render_report_bytes(_data(treatment_only)))
    assert CLINICAL_HEADING in text and "Scores by session" not in text


def test_different_questionnaires_are_named_per_session_and_not_charted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[list[TrendPanel]] = []
    original = pdf_module.score_trend_png

    def spy(x: Any, panels: Any, **kw: Any) -> bytes:
        seen.append(list(panels))
        return original(x, panels, **kw)

    monkeypatch.setattr(pdf_module, "score_trend_png", spy)
    clinical = (
        _clinical(
            0,
            grades=SessionGrades(
                ecca=EccaInput(v_shaped=3), pro=PatientReportedOutcome("DLQI", 12)
            ),
        ),
        _clinical(
            1,
            grades=SessionGrades(ecca=EccaInput(v_shaped=2), pro=PatientReportedOutcome("CADI", 7)),
        ),
    )
    text = pdf_text(render_report_bytes(_data(clinical)))
    assert "12 (DLQI)" in text and "7 (CADI)" in text
    assert "different questionnaires" in text
    assert len(seen) == 1
    titles = [p.title for p in seen[0]]
    assert not any("DLQI" in t or "CADI" in t for t in titles)
    # V-shaped atrophic scars rated 3 then 2: 15 x 3 and 15 x 2.
    assert [p.values for p in seen[0] if p.title.startswith("ECCA")] == [(45.0, 30.0)]


def test_very_long_free_text_still_lays_out() -> None:
    words = "a very long description of the device and its settings " * 60
    record = TreatmentRecord(device=words, immediate_reactions=words, notes=words * 2)
    clinical = (
        _clinical(0, treatment=record, grades=SessionGrades(gb_quantitative=GoodmanBaronInput())),
    )
    pages = pdf_pages(render_report_bytes(_data(clinical)))
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]
    assert " ".join(pages).count("a very long description") >= 60 * 3


def test_score_trend_chart_size_and_layout() -> None:
    assert score_trend_layout(1) == (1, 1)
    assert score_trend_layout(2) == (1, 2)
    assert score_trend_layout(4) == (2, 2)
    assert score_trend_layout(5) == (2, 3)
    with pytest.raises(ValueError):
        score_trend_layout(0)
    panels = [
        TrendPanel("Area", (40.0, 37.5, None), decimals=1, is_area=True),
        TrendPanel("ECCA", (110.0, None, 75.0)),
        TrendPanel("Grade", (3.0, 3.0, 2.0), y_range=(1.0, 4.0)),
    ]
    png = score_trend_png([0, 4, 8], panels, x_label="weeks", width_mm=150, panel_height_mm=40)
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "RGB"
        width, height = image.size
        rgb = np.asarray(image)
    assert abs(width - 150 / 25.4 * 220) <= 1 and abs(height - 40 / 25.4 * 220) <= 1
    # Both line colours are drawn.
    for hex_colour in ("#2B5D8C", "#7A3E9D"):
        target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(rgb.astype(int) - target).sum(axis=2) < 30).sum() > 50, hex_colour
    with pytest.raises(ValueError, match="one value per session"):
        score_trend_png([0, 4], panels, x_label="weeks")
