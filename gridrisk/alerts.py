"""Alerts for data engineers: a failed task, a late delivery, a partial or failed day, or a run
past its deadline notifies a webhook.

Kinds: ``task_failed`` (a task's ``on_failure_callback``), ``delivery_late`` (a department's
delivery missed its cut-off; the run went on without it), ``run_partial`` / ``run_failed`` /
``run_empty`` (the day's summary: what was late, failed or skipped), ``deadline_missed`` (the run
took longer than ``run_deadline_minutes`` of conf/schedule.yaml).

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


def delivery_late(dag_id: str, task_id: str | None, ds: str, dataset: str, cutoff: str, link: str | None = None) -> bool:
    """A delivery did not arrive by its cut-off: the day goes on without it."""
    return send(build("delivery_late", dag_id, task_id, ds,
                      f"{dataset}: no delivery by the cut-off {cutoff}; the run goes on without it and skips "
                      f"what reads it — re-run ingest_{dataset} and its downstream tasks when it arrives", link))


def run_outcome(dag_id: str, ds: str, summary: dict[str, Any], link: str | None = None) -> bool:
    """The day's summary (jobs.pipeline.summarise) when it is not ``complete``; False when it is."""
    outcome = summary.get("outcome")
    if outcome == "complete":
        return False
    kind = "run_failed" if summary.get("failed") else "run_empty" if outcome == "empty" else "run_partial"
    return send(build(kind, dag_id, None, ds, str(summary.get("reason") or outcome), link))


def overdue(started: dt.datetime, deadline: dt.timedelta, now: dt.datetime | None = None) -> dt.timedelta | None:
    """How far past ``deadline`` a run that started at ``started`` is (None: within it)."""
    now = now or dt.datetime.now(dt.UTC)
    late = now - started - deadline
    return late if late > dt.timedelta(0) else None


def deadline_missed(dag_id: str, ds: str | None, started: dt.datetime, deadline: dt.timedelta,
                    now: dt.datetime | None = None, link: str | None = None) -> bool:
    """Alert when the run has taken longer than ``deadline``; False (no alert) when it has not."""
    late = overdue(started, deadline, now)
    if late is None:
        return False
    took = (now or dt.datetime.now(dt.UTC)) - started
    send(build("deadline_missed", dag_id, None, ds,
               f"the run has taken {_minutes(took)} (started {started.isoformat(timespec='seconds')}); "
               f"its deadline is {_minutes(deadline)}", link))
    return True


def _minutes(delta: dt.timedelta) -> str:
    return f"{delta.total_seconds() / 60:.0f} min"
