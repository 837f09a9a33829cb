"""The SLA check: open tasks past their deadline are escalated per ``conf/sla.yaml``.

The first time a task is found overdue it gets ``escalation.first`` (default: priority raised
one step); while it stays overdue, every ``repeat_after`` of working time it gets
``escalation.then`` (default: moved one level up, grid → community → street → district).
Every escalation is an event (action ``escalate``, actor ``system``), so the unit's
dispatcher sees it in the history and the centres' systems receive it. Re-running the check
at the same moment changes nothing.
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass

from gridrisk.taskstore import Conflict, SqlTaskStore, Task
from gridrisk.taskstore.model import LEVELS, UNIT_CODE_LENGTH, to_second

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Escalation:
    task_id: str
    step: str
    priority: tuple[int, int]
    receiving_unit: tuple[str, str]


def next_step(task: Task, store: SqlTaskStore, at: _dt.datetime) -> str | None:
    """What the check does to ``task`` at ``at`` (``None``: nothing is due yet)."""
    if task.deadline is None or task.deadline >= at:
        return None
    if task.escalation_level == 0:
        return store.sla.escalation_first
    # Due again once repeat_after working time has passed since the last escalation.
    last = max((e.at for e in store.events(task.task_id) if e.action == "escalate"),
               default=task.deadline)
    if store.sla.calendar.add(last, store.sla.escalation_repeat_s) > at:
        return None
    return store.sla.escalation_then


def _apply(task: Task, step: str) -> tuple[int, str, str]:
    """(priority, receiving_unit, receiving_level) after ``step``."""
    index = LEVELS.index(task.receiving_level)
    if step == "move_up" and index + 1 < len(LEVELS):
        level = LEVELS[index + 1]
        return task.priority, task.receiving_unit[:UNIT_CODE_LENGTH[level]], level
    return max(1, task.priority - 1), task.receiving_unit, task.receiving_level


def run_escalation(store: SqlTaskStore, at: _dt.datetime, unit: str = "32") -> list[Escalation]:
    """Escalate every overdue open task of ``unit``'s subtree that is due for it."""
    at = to_second(at)
    done = []
    for task in store.overdue(at, unit):
        step = next_step(task, store, at)
        if step is None:
            continue
        priority, receiving_unit, level = _apply(task, step)
        note = (f"超期未结案（期限 {task.deadline:%Y-%m-%d %H:%M}），"
                + ("提高优先级" if step == "raise_priority" else f"上移至 {receiving_unit}"))
        try:
            store.escalate(task.task_id, at, priority=priority, receiving_unit=receiving_unit,
                           receiving_level=level, note=note, expected_version=task.version)
        except Conflict:  # someone acted on it meanwhile: the next check looks again
            log.info("task %s changed during the SLA check; left for the next run", task.task_id)
            continue
        done.append(Escalation(task.task_id, step, (task.priority, priority),
                               (task.receiving_unit, receiving_unit)))
    return done


def overdue_by_unit(store: SqlTaskStore, at: _dt.datetime, unit: str = "32",
                    depth: int | None = None) -> dict[str, list[Task]]:
    """Overdue open tasks grouped by receiving unit (or its prefix of ``depth`` digits)."""
    grouped: dict[str, list[Task]] = {}
    for task in store.overdue(to_second(at), unit):
        key = task.receiving_unit[:depth] if depth else task.receiving_unit
        grouped.setdefault(key, []).append(task)
    return dict(sorted(grouped.items()))
