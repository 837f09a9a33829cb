"""Quality gate on a delivery: quarantine failing rows, judge the batch, log it.

Two entry points share the suite, the row flags and the verdict:

- :func:`gate` — on the rows ingest has just parsed, before they are written (the pipeline's
  path: ``jobs.pipeline.land``); bronze and the quarantine are then written once each;
- :func:`run` — on a partition already in bronze (re-validation), as described below.

    gridrisk ingest --date 2026-11-01 --dataset persons   (ingest, then this gate)

For one (dataset, date) that ingest loaded:

1. the suite (structural checks from ``schemas/``, business checks from ``expectations/``,
   thresholds from ``conf/quality.yaml``) is evaluated on the bronze partition;
2. rows failing a **row-level** expectation are moved: appended to ``bronze/_quarantine`` for
   (dataset, ds) with ``reason = "expectation <name>: column X value 'v'"`` and
   ``reason_code = <name>``, then removed from ``bronze/<dataset>`` (partition rewritten);
3. the batch fails when the share of such rows exceeds ``max_bad_share`` or a **batch-level**
   expectation misses its threshold; the outcome goes to ``bronze/_quality_log`` and ``run``
   returns ``{"passed": False, ...}`` with a loud message — the caller stops that dataset's
   downstream steps for the date.

Idempotency: the job never trusts the current bronze partition as "what was delivered". The
denominator is the ingest log's ``rows_accepted`` for the ingest ``batch_id``, and rows this
job already moved are found again in the quarantine by (batch id, reason_code ∈ suite names,
source file, row number). A second run therefore finds nothing new to move, appends nothing
(an anti-join on file + row number guards even a crash between the two writes) and reaches
the same verdict. A re-ingest replaces both partitions and a fresh ``batch_id`` starts over.
After every run ``rows_read == rows in bronze + rows in quarantine`` is asserted against
``bronze/_ingest_log``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridrisk import lake
from gridrisk.config import Profile
from gridrisk.quality import Check, policy, references_needed, suite_checks
from gridrisk.quality.masking import masker_for
from gridrisk.quality.summary import quality_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from gridrisk.quality.gx_report import DocsRun, DocsSite, SuiteOutcome

QUARANTINE = "_quarantine"
INGEST_LOG = "_ingest_log"
QUALITY_LOG = "_quality_log"
QUARANTINE_COLUMNS = ("dataset string, source_file string, row_number bigint, line_number bigint, raw_text string, "
                      "reason string, reason_code string, _batch_id string, _ingest_ts timestamp, ds date")
LOG_SCHEMA = (
    "dataset string, ds date, suite string, batch_id string, success boolean, rows_checked bigint, "
    "rows_failed bigint, rows_moved bigint, bad_share double, max_bad_share double, "
    "failed_expectations array<string>, expectations string, data_docs string, message string, seconds double"
)


class QualityError(RuntimeError):
    """The quality step itself is broken (not the data): e.g. counts no longer reconcile."""


def data_docs_dir(profile: Profile) -> str:
    """The Data Docs site (``index.html`` lists every run of every suite)."""
    return f"{profile.reports.rstrip('/')}/data_docs"


def data_docs_store_dir(profile: Profile) -> str:
    """The (masked) results and suites the site is rebuilt from; beside the site, not in it."""
    return f"{profile.reports.rstrip('/')}/data_docs_store"


def _ingest_entry(spark: "SparkSession", profile: Profile, dataset: str, ds: str) -> dict[str, Any] | None:
    from pyspark.sql import functions as F

    path = profile.table_path("bronze", INGEST_LOG)
    if not lake.table_exists(spark, path):
        return None
    row = lake.read_partition(spark, profile, "bronze", INGEST_LOG, ds).where(F.col("dataset") == dataset).first()
    return row.asDict(recursive=True) if row else None


def _references(spark: "SparkSession", profile: Profile, checks: list[Check], ds: str) -> dict[str, "DataFrame"]:
    refs = {}
    for name in sorted(references_needed(checks)):
        if lake.table_exists(spark, profile.table_path("bronze", name)):
            try:
                refs[name] = lake.read_latest(spark, profile, "bronze", name, ds)
            except LookupError:
                pass  # no partition yet: the check is reported as skipped
    return refs


def quarantine_rows(flagged: "DataFrame", dataset: str, columns: list[str]) -> "DataFrame":
    """Failing rows in the shape of ingest's quarantine. Pure.

    Bronze keeps no raw text, so ``raw_text`` is the row as JSON (canonical names, typed
    values) and ``line_number`` is null; ``source_file`` + ``row_number`` point at the record.
    """
    from pyspark.sql import functions as F

    return flagged.where(F.col("_q_failed").isNotNull()).select(
        F.lit(dataset).alias("dataset"),
        F.col("_source_file").alias("source_file"),
        F.col("_row_number").cast("bigint").alias("row_number"),
        F.lit(None).cast("bigint").alias("line_number"),
        F.to_json(F.struct(*[F.col(c) for c in columns]), {"ignoreNullFields": "false"}).alias("raw_text"),
        F.col("_q_reasons").alias("reason"),
        F.col("_q_failed").alias("reason_code"),
        F.col("_batch_id"),
        F.col("_ingest_ts").cast("timestamp"),
        F.col("ds").cast("date"),
    )


def docs_site(profile: Profile) -> "DocsSite":
    """The profile's Data Docs site (HTML + the stores it is rebuilt from)."""
    from gridrisk.quality.gx_report import DocsSite

    return DocsSite(Path(data_docs_dir(profile)), Path(data_docs_store_dir(profile)))


def start_docs_run(profile: Profile) -> "DocsRun":
    """A batch of Data Docs pages: pass it to :func:`run` for each dataset of a run, then call
    its ``publish()`` once — the pages of every suite and the index are rendered together."""
    from gridrisk.quality.gx_report import DocsRun

    return DocsRun(docs_site(profile))


def run(spark: "SparkSession", profile: Profile, dataset: str, ds: str, data_docs: bool = True,
        entry: dict[str, Any] | None = None, log: bool = True, docs: "DocsRun | None" = None) -> dict[str, Any]:
    """Validate the bronze partition of ``dataset`` for ``ds``; see the module docstring.

    For a caller that runs many datasets (``jobs.pipeline.ingest``): ``entry`` is the ingest log
    row it has just produced (not read back), ``log=False`` leaves the ``_quality_log`` row to it
    (:func:`write_logs`, one commit per run) and ``docs`` collects the Data Docs pages for one
    build per run (:func:`start_docs_run`) instead of one per suite.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started = time.monotonic()
    if entry is None:
        entry = _ingest_entry(spark, profile, dataset, ds)
    if entry is None or entry["status"] != "loaded":
        status = "no ingest log entry" if entry is None else f"ingest status {entry['status']}"
        return {"dataset": dataset, "ds": ds, "passed": False, "status": "skipped",
                "message": f"QUALITY SKIPPED {dataset} {ds}: {status} — nothing to validate, downstream stops"}
    batch_id = entry["batch_id"]
    bronze = lake.read_partition(spark, profile, "bronze", dataset, ds)
    columns = [c for c in bronze.columns if not c.startswith("_") and c != "ds"]
    row_names, flagged, outcome = _flag_and_validate(spark, profile, dataset, ds, bronze, batch_id, data_docs, docs)
    try:
        qpath = profile.table_path("bronze", QUARANTINE)
        existing = (lake.read_partition(spark, profile, "bronze", QUARANTINE, ds).where(F.col("dataset") == dataset)
                    if lake.table_exists(spark, qpath) else None)
        already = (existing.where(F.col("_batch_id") == batch_id).where(F.col("reason_code").isin(*row_names))
                   if existing is not None and row_names else None)
        new_bad = quarantine_rows(flagged, dataset, columns)
        if already is not None:
            new_bad = new_bad.join(already.select("source_file", "row_number"), ["source_file", "row_number"], "left_anti")
        new_bad = new_bad.persist(StorageLevel.MEMORY_AND_DISK)
        moved = new_bad.count()
        bronze_rows = None
        if moved:
            target = spark.createDataFrame([], QUARANTINE_COLUMNS)
            base = existing.select(*target.columns) if existing is not None else target
            merged = base.unionByName(new_bad.select(*[F.col(f.name).cast(f.dataType) for f in target.schema.fields]))
            lake.replace_partition(merged, qpath, {"dataset": dataset, "ds": ds})
            keep = flagged.where(F.col("_q_failed").isNull()).select(*bronze.columns)
            bronze_rows = lake.replace_partition(keep, profile.table_path("bronze", dataset), {"ds": ds}).get(
                "numOutputRows", 0)
        else:
            bronze_rows = flagged.count()  # nothing moved: the partition read above, unchanged (cached)
        new_bad.unpersist()
    finally:
        flagged.unpersist()

    # Re-derive the quarantine from the table, so a re-run reports the same numbers.
    quarantine = lake.read_partition(spark, profile, "bronze", QUARANTINE, ds).where(F.col("dataset") == dataset)
    by_code = {r["reason_code"]: int(r["count"]) for r in quarantine.groupBy("reason_code").count().collect()}
    quarantined_total = sum(by_code.values())
    rows_read = int(entry["rows_read"])
    if rows_read != bronze_rows + quarantined_total:
        raise QualityError(f"{dataset} {ds}: ingest read {rows_read} rows but bronze holds {bronze_rows} and the "
                           f"quarantine {quarantined_total} — the counts no longer reconcile; this is a bug")
    result = _verdict(dataset, ds, entry, by_code, row_names, outcome, moved, started)
    if log:
        _write_log(spark, profile, result)
    return result


def _flag_and_validate(spark: "SparkSession", profile: Profile, dataset: str, ds: str, rows: "DataFrame",
                       batch_id: str, data_docs: bool, docs: "DocsRun | None"
                       ) -> tuple[list[str], "DataFrame", "SuiteOutcome"]:
    """The suite's row expectations' names, ``rows`` with every row's failures (``_q_failed``: the
    first check's name, ``_q_reasons``; persisted — the caller unpersists it) and GX's outcome on them."""
    from pyspark import StorageLevel

    from gridrisk.quality.gx_report import validate
    from gridrisk.quality.row_flags import flag_rows
    from jobs.silver.standardise import with_normalised_id  # the one definition of ID damage

    checks = suite_checks(dataset)
    row_names = [c.name for c in checks if c.level == "row"]
    flagged = flag_rows(rows, checks, ds, _references(spark, profile, checks, ds), id_parser=with_normalised_id)
    flagged = flagged.persist(StorageLevel.MEMORY_AND_DISK)
    site = (docs.site if docs is not None else docs_site(profile)) if data_docs else None
    try:
        outcome = validate(flagged, f"bronze.{dataset}", checks, ds, site, masker_for(dataset),
                           {"dataset": dataset, "ingest_batch_id": batch_id}, docs=docs if data_docs else None)
    except BaseException:
        flagged.unpersist()
        raise
    return row_names, flagged, outcome


@dataclass
class Gated:
    """A delivery through its quality gate before anything of it is written (:func:`gate`):
    ``keep`` goes to bronze, ``bad`` to the quarantine; ``result`` is the verdict."""

    keep: "DataFrame"
    bad: "DataFrame"
    result: dict[str, Any]
    flagged: "DataFrame"

    @property
    def moved(self) -> int:
        """How many rows ``bad`` holds (the verdict's count)."""
        return int(self.result["rows_moved"])

    def release(self) -> None:
        """Drop the cached rows (after the writes)."""
        self.flagged.unpersist()


def gate(spark: "SparkSession", profile: Profile, dataset: str, ds: str, rows: "DataFrame", entry: dict[str, Any],
         data_docs: bool = True, docs: "DocsRun | None" = None) -> Gated:
    """The quality gate on the rows ingest accepted, before they are written: bronze is then
    written once, with the rows that pass, and the quarantine once, with the rows that failed
    typing or an expectation (``jobs.bronze.ingest.run(gate=...)``). ``rows`` has bronze's
    columns; ``entry`` is ingest's result for it. Rows read = kept + quarantined holds by
    construction: every row of ``rows`` goes to exactly one of the two."""
    from pyspark.sql import functions as F

    started = time.monotonic()
    columns = [c for c in rows.columns if not c.startswith("_") and c != "ds"]
    row_names, flagged, outcome = _flag_and_validate(spark, profile, dataset, ds, rows, entry["batch_id"], data_docs,
                                                     docs)
    try:
        failed = F.col("_q_failed").isNotNull()
        by_code = {r["code"]: int(r["count"]) for r in
                   flagged.where(failed).groupBy(F.col("_q_failed").alias("code")).count().collect()}
    except BaseException:
        flagged.unpersist()
        raise
    result = _verdict(dataset, ds, entry, by_code, row_names, outcome, sum(by_code.values()), started)
    return Gated(flagged.where(~failed).select(*rows.columns), quarantine_rows(flagged, dataset, columns), result, flagged)


def _verdict(dataset: str, ds: str, entry: dict[str, Any], by_code: dict[str, int], row_names: list[str],
             outcome: "SuiteOutcome", moved: int, started: float) -> dict[str, Any]:
    """The suite's verdict on a batch and its quality-log row (before the log's own columns):
    ``by_code`` counts the batch's quarantined rows by reason, ``moved`` those this run moved."""
    pol = policy(dataset)
    batch_id = entry["batch_id"]
    rows_read = int(entry["rows_read"])
    rows_checked = int(entry["rows_accepted"])
    rows_failed = sum(n for code, n in by_code.items() if code in row_names)
    bad_share = rows_failed / rows_checked if rows_checked else 0.0
    row_failed = sorted(code for code in by_code if code in row_names)
    batch_failed = [e.name for e in outcome.expectations if e.level == "batch" and e.success is False]
    passed = bad_share <= pol.max_bad_share and not batch_failed
    problems = []
    if bad_share > pol.max_bad_share:
        problems.append(f"{rows_failed} of {rows_checked} rows ({bad_share:.1%}) failed row expectations, "
                        f"more than the allowed {pol.max_bad_share:.1%} ({', '.join(row_failed)})")
    for e in outcome.expectations:
        if e.name in batch_failed:
            got = "" if e.unexpected_count is None else f" ({e.unexpected_count} of {e.element_count} rows unexpected, "
            got += f"threshold {e.threshold})" if got else ""
            problems.append(f"batch expectation {e.name} failed{got}{' ' + e.note if e.note else ''}")
    if passed:
        message = (f"quality passed {dataset} {ds}: {rows_checked} rows checked, {rows_failed} moved to quarantine "
                   f"({bad_share:.1%} ≤ {pol.max_bad_share:.1%})")
    else:
        message = (f"QUALITY FAILED {dataset} {ds}: " + "; ".join(problems)
                   + f" — downstream steps of {dataset} for {ds} must not run")
    expectations = [
        {"name": e.name, "level": e.level, "origin": e.origin, "success": e.success,
         "unexpected_count": e.unexpected_count, "element_count": e.element_count,
         "unexpected_values": [str(v) for v in e.unexpected_values], "threshold": e.threshold,
         "quarantined": by_code.get(e.name, 0) if e.level == "row" else None, "note": e.note}
        for e in outcome.expectations
    ]
    result = {
        "dataset": dataset, "ds": ds, "passed": passed, "status": "passed" if passed else "failed",
        "message": message, "suite": outcome.suite, "batch_id": batch_id, "rows_read": rows_read,
        "rows_checked": rows_checked, "rows_failed": rows_failed, "rows_moved": moved, "bad_share": bad_share,
        "max_bad_share": pol.max_bad_share, "failed_expectations": row_failed + batch_failed,
        "expectations": expectations, "data_docs": outcome.data_docs,
        "seconds": round(time.monotonic() - started, 2),
    }
    return result


def _write_log(spark: "SparkSession", profile: Profile, result: dict[str, Any]) -> None:
    write_logs(spark, profile, [result])


def write_logs(spark: "SparkSession", profile: Profile, results: list[dict[str, Any]]) -> None:
    """The ``_quality_log`` rows of several datasets of one date (results of :func:`run` that
    validated), in one commit; skipped results have no row."""
    results = [r for r in results if r.get("status") != "skipped"]
    if not results:
        return
    days = {r["ds"] for r in results}
    if len(days) != 1:
        raise ValueError(f"write_logs takes results of one date, got {sorted(days)}")
    rows = []
    for result in results:
        row = {k: result[k] for k in ("dataset", "suite", "batch_id", "rows_checked", "rows_failed", "rows_moved",
                                      "bad_share", "max_bad_share", "failed_expectations", "data_docs", "message",
                                      "seconds")}
        row.update(ds=dt.date.fromisoformat(result["ds"]), success=result["passed"],
                   expectations=json.dumps(result["expectations"], ensure_ascii=False, default=str))
        rows.append(row)
    lake.replace_partition(spark.createDataFrame(rows, LOG_SCHEMA), profile.table_path("bronze", QUALITY_LOG),
                           {"dataset": sorted(r["dataset"] for r in results), "ds": days.pop()}, metrics=False)


def _read_log(spark: "SparkSession", profile: Profile, table: str, ds: str) -> list[dict[str, Any]]:
    """Rows of a bronze log table (``_ingest_log``, ``_quality_log``) for ``ds``, by dataset."""
    path = profile.table_path("bronze", table)
    if not lake.table_exists(spark, path):
        return []
    return [r.asDict(recursive=True) for r in
            lake.read_partition(spark, profile, "bronze", table, ds).orderBy("dataset").collect()]


def read_quality_log(spark: "SparkSession", profile: Profile, ds: str) -> list[dict[str, Any]]:
    return _read_log(spark, profile, QUALITY_LOG, ds)


# --------------------------------------------------------------------------- summary


def summary(spark: "SparkSession", profile: Profile, ds: str) -> list[dict[str, Any]]:
    """:func:`gridrisk.quality.summary.quality_rows` of ``ds``, read with Spark."""
    ingest = {r["dataset"]: r for r in _read_log(spark, profile, INGEST_LOG, ds)}
    checks = {r["dataset"]: r for r in read_quality_log(spark, profile, ds)}
    counts: list[tuple[str, str, int]] = []
    qpath = profile.table_path("bronze", QUARANTINE)
    if lake.table_exists(spark, qpath):
        counts = [(r["dataset"], r["reason_code"], int(r["count"])) for r in
                  lake.read_partition(spark, profile, "bronze", QUARANTINE, ds).groupBy("dataset", "reason_code").count().collect()]
    return quality_rows(ingest.values(), checks.values(), counts)


def _failed_line(name: str, samples: list[str] | None) -> str:
    return f"{name} (e.g. {', '.join(samples[:3])})" if samples else name


def format_summary(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of :func:`summary` rows (the ``gridrisk quality`` CLI prints it)."""
    from tabulate import tabulate

    table = [
        [r["dataset"], r["ingest_status"], r["rows_read"], r["rows_accepted"], r["rows_quarantined"],
         "\n".join(f"{code}: {n}" for code, n in r["quarantined_by_reason"].items()) or "-",
         r["suite"] + ("" if r["bad_share"] is None else f" ({r['bad_share']:.1%} bad)"),
         "\n".join(_failed_line(name, r.get("failing_values", {}).get(name)) for name in r["failed_expectations"]) or "-"]
        for r in rows
    ]
    return tabulate(table, headers=["dataset", "ingest", "read", "accepted", "quarantined", "by reason", "suite",
                                    "failed expectations"], tablefmt="simple")

