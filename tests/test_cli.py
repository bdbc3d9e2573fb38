"""The command line as scripts use it: help, version, exit codes, JSON documents."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from scarview import __version__
from scarview.cli import main

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images" / "demo-patient"
BASELINE = SAMPLES / "2026-01-05" / "cheek-left.jpg"
LATEST = SAMPLES / "2026-03-30" / "cheek-left.jpg"


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("analyze", "compare", "batch", "import", "export", "report"):
        assert command in out


def test_every_command_answers_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("analyze", "compare", "batch", "import", "export", "report"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert "usage: scarview " + command in capsys.readouterr().out


def test_unknown_flag_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["analyze", str(BASELINE), "--no-such-flag"])
    assert exc.value.code == 2


def test_python_dash_m_runs_the_same_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scarview", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"scarview {__version__}"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.jpg", b""),
        ("notes.jpg", b"This is a text file, not a photo.\n" * 20),
        ("cut.jpg", None),  # a truncated JPEG
    ],
)
def test_bad_photo_is_one_sentence_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes | None
) -> None:
    path = tmp_path / name
    if content is None:
        content = BASELINE.read_bytes()[:20000]
    path.write_bytes(content)
    assert main(["analyze", str(path)]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert name in err
    assert "Traceback" not in err
    assert path.read_bytes() == content


def test_bad_roi_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roi = tmp_path / "roi.json"
    roi.write_text('{"polygon": [[0, 0], [1, 1]]}')
    assert main(["analyze", str(BASELINE), "--roi", str(roi)]) == 3
    assert "roi.json" in capsys.readouterr().err


def test_analyze_json_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mask = tmp_path / "mask.png"
    overlay = tmp_path / "overlay.jpg"
    before = BASELINE.read_bytes()
    code = main(
        ["analyze", str(BASELINE), "--json", "--mask-out", str(mask), "--overlay-out", str(overlay)]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "scarview.analysis/1"
    assert doc["photo"]["width"] == 1600 and doc["photo"]["height"] == 1200
    assert doc["calibration"]["method"] == "marker"
    truth = json.loads((BASELINE.parent / "cheek-left.truth.json").read_text())
    assert doc["calibration"]["px_per_mm"] == pytest.approx(truth["px_per_mm"], rel=0.03)
    summary = doc["summary"]
    assert set(summary["by_type"]) == {"icepick", "boxcar", "rolling"}
    assert summary["count"] == len(doc["scars"]) > 0
    assert summary["area_mm2"] == pytest.approx(sum(s["area_mm2"] for s in doc["scars"]), rel=1e-3)
    for scar in doc["scars"]:
        assert set(scar) >= {
            "id",
            "type",
            "area_mm2",
            "area_px",
            "diameter_mm",
            "centroid_xy",
            "bbox_xywh",
            "confidence",
        }
    written = cv2.imread(str(mask), cv2.IMREAD_UNCHANGED)
    assert written.shape == (1200, 1600) and written.dtype == np.uint8
    assert set(np.unique(written)) <= {0, 255}
    assert int((written > 0).sum()) == summary["area_px"]
    assert cv2.imread(str(overlay)).shape == (1200, 1600, 3)
    assert BASELINE.read_bytes() == before


def test_analyze_without_scale_reports_null_areas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rgb = cv2.cvtColor(cv2.imread(str(BASELINE)), cv2.COLOR_BGR2RGB)
    no_marker = tmp_path / "crop.png"
    cv2.imwrite(str(no_marker), cv2.cvtColor(rgb[:, 700:], cv2.COLOR_RGB2BGR))
    assert main(["analyze", str(no_marker), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["calibration"]["method"] == "none"
    assert doc["summary"]["area_mm2"] is None
    assert doc["summary"]["count"] > 0 and doc["summary"]["area_px"] > 0
    assert "--px-per-mm" in captured.err
    assert any("--px-per-mm" in w for w in doc["warnings"])


def test_compare_sample_sessions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    aligned = tmp_path / "aligned.jpg"
    code = main(["compare", str(BASELINE), str(LATEST), "--json", "--aligned-out", str(aligned)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["schema"] == "scarview.comparison/1"
    assert doc["alignment"]["ok"] is True
    truth = json.loads((LATEST.parent / "cheek-left.truth.json").read_text())
    H_true = np.asarray(truth["homography_to_baseline"])
    H = np.asarray(doc["alignment"]["homography"])
    corners = np.array([[[0, 0], [1599, 0], [1599, 1199], [0, 1199]]], np.float64)
    err = np.linalg.norm(
        cv2.perspectiveTransform(corners, H) - cv2.perspectiveTransform(corners, H_true), axis=2
    )
    assert err.max() < 1.0
    change = doc["change"]
    assert change["area_mm2"] == pytest.approx(
        doc["after"]["summary"]["area_mm2"] - doc["before"]["summary"]["area_mm2"], abs=0.01
    )
    assert change["area_mm2"] < 0  # the sample patient's scars fill in
    assert cv2.imread(str(aligned)).shape == (1200, 1600, 3)


def test_compare_unrelated_photos_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coffee = tmp_path / "coffee.png"
    cv2.imwrite(str(coffee), cv2.cvtColor(skdata.coffee(), cv2.COLOR_RGB2BGR))
    code = main(["compare", str(BASELINE), str(coffee), "--json"])
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == 4
    assert doc["alignment"]["ok"] is False
    assert doc["change"] is None
    assert "could not be aligned" in captured.err
