"""``TaskStore`` in SQL, written once for both backends.

The queries use the SQL that SQLite and PostgreSQL share, with ``:name`` parameters; a
``Dialect`` supplies the rest: how to connect, how to begin a write transaction, the row lock
(``FOR UPDATE`` in PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), the
column types and how timestamps and JSON travel. Every public call opens its own connection,
so one store object can be shared by threads.
"""

from __future__ import annotations

import abc
import datetime as _dt
import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields, replace
from typing import Any

from gridrisk.taskstore import schema
from gridrisk.taskstore.base import TaskStore
from gridrisk.taskstore.model import (
    RESOLVED_NOTE,
    STATUSES,
    SYSTEM_ACTOR,
    UNSIGNED,
    FlagOutcome,
    IllegalTransition,
    Task,
    TaskEvent,
    TaskNotFound,
    TaskStats,
    UpsertResult,
    check_transition,
    refuse_raw_ids,
    to_second,
)
from gridrisk.taskstore.sla import SlaPolicy, load_sla

log = logging.getLogger(__name__)

TASK_COLUMNS = tuple(f.name for f in fields(Task))
EVENT_COLUMNS = tuple(f.name for f in fields(TaskEvent))
#: What a re-pushed flag may change; the lifecycle fields belong to ``transition``.
CONTENT_COLUMNS = tuple(c for c in TASK_COLUMNS
                        if c not in ("task_id", "filed_at", "status", "updated_at"))
#: Unit code lengths: province, city, district, town/street, community, grid.
UNIT_LENGTHS = (2, 4, 6, 9, 12, 15)
_IN_CHUNK = 500  # stays far below SQLite's limit on bound parameters

_TASK_SELECT = f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks"
_INSERT_TASK = (f"INSERT INTO tasks ({', '.join(TASK_COLUMNS)}) "
                f"VALUES ({', '.join(':' + c for c in TASK_COLUMNS)}) "
                "ON CONFLICT (task_id) DO NOTHING")
_UPDATE_CONTENT = ("UPDATE tasks SET "
                   + ", ".join(f"{c} = :{c}" for c in (*CONTENT_COLUMNS, "updated_at"))
                   + " WHERE task_id = :task_id")
_INSERT_EVENT = (f"INSERT INTO task_events ({', '.join(EVENT_COLUMNS)}) "
                 f"VALUES ({', '.join(':' + c for c in EVENT_COLUMNS)})")
_LAST_EVENT = "SELECT seq, at FROM task_events WHERE task_id = :task_id ORDER BY seq DESC LIMIT 1"
_MOVE = ("UPDATE tasks SET status = :to_status, updated_at = :updated_at "
         "WHERE task_id = :task_id AND status = :from_status")
# Time between consecutive events of the tasks in scope; tasks untouched since ``since`` are
# skipped early (``updated_at`` is never earlier than a task's last event).
_STEPS = """
SELECT from_status, to_status, actor, at, prev_at, deadline FROM (
    SELECT e.from_status, e.to_status, e.actor, e.at, t.deadline,
           LAG(e.at) OVER (PARTITION BY e.task_id ORDER BY e.seq) AS prev_at
    FROM task_events e JOIN tasks t ON t.task_id = e.task_id
    WHERE {scope} AND t.updated_at >= :since AND e.at < :until
) steps
WHERE prev_at IS NOT NULL AND at >= :since
"""
_HANDLED = """
SELECT t.flag_id, t.rule_id, t.subject_key, t.task_id, e.result, e.at
FROM task_events e JOIN tasks t ON t.task_id = e.task_id
WHERE e.to_status = 'handled' {window}
ORDER BY e.at, e.task_id, e.seq
"""


class Dialect(abc.ABC):
    """What differs between the backends; everything else is shared."""

    begin = "BEGIN"
    for_update = ""
    timestamp_type = "TEXT"
    json_type = "TEXT"
    pattern_ops = ""

    @abc.abstractmethod
    def connect(self) -> Any:
        """A new DB-API connection in autocommit mode (transactions are begun explicitly)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the store is, without any password."""

    def sql(self, text: str) -> str:
        """``text`` with ``:name`` parameters in the driver's style."""
        return text

    def prepare(self, raw: Any) -> None:
        """Once per store, before the migrations, outside any transaction."""

    def lock_for_migration(self, db: Database) -> None:
        """Inside the migration transaction, before reading the schema version."""

    @abc.abstractmethod
    def ts_in(self, value: _dt.datetime) -> Any: ...

    @abc.abstractmethod
    def ts_out(self, value: Any) -> _dt.datetime: ...

    @abc.abstractmethod
    def json_in(self, value: dict[str, Any]) -> Any: ...

    @abc.abstractmethod
    def json_out(self, value: Any) -> dict[str, Any]: ...


class Database:
    """One open connection with the dialect's conversions (internal)."""

    def __init__(self, raw: Any, dialect: Dialect) -> None:
        self.raw, self.dialect = raw, dialect

    def run(self, sql: str, **params: Any) -> Any:
        for key, value in params.items():
            if isinstance(value, _dt.datetime):
                params[key] = self.dialect.ts_in(value)
        return self.raw.execute(self.dialect.sql(sql), params)

    def one(self, sql: str, **params: Any) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.run(sql, **params).fetchone()
        return row

    def all(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        return list(self.run(sql, **params).fetchall())

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        self.raw.execute(self.dialect.begin)
        try:
            yield self
        except BaseException:
            self.raw.execute("ROLLBACK")
            raise
        self.raw.execute("COMMIT")


def _in_list(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``(:name0, :name1, …)`` and its parameters."""
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(":" + k for k in params) + ")", params


def _scope(unit: str, department: str | None, alias: str = "") -> tuple[str, dict[str, Any]]:
    """The WHERE fragment for ``unit``'s subtree (and department)."""
    if not (unit.isascii() and unit.isdigit() and len(unit) in UNIT_LENGTHS):
        raise ValueError(f"unit {unit!r} is not a division code of "
                         f"{'/'.join(map(str, UNIT_LENGTHS))} digits")
    where = f"{alias}receiving_unit LIKE :unit_prefix"
    params: dict[str, Any] = {"unit_prefix": unit + "%"}
    if department is not None:
        where += f" AND {alias}department = :department"
        params["department"] = department
    return where, params


class SqlTaskStore(TaskStore):
    """The task store over a ``Dialect``; use ``open_store(dsn)`` rather than this directly."""

    def __init__(self, dialect: Dialect, sla: SlaPolicy | None = None) -> None:
        self.dialect = dialect
        self.sla = sla if sla is not None else load_sla()
        self._migrate()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.dialect.describe()})"

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[Database]:
        raw = self.dialect.connect()
        try:
            yield Database(raw, self.dialect)
        finally:
            raw.close()

    def _migrate(self) -> None:
        ddl_types = {"timestamp": self.dialect.timestamp_type, "json": self.dialect.json_type,
                     "pattern_ops": self.dialect.pattern_ops}
        with self._connect() as db:
            self.dialect.prepare(db.raw)
            with db.transaction():
                self.dialect.lock_for_migration(db)
                for stmt in schema.render(schema.VERSION_TABLE, **ddl_types):
                    db.run(stmt)
                row = db.one("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                current = row[0] if row else 0
                for version, ddl in enumerate(schema.MIGRATIONS, start=1):
                    if version <= current:
                        continue
                    for stmt in schema.render(ddl, **ddl_types):
                        db.run(stmt)
                    db.run("INSERT INTO schema_version (version, applied_at) VALUES (:v, :at)",
                           v=version, at=to_second(_dt.datetime.now(_dt.UTC)))
                    log.info("task store %s: applied migration %d", self.dialect.describe(), version)

    def _task_params(self, task: Task) -> dict[str, Any]:
        params = {c: getattr(task, c) for c in TASK_COLUMNS}
        params["evidence"] = self.dialect.json_in(task.evidence)
        return params

    def _task(self, row: Sequence[Any]) -> Task:
        values = dict(zip(TASK_COLUMNS, row))
        for c in ("filed_at", "deadline", "updated_at"):
            values[c] = self.dialect.ts_out(values[c])
        values["evidence"] = self.dialect.json_out(values["evidence"])
        return Task(**values)

    def _event(self, row: Sequence[Any]) -> TaskEvent:
        values = dict(zip(EVENT_COLUMNS, row))
        values["at"] = self.dialect.ts_out(values["at"])
        return TaskEvent(**values)

    def _insert_event(self, db: Database, event: TaskEvent) -> None:
        db.run(_INSERT_EVENT, **{c: getattr(event, c) for c in EVENT_COLUMNS})

    # -- writes -----------------------------------------------------------------------------

    def upsert_tasks(self, tasks: Iterable[Task], at: _dt.datetime | None = None) -> UpsertResult:
        batch = list(tasks)
        for task in batch:  # refuse the whole batch before writing any of it
            refuse_raw_ids(task.task_id, task_id=task.task_id, flag_id=task.flag_id,
                           subject_key=task.subject_key, title=task.title,
                           explanation=task.explanation, evidence=task.evidence)
        at = to_second(at if at is not None else _dt.datetime.now(_dt.UTC))
        counts = {"created": 0, "unchanged": 0, "updated": 0}
        with self._connect() as db, db.transaction():
            for task in batch:
                counts[self._upsert_one(db, task, at)] += 1
        return UpsertResult(**counts)

    def _upsert_one(self, db: Database, task: Task, at: _dt.datetime) -> str:
        deadline = task.deadline or self.sla.deadline(task.filed_at, task.priority)
        fresh = replace(task, status="filed", deadline=deadline, updated_at=task.filed_at)
        if db.run(_INSERT_TASK, **self._task_params(fresh)).rowcount == 1:
            self._insert_event(db, TaskEvent(task.task_id, 1, None, "filed", SYSTEM_ACTOR,
                                             task.filed_at))
            return "created"
        row = db.one(f"{_TASK_SELECT} WHERE task_id = :task_id{self.dialect.for_update}",
                     task_id=task.task_id)
        assert row is not None  # the insert met this very row
        old = self._task(row)
        content = {c: getattr(task, c) for c in CONTENT_COLUMNS}
        if task.deadline is None and old.filed_at != task.filed_at:  # counted from the first filing
            content["deadline"] = self.sla.deadline(old.filed_at, task.priority)
        else:
            content["deadline"] = deadline
        new = replace(old, **content)
        if new == old or old.status == "closed":
            return "unchanged"
        new = replace(new, updated_at=max(at, old.updated_at or at))
        db.run(_UPDATE_CONTENT, **self._task_params(new))
        return "updated"

    def transition(self, task_id: str, to_status: str, actor: str, at: _dt.datetime,
                   note: str | None = None, result: str | None = None,
                   photo_url: str | None = None) -> TaskEvent:
        if not actor or not actor.strip():
            raise ValueError("a transition needs an actor (who did it)")
        refuse_raw_ids(task_id, note=note, photo_url=photo_url)
        with self._connect() as db, db.transaction():
            return self._transition(db, task_id, to_status, actor, to_second(at), note, result,
                                    photo_url)

    def _transition(self, db: Database, task_id: str, to_status: str, actor: str,
                    at: _dt.datetime, note: str | None, result: str | None,
                    photo_url: str | None) -> TaskEvent:
        row = db.one(f"SELECT status, updated_at FROM tasks WHERE task_id = :task_id"
                     f"{self.dialect.for_update}", task_id=task_id)
        if row is None:
            raise TaskNotFound(task_id)
        current, updated_at = row[0], self.dialect.ts_out(row[1])
        check_transition(task_id, current, to_status, note, result)
        last = db.one(_LAST_EVENT, task_id=task_id)
        assert last is not None  # every task has its filed event
        last_seq, last_at = last[0], self.dialect.ts_out(last[1])
        if at < last_at:
            raise IllegalTransition(task_id, current, to_status,
                                    f"{at.isoformat()} is before its previous event "
                                    f"({last_at.isoformat()})")
        moved = db.run(_MOVE, task_id=task_id, from_status=current, to_status=to_status,
                       updated_at=max(at, updated_at)).rowcount
        if moved != 1:  # cannot happen under the row lock; kept as a guard for other dialects
            raise IllegalTransition(task_id, current, to_status, "changed by someone else meanwhile")
        event = TaskEvent(task_id, last_seq + 1, current, to_status, actor, at, note, result,
                          photo_url)
        self._insert_event(db, event)
        return event

    def close_resolved(self, flag_ids: Iterable[str], at: _dt.datetime,
                       note: str = RESOLVED_NOTE) -> list[TaskEvent]:
        flags = sorted(set(flag_ids))
        at = to_second(at)
        status_list, status_params = _in_list("s", UNSIGNED)
        closed: list[TaskEvent] = []
        with self._connect() as db:
            task_ids: list[str] = []
            for start in range(0, len(flags), _IN_CHUNK):
                flag_list, flag_params = _in_list("f", flags[start:start + _IN_CHUNK])
                task_ids += [r[0] for r in db.all(
                    f"SELECT task_id FROM tasks WHERE flag_id IN {flag_list} "
                    f"AND status IN {status_list} ORDER BY task_id", **flag_params, **status_params)]
            for task_id in task_ids:
                try:  # one transaction per task: a task signed meanwhile is simply left alone
                    with db.transaction():
                        closed.append(self._transition(db, task_id, "closed", SYSTEM_ACTOR, at,
                                                       note, None, None))
                except IllegalTransition as err:
                    log.info("flag resolved but task left open: %s", err)
        return closed

    # -- reads ------------------------------------------------------------------------------

    def get(self, task_id: str) -> Task | None:
        with self._connect() as db:
            row = db.one(f"{_TASK_SELECT} WHERE task_id = :task_id", task_id=task_id)
        return self._task(row) if row else None

    def resolve_id(self, prefix: str) -> str:
        escaped = prefix.replace("!", "!!").replace("%", "!%").replace("_", "!_")
        with self._connect() as db:
            if db.one("SELECT 1 FROM tasks WHERE task_id = :p", p=prefix):
                return prefix
            rows = db.all("SELECT task_id FROM tasks WHERE task_id LIKE :p ESCAPE '!' "
                          "ORDER BY task_id LIMIT 6", p=escaped + "%")
        if not rows:
            raise TaskNotFound(prefix)
        if len(rows) > 1:
            shown = ", ".join(r[0] for r in rows[:5]) + (", …" if len(rows) > 5 else "")
            raise ValueError(f"task id prefix {prefix!r} is ambiguous: {shown}")
        return str(rows[0][0])

    def list_tasks(self, unit: str, status: Iterable[str] | str | None = None,
                   department: str | None = None, limit: int = 100,
                   offset: int = 0) -> list[Task]:
        where, params = _scope(unit, department)
        if status is not None:
            wanted = sorted({status} if isinstance(status, str) else set(status))
            unknown = [s for s in wanted if s not in STATUSES]
            if unknown:
                raise ValueError(f"unknown status {', '.join(unknown)}; use {', '.join(STATUSES)}")
            if not wanted:
                return []
            status_list, status_params = _in_list("s", wanted)
            where += f" AND status IN {status_list}"
            params.update(status_params)
        with self._connect() as db:
            rows = db.all(f"{_TASK_SELECT} WHERE {where} ORDER BY priority, deadline, task_id "
                          "LIMIT :limit OFFSET :offset", limit=int(limit), offset=int(offset),
                          **params)
        return [self._task(r) for r in rows]

    def events(self, task_id: str) -> list[TaskEvent]:
        with self._connect() as db:
            rows = db.all(f"SELECT {', '.join(EVENT_COLUMNS)} FROM task_events "
                          "WHERE task_id = :task_id ORDER BY seq", task_id=task_id)
        return [self._event(r) for r in rows]

    def stats(self, unit: str, since: _dt.datetime, until: _dt.datetime,
              department: str | None = None) -> TaskStats:
        since, until = to_second(since), to_second(until)
        where, params = _scope(unit, department, alias="t.")
        with self._connect() as db:
            filed_row = db.one(f"SELECT COUNT(*) FROM tasks t WHERE {where} "
                               "AND t.filed_at >= :since AND t.filed_at < :until",
                               since=since, until=until, **params)
            steps = db.all(_STEPS.format(scope=where), since=since, until=until, **params)
        durations: dict[str, list[float]] = defaultdict(list)
        closed = on_time = by_system = 0
        for from_status, to_status, actor, at, prev_at, deadline in steps:
            at, prev_at = self.dialect.ts_out(at), self.dialect.ts_out(prev_at)
            durations[f"{from_status}->{to_status}"].append((at - prev_at).total_seconds())
            if to_status == "closed":
                closed += 1
                on_time += at <= self.dialect.ts_out(deadline)
                by_system += actor == SYSTEM_ACTOR
        return TaskStats(unit=unit, since=since, until=until,
                         filed=int(filed_row[0]) if filed_row else 0, closed=closed,
                         closed_on_time=on_time, closed_by_system=by_system,
                         median_seconds_per_step={k: statistics.median(v)
                                                  for k, v in sorted(durations.items())})

    def flag_outcomes(self, since: _dt.datetime | None = None,
                      until: _dt.datetime | None = None) -> dict[str, FlagOutcome]:
        window, params = "", {}
        if since is not None:
            window += " AND e.at > :since"
            params["since"] = to_second(since)
        if until is not None:
            window += " AND e.at <= :until"
            params["until"] = to_second(until)
        with self._connect() as db:
            rows = db.all(_HANDLED.format(window=window), **params)
        # Ordered by time, so the latest handling of each flag wins.
        return {flag: FlagOutcome(flag, rule, subject, task_id, result, self.dialect.ts_out(at))
                for flag, rule, subject, task_id, result, at in rows}
