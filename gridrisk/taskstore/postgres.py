"""The shared backend: PostgreSQL through psycopg 3, tables in their own schema.

The password comes from the DSN or libpq's environment (``PGPASSWORD``, ``~/.pgpass``); it is
never written in code or config, and never shown (``describe`` leaves it out). A transition
locks its task row with ``SELECT … FOR UPDATE``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import re
import zlib
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from gridrisk.taskstore.model import to_second
from gridrisk.taskstore.sqlstore import Database, Dialect

SCHEMES = ("postgresql://", "postgres://")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_NAMED_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    if "%" in sql:  # a literal % would be read by psycopg as a placeholder
        raise ValueError(f"shared SQL must not contain '%': {sql}")
    return _NAMED_PARAM.sub(r"%(\1)s", sql)


class PostgresDialect(Dialect):
    for_update = " FOR UPDATE"
    timestamp_type = "TIMESTAMPTZ"
    json_type = "JSONB"
    pattern_ops = "text_pattern_ops"

    def __init__(self, dsn: str, schema: str = "gridrisk", connect_timeout_s: int = 10) -> None:
        if not dsn.startswith(SCHEMES):
            raise ValueError("expected postgresql://user@host:port/db, got another scheme")
        if not _IDENTIFIER.match(schema):
            raise ValueError(f"schema {schema!r} must be a lower-case SQL identifier")
        self.dsn, self.schema, self.connect_timeout_s = dsn, schema, connect_timeout_s

    def describe(self) -> str:
        info = conninfo_to_dict(self.dsn)
        return (f"postgresql {info.get('user', '')}@{info.get('host', '')}:{info.get('port', '')}"
                f"/{info.get('dbname', '')} schema {self.schema}")

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=self.connect_timeout_s,
                               options=f"-c search_path={self.schema} -c TimeZone=Asia/Shanghai")

    def sql(self, text: str) -> str:
        return _pyformat(text)

    def lock_for_migration(self, db: Database) -> None:
        # Two processes starting at once must not both create the tables.
        db.run("SELECT pg_advisory_xact_lock(:key)", key=zlib.crc32(self.schema.encode()))
        db.run(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")

    def ts_in(self, value: _dt.datetime) -> _dt.datetime:
        return to_second(value)

    def ts_out(self, value: Any) -> _dt.datetime:
        return to_second(value)

    def json_in(self, value: dict[str, Any]) -> Jsonb:
        return Jsonb(value)

    def json_out(self, value: Any) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(value) if isinstance(value, str) else value
        return loaded
