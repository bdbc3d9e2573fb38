"""The ``scarview`` command line (see ``CONTRACT.md``).

Argument parsing only; each sub-command lives in :mod:`scarview.commands` and
calls the layers below. No Qt is imported unless the ``gui`` command runs.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from scarview import __version__, commands
from scarview.errors import ScarViewError

EXIT_OK = 0
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every discovered sub-command."""
    parser = argparse.ArgumentParser(
        prog="scarview",
        description=(
            "Measure atrophic (pitted) acne scars in clinical photos: outline them, "
            "measure their area in mm², align sessions and chart the change."
        ),
    )
    parser.add_argument("--version", action="version", version=f"scarview {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [
        importlib.import_module(f"{commands.__name__}.{info.name}")
        for info in pkgutil.iter_modules(commands.__path__)
        if not info.name.startswith("_")
    ]
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        module.register(subparsers)
    return parser


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        # A bare ``scarview`` opens the desktop app once it is installed.
        if args.command is None and "gui" in _command_names(parser):
            args = parser.parse_args(["gui"])
        else:
            parser.print_help()
            return EXIT_OK
    try:
        return int(args.func(args))
    except ScarViewError as exc:
        print(f"scarview: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("scarview: interrupted.", file=sys.stderr)
        return 130
