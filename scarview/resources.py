"""Find ScarView's runtime files both in an installed wheel and in a checkout.

The wheel packs the top-level ``resources/`` folder as ``scarview/resources``;
a source checkout keeps it beside the package.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path


def resource_root() -> Traversable:
    """Return the folder holding ScarView's runtime files.

    Returns
    -------
    importlib.abc.Traversable
        ``scarview/resources`` inside an installed wheel, else the checkout's
        top-level ``resources/`` folder.
    """
    packed = resources.files("scarview").joinpath("resources")
    if packed.is_dir():
        return packed
    checkout = Path(__file__).resolve().parent.parent / "resources"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError("ScarView's resources folder is missing from this installation.")


def resource(*parts: str) -> Traversable:
    """Return one runtime file, e.g. ``resource("sql", "schema_v1.sql")``."""
    item = resource_root()
    for part in parts:
        item = item.joinpath(part)
    if not item.is_file():
        raise FileNotFoundError(f"ScarView resource {'/'.join(parts)!r} is missing.")
    return item


def read_text(*parts: str) -> str:
    """Return the text of one runtime file (UTF-8)."""
    return resource(*parts).read_text(encoding="utf-8")
