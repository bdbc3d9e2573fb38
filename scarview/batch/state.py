"""The batch's resume state: which photos are measured, kept beside the outputs.

``OUT_DIR/.scarview-batch/done.jsonl`` holds one JSON line per measured photo,
``{"key": ..., "record": {...}, "thumbnail": "thumbs/<key>.jpg" or null}``,
appended (one ``write`` then ``fsync``) as soon as the parent receives the
result. The key (:func:`scarview.batch.results.result_key`) is the photo's
SHA-256, its baseline photo's SHA-256 and a hash of the settings and algorithm
versions, so a re-run with the same settings skips the photo and a re-run with
other settings measures it again. A line cut short by a crash is ignored when
the file is read back; a thumbnail is written (atomically) before the line
that names it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

from scarview.atomic import atomic_write_bytes
from scarview.batch.results import Record

STATE_DIR = ".scarview-batch"
DONE_FILE = "done.jsonl"
THUMBS_DIR = "thumbs"


class _Entry(NamedTuple):
    """Where a measured photo's line is in ``done.jsonl``, and its thumbnail's name."""

    offset: int
    length: int
    thumbnail: str | None


class ResumeState:
    """Measured photos of earlier and current runs, by result key.

    Records are not kept in memory: the state holds only where each photo's
    line is in ``done.jsonl`` (a few hundred bytes per photo) and reads a
    record back when it is asked for, so the batch process does not grow with
    the number of photos it has measured.

    Parameters
    ----------
    out_dir : Path
        The batch's output folder; the state lives in ``out_dir/.scarview-batch``.
    """

    def __init__(self, out_dir: Path) -> None:
        self.folder = Path(out_dir) / STATE_DIR
        self.path = self.folder / DONE_FILE
        self._entries: dict[str, _Entry] = {}
        self._load()

    def _load(self) -> None:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            offset = 0
            for line in handle:
                entry = _parse(line)
                if entry is not None:
                    thumbnail = entry.get("thumbnail")
                    self._entries[entry["key"]] = _Entry(
                        offset, len(line), thumbnail if isinstance(thumbnail, str) else None
                    )
                offset += len(line)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, key: str) -> Record | None:
        """The measurement stored under ``key`` (read back from ``done.jsonl``), or ``None``."""
        where = self._entries.get(key)
        if where is None:
            return None
        with self.path.open("rb") as handle:
            handle.seek(where.offset)
            entry = _parse(handle.read(where.length))
        if entry is None or entry["key"] != key:
            raise OSError(f"the batch's resume state {str(self.path)!r} changed while it was read")
        record: Record | None = entry.get("record")
        return record

    def thumbnail_path(self, key: str) -> Path | None:
        """The stored overlay thumbnail of ``key``, if one was made and still exists."""
        where = self._entries.get(key)
        if where is None or not where.thumbnail:
            return None
        path = self.folder / where.thumbnail
        return path if path.is_file() else None

    def add(self, key: str, record: Record, thumbnail_jpeg: bytes | None) -> None:
        """Store a measured photo durably (thumbnail first, then its line)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        thumb_name: str | None = None
        if thumbnail_jpeg is not None:
            thumb_name = f"{THUMBS_DIR}/{key}.jpg"
            atomic_write_bytes(self.folder / thumb_name, thumbnail_jpeg)
        elif (old := self._entries.get(key)) is not None and self.thumbnail_path(key):
            thumb_name = old.thumbnail
        entry = {"key": key, "record": record, "thumbnail": thumb_name}
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        offset = self._append(line)
        self._entries[key] = _Entry(offset, len(line), thumb_name)

    def _append(self, line: bytes) -> int:
        """Append ``line`` durably; return the offset it starts at."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
        fd = os.open(self.path, flags, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size > 0:
                with self.path.open("rb") as check:
                    check.seek(size - 1)
                    if check.read(1) != b"\n":
                        line = b"\n" + line  # close a line cut short by a crash
                        size += 1
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        return size


def _parse(line: bytes) -> dict[str, Any] | None:
    """One line of ``done.jsonl`` as a dict with a ``key``; ``None`` for a line cut short."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if isinstance(entry, dict) and isinstance(entry.get("key"), str):
        return entry
    return None
