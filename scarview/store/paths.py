"""Where the library lives: ``--library DIR``, else ``$SCARVIEW_LIBRARY``, else user data."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

#: Environment variable naming the library folder (see ``CONTRACT.md``).
LIBRARY_ENV = "SCARVIEW_LIBRARY"


def default_library_dir() -> Path:
    """Return the library folder used when the command line names none.

    Returns
    -------
    Path
        ``$SCARVIEW_LIBRARY`` when set and not empty, else ``library`` inside
        the platform's user data folder for ScarView (for example
        ``~/.local/share/ScarView/library`` on Linux,
        ``~/Library/Application Support/ScarView/library`` on macOS,
        ``%LOCALAPPDATA%\\ScarView\\library`` on Windows).
    """
    from_env = os.environ.get(LIBRARY_ENV, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_data_dir("ScarView", appauthor=False)) / "library"


def resolve_library_dir(cli_value: str | os.PathLike[str] | None) -> Path:
    """Return the library folder for a command: ``--library DIR`` wins over the defaults.

    Parameters
    ----------
    cli_value : str or PathLike or None
        The ``--library`` option as given (``None`` or empty when absent).

    Returns
    -------
    Path
    """
    if cli_value is not None and str(cli_value).strip():
        return Path(cli_value).expanduser()
    return default_library_dir()
