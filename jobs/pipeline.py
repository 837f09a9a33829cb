"""The daily pipeline's stages, as the CLI and Airflow call them.

Each stage takes the logical date and the profile name and returns a JSON-serialisable
summary. Airflow tasks import this module inside the task (never at DAG parse time).

    ingest (one dataset or all) → silver → link → rules → publish

``link`` (entity resolution, silver person_records/person_master, then the person facts) feeds
the person rules; it is skipped, loudly, when one of its departments' deliveries is not fit for
use, and then only the person rules are skipped (``rules`` reports them under ``skipped``).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from typing import Any

from gridrisk.config import Profile, deliveries, load_profile, schema_names

STAGES = ("ingest", "silver", "link", "rules", "publish")


def check_date(ds: str) -> str:
    try:
        return dt.date.fromisoformat(ds).isoformat()
    except ValueError:
        raise ValueError(f"logical date must be YYYY-MM-DD, got {ds!r}") from None


def _profile(profile: str | Profile | None, inbox: str | None) -> Profile:
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    return prof.with_inbox(inbox)


def _spark(prof: Profile):  # type: ignore[no-untyped-def]
    from gridrisk.spark import get_spark

    return get_spark(prof)


#: The bronze tables each silver job reads; silver runs only when all of them loaded and passed.
SILVER_INPUTS = ("housing_units", "residence_registrations", "addresses")


def ingest(ds: str, profile: str | Profile | None = None, inbox: str | None = None,
           datasets: list[str] | None = None, quality: bool = True) -> dict[str, Any]:
    """Land the deliveries of ``ds`` in bronze and gate each with its quality suite.

    One dataset failing never stops the others. A dataset whose suite fails gets status
    ``quality_failed``: its rows stay in bronze, but its downstream steps do not run.
    """
    from concurrent.futures import ThreadPoolExecutor

    from jobs.bronze import ingest as bronze_ingest

    ds = check_date(ds)
    prof = _profile(profile, inbox)
    spark = _spark(prof)

    def one(name: str) -> dict[str, Any]:
        result = bronze_ingest.run(spark, prof, name, ds).as_dict()
        if quality and result["status"] == "loaded":
            result = with_quality(result, check_quality(spark, prof, name, ds))
        return result

    # Small deliveries cost mostly fixed latency (Delta log reads and commits, worker start-up),
    # so several datasets share the session at once; Spark schedules their jobs side by side.
    names = list(datasets or schema_names())
    with ThreadPoolExecutor(max_workers=max(1, min(INGEST_THREADS, len(names)))) as pool:
        results = list(pool.map(one, names))
    return {"stage": "ingest", "ds": ds, "results": results}


INGEST_THREADS = int(os.environ.get("GRIDRISK_INGEST_THREADS", "3"))
_GX_LOCK = threading.Lock()


def check_quality(spark, prof: Profile, dataset: str, ds: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from jobs.quality import validate

    with _GX_LOCK:  # Great Expectations' contexts and Data Docs site are not made for threads
        return validate.run(spark, prof, dataset, ds)


def with_quality(result: dict[str, Any], q: dict[str, Any]) -> dict[str, Any]:
    """Fold the quality verdict into an ingest result: counts after quality, reasons merged."""
    reasons = dict(result.get("reasons") or {})
    for e in q.get("expectations", []):
        if e.get("quarantined"):
            reasons[e["name"]] = int(e["quarantined"])
    quarantined = int(result["rows_quarantined"]) + int(q.get("rows_failed", 0))
    return {
        **result,
        "status": "loaded" if q["passed"] else "quality_failed",
        "rows_quarantined": quarantined,
        "rows_accepted": int(result["rows_read"]) - quarantined,
        "reasons": reasons,
        "message": q["message"] if not q["passed"] else result["message"],
        "quality": {k: q.get(k) for k in ("passed", "message", "failed_expectations", "bad_share", "data_docs")},
    }


def inputs_ready(spark, prof: Profile, ds: str, datasets: tuple[str, ...]) -> list[str]:  # type: ignore[no-untyped-def]
    """Problems with the inputs of a stage for ``ds`` (empty when all loaded and passed quality)."""
    from jobs.bronze.ingest import read_log
    from jobs.quality.validate import read_quality_log

    loaded = {r["dataset"]: r for r in read_log(spark, prof, ds)}
    checked = {r["dataset"]: r for r in read_quality_log(spark, prof, ds)}
    problems = []
    for name in datasets:
        if name not in loaded:
            problems.append(f"{name}: not ingested for {ds}")
        elif loaded[name]["status"] != "loaded":
            problems.append(f"{name}: {loaded[name]['status']} — {loaded[name]['message']}")
        elif name in checked and not checked[name]["success"]:
            problems.append(f"{name}: quality failed — {checked[name]['message']}")
    return problems


def _gated(stage: str, inputs: tuple[str, ...], job: Any, ds: str, profile: str | Profile | None,
           inbox: str | None) -> dict[str, Any]:
    """Run ``job.run`` for ``ds`` only when every input loaded and passed quality; else skip, loudly,
    without touching the lake."""
    ds = check_date(ds)
    prof = _profile(profile, inbox)
    spark = _spark(prof)
    problems = inputs_ready(spark, prof, ds, inputs)
    if problems:
        return {"stage": stage, "ds": ds, "skipped": problems, "tables": {}}
    return {"stage": stage, "ds": ds, **job.run(spark, prof, ds)}


def silver(ds: str, profile: str | Profile | None = None, inbox: str | None = None) -> dict[str, Any]:
    """Silver housing for ``ds`` (occupancy and rented units)."""
    from jobs.silver import housing_occupancy

    return _gated("silver", SILVER_INPUTS, housing_occupancy, ds, profile, inbox)


#: The bronze tables entity resolution reads (every person-bearing department).
LINK_INPUTS = ("persons", "residence_registrations", "housing_units", "driving_licences", "transport_workers",
               "mental_health_registry", "drug_registry", "waybills")


class _LinkJob:
    """Entity resolution, then the person facts keyed by its person keys (one gated stage)."""

    @staticmethod
    def run(spark, prof: Profile, ds: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        from jobs.silver import person_facts, person_master

        linked = person_master.run(spark, prof, ds)
        facts = person_facts.run(spark, prof, ds)
        return {**linked, "tables": {**linked.get("tables", {}), **facts["tables"]}}


def link(ds: str, profile: str | Profile | None = None, inbox: str | None = None) -> dict[str, Any]:
    """Entity resolution for ``ds`` (every person-bearing record → a stable person key) and the
    silver person facts the person rules read (licences, qualifications, registries, profile)."""
    return _gated("link", LINK_INPUTS, _LinkJob, ds, profile, inbox)


def explain_link(ds: str, dataset: str, record_key: str, profile: str | Profile | None = None) -> str:
    from jobs.silver import person_master

    prof = _profile(profile, None)
    return person_master.explain(_spark(prof), prof, check_date(ds), dataset, record_key)


def quality_summary(ds: str, profile: str | Profile | None = None) -> list[dict[str, Any]]:
    from jobs.quality import validate

    prof = _profile(profile, None)
    return validate.summary(_spark(prof), prof, check_date(ds))


def rules(ds: str, profile: str | Profile | None = None, inbox: str | None = None, full: bool = False) -> dict[str, Any]:
    """The risk rules for ``ds`` → gold risk_flags (incremental unless ``full``), then gold risk_summary."""
    from jobs.gold import risk_flags, risk_summary

    ds = check_date(ds)
    prof = _profile(profile, inbox)
    spark = _spark(prof)
    flags = risk_flags.run(spark, prof, ds, full=full)
    summary = risk_summary.run(spark, prof, ds) if flags["evaluated"] else {"tables": {}}
    return {"stage": "rules", "ds": ds, **flags, "tables": summary.get("tables", {})}


def publish(ds: str, profile: str | Profile | None = None, inbox: str | None = None) -> dict[str, Any]:
    from jobs.gold import publish_tasks

    ds = check_date(ds)
    prof = _profile(profile, inbox)
    return {"stage": "publish", "ds": ds, **publish_tasks.run(_spark(prof), prof, ds)}


def run_daily(ds: str, profile: str | Profile | None = None, inbox: str | None = None, full: bool = False) -> dict[str, Any]:
    """All stages for one logical date, in order (``full``: no incremental shortcut for the rules)."""
    prof = _profile(profile, inbox)
    out: dict[str, Any] = {"ds": check_date(ds)}
    for stage in STAGES:
        out[stage] = rules(ds, prof, full=full) if stage == "rules" else globals()[stage](ds, prof)
    return out


__all__ = ["STAGES", "deliveries", "ingest", "silver", "link", "rules", "publish", "run_daily"]
