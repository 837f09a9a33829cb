"""Alembic migrations of the PostgreSQL task store (``env.py`` + ``versions/``).

Each revision applies one entry of ``gridrisk.taskstore.schema.MIGRATIONS`` with PostgreSQL's
types, so the DDL is written once for both backends; SQLite runs the same list with the
built-in runner. ``open_store`` upgrades to head on open; by hand (e.g. before deploying a new
version)::

    python -m gridrisk.taskstore.migrations postgresql://user@host/db [--schema gridrisk]
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

from gridrisk.taskstore import schema

SCRIPT_LOCATION = str(Path(__file__).resolve().parent)


def apply(version: int) -> None:
    """Run migration ``version`` (1-based) of ``schema.MIGRATIONS`` in the current alembic op."""
    from gridrisk.taskstore.postgres import PostgresDialect

    for stmt in schema.render(schema.MIGRATIONS[version - 1], **PostgresDialect.ddl_types()):
        op.execute(stmt)
