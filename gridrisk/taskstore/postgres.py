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
    serial_type = "BIGSERIAL PRIMARY KEY"
    skip_locked = " FOR UPDATE SKIP LOCKED"

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

    def idle(self, raw: Any) -> bool:
        return bool(raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE)

    def sql(self, text: str) -> str:
        return _pyformat(text)

    def migrate(self, db: Database) -> None:
        """alembic ``upgrade head`` (``gridrisk/taskstore/migrations``) under an advisory lock.

        A store created before alembic (``schema_version`` only) is stamped at its version first.
        """
        import sqlalchemy as sa
        from alembic import command
        from alembic.config import Config

        from gridrisk.taskstore.migrations import SCRIPT_LOCATION

        engine = sa.create_engine("postgresql+psycopg://", poolclass=sa.pool.NullPool,
                                  creator=lambda: psycopg.connect(
                                      self.dsn, connect_timeout=self.connect_timeout_s,
                                      options=f"-c search_path={self.schema} "
                                              "-c TimeZone=Asia/Shanghai"))
        key = zlib.crc32(self.schema.encode())
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
                try:
                    conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {self.schema}"))
                    conn.commit()
                    cfg = Config()
                    cfg.set_main_option("script_location", SCRIPT_LOCATION)
                    cfg.attributes.update(connection=conn, schema=self.schema)
                    names = set(sa.inspect(conn).get_table_names(schema=self.schema))
                    if "alembic_version" not in names and "schema_version" in names:
                        legacy = conn.execute(sa.text(
                            f"SELECT MAX(version) FROM {self.schema}.schema_version")).scalar()
                        if legacy:
                            command.stamp(cfg, f"{int(legacy):04d}")
                    command.upgrade(cfg, "head")
                    conn.commit()
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        finally:
            engine.dispose()

    def ts_in(self, value: _dt.datetime) -> _dt.datetime:
        return to_second(value)

    def ts_out(self, value: Any) -> _dt.datetime:
        return to_second(value)

    def json_in(self, value: dict[str, Any]) -> Jsonb:
        return Jsonb(value)

    def json_out(self, value: Any) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(value) if isinstance(value, str) else value
        return loaded
