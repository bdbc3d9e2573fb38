"""``scarview gui [--library DIR]``: open the desktop app (a bare ``scarview`` does too).

Qt is imported only when the command runs, so ``scarview --help`` and every
other command start without it.
"""

from __future__ import annotations

import argparse

ORDER = 5


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``gui`` command."""
    parser = subparsers.add_parser(
        "gui",
        help="open the desktop app",
        description=(
            "Open ScarView's window on the patient library: patients and sessions, the "
            "comparison of two sessions, and the trend of the pitted-scar area. On first run "
            "the sample patient is imported."
        ),
    )
    parser.add_argument(
        "--library",
        metavar="DIR",
        help="the library folder (default: $SCARVIEW_LIBRARY, else the user data folder)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``scarview gui``."""
    from scarview.gui.app import run as run_app

    return run_app(args.library)
