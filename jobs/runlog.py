"""``ops/run_log``: what every stage of a day did, one row per (day, step, item) — analysts query it.

    SELECT step, item, outcome, reason FROM delta.`<lake>/ops/run_log` WHERE ds = '2026-11-01'

A *step* is one unit of work that writes its rows together: ``ingest.<dataset>`` (one per
delivery, so parallel ingest tasks never write the same partition), ``silver``, ``link``,
``vehicle_tracks``, ``fire_state``, ``rules``, ``publish``, ``report`` and ``run`` (the day's
summary line). An *item* is what the row is about: a table (``bronze.waybills``,
``silver.person_registry_drugs``), a rule (``rule:driver.mental``) or the step itself.

Outcomes:

- ingest: the loader's status — ``loaded``, ``late`` (no delivery by the cut-off: the run went on
  without it), ``not_ready``, ``rejected``, ``quality_failed``, ``failed``;
- a table a stage writes: ``written`` (``rows`` = rows written, ``version`` = the table's Delta
  version after it), ``skipped`` (the stage did not run: ``reason`` says which inputs were not fit)
  or ``left_out`` (the stage ran without one of its departments, so this table has no partition
  for the day);
- a rule: ``evaluated`` (``reason`` = full or incremental, or — for a rule that reads both
  registries and got one — ``partial: ran without …``: its new hits were filed, none of its
  flags resolved) or ``skipped`` with the reason;
- ``run``: ``complete``, ``partial`` (something late, failed, skipped or run partially — listed in
  ``reason``) or ``empty`` (no delivery arrived at all).

Each step replaces its own rows (``ds`` and ``step`` partition the table), so a re-run of a step
leaves exactly one account of it. The rules stage reads this table to tell an input that is empty
today (its stage ran and wrote nothing: no fault open, no waybill) from one that is missing (its
stage was skipped, or left that table out): :func:`written`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from gridrisk import lake
from gridrisk.catalog import CATALOG, LAYERS, PARTIAL_RULE, RUN_LOG
from gridrisk.config import Profile

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SCHEMA = ("ds date, step string, stage string, item string, outcome string, reason string, rows bigint, "
          "version bigint, seconds double, run_id string, logged_at timestamp")
#: Outcomes that mean "this input is not there for the day".
NOT_THERE = ("late", "not_ready", "rejected", "quality_failed", "failed", "skipped", "left_out")

Row = dict[str, Any]


def _row(step: str, stage: str, item: str, outcome: str, reason: str = "", rows: int | None = None,
         version: int | None = None, seconds: float | None = None) -> Row:
    return {"step": step, "stage": stage, "item": item, "outcome": outcome, "reason": reason[:2000] or None,
            "rows": None if rows is None else int(rows), "version": version, "seconds": seconds}


def entries(stage: str, summary: Mapping[str, Any], versions: Mapping[str, int | None] | None = None) -> list[Row]:
    """The run-log rows of one stage's summary (as :mod:`jobs.pipeline` returns it). Pure.

    ``versions``: table ref → its Delta version after the stage (None: not there)."""
    versions = versions or {}
    seconds = summary.get("seconds")
    if stage == "ingest":
        return [_row(f"ingest.{r['dataset']}", "ingest", f"bronze.{r['dataset']}", str(r["status"]),
                     "" if r["status"] == "loaded" else str(r.get("message") or ""), r.get("rows_accepted"),
                     versions.get(f"bronze.{r['dataset']}"), r.get("seconds"))
                for r in summary.get("results", [])]
    spec = CATALOG.stage(stage)
    out: list[Row] = []
    skipped = summary.get("skipped")
    skipped_reason = "; ".join(skipped) if isinstance(skipped, list) else ""
    if stage == "rules":
        reasons = summary.get("skip_reasons") or {}
        modes = summary.get("mode") or {}
        out += [_row(stage, stage, f"rule:{r}", "evaluated", str(modes.get(r, ""))) for r in summary.get("evaluated", [])]
        out += [_row(stage, stage, f"rule:{r}", "skipped", str(reasons.get(r, "its inputs are missing")))
                for r in summary.get("skipped", [])]
        skipped_reason = "" if summary.get("evaluated") else "no rule could be evaluated"
    tables = dict(summary.get("tables") or {})
    if stage == "rules" and summary.get("evaluated"):  # the flags are MERGEd: rows = rows merged
        tables.setdefault("risk_flags", int((summary.get("metrics") or {}).get("numOutputRows", 0)))
    left_out = summary.get("left_out") or {}
    partial = "; ".join(summary.get("partial") or [])
    for ref in spec.writes:
        name = ref.split(".", 1)[1]
        if name in tables:
            out.append(_row(stage, stage, ref, "written", "", tables[name], versions.get(ref), seconds))
        elif name in left_out:
            missing = ", ".join(left_out[name])
            out.append(_row(stage, stage, ref, "left_out", f"needs {missing}, not fit for the day"
                            + (f" ({partial})" if partial else ""), None, versions.get(ref), seconds))
        else:
            out.append(_row(stage, stage, ref, "skipped", skipped_reason or partial or "not written", None,
                            versions.get(ref), seconds))
    if not spec.writes:  # publish, report: the stage itself
        outcome = "skipped" if skipped else "done"
        out.append(_row(stage, stage, stage, outcome, skipped_reason, summary.get("created"), None, seconds))
    return out


def day_summary(ds: str, rows: Iterable[Mapping[str, Any]]) -> Row:
    """The ``run`` line of a day from its steps' rows: complete, partial (what was late, failed or
    skipped) or empty (no delivery at all). Pure."""
    rows = [r for r in rows if r["step"] != "run"]
    ingest = [r for r in rows if r["stage"] == "ingest"]
    late = sorted(r["item"].split(".", 1)[1] for r in ingest if r["outcome"] in ("late", "not_ready"))
    failed = sorted(r["item"].split(".", 1)[1] for r in ingest if r["outcome"] in ("rejected", "quality_failed", "failed"))
    skipped_rules = sorted(r["item"].split(":", 1)[1] for r in rows if r["item"].startswith("rule:") and r["outcome"] == "skipped")
    evaluated = [r for r in rows if r["item"].startswith("rule:") and r["outcome"] == "evaluated"]
    partial_rules = sorted(r["item"].split(":", 1)[1] for r in evaluated if str(r.get("reason") or "").startswith(PARTIAL_RULE))
    skipped_tables = sorted(r["item"] for r in rows if r["stage"] != "ingest" and r["outcome"] in ("skipped", "left_out")
                            and r["item"].split(".", 1)[0] in LAYERS)
    parts = []
    if late:
        parts.append("late: " + ", ".join(late))
    if failed:
        parts.append("failed: " + ", ".join(failed))
    if skipped_tables:
        parts.append("not written: " + ", ".join(skipped_tables))
    if skipped_rules:
        parts.append("rules skipped: " + ", ".join(skipped_rules))
    if partial_rules:
        parts.append("rules run partially: " + ", ".join(partial_rules))
    if ingest and all(r["outcome"] in ("late", "not_ready") for r in ingest):
        outcome = "empty"
    else:
        outcome = "partial" if parts else "complete"
    return {**_row("run", "run", ds, outcome, "; ".join(parts), len(evaluated)),
            "late": late, "failed": failed, "skipped_rules": skipped_rules, "partial_rules": partial_rules,
            "evaluated_rules": len(evaluated)}


# --------------------------------------------------------------------------- Delta I/O


def path(profile: Profile) -> str:
    return profile.table_path(*RUN_LOG.split("."))


def write(spark: "SparkSession", profile: Profile, ds: str, rows: list[Row], run_id: str | None = None) -> None:
    """Replace the rows of the steps in ``rows`` for ``ds`` (other steps' rows are kept)."""
    if not rows:
        return
    now = dt.datetime.now().replace(microsecond=0)
    day = dt.date.fromisoformat(ds)
    records = [{**{k: r.get(k) for k in ("step", "stage", "item", "outcome", "reason", "rows", "version", "seconds")},
                "ds": day, "run_id": run_id, "logged_at": now} for r in rows]
    df = spark.createDataFrame(records, SCHEMA).select(*[f.split()[0] for f in SCHEMA.split(", ")])
    steps = sorted({r["step"] for r in rows})
    predicate = f"ds = DATE'{ds}' AND step IN ({', '.join(lake.sql_literal(s) for s in steps)})"
    target = path(profile)

    def save() -> None:
        (df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
         .partitionBy("ds", "step").save(target))

    lake.with_conflict_retry(save)


def read(spark: "SparkSession", profile: Profile, ds: str) -> list[Row]:
    """Every row of ``ds``, by step and item."""
    if not lake.table_exists(spark, path(profile)):
        return []
    from pyspark.sql import functions as F

    df = spark.read.format("delta").load(path(profile)).where(F.col("ds") == F.lit(ds).cast("date"))
    return [r.asDict() for r in df.orderBy("step", "item").collect()]


def written(spark: "SparkSession", profile: Profile, ds: str, ref: str) -> bool:
    """Whether the stage that writes table ``ref`` wrote it for ``ds`` (even with no rows)."""
    if not lake.table_exists(spark, path(profile)):
        return False
    from pyspark.sql import functions as F

    df = spark.read.format("delta").load(path(profile))
    return not df.where((F.col("ds") == F.lit(ds).cast("date")) & (F.col("item") == ref)
                        & (F.col("outcome") == "written")).isEmpty()


def as_text(rows: Iterable[Mapping[str, Any]]) -> str:
    """The rows as log lines (for the task log)."""
    return "\n".join(json.dumps({k: r.get(k) for k in ("step", "item", "outcome", "rows", "version", "reason")},
                                ensure_ascii=False, default=str) for r in rows)
