"""Fixtures for the GUI tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("PySide6")

from tests.gui.helpers import assert_no_leaks


@pytest.fixture
def no_leaks() -> Iterator[list[object]]:
    """Collect windows; after the test each must be closed with nothing left running."""
    windows: list[object] = []
    yield windows
    for window in windows:
        assert_no_leaks(window)
