"""The architecture's boundaries, checked on the code itself."""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "scarview"
QT_ROOTS = {"PySide6", "shiboken6", "PyQt5", "PyQt6", "PySide2"}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_gui_imports_qt() -> None:
    offenders = [
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if "gui" not in path.relative_to(PACKAGE).parts and _imported_roots(path) & QT_ROOTS
    ]
    assert offenders == [], f"Qt imported outside scarview/gui/: {offenders}"


def test_checker_catches_a_stray_qt_import(tmp_path: Path) -> None:
    stray = tmp_path / "stray.py"
    stray.write_text("def f():\n    from PySide6 import QtCore\n", encoding="utf-8")
    assert "PySide6" in _imported_roots(stray)


def test_non_headless_opencv_is_not_installed() -> None:
    for dist in ("opencv-python", "opencv-contrib-python"):
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.distribution(dist)
