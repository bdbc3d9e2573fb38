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
    assert cv2.imread(str(aligned)).shape == (1200, 1600, 3)


@pytest.mark.xfail(
    reason="Engine (issue 3): the sample's shallow rolling scar is outlined at about twice its "
    "true area in the last session (30 mm2 against 16.5), so baseline -> week 12 measures "
    "+4.2 mm2 where the truth is -7.6 mm2",
    strict=False,
)
def test_compare_sample_sessions_sees_the_scars_fill_in(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Baseline to week 12, the sample patient's scars fill in: the change is negative."""
    assert main(["compare", str(BASELINE), str(LATEST), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    truth_before = json.loads((BASELINE.parent / "cheek-left.truth.json").read_text())
    truth_after = json.loads((LATEST.parent / "cheek-left.truth.json").read_text())
    assert truth_after["area_mm2"] < truth_before["area_mm2"]
    assert doc["change"]["area_mm2"] < 0


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


def test_compare_side_by_side_equals_one_after_the_other() -> None:
    """The photos' work runs in a forked process or a thread: bit for bit the sequential result."""
    from scarview.core.pipeline import compare_photos

    alone = compare_photos(BASELINE, LATEST, parallel="none")
    assert alone.alignment.homography is not None
    for parallel in ("process", "thread"):
        together = compare_photos(BASELINE, LATEST, parallel=parallel)  # type: ignore[arg-type]
        assert together.to_document() == alone.to_document()
        assert together.alignment.homography is not None
        np.testing.assert_array_equal(together.alignment.homography, alone.alignment.homography)
        for a, b in ((together.before, alone.before), (together.after, alone.after)):
            np.testing.assert_array_equal(a.photo.rgb, b.photo.rgb)
            np.testing.assert_array_equal(a.scarmap.labels, b.scarmap.labels)
            np.testing.assert_array_equal(a.exclude, b.exclude)
            assert [s.to_dict() for s in a.scarmap.scars] == [s.to_dict() for s in b.scarmap.scars]
        steps = {"read", "calibrate", "analyse", "prepare"}
        expected = {f"{s} {side}" for s in steps for side in ("before", "after")}
        assert expected | {"align", "change", "total"} <= set(together.timings_s)
        assert all(v >= 0 for v in together.timings_s.values())


def test_compare_names_the_photo_that_cannot_be_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scarview.core.pipeline import compare_photos
    from scarview.errors import PhotoError

    bad = tmp_path / "after-bad.jpg"
    bad.write_bytes(LATEST.read_bytes()[:5000])
    assert main(["compare", str(BASELINE), str(bad), "--json"]) == 3
    err = capsys.readouterr()
    assert "after-bad.jpg" in err.err and len(err.err.strip().splitlines()) == 1
    assert err.out == ""
    worse = tmp_path / "before-bad.jpg"
    worse.write_bytes(b"not a photo at all" * 100)
    assert main(["compare", str(worse), str(bad)]) == 3
    assert "before-bad.jpg" in capsys.readouterr().err  # BEFORE's error first
    # The same sentence whichever way the photos were processed.
    for parallel in ("process", "thread", "none"):
        with pytest.raises(PhotoError) as caught:
            compare_photos(BASELINE, bad, parallel=parallel)  # type: ignore[arg-type]
        assert caught.value.path == str(bad) and "truncated" in str(caught.value)


def test_compare_carries_the_region_of_interest_into_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--roi is drawn on BEFORE; AFTER is measured over the same skin, through the alignment."""
    polygon = [[0, 0], [900, 0], [900, 1199], [0, 1199]]  # BEFORE's left part
    roi = tmp_path / "roi.json"
    roi.write_text(json.dumps({"polygon": polygon}))
    assert main(["compare", str(BASELINE), str(LATEST), "--roi", str(roi), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    H = np.asarray(doc["alignment"]["homography"])
    contour = np.asarray(polygon, np.float32).reshape(-1, 1, 2)
    after_scars = doc["after"]["scars"]
    assert after_scars
    for scar in after_scars:
        x, y = cv2.perspectiveTransform(np.array([[scar["centroid_xy"]]], np.float64), H)[0, 0]
        assert cv2.pointPolygonTest(contour, (float(x), float(y)), True) >= -1.0
    for doc_side in (doc["before"], doc["after"]):
        summary = doc_side["summary"]
        assert summary["count"] == len(doc_side["scars"])
        assert summary["area_mm2"] == pytest.approx(
            sum(s["area_mm2"] for s in doc_side["scars"]), abs=1e-3
        )
    # AFTER's region is BEFORE's (about 56 % of the frame), less what AFTER's frame cuts off.
    ppm_after = doc["after"]["calibration"]["px_per_mm"]
    after_frame_mm2 = 1600 * 1200 / ppm_after**2
    region_mm2 = doc["after"]["summary"]["roi_area_mm2"]
    assert 0.4 * after_frame_mm2 < region_mm2 < 0.65 * after_frame_mm2
    assert region_mm2 == pytest.approx(doc["before"]["summary"]["roi_area_mm2"], rel=0.15)
    change = doc["change"]
    assert change["area_mm2"] == pytest.approx(
        doc["after"]["summary"]["area_mm2"] - doc["before"]["summary"]["area_mm2"], abs=0.01
    )
    assert change["count"] == doc["after"]["summary"]["count"] - doc["before"]["summary"]["count"]


def test_compare_can_be_cancelled_and_leaves_no_process_behind() -> None:
    import multiprocessing
    import threading

    from scarview.core.pipeline import compare_photos
    from scarview.errors import Cancelled

    for parallel in ("process", "thread", "none"):
        stop = threading.Event()
        stop.set()
        with pytest.raises(Cancelled):
            compare_photos(BASELINE, LATEST, cancel=stop, parallel=parallel)  # type: ignore[arg-type]
    # Cancelled while both photos are being analysed.
    stop = threading.Event()
    timer = threading.Timer(0.4, stop.set)
    timer.start()
    with pytest.raises(Cancelled):
        compare_photos(BASELINE, LATEST, cancel=stop, parallel="process")
    timer.join()
    assert multiprocessing.active_children() == []
