"""A task as an Open311 GeoReport v2 service request, so Open311 software can read the queue.

Only what a grid centre may see leaves: the one-line explanation, the place and the dates.
The evidence and the subject key stay in the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gridrisk.taskstore.model import STATUS_LABELS, Task, TaskEvent


def to_open311(task: Task, events: Sequence[TaskEvent] = ()) -> dict[str, Any]:
    """The GET-request representation of ``task`` (fields of GeoReport v2, in its order).

    ``expected_datetime`` is the SLA deadline (closure); ``status_notes`` says the lifecycle
    status in Chinese and the note of the latest event; ``media_url`` is the latest photo.

    Example:
        >>> import datetime as dt
        >>> t = Task(task_id="t-1", flag_id="f-1", rule_id="group_rental", rule_version="1",
        ...          severity="medium", priority=3, subject_key="k1", address_code="320115A17",
        ...          grid_code="320115001001003", receiving_level="grid",
        ...          receiving_unit="320115001001003", department="网格", title="群租房核查",
        ...          explanation="出租屋住6人", evidence={}, lat=31.95, lon=118.84,
        ...          filed_at=dt.datetime(2026, 10, 8, 9, 0),
        ...          deadline=dt.datetime(2026, 10, 15, 9, 0))
        >>> r = to_open311(t)
        >>> r["status"], r["service_code"], r["expected_datetime"], r["long"]
        ('open', 'group_rental', '2026-10-15T09:00:00+08:00', 118.84)
    """
    last = events[-1] if events else None
    photos = [e.photo_url for e in events if e.photo_url]
    label = STATUS_LABELS[task.status]
    notes = f"{label} {task.status}" + (f": {last.note}" if last and last.note else "")
    return {
        "service_request_id": task.task_id,
        "status": "closed" if task.status == "closed" else "open",
        "status_notes": notes,
        "service_name": task.title,
        "service_code": task.rule_id,
        "description": task.explanation,
        "agency_responsible": f"{task.department} {task.receiving_unit}",
        "service_notice": None,
        "requested_datetime": task.filed_at.isoformat(),
        "updated_datetime": (task.updated_at or task.filed_at).isoformat(),
        "expected_datetime": task.deadline.isoformat() if task.deadline else None,
        "address": None,
        "address_id": task.address_code,
        "zipcode": None,
        "lat": task.lat,
        "long": task.lon,
        "media_url": photos[-1] if photos else None,
    }
