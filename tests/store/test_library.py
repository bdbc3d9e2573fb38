"""The library's records: patients, sessions, photos, analyses, alignments, corrections, trash."""

from __future__ import annotations

import csv
import json
import os
import stat
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest

from scarview.core.records import MEASUREMENT_COLUMNS
from scarview.core.types import Alignment, Calibration
from scarview.errors import InputError
from scarview.store import (
    Library,
    LibraryError,
    default_library_dir,
    ensure_sample_patient,
    resolve_library_dir,
)
from tests.store.helpers import make_clinic_folder, make_scarmap, write_jpeg, write_mask

POSIX = os.name == "posix"


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = Library.open(tmp_path / "library")
    yield lib
    lib.close()


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    return make_clinic_folder(tmp_path / "clinic", patients=2, sessions=3, views=2)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_library_folder_is_owner_only_and_uses_wal(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "library"
    with Library.open(root) as library:
        assert library.root == root
        conn = library._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    if POSIX:
        assert _mode(root) == 0o700
        assert _mode(root / "library.sqlite3") == 0o600
        for sub in ("originals", "derived", "trash"):
            assert _mode(root / sub) == 0o700


def test_open_refuses_missing_library_and_folders_holding_other_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no ScarView library"):
        Library.open(tmp_path / "nothing", create=False)
    busy = tmp_path / "photos"
    busy.mkdir()
    (busy / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(InputError, match="other files"):
        Library.open(busy)
    assert sorted(p.name for p in busy.iterdir()) == ["holiday.jpg"]
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(InputError, match="is a file"):
        Library.open(afile)


def test_library_location_from_option_environment_and_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCARVIEW_LIBRARY", str(tmp_path / "from-env"))
    assert default_library_dir() == tmp_path / "from-env"
    assert resolve_library_dir(None) == tmp_path / "from-env"
    assert resolve_library_dir(str(tmp_path / "cli")) == tmp_path / "cli"
    monkeypatch.delenv("SCARVIEW_LIBRARY")
    default = default_library_dir()
    assert default.name == "library"
    assert "ScarView" in default.parts
    assert resolve_library_dir("") == default


def test_patients_add_update_search_with_unicode(library: Library) -> None:
    a = library.add_patient(
        "P-001", name="Zoë Müller", birth_date=date(1991, 4, 2), fitzpatrick=3, notes="n"
    )
    b = library.add_patient("陈-02", name="陈伟")
    c = library.add_patient("0042", name="Ana")
    assert a.display_name == "Zoë Müller"
    assert [p.code for p in library.list_patients("muller")] == ["P-001"]
    assert [p.code for p in library.list_patients("MÜLL")] == ["P-001"]
    assert [p.code for p in library.list_patients("陈")] == ["陈-02"]
    assert len(library.list_patients()) == 3
    assert library.find_patient("陈伟").id == b.id
    assert library.find_patient("zoe muller").id == a.id
    assert library.find_patient(str(a.id)).id == a.id
    assert library.find_patient("0042").id == c.id  # a numeric code wins over an id
    with pytest.raises(InputError, match="no patient"):
        library.find_patient("nobody")
    with pytest.raises(LibraryError, match="already has the code"):
        library.add_patient("P-001")
    with pytest.raises(LibraryError, match="between 1 and 6"):
        library.add_patient("P-009", fitzpatrick=7)
    updated = library.update_patient(a.id, name=None, fitzpatrick=5)
    assert updated.name is None and updated.fitzpatrick == 5
    assert updated.birth_date == date(1991, 4, 2) and updated.notes == "n"
    assert updated.updated_at >= a.updated_at
    with pytest.raises(LibraryError, match="already has the code"):
        library.update_patient(b.id, code="P-001")


def test_sessions_listed_in_date_order(library: Library) -> None:
    patient = library.add_patient("P")
    library.add_session(patient.id, date(2026, 3, 1))
    library.add_session(patient.id, None, label="zz-undated")
    library.add_session(patient.id, date(2026, 1, 1), label="baseline")
    library.add_session(patient.id, date(2026, 2, 1))
    labels = [s.label for s in library.sessions_of(patient.id)]
    assert labels == ["baseline", "2026-02-01", "2026-03-01", "zz-undated"]
    with pytest.raises(LibraryError, match="already has a session"):
        library.add_session(patient.id, date(2026, 2, 1))
    record = library.get_patient(patient.id)
    assert record.session_count == 4
    assert record.first_session_date == date(2026, 1, 1)
    assert record.last_session_date == date(2026, 3, 1)


def test_analysis_roundtrip_keeps_every_analysis(library: Library, clinic: Path) -> None:
    library.import_folder(clinic)
    patient = library.find_patient("P000")
    session = library.sessions_of(patient.id)[0]
    photo = library.photos_of(session.id)[0]
    scarmap = make_scarmap(photo.height, photo.width, seed=3)
    calibration = Calibration(
        10.0, "marker", 0.7, np.array([[1, 2], [3, 2], [3, 4], [1, 4]], float), 7, 10.0
    )
    first = library.save_analysis(photo.id, scarmap, calibration, {"sigma_mm": 0.5}, "test-1")
    again = library.latest_analysis(photo.id)
    assert again is not None and again.id == first.id
    assert again.settings == {"sigma_mm": 0.5}
    assert again.summary == scarmap.summary
    assert again.calibration.px_per_mm == 10.0 and again.calibration.method == "marker"
    np.testing.assert_array_equal(again.calibration.marker_polygon, calibration.marker_polygon)
    assert again.mask_path.is_file()
    assert library.root / "derived" in again.mask_path.parents
    assert len(again.scars) == len(scarmap.scars)
    for stored, original in zip(again.scars, scarmap.scars, strict=True):
        assert stored.to_dict() == original.to_dict()
        np.testing.assert_array_equal(stored.contour, original.contour)
        assert stored.depth_mm == original.depth_mm
    reloaded = library.load_scarmap(again)
    np.testing.assert_array_equal(reloaded.labels, scarmap.labels)
    assert reloaded.labels.dtype == np.int32
    assert reloaded.warnings == ("a warning",)
    assert library.get_photo(photo.id).calibration.px_per_mm == 10.0

    second_map = make_scarmap(photo.height, photo.width, seed=4, px_per_mm=None)
    second = library.save_analysis(photo.id, second_map, Calibration(None, "none"), {}, "test-2")
    assert library.latest_analysis(photo.id).id == second.id  # type: ignore[union-attr]
    assert [a.id for a in library.analyses_of(photo.id)] == [first.id, second.id]
    assert first.mask_path.is_file() and second.mask_path.is_file()
    assert library.get_photo(photo.id).calibration.method == "none"
    with pytest.raises(ValueError, match="do not match"):
        library.save_analysis(photo.id, make_scarmap(10, 10, 1), calibration, {}, "x")


def test_alignment_and_corrections_survive_reanalysis(library: Library, clinic: Path) -> None:
    library.import_folder(clinic)
    patient = library.find_patient("P001")
    first, second = library.sessions_of(patient.id)[:2]
    before = library.photos_of(first.id)[0]
    after = library.photos_of(second.id)[0]
    assert library.baseline_photo_for(after.id).id == before.id  # type: ignore[union-attr]
    assert library.baseline_photo_for(before.id) is None
    H = np.array([[1.01, 0.02, 3.5], [-0.01, 0.99, -2.25], [1e-5, 0, 1]])
    saved = library.save_alignment(
        after.id,
        before.id,
        Alignment(True, "sift", H, 80, 0.6, 0.42, 0.97, None, ("w",), (0.1, 0.2)),
    )
    got = library.alignment_for(after.id)
    assert got is not None and got.id == saved.id and got.baseline_photo_id == before.id
    np.testing.assert_array_equal(got.alignment.homography, H)
    assert got.alignment.to_dict() == saved.alignment.to_dict()
    assert got.alignment.residuals_px == (0.1, 0.2)
    assert library.alignment_for(before.id) is None
    with pytest.raises(LibraryError):
        library.save_alignment(after.id, after.id, got.alignment)

    removed = library.add_correction(after.id, "remove_scar", json.dumps({"centroid_xy": [3, 4]}))
    library.add_correction(after.id, "calibration", '{"px_per_mm": 12.5}')
    with pytest.raises(LibraryError, match="not a kind"):
        library.add_correction(after.id, "paint", "{}")
    with pytest.raises(LibraryError, match="not valid JSON"):
        library.add_correction(after.id, "roi", "{not json")
    library.save_analysis(
        after.id, make_scarmap(after.height, after.width, 9), Calibration(10.0, "manual"), {}, "v"
    )
    kinds = [c.kind for c in library.corrections_of(after.id)]
    assert kinds == ["remove_scar", "calibration"]
    library.delete_correction(removed.id)
    assert [c.kind for c in library.corrections_of(after.id)] == ["calibration"]
    every = library.corrections_of(after.id, include_deleted=True)
    assert every[0].deleted_at is not None
    library.restore_correction(removed.id)
    assert len(library.corrections_of(after.id)) == 2


def test_trash_and_restore_patient_session_photo(library: Library, clinic: Path) -> None:
    library.import_folder(clinic)
    patient = library.find_patient("P000")
    sessions = library.sessions_of(patient.id)
    photo = library.photos_of(sessions[0].id)[0]
    analysis = library.save_analysis(
        photo.id, make_scarmap(photo.height, photo.width, 1), Calibration(10.0, "manual"), {}, "v"
    )
    original_bytes = photo.path.read_bytes()

    item = library.trash_photo(photo.id)
    assert item.kind == "photo" and "frontal.jpg" in item.description
    assert not photo.path.exists()
    trashed = library.get_photo(photo.id, include_trashed=True)
    assert trashed.trashed and trashed.path.read_bytes() == original_bytes
    assert item.folder in trashed.path.parents
    assert (item.folder / "manifest.json").is_file()
    moved = library.latest_analysis(photo.id)
    assert (
        moved is not None and moved.mask_path.is_file() and item.folder in moved.mask_path.parents
    )
    assert photo.id not in [p.id for p in library.photos_of(sessions[0].id)]
    with pytest.raises(LibraryError):
        library.get_photo(photo.id)
    assert library.integrity_problems() == []

    session_item = library.trash_session(sessions[1].id)
    patient_item = library.trash_patient(patient.id)
    assert [p.code for p in library.list_patients()] == ["P001"]
    assert [t.id for t in library.list_trash()] == [patient_item.id, session_item.id, item.id]
    with pytest.raises(LibraryError, match="restore the patient first"):
        library.restore(session_item.id)
    assert library.integrity_problems() == []

    library.restore(patient_item.id)
    assert [s.id for s in library.sessions_of(patient.id)] == [sessions[0].id, sessions[2].id]
    library.restore(session_item.id)
    library.restore(item.id)
    assert [s.id for s in library.sessions_of(patient.id)] == [s.id for s in sessions]
    back = library.get_photo(photo.id)
    assert back.path == photo.path and back.path.read_bytes() == original_bytes
    assert library.latest_analysis(photo.id).mask_path == analysis.mask_path  # type: ignore[union-attr]
    assert library.list_trash() == ()
    assert len(library.list_trash(include_restored=True)) == 3
    with pytest.raises(LibraryError, match="already restored"):
        library.restore(item.id)
    assert library.integrity_problems() == []
    assert not any(p.is_file() for p in (library.root / "trash").rglob("*"))


def test_reimport_never_deletes_and_skips_trashed_photos(library: Library, clinic: Path) -> None:
    library.import_folder(clinic)
    patient = library.find_patient("P000")
    session = library.sessions_of(patient.id)[0]
    photo = library.photos_of(session.id)[0]
    library.trash_photo(photo.id)
    report = library.import_folder(clinic)
    assert report.imported == 0 and report.in_trash == 1
    assert report.already_present == 2 * 3 * 2 - 1
    assert any("trash" in w.message for w in report.warnings)
    assert library.get_photo(photo.id, include_trashed=True).path.is_file()


def test_export_csv_has_contract_columns_and_change(
    library: Library, clinic: Path, tmp_path: Path
) -> None:
    library.import_folder(clinic)
    patient = library.find_patient("P000")
    sessions = library.sessions_of(patient.id)
    base = library.photos_of(sessions[0].id)[0]
    later = library.photos_of(sessions[1].id)[0]
    base_map = make_scarmap(base.height, base.width, 1)
    later_map = make_scarmap(later.height, later.width, 2)
    library.save_analysis(base.id, base_map, Calibration(10.0, "marker"), {}, "v1")
    library.save_analysis(later.id, later_map, Calibration(10.0, "marker"), {}, "v1")
    library.save_alignment(later.id, base.id, Alignment(True, "sift", np.eye(3), rmse_px=0.5))
    out = tmp_path / "Zoë's export.csv"
    count = library.export_csv("P000", out)
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert count == len(rows) == 3 * 2
    assert tuple(rows[0]) == MEASUREMENT_COLUMNS
    by_sha = {r["sha256"]: r for r in rows}
    base_area, later_area = base_map.summary.area_mm2, later_map.summary.area_mm2
    assert base_area is not None and later_area is not None
    expected = later_area - base_area
    row = by_sha[later.sha256]
    assert float(row["change_area_mm2"]) == pytest.approx(expected, abs=1e-4)
    assert float(row["change_area_pct"]) == pytest.approx(100 * expected / base_area, abs=1e-2)
    assert row["aligned_ok"] == "true" and row["alignment_rmse_px"] == "0.500"
    assert row["patient"] == "P000" and row["view"] == "frontal"
    assert by_sha[base.sha256]["change_area_mm2"] == ""
    assert by_sha[base.sha256]["count"] == "3"
    unanalysed = [r for r in rows if r["sha256"] not in (base.sha256, later.sha256)]
    assert all(r["count"] == "" and r["area_mm2"] == "" for r in unanalysed)
    # A failed alignment gives no change.
    library.save_alignment(later.id, base.id, Alignment(False, "sift", None, reason="too few"))
    library.export_csv(patient, out)
    with out.open(encoding="utf-8", newline="") as handle:
        row = {r["sha256"]: r for r in csv.DictReader(handle)}[later.sha256]
    assert row["aligned_ok"] == "false" and row["change_area_mm2"] == ""


def test_ensure_sample_patient_imports_once(library: Library, clinic: Path, tmp_path: Path) -> None:
    assert ensure_sample_patient(library, tmp_path / "missing") is False
    assert ensure_sample_patient(library, clinic) is True
    count = len(library.list_patients())
    assert count == 2
    assert ensure_sample_patient(library, clinic) is False
    for patient in library.list_patients():
        library.trash_patient(patient.id)
    # A clinician who deleted the sample patients does not get them back.
    assert ensure_sample_patient(library, clinic) is False
    assert library.list_patients() == ()


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_originals_are_read_only_and_byte_identical(library: Library, clinic: Path) -> None:
    library.import_folder(clinic)
    for patient in library.list_patients():
        for session in library.sessions_of(patient.id):
            for photo in library.photos_of(session.id):
                assert _mode(photo.path) == 0o400
                assert photo.path.name == photo.sha256 + ".jpg"
                assert photo.path.parent.name == photo.sha256[:2]
                assert Path(photo.source_path or "").read_bytes() == photo.path.read_bytes()
    assert library.integrity_problems() == []


def test_truth_masks_are_kept_beside_not_imported(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "in" / "P1" / "2026-01-05"
    write_jpeg(folder / "cheek-left.jpg", 1, captured_at=datetime(2026, 1, 5, 9))
    write_mask(folder / "cheek-left.mask.png")
    (folder / "cheek-left.truth.json").write_text("{}")
    report = library.import_folder(tmp_path / "in")
    assert report.imported == 1 and report.errors == () and report.warnings == ()
    photo = library.get_photo(report.photo_ids[0])
    assert photo.view == "closeup"
    assert photo.truth_mask_path is not None
    assert photo.truth_mask_path.read_bytes() == (folder / "cheek-left.mask.png").read_bytes()
    assert library.root / "derived" in photo.truth_mask_path.parents


def test_library_object_is_usable_from_threads(library: Library, clinic: Path) -> None:
    import threading

    library.import_folder(clinic)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                for patient in library.list_patients():
                    library.sessions_of(patient.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sys.getrefcount(library) > 0
