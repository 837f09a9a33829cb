"""The task-queue interface the rest of gridrisk programs against.

Two implementations live behind it (``open_store`` picks one by DSN): SQLite for one machine
and PostgreSQL for a shared installation. Both are ``SqlTaskStore`` with a different dialect.
"""

from __future__ import annotations

import abc
import datetime as _dt
from collections.abc import Iterable
from typing import Any

from gridrisk.taskstore.model import (
    RESOLVED_NOTE,
    TZ,
    FlagOutcome,
    Task,
    TaskEvent,
    TaskStats,
    UpsertResult,
)
from gridrisk.taskstore.open311 import to_open311
from gridrisk.taskstore.sla import SlaPolicy


class TaskStore(abc.ABC):
    """The inspection-task queue of the grid centres.

    Every timestamp goes in and comes out to the second in Asia/Shanghai (a naive datetime is
    taken as Asia/Shanghai). A *unit* is a division code (6-digit district, 9-digit
    town/street, 12-digit community, 15-digit grid; 2/4 digits for province/city); it sees its
    own tasks and those of every unit below it.
    """

    sla: SlaPolicy

    @abc.abstractmethod
    def upsert_tasks(self, tasks: Iterable[Task], at: _dt.datetime | None = None) -> UpsertResult:
        """Insert new tasks (``filed``, with a ``filed`` event) and refresh changed ones.

        Idempotent on ``task_id``: the same id again never makes a second task and never
        touches its status, filing time or events; changed content (evidence, priority, …) of
        an open task is updated and ``updated_at`` set to ``at`` (default: now); a closed task
        is a record and is left as it is. A ``deadline`` left ``None`` is computed from the
        SLA. Raises ``RawIdRefused`` (before writing anything) if a task's ids, subject key,
        title, explanation or evidence hold a resident ID number.
        """

    @abc.abstractmethod
    def get(self, task_id: str) -> Task | None:
        """The task, or ``None``."""

    @abc.abstractmethod
    def resolve_id(self, prefix: str) -> str:
        """The one task id starting with ``prefix`` (the table shows short ids).

        Raises ``TaskNotFound`` when none does and ``ValueError`` when several do.
        """

    @abc.abstractmethod
    def list_tasks(self, unit: str, status: Iterable[str] | None = None,
                   department: str | None = None, limit: int = 100,
                   offset: int = 0) -> list[Task]:
        """Tasks in ``unit``'s subtree, most urgent first (priority, then deadline)."""

    @abc.abstractmethod
    def transition(self, task_id: str, to_status: str, actor: str, at: _dt.datetime,
                   note: str | None = None, result: str | None = None,
                   photo_url: str | None = None) -> TaskEvent:
        """Move a task one step along the lifecycle and record the event, atomically.

        Raises ``TaskNotFound``; ``IllegalTransition`` naming the task, its status and the
        allowed next ones, or the missing note/result, or an ``at`` earlier than the previous
        event; ``RawIdRefused`` for an ID number in the note.
        """

    @abc.abstractmethod
    def events(self, task_id: str) -> list[TaskEvent]:
        """The task's events in order (the first is ``filed``)."""

    @abc.abstractmethod
    def close_resolved(self, flag_ids: Iterable[str], at: _dt.datetime,
                       note: str = RESOLVED_NOTE) -> list[TaskEvent]:
        """Close, as actor ``system``, the not-yet-signed tasks of flags that stopped firing.

        Tasks already signed for stay with the people working on them.
        """

    @abc.abstractmethod
    def stats(self, unit: str, since: _dt.datetime, until: _dt.datetime,
              department: str | None = None) -> TaskStats:
        """Filed, closed, on-time closures and median seconds per step over ``[since, until)``."""

    @abc.abstractmethod
    def flag_outcomes(self, since: _dt.datetime | None = None,
                      until: _dt.datetime | None = None) -> dict[str, FlagOutcome]:
        """The latest handling result per flag (handled in ``(since, until]``), for the rules."""

    def suppressed_flags(self, at: _dt.datetime | _dt.date) -> set[str]:
        """Flags whose latest handling was ``false_positive`` within the window before ``at``.

        The window counts in **logical dates** (the pipeline's date the handling counts for,
        not the wall clock): a flag handled on logical day h is suppressed on the days
        ``h … h + window - 1``. ``at`` may be a date or a datetime (its date is used).
        """
        day = at.date() if isinstance(at, _dt.datetime) else at
        if isinstance(at, _dt.datetime) and at.tzinfo is not None:
            day = at.astimezone(TZ).date()
        window = _dt.timedelta(days=self.sla.false_positive_suppress_days)
        suppressed = set()
        for flag, o in self.flag_outcomes().items():
            handled_on = o.logical_date or o.handled_at.date()
            if o.result == "false_positive" and day - window < handled_on <= day:
                suppressed.add(flag)
        return suppressed

    def to_open311(self, task: Task) -> dict[str, Any]:
        """The task as an Open311 GeoReport v2 service request (see ``open311.to_open311``)."""
        return to_open311(task, self.events(task.task_id))
