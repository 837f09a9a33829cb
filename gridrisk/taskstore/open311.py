"""A task as an Open311 GeoReport v2 service request, so Open311 software can read the queue.

Only what a grid centre may see leaves: the one-line explanation, the place and the dates.
The evidence and the subject key stay in the store.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

from gridrisk.taskstore.model import ACTIONS, STATUS_LABELS, Task, TaskEvent

#: Open311's ``jurisdiction_id`` of this installation (the province's grid system).
JURISDICTION_ID = "js.gridrisk"


def map_link(task: Task) -> str | None:
    """A link to the place on OpenStreetMap (the service's own page draws its grids offline)."""
    if task.lat is None or task.lon is None:
        return None
    query = urllib.parse.urlencode({"mlat": f"{task.lat:.6f}", "mlon": f"{task.lon:.6f}"})
    return f"https://www.openstreetmap.org/?{query}#map=18/{task.lat:.6f}/{task.lon:.6f}"


def event_view(event: TaskEvent) -> dict[str, Any]:
    """One event as the service and the webhooks show it."""
    label = ACTIONS[event.action].label if event.action in ACTIONS else STATUS_LABELS[event.to_status]
    return {"seq": event.seq, "action": event.action or "file", "label": label,
            "from_status": event.from_status, "to_status": event.to_status,
            "actor": event.actor, "at": event.at.isoformat(), "note": event.note,
            "result": event.result, "photo_url": event.photo_url,
            "logical_date": event.logical_date, "detail": event.detail}


def event_payload(task: Task, event: TaskEvent) -> dict[str, Any]:
    """What a centre's own system receives for one event: the event and the task as Open311
    shows it (never the evidence or the subject key). Its ``event_key`` is the idempotency key."""
    return {"event_key": f"{event.task_id}:{event.seq}", "jurisdiction_id": JURISDICTION_ID,
            "event": event_view(event), "request": to_open311(task, [event])}


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
        "address": task.address_text,
        "address_id": task.address_code,
        "zipcode": None,
        "lat": task.lat,
        "long": task.lon,
        "media_url": photos[-1] if photos else None,
        # GeoReport v2 extension fields: the fine-grained lifecycle and the place.
        "jurisdiction_id": JURISDICTION_ID,
        "extended_attributes": {
            "lifecycle_status": task.status,
            "lifecycle_label": label,
            "priority": task.priority,
            "severity": task.severity,
            "receiving_level": task.receiving_level,
            "receiving_unit": task.receiving_unit,
            "department": task.department,
            "grid_code": task.grid_code,
            "assignee": task.assignee,
            "escalation_level": task.escalation_level,
            "overdue_since": task.overdue_since.isoformat() if task.overdue_since else None,
            "version": task.version,
            "source": task.source,
            "map_url": map_link(task),
        },
    }
