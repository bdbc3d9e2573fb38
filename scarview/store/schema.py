"""Schema migrations of the library database, tracked by ``PRAGMA user_version``.

Each migration is a file ``resources/sql/NNNN_<what>.sql``; its number is the
schema version it produces. A later issue adds a schema change by adding the
next numbered file, never by editing an applied one. :func:`apply_migrations`
runs every file newer than the database's ``user_version``, each in its own
``BEGIN IMMEDIATE`` transaction together with the new ``user_version``, so a
crash or an error leaves the database at the previous version, never between.

Foreign-key enforcement is switched off while a migration runs (SQLite's
recommended procedure, so a migration may rebuild a table) and the whole
database is checked with ``PRAGMA foreign_key_check`` before the commit.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from scarview import resources

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaError(RuntimeError):
    """The database's schema cannot be brought to this version of ScarView."""


@dataclass(frozen=True)
class Migration:
    """One schema step.

    Attributes
    ----------
    version : int
        The ``user_version`` the database has once the step is applied (1, 2, ...).
    name : str
        File name in ``resources/sql/``.
    sql : str
        The statements.
    """

    version: int
    name: str
    sql: str


@cache
def migrations() -> tuple[Migration, ...]:
    """Return every migration shipped with ScarView, in version order.

    Returns
    -------
    tuple of Migration
        Versions 1, 2, ... without gaps.

    Raises
    ------
    SchemaError
        If two files share a number or a number is missing.
    """
    folder = resources.resource_root().joinpath("sql")
    found: dict[int, str] = {}
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            raise SchemaError(
                f"Two migrations are numbered {version}: {found[version]}, {entry.name}."
            )
        found[version] = entry.name
    expected = list(range(1, len(found) + 1))
    if sorted(found) != expected:
        raise SchemaError(f"Migrations must be numbered 1 to {len(found)}; found {sorted(found)}.")
    return tuple(Migration(v, found[v], resources.read_text("sql", found[v])) for v in expected)


def latest_version() -> int:
    """Return the schema version this ScarView writes (the highest migration number)."""
    return len(migrations())


def user_version(conn: sqlite3.Connection) -> int:
    """Return the database's ``PRAGMA user_version`` (0 for a new, empty file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def split_statements(sql: str) -> Iterator[str]:
    """Yield the complete SQL statements of a script, one at a time.

    Parameters
    ----------
    sql : str
        A script of ``;``-terminated statements; semicolons inside string
        literals and trigger bodies are handled by :func:`sqlite3.complete_statement`.

    Yields
    ------
    str
        Each statement with its terminating semicolon; comment-only pieces are skipped.
    """
    buffer = ""
    for piece in sql.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if _has_code(buffer):
                yield buffer.strip()
            buffer = ""
    if _has_code(buffer.removesuffix(";")):
        raise SchemaError(f"Incomplete SQL statement at the end of a migration: {buffer[:80]!r}.")


def _has_code(text: str) -> bool:
    lines = (line.split("--", 1)[0].strip() for line in text.splitlines())
    return any(line and line != ";" for line in lines)


def apply_migrations(conn: sqlite3.Connection, *, target: int | None = None) -> int:
    """Bring the database up to ``target`` (default: the latest) schema version.

    Parameters
    ----------
    conn : sqlite3.Connection
        Opened with ``isolation_level=None`` (ScarView manages its transactions).
    target : int, optional
        Stop at this version; tests use it to build an old library.

    Returns
    -------
    int
        The database's schema version afterwards.

    Raises
    ------
    SchemaError
        If the database is newer than this ScarView, or a migration leaves a
        broken foreign key (the migration is then rolled back).
    """
    steps = migrations()
    goal = len(steps) if target is None else target
    current = user_version(conn)
    if current > len(steps):
        raise SchemaError(
            f"the library was written by a newer ScarView (schema {current}; "
            f"this version knows up to {len(steps)})"
        )
    for step in steps:
        if step.version <= current or step.version > goal:
            continue
        _apply_one(conn, step)
        current = user_version(conn)
    return current


def _apply_one(conn: sqlite3.Connection, step: Migration) -> None:
    conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction, so before BEGIN
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while this one waited for the lock.
            found = user_version(conn)
            if found >= step.version:
                conn.execute("ROLLBACK")
                return
            if found != step.version - 1:
                raise SchemaError(f"cannot apply {step.name} to schema {found}")
            for statement in split_statements(step.sql):
                conn.execute(statement)
            broken = conn.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise SchemaError(f"{step.name} leaves {len(broken)} broken foreign keys")
            conn.execute(f"PRAGMA user_version = {int(step.version)}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
