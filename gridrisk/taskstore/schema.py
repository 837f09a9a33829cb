"""The task store's tables: one list of migrations for both backends.

Each migration is DDL in the subset SQLite and PostgreSQL share, with three holes a dialect
fills: ``{timestamp}`` (TEXT holding ISO 8601 with +08:00 in SQLite, TIMESTAMPTZ in
PostgreSQL), ``{json}`` (TEXT / JSONB) and ``{pattern_ops}`` (the operator class that lets a
``LIKE 'prefix%'`` use the index in PostgreSQL). The allowed values in the CHECK constraints
come from ``model``. Add a migration by appending to ``MIGRATIONS``; never edit a shipped one.
"""

from __future__ import annotations

from gridrisk.taskstore.model import LEVELS, RESULTS, SEVERITIES, STATUSES


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


_V1 = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id         TEXT PRIMARY KEY,
    flag_id         TEXT NOT NULL,
    rule_id         TEXT NOT NULL,
    rule_version    TEXT NOT NULL,
    severity        TEXT NOT NULL CHECK (severity IN ({severities})),
    priority        INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 4),
    subject_key     TEXT NOT NULL,
    address_code    TEXT,
    grid_code       TEXT NOT NULL,
    receiving_level TEXT NOT NULL CHECK (receiving_level IN ({levels})),
    receiving_unit  TEXT NOT NULL,
    department      TEXT NOT NULL,
    title           TEXT NOT NULL,
    explanation     TEXT NOT NULL,
    evidence        {json} NOT NULL,
    filed_at        {timestamp} NOT NULL,
    lon             DOUBLE PRECISION,
    lat             DOUBLE PRECISION,
    deadline        {timestamp} NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ({statuses})),
    updated_at      {timestamp} NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_unit_idx ON tasks (receiving_unit {pattern_ops}, status);
CREATE INDEX IF NOT EXISTS tasks_flag_idx ON tasks (flag_id);
CREATE TABLE IF NOT EXISTS task_events (
    task_id     TEXT NOT NULL REFERENCES tasks (task_id),
    seq         INTEGER NOT NULL,
    from_status TEXT CHECK (from_status IN ({statuses})),
    to_status   TEXT NOT NULL CHECK (to_status IN ({statuses})),
    actor       TEXT NOT NULL,
    at          {timestamp} NOT NULL,
    note        TEXT,
    result      TEXT CHECK (result IN ({results})),
    photo_url   TEXT,
    PRIMARY KEY (task_id, seq)
);
CREATE INDEX IF NOT EXISTS task_events_step_idx ON task_events (to_status, at)
"""

#: Migration n is ``MIGRATIONS[n - 1]``; the applied ones are recorded in ``schema_version``.
MIGRATIONS: tuple[str, ...] = (_V1,)

VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at {timestamp} NOT NULL
)
"""


def render(ddl: str, *, timestamp: str, json: str, pattern_ops: str) -> list[str]:
    """The statements of ``ddl`` with the dialect's types filled in."""
    text = ddl.format(timestamp=timestamp, json=json, pattern_ops=pattern_ops,
                      severities=_sql_list(SEVERITIES), levels=_sql_list(LEVELS),
                      statuses=_sql_list(STATUSES), results=_sql_list(RESULTS))
    return [stmt.strip() for stmt in text.split(";") if stmt.strip()]
