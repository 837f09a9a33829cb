"""
### gridrisk_report — the analysts' report of a day, when its gold tables are new

Scheduled on the Assets it reads: it runs when `gridrisk_daily` (or a backfill, or a re-run of the
rules) has written **`gold.risk_flags`** and **`gold.risk_summary`** and published the day's
inspection tasks (**`taskstore.tasks`**, whose case figures the report shows). The day is the
`ds` the daily run put into the asset events' extra (the latest one when several days queued up);
a manual run with a logical date builds that day instead.

It reads the lake with delta-rs and the task store, never Spark (no pool slot), and writes
`<reports>/<ds>/report.html` and the workbook. Params: `profile`, `inbox` as in the daily DAG.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task
from gridrisk_common import TASKS_ASSET, lake_asset

from gridrisk import alerts

DAG_ID = "gridrisk_report"
#: What the report reads that a daily run produces (the ingest and quality logs come with them).
READS = (lake_asset("gold.risk_flags"), lake_asset("gold.risk_summary"), TASKS_ASSET)


def report_day(context: Any) -> str:
    """The day to report: the newest ``ds`` of the triggering asset events, else the logical date."""
    days = sorted({str(e.extra["ds"]) for events in (context.get("triggering_asset_events") or {}).values()
                   for e in events if (e.extra or {}).get("ds")})
    if days:
        return days[-1]
    if context.get("logical_date") is not None:
        return str(context["ds"])
    raise ValueError("gridrisk_report: no asset event with a ds and no logical date — trigger it with the day to report")


@task
def build_report(**context: Any) -> dict[str, Any]:
    """Build the report of the day (HTML + workbook); skipped, with why, when the day has no flags."""
    from airflow.sdk.exceptions import AirflowSkipException

    from gridrisk.config import load_profile
    from jobs import pipeline

    ds = report_day(context)
    params = context["params"]
    profile = load_profile(params.get("profile") or None).with_inbox(params.get("inbox") or None)
    reads = ["gold.risk_flags", "gold.risk_summary", "bronze._ingest_log", "bronze._quality_log", "bronze.grids"]
    pipeline.log.info("report %s reads %s and the task store %s", ds, pipeline.versions_text(profile, reads),
                      profile.task_store.split("@")[-1])
    out = pipeline.report(ds, profile)
    if out.get("skipped"):
        raise AirflowSkipException("; ".join(out["skipped"]))
    pipeline.log.info("report %s wrote %s (%s bytes) and %s in %s s", ds, out["html"], out["html_bytes"], out["xlsx"],
                      out["seconds"])
    return out


with DAG(
    dag_id=DAG_ID,
    description="The analysts' report of a day, built when the day's gold tables and tasks are new",
    doc_md=__doc__,
    schedule=READS[0] & READS[1] & READS[2],
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "gridrisk", "retries": 1, "retry_delay": timedelta(minutes=5),
                  "execution_timeout": timedelta(hours=1), "on_failure_callback": alerts.on_task_failure},
    params={
        "profile": Param(None, type=["null", "string"], description="Profile (empty: GRIDRISK_PROFILE of the worker)."),
        "inbox": Param(None, type=["null", "string"], description="Not read by the report; accepted for symmetry."),
    },
    tags=["gridrisk", "report"],
) as dag:
    build_report()
