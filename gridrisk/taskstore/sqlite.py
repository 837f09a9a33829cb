"""The embedded backend: one SQLite file (stdlib ``sqlite3``), WAL mode.

Timestamps are stored as ISO 8601 text, always with ``+08:00``, so they sort and compare
as text; ``BEGIN IMMEDIATE`` takes the write lock up front, which makes a transition atomic
without row locks.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from pathlib import Path
from typing import Any

from gridrisk.taskstore.model import to_second
from gridrisk.taskstore.sqlstore import Dialect

SCHEME = "sqlite:///"


class SqliteDialect(Dialect):
    begin = "BEGIN IMMEDIATE"
    serial_type = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_dsn(cls, dsn: str) -> SqliteDialect:
        """``sqlite:///relative/file`` (from the current directory) or ``sqlite:////absolute/file``.

        ``gridrisk.config.load_profile`` has already made a profile's path absolute.
        """
        if not dsn.startswith(SCHEME) or dsn == SCHEME or ":memory:" in dsn:
            raise ValueError(f"expected sqlite:///path/to/tasks.sqlite (a file), got {dsn!r}")
        return cls(dsn[len(SCHEME):])

    def describe(self) -> str:
        return f"sqlite {self.path}"

    def connect(self) -> sqlite3.Connection:
        # check_same_thread off: a pooled connection moves between threads, one at a time.
        raw = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                              check_same_thread=False)
        raw.execute("PRAGMA foreign_keys = ON")
        # Makes LIKE 'prefix%' case sensitive, which lets it use the receiving_unit index.
        raw.execute("PRAGMA case_sensitive_like = ON")
        return raw

    def prepare(self, raw: Any) -> None:
        raw.execute("PRAGMA journal_mode = WAL")  # stored in the file: readers never block

    def refresh_statistics(self, db: Any) -> None:
        db.run("ANALYZE")

    def ts_in(self, value: _dt.datetime) -> str:
        return to_second(value).isoformat()

    def ts_out(self, value: Any) -> _dt.datetime:
        return to_second(_dt.datetime.fromisoformat(value))

    def json_in(self, value: dict[str, Any]) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    def json_out(self, value: Any) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(value)
        return loaded
