"""The daily pipeline's stages, as the CLI and Airflow call them.

    ingest (one dataset or all) → silver → link → vehicle_tracks → fire_state → rules → publish → report

What each stage reads and writes is declared once, in :mod:`gridrisk.catalog`; the stage map
:data:`STAGE_FUNCTIONS` below says which function runs it, and a test keeps the two in step.
Every stage takes the logical date and a :class:`~gridrisk.config.Profile` and returns a
JSON-serialisable summary; the Spark session is built once per process and shared (Airflow
tasks import this module inside the task, never at DAG parse time).

A gated stage (``gate: all`` in the catalog) runs only when every bronze table it reads loaded
and passed quality for the day; otherwise it is skipped, loudly, without touching the lake, and
the rules stage then skips just the rules whose inputs are missing. Entity resolution (``gate:
each``) runs on the departments that arrived and passed, and leaves out only what the others feed.

Every stage run through :func:`run_stage` logs what it read (tables and Delta versions) before it
starts and what it wrote (rows, versions, seconds) when it ends, and records its outcome per
table and rule in the run log (:mod:`jobs.runlog`, ``ops/run_log``); :func:`summarise` adds the
day's one-line account there.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gridrisk.catalog import CATALOG, STAGES
from gridrisk.config import ConfigError, Profile, schema_names
from gridrisk.engine import routed

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.bronze.ingest import IngestResult, QuarantineBatch

Summary = dict[str, Any]
log = logging.getLogger("gridrisk.pipeline")


def check_date(ds: str) -> str:
    try:
        return dt.date.fromisoformat(ds).isoformat()
    except ValueError:
        raise ValueError(f"logical date must be YYYY-MM-DD, got {ds!r}") from None


def spark_for(profile: Profile) -> "SparkSession":
    """The process's one SparkSession for ``profile`` (built on first use, then shared)."""
    from gridrisk.spark import get_spark

    return get_spark(profile)


# --------------------------------------------------------------------------- configuration


def config_problems(profile: Profile) -> list[str]:
    """Everything wrong with the configuration a run needs, found before any work starts:
    the catalog, the schemas, the linkage sources, the rules' inputs, rules/routing/compounds,
    and the task store's address."""
    problems = list(CATALOG.problems())
    bronze = {t.name for t in CATALOG.tables if t.layer == "bronze" and not t.name.startswith("_")}
    schemas = set(schema_names())
    problems += [f"schemas/{n}.yaml has no table in the catalog (gridrisk/catalog.py)" for n in sorted(schemas - bronze)]
    problems += [f"catalog table bronze.{n} has no schemas/{n}.yaml" for n in sorted(bronze - schemas)]
    link_inputs = set(CATALOG.stage("link").bronze_inputs)
    try:
        from jobs.silver.person_master import load_linkage_config

        problems += [f"conf/linkage.yaml: source {d} is not an input of the link stage in gridrisk/catalog.py"
                     for d in load_linkage_config().datasets if d not in link_inputs]
    except ConfigError as exc:
        problems += [f"{exc.source}: {p}" for p in exc.problems]
    try:
        from gridrisk.quality.checks import ingest_order

        ingest_order(schema_names())  # the suites' references between deliveries form no cycle
    except ConfigError as exc:
        problems += [f"{exc.source}: {p}" for p in exc.problems]
    from jobs.silver.person_facts import DATASETS as FACT_DATASETS

    problems += [f"jobs/silver/person_facts.py reads {d}, which is not an input of the link stage"
                 for d in FACT_DATASETS if d not in link_inputs]
    try:
        from gridrisk.rules import load_compounds, load_routing, load_rules
        from gridrisk.rules.kinds import KINDS

        rules = load_rules()
        load_compounds(rules=rules)
        load_routing()
        rule_reads = set(CATALOG.stage("rules").reads)
        for kind in KINDS.values():
            for name in kind.input_names():
                try:
                    table = CATALOG.find(name, layers=("silver", "gold"))
                except KeyError as exc:
                    problems.append(f"kind {kind.name}: input {exc.args[0]}")
                    continue
                if table.ref not in rule_reads:
                    problems.append(f"kind {kind.name} reads {table.ref}, which the rules stage does not list in the catalog")
    except ConfigError as exc:
        problems += [f"{exc.source}: {p}" for p in exc.problems]
    try:
        from gridrisk.taskstore import open_store

        open_store(profile.task_store)
    except Exception as exc:  # noqa: BLE001 — any failure to reach the store is a configuration problem here
        problems.append(f"task store {profile.task_store!r}: {exc}")
    return problems


def check_config(profile: Profile) -> None:
    """Raise one :class:`ConfigError` listing every configuration problem (call before a run)."""
    problems = config_problems(profile)
    if problems:
        raise ConfigError("gridrisk configuration", problems)


# --------------------------------------------------------------------------- gates


def inputs_ready(spark: "SparkSession", profile: Profile, ds: str, datasets: tuple[str, ...]) -> list[str]:
    """Problems with the bronze inputs of a stage for ``ds`` (empty when all loaded and passed quality)."""
    from jobs.bronze.ingest import read_log
    from jobs.quality.validate import read_quality_log

    loaded = {r["dataset"]: r for r in read_log(spark, profile, ds)}
    checked = {r["dataset"]: r for r in read_quality_log(spark, profile, ds)}
    problems = []
    for name in datasets:
        if name not in loaded:
            problems.append(f"{name}: not ingested for {ds}")
        elif loaded[name]["status"] != "loaded":
            problems.append(f"{name}: {loaded[name]['status']} — {loaded[name]['message']}")
        elif name in checked and not checked[name]["success"]:
            problems.append(f"{name}: quality failed — {checked[name]['message']}")
    return problems


def _gated(stage: str, run: Callable[..., Summary], ds: str, profile: Profile) -> Summary:
    """Run ``run`` for ``ds`` when its inputs are fit for use, as the catalog's gate says; else
    skip, loudly, without touching the lake.

    ``gate="all"``: every bronze input must have loaded and passed quality. ``gate="each"``: the
    ``required`` ones must; the job gets ``available`` (the inputs that are fit) and the summary
    lists the others under ``partial`` — one department's late or broken delivery then skips
    only what reads it."""
    ds = check_date(ds)
    spark = spark_for(profile)
    spec = CATALOG.stage(stage)
    inputs = spec.bronze_inputs
    problems = inputs_ready(spark, profile, ds, inputs)
    if spec.gate == "each":
        blocking = [p for p in problems if p.split(":", 1)[0] in spec.required]
        if blocking:
            return {"stage": stage, "ds": ds, "skipped": blocking, "partial": [], "tables": {}}
        unfit = {p.split(":", 1)[0] for p in problems}
        available = frozenset(n for n in inputs if n not in unfit)
        return {"stage": stage, "ds": ds, "partial": problems, **run(spark, profile, ds, available=available)}
    if problems:
        return {"stage": stage, "ds": ds, "skipped": problems, "tables": {}}
    return {"stage": stage, "ds": ds, **run(spark, profile, ds)}


# --------------------------------------------------------------------------- stages

INGEST_THREADS = int(os.environ.get("GRIDRISK_INGEST_THREADS", "3"))


@dataclass(frozen=True)
class DatasetProgress:
    """What the ``on_dataset`` callback of :func:`ingest` is told, once when a dataset starts
    (``result`` None) and once when it ends (``result`` = its entry of the stage's results)."""

    dataset: str
    result: dict[str, Any] | None
    started: int  # datasets started so far, this one included
    done: int  # datasets finished so far
    total: int


def ingest(ds: str, profile: Profile, datasets: list[str] | None = None, quality: bool = True,
           on_dataset: Callable[[DatasetProgress], None] | None = None, late: Collection[str] = (),
           cutoff: str | None = None) -> Summary:
    """Land the deliveries of ``ds`` in bronze and gate each with its quality suite.

    One dataset failing never stops the others. A dataset whose suite fails gets status
    ``quality_failed``: its rows stay in bronze, but its downstream steps do not run. A dataset
    in ``late`` (its cut-off, ``cutoff``, has passed) that is still not there gets status ``late``
    instead of ``not_ready``: the day goes on without it, and a re-run of its ingest (and what
    reads it) picks it up when it comes.
    ``on_dataset`` hears of each dataset as it starts and ends (from the worker threads);
    it is for people watching, and changes nothing in what is returned.
    """
    from concurrent.futures import Future, ThreadPoolExecutor, wait

    from gridrisk.quality.checks import ingest_order, quality_references
    from jobs.bronze import ingest as bronze_ingest

    ds = check_date(ds)
    spark = spark_for(profile)
    names = list(datasets or schema_names())
    lock = threading.Lock()
    counts = {"started": 0, "done": 0}

    def tell(name: str, result: dict[str, Any] | None) -> None:
        if on_dataset is None:
            return
        with lock:
            counts["done" if result is not None else "started"] += 1
            event = DatasetProgress(name, result, counts["started"], counts["done"], len(names))
        on_dataset(event)

    from jobs.quality import validate

    # Fixed costs per dataset, paid once per run instead: the two log tables get one commit
    # each (written at the end, also when a dataset failed), the Data Docs one build.
    ingested: list[bronze_ingest.IngestResult] = []
    checked: list[dict[str, Any]] = []
    docs: list[Any] = []  # the run's Data Docs batch, made when a first dataset reaches quality
    quarantine = bronze_ingest.QuarantineBatch(ds)  # every dataset's quarantined rows: one commit

    def one(name: str) -> dict[str, Any]:
        tell(name, None)
        with lock:
            if quality and not docs:
                docs.append(validate.start_docs_run(profile))
        loaded, q = land(spark, profile, name, ds, quality=quality, docs=docs[0] if docs else None,
                         quarantine=quarantine)
        if name in late and loaded.status == "not_ready":
            loaded = mark_late(loaded, cutoff)
        with lock:
            ingested.append(loaded)
            if q is not None:
                checked.append(q)
        result = loaded.as_dict()
        if q is not None:
            result = with_quality(result, q)
        tell(name, result)
        return result

    # Small deliveries cost mostly fixed latency (Delta log reads and commits, worker start-up),
    # so several datasets share the session at once; Spark schedules their jobs side by side.
    # A suite that checks rows against another delivery (exists_in) waits for that delivery's
    # ingest, whatever its outcome, so the verdict never depends on which finished first.
    # Submitted in that order, a waiting dataset's references already hold a thread or are done.
    futures: dict[str, Future[dict[str, Any]]] = {}

    def after_references(name: str) -> dict[str, Any]:
        wait([futures[r] for r in quality_references(name) if r in futures])
        return one(name)

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(INGEST_THREADS, len(names)))) as pool:
            for name in ingest_order(names):
                futures[name] = pool.submit(after_references, name)
            results = [futures[name].result() for name in names]
    finally:
        batched = quarantine.datasets
        try:
            quarantine.write(profile)  # before the logs, which say the datasets loaded
        except Exception as exc:
            # Their rows are in bronze but their bad rows are not in the quarantine: not loaded.
            ingested[:] = [quarantine_failed(r, exc) if r.dataset in batched else r for r in ingested]
            raise
        finally:
            bronze_ingest.write_logs(spark, profile, ingested)
            validate.write_logs(spark, profile, checked)
            if docs:
                docs[0].publish()
    return {"stage": "ingest", "ds": ds, "results": results}


def quarantine_failed(result: "IngestResult", exc: Exception) -> "IngestResult":
    """A delivery whose bronze rows were written but whose quarantined rows could not be."""
    from dataclasses import replace

    return replace(result, status="failed",
                   message=f"its quarantined rows could not be written, so the load is incomplete; re-run its ingest ({exc})")


def mark_late(result: "IngestResult", cutoff: str | None) -> "IngestResult":
    """A delivery still missing after its cut-off: ``late`` in the ingest log, with what to do."""
    from dataclasses import replace

    by = f" by its cut-off {cutoff}" if cutoff else " by its cut-off"
    return replace(result, status="late",
                   message=f"no delivery{by}: the day went on without it; re-run its ingest to pick it up ({result.message})")


def land(spark: "SparkSession", profile: Profile, dataset: str, ds: str, *, quality: bool = True,
         hour: int | None = None, docs: Any = None, log: bool = False,
         quarantine: "QuarantineBatch | None" = None, incremental: bool = False
         ) -> "tuple[IngestResult, dict[str, Any] | None]":
    """One delivery into bronze through its quality gate: the ingest result and the suite's
    verdict (None when it did not load or ``quality`` is off). The gate judges the parsed rows
    before they are written (``jobs.quality.validate.gate``), so bronze and the quarantine are
    each written once. ``docs``: a Data Docs run for the pages (:func:`jobs.quality.validate.start_docs_run`);
    ``log``: write both log rows now (else the caller writes a run's rows in one commit);
    ``quarantine``: the run's batch of quarantined rows (else this delivery's are written now);
    ``incremental`` (with ``hour``): land only the hourly parts not landed yet (``bronze_ingest.run``)."""
    from jobs.bronze import ingest as bronze_ingest
    from jobs.quality import validate

    verdict: list[dict[str, Any]] = []

    def gate(rows: Any, entry: dict[str, Any]) -> "validate.Gated":
        gated = validate.gate(spark, profile, dataset, ds, rows, entry, docs=docs)
        verdict.append(gated.result)
        return gated

    loaded = bronze_ingest.run(spark, profile, dataset, ds, log=False, hour=hour, gate=gate if quality else None,
                               quarantine=quarantine, incremental=incremental)
    q = verdict[0] if verdict and loaded.status == "loaded" else None
    if log:
        bronze_ingest.write_log(spark, profile, loaded)
        validate.write_logs(spark, profile, [q] if q else [])
    return loaded, q


def with_quality(result: dict[str, Any], q: dict[str, Any]) -> dict[str, Any]:
    """Fold the quality verdict into an ingest result: counts after quality, reasons merged
    (an incremental result's counts are the day so far: its own ``rows_failed_quality``)."""
    reasons = dict(result.get("reasons") or {})
    for e in q.get("expectations", []):
        if e.get("quarantined"):
            reasons[e["name"]] = int(e["quarantined"])  # incremental: this landing's (the log has the day's typing)
    failed = result.get("rows_failed_quality")
    quarantined = int(result["rows_quarantined"]) + int(q.get("rows_failed", 0) if failed is None else failed)
    return {
        **result,
        "status": "loaded" if q["passed"] else "quality_failed",
        "rows_quarantined": quarantined,
        "rows_accepted": int(result["rows_read"]) - quarantined,
        "reasons": reasons,
        "message": q["message"] if not q["passed"] else result["message"],
        "quality": {k: q.get(k) for k in ("passed", "message", "failed_expectations", "bad_share", "data_docs")},
    }


def silver(ds: str, profile: Profile) -> Summary:
    """Silver housing for ``ds`` (occupancy and rented units)."""
    from jobs.silver import housing_occupancy

    return _gated("silver", housing_occupancy.run, ds, profile)


def link(ds: str, profile: Profile) -> Summary:
    """Entity resolution for ``ds`` (every person-bearing record → a stable person key) and the
    silver person facts the person rules read (licences, qualifications, registries, profile)."""
    from jobs.silver import link_persons

    return _gated("link", link_persons.run, ds, profile)


def vehicle_tracks(ds: str, profile: Profile) -> Summary:
    """Silver hazmat tracks for ``ds``: GPS reports checked and placed in their grid, on their road
    and near sensitive places, cut into periods; the waybills with their crew's person keys.
    Skipped when a GPS, waybill, vehicle-register or reference delivery is missing (the hazmat
    rules then skip, and only they)."""
    from jobs.silver import vehicle_tracks as job

    return _gated("vehicle_tracks", job.run, ds, profile)


def fire_state(ds: str, profile: Profile) -> Summary:
    """Silver fire state for ``ds``: the event history carried across days, the conditions open at
    the day's end, false alarms, the units with their grid. Skipped (and with it only the fire
    rules) when fire_events, fire_units or addresses are missing."""
    from jobs.silver import fire_state as job

    return _gated("fire_state", job.run, ds, profile)


def rules(ds: str, profile: Profile, full: bool | None = None) -> Summary:
    """The risk rules for ``ds`` → gold risk_flags, then gold risk_summary (``full``:
    :func:`jobs.gold.risk_flags.run`; None takes the profile's choice, full by default)."""
    from jobs.gold import risk_flags, risk_summary

    ds = check_date(ds)
    spark = spark_for(profile)
    flags = risk_flags.run(spark, profile, ds, full=full)
    summary = risk_summary.run(spark, profile, ds) if flags["evaluated"] else {"tables": {}}
    return {"stage": "rules", "ds": ds, **flags, "tables": summary.get("tables", {})}


def publish(ds: str, profile: Profile) -> Summary:
    """File one inspection task per open flag of ``ds`` in the task store."""
    from jobs import runlog
    from jobs.gold import publish_tasks

    ds = check_date(ds)
    spark = spark_for(profile)
    rules_done = [r for r in runlog.read(spark, profile, ds) if r["item"].startswith("rule:")]
    if rules_done and not any(r["outcome"] == "evaluated" for r in rules_done):
        # A day whose every rule was skipped (no deliveries: a catch-up run for a day that never
        # came) has nothing to file and nothing resolved; the grids of the day may not be there.
        return {"stage": "publish", "ds": ds, "created": 0, "unchanged": 0, "updated": 0, "closed": 0, "unroutable": 0,
                "skipped": [f"no rule was evaluated for {ds}: nothing to publish"]}
    return {"stage": "publish", "ds": ds, **publish_tasks.run(spark, profile, ds)}


def report(ds: str, profile: Profile) -> Summary:
    """The analysts' report of ``ds`` (HTML + workbook) in the profile's reports location; it
    reads the lake with delta-rs and the task store, never Spark."""
    from gridrisk.lake_reader import LakeReadError
    from gridrisk.report import build_report

    ds = check_date(ds)
    try:
        paths = build_report(profile, ds)
    except LakeReadError as exc:  # no flags or summary for the day (the rules were skipped): say so
        return {"stage": "report", "ds": ds, "skipped": [str(exc)]}
    return {"stage": "report", "ds": ds, "html": paths.html, "xlsx": paths.xlsx, "html_bytes": paths.html_bytes,
            "seconds": round(paths.seconds, 1)}


#: The one stage map: catalog stage name → the function that runs it (same order as the catalog).
STAGE_FUNCTIONS: dict[str, Callable[..., Summary]] = {
    "ingest": ingest,
    "silver": silver,
    "link": link,
    "vehicle_tracks": vehicle_tracks,
    "fire_state": fire_state,
    "rules": rules,
    "publish": publish,
    "report": report,
}


@routed  # with GRIDRISK_ENGINE_URL set (Airflow tasks), the stage runs in the engine: no JVM per task
def run_stage(stage: str, ds: str, profile: Profile, full: bool | None = None,
              on_dataset: Callable[[DatasetProgress], None] | None = None, datasets: list[str] | None = None,
              late: Collection[str] = (), cutoff: str | None = None, run_id: str | None = None) -> Summary:
    """One stage by name (``full`` applies to the rules stage only; ``on_dataset``, ``datasets``,
    ``late`` and ``cutoff`` to ingest), logged and recorded in the run log (:mod:`jobs.runlog`)."""
    if stage not in STAGE_FUNCTIONS:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    ds = check_date(ds)
    spec = CATALOG.stage(stage)
    reads = [ref for ref in spec.reads if not ref.startswith("bronze._")]
    if stage == "ingest":
        reads = [f"inbox {profile.inbox}: " + ", ".join(datasets or schema_names())]
        log.info("%s %s reads %s", stage, ds, reads[0])
    else:
        log.info("%s %s reads %s", stage, ds, versions_text(profile, reads))
    started = time.monotonic()
    if stage == "rules":
        out = rules(ds, profile, full=full)
    elif stage == "ingest":
        out = ingest(ds, profile, datasets=datasets, on_dataset=on_dataset, late=late, cutoff=cutoff)
    else:
        out = STAGE_FUNCTIONS[stage](ds, profile)
    out["seconds"] = round(time.monotonic() - started, 1)
    out["logged"] = record(stage, ds, profile, out, run_id)
    return out


def _version(profile: Profile, ref: str) -> int | None:
    """The Delta version of table ``ref`` now (delta-rs: no JVM); None when it is not there."""
    from gridrisk.lake_reader import LakeReadError, open_table

    try:
        layer, table = ref.split(".", 1)
        return int(open_table(profile, layer, table).version())
    except (LakeReadError, OSError):
        return None
    except Exception:  # noqa: BLE001 — a version is for the log only; never fail a stage for it
        return None


def versions_text(profile: Profile, refs: list[str]) -> str:
    return ", ".join(f"{ref}@v{v}" if (v := _version(profile, ref)) is not None else f"{ref} (none)" for ref in refs) or "nothing"


def record(stage: str, ds: str, profile: Profile, summary: Summary, run_id: str | None = None) -> list[dict[str, Any]]:
    """Write the stage's outcome per table and rule to the run log and to the log (what it wrote)."""
    from jobs import runlog

    spec = CATALOG.stage(stage)
    refs = [f"bronze.{r['dataset']}" for r in summary.get("results", [])] if stage == "ingest" else list(spec.writes)
    rows = runlog.entries(stage, summary, {ref: _version(profile, ref) for ref in refs})
    runlog.write(spark_for(profile), profile, ds, rows, run_id)
    wrote = ", ".join(f"{r['item']}: {r['outcome']}" + (f" {r['rows']} rows" if r["rows"] is not None else "")
                      + (f" @v{r['version']}" if r["version"] is not None else "")
                      + (f" ({r['reason']})" if r["reason"] and r["outcome"] != "evaluated" else "") for r in rows)
    log.info("%s %s wrote in %.1f s: %s", stage, ds, summary.get("seconds", 0.0), wrote or "nothing")
    return rows


@routed  # the run summary reads and writes the run log: in the engine too, or it starts a JVM of its own
def summarise(ds: str, profile: Profile, run_id: str | None = None) -> Summary:
    """The day's account from the run log — complete, partial (what was late, failed, skipped and
    why) or empty — written to the run log as its ``run`` line and returned."""
    from jobs import runlog

    ds = check_date(ds)
    spark = spark_for(profile)
    rows = runlog.read(spark, profile, ds)
    line = runlog.day_summary(ds, rows)
    runlog.write(spark, profile, ds, [line], run_id)
    steps = [{k: r.get(k) for k in ("step", "item", "outcome", "rows", "version", "reason")} for r in rows if r["step"] != "run"]
    log.info("run %s: %s%s", ds, line["outcome"], f" — {line['reason']}" if line["reason"] else "")
    return {"stage": "run", "ds": ds, "outcome": line["outcome"], "reason": line["reason"], "late": line["late"],
            "failed": line["failed"], "skipped_rules": line["skipped_rules"], "evaluated_rules": line["evaluated_rules"],
            "skip_reasons": {r["item"].split(":", 1)[1]: r["reason"] for r in rows
                             if r["item"].startswith("rule:") and r["outcome"] == "skipped"},
            "partial_rules": {r["item"].split(":", 1)[1]: r["reason"] for r in rows
                              if r["item"].startswith("rule:") and r["item"].split(":", 1)[1] in line["partial_rules"]},
            "steps": steps}


def run_daily(ds: str, profile: Profile, full: bool | None = None, stages: list[str] | None = None,
              on_stage: Callable[[str, Summary], None] | None = None,
              on_stage_start: Callable[[str], None] | None = None,
              on_dataset: Callable[[DatasetProgress], None] | None = None,
              datasets: list[str] | None = None) -> Summary:
    """The stages of one logical date, in order (``full``: True forces a full rules run, False
    the incremental one where it can chain; None: the profile's choice; ``datasets``: ingest only
    these deliveries — the others are not looked for, as when a DAG run marks their ingests done).

    The configuration is checked first, so a mistake stops the run before any work is done.
    Progress callbacks, for people watching: ``on_stage_start(stage)`` and ``on_stage(stage,
    summary)`` around each stage, ``on_dataset`` per ingested dataset (:func:`ingest`)."""
    ds = check_date(ds)
    chosen = list(stages or STAGES)
    unknown = sorted(set(chosen) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(unknown)}; stages are {', '.join(STAGES)}")
    check_config(profile)
    out: Summary = {"ds": ds}
    for stage in [s for s in STAGES if s in chosen]:
        if on_stage_start is not None:
            on_stage_start(stage)
        out[stage] = run_stage(stage, ds, profile, full=full, on_dataset=on_dataset, datasets=datasets)
        if on_stage is not None:
            on_stage(stage, out[stage])
    out["run"] = summarise(ds, profile)
    return out


def run_hour(ds: str, hour: int, profile: Profile, stages: list[str] | None = None, quality: bool = True) -> Summary:
    """The hourly hazmat run of ``ds`` through ``hour`` (:mod:`jobs.hourly`): the day so far of the
    hourly GPS and waybill deliveries → bronze → vehicle tracks → the hourly hazmat rules over the
    settled reports → tasks. Nothing is resolved until the daily run of the day."""
    from jobs import hourly

    return hourly.run_hour(ds, hour, profile, stages, quality=quality)


__all__ = ["STAGES", "STAGE_FUNCTIONS", "DatasetProgress", "check_config", "fire_state", "ingest", "link", "publish", "rules",
           "run_daily", "run_hour", "run_stage", "silver", "summarise", "vehicle_tracks"]
