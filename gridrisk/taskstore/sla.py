"""Task deadlines in working time: working hours on working days of the official calendar.

The limits per priority live in ``conf/sla.yaml``; everything here is a pure function of
that configuration and the filing time.

Example:
    >>> cal = WorkingCalendar()
    >>> # Filed at 16:30 on the eve of National Day 2026: one working hour that day, then
    >>> # 1–7 October are holidays, so 7 working hours end at 16:30 on Thursday 8 October.
    >>> cal.add(_dt.datetime(2026, 9, 30, 16, 30, tzinfo=TZ), 7 * 3600).isoformat()
    '2026-10-08T16:30:00+08:00'
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chinese_calendar
import yaml

from gridrisk.taskstore.model import PRIORITIES, TZ, to_second

log = logging.getLogger(__name__)

DEFAULT_SLA_PATH = Path(__file__).resolve().parents[2] / "conf" / "sla.yaml"
STEPS = ("sign", "handle", "close")
ESCALATION_STEPS = ("raise_priority", "move_up")
_MAX_DAYS = 3 * 366  # a calendar with no working day at all must not loop forever
_warned_years: set[int] = set()


@functools.lru_cache(maxsize=8192)  # the package scans its whole table on every call
def official_is_workday(day: _dt.date) -> bool:
    """``chinese_calendar.is_workday``; Monday–Friday for a year the package does not cover."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning("chinese_calendar has no holidays for %s; taking Monday–Friday as "
                        "working days (upgrade the package once the State Council publishes them)",
                        day.year)
        return day.weekday() < 5


@dataclass(frozen=True)
class WorkingCalendar:
    """Working periods of a day plus a working-day predicate."""

    periods: tuple[tuple[_dt.time, _dt.time], ...] = (
        (_dt.time(9, 0), _dt.time(12, 0)),
        (_dt.time(13, 30), _dt.time(17, 30)),
    )
    is_workday: Callable[[_dt.date], bool] = official_is_workday

    @property
    def seconds_per_day(self) -> int:
        """Working seconds in one working day (the length of ``1d``)."""
        return sum(_seconds(end) - _seconds(begin) for begin, end in self.periods)

    def add(self, start: _dt.datetime, seconds: int) -> _dt.datetime:
        """The moment ``seconds`` of working time after ``start`` (to the second, Asia/Shanghai).

        Time outside the working periods does not count; a start outside them begins counting
        at the next working period.
        """
        cursor = to_second(start)
        remaining = int(seconds)
        day = cursor.date()
        for _ in range(_MAX_DAYS):
            if self.is_workday(day):
                for begin_t, end_t in self.periods:
                    begin = max(cursor, _dt.datetime.combine(day, begin_t, tzinfo=TZ))
                    end = _dt.datetime.combine(day, end_t, tzinfo=TZ)
                    if begin >= end:
                        continue
                    span = int((end - begin).total_seconds())
                    if remaining <= span:
                        return begin + _dt.timedelta(seconds=remaining)
                    remaining -= span
            day += _dt.timedelta(days=1)
            cursor = _dt.datetime.combine(day, _dt.time(0), tzinfo=TZ)
        raise ValueError(f"no working time found within {_MAX_DAYS} days after {start}")


@dataclass(frozen=True)
class Deadlines:
    sign_by: _dt.datetime
    handle_by: _dt.datetime
    close_by: _dt.datetime


@dataclass(frozen=True)
class SlaPolicy:
    """Limits per priority, in working seconds counted from filing, for each of ``STEPS``."""

    limits: Mapping[int, Mapping[str, int]]
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    false_positive_suppress_days: int = 90
    #: What the SLA check does to an overdue task the first time and then every
    #: ``escalation_repeat_s`` working seconds: ``raise_priority`` or ``move_up``.
    escalation_first: str = "raise_priority"
    escalation_then: str = "move_up"
    escalation_repeat_s: int = 7 * 3600

    def deadlines(self, filed_at: _dt.datetime, priority: int) -> Deadlines:
        limits = self.limits[priority]
        sign_by, handle_by, close_by = (self.calendar.add(filed_at, limits[s]) for s in STEPS)
        return Deadlines(sign_by, handle_by, close_by)

    def deadline(self, filed_at: _dt.datetime, priority: int) -> _dt.datetime:
        """When a task of ``priority`` filed at ``filed_at`` must be closed."""
        return self.calendar.add(filed_at, self.limits[priority]["close"])


_DURATION = re.compile(r"(\d+)\s*([dhm])")


def parse_duration(text: str, seconds_per_day: int) -> int:
    """``"1d4h"`` → working seconds, where ``d`` is one working day.

    Example:
        >>> parse_duration("1d30m", 7 * 3600)
        27000
    """
    compact = str(text).replace(" ", "")
    if not compact or _DURATION.sub("", compact):
        raise ValueError(f"{text!r} is not a duration like 1h, 90m, 2d or 1d4h")
    unit = {"d": seconds_per_day, "h": 3600, "m": 60}
    return sum(int(n) * unit[u] for n, u in _DURATION.findall(compact))


def _seconds(t: _dt.time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _parse_time(text: Any) -> _dt.time:
    if isinstance(text, int):  # YAML 1.1 reads an unquoted 09:00 as sexagesimal minutes
        return _dt.time(text // 60, text % 60)
    return _dt.time.fromisoformat(str(text))


def sla_from_dict(conf: Mapping[str, Any], source: str = "sla config") -> SlaPolicy:
    """Build a policy from the parsed YAML; every problem is reported in one ``ValueError``."""
    problems: list[str] = []
    periods: list[tuple[_dt.time, _dt.time]] = []
    for i, pair in enumerate(conf.get("working_hours") or []):
        try:
            begin, end = (_parse_time(x) for x in pair)
        except (TypeError, ValueError):
            problems.append(f"working_hours[{i}]: expected [\"HH:MM\", \"HH:MM\"], got {pair!r}")
            continue
        if begin >= end or (periods and begin < periods[-1][1]):
            problems.append(f"working_hours[{i}]: {pair!r} must start after the previous period "
                            "and end after it starts")
        periods.append((begin, end))
    if not periods:
        problems.append("working_hours: at least one period is needed")
    calendar = WorkingCalendar(periods=tuple(periods)) if periods else WorkingCalendar()

    limits: dict[int, dict[str, int]] = {}
    given = conf.get("priorities") or {}
    for priority in PRIORITIES:
        row = given.get(priority) or given.get(str(priority))
        if not isinstance(row, Mapping):
            problems.append(f"priorities.{priority}: missing (need {', '.join(STEPS)})")
            continue
        limits[priority] = {}
        for step in STEPS:
            try:
                limits[priority][step] = parse_duration(row[step], calendar.seconds_per_day)
            except KeyError:
                problems.append(f"priorities.{priority}.{step}: missing")
            except ValueError as err:
                problems.append(f"priorities.{priority}.{step}: {err}")
        found = [limits[priority][s] for s in STEPS if s in limits[priority]]
        if len(found) == len(STEPS) and found != sorted(found):
            problems.append(f"priorities.{priority}: sign ≤ handle ≤ close expected, got {row!r}")
    extra = sorted(str(k) for k in given if str(k) not in {str(p) for p in PRIORITIES})
    if extra:
        problems.append(f"priorities: unknown priorities {', '.join(extra)} (use 1–4)")

    days = conf.get("false_positive_suppress_days", 90)
    if not isinstance(days, int) or days < 0:
        problems.append(f"false_positive_suppress_days: expected a whole number ≥ 0, got {days!r}")
    escalation = conf.get("escalation") or {}
    steps = {}
    for key, default in (("first", "raise_priority"), ("then", "move_up")):
        steps[key] = escalation.get(key, default)
        if steps[key] not in ESCALATION_STEPS:
            problems.append(f"escalation.{key}: {steps[key]!r} is not one of "
                            f"{', '.join(ESCALATION_STEPS)}")
    try:
        repeat = parse_duration(escalation.get("repeat_after", "1d"), calendar.seconds_per_day)
    except ValueError as err:
        problems.append(f"escalation.repeat_after: {err}")
        repeat = calendar.seconds_per_day
    if problems:
        raise ValueError(f"{source}:\n- " + "\n- ".join(problems))
    return SlaPolicy(limits=limits, calendar=calendar, false_positive_suppress_days=days,
                     escalation_first=steps["first"], escalation_then=steps["then"],
                     escalation_repeat_s=repeat)


def load_sla(path: str | Path | None = None) -> SlaPolicy:
    """Read ``conf/sla.yaml`` (or ``path``)."""
    path = Path(path) if path is not None else DEFAULT_SLA_PATH
    with path.open(encoding="utf-8") as fh:
        conf = yaml.safe_load(fh) or {}
    return sla_from_dict(conf, source=str(path))
