"""Importing folders and files: layout, duplicates, bad files, Unicode names and paths."""

from __future__ import annotations

import os
import threading
import unicodedata
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from scarview.errors import Cancelled, InputError
from scarview.store import Library, guess_view
from scarview.store.layout import date_from_label
from tests.store.helpers import make_clinic_folder, write_jpeg


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = Library.open(tmp_path / "library")
    yield lib
    lib.close()


def _stored_originals(library: Library) -> list[Path]:
    return sorted(p for p in (library.root / "originals").rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("name", "view"),
    [
        ("frontal.jpg", "frontal"),
        ("IMG_front_01.JPG", "frontal"),
        ("left-45.jpg", "left-45"),
        ("L45.jpeg", "left-45"),
        ("patient_left45.png", "left-45"),
        ("right-45.heic", "right-45"),
        ("r45.jpg", "right-45"),
        ("left-90.jpg", "left-90"),
        ("right_90.tif", "right-90"),
        ("right profile.jpg", "right-90"),
        ("close-up.jpg", "closeup"),
        ("closeup-2.jpg", "closeup"),
        ("cheek-left.jpg", "closeup"),
        ("IMG_1045.jpg", None),
        ("roll45.jpg", None),
        ("frontier.jpg", None),
        ("DSC00012.JPG", None),
    ],
)
def test_views_are_guessed_from_file_names(name: str, view: str | None) -> None:
    assert guess_view(name) == view


def test_session_dates_from_folder_names() -> None:
    assert date_from_label("2026-03-01") == date(2026, 3, 1)
    assert date_from_label("2026-03-01 third session") == date(2026, 3, 1)
    assert date_from_label("2026-13-45") is None
    assert date_from_label("01-baseline") is None
    assert date_from_label("20260301") is None


def test_import_patient_and_session_folders(library: Library, tmp_path: Path) -> None:
    clinic = make_clinic_folder(tmp_path / "clinic", patients=2, sessions=2, views=3)
    (clinic / "P000" / "2026-01-05" / "notes.txt").write_text("not a photo")
    (clinic / "P000" / "2026-01-05" / "truth.json").write_text("{}")
    (clinic / "P000" / ".DS_Store").write_bytes(b"\0\0")
    (clinic / "P000" / "2026-01-05" / "._frontal.jpg").write_bytes(b"\0")
    progress: list[float] = []
    report = library.import_folder(clinic, progress=lambda f, _m: progress.append(f))
    assert report.imported == 12 and report.already_present == 0
    assert report.errors == () and report.warnings == ()
    assert report.sessions_created == 4
    assert report.patients == ("P000", "P001")
    assert progress[-1] == 1.0 and progress == sorted(progress)
    patient = library.find_patient("P000")
    sessions = library.sessions_of(patient.id)
    assert [(s.label, s.session_date) for s in sessions] == [
        ("2026-01-05", date(2026, 1, 5)),
        ("2026-02-05", date(2026, 2, 5)),
    ]
    views = [p.view for p in library.photos_of(sessions[0].id)]
    assert views == ["frontal", "left-45", "right-45"]
    assert len(_stored_originals(library)) == 12


def test_importing_the_same_files_twice_stores_them_once(library: Library, tmp_path: Path) -> None:
    clinic = make_clinic_folder(tmp_path / "clinic", patients=1, sessions=2, views=2)
    first = library.import_folder(clinic)
    # The same bytes under another name and in another patient folder.
    copy = tmp_path / "clinic" / "P999" / "2026-05-01" / "renamed.jpg"
    copy.parent.mkdir(parents=True)
    copy.write_bytes((clinic / "P000" / "2026-01-05" / "frontal.jpg").read_bytes())
    second = library.import_folder(clinic)
    assert first.imported == 4
    assert second.imported == 0 and second.already_present == 5
    assert second.sessions_created == 0 and second.patients == ()
    assert len(_stored_originals(library)) == 4
    assert library.find_patient("P000").photo_count == 4
    with pytest.raises(InputError):
        library.find_patient("P999")  # nothing new, so no empty patient
    assert library.integrity_problems() == []


def test_loose_photos_grouped_by_exif_date_or_file_date(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "in" / "Pat"
    write_jpeg(folder / "a-frontal.jpg", 1, captured_at=datetime(2026, 1, 5, 9, 0))
    write_jpeg(folder / "b-left45.jpg", 2, captured_at=datetime(2026, 1, 5, 9, 5))
    write_jpeg(folder / "c-frontal.jpg", 3, captured_at=datetime(2026, 2, 2, 9, 0))
    undated = write_jpeg(folder / "d.jpg", 4)
    stamp = datetime(2026, 3, 3, 12, 0).timestamp()
    os.utime(undated, (stamp, stamp))
    # A session folder named like an EXIF date merges with the loose photos of that date.
    write_jpeg(folder / "2026-02-02" / "right-45.jpg", 5)
    report = library.import_folder(tmp_path / "in")
    assert report.imported == 5 and report.errors == ()
    assert len(report.warnings) == 1 and "d.jpg" in report.warnings[0].message
    assert "2026-03-03" in report.warnings[0].message
    patient = library.find_patient("Pat")
    sessions = library.sessions_of(patient.id)
    assert [s.label for s in sessions] == ["2026-01-05", "2026-02-02", "2026-03-03"]
    assert [len(library.photos_of(s.id)) for s in sessions] == [2, 2, 1]
    (loose,) = library.photos_of(sessions[2].id)
    assert loose.captured_at_source == "mtime"
    foldered = [p for p in library.photos_of(sessions[1].id) if p.view == "right-45"]
    assert foldered[0].captured_at is None and foldered[0].captured_at_source is None


def test_named_sessions_take_the_earliest_exif_date(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_jpeg(folder / "01-baseline" / "x.jpg", 1, captured_at=datetime(2026, 4, 2, 9))
    write_jpeg(folder / "01-baseline" / "y.jpg", 2, captured_at=datetime(2026, 4, 1, 9))
    write_jpeg(folder / "02-after" / "z.jpg", 3)
    library.import_folder(folder, patient="Solo")
    sessions = library.sessions_of(library.find_patient("Solo").id)
    assert [(s.label, s.session_date) for s in sessions] == [
        ("01-baseline", date(2026, 4, 1)),
        ("02-after", None),
    ]


def test_one_bad_photo_is_reported_and_the_rest_complete(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "in" / "P" / "2026-01-05"
    write_jpeg(folder / "frontal.jpg", 1)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    (folder / "empty.png").write_bytes(b"")
    write_jpeg(folder / "right-45.jpg", 2)
    stray = write_jpeg(tmp_path / "in" / "stray.jpg", 3)
    report = library.import_folder(tmp_path / "in")
    assert report.imported == 2
    failed = sorted(Path(e.path).name for e in report.errors)
    assert failed == ["broken.jpg", "empty.png", "stray.jpg"]
    for error in report.errors:
        assert Path(error.path).name in error.message
        assert error.message.endswith(".") and "\n" not in error.message
    assert str(stray) in {e.path for e in report.errors}
    assert library.integrity_problems() == []


def test_mask_files_are_never_imported_as_photos(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "in" / "P" / "2026-01-05"
    write_jpeg(folder / "frontal.jpg", 1)
    write_jpeg(folder / "orphan.mask.png", 2)  # a mask without its photo
    report = library.import_folder(tmp_path / "in")
    assert report.imported == 1 and report.errors == ()
    assert [p.original_name for p in library.photos_of(library.sessions_of(1)[0].id)] == [
        "frontal.jpg"
    ]


def test_unicode_patient_names_and_paths(library: Library, tmp_path: Path) -> None:
    # macOS writes decomposed (NFD) names; a clinician types composed (NFC) ones.
    nfd_patient = unicodedata.normalize("NFD", "José Ñúñez")
    folder = tmp_path / "Клиника 診療所" / nfd_patient / "2026-01-05 séance"
    write_jpeg(folder / "frontal – été.jpg", 1, captured_at=datetime(2026, 1, 5))
    write_jpeg(folder / "左45.jpg", 2, captured_at=datetime(2026, 1, 5))
    report = library.import_folder(tmp_path / "Клиника 診療所")
    assert report.imported == 2 and report.errors == ()
    patient = library.find_patient("José Ñúñez")
    assert patient.code == unicodedata.normalize("NFC", "José Ñúñez")
    assert library.find_patient("jose nunez").id == patient.id
    (session,) = library.sessions_of(patient.id)
    assert session.label == "2026-01-05 séance" and session.session_date == date(2026, 1, 5)
    names = sorted(p.original_name for p in library.photos_of(session.id))
    assert names == sorted(["frontal – été.jpg", "左45.jpg"])
    again = library.import_folder(tmp_path / "Клиника 診療所")
    assert again.imported == 0 and again.already_present == 2
    assert len(library.list_patients()) == 1


def test_unicode_library_folder(tmp_path: Path) -> None:
    root = tmp_path / "Bibliothèque ñ 图书馆"
    clinic = make_clinic_folder(tmp_path / "c", patients=1, sessions=1, views=2)
    with Library.open(root) as library:
        assert library.import_folder(clinic).imported == 2
        assert library.integrity_problems() == []
    with Library.open(root, create=False) as library:
        assert library.list_patients()[0].photo_count == 2


def test_import_with_patient_option_uses_existing_patient_by_name(
    library: Library, tmp_path: Path
) -> None:
    existing = library.add_patient("C-17", name="Maria Rossi")
    folder = tmp_path / "maria"
    write_jpeg(folder / "2026-01-05" / "frontal.jpg", 1)
    report = library.import_folder(folder, patient="maria rossi")
    assert report.imported == 1 and report.patients == ("C-17",)
    assert library.get_patient(existing.id).photo_count == 1
    assert len(library.list_patients()) == 1


def test_import_photos_dropped_into_a_session(library: Library, tmp_path: Path) -> None:
    a = write_jpeg(tmp_path / "drop" / "IMG_1.jpg", 1, captured_at=datetime(2026, 5, 1))
    b = write_jpeg(tmp_path / "drop" / "IMG_2.jpg", 2)
    note = tmp_path / "drop" / "note.txt"
    note.write_text("x")
    report = library.import_photos([a, b, note], "P-9", date(2026, 5, 2))
    assert report.imported == 2
    assert [Path(w.path).name for w in report.errors] == ["note.txt"]
    (session,) = library.sessions_of(library.find_patient("P-9").id)
    assert session.label == "2026-05-02" and session.session_date == date(2026, 5, 2)
    assert session.photo_count == 2


def test_cancel_keeps_finished_sessions_whole(library: Library, tmp_path: Path) -> None:
    clinic = make_clinic_folder(tmp_path / "clinic", patients=1, sessions=3, views=3)
    cancel = threading.Event()
    stored = 0

    def progress(_fraction: float, message: str) -> None:
        nonlocal stored
        if message.startswith("Storing"):
            stored += 1
            if stored == 5:  # in the middle of the second session
                cancel.set()

    with pytest.raises(Cancelled):
        library.import_folder(clinic, progress=progress, cancel=cancel)
    patient = library.find_patient("P000")
    sessions = library.sessions_of(patient.id)
    assert [s.photo_count for s in sessions] == [3]
    report = library.import_folder(clinic)
    assert report.imported == 6 and report.already_present == 3
    assert library.integrity_problems() == []


def test_import_of_a_missing_folder_is_one_sentence(library: Library, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        library.import_folder(tmp_path / "nope")
