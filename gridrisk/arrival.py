"""When a delivery is due, whether it has arrived, and how long a run may take: ``conf/schedule.yaml``.

The Airflow DAG waits for each department's manifest until its cut-off
(:class:`gridrisk.arrival_trigger.ManifestTrigger` does the waiting in the triggerer); after it
the delivery is late and the run goes on without it. JVM-free and Airflow-free: the DAG's
sensor, the trigger and the tests all use these functions.

Example:
    >>> s = Schedule(timezone="Asia/Shanghai", cutoff="12:00", cutoffs={"gps_points": "04:00"},
    ...              poke_seconds=300, run_deadline_minutes=480)
    >>> s.cutoff_for("persons", "2026-11-01").isoformat()
    '2026-11-02T04:00:00+00:00'
    >>> s.cutoff_for("gps_points", "2026-11-01").isoformat()
    '2026-11-01T20:00:00+00:00'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gridrisk.config import ConfigError, conf_dir, read_yaml

SCHEDULE_FILE = "schedule.yaml"


@dataclass(frozen=True)
class Schedule:
    timezone: str
    cutoff: str
    cutoffs: dict[str, str] = field(default_factory=dict)
    poke_seconds: int = 300
    run_deadline_minutes: int = 480

    def cutoff_for(self, dataset: str, ds: str) -> dt.datetime:
        """The moment (UTC) after which the delivery of ``dataset`` for day ``ds`` is late: the
        wall-clock time of its cut-off on the day after ``ds``, in the schedule's time zone."""
        hh, mm = _hhmm(self.cutoffs.get(dataset, self.cutoff))
        day_after = dt.date.fromisoformat(ds) + dt.timedelta(days=1)
        local = dt.datetime.combine(day_after, dt.time(hh, mm), tzinfo=ZoneInfo(self.timezone))
        return local.astimezone(dt.UTC)

    @property
    def run_deadline(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.run_deadline_minutes)


def _hhmm(text: str) -> tuple[int, int]:
    hh, _, mm = str(text).partition(":")
    return int(hh), int(mm or 0)


def load_schedule(path: str | None = None) -> Schedule:
    """``conf/schedule.yaml``, checked: every problem at once in one :class:`ConfigError`."""
    file = Path(path) if path else conf_dir() / SCHEDULE_FILE
    source = str(file)
    raw: dict[str, Any] = read_yaml(file) or {}
    problems = []
    tz = str(raw.get("timezone", "Asia/Shanghai"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"timezone: {tz!r} is not an IANA time zone")
    cutoffs = {str(k): str(v) for k, v in (raw.get("cutoffs") or {}).items()}
    for name, value in {"cutoff": str(raw.get("cutoff", "12:00")), **{f"cutoffs.{k}": v for k, v in cutoffs.items()}}.items():
        try:
            hh, mm = _hhmm(value)
            if not (0 <= hh < 24 and 0 <= mm < 60):
                raise ValueError
        except ValueError:
            problems.append(f"{name}: {value!r} is not a time of day HH:MM")
    from gridrisk.catalog import BRONZE_DATASETS

    problems += [f"cutoffs.{k}: no such delivery (datasets: gridrisk/catalog.py)" for k in cutoffs if k not in BRONZE_DATASETS]
    numbers: dict[str, int] = {}
    for key, default in (("poke_seconds", 300), ("run_deadline_minutes", 480)):
        value = raw.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            problems.append(f"{key}: {value!r} must be a whole number > 0")
            continue
        numbers[key] = value
    if problems:
        raise ConfigError(source, problems)
    return Schedule(timezone=tz, cutoff=str(raw.get("cutoff", "12:00")), cutoffs=cutoffs, **numbers)


def manifest_uri(inbox: str, dataset: str, ds: str) -> str:
    """Where the manifest of ``dataset``'s delivery for ``ds`` appears (local path or URI)."""
    from gridrisk import storage
    from gridrisk.config import load_schema

    day = dt.date.fromisoformat(ds).strftime("%Y%m%d")
    return storage.join(inbox, load_schema(dataset).delivery, day, "manifest.json")


def arrived(uri: str) -> bool:
    from gridrisk import storage

    return storage.exists(uri)
