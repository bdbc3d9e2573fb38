"""``scarview import`` and ``scarview export`` as a user runs them."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from scarview import cli
from scarview.commands import library as library_commands
from scarview.core.records import MEASUREMENT_COLUMNS
from scarview.core.types import Alignment, Calibration
from scarview.store import Library
from tests.store.helpers import make_clinic_folder, make_scarmap


@pytest.fixture(autouse=True)
def _only_library_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the real ``scarview`` entry point with just these commands registered.

    Other commands are written in parallel; these tests must not depend on them.
    """

    def build_parser() -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog="scarview")
        library_commands.register(parser.add_subparsers(dest="command"))
        return parser

    monkeypatch.setattr(cli, "build_parser", build_parser)


def main(argv: list[str]) -> int:
    return cli.main(argv)


def test_import_json_then_human_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clinic = make_clinic_folder(tmp_path / "clinic", patients=2, sessions=2, views=2)
    library_dir = tmp_path / "lib"
    assert main(["import", str(clinic), "--library", str(library_dir), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "scarview.import/1"
    assert document["imported"] == 8 and document["already_present"] == 0
    assert document["patients"] == ["P000", "P001"]
    assert document["errors"] == []
    assert main(["import", str(clinic), "--library", str(library_dir)]) == 0
    out = capsys.readouterr().out
    assert "Imported 0 photos" in out and "Already in the library: 8" in out


def test_import_uses_the_environment_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "env-lib"
    monkeypatch.setenv("SCARVIEW_LIBRARY", str(target))
    clinic = make_clinic_folder(tmp_path / "c", patients=1, sessions=1, views=1)
    assert main(["import", str(clinic / "P000"), "--patient", "Ada"]) == 0
    capsys.readouterr()
    with Library.open(target, create=False) as library:
        assert [p.code for p in library.list_patients()] == ["Ada"]


def test_import_reports_bad_files_and_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clinic = make_clinic_folder(tmp_path / "clinic", patients=1, sessions=1, views=2)
    bad = clinic / "P000" / "2026-01-05" / "bad.jpg"
    bad.write_bytes(b"not a photo at all")
    code = main(["import", str(clinic), "--library", str(tmp_path / "lib")])
    captured = capsys.readouterr()
    assert code == 3
    assert "Imported 2 photos" in captured.out
    assert "bad.jpg" in captured.err and "Traceback" not in captured.err


def test_import_if_empty_runs_only_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clinic = make_clinic_folder(tmp_path / "clinic", patients=1, sessions=1, views=1)
    other = make_clinic_folder(tmp_path / "other", patients=2, sessions=1, views=1)
    lib = str(tmp_path / "lib")
    assert main(["import", str(clinic), "--library", lib, "--if-empty"]) == 0
    assert main(["import", str(other), "--library", lib, "--if-empty"]) == 0
    assert "nothing was imported" in capsys.readouterr().out
    with Library.open(lib) as library:
        assert [p.code for p in library.list_patients()] == ["P000"]


def test_import_of_a_missing_folder_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(tmp_path / "nope"), "--library", str(tmp_path / "lib")]) == 3
    err = capsys.readouterr().err
    assert "nope" in err and err.count("\n") == 1


def test_export_writes_the_patient_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clinic = make_clinic_folder(tmp_path / "clinic", patients=1, sessions=2, views=1)
    lib = tmp_path / "lib"
    with Library.open(lib) as library:
        library.import_folder(clinic)
        patient = library.find_patient("P000")
        library.update_patient(patient.id, name="Zoë Ängel")
        base, later = (library.photos_of(s.id)[0] for s in library.sessions_of(patient.id))
        for photo, seed in ((base, 1), (later, 2)):
            library.save_analysis(
                photo.id,
                make_scarmap(photo.height, photo.width, seed),
                Calibration(10.0, "marker"),
                {},
                "v1",
            )
        library.save_alignment(later.id, base.id, Alignment(True, "m", np.eye(3), rmse_px=0.2))
    out = tmp_path / "out.csv"
    assert main(["export", "--patient", "zoe angel", "--out", str(out), "--library", str(lib)]) == 0
    assert "Wrote 2 rows" in capsys.readouterr().out
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == MEASUREMENT_COLUMNS
    assert [r["session"] for r in rows] == ["2026-01-05", "2026-02-05"]
    assert rows[1]["aligned_ok"] == "true" and rows[1]["change_area_mm2"] != ""


def test_export_unknown_patient_or_library_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "x.csv")
    assert main(["export", "--patient", "X", "--out", out, "--library", str(tmp_path / "no")]) == 3
    assert "no ScarView library" in capsys.readouterr().err
    Library.open(tmp_path / "lib").close()
    assert main(["export", "--patient", "X", "--out", out, "--library", str(tmp_path / "lib")]) == 3
    assert "no patient" in capsys.readouterr().err
    assert not Path(out).exists()
