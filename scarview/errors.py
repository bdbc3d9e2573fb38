"""Project exceptions.

Every error a user can cause by pointing ScarView at a bad file is a
:class:`ScarViewError` whose ``str`` is one clear sentence naming the file. The
CLI prints that sentence on stderr and exits with the code the contract gives;
it never shows a traceback for these.
"""

from __future__ import annotations

from pathlib import Path


class ScarViewError(Exception):
    """Base class of every error ScarView reports to a user as one sentence."""

    exit_code: int = 1


class PhotoError(ScarViewError):
    """A file could not be read as a supported photo.

    Parameters
    ----------
    path : str or Path
        The file, as the user named it.
    reason : str
        What is wrong, as the end of a sentence (no capital, no full stop),
        e.g. ``"the file is empty"``.
    """

    exit_code = 3

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason.rstrip(".")
        super().__init__(f"Cannot read {self.path!r}: {self.reason}.")


class InputError(ScarViewError):
    """A non-photo input (region-of-interest JSON, folder, option) is unusable."""

    exit_code = 3

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason.rstrip(".")
        super().__init__(f"Cannot use {self.path!r}: {self.reason}.")


class Cancelled(ScarViewError):  # noqa: N818 - reads as a state, like the clinic says it
    """Long work was cancelled through its cancel event."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__("The operation was cancelled.")
