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
import hashlib
import logging
import queue
import secrets
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields, replace
from typing import Any

from gridrisk.taskstore import schema
from gridrisk.taskstore.base import TaskStore
from gridrisk.taskstore.model import (
    ACTIONS,
    OPEN_STATUSES,
    RESOLVED_NOTE,
    ROLES,
    STATUS_ACTION,
    STATUSES,
    SYSTEM_ACTOR,
    UNSIGNED,
    Actor,
    Conflict,
    FlagOutcome,
    IllegalTransition,
    NotAllowed,
    Task,
    TaskEvent,
    TaskNotFound,
    TaskStats,
    UpsertResult,
    check_action,
    refuse_raw_ids,
    to_second,
)
from gridrisk.taskstore.open311 import event_payload
from gridrisk.taskstore.sla import SlaPolicy, load_sla

log = logging.getLogger(__name__)

TASK_COLUMNS = tuple(f.name for f in fields(Task))
EVENT_COLUMNS = tuple(f.name for f in fields(TaskEvent))
#: What a re-pushed flag may change; the lifecycle fields belong to ``transition``.
#: Set once when the task is filed, or owned by the lifecycle and the SLA check.
STORE_OWNED = ("task_id", "filed_at", "status", "updated_at", "logical_date", "source", "version",
               "assignee", "escalation_level", "overdue_since")
CONTENT_COLUMNS = tuple(c for c in TASK_COLUMNS if c not in STORE_OWNED)
TASK_TIMESTAMPS = ("filed_at", "deadline", "updated_at", "overdue_since")
#: Unit code lengths: province, city, district, town/street, community, grid.
UNIT_LENGTHS = (2, 4, 6, 9, 12, 15)
_IN_CHUNK = 500  # stays far below SQLite's limit on bound parameters

_TASK_SELECT = f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks"
_INSERT_TASK = (f"INSERT INTO tasks ({', '.join(TASK_COLUMNS)}) "
                f"VALUES ({', '.join(':' + c for c in TASK_COLUMNS)}) "
                "ON CONFLICT (task_id) DO NOTHING")
_UPDATE_CONTENT = ("UPDATE tasks SET "
                   + ", ".join(f"{c} = :{c}" for c in (*CONTENT_COLUMNS, "updated_at"))
                   + ", version = version + 1 WHERE task_id = :task_id")
_INSERT_EVENT = (f"INSERT INTO task_events ({', '.join(EVENT_COLUMNS)}) "
                 f"VALUES ({', '.join(':' + c for c in EVENT_COLUMNS)})")
_LAST_EVENT = "SELECT seq, at FROM task_events WHERE task_id = :task_id ORDER BY seq DESC LIMIT 1"
_INSERT_OUTBOX = ("INSERT INTO outbox (event_key, task_id, receiving_unit, created_at, payload) "
                  "VALUES (:event_key, :task_id, :receiving_unit, :created_at, :payload)")
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
SELECT t.flag_id, t.rule_id, t.subject_key, t.task_id, e.result, e.at, e.logical_date
FROM task_events e JOIN tasks t ON t.task_id = e.task_id
WHERE e.to_status = 'handled' {window}
ORDER BY e.at, e.task_id, e.seq
"""


class Dialect(abc.ABC):
    """What differs between the backends; everything else is shared."""

    begin = "BEGIN"
    for_update = ""
    skip_locked = ""
    serial_type = "INTEGER PRIMARY KEY"
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

    def idle(self, raw: Any) -> bool:
        """Whether ``raw`` is outside any transaction (so it can be reused)."""
        return not raw.in_transaction

    def lock_for_migration(self, db: Database) -> None:
        """Inside the migration transaction, before reading the schema version."""

    def refresh_statistics(self, db: Database) -> None:
        """After a large filing: what the query planner knows of the tables (PostgreSQL's
        autovacuum keeps its own)."""

    @classmethod
    def ddl_types(cls) -> dict[str, str]:
        return {"timestamp": cls.timestamp_type, "json": cls.json_type,
                "pattern_ops": cls.pattern_ops, "serial": cls.serial_type}

    def migrate(self, db: Database) -> None:
        """Bring the schema to the newest migration (the built-in runner; PostgreSQL: alembic)."""
        with db.transaction():
            self.lock_for_migration(db)
            for stmt in schema.render(schema.VERSION_TABLE, **self.ddl_types()):
                db.run(stmt)
            row = db.one("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            current = row[0] if row else 0
            for version, ddl in enumerate(schema.MIGRATIONS, start=1):
                if version <= current:
                    continue
                for stmt in schema.render(ddl, **self.ddl_types()):
                    db.run(stmt)
                db.run("INSERT INTO schema_version (version, applied_at) VALUES (:v, :at)",
                       v=version, at=to_second(_dt.datetime.now(_dt.UTC)))
                log.info("task store %s: applied migration %d", self.describe(), version)

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


#: A filing that creates this many tasks refreshes the planner's statistics: without them SQLite
#: reads a unit's list through the status index (the whole open queue) instead of the unit's.
ANALYZE_AFTER = 1000


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

    def __init__(self, dialect: Dialect, sla: SlaPolicy | None = None, pool_size: int = 0) -> None:
        self.dialect = dialect
        self.sla = sla if sla is not None else load_sla()
        # Idle connections kept for reuse (the service: opening a PostgreSQL connection costs
        # more than most queries). 0: every call opens and closes its own.
        self.pool_size = pool_size
        self._pool: queue.LifoQueue[Any] = queue.LifoQueue()
        self._migrate()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.dialect.describe()})"

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[Database]:
        try:
            raw = self._pool.get_nowait()
        except queue.Empty:
            raw = self.dialect.connect()
        reusable = False
        try:
            yield Database(raw, self.dialect)
            reusable = self.pool_size > 0 and self.dialect.idle(raw)
        finally:
            if reusable and self._pool.qsize() < self.pool_size:
                self._pool.put(raw)
            else:  # an error may have left it in any state: never reuse it
                raw.close()

    def _migrate(self) -> None:
        with self._connect() as db:
            self.dialect.prepare(db.raw)
            self.dialect.migrate(db)

    def _task_params(self, task: Task) -> dict[str, Any]:
        params = {c: getattr(task, c) for c in TASK_COLUMNS}
        params["evidence"] = self.dialect.json_in(task.evidence)
        return params

    def _task(self, row: Sequence[Any]) -> Task:
        values = dict(zip(TASK_COLUMNS, row))
        for c in TASK_TIMESTAMPS:
            if values[c] is not None:
                values[c] = self.dialect.ts_out(values[c])
        values["evidence"] = self.dialect.json_out(values["evidence"])
        return Task(**values)

    def _event(self, row: Sequence[Any]) -> TaskEvent:
        values = dict(zip(EVENT_COLUMNS, row))
        values["at"] = self.dialect.ts_out(values["at"])
        if values["detail"] is not None:
            values["detail"] = self.dialect.json_out(values["detail"])
        return TaskEvent(**values)

    def _insert_event(self, db: Database, event: TaskEvent, task: Task) -> None:
        """The event and, in the same transaction, its outbox entry for the centres' systems."""
        params = {c: getattr(event, c) for c in EVENT_COLUMNS}
        if event.detail is not None:
            params["detail"] = self.dialect.json_in(event.detail)
        db.run(_INSERT_EVENT, **params)
        db.run(_INSERT_OUTBOX, event_key=f"{event.task_id}:{event.seq}", task_id=event.task_id,
               receiving_unit=task.receiving_unit, created_at=event.at,
               payload=self.dialect.json_in(event_payload(task, event)))

    # -- writes -----------------------------------------------------------------------------

    def upsert_tasks(self, tasks: Iterable[Task], at: _dt.datetime | None = None,
                     logical_date: _dt.date | str | None = None) -> UpsertResult:
        batch = list(tasks)
        for task in batch:  # refuse the whole batch before writing any of it
            refuse_raw_ids(task.task_id, task_id=task.task_id, flag_id=task.flag_id,
                           subject_key=task.subject_key, title=task.title,
                           explanation=task.explanation, evidence=task.evidence,
                           address_text=task.address_text)
        at = to_second(at if at is not None else _dt.datetime.now(_dt.UTC))
        counts = {"created": 0, "unchanged": 0, "updated": 0}
        with self._connect() as db, db.transaction():
            for task in batch:
                counts[self._upsert_one(db, task, at)] += 1
            if logical_date is not None:
                self._advance_logical_date(db, str(logical_date))
        if counts["created"] >= ANALYZE_AFTER:
            with self._connect() as db:
                self.dialect.refresh_statistics(db)
        return UpsertResult(**counts)

    def _advance_logical_date(self, db: Database, day: str) -> None:
        _dt.date.fromisoformat(day)
        row = db.one("SELECT value FROM store_state WHERE key = 'logical_date'")
        if row is None:
            db.run("INSERT INTO store_state (key, value) VALUES ('logical_date', :v)", v=day)
        elif row[0] < day:
            db.run("UPDATE store_state SET value = :v WHERE key = 'logical_date'", v=day)

    def logical_date(self) -> _dt.date | None:
        """The latest logical date the pipeline published tasks for."""
        with self._connect() as db:
            row = db.one("SELECT value FROM store_state WHERE key = 'logical_date'")
        return _dt.date.fromisoformat(row[0]) if row else None

    def _upsert_one(self, db: Database, task: Task, at: _dt.datetime) -> str:
        deadline = task.deadline or self.sla.deadline(task.filed_at, task.priority)
        fresh = replace(task, status="filed", deadline=deadline, updated_at=task.filed_at,
                        version=1, assignee=None, escalation_level=0, overdue_since=None)
        if db.run(_INSERT_TASK, **self._task_params(fresh)).rowcount == 1:
            self._insert_event(db, TaskEvent(task.task_id, 1, None, "filed", SYSTEM_ACTOR,
                                             task.filed_at, action="file",
                                             logical_date=task.logical_date), fresh)
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
        if old.escalation_level or old.deadline != self.sla.deadline(old.filed_at, old.priority):
            # An escalated or extended task keeps what the SLA check or the dispatcher set.
            for c in ("deadline", "priority", "receiving_unit", "receiving_level"):
                content[c] = getattr(old, c)
        new = replace(old, **content)
        if new == old or old.status == "closed":
            return "unchanged"
        new = replace(new, updated_at=max(at, old.updated_at or at))
        db.run(_UPDATE_CONTENT, **self._task_params(new))
        return "updated"

    def transition(self, task_id: str, to_status: str, actor: str, at: _dt.datetime,
                   note: str | None = None, result: str | None = None,
                   photo_url: str | None = None, *, expected_version: int | None = None,
                   now: _dt.datetime | None = None) -> TaskEvent:
        action = STATUS_ACTION.get(to_status)
        if action is None:
            with self._connect() as db:
                row = db.one("SELECT status FROM tasks WHERE task_id = :t", t=task_id)
            if row is None:
                raise TaskNotFound(task_id)
            raise IllegalTransition(task_id, row[0], to_status)
        return self.act(task_id, action, actor, at, note=note, result=result,
                        photo_url=photo_url, expected_version=expected_version, now=now)

    def act(self, task_id: str, action: str, actor: str, at: _dt.datetime, *,
            note: str | None = None, result: str | None = None, photo_url: str | None = None,
            expected_version: int | None = None, assignee: str | None = None,
            new_deadline: _dt.datetime | None = None, rating: str | None = None,
            now: _dt.datetime | None = None) -> TaskEvent:
        if not actor or not actor.strip():
            raise ValueError("a transition needs an actor (who did it)")
        refuse_raw_ids(task_id, note=note, photo_url=photo_url)
        at = to_second(at)
        limit = to_second(now if now is not None else _dt.datetime.now(_dt.UTC))
        if at > limit:
            raise IllegalTransition(task_id, "?", action,
                                    f"{at.isoformat()} is in the future (now {limit.isoformat()}); "
                                    "an event is recorded when it happened")
        with self._connect() as db, db.transaction():
            return self._act(db, task_id, action, actor, at, note=note, result=result,
                             photo_url=photo_url, expected_version=expected_version,
                             assignee=assignee, new_deadline=new_deadline, rating=rating)

    def _actor_for(self, db: Database, actor_id: str, task: Task) -> Actor | None:
        """The registered actor allowed into ``task``'s territory (``None`` for system)."""
        if actor_id == SYSTEM_ACTOR:
            return None
        found = self._get_actor(db, actor_id)
        if found is None or not found.active:
            raise NotAllowed(f"actor {actor_id!r} is not a registered, active actor "
                             "(gridrisk tasks actors add …)")
        if not found.covers(task.receiving_unit):
            raise TaskNotFound(task.task_id)  # outside the territory: as if it did not exist
        return found

    def _act(self, db: Database, task_id: str, action: str, actor_id: str, at: _dt.datetime, *,
             note: str | None = None, result: str | None = None, photo_url: str | None = None,
             expected_version: int | None = None, assignee: str | None = None,
             new_deadline: _dt.datetime | None = None, rating: str | None = None,
             detail: dict[str, Any] | None = None,
             changes: dict[str, Any] | None = None) -> TaskEvent:
        row = db.one(f"{_TASK_SELECT} WHERE task_id = :task_id", task_id=task_id)
        if row is None:
            raise TaskNotFound(task_id)
        task = self._task(row)
        actor = self._actor_for(db, actor_id, task)
        current = task.status
        role = actor.role if actor else SYSTEM_ACTOR
        allowed = ACTIONS.get(action)
        if allowed is not None and role not in allowed.roles:  # who first, then what and when
            raise NotAllowed(f"a {role} may not {action} ({allowed.label}); allowed: "
                             + ", ".join(sorted(allowed.roles)))
        spec = check_action(task_id, current, action, note, result, new_deadline=new_deadline,
                            rating=rating)
        if expected_version is not None and expected_version != task.version:
            raise Conflict(task_id, current, spec.target or current,
                           f"changed meanwhile: version {task.version}, not {expected_version}; "
                           "reload the task")
        events = self.events_in(db, task_id)
        last_seq, last_at = events[-1].seq, events[-1].at
        if at < last_at:
            raise IllegalTransition(task_id, current, spec.target or current,
                                    f"{at.isoformat()} is before its previous event "
                                    f"({last_at.isoformat()})")
        sets: dict[str, Any] = dict(changes or {})
        detail = dict(detail or {})
        if actor is not None and actor.role == "grid_worker" and action in ("sign", "handle") \
                and task.assignee not in (None, actor.actor_id):
            raise Conflict(task_id, current, spec.target or current,
                           f"assigned to {task.assignee}, not {actor.actor_id}")
        if action == "dispatch":
            if assignee is not None:
                worker = self._get_actor(db, assignee)
                if worker is None or not worker.active or not worker.covers(task.receiving_unit):
                    raise NotAllowed(f"assignee {assignee!r} is not an active actor of this "
                                     "task's territory")
                detail["assignee"] = assignee
            sets["assignee"] = assignee
        elif action == "sign" and task.assignee is None and actor is not None \
                and actor.role == "grid_worker":
            sets["assignee"] = actor.actor_id
        elif action == "return":
            sets["assignee"] = None
        elif action == "verify":
            handled = [e for e in events if e.to_status == "handled"]
            if handled and handled[-1].actor == actor_id:
                raise NotAllowed(f"{actor_id} handled this task and may not verify their own "
                                 "work; another person verifies it")
        elif action == "request_extension":
            assert new_deadline is not None  # check_action demanded it
            new_deadline = to_second(new_deadline)
            if task.deadline is not None and at >= task.deadline:
                raise IllegalTransition(task_id, current, current,
                                        f"an extension is requested before the deadline "
                                        f"({task.deadline.isoformat()}), not after it")
            if task.deadline is not None and new_deadline <= task.deadline:
                raise IllegalTransition(task_id, current, current,
                                        f"the new deadline {new_deadline.isoformat()} must be "
                                        f"later than {task.deadline.isoformat()}")
            detail["requested_deadline"] = new_deadline.isoformat()
        elif action in ("grant_extension", "refuse_extension"):
            pending = None
            for e in events:
                if e.action == "request_extension":
                    pending = e
                elif e.action in ("grant_extension", "refuse_extension"):
                    pending = None
            if pending is None or pending.detail is None:
                raise IllegalTransition(task_id, current, current,
                                        "there is no pending extension request (延期申请)")
            if action == "grant_extension":
                granted = to_second(new_deadline) if new_deadline is not None else \
                    _dt.datetime.fromisoformat(pending.detail["requested_deadline"])
                sets.update(deadline=granted, overdue_since=None)
                detail["deadline"] = granted.isoformat()
                detail["previous_deadline"] = task.deadline.isoformat() if task.deadline else None
        elif action == "follow_up":
            detail["rating"] = rating
        logical = task.logical_date
        if action == "handle":
            # The logical date the handling counts for: the pipeline's latest run, never
            # earlier than the task's own (suppression windows are counted from it).
            state = db.one("SELECT value FROM store_state WHERE key = 'logical_date'")
            logical = max(filter(None, (task.logical_date, state[0] if state else None)),
                          default=at.date().isoformat())
        set_sql = "".join(f", {c} = :set_{c}" for c in sets)
        moved = db.run(f"UPDATE tasks SET status = :to_status, updated_at = :updated_at, "
                       f"version = version + 1{set_sql} "
                       "WHERE task_id = :task_id AND status = :from_status AND version = :version",
                       task_id=task_id, from_status=current, to_status=spec.target or current,
                       updated_at=max(at, task.updated_at or at), version=task.version,
                       **{f"set_{c}": v for c, v in sets.items()}).rowcount
        if moved != 1:
            raise Conflict(task_id, current, spec.target or current,
                           "changed by someone else meanwhile; reload the task")
        event = TaskEvent(task_id, last_seq + 1, current, spec.target or current, actor_id, at,
                          note, result, photo_url, action=action, logical_date=logical,
                          detail=detail or None)
        self._insert_event(db, event, replace(task, **{k: v for k, v in sets.items()
                                                        if k in TASK_COLUMNS},
                                              status=spec.target or current))
        return event

    def claim_next(self, unit: str, actor: str, at: _dt.datetime) -> TaskEvent | None:
        """Sign for the most urgent unassigned dispatched task of ``unit``'s subtree.

        Two workers claiming at once get two different tasks: on PostgreSQL the row is taken
        with ``FOR UPDATE SKIP LOCKED``; SQLite serialises writers. ``None`` when the pool is
        empty.
        """
        where, params = _scope(unit, None)
        with self._connect() as db, db.transaction():
            claimer = self._get_actor(db, actor)
            if claimer is None or not claimer.active or claimer.role not in ACTIONS["sign"].roles:
                raise NotAllowed(f"{actor!r} is not an active grid worker; only they claim tasks")
            if not unit.startswith(claimer.unit):
                raise NotAllowed(f"unit {unit} is outside {actor}'s territory ({claimer.unit})")
            row = db.one(f"SELECT task_id FROM tasks WHERE {where} AND status = 'dispatched' "
                         "AND assignee IS NULL ORDER BY priority, deadline, task_id LIMIT 1"
                         f"{self.dialect.skip_locked}", **params)
            if row is None:
                return None
            return self._act(db, row[0], "sign", actor, to_second(at))

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
                        closed.append(self._act(db, task_id, "close", SYSTEM_ACTOR, at, note=note))
                except IllegalTransition as err:
                    log.info("flag resolved but task left open: %s", err)
        return closed

    def file_report(self, actor: str, *, report_ref: str, title: str, explanation: str,
                    grid_code: str, at: _dt.datetime, address_text: str | None = None,
                    address_code: str | None = None, lat: float | None = None,
                    lon: float | None = None, priority: int = 3,
                    photo_url: str | None = None) -> Task:
        """A grid worker's own report of a problem found on patrol (网格员上报), as a task.

        The id is derived from the reporter and their ``report_ref`` (the client's own id of
        the report), so a retried submission files one task.
        """
        with self._connect() as db:
            reporter = self._get_actor(db, actor)
        if reporter is None or not reporter.active or reporter.role not in ("grid_worker", "admin"):
            raise NotAllowed(f"{actor!r} is not an active grid worker; only they file patrol reports")
        if not reporter.covers(grid_code) and not grid_code.startswith(reporter.unit):
            raise NotAllowed(f"grid {grid_code} is outside {actor}'s territory ({reporter.unit})")
        refuse_raw_ids(report_ref, title=title, explanation=explanation,
                       address_text=address_text, photo_url=photo_url)
        at = to_second(at)
        if at > to_second(_dt.datetime.now(_dt.UTC)):
            raise ValueError(f"{at.isoformat()} is in the future")
        task_id = "P" + hashlib.sha256(f"{actor}|{report_ref}".encode()).hexdigest()[:19]
        evidence: dict[str, Any] = {"reported_by": actor, "report_ref": report_ref}
        if photo_url:
            evidence["photo_url"] = photo_url
        task = Task(task_id=task_id, flag_id=task_id, rule_id="patrol_report", rule_version="1",
                    severity="medium", priority=priority, subject_key=task_id,
                    address_code=address_code, grid_code=grid_code, receiving_level="grid",
                    receiving_unit=grid_code, department="网格", title=title,
                    explanation=explanation, evidence=evidence, filed_at=at, lon=lon, lat=lat,
                    address_text=address_text, source="patrol")
        self.upsert_tasks([task], at=at)
        stored = self.get(task_id)
        assert stored is not None
        return stored

    # -- SLA escalation -----------------------------------------------------------------------

    def overdue(self, at: _dt.datetime, unit: str = "32") -> list[Task]:
        """Open tasks of ``unit``'s subtree past their deadline at ``at``, most urgent first."""
        where, params = _scope(unit, None)
        status_list, status_params = _in_list("s", OPEN_STATUSES)
        with self._connect() as db:
            rows = db.all(f"{_TASK_SELECT} WHERE {where} AND status IN {status_list} "
                          "AND deadline < :at ORDER BY priority, deadline, task_id",
                          at=to_second(at), **params, **status_params)
        return [self._task(r) for r in rows]

    def escalate(self, task_id: str, at: _dt.datetime, *, priority: int, receiving_unit: str,
                 receiving_level: str, note: str, expected_version: int) -> TaskEvent:
        """Record one escalation by the SLA check (priority raised and/or moved one level up)."""
        task = self.get(task_id)
        if task is None:
            raise TaskNotFound(task_id)
        detail = {"priority": [task.priority, priority],
                  "receiving_unit": [task.receiving_unit, receiving_unit],
                  "escalation_level": task.escalation_level + 1}
        changes = {"priority": priority, "receiving_unit": receiving_unit,
                   "receiving_level": receiving_level,
                   "escalation_level": task.escalation_level + 1,
                   "overdue_since": task.overdue_since or task.deadline}
        with self._connect() as db, db.transaction():
            return self._act(db, task_id, "escalate", SYSTEM_ACTOR, to_second(at), note=note,
                             expected_version=expected_version, detail=detail, changes=changes)

    # -- actors, tokens, evidence reads ----------------------------------------------------------

    def _get_actor(self, db: Database, actor_id: str) -> Actor | None:
        row = db.one("SELECT actor_id, display_name, unit, role, active FROM actors "
                     "WHERE actor_id = :a", a=actor_id)
        return Actor(row[0], row[1], row[2], row[3], bool(row[4])) if row else None

    def add_actor(self, actor_id: str, display_name: str, unit: str, role: str,
                  at: _dt.datetime | None = None) -> Actor:
        """Register (or update) a person or platform account; ``unit`` is their territory."""
        _scope(unit, None)  # validates the unit code
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        if not actor_id.strip() or actor_id == SYSTEM_ACTOR or not display_name.strip():
            raise ValueError("an actor needs an id (not 'system') and a display name")
        refuse_raw_ids(actor_id, actor_id=actor_id, display_name=display_name)
        when = to_second(at or _dt.datetime.now(_dt.UTC))
        with self._connect() as db, db.transaction():
            if self._get_actor(db, actor_id):
                db.run("UPDATE actors SET display_name = :n, unit = :u, role = :r, active = 1 "
                       "WHERE actor_id = :a", a=actor_id, n=display_name, u=unit, r=role)
            else:
                db.run("INSERT INTO actors (actor_id, display_name, unit, role, active, "
                       "created_at) VALUES (:a, :n, :u, :r, 1, :at)",
                       a=actor_id, n=display_name, u=unit, r=role, at=when)
        return Actor(actor_id, display_name, unit, role)

    def get_actor(self, actor_id: str) -> Actor | None:
        with self._connect() as db:
            return self._get_actor(db, actor_id)

    def list_actors(self, unit: str = "") -> list[Actor]:
        with self._connect() as db:
            rows = db.all("SELECT actor_id, display_name, unit, role, active FROM actors "
                          "WHERE unit LIKE :p ORDER BY unit, actor_id", p=unit + "%")
        return [Actor(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    def deactivate_actor(self, actor_id: str) -> None:
        with self._connect() as db, db.transaction():
            db.run("UPDATE actors SET active = 0 WHERE actor_id = :a", a=actor_id)
            db.run("UPDATE api_tokens SET revoked_at = :at WHERE actor_id = :a "
                   "AND revoked_at IS NULL", a=actor_id, at=to_second(_dt.datetime.now(_dt.UTC)))

    def issue_token(self, actor_id: str, ttl: _dt.timedelta,
                    at: _dt.datetime | None = None) -> tuple[str, str]:
        """A new API token for ``actor_id``: ``(token_id, secret)``. Only a SHA-256 of the
        secret is stored; the secret is shown once."""
        when = to_second(at or _dt.datetime.now(_dt.UTC))
        token_id = uuid.uuid4().hex[:12]
        secret = f"grt_{token_id}_{secrets.token_urlsafe(32)}"
        with self._connect() as db, db.transaction():
            found = self._get_actor(db, actor_id)
            if found is None or not found.active:
                raise NotAllowed(f"actor {actor_id!r} is not a registered, active actor")
            db.run("INSERT INTO api_tokens (token_id, token_hash, actor_id, created_at, "
                   "expires_at) VALUES (:i, :h, :a, :c, :e)", i=token_id, h=_hash(secret),
                   a=actor_id, c=when, e=when + ttl)
        return token_id, secret

    def revoke_token(self, token_id: str, at: _dt.datetime | None = None) -> bool:
        with self._connect() as db, db.transaction():
            return bool(db.run("UPDATE api_tokens SET revoked_at = :at WHERE token_id = :i "
                               "AND revoked_at IS NULL", i=token_id,
                               at=to_second(at or _dt.datetime.now(_dt.UTC))).rowcount)

    def list_tokens(self, actor_id: str | None = None) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.all("SELECT token_id, actor_id, created_at, expires_at, revoked_at "
                          "FROM api_tokens" + (" WHERE actor_id = :a" if actor_id else "")
                          + " ORDER BY created_at, token_id", **({"a": actor_id} if actor_id else {}))
        return [{"token_id": r[0], "actor_id": r[1], "created_at": self.dialect.ts_out(r[2]),
                 "expires_at": self.dialect.ts_out(r[3]),
                 "revoked_at": self.dialect.ts_out(r[4]) if r[4] is not None else None}
                for r in rows]

    def authenticate(self, secret: str, at: _dt.datetime | None = None) -> Actor | None:
        """The active actor behind an unexpired, unrevoked token, or ``None``."""
        when = to_second(at or _dt.datetime.now(_dt.UTC))
        with self._connect() as db:
            row = db.one("SELECT a.actor_id, a.display_name, a.unit, a.role, a.active "
                         "FROM api_tokens k JOIN actors a ON a.actor_id = k.actor_id "
                         "WHERE k.token_hash = :h AND k.revoked_at IS NULL AND k.expires_at > :at "
                         "AND a.active = 1", h=_hash(secret), at=when)
        return Actor(row[0], row[1], row[2], row[3], bool(row[4])) if row else None

    def log_evidence_read(self, task_id: str, actor_id: str, at: _dt.datetime,
                          purpose: str) -> None:
        with self._connect() as db, db.transaction():
            db.run("INSERT INTO evidence_reads (read_id, task_id, actor_id, at, purpose) "
                   "VALUES (:r, :t, :a, :at, :p)", t=task_id, a=actor_id,
                   at=to_second(at), p=purpose,
                   r=f"{time.time_ns():020d}{uuid.uuid4().hex[:8]}")  # sorts in reading order

    def evidence_reads(self, task_id: str | None = None) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.all("SELECT task_id, actor_id, at, purpose FROM evidence_reads"
                          + (" WHERE task_id = :t" if task_id else "") + " ORDER BY at, read_id",
                          **({"t": task_id} if task_id else {}))
        return [{"task_id": r[0], "actor_id": r[1], "at": self.dialect.ts_out(r[2]),
                 "purpose": r[3]} for r in rows]

    # -- grid polygons -----------------------------------------------------------------------------

    def replace_grids(self, grids: Iterable[tuple[str, str | None, str, str | None, str]]) -> int:
        """Store the grid office's polygons: ``(grid_code, name, level, parent_code,
        geometry_json)`` rows replace the previous snapshot."""
        rows = list(grids)
        with self._connect() as db, db.transaction():
            db.run("DELETE FROM grids")
            for code, name, level, parent, geometry in rows:
                db.run("INSERT INTO grids (grid_code, name, level, parent_code, geometry_json) "
                       "VALUES (:c, :n, :l, :p, :g)", c=code, n=name, l=level, p=parent, g=geometry)
        return len(rows)

    def grids(self, unit: str, level: str | None = "grid") -> list[dict[str, Any]]:
        """The polygons of ``unit``'s subtree (GeoJSON geometry as a string)."""
        _scope(unit, None)
        where, params = "grid_code LIKE :p", {"p": unit + "%"}
        if level is not None:
            where += " AND level = :l"
            params["l"] = level
        with self._connect() as db:
            rows = db.all(f"SELECT grid_code, name, level, parent_code, geometry_json FROM grids "
                          f"WHERE {where} ORDER BY grid_code", **params)
        return [{"grid_code": r[0], "name": r[1], "level": r[2], "parent_code": r[3],
                 "geometry_json": r[4]} for r in rows]

    def open_counts_by_grid(self, unit: str) -> dict[str, int]:
        where, params = _scope(unit, None)
        status_list, status_params = _in_list("s", OPEN_STATUSES)
        with self._connect() as db:
            rows = db.all(f"SELECT grid_code, COUNT(*) FROM tasks WHERE {where} "
                          f"AND status IN {status_list} GROUP BY grid_code", **params,
                          **status_params)
        return {r[0]: int(r[1]) for r in rows}

    # -- outbox ----------------------------------------------------------------------------------

    def enqueue_deliveries(self, subscriber: str, unit: str, at: _dt.datetime) -> int:
        """Add a pending delivery to ``subscriber`` for every outbox event of ``unit``'s subtree
        it has not got one for yet (a centre offline for a day gets every event it missed)."""
        where, params = _scope(unit, None, alias="o.")
        with self._connect() as db, db.transaction():
            return int(db.run(
                "INSERT INTO deliveries (event_key, subscriber, status, attempts, enqueued_at, "
                f"next_attempt_at) SELECT o.event_key, :sub, 'pending', 0, :at, :at FROM outbox o "
                f"WHERE {where} "
                "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_key = o.event_key "
                "AND d.subscriber = :sub)", sub=subscriber, at=to_second(at), **params).rowcount)

    def due_deliveries(self, subscriber: str, at: _dt.datetime,
                       limit: int = 100) -> list[tuple[str, dict[str, Any], int, _dt.datetime]]:
        """``(event_key, payload, attempts, enqueued_at)`` of pending deliveries due at ``at``,
        in event order."""
        with self._connect() as db:
            rows = db.all("SELECT d.event_key, o.payload, d.attempts, d.enqueued_at FROM deliveries d "
                          "JOIN outbox o ON o.event_key = d.event_key WHERE d.subscriber = :sub "
                          "AND d.status = 'pending' AND d.next_attempt_at <= :at "
                          "ORDER BY o.position LIMIT :limit", sub=subscriber, at=to_second(at),
                          limit=int(limit))
        return [(r[0], self.dialect.json_out(r[1]), int(r[2]), self.dialect.ts_out(r[3]))
                for r in rows]

    def mark_delivery(self, subscriber: str, event_key: str, at: _dt.datetime, *,
                      delivered: bool, error: str | None = None,
                      retry_at: _dt.datetime | None = None) -> None:
        """Record an attempt: delivered, retry at ``retry_at``, or dead (no ``retry_at``)."""
        status = "delivered" if delivered else ("pending" if retry_at else "dead")
        with self._connect() as db, db.transaction():
            db.run("UPDATE deliveries SET status = :st, attempts = attempts + 1, "
                   "last_error = :err, next_attempt_at = :nxt, delivered_at = :dat "
                   "WHERE event_key = :k AND subscriber = :sub", st=status, err=error,
                   nxt=to_second(retry_at or at), dat=to_second(at) if delivered else None,
                   k=event_key, sub=subscriber)

    def deliveries(self, subscriber: str | None = None,
                   status: str | None = None) -> list[dict[str, Any]]:
        """Delivery status (apart from task status): the dead letters with ``status='dead'``."""
        where, params = "1 = 1", {}
        if subscriber is not None:
            where += " AND subscriber = :sub"
            params["sub"] = subscriber
        if status is not None:
            where += " AND status = :st"
            params["st"] = status
        with self._connect() as db:
            rows = db.all("SELECT event_key, subscriber, status, attempts, last_error, "
                          f"delivered_at FROM deliveries WHERE {where} ORDER BY event_key",
                          **params)
        return [{"event_key": r[0], "subscriber": r[1], "status": r[2], "attempts": r[3],
                 "last_error": r[4],
                 "delivered_at": self.dialect.ts_out(r[5]) if r[5] is not None else None}
                for r in rows]

    def requeue_dead(self, subscriber: str, at: _dt.datetime) -> int:
        with self._connect() as db, db.transaction():
            return int(db.run("UPDATE deliveries SET status = 'pending', next_attempt_at = :at "
                              "WHERE subscriber = :sub AND status = 'dead'", sub=subscriber,
                              at=to_second(at)).rowcount)

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

    def _list_where(self, unit: str, status: Iterable[str] | str | None,
                    department: str | None, rule_id: str | None,
                    filed_since: _dt.datetime | None,
                    filed_until: _dt.datetime | None) -> tuple[str, dict[str, Any]] | None:
        where, params = _scope(unit, department)
        if status is not None:
            wanted = sorted({status} if isinstance(status, str) else set(status))
            unknown = [s for s in wanted if s not in STATUSES]
            if unknown:
                raise ValueError(f"unknown status {', '.join(unknown)}; use {', '.join(STATUSES)}")
            if not wanted:
                return None
            status_list, status_params = _in_list("s", wanted)
            where += f" AND status IN {status_list}"
            params.update(status_params)
        if rule_id is not None:
            where += " AND rule_id = :rule_id"
            params["rule_id"] = rule_id
        if filed_since is not None:
            where += " AND filed_at >= :filed_since"
            params["filed_since"] = to_second(filed_since)
        if filed_until is not None:
            where += " AND filed_at <= :filed_until"
            params["filed_until"] = to_second(filed_until)
        return where, params

    def list_tasks(self, unit: str, status: Iterable[str] | str | None = None,
                   department: str | None = None, limit: int = 100,
                   offset: int = 0, *, rule_id: str | None = None,
                   filed_since: _dt.datetime | None = None,
                   filed_until: _dt.datetime | None = None) -> list[Task]:
        found = self._list_where(unit, status, department, rule_id, filed_since, filed_until)
        if found is None:
            return []
        where, params = found
        with self._connect() as db:
            rows = db.all(f"{_TASK_SELECT} WHERE {where} ORDER BY priority, deadline, task_id "
                          "LIMIT :limit OFFSET :offset", limit=int(limit), offset=int(offset),
                          **params)
        return [self._task(r) for r in rows]

    def count_tasks(self, unit: str, status: Iterable[str] | str | None = None,
                    department: str | None = None, *, rule_id: str | None = None,
                    filed_since: _dt.datetime | None = None,
                    filed_until: _dt.datetime | None = None) -> int:
        found = self._list_where(unit, status, department, rule_id, filed_since, filed_until)
        if found is None:
            return 0
        with self._connect() as db:
            row = db.one(f"SELECT COUNT(*) FROM tasks WHERE {found[0]}", **found[1])
        return int(row[0]) if row else 0

    def events(self, task_id: str) -> list[TaskEvent]:
        with self._connect() as db:
            return self.events_in(db, task_id)

    def events_of(self, task_ids: Sequence[str]) -> dict[str, list[TaskEvent]]:
        """The events of several tasks in one query (a page of a list)."""
        found: dict[str, list[TaskEvent]] = {t: [] for t in task_ids}
        with self._connect() as db:
            for start in range(0, len(task_ids), _IN_CHUNK):
                id_list, id_params = _in_list("t", list(task_ids[start:start + _IN_CHUNK]))
                for row in db.all(f"SELECT {', '.join(EVENT_COLUMNS)} FROM task_events "
                                  f"WHERE task_id IN {id_list} ORDER BY task_id, seq", **id_params):
                    event = self._event(row)
                    found[event.task_id].append(event)
        return found

    def events_in(self, db: Database, task_id: str) -> list[TaskEvent]:
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
        return {flag: FlagOutcome(flag, rule, subject, task_id, result, self.dialect.ts_out(at),
                                  _dt.date.fromisoformat(day) if day else None)
                for flag, rule, subject, task_id, result, at, day in rows}


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
