"""The task store's tables: one list of migrations for both backends.

Each migration is DDL in the subset SQLite and PostgreSQL share, with three holes a dialect
fills (``{serial}``: an auto-numbered primary key) plus: ``{timestamp}`` (TEXT holding ISO 8601 with +08:00 in SQLite, TIMESTAMPTZ in
PostgreSQL), ``{json}`` (TEXT / JSONB) and ``{pattern_ops}`` (the operator class that lets a
``LIKE 'prefix%'`` use the index in PostgreSQL). The allowed values in the CHECK constraints
come from ``model``. Add a migration by appending to ``MIGRATIONS``; never edit a shipped one.
"""

from __future__ import annotations

from gridrisk.taskstore.model import LEVELS, RESULTS, ROLES, SEVERITIES, STATUSES


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

# The service: the fuller case loop, actors and their tokens, the evidence-read log, the
# outbox of task events and its deliveries, and the pipeline's logical date.
_V2 = """
ALTER TABLE tasks ADD COLUMN address_text TEXT;
ALTER TABLE tasks ADD COLUMN logical_date TEXT;
ALTER TABLE tasks ADD COLUMN source TEXT NOT NULL DEFAULT 'rules';
ALTER TABLE tasks ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tasks ADD COLUMN assignee TEXT;
ALTER TABLE tasks ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN overdue_since {timestamp};
ALTER TABLE task_events ADD COLUMN action TEXT;
ALTER TABLE task_events ADD COLUMN logical_date TEXT;
ALTER TABLE task_events ADD COLUMN detail {json};
CREATE INDEX IF NOT EXISTS tasks_open_deadline_idx ON tasks (status, deadline);
CREATE TABLE IF NOT EXISTS actors (
    actor_id     TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    unit         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ({roles})),
    active       INTEGER NOT NULL DEFAULT 1,
    created_at   {timestamp} NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_id   TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    actor_id   TEXT NOT NULL REFERENCES actors (actor_id),
    created_at {timestamp} NOT NULL,
    expires_at {timestamp} NOT NULL,
    revoked_at {timestamp}
);
CREATE TABLE IF NOT EXISTS evidence_reads (
    read_id  TEXT PRIMARY KEY,
    task_id  TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    at       {timestamp} NOT NULL,
    purpose  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_reads_task_idx ON evidence_reads (task_id, at);
CREATE TABLE IF NOT EXISTS outbox (
    position       {serial},
    event_key      TEXT NOT NULL UNIQUE,
    task_id        TEXT NOT NULL,
    receiving_unit TEXT NOT NULL,
    created_at     {timestamp} NOT NULL,
    payload        {json} NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_unit_idx ON outbox (receiving_unit {pattern_ops});
CREATE TABLE IF NOT EXISTS deliveries (
    event_key       TEXT NOT NULL REFERENCES outbox (event_key),
    subscriber      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    enqueued_at     {timestamp} NOT NULL,
    next_attempt_at {timestamp} NOT NULL,
    last_error      TEXT,
    delivered_at    {timestamp},
    PRIMARY KEY (event_key, subscriber)
);
CREATE INDEX IF NOT EXISTS deliveries_due_idx ON deliveries (subscriber, status, next_attempt_at);
CREATE TABLE IF NOT EXISTS store_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
)
"""

#: Migration n is ``MIGRATIONS[n - 1]``; the applied ones are recorded in ``schema_version``
#: (SQLite) or by alembic (PostgreSQL, ``gridrisk/taskstore/migrations``).
# The grid polygons a centre's map page draws (from the grid office's reference delivery).
_V3 = """
CREATE TABLE IF NOT EXISTS grids (
    grid_code     TEXT PRIMARY KEY,
    name          TEXT,
    level         TEXT NOT NULL,
    parent_code   TEXT,
    geometry_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS grids_code_idx ON grids (grid_code {pattern_ops})
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)

VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at {timestamp} NOT NULL
)
"""


def render(ddl: str, *, timestamp: str, json: str, pattern_ops: str, serial: str) -> list[str]:
    """The statements of ``ddl`` with the dialect's types filled in."""
    text = ddl.format(timestamp=timestamp, json=json, pattern_ops=pattern_ops, serial=serial,
                      roles=_sql_list(ROLES),
                      severities=_sql_list(SEVERITIES), levels=_sql_list(LEVELS),
                      statuses=_sql_list(STATUSES), results=_sql_list(RESULTS))
    return [stmt.strip() for stmt in text.split(";") if stmt.strip()]
