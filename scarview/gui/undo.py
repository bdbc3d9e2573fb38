"""Undo and redo of the clinician's corrections, each one written to the library.

Every correction is a :class:`~PySide6.QtGui.QUndoCommand` on the window's
``QUndoStack``. Doing it records the correction in the library (the first time)
or restores it (after an undo); undoing it marks it deleted, so the library
keeps the full history. A manual alignment also stores the new alignment, and
its undo stores the previous alignment again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QUndoCommand

from scarview.core.types import Alignment
from scarview.errors import ScarViewError
from scarview.store import Library

#: Called after a command changed the library: the photo ids touched.
ChangedCallback = Callable[[set[int]], None]
#: Called with one sentence when a library write failed.
ErrorCallback = Callable[[str], None]


@dataclass(frozen=True)
class CorrectionEdit:
    """One correction to record.

    Attributes
    ----------
    photo_id : int
    kind : str
        One of :data:`scarview.store.CORRECTION_KINDS`.
    payload : dict
        JSON-ready data (coordinates in that photo's own pixels).
    """

    photo_id: int
    kind: str
    payload: Mapping[str, Any]


class CorrectionCommand(QUndoCommand):
    """Record one or more corrections together (e.g. a region of interest on every session).

    Parameters
    ----------
    library : Library
    edits : sequence of CorrectionEdit
    text : str
        What the Edit menu says ("Remove scar", "Draw region of interest"...).
    on_changed : callable
        Receives the photo ids whose results changed.
    on_error : callable
        Receives a sentence when the library refused the write.
    """

    def __init__(
        self,
        library: Library,
        edits: Sequence[CorrectionEdit],
        text: str,
        on_changed: ChangedCallback,
        on_error: ErrorCallback,
    ) -> None:
        super().__init__(text)
        self.library = library
        self.edits = tuple(edits)
        self.on_changed = on_changed
        self.on_error = on_error
        self.correction_ids: list[int] = []

    def redo(self) -> None:
        """Record (first time) or restore the corrections."""
        try:
            if not self.correction_ids:
                for edit in self.edits:
                    record = self.library.add_correction(
                        edit.photo_id, edit.kind, json.dumps(dict(edit.payload), sort_keys=True)
                    )
                    self.correction_ids.append(record.id)
            else:
                for correction_id in self.correction_ids:
                    self.library.restore_correction(correction_id)
        except ScarViewError as exc:
            self.setObsolete(True)
            self.on_error(str(exc))
            return
        self.on_changed({edit.photo_id for edit in self.edits})

    def undo(self) -> None:
        """Mark the corrections deleted (kept in the library as undone)."""
        try:
            for correction_id in reversed(self.correction_ids):
                self.library.delete_correction(correction_id)
        except ScarViewError as exc:
            self.on_error(str(exc))
            return
        self.on_changed({edit.photo_id for edit in self.edits})


class RevertCorrectionCommand(QUndoCommand):
    """Revert a correction made earlier (possibly in another session of the app)."""

    def __init__(
        self,
        library: Library,
        correction_id: int,
        photo_id: int,
        text: str,
        on_changed: ChangedCallback,
        on_error: ErrorCallback,
    ) -> None:
        super().__init__(text)
        self.library = library
        self.correction_id = correction_id
        self.photo_id = photo_id
        self.on_changed = on_changed
        self.on_error = on_error

    def redo(self) -> None:
        """Mark the correction deleted."""
        try:
            self.library.delete_correction(self.correction_id)
        except ScarViewError as exc:
            self.setObsolete(True)
            self.on_error(str(exc))
            return
        self.on_changed({self.photo_id})

    def undo(self) -> None:
        """Bring the correction back."""
        try:
            self.library.restore_correction(self.correction_id)
        except ScarViewError as exc:
            self.on_error(str(exc))
            return
        self.on_changed({self.photo_id})


class ManualAlignmentCommand(QUndoCommand):
    """Align a photo onto its baseline from clicked point pairs.

    Records an ``alignment_points`` correction (the clicked pairs, for
    traceability and for re-processing) and stores the resulting alignment;
    undo marks the correction deleted and stores the previous alignment again.
    """

    def __init__(
        self,
        library: Library,
        photo_id: int,
        baseline_photo_id: int,
        payload: dict[str, object],
        alignment: Alignment,
        previous: Alignment | None,
        on_changed: ChangedCallback,
        on_error: ErrorCallback,
    ) -> None:
        super().__init__("Align by hand")
        self.library = library
        self.photo_id = photo_id
        self.baseline_photo_id = baseline_photo_id
        self.payload = payload
        self.alignment = alignment
        self.previous = previous
        self.on_changed = on_changed
        self.on_error = on_error
        self.correction_id: int | None = None

    def redo(self) -> None:
        """Record the points and store the manual alignment."""
        try:
            if self.correction_id is None:
                record = self.library.add_correction(
                    self.photo_id, "alignment_points", json.dumps(self.payload, sort_keys=True)
                )
                self.correction_id = record.id
            else:
                self.library.restore_correction(self.correction_id)
            self.library.save_alignment(self.photo_id, self.baseline_photo_id, self.alignment)
        except ScarViewError as exc:
            self.setObsolete(True)
            self.on_error(str(exc))
            return
        self.on_changed({self.photo_id})

    def undo(self) -> None:
        """Mark the points undone and bring the previous alignment back."""
        previous = self.previous or Alignment(
            ok=False,
            method="none",
            homography=None,
            reason="The manual alignment was undone and no automatic alignment exists.",
        )
        try:
            if self.correction_id is not None:
                self.library.delete_correction(self.correction_id)
            self.library.save_alignment(self.photo_id, self.baseline_photo_id, previous)
        except ScarViewError as exc:
            self.on_error(str(exc))
            return
        self.on_changed({self.photo_id})
