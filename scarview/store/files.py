"""Crash-safe file operations inside a library folder.

A file becomes visible under its final name only once its bytes are on disk:
it is written to ``tmp/`` inside the library (same file system), flushed with
``fsync``, checked, then renamed. Moving a file (to or from the trash) first
links or copies it to its new place and removes the old name only after the
database says where it lives, so a crash leaves at worst a spare copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
import uuid
from pathlib import Path

from scarview.errors import PhotoError

#: Folders inside a library, relative to it.
ORIGINALS = "originals"
DERIVED = "derived"
TRASH = "trash"
TMP = "tmp"
BACKUPS = "backups"

DIR_MODE = 0o700
READ_ONLY = 0o400
_CHUNK = 1 << 20


def make_dir(path: Path) -> None:
    """Create ``path`` and missing parents, owner-only (mode 0o700)."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIR_MODE)
        folder.chmod(DIR_MODE)


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (no-op where folders cannot be opened)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _temp_path(root: Path) -> Path:
    folder = root / TMP
    make_dir(folder)
    return folder / f"{uuid.uuid4().hex}.part"


def _install(tmp: Path, dst: Path, mode: int) -> None:
    tmp.chmod(mode)
    make_dir(dst.parent)
    if dst.exists() and os.name != "posix":  # Windows cannot replace a read-only file
        dst.chmod(0o600)
    tmp.replace(dst)
    fsync_dir(dst.parent)


def store_copy(src: Path, root: Path, relative: str, expected_sha256: str) -> None:
    """Copy ``src`` into the library as ``root / relative``, read-only.

    Does nothing when the destination already holds exactly these bytes (for
    example a copy left by an import that was killed before its commit).

    Parameters
    ----------
    src : Path
        The file to copy.
    root : Path
        The library folder.
    relative : str
        Destination relative to ``root``, e.g. ``"originals/ab/ab12….jpg"``.
    expected_sha256 : str
        The hash the copy must have.

    Raises
    ------
    PhotoError
        If the copy's bytes differ from ``expected_sha256`` (the source
        changed while it was being imported).
    """
    dst = root / relative
    if dst.is_file() and sha256_of(dst) == expected_sha256:
        return
    tmp = _temp_path(root)
    try:
        with src.open("rb") as fin, tmp.open("xb") as fout:
            shutil.copyfileobj(fin, fout, _CHUNK)
            fout.flush()
            os.fsync(fout.fileno())
        if sha256_of(tmp) != expected_sha256:
            raise PhotoError(src, "the file changed while it was being imported")
        _install(tmp, dst, READ_ONLY)
    finally:
        tmp.unlink(missing_ok=True)


def store_bytes(data: bytes, root: Path, relative: str, *, read_only: bool = True) -> None:
    """Write ``data`` as ``root / relative`` atomically (temp file, fsync, rename).

    Parameters
    ----------
    data : bytes
    root : Path
        The library folder.
    relative : str
        Destination relative to ``root``.
    read_only : bool
        Leave the file read-only (mode 0o400) rather than 0o600.
    """
    tmp = _temp_path(root)
    try:
        with tmp.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _install(tmp, root / relative, READ_ONLY if read_only else 0o600)
    finally:
        tmp.unlink(missing_ok=True)


def link_or_copy(src: Path, dst: Path) -> None:
    """Give ``src``'s bytes a second name ``dst`` (hard link, else a verified copy).

    An existing ``dst`` with the same bytes is kept; one with other bytes is replaced.
    """
    if dst.is_file():
        if sha256_of(dst) == sha256_of(src):
            return
        dst.chmod(0o600)
        dst.unlink()
    make_dir(dst.parent)
    try:
        os.link(src, dst)
    except OSError:
        expected = sha256_of(src)
        tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.part")
        try:
            with src.open("rb") as fin, tmp.open("xb") as fout:
                shutil.copyfileobj(fin, fout, _CHUNK)
                fout.flush()
                os.fsync(fout.fileno())
            if sha256_of(tmp) != expected:
                raise OSError(f"copying {src} to {dst} changed its bytes") from None
            shutil.copymode(src, tmp)
            tmp.replace(dst)
        finally:
            tmp.unlink(missing_ok=True)
    fsync_dir(dst.parent)


def remove_file(path: Path) -> None:
    """Remove one file (read-only or not) if it exists."""
    if not path.exists():
        return
    if os.name != "posix":
        path.chmod(0o600)
    path.unlink()
    fsync_dir(path.parent)


def prune_empty_dirs(path: Path, stop: Path) -> None:
    """Remove ``path`` and its parents while they are empty, up to (not including) ``stop``."""
    current = path
    while current != stop and stop in current.parents:
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent


def clean_stale_temp(root: Path, *, older_than_s: float = 24 * 3600) -> int:
    """Remove temporary files an interrupted write left in ``root/tmp``.

    Only files older than ``older_than_s`` seconds are removed, so a write in
    progress in another process is never touched. Returns how many were removed.
    """
    folder = root / TMP
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for entry in folder.iterdir():
        try:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                entry.unlink()
                removed += 1
        except OSError:
            continue
    return removed
