"""The sample patient's report, built from the library and read back with pypdf."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import matplotlib
import pytest

from scarview.core.types import SCAR_TYPES
from scarview.report import render_report, report_data_from_library
from scarview.report.pdf import DEIDENTIFIED_NOTICE, NOT_REPORTED_NOTICE
from scarview.report.style import fmt_area, fmt_pct, fmt_signed_area
from scarview.settings import Settings, save_settings
from scarview.store import Library

from .conftest import BIRTH_DATE, FAILED_REASON, PATIENT_NAME, PATIENT_NOTES
from .helpers import pdf_all_bytes, pdf_images, pdf_metadata, pdf_pages, pdf_text

CLINIC = "Northside Dermatology Clinic"


def _render(library: Library, code: str, out: Path, *, deidentify: bool = False) -> Path:
    data = report_data_from_library(library, code, deidentify=deidentify, clinic_name=CLINIC)
    return render_report(data, out)


def _library_figures(library: Library, code: str) -> dict[str, object]:
    """What the library holds for a patient: dates, areas and changes."""
    patient = library.find_patient(code)
    dates, areas, by_type, changes = [], [], [], []
    for session in library.sessions_of(patient.id):
        assert session.session_date is not None
        dates.append(session.session_date.isoformat())
        for photo in library.photos_of(session.id):
            analysis = library.latest_analysis(photo.id)
            assert analysis is not None
            areas.append(analysis.summary.area_mm2)
            for scar_type in SCAR_TYPES:
                by_type.append(analysis.summary.by_type[scar_type].area_mm2)
    for row in library.measurement_rows(patient.id):
        if row["change_area_mm2"]:
            changes.append((float(row["change_area_mm2"]), float(row["change_area_pct"])))
    return {"dates": dates, "areas": areas, "by_type": by_type, "changes": changes}


def test_sample_patient_report_holds_the_library_figures(
    sample_library: Library, tmp_path: Path
) -> None:
    out = _render(sample_library, "demo-patient", tmp_path / "out" / "report.pdf")
    assert out.is_file() and out.read_bytes().startswith(b"%PDF-")
    text = pdf_text(out)
    figures = _library_figures(sample_library, "demo-patient")

    assert "demo-patient" in text
    assert PATIENT_NAME in text
    assert BIRTH_DATE.isoformat() in text
    assert PATIENT_NOTES in text
    assert CLINIC in text
    dates = figures["dates"]
    assert isinstance(dates, list) and len(dates) == 4
    for day in dates:
        assert day in text, day
    assert "4 sessions" in text
    assert f"{dates[0]} to {dates[-1]}" in text
    for area in figures["areas"]:  # type: ignore[attr-defined]
        assert f"{fmt_area(area)}" in text, area
    for area in figures["by_type"]:  # type: ignore[attr-defined]
        assert fmt_area(area) in text, area
    changes = figures["changes"]
    assert isinstance(changes, list) and len(changes) == 3
    for change_mm2, change_pct in changes:
        assert fmt_signed_area(change_mm2) in text
        assert fmt_pct(change_pct) in text
    # The summary names baseline and latest totals and the latest change.
    latest_change = changes[-1]
    assert f"{fmt_signed_area(latest_change[0])} mm² ({fmt_pct(latest_change[1])})" in text, (
        "summary sentence"
    )
    # Real text with the units: the embedded font maps "²" back to Unicode.
    assert "mm²" in text
    assert "How these figures were measured" in text
    assert "Limits." in text


def test_every_page_has_header_and_numbered_footer(sample_library: Library, tmp_path: Path) -> None:
    out = _render(sample_library, "demo-patient", tmp_path / "report.pdf")
    pages = pdf_pages(out)
    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        assert "Patient demo-patient" in page
        assert CLINIC in page
        assert "ScarView " in page and "Generated " in page


def test_deidentified_report_has_no_name_birth_date_or_notes(
    sample_library: Library, tmp_path: Path
) -> None:
    out = _render(sample_library, "demo-patient", tmp_path / "deid.pdf", deidentify=True)
    text = pdf_text(out)
    everything = pdf_all_bytes(out)
    assert "demo-patient" in text
    assert DEIDENTIFIED_NOTICE.split(":")[0] in text
    for secret in (PATIENT_NAME, "Quentin", BIRTH_DATE.isoformat(), PATIENT_NOTES, "PRP added"):
        assert secret not in text
        assert secret.encode() not in everything
    for value in pdf_metadata(out).values():
        assert "Quentin" not in value
    # Still the same measurements.
    for day in _library_figures(sample_library, "demo-patient")["dates"]:  # type: ignore[attr-defined]
        assert day in text


def test_no_machine_path_or_exif_in_the_report(sample_library: Library, tmp_path: Path) -> None:
    out = _render(sample_library, "demo-patient", tmp_path / "report.pdf")
    everything = pdf_all_bytes(out)
    text = pdf_text(out)
    metadata = " ".join(pdf_metadata(out).values())
    leaks = {
        str(sample_library.root),
        str(sample_library.root.parent),
        str(tmp_path),
        str(Path.home()),
        str(Path(matplotlib.get_data_path())),
        "site-packages",
        "originals/",
        "cheek-left.jpg",
    }
    for leak in leaks:
        assert leak not in text, leak
        assert leak not in metadata, leak
        assert leak.encode() not in everything, leak
        assert os.fsencode(leak) not in everything, leak
    images = {d for d in pdf_images(out) if d.startswith(b"\xff\xd8")}
    assert len(images) == 4  # photos: the baseline, three follow-ups
    for data in images:
        assert data.startswith(b"\xff\xd8")
        assert b"Exif\x00\x00" not in data
        assert b"http://ns.adobe.com/xap" not in data


def test_one_session_patient_gets_a_valid_report(sample_library: Library, tmp_path: Path) -> None:
    out = _render(sample_library, "solo", tmp_path / "solo.pdf")
    pages = pdf_pages(out)
    text = " ".join(pages)
    assert "solo" in text
    assert "2026-01-05" in text
    assert "1 session" in text
    analysis = sample_library.latest_analysis(
        sample_library.photos_of(
            sample_library.sessions_of(sample_library.find_patient("solo").id)[0].id
        )[0].id
    )
    assert analysis is not None
    assert fmt_area(analysis.summary.area_mm2) in text
    assert "Only the baseline session" in text
    assert "Baseline photograph" in text
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]
    assert len({d for d in pdf_images(out) if d.startswith(b"\xff\xd8")}) == 1


def test_failed_alignment_shows_the_reason_not_the_change(
    sample_library: Library, tmp_path: Path
) -> None:
    out = _render(sample_library, "failed", tmp_path / "failed.pdf")
    text = pdf_text(out)
    patient = sample_library.find_patient("failed")
    rows = {r["date"]: r for r in sample_library.measurement_rows(patient.id)}
    failed = rows["2026-03-02"]
    assert failed["aligned_ok"] == "false" and failed["change_area_mm2"] == ""
    assert FAILED_REASON in text
    assert NOT_REPORTED_NOTICE in text
    assert "not aligned" in text
    # The change the failed pair would have shown appears nowhere.
    before = float(rows["2026-01-05"]["area_mm2"])
    after = float(failed["area_mm2"])
    would_be_pct = fmt_pct(100.0 * (after - before) / before)
    assert would_be_pct not in text
    # Its own area is still listed, and the aligned sessions keep their change.
    assert fmt_area(after) in text
    for day in ("2026-02-02", "2026-03-30"):
        assert fmt_pct(float(rows[day]["change_area_pct"])) in text


def test_clinic_name_comes_from_the_settings(sample_library: Library, tmp_path: Path) -> None:
    save_settings(Settings(clinic_name="Clinique des Érables"))
    data = report_data_from_library(
        sample_library, "solo", generated_at=datetime(2026, 4, 1, 9, 30)
    )
    assert data.clinic_name == "Clinique des Érables"
    text = pdf_text(render_report(data, tmp_path / "r.pdf"))
    assert "Clinique des Érables" in text
    assert "Generated 2026-04-01 09:30" in text


def test_unknown_patient_is_one_clear_error(sample_library: Library) -> None:
    from scarview.errors import ScarViewError

    with pytest.raises(ScarViewError) as info:
        report_data_from_library(sample_library, "nobody-here", clinic_name="")
    assert "nobody-here" in str(info.value)
    assert info.value.exit_code == 3
