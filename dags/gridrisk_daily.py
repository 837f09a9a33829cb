"""
### gridrisk_daily — one province-day through the lake

For the logical date `ds` (one calendar day of departments' deliveries):

1. **wait_&lt;dataset&gt;** — one deferrable sensor per delivery waits (in the triggerer, holding no
   worker slot) for `<inbox>/<delivery>/<YYYYMMDD>/manifest.json` until the delivery's cut-off
   (`conf/schedule.yaml`: D+1 12:00 Beijing time unless a department has its own). It never
   fails: after the cut-off it reports the delivery *late* and the run goes on without it.
2. **ingest_&lt;dataset&gt;** — lands the delivery in `bronze/<dataset>` and runs its quality suite.
   *Late*: recorded as `late` in the ingest and run logs, alerts, ends **skipped**. *Rejected*
   (counts or checksums wrong) or *quality_failed*: alerts and **fails** without retrying (the same
   files give the same verdict). A zero-row delivery is a valid, empty delivery. A delivery whose
   suite checks its rows against another's (`exists_in`: fire events against fire units, persons
   against addresses, …) is ingested after that one, whatever became of it (`all_done`).
3. **silver, link_persons, vehicle_tracks, fire_state** — run once their inputs are done, whatever
   happened to them (trigger rule `all_done`): each stage checks in the ingest log which of its
   inputs loaded and passed. Entity resolution links the departments that did and leaves out the
   fact tables the others feed; a stage whose required inputs are missing is **skipped** and says
   why.
4. **rules** — evaluates every rule whose own inputs are there; a rule with a missing input is
   skipped with the reason (task log, run log, run summary). A broken waybills delivery does not
   stop `driver.mental`.
5. **publish** — inspection tasks to the grid centres' task store (deterministic ids).
6. **run_summary** — the day's account from the run log (`ops/run_log`): complete, partial (what
   was late, failed, skipped and why) or empty; XCom `return_value`, one `run` line in the run log,
   an alert when it is not complete or the run took longer than its deadline. Fails the run when a
   delivery was rejected or failed quality.

Every table a task writes is an Airflow **Asset** (`bronze.persons`, `silver.person_registry_mental`,
`gold.risk_flags`, …) — the report DAG and the hourly hazmat DAG are scheduled on the ones they
read. Spark tasks run in the pool **`spark`**, shared by every run and backfill.

**Schedule.** The run for `ds` = D starts when D is over: D+1 00:00 UTC (08:00 Beijing time).
Runs are serialised (`max_active_runs=1`): they share one lake.

**Params.** `profile` (empty: `GRIDRISK_PROFILE` of the worker), `inbox` (another folder or URI),
`cutoff` (ISO 8601: wait for every delivery until then instead of `conf/schedule.yaml`),
`poke_seconds`, `run_deadline_minutes`.

**Backfill** (the scheduler runs it; the DAG stays unpaused; one date at a time):

    airflow backfill create --dag-id gridrisk_daily \\
        --from-date 2026-11-01 --to-date 2026-11-07 --max-active-runs 1

**A late delivery arrived** — re-run just what depends on it: clear its ingest with downstream,
`airflow tasks clear gridrisk_daily -t '^ingest_waybills$' -d -s 2026-11-01 -e 2026-11-01 -y`.
See `docs/airflow.md`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, TaskGroup, task
from gridrisk_common import (
    SPARK_POOL,
    TASKS_ASSET,
    DeliverySensor,
    emit,
    lake_asset,
    run_params,
    run_started,
    stage_args,
    task_defaults,
)

from gridrisk import alerts
from gridrisk.catalog import BRONZE_DATASETS, CATALOG, RUN_LOG, ingest_task_id
from gridrisk.quality.checks import quality_references

DAG_ID = "gridrisk_daily"
#: Stages with a DAG of their own: the report is scheduled on the gold tables it reads.
OWN_DAG = {"ingest", "report"}
#: Outcomes of an ingest that fail its task without a retry (the same files, the same verdict).
REFUSED = ("rejected", "quality_failed")


class DatasetNotLoaded(RuntimeError):
    """An ingest ended ``failed`` (or ``not_ready`` before its cut-off); Airflow retries it."""


def _run_link(context: Any) -> str | None:
    """The run's page in the UI: its task's log link without the task part."""
    log_url = getattr(context["ti"], "log_url", None)
    return str(log_url).split("/tasks/", 1)[0] if log_url else None


@task(pool=SPARK_POOL, trigger_rule="all_done")
def ingest_dataset(dataset: str, **context: Any) -> dict[str, Any]:
    """Land one delivery for ``ds``: skipped when late, failed (no retry) when refused.

    It follows its sensor and the ingests of the deliveries its quality suite checks rows
    against (``exists_in``), whatever their outcome (``all_done``): a reference that failed or
    came late leaves its check skipped, said in the quality log, instead of holding up this
    delivery; one that loaded is always there before the check reads it."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from jobs import pipeline

    args = stage_args(context)
    arrival = context["ti"].xcom_pull(task_ids=f"wait_{dataset}") or {}
    late = [dataset] if arrival.get("status") == "late" else []
    out = pipeline.run_stage("ingest", datasets=[dataset], late=late, cutoff=arrival.get("cutoff"),
                             run_id=context["run_id"], **args)
    (result,) = out["results"]
    context["ti"].xcom_push(key="ingest_result", value=result)
    message = f"{dataset} for {args['ds']}: {result['status']}: {result['message']}"
    if result["status"] == "late":
        alerts.delivery_late(DAG_ID, context["ti"].task_id, args["ds"], dataset, arrival.get("cutoff") or "?",
                             getattr(context["ti"], "log_url", None))
        raise AirflowSkipException(message)
    if result["status"] in REFUSED:
        raise AirflowFailException(message)
    if result["status"] != "loaded":
        raise DatasetNotLoaded(message)
    emit(context, out.get("logged", []), args["ds"])
    return result


@task(pool=SPARK_POOL, trigger_rule="all_done")
def run_stage(stage: str, **context: Any) -> dict[str, Any]:
    """One stage for ``ds`` on the inputs that are fit for use; skipped (with why) when none are."""
    from airflow.sdk.exceptions import AirflowSkipException

    from jobs import pipeline

    args = stage_args(context)
    out = pipeline.run_stage(stage, run_id=context["run_id"], **args)
    if out.get("skipped") and not out.get("evaluated") and not out.get("tables"):
        reasons = out["skipped"] if stage != "rules" else [f"{r}: {w}" for r, w in (out.get("skip_reasons") or {}).items()]
        raise AirflowSkipException(f"{stage} skipped for {args['ds']}: " + "; ".join(reasons))
    emit(context, out.get("logged", []), args["ds"])
    return out


@task(pool=SPARK_POOL, trigger_rule="all_done", on_failure_callback=[])
def run_summary(**context: Any) -> dict[str, Any]:
    """The day's account (run log → XCom and one ``run`` line); alerts when partial, failed, empty
    or past the deadline; fails the run when a delivery was refused."""
    from airflow.sdk.exceptions import AirflowFailException

    from gridrisk.arrival import load_schedule
    from jobs import pipeline

    args = stage_args(context)
    summary = pipeline.summarise(args["ds"], args["profile"], run_id=context["run_id"])
    link = _run_link(context)
    alerts.run_outcome(DAG_ID, args["ds"], summary, link)
    minutes = context["params"].get("run_deadline_minutes") or load_schedule().run_deadline_minutes
    started = run_started(context, BRONZE_DATASETS)
    if started is not None:
        summary["deadline_missed"] = alerts.deadline_missed(DAG_ID, args["ds"], started, timedelta(minutes=int(minutes)),
                                                            link=link)
    context["outlet_events"][lake_asset(RUN_LOG)].extra = {"ds": args["ds"], "outcome": summary["outcome"]}
    context["ti"].xcom_push(key="run_summary", value=summary)  # there even when the task fails below
    if summary["failed"]:
        raise AirflowFailException(f"{args['ds']}: {summary['reason']}")
    return summary


with DAG(
    dag_id=DAG_ID,
    description="Deliveries → bronze → silver → risk rules → inspection tasks, one day at a time",
    doc_md=__doc__,
    # A data-interval timetable, not Airflow 3's default CronTriggerTimetable for cron strings:
    # the run for day D must carry logical date D and start once D is over.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    # Per run. The sensors wait deferred; Spark work is capped across runs by the pool.
    max_active_tasks=len(BRONZE_DATASETS) + 4,
    # 10 min, then ~20 min between tries; a failed task alerts (gridrisk_common.task_defaults)
    default_args=task_defaults(2, timedelta(minutes=10), timedelta(hours=1), timedelta(hours=2)),
    params=run_params(
        cutoff=Param(None, type=["null", "string"],
                     description="Wait for every delivery until this moment (ISO 8601, e.g. 2026-11-02T04:00:00+00:00) "
                                 "instead of the cut-offs of conf/schedule.yaml."),
        poke_seconds=Param(None, type=["null", "integer"],
                           description="How often a waiting sensor looks (default: conf/schedule.yaml)."),
        run_deadline_minutes=Param(None, type=["null", "integer"],
                                   description="Alert when the run takes longer (default: conf/schedule.yaml)."),
    ),
    tags=["gridrisk", "daily", "spark", "delta"],
) as dag:
    ingested: dict[str, Any] = {}
    with TaskGroup("ingest", prefix_group_id=False, tooltip="Per delivery: wait for its manifest, then land it"):
        for name in BRONZE_DATASETS:
            waited = DeliverySensor(task_id=f"wait_{name}", dataset=name, retries=0,
                                    execution_timeout=timedelta(hours=30), doc_md=f"Wait for the {name} delivery until its cut-off.")
            ingested[name] = ingest_dataset.override(task_id=ingest_task_id(name), outlets=[lake_asset(f"bronze.{name}")])(name)
            waited >> ingested[name]
        for name in BRONZE_DATASETS:
            for reference in quality_references(name):
                ingested[reference] >> ingested[name]

    # The graph is the catalog's: a stage follows the ingest of the bronze tables it reads and the
    # stages that write what it reads — nothing else, so one department's broken delivery holds up
    # only what reads it, and that stage decides per table and rule what it can still do.
    stages: dict[str, Any] = {}
    for stage in CATALOG.stages:
        if stage.name in OWN_DAG:
            continue
        outlets = [lake_asset(ref) for ref in stage.writes] + ([TASKS_ASSET] if stage.name == "publish" else [])
        stages[stage.name] = run_stage.override(task_id=stage.airflow_task_id, doc_md=stage.description,
                                                outlets=outlets)(stage.name)
        for name in stage.delivery_inputs:
            ingested[name] >> stages[stage.name]
        for upstream in CATALOG.upstream_of(stage.name):
            if upstream.name not in OWN_DAG:
                stages[upstream.name] >> stages[stage.name]

    summary = run_summary.override(outlets=[lake_asset(RUN_LOG)])()
    [*ingested.values(), *stages.values()] >> summary
