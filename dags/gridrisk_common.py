"""What the gridrisk DAGs share: the lake's tables as Assets, the delivery sensor, the task bodies.

Parse-time cheap: Airflow's SDK and the lake catalog (plain literals) only. Spark, Delta, Great
Expectations, pyarrow and YAML are imported inside the tasks (tests/test_dags.py checks it).

- :func:`lake_asset` — every bronze, silver, gold and ops table of ``gridrisk/catalog.py`` is an
  Asset named by its catalog ref (``silver.person_registry_mental``) with the URI
  ``x-gridrisk://lake/<layer>/<table>``: the same names whatever profile (local lake, object
  storage) the workers use. The task that writes a table declares it as an outlet; a DAG that
  reads it is scheduled on it (the report DAG, the hourly hazmat DAG), so Airflow's asset graph
  is the lake's lineage. Every event carries ``{"ds", "outcome", "rows", "version"}`` in its extra.
- :class:`DeliverySensor` — waits for a department's ``manifest.json`` until its cut-off
  (``conf/schedule.yaml``), deferred to the triggerer (no worker slot while it waits).
- :func:`stage_args` — the logical date and the profile of a task, resolved when it runs.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import Asset, BaseSensorOperator, Param

from gridrisk.catalog import CATALOG

log = logging.getLogger("gridrisk.dags")

#: The Airflow pool every Spark task runs in (its size: how many Spark applications may run at
#: once on this installation, across all runs and backfills — scripts/airflow_local.sh sets it).
SPARK_POOL = "spark"
#: The task store the publish stage files inspection tasks into (read by the report).
TASKS_ASSET = Asset(name="taskstore.tasks", uri="x-gridrisk://taskstore/tasks", group="gridrisk")


def task_defaults(retries: int, retry_delay: dt.timedelta, max_retry_delay: dt.timedelta,
                  execution_timeout: dt.timedelta, **more: Any) -> dict[str, Any]:
    """The ``default_args`` of a gridrisk DAG: retries with exponential back-off (Airflow 3.3: a
    multiplier — True would mean 1.0, i.e. none), a failed task notifying
    ``GRIDRISK_ALERT_WEBHOOK`` (and the log) with task, date, reason and link."""
    from gridrisk import alerts

    return {"owner": "gridrisk", "retries": retries, "retry_delay": retry_delay, "retry_exponential_backoff": 2.0,
            "max_retry_delay": max_retry_delay, "execution_timeout": execution_timeout,
            "on_failure_callback": alerts.on_task_failure, **more}


def run_params(**more: Param) -> dict[str, Param]:
    """The params every gridrisk DAG takes (profile, inbox) and ``more``."""
    return {
        "profile": Param(None, type=["null", "string"],
                         description="Profile in conf/profiles/ (local, cluster). Empty: GRIDRISK_PROFILE of the worker."),
        "inbox": Param(None, type=["null", "string"],
                       description="Read the deliveries from this folder or URI instead of the profile's inbox."),
        **more,
    }


def lake_asset(ref: str) -> Asset:
    """The Asset of lake table ``ref`` (``"gold.risk_flags"``); an unknown table is a KeyError."""
    table = CATALOG.table(ref)
    return Asset(name=table.ref, uri=f"x-gridrisk://lake/{table.layer}/{table.name}", group="gridrisk")


def stage_args(context: Any) -> dict[str, Any]:
    """The logical date and the profile of the running task (``profile``/``inbox`` params, else
    ``GRIDRISK_PROFILE`` of the worker), never resolved at parse time."""
    if context.get("logical_date") is None:
        # Airflow 3 lets a manual run have no logical date; these DAGs process one date.
        raise ValueError("gridrisk needs a logical date: trigger the run with one (the day to process)")
    from gridrisk.config import load_profile

    params = context["params"]
    profile = load_profile(params.get("profile") or None).with_inbox(params.get("inbox") or None)
    return {"ds": context["ds"], "profile": profile}


def cutoff_for(dataset: str, ds: str, params: dict[str, Any]) -> dt.datetime:
    """When the delivery of ``dataset`` for ``ds`` becomes late: the ``cutoff`` param (ISO 8601,
    for every delivery of the run) or ``conf/schedule.yaml``."""
    if params.get("cutoff"):
        moment = dt.datetime.fromisoformat(str(params["cutoff"]))
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    from gridrisk.arrival import load_schedule

    return load_schedule().cutoff_for(dataset, ds)


def emit(context: Any, rows: list[dict[str, Any]], ds: str) -> None:
    """Put each written table's run-log row into the extra of its asset event."""
    events = context.get("outlet_events")
    if events is None:
        return
    outlets = {a.name for a in context["task"].outlets if isinstance(a, Asset)}
    for row in rows:
        if row["item"] in outlets:
            events[lake_asset(row["item"])].extra = {"ds": ds, "outcome": row["outcome"], "rows": row["rows"],
                                                     "version": row["version"]}


class DeliverySensor(BaseSensorOperator):
    """Wait for the delivery of ``dataset`` for the run's date until its cut-off.

    Returns (XCom) ``{"status": "arrived"}`` or ``{"status": "late", "cutoff": …}``, with ``since``
    (when it began to wait: the run summary measures the run's duration from the earliest) — never fails
    on a late delivery: the ingest after it records it as late and the run goes on. Deferrable
    (the default): the waiting happens in the triggerer (:class:`gridrisk.arrival_trigger.
    ManifestTrigger`); ``deferrable=False`` pokes in the worker instead.
    """

    template_fields = ()
    ui_color = "#e8f4fa"

    def __init__(self, *, dataset: str, deferrable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.deferrable = deferrable

    def _where(self, context: Any) -> tuple[str, dt.datetime, float]:
        from gridrisk.arrival import load_schedule, manifest_uri

        args = stage_args(context)
        params = context["params"]
        poke = float(params.get("poke_seconds") or load_schedule().poke_seconds)
        return manifest_uri(args["profile"].inbox, self.dataset, args["ds"]), cutoff_for(self.dataset, args["ds"], params), poke

    def poke(self, context: Any) -> bool:
        from gridrisk.arrival import arrived

        manifest, _, _ = self._where(context)
        return arrived(manifest)

    def execute(self, context: Any) -> dict[str, Any]:
        import time

        from gridrisk.arrival import arrived

        manifest, cutoff, poke = self._where(context)
        since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        log.info("waiting for %s until %s (poll every %.0f s)", manifest, cutoff.isoformat(), poke)
        while True:
            if arrived(manifest):
                return {"status": "arrived", "manifest": manifest, "since": since}
            if dt.datetime.now(dt.UTC) >= cutoff:
                return self._late(manifest, cutoff, since)
            if self.deferrable:
                from gridrisk.arrival_trigger import ManifestTrigger

                self.defer(trigger=ManifestTrigger(manifest, cutoff.isoformat(), poke, since), method_name="execute_complete")
            time.sleep(min(poke, max(0.0, (cutoff - dt.datetime.now(dt.UTC)).total_seconds())))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        if event["status"] == "late":
            return self._late(event["manifest"], dt.datetime.fromisoformat(event["cutoff"]), event.get("since"))
        log.info("%s arrived: %s", self.dataset, event["manifest"])
        return event

    def _late(self, manifest: str, cutoff: dt.datetime, since: str | None) -> dict[str, Any]:
        log.warning("%s: no %s by the cut-off %s — the run goes on without it", self.dataset, manifest, cutoff.isoformat())
        return {"status": "late", "manifest": manifest, "cutoff": cutoff.isoformat(), "since": since}


def run_started(context: Any, datasets: Any) -> dt.datetime | None:
    """When the run began its work: the earliest moment a delivery sensor began to wait (the
    run's first tasks), else the run's own start date."""
    ti = context["ti"]
    moments = [dt.datetime.fromisoformat(x["since"]) for name in datasets
               if isinstance(x := ti.xcom_pull(task_ids=f"wait_{name}"), dict) and x.get("since")]
    started = context["dag_run"].start_date
    return min(moments) if moments else started
