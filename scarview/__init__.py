"""ScarView: measure atrophic acne scars across treatment sessions.

The package is layered (see ``ARCHITECTURE.md``): ``core`` is pure computation,
``store`` the SQLite patient library, ``report`` the PDF reports, ``batch`` the
folder jobs, ``gui`` the only PySide6 importer, and ``cli`` the entry point.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scarview")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.1.0"

__all__ = ["__version__"]
