"""
### gridrisk_hourly — the hazmat GPS and waybill rules, every hour

The monitoring platform and the e-waybill system forward `gps_points` and `waybills` every hour
(`<dataset>_<YYYYMMDDHH>` parts, each with its `manifest_HH.json`: docs/hazmat.md). The run for
the hour H of day D (data interval [D H:00, D H+1:00), Beijing time):

1. **ingest_gps_points**, **ingest_waybills** — the parts 00 … H of D that bronze does not hold
   yet (or holds with another checksum) into bronze, each replacing only its own rows; a re-run
   finds nothing new and writes nothing. A task **fails**, and Airflow retries it, until every
   hour up to H is there; a missed hour is caught up by the next run, which lands every part
   still missing.
2. **vehicle_tracks** — the reports of the files landed since the last run placed (grid, road,
   sensitive place), then the day-so-far waybills and periods (the daily stage, incrementally,
   with the newest vehicle register and reference delivered).
3. **rules** — the hourly hazmat rules (speeding, night ban, fatigue, sensitive stop, no waybill,
   route deviation) over the reports that can no longer change (taken before H:00: a report
   arrives at most an hour late); flags MERGEd on (rule, subject), **nothing resolved** — the
   daily run of D resolves, escalates and judges the crews.
4. **publish** — the open flags' tasks (deterministic ids: never duplicated).

Every edge comes from `gridrisk/catalog.py`, like the daily DAG's.

**Sharing the lake with `gridrisk_daily`.** Both write `bronze.gps_points`/`waybills` (the
partition of D), the silver tracks of D and `gold.risk_flags`. Every write is one Delta commit
(a partition, or the rows of some files of it, replaced; or a MERGE on the flag's key) retried on a concurrent writer's
conflict (`gridrisk.lake.with_conflict_retry`), so two writers never leave a mixed or duplicated
partition (`tests/test_hourly_dag.py`). The daily run of D reads the whole day (its manifest lists
the same parts) and the MERGE guards every update with `last_seen`, so whichever commits last,
the flags end as the daily run computes them. Runs of this DAG are serialised
(`max_active_runs=1`); its Spark tasks take slots of the pool `spark` that the daily DAG's take
too (scripts/airflow_local.sh sizes it), and with `GRIDRISK_ENGINE_URL` set they run in the
shared engine like the daily tasks. Each task names the tables it writes as Assets (outlets).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, task
from gridrisk_common import SPARK_POOL, lake_asset, run_params, task_defaults

from gridrisk.catalog import CATALOG, ingest_task_id
from gridrisk.delivery import HOURLY_DATASETS

#: The stages of an hourly run after ingest (jobs.hourly.HOURLY_STAGES, kept literal here so the
#: DAG file imports nothing heavy; tests/test_hourly_dag.py keeps the two equal).
HOURLY_STAGES = ("vehicle_tracks", "rules", "publish")
BEIJING = "Asia/Shanghai"


class HourNotLoaded(RuntimeError):
    """The day so far of an hourly dataset did not load (an hour missing, rejected …); retried."""


def _hour_args(context: Any) -> dict[str, Any]:
    """The day and hour of the run (Beijing time: the deliveries' clock) and the profile."""
    if context.get("data_interval_start") is None:
        raise ValueError("gridrisk_hourly needs a data interval: trigger it with a logical date (the hour to process)")
    from zoneinfo import ZoneInfo

    from gridrisk.config import load_profile

    start = context["data_interval_start"].astimezone(ZoneInfo(BEIJING))
    params = context["params"]
    profile = load_profile(params.get("profile") or None).with_inbox(params.get("inbox") or None)
    return {"ds": start.date().isoformat(), "hour": start.hour, "profile": profile}


@task
def ingest_hourly(dataset: str, **context: Any) -> dict[str, Any]:
    """The parts 00 … H of one hourly dataset → bronze; fail (and so retry) unless loaded."""
    from jobs import hourly

    args = _hour_args(context)
    result = hourly.run_stage("ingest", args["ds"], args["hour"], args["profile"], datasets=[dataset])["results"][0]
    if result["status"] != "loaded":
        context["ti"].xcom_push(key="ingest_result", value=result)
        raise HourNotLoaded(f"{dataset} for {args['ds']} up to hour {args['hour']:02d}: "
                            f"{result['status']}: {result['message']}")
    return result


@task
def run_hourly_stage(stage: str, **context: Any) -> dict[str, Any]:
    """One stage of the hourly run (jobs/hourly.py) for the run's day and hour."""
    from jobs import hourly

    args = _hour_args(context)
    return hourly.run_stage(stage, args["ds"], args["hour"], args["profile"])


with DAG(
    dag_id="gridrisk_hourly",
    description="Hourly GPS and waybill parts → vehicle tracks → hazmat rules → inspection tasks",
    doc_md=__doc__,
    # The run for hour H starts once H is over and carries [H, H+1) as its data interval.
    schedule=CronDataIntervalTimetable("0 * * * *", timezone=BEIJING),
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    # an hour's run must not still be running when the next hour's starts; Spark work shares the
    # pool with the daily DAG
    default_args=task_defaults(3, timedelta(minutes=5), timedelta(minutes=30), timedelta(minutes=50), pool=SPARK_POOL),
    params=run_params(),
    tags=["gridrisk", "hourly", "hazmat", "spark", "delta"],
) as dag:
    ingested = {name: ingest_hourly.override(task_id=ingest_task_id(name), outlets=[lake_asset(f"bronze.{name}")])(name)
                for name in HOURLY_DATASETS}
    stages: dict[str, Any] = {}
    for name in HOURLY_STAGES:
        spec = CATALOG.stage(name)
        # rules skips by itself what has no input today; the others need their upstream done
        trigger = "all_done" if name == "rules" else "all_success"
        stages[name] = run_hourly_stage.override(task_id=spec.airflow_task_id, trigger_rule=trigger,
                                                 doc_md=spec.description,
                                                 outlets=[lake_asset(ref) for ref in spec.writes])(name)
        for dataset in spec.delivery_inputs:
            if dataset in ingested:
                ingested[dataset] >> stages[name]
        for upstream in CATALOG.upstream_of(name):
            if upstream.name in stages:
                stages[upstream.name] >> stages[name]
