"""Inspection tasks, their events and the case lifecycle as one transition table.

Pure Python: the store implementations, the renderer and the rules layer share these
definitions, and the database's CHECK constraints are generated from the same constants.

Example:
    >>> allowed_next("signed")
    ('handled', 'returned', 'deferred')
    >>> check_transition("t1", "filed", "signed")
    Traceback (most recent call last):
    ...
    gridrisk.taskstore.model.IllegalTransition: task t1 is filed (立案): cannot go to signed; allowed next: dispatched, closed
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from gridrisk import ids

TZ = ZoneInfo("Asia/Shanghai")

SEVERITIES = ("low", "medium", "high", "critical")
PRIORITIES = (1, 2, 3, 4)  # 1 = highest
RESULTS = ("confirmed", "rectified", "false_positive")
RATINGS = ("satisfied", "unsatisfied")  # 回访/评价 after closure

#: Receiving level → length of the division code of a unit at that level (GB/T 2260 + grid).
UNIT_CODE_LENGTH = {"grid": 15, "community": 12, "street": 9, "district": 6}
LEVELS = tuple(UNIT_CODE_LENGTH)

#: Status → Chinese name used on the grid centres' screens.
STATUS_LABELS = {
    "filed": "立案",
    "dispatched": "派遣",
    "signed": "签收",
    "handled": "处置",
    "verified": "核查",
    "closed": "结案",
    "returned": "退单",
    "deferred": "挂账",
}
STATUSES = tuple(STATUS_LABELS)

#: The whole lifecycle: status → the statuses it may move to, in the order a screen offers them.
#: ``closed`` from the three not-yet-signed statuses is how a task whose flag stopped firing is
#: closed by the system (see ``TaskStore.close_resolved``); ``returned`` sends a wrongly routed
#: task back to the dispatcher, who dispatches it again; ``deferred`` (挂账) parks a task that
#: cannot be finished now and resumes to ``signed``.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "filed": ("dispatched", "closed"),
    "dispatched": ("signed", "returned", "closed"),
    "signed": ("handled", "returned", "deferred"),
    "handled": ("verified", "deferred"),
    "verified": ("closed",),
    "closed": (),
    "returned": ("dispatched", "closed"),
    "deferred": ("signed",),
}
#: Statuses a task is in before anyone on the ground has signed for it.
UNSIGNED = ("filed", "dispatched", "returned")
#: Moving into these needs a note (what was found / why it is returned / why it waits).
NOTE_REQUIRED = frozenset({"handled", "returned", "deferred"})
#: Moving into ``handled`` needs one of ``RESULTS``; no other transition takes a result.
RESULT_REQUIRED = frozenset({"handled"})
SYSTEM_ACTOR = "system"
#: Statuses in which the case is still being worked on.
OPEN_STATUSES = tuple(s for s in STATUSES if s != "closed")

#: Who may do what. A role is held by an actor (a registered person or platform account,
#: never free text); ``system`` is the pipeline and the SLA check.
ROLES = ("dispatcher", "grid_worker", "analyst", "admin")


@dataclass(frozen=True)
class ActionSpec:
    """One thing a person can do to a case.

    ``target`` is the status it moves to (``None``: the status stays, the action is only
    recorded); ``from_statuses`` where it can start; ``needs`` the fields it requires.
    """

    label: str
    target: str | None
    from_statuses: tuple[str, ...]
    roles: frozenset[str]
    needs: frozenset[str] = frozenset()


_D, _W, _A, _S = "dispatcher", "grid_worker", "admin", SYSTEM_ACTOR
#: Every action of the case loop. Status-moving actions also obey ``TRANSITIONS``.
ACTIONS: dict[str, ActionSpec] = {
    "dispatch": ActionSpec("派遣", "dispatched", ("filed", "returned"), frozenset({_D, _A})),
    "sign": ActionSpec("签收", "signed", ("dispatched", "deferred"), frozenset({_W, _A})),
    "handle": ActionSpec("处置", "handled", ("signed",), frozenset({_W, _A}),
                         frozenset({"note", "result"})),
    "verify": ActionSpec("核查", "verified", ("handled",), frozenset({_D, _A})),
    "close": ActionSpec("结案", "closed", ("filed", "dispatched", "returned", "verified"),
                        frozenset({_D, _A, _S})),
    "return": ActionSpec("退单", "returned", ("dispatched", "signed"), frozenset({_D, _W, _A}),
                         frozenset({"note"})),
    "defer": ActionSpec("挂账", "deferred", ("signed", "handled"), frozenset({_W, _D, _A}),
                        frozenset({"note"})),
    "reopen": ActionSpec("返工", "dispatched", ("closed",), frozenset({_D, _A}),
                         frozenset({"note"})),
    "remind": ActionSpec("督办/催办", None, OPEN_STATUSES, frozenset({_D, _A, _S})),
    "request_extension": ActionSpec("延期申请", None, ("dispatched", "signed", "deferred",
                                                   "handled"), frozenset({_W, _A}),
                                    frozenset({"note", "new_deadline"})),
    "grant_extension": ActionSpec("延期批准", None, ("dispatched", "signed", "deferred",
                                                  "handled"), frozenset({_D, _A})),
    "refuse_extension": ActionSpec("延期驳回", None, ("dispatched", "signed", "deferred",
                                                   "handled"), frozenset({_D, _A}),
                                   frozenset({"note"})),
    "follow_up": ActionSpec("回访/评价", None, ("closed",), frozenset({_D, _A}),
                            frozenset({"rating"})),
    "escalate": ActionSpec("超期升级", None, OPEN_STATUSES, frozenset({_S})),
}
#: The status a status-moving action leads to, per target status (for ``transition``).
STATUS_ACTION = {"dispatched": "dispatch", "signed": "sign", "handled": "handle",
                 "verified": "verify", "closed": "close", "returned": "return",
                 "deferred": "defer"}
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    role: frozenset(a for a, spec in ACTIONS.items() if role in spec.roles) for role in ROLES}
RESOLVED_NOTE = "风险标记已消除，系统自动结案 (flag no longer fires)"

# A run of digits (+ the X an ID may end in); every 18-character stretch of it is a candidate,
# so a raw ID glued to other digits is found too.
_DIGIT_RUN = re.compile(r"\d+[Xx]?")
#: A standard address code (标准地址编码, shared/extracts.md) is a run of exactly this many
#: digits: it is a code the task carries, not an ID glued to two digits (5,001 of the 429,996
#: codes of a 1 M-person province hold a stretch that reads as an ID with a real birth date).
ADDRESS_CODE_DIGITS = 20


class TaskError(Exception):
    """Base class of the task store's errors."""


class TaskNotFound(TaskError, KeyError):
    def __init__(self, task_id: str) -> None:
        super().__init__(task_id)
        self.task_id = task_id

    def __str__(self) -> str:
        return f"no task with id {self.task_id!r}"


class IllegalTransition(TaskError, ValueError):
    """A transition the lifecycle table does not allow, or one missing its note/result."""

    def __init__(self, task_id: str, current: str, to_status: str, reason: str | None = None):
        self.task_id, self.current, self.to_status = task_id, current, to_status
        self.allowed = TRANSITIONS.get(current, ())
        allowed = (", ".join(self.allowed)
                   or "none (the case is closed); reopen (返工) sends it back to dispatch")
        label = STATUS_LABELS.get(current, "?")
        message = reason or f"cannot go to {to_status}; allowed next: {allowed}"
        super().__init__(f"task {task_id} is {current} ({label}): {message}")


class Conflict(IllegalTransition):
    """Someone else changed the task between reading it and moving it (or the version given)."""


class NotAllowed(TaskError, PermissionError):
    """The actor is unknown, inactive, or its role may not take this action."""


class InvalidTask(TaskError, ValueError):
    """A task that breaks the model; lists every problem at once."""

    def __init__(self, task_id: str, problems: list[str]) -> None:
        self.task_id, self.problems = task_id, problems
        super().__init__(f"task {task_id!r} is invalid:\n- " + "\n- ".join(problems))


class RawIdRefused(TaskError, ValueError):
    """Text bound for the task queue holds something that looks like a resident ID number."""

    def __init__(self, task_id: str, fields: list[str]) -> None:
        self.task_id, self.fields = task_id, fields
        super().__init__(
            f"task {task_id!r}: {', '.join(fields)} contain(s) an 18-digit resident ID number; "
            "tasks carry pseudonymous subject keys and masked evidence only (docs/taskstore.md, privacy)"
        )


def to_second(value: _dt.datetime) -> _dt.datetime:
    """Asia/Shanghai, truncated to the second; a naive value is taken as Asia/Shanghai already."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=TZ)
    return value.astimezone(TZ).replace(microsecond=0)


@dataclass(frozen=True)
class Task:
    """One inspection task, born from one risk flag.

    ``task_id`` is deterministic and chosen by the caller, so re-pushing the same flag never
    makes a second task. ``status``, ``deadline`` and ``updated_at`` are owned by the store:
    a new task always starts ``filed``, ``deadline`` left as ``None`` is computed from the SLA
    for its priority, and ``filed_at``/``deadline``/``updated_at`` are kept to the second in
    Asia/Shanghai.

    Example:
        >>> t = Task(task_id="t-1", flag_id="f-1", rule_id="group_rental", rule_version="1",
        ...          severity="medium", priority=3, subject_key="k9f2", address_code="A1",
        ...          grid_code="320115001001003", receiving_level="grid",
        ...          receiving_unit="320115001001003", department="网格", title="群租房核查",
        ...          explanation="出租屋住6人，人均4平方米", evidence={"occupants": 6},
        ...          filed_at=_dt.datetime(2026, 10, 8, 9, 0, 0, 123))
        >>> t.filed_at.isoformat()
        '2026-10-08T09:00:00+08:00'
    """

    task_id: str
    flag_id: str
    rule_id: str
    rule_version: str
    severity: str
    priority: int
    subject_key: str
    address_code: str | None
    grid_code: str
    receiving_level: str
    receiving_unit: str
    department: str
    title: str
    explanation: str
    evidence: dict[str, Any]
    filed_at: _dt.datetime
    lon: float | None = None
    lat: float | None = None
    deadline: _dt.datetime | None = None
    status: str = "filed"
    updated_at: _dt.datetime | None = None
    #: The street address of ``address_code`` (from the lake's addresses reference).
    address_text: str | None = None
    #: The pipeline's logical date the task was filed for (``YYYY-MM-DD``); ``None`` for a
    #: grid worker's own report.
    logical_date: str | None = None
    #: ``rules`` (a risk flag) or ``patrol`` (网格员上报).
    source: str = "rules"
    # Owned by the store: bumped by every event (optimistic concurrency), who claimed it,
    # how often the SLA check escalated it and since when it is overdue.
    version: int = 1
    assignee: str | None = None
    escalation_level: int = 0
    overdue_since: _dt.datetime | None = None

    def __post_init__(self) -> None:
        for name in ("filed_at", "deadline", "updated_at", "overdue_since"):
            value = getattr(self, name)
            if isinstance(value, _dt.datetime):
                object.__setattr__(self, name, to_second(value))
        problems = task_problems(self)
        if problems:
            raise InvalidTask(self.task_id, problems)


def task_problems(task: Task) -> list[str]:
    """Every way ``task`` breaks the model (empty when it is fine)."""
    problems = []
    for name in ("task_id", "flag_id", "rule_id", "rule_version", "subject_key", "department",
                 "title", "explanation"):
        if not isinstance(getattr(task, name), str) or not getattr(task, name).strip():
            problems.append(f"{name} must be a non-empty string")
    if "\n" in str(task.explanation):
        problems.append("explanation must be one line")
    if task.severity not in SEVERITIES:
        problems.append(f"severity {task.severity!r} is not one of {', '.join(SEVERITIES)}")
    if task.priority not in PRIORITIES:
        problems.append(f"priority {task.priority!r} is not one of 1 (highest) … 4")
    if task.status not in STATUSES:
        problems.append(f"status {task.status!r} is not one of {', '.join(STATUSES)}")
    length = UNIT_CODE_LENGTH.get(task.receiving_level)
    if length is None:
        problems.append(f"receiving_level {task.receiving_level!r} is not one of {', '.join(LEVELS)}")
    elif not (task.receiving_unit.isascii() and task.receiving_unit.isdigit()
              and len(task.receiving_unit) == length):
        problems.append(f"receiving_unit {task.receiving_unit!r} must be a {length}-digit "
                        f"{task.receiving_level} code")
    if not (task.grid_code.isascii() and task.grid_code.isdigit() and len(task.grid_code) == 15):
        problems.append(f"grid_code {task.grid_code!r} must be 15 digits")
    if not isinstance(task.evidence, dict):
        problems.append("evidence must be a dict")
    else:
        try:
            json.dumps(task.evidence, ensure_ascii=False)
        except (TypeError, ValueError) as err:
            problems.append(f"evidence is not JSON-serialisable: {err}")
    if task.source not in ("rules", "patrol"):
        problems.append(f"source {task.source!r} is not rules or patrol")
    if task.logical_date is not None:
        try:
            _dt.date.fromisoformat(task.logical_date)
        except (TypeError, ValueError):
            problems.append(f"logical_date {task.logical_date!r} is not YYYY-MM-DD")
    if not isinstance(task.filed_at, _dt.datetime):
        problems.append("filed_at must be a datetime")
    for name, low, high in (("lon", -180, 180), ("lat", -90, 90)):
        value = getattr(task, name)
        if value is not None and not low <= value <= high:
            problems.append(f"{name} {value} is outside [{low}, {high}]")
    return problems


@dataclass(frozen=True)
class TaskEvent:
    """One step of a task's life; ``seq`` counts from 1 (the ``filed`` event)."""

    task_id: str
    seq: int
    from_status: str | None
    to_status: str
    actor: str
    at: _dt.datetime
    note: str | None = None
    result: str | None = None
    photo_url: str | None = None
    #: The action taken (``dispatch``, ``remind`` …; ``file`` for the first event).
    action: str | None = None
    #: The pipeline's logical date the event counts for (suppression windows use it).
    logical_date: str | None = None
    #: What else the action carried: requested deadline, rating, escalation, assignee.
    detail: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", to_second(self.at))


@dataclass(frozen=True)
class UpsertResult:
    created: int = 0
    unchanged: int = 0
    updated: int = 0


@dataclass(frozen=True)
class FlagOutcome:
    """The latest handling result of a flag, for the rules layer."""

    flag_id: str
    rule_id: str
    subject_key: str
    task_id: str
    result: str
    handled_at: _dt.datetime
    logical_date: _dt.date | None = None


@dataclass(frozen=True)
class Actor:
    """A person or platform account that acts on tasks: an id, a unit (their territory: the
    unit and everything below) and a role."""

    actor_id: str
    display_name: str
    unit: str
    role: str
    active: bool = True

    def covers(self, unit: str) -> bool:
        return unit.startswith(self.unit)


@dataclass(frozen=True)
class TaskStats:
    """Headline figures of one unit's subtree over ``[since, until)``.

    ``median_seconds_per_step`` maps ``"from->to"`` (e.g. ``"dispatched->signed"``) to the
    median wall-clock seconds between the two events, over the transitions made in the period.
    """

    unit: str
    since: _dt.datetime
    until: _dt.datetime
    filed: int
    closed: int
    closed_on_time: int
    closed_by_system: int
    median_seconds_per_step: dict[str, float] = field(default_factory=dict)

    @property
    def on_time_closure_rate(self) -> float | None:
        return self.closed_on_time / self.closed if self.closed else None


def allowed_next(status: str) -> tuple[str, ...]:
    return TRANSITIONS[status]


def check_action(task_id: str, current: str, action: str, note: str | None = None,
                 result: str | None = None, **given: Any) -> ActionSpec:
    """Raise ``IllegalTransition`` unless ``action`` may be taken on a task in ``current``."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise IllegalTransition(task_id, current, action,
                                f"unknown action {action!r}; use {', '.join(ACTIONS)}")
    if spec.target is not None and action != "reopen":
        check_transition(task_id, current, spec.target, note, result)
    elif current not in spec.from_statuses:
        raise IllegalTransition(task_id, current, spec.target or current,
                                f"{action} ({spec.label}) is possible only when the task is "
                                f"{' or '.join(spec.from_statuses)}")
    if action != "handle" and result is not None:
        raise IllegalTransition(task_id, current, spec.target or current,
                                f"a result is recorded only when going to handled, not {action}")
    for name in sorted(spec.needs - {"result"}):
        value = note if name == "note" else given.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise IllegalTransition(task_id, current, spec.target or current,
                                    f"{action} ({spec.label}) needs a {name}")
    if "rating" in spec.needs and given.get("rating") not in RATINGS:
        raise IllegalTransition(task_id, current, current,
                                f"rating must be one of {', '.join(RATINGS)}")
    return spec


def check_transition(task_id: str, current: str, to_status: str, note: str | None = None,
                     result: str | None = None) -> None:
    """Raise ``IllegalTransition`` unless ``current → to_status`` is allowed with these fields."""
    if to_status not in TRANSITIONS.get(current, ()):
        raise IllegalTransition(task_id, current, to_status)
    if to_status in RESULT_REQUIRED and result not in RESULTS:
        raise IllegalTransition(task_id, current, to_status,
                                f"going to {to_status} needs a result, one of {', '.join(RESULTS)} "
                                f"(got {result!r})")
    if to_status not in RESULT_REQUIRED and result is not None:
        raise IllegalTransition(task_id, current, to_status,
                                f"a result is recorded only when going to handled, not {to_status}")
    if to_status in NOTE_REQUIRED and not (note and note.strip()):
        raise IllegalTransition(task_id, current, to_status, f"going to {to_status} needs a note")


def _looks_like_id(candidate: str) -> bool:
    # A real birth date in the middle, not in the future, sets an ID apart from a random run of
    # digits such as a stretch of a hex subject key, which would otherwise be refused now and then.
    if ids.normalise_id(candidate).status in ("bad_date", "malformed"):
        return False
    return int(candidate[6:10]) <= _dt.date.today().year


def _id_candidates(text: str) -> list[str]:
    """Every 18-character stretch of every run of digits in ``text`` but address codes."""
    out = []
    for m in _DIGIT_RUN.finditer(text):
        run = m.group(0)
        if len(run) == ADDRESS_CODE_DIGITS and run.isdigit():
            continue
        out += [run[i:i + 18] for i in range(len(run) - 17)]
    return out


def contains_id_number(value: Any) -> bool:
    """True when any string in ``value`` (dicts and lists walked, keys too) holds a resident ID.

    Example:
        >>> contains_id_number({"note": "户主 32011519900307123X 已搬走"})
        True
        >>> contains_id_number({"subject": "9f86d081884c7d659a2feaa0c55ad015", "grid": "320115001001003"})
        False
        >>> contains_id_number({"address_code": "32098112100100160101"})  # "born 2100-10-01" inside: a code
        False
    """
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value)
        return any(_looks_like_id(c) for c in _id_candidates(text))
    if isinstance(value, dict):
        return any(contains_id_number(k) or contains_id_number(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(contains_id_number(v) for v in value)
    return False


def refuse_raw_ids(task_id: str, /, **texts: Any) -> None:
    """Raise ``RawIdRefused`` naming each field of ``texts`` that holds an ID number."""
    found = [name for name, value in texts.items() if contains_id_number(value)]
    if found:
        raise RawIdRefused(task_id, found)
