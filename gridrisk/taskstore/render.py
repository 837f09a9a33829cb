"""Plain-text views of tasks for the CLI (``gridrisk tasks list/show``).

Example:
    >>> print(format_task_table([]))
    (no tasks)
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Sequence

from tabulate import tabulate

from gridrisk.taskstore.model import STATUS_LABELS, Task, TaskEvent, allowed_next
from gridrisk.texttable import table

SHORT_ID = 10


def short_ids(task_ids: Sequence[str]) -> list[str]:
    """The shortest prefixes (at least ``SHORT_ID`` characters) that tell these ids apart.

    ``TaskStore.resolve_id`` turns a prefix back into the full id.

    Example:
        >>> short_ids(["grp-320115-000001", "grp-320115-000002"])
        ['grp-320115-000001', 'grp-320115-000002']
        >>> short_ids(["9f86d081884c7d65", "2c26b46b68ffc68f"])
        ['9f86d08188', '2c26b46b68']
    """
    n, longest, distinct = SHORT_ID, max(map(len, task_ids), default=0), len(set(task_ids))
    while n < longest and len({t[:n] for t in task_ids}) < distinct:
        n += 1
    return [t[:n] for t in task_ids]


def _when(value: _dt.datetime | None, seconds: bool = False) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _status(status: str) -> str:
    return f"{STATUS_LABELS[status]} {status}"


def format_task_table(tasks: Iterable[Task], width: int | None = None) -> str:
    """One row per task: id (short), rule, address, explanation, priority, deadline, status.

    The explanation is wrapped to the terminal's (or ``width``) cells, never cut: its last
    clause is often the one that says why the rule fired.
    """
    tasks = list(tasks)
    rows = [
        (short, t.rule_id, t.address_code or "", t.explanation, f"P{t.priority}", _when(t.deadline), _status(t.status))
        for short, t in zip(short_ids([t.task_id for t in tasks]), tasks, strict=True)
    ]
    if not rows:
        return "(no tasks)"
    headers = ("id", "rule", "address", "explanation", "priority", "deadline", "status")
    return table(rows, headers, wrap_column=3, width=width)


def format_task_detail(task: Task, events: Sequence[TaskEvent]) -> str:
    """Everything a grid worker needs about one task, its history and what can happen next."""
    fields = [
        ("task", task.task_id),
        ("status", _status(task.status)),
        ("next", ", ".join(allowed_next(task.status)) or "—"),
        ("title", task.title),
        ("explanation", task.explanation),
        ("rule", f"{task.rule_id} v{task.rule_version}"),
        ("severity / priority", f"{task.severity} / P{task.priority}"),
        ("receiving unit", f"{task.receiving_level} {task.receiving_unit} · {task.department}"),
        ("grid", task.grid_code),
        ("address", task.address_code or "—"),
        ("position", "—" if task.lat is None or task.lon is None else f"{task.lat}, {task.lon}"),
        ("subject", task.subject_key),
        ("filed", _when(task.filed_at, seconds=True)),
        ("deadline", _when(task.deadline, seconds=True)),
        ("updated", _when(task.updated_at, seconds=True)),
        ("flag", task.flag_id),
    ]
    head = str(tabulate(fields, tablefmt="plain"))
    evidence = json.dumps(task.evidence, ensure_ascii=False, indent=2, sort_keys=True)
    history = str(tabulate(
        [(e.seq, _when(e.at, seconds=True),
          f"{e.from_status or ''} → {e.to_status}".strip(), e.actor, e.result or "",
          e.note or "", e.photo_url or "") for e in events],
        headers=("#", "at", "step", "actor", "result", "note", "photo"),
        tablefmt="simple", disable_numparse=True,
    )) if events else "(no events)"
    return f"{head}\n\nevidence:\n{evidence}\n\nevents:\n{history}"
