"""The inspection-task queue of the grid centres — the only code that talks to its database.

Example:
    >>> import tempfile, pathlib
    >>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/tasks.sqlite")
    >>> store.list_tasks("320115")
    []

DSNs: ``sqlite:///relative/or/absolute/path.sqlite`` (``sqlite:////abs/path`` for an absolute
one) and ``postgresql://user@host:port/db`` (password from the DSN or ``PGPASSWORD``). See
docs/taskstore.md.
"""

from __future__ import annotations

from gridrisk.taskstore.base import TaskStore
from gridrisk.taskstore.model import (
    ACTIONS,
    ROLES,
    STATUS_LABELS,
    STATUSES,
    TRANSITIONS,
    Actor,
    Conflict,
    FlagOutcome,
    IllegalTransition,
    InvalidTask,
    NotAllowed,
    RawIdRefused,
    Task,
    TaskError,
    TaskEvent,
    TaskNotFound,
    TaskStats,
    UpsertResult,
)
from gridrisk.taskstore.sla import SlaPolicy, load_sla
from gridrisk.taskstore.sqlstore import SqlTaskStore

__all__ = [
    "ACTIONS",
    "ROLES",
    "Actor",
    "Conflict",
    "NotAllowed",
    "SqlTaskStore",
    "STATUSES",
    "STATUS_LABELS",
    "TRANSITIONS",
    "FlagOutcome",
    "IllegalTransition",
    "InvalidTask",
    "RawIdRefused",
    "SlaPolicy",
    "Task",
    "TaskError",
    "TaskEvent",
    "TaskNotFound",
    "TaskStats",
    "TaskStore",
    "UpsertResult",
    "load_sla",
    "open_store",
]


def open_store(dsn: str, *, sla: SlaPolicy | None = None, pg_schema: str = "gridrisk",
               pool_size: int = 0) -> SqlTaskStore:
    """Open (and on first use create) the task store at ``dsn``.

    ``sla`` defaults to ``conf/sla.yaml``; ``pg_schema`` is the PostgreSQL schema holding the
    tables (tests use one per test); ``pool_size`` keeps that many idle connections for reuse
    (the service uses it; 0 opens one per call).
    """
    # Imported here so that a SQLite installation never needs psycopg, and vice versa.
    if dsn.startswith("sqlite:"):
        from gridrisk.taskstore.sqlite import SqliteDialect

        return SqlTaskStore(SqliteDialect.from_dsn(dsn), sla, pool_size)
    if dsn.startswith(("postgresql:", "postgres:")):
        from gridrisk.taskstore.postgres import PostgresDialect

        return SqlTaskStore(PostgresDialect(dsn, schema=pg_schema), sla, pool_size)
    scheme = dsn.split(":", 1)[0] if ":" in dsn else dsn[:20]
    raise ValueError(f"unknown task store DSN scheme {scheme!r}: use sqlite:///path/to/tasks.sqlite "
                     "or postgresql://user@host:port/db")
