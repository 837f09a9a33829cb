"""
### gridrisk_daily — one province-day through the lake

For the logical date `ds` (one calendar day of departments' deliveries):

1. **ingest** — one task per dataset, `ingest_<dataset>`: checks the delivery
   `<inbox>/<delivery>/<YYYYMMDD>/` against its manifest and lands it in `bronze/<dataset>`
   (bad rows go to `bronze/_quarantine`). A task **fails** unless the dataset was `loaded`
   (`not_ready`: no manifest yet; `rejected`: counts or checksums wrong; `failed`: anything
   else) with the reason in the error, so Airflow retries it — a late or corrected delivery is
   picked up by the retry. The loader's summary (rows read/accepted/quarantined) is in XCom.
2. **silver** — waits only for the ingest of its inputs (housing units, residence
   registrations, addresses), so one department's broken file does not hold up the housing
   slice. Every edge of this graph comes from `gridrisk/catalog.py` (what each stage reads and
   writes).
3. **link_persons** — waits for every person-bearing department and the addresses reference;
   entity resolution (every person-bearing record → a person key) and the
   silver person facts (licences, qualifications, registries, profile) the person rules read.
4. **rules** — evaluates the risk rules on silver → gold `risk_flags` (incrementally when the
   day before was run with the same rules) and gold `risk_summary`.
5. **publish** — pushes inspection tasks to the grid centres' task store; task ids are
   deterministic, so a re-run never duplicates a task.

Every stage writes only the partition of `ds` (or MERGEs on a stable key): clearing and
re-running any task, or the whole run, for the same date gives the same result.

**Schedule.** The run for `ds` = D starts when D is over: D+1 00:00 UTC (08:00 Beijing time).
Runs are serialised (`max_active_runs=1`): they share one lake.

**Params.** `profile` — empty means `GRIDRISK_PROFILE` of the worker (else `local`), read when
the task runs; `inbox` — read the deliveries from another folder or URI.

**Backfill** (needs a running scheduler; `--max-active-runs 1` because backfill runs do not
obey the DAG's limit):

    airflow backfill create --dag-id gridrisk_daily \\
        --from-date 2026-11-01 --to-date 2026-11-07 --max-active-runs 1

Add `--reprocess-behavior failed` (or `completed`) to re-run dates that already have runs.

**Retry** a dataset after a fixed delivery: clear its task (UI: task → Clear, or
`airflow tasks clear gridrisk_daily -t '^ingest_persons$' -s 2026-11-01 -e 2026-11-01`);
clear "downstream" too when silver should pick the new rows up.
See `docs/airflow.md`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, TaskGroup, task

from gridrisk import alerts
from gridrisk.catalog import BRONZE_DATASETS, CATALOG, ingest_task_id

# Every task starts its own Spark driver (a JVM with several GB of heap on the local profile);
# this caps how many run at once within one DAG run.
MAX_PARALLEL_SPARK_TASKS = 4
#: Stages that decide for themselves what to skip when an upstream side failed (the rules stage
#: skips only the rules whose own inputs are missing), so they run once upstream is done.
RUN_WHEN_UPSTREAM_DONE = {"rules"}


class DatasetNotLoaded(RuntimeError):
    """An ingest ended in ``not_ready``, ``rejected`` or ``failed``; Airflow retries the task."""


def _stage_args(context: Any) -> dict[str, Any]:
    """The arguments every ``jobs.pipeline`` stage takes, from the run's context: the logical
    date and the profile (resolved here, when the task runs, never at parse time)."""
    if context.get("logical_date") is None:
        # Airflow 3 lets a manual run have no logical date; this DAG processes one date.
        raise ValueError("gridrisk_daily needs a logical date: trigger it with one (the day to process)")
    from gridrisk.config import load_profile

    params = context["params"]
    profile = load_profile(params.get("profile") or None).with_inbox(params.get("inbox") or None)
    return {"ds": context["ds"], "profile": profile}


@task
def ingest_dataset(dataset: str, **context: Any) -> dict[str, Any]:
    """Land one dataset's delivery for ``ds`` in bronze; fail (and so retry) unless loaded."""
    from jobs import pipeline

    args = _stage_args(context)
    (result,) = pipeline.ingest(datasets=[dataset], **args)["results"]
    if result["status"] != "loaded":
        # Keep the loader's summary visible in XCom even though the task fails.
        context["ti"].xcom_push(key="ingest_result", value=result)
        raise DatasetNotLoaded(f"{dataset} for {args['ds']}: {result['status']}: {result['message']}")
    return result


@task
def run_stage(stage: str, **context: Any) -> dict[str, Any]:
    """Run one stage of the daily pipeline for ``ds`` (what it reads and writes: gridrisk/catalog.py)."""
    from jobs import pipeline

    return pipeline.run_stage(stage, **_stage_args(context))


with DAG(
    dag_id="gridrisk_daily",
    description="Deliveries → bronze → silver → risk rules → inspection tasks, one day at a time",
    doc_md=__doc__,
    # A data-interval timetable, not Airflow 3's default CronTriggerTimetable for cron strings:
    # the run for day D must carry logical date D and start once D is over.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=MAX_PARALLEL_SPARK_TASKS,
    default_args={
        "owner": "gridrisk",
        "retries": 2,
        "retry_delay": timedelta(minutes=10),
        # Airflow 3.3: a multiplier (True would mean 1.0, i.e. no backoff). 10 min, then ~20 min.
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(hours=1),
        "execution_timeout": timedelta(hours=2),
        # A failed task notifies GRIDRISK_ALERT_WEBHOOK (and the log): task, date, reason, link.
        "on_failure_callback": alerts.on_task_failure,
    },
    # A run-deadline alert (Airflow's DeadlineAlert → alerts.on_deadline_missed) is not declared:
    # on Airflow 3.3 with SQLite metadata it breaks dag.test() (deadline_alert lookup by a dict id).
    params={
        "profile": Param(
            None,
            type=["null", "string"],
            description="Profile in conf/profiles/ (local, cluster). Empty: GRIDRISK_PROFILE of the worker.",
        ),
        "inbox": Param(
            None,
            type=["null", "string"],
            description="Read the deliveries from this folder or URI instead of the profile's inbox.",
        ),
    },
    tags=["gridrisk", "daily", "spark", "delta"],
) as dag:
    with TaskGroup("ingest", prefix_group_id=False, tooltip="One task per department extract"):
        ingested = {name: ingest_dataset.override(task_id=ingest_task_id(name))(name) for name in BRONZE_DATASETS}

    # The graph is the catalog's: a stage waits for the ingest of the bronze tables it reads and
    # for the stages that write what it reads — nothing else, so one department's broken
    # delivery holds up only what reads it.
    stages: dict[str, Any] = {}
    for stage in CATALOG.stages:
        if stage.name == "ingest":
            continue
        trigger = "all_done" if stage.name in RUN_WHEN_UPSTREAM_DONE else "all_success"
        stages[stage.name] = run_stage.override(task_id=stage.airflow_task_id, trigger_rule=trigger,
                                                doc_md=stage.description)(stage.name)
        for name in stage.delivery_inputs:
            ingested[name] >> stages[stage.name]
        for upstream in CATALOG.upstream_of(stage.name):
            stages[upstream.name] >> stages[stage.name]
