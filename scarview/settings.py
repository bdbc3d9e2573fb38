"""User settings: a frozen dataclass saved as JSON in the platform's config folder.

``SCARVIEW_CONFIG_DIR`` overrides the folder (the tests point it at a temporary
one). Unknown keys in the file are ignored and missing ones take their defaults,
so an older or newer ScarView can read the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir

from scarview.atomic import atomic_write_text

APP_NAME = "ScarView"


@dataclass(frozen=True)
class Settings:
    """What a clinic sets once.

    Attributes
    ----------
    clinic_name : str
        Printed in the header of PDF reports.
    marker_mm : float
        Printed side of the clinic's ArUco scale markers, mm.
    theme : str
        ``"system"``, ``"light"`` or ``"dark"``.
    library_dir : str or None
        The library to open (None: the default location).
    """

    clinic_name: str = ""
    marker_mm: float = 10.0
    theme: str = "system"
    library_dir: str | None = None


def config_dir() -> Path:
    """The folder holding ``settings.json`` (and the GUI's window state)."""
    override = os.environ.get("SCARVIEW_CONFIG_DIR")
    return Path(override) if override else Path(user_config_dir(APP_NAME, appauthor=False))


def settings_path() -> Path:
    """Where the settings file lives."""
    return config_dir() / "settings.json"


def load_settings() -> Settings:
    """Read the settings; defaults when the file is missing or unreadable."""
    try:
        data: Any = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Settings()
    if not isinstance(data, dict):
        return Settings()
    known = {f.name: f for f in dataclasses.fields(Settings)}
    values = {}
    for key, value in data.items():
        if key in known:
            values[key] = value
    try:
        return Settings(**values)
    except TypeError:
        return Settings()


def save_settings(settings: Settings) -> Path:
    """Write the settings atomically and return the file's path."""
    path = settings_path()
    return atomic_write_text(path, json.dumps(dataclasses.asdict(settings), indent=2) + "\n")
