"""``scarview report`` as the contract gives it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from scarview.commands import report as report_command
from scarview.errors import ScarViewError
from scarview.store import Library

from .conftest import PATIENT_NAME
from .helpers import pdf_text


def run(argv: list[str]) -> int:
    """Parse and run ``scarview report`` as :func:`scarview.cli.main` does.

    The command is registered on its own parser, so these tests do not depend on
    every other command importing cleanly.
    """
    parser = argparse.ArgumentParser(prog="scarview")
    report_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ScarViewError as exc:
        print(f"scarview: {exc}", file=sys.stderr)
        return exc.exit_code


def test_report_command_writes_the_pdf(
    sample_library: Library, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.pdf"
    root = str(sample_library.root)
    assert run(["report", "--patient", "demo-patient", "--out", str(out), "--library", root]) == 0
    assert out.read_bytes().startswith(b"%PDF-")
    assert "demo-patient" in capsys.readouterr().out
    assert PATIENT_NAME in pdf_text(out)


def test_report_command_finds_the_patient_by_name_and_deidentifies(
    sample_library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCARVIEW_LIBRARY", str(sample_library.root))
    out = tmp_path / "deid.pdf"
    argv = ["report", "--patient", PATIENT_NAME.lower(), "--out", str(out), "--deidentify"]
    assert run(argv) == 0
    text = pdf_text(out)
    assert "demo-patient" in text and PATIENT_NAME not in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--patient", "nobody"], "nobody"),
        (["--patient", "solo", "--out", "{missing}/r.pdf"], "folder does not exist"),
    ],
)
def test_report_command_errors_are_one_sentence(
    sample_library: Library,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    needle: str,
) -> None:
    argv = ["report", "--library", str(sample_library.root)]
    argv += [a.replace("{missing}", str(tmp_path / "no-such-folder")) for a in args]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "r.pdf")]
    assert run(argv) == 3
    err = capsys.readouterr().err.strip()
    assert needle in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "r.pdf").exists()


def test_report_command_without_a_library(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "r.pdf")
    assert run(["report", "--patient", "x", "--out", out, "--library", str(tmp_path / "no")]) == 3
    assert "library" in capsys.readouterr().err


def test_report_command_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run(["report", "--out", "x.pdf"])
    assert info.value.code == 2
    assert "--patient" in capsys.readouterr().err


def test_report_is_a_scarview_command(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("scarview.core.measure", reason="the analysis engine is not merged yet")
    from scarview.cli import main

    with pytest.raises(SystemExit) as info:
        main(["report", "--help"])
    assert info.value.code == 0
    assert "--deidentify" in capsys.readouterr().out
