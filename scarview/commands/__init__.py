"""One module per ``scarview`` sub-command.

Each module defines ``ORDER`` (its place in ``--help``) and
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed arguments and returning the exit code. :mod:`scarview.cli`
discovers the modules, so adding a command touches no shared file.
"""
