"""Alerts for data engineers: a failed task or a run past its deadline notifies a webhook.

The webhook is ``GRIDRISK_ALERT_WEBHOOK`` (read when the alert fires, never at DAG parse time);
every alert is also logged at ERROR on the ``gridrisk.alerts`` logger, so a missing or broken
webhook loses nothing. Delivery is retried with backoff and never raises: an alert must not turn
a task's failure into a different one.

The payload (JSON): ``{"kind", "dag_id", "task_id", "ds", "reason", "link", "at"}``.

Example:
    >>> payload = build("task_failed", "gridrisk_daily", "ingest_persons", "2026-11-01", "not_ready", None)
    >>> sorted(payload)
    ['at', 'dag_id', 'ds', 'kind', 'link', 'reason', 'task_id']
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import urllib.error
import urllib.request
from typing import Any

log = logging.getLogger("gridrisk.alerts")
WEBHOOK_ENV = "GRIDRISK_ALERT_WEBHOOK"


def build(kind: str, dag_id: str, task_id: str | None, ds: str | None, reason: str, link: str | None) -> dict[str, Any]:
    return {"kind": kind, "dag_id": dag_id, "task_id": task_id, "ds": ds, "reason": reason[:2000], "link": link,
            "at": dt.datetime.now().astimezone().isoformat(timespec="seconds")}


def send(payload: dict[str, Any], webhook: str | None = None, attempts: int = 3, timeout: float = 10.0) -> bool:
    """Log the alert and POST it to the webhook (if one is configured); True when delivered."""
    log.error("gridrisk alert: %s", json.dumps(payload, ensure_ascii=False))
    url = webhook if webhook is not None else os.environ.get(WEBHOOK_ENV, "")
    if not url:
        return False
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 — a configured URL
                if 200 <= response.status < 300:
                    return True
        except (urllib.error.URLError, OSError) as exc:
            log.warning("alert webhook %s: attempt %d failed: %s", url, attempt, exc)
        if attempt < attempts:
            time.sleep(0.5 * 2 ** (attempt - 1))
    log.error("alert webhook %s: not delivered after %d attempts (the alert is in this log)", url, attempts)
    return False


def _ds(context: dict[str, Any]) -> str | None:
    ds = context.get("ds")
    if ds:
        return str(ds)
    logical = context.get("logical_date")
    return logical.date().isoformat() if logical is not None else None


def on_task_failure(context: dict[str, Any]) -> None:
    """Airflow ``on_failure_callback``: which task, which date, why, and a link to its log."""
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    exc = context.get("exception")
    dag_id = str(getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None) or "?")
    send(build("task_failed", dag_id, getattr(ti, "task_id", None),
               _ds(context), f"{type(exc).__name__}: {exc}" if exc else "failed", getattr(ti, "log_url", None)))


def on_deadline_missed(context: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Airflow deadline callback: the run is still not done past its deadline."""
    context = context or {}
    dag_run = context.get("dag_run")
    dag_id = getattr(dag_run, "dag_id", None) or kwargs.get("dag_id", "?")
    send(build("deadline_missed", dag_id, None, _ds(context) or kwargs.get("ds"),
               f"the run is not finished {kwargs.get('deadline', 'within its deadline')} after it was queued", None))
