"""The hourly hazmat run: the GPS and waybill rules over the day so far, once an hour.

    gridrisk run --date 2026-11-01 --hour 10

The monitoring platform and the e-waybill system deliver ``gps_points`` and ``waybills`` as
hourly parts (``<dataset>_<YYYYMMDDHH>.<ext>`` + ``manifest_HH.json``, docs/hazmat.md); the
run for hour H:

1. **ingest** — lands the parts of hours 00 … H of both datasets that are not in bronze yet
   (or were delivered again with other bytes: ``bronze/_ingest_parts`` keeps each landed file's
   checksum) and gates them with their quality suites; each part replaces only its own rows, so
   an hour run again, or after missed hours, lands exactly what is missing;
2. **vehicle_tracks** — places the GPS reports of the files landed since the last run (the
   spatial work) and rebuilds the day-so-far waybills and periods from all placed reports (the
   daily stage, incrementally, on today's partial deliveries and the newest vehicle register and
   reference delivered);
3. **rules** — evaluates the hazmat rules that may run hourly (:data:`HOURLY_RULE_FILTER`) over
   the reports that are *settled*: taken before H:00 + 1 − :data:`LATE_HOURS` hours, so no
   report still to come can change them (the contract: a report reaches the platform at most
   one hour late). A rule's answer over a settled prefix of the day can only grow with the rest
   of the day (episodes only lengthen, moving time only adds up), so every flag an hourly run
   raises is one the daily run raises too; the hourly run **resolves nothing** — it cannot know
   yet that a flag carried from yesterday will not fire today — and applies no compound
   escalation (its sources are the daily rules). Flags are MERGEd on (rule, subject) as the
   daily run does, so an hour re-run, or the next hour, never duplicates one;
4. **publish** — files the open flags' tasks (task ids are (flag, day opened): idempotent).

The daily run of the same day then reads the whole day's delivery (its ``manifest.json`` lists
the same hourly parts), refreshes the same flags, resolves what no longer fires and escalates:
hourly and daily agree (``tests/test_hourly.py``). Crew rules need the day's entity resolution
(a waybill's crew IDs → person keys, the daily ``link`` stage) and stay daily.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gridrisk import lake
from gridrisk.config import Profile
from gridrisk.delivery import HOURLY_DATASETS
from gridrisk.engine import routed

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from gridrisk.rules import Rule

Summary = dict[str, Any]

#: How many hours after the hour a report was taken it may still arrive (the delivery contract).
LATE_HOURS = 1
#: The stages of an hourly run, in order.
HOURLY_STAGES = ("ingest", "vehicle_tracks", "rules", "publish")


def check_hour(hour: int) -> int:
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise ValueError(f"hour must be a whole number 0–23, got {hour!r}")
    return hour


def settled_until(ds: str, hour: int) -> dt.datetime:
    """Reports taken before this time are final after the run of ``hour`` (parts 00 … hour in)."""
    return dt.datetime.fromisoformat(ds) + dt.timedelta(hours=check_hour(hour) + 1 - LATE_HOURS)


def hourly_rules(rules: "list[Rule]") -> "list[Rule]":
    """The rules an hourly run evaluates: those whose kind is hourly-capable (event inputs only,
    no entity resolution of the day)."""
    from gridrisk.rules.kinds import KINDS

    return [r for r in rules if KINDS[r.kind].hourly]


# --------------------------------------------------------------------------- stages


def ingest_one(spark: "SparkSession", profile: Profile, dataset: str, ds: str, hour: int, quality: bool = True) -> Summary:
    """The parts 00 … ``hour`` of one hourly dataset not landed yet (or delivered again) → its
    bronze ``ds`` partition, each replacing only its own rows, gated by its quality suite."""
    from jobs import pipeline

    loaded, q = pipeline.land(spark, profile, dataset, ds, quality=quality, hour=hour, log=True, incremental=True)
    return loaded.as_dict() if q is None else pipeline.with_quality(loaded.as_dict(), q)


def ingest(spark: "SparkSession", profile: Profile, ds: str, hour: int, quality: bool = True,
           datasets: list[str] | None = None) -> Summary:
    """The day so far of every hourly dataset (or of ``datasets``) → bronze, each gated by its
    quality suite."""
    unknown = sorted(set(datasets or ()) - set(HOURLY_DATASETS))
    if unknown:
        raise ValueError(f"not hourly: {', '.join(unknown)}; hourly datasets are {', '.join(HOURLY_DATASETS)}")
    results = [ingest_one(spark, profile, name, ds, hour, quality) for name in (datasets or HOURLY_DATASETS)]
    return {"stage": "ingest", "ds": ds, "hour": hour, "results": results}


def snapshot_problems(spark: "SparkSession", profile: Profile, ds: str, datasets: tuple[str, ...]) -> list[str]:
    """The snapshot inputs with no delivery on or before ``ds`` (an hourly run reads the newest)."""
    problems = []
    for name in datasets:
        try:
            if not lake.table_exists(spark, profile.table_path("bronze", name)):
                raise LookupError(f"bronze/{name} does not exist")
            lake.read_latest(spark, profile, "bronze", name, ds).limit(1).count()
        except LookupError as exc:
            problems.append(f"{name}: no delivery on or before {ds} ({exc})")
    return problems


def vehicle_tracks(spark: "SparkSession", profile: Profile, ds: str, hour: int) -> Summary:
    """The day-so-far silver tracks: the daily stage on today's hourly deliveries (which must have
    loaded and passed quality) and the newest snapshots; skipped, loudly, otherwise."""
    from gridrisk.catalog import CATALOG
    from jobs import pipeline
    from jobs.silver import vehicle_tracks as job

    inputs = CATALOG.stage("vehicle_tracks").bronze_inputs
    problems = pipeline.inputs_ready(spark, profile, ds, tuple(n for n in inputs if n in HOURLY_DATASETS))
    problems += snapshot_problems(spark, profile, ds, tuple(n for n in inputs if n not in HOURLY_DATASETS))
    if problems:
        return {"stage": "vehicle_tracks", "ds": ds, "hour": hour, "skipped": problems, "tables": {}}
    return {"stage": "vehicle_tracks", "ds": ds, "hour": hour, **job.run(spark, profile, ds, incremental=True)}


def settled(inputs: "dict[str, DataFrame]", until: dt.datetime) -> "dict[str, DataFrame]":
    """``inputs`` with the vehicle reports cut at ``until`` (the earlier days' look-back stays)."""
    from pyspark.sql import functions as F

    from jobs.silver.vehicle_tracks import POINTS_TABLE

    out = dict(inputs)
    if POINTS_TABLE in out:
        out[POINTS_TABLE] = out[POINTS_TABLE].where(F.col("gps_ts") < F.lit(until.isoformat(sep=" ")).cast("timestamp"))
    return out


def rules(spark: "SparkSession", profile: Profile, ds: str, hour: int) -> Summary:
    """The hourly rules over the settled reports → gold risk_flags (upsert only: nothing resolved)."""
    from gridrisk.rules import fingerprint, load_compounds, load_routing, load_rules
    from gridrisk.rules.kinds import evaluate_rule
    from gridrisk.rules.kinds.hazmat import share_tracks
    from jobs.gold import risk_flags

    all_rules = load_rules()
    routing, compounds = load_routing(), load_compounds(rules=all_rules)
    chosen = hourly_rules(list(all_rules.values()))
    reasons: dict[str, str] = {}
    inputs, ready, skipped = risk_flags.load_inputs(spark, profile, chosen, ds, reasons)
    until = settled_until(ds, hour)
    out: Summary = {"stage": "rules", "ds": ds, "hour": hour, "settled_until": until.isoformat(sep=" "),
                    "evaluated": [r.id for r in ready], "skipped": skipped, "skip_reasons": reasons}
    if not ready:
        return {**out, "metrics": {}}
    inputs = settled(inputs, until)
    with share_tracks(inputs, ready):
        hits = risk_flags.evaluate_once({rule.id: evaluate_rule(inputs, rule, ds) for rule in ready})
    today = risk_flags.transform(hits, ready, routing, ds, risk_flags.suppressed_flags(spark, profile, ds))
    config = fingerprint(list(all_rules.values()), routing, compounds)
    path = profile.table_path("gold", risk_flags.TABLE)
    metrics = risk_flags.merge(spark, path, today, ds, [],  # resolve nothing: the day is not over
                               tag=f"hour={hour:02d} rules={config} evaluated={','.join(out['evaluated'])}")
    return {**out, "metrics": metrics}


def publish(spark: "SparkSession", profile: Profile, ds: str, hour: int) -> Summary:
    from jobs.gold import publish_tasks

    return {"stage": "publish", "ds": ds, "hour": hour, **publish_tasks.run(spark, profile, ds)}


STAGE_FUNCTIONS: dict[str, Callable[..., Summary]] = {"ingest": ingest, "vehicle_tracks": vehicle_tracks, "rules": rules, "publish": publish}


@routed  # Airflow's hourly tasks run their stage in the shared engine when there is one
def run_stage(stage: str, ds: str, hour: int, profile: Profile, quality: bool = True,
              datasets: list[str] | None = None) -> Summary:
    """One stage of the hourly run by name (Airflow's hourly DAG runs them one task each);
    ``quality`` and ``datasets`` (ingest only): gate the deliveries with their suites, only these."""
    from jobs.pipeline import check_date, spark_for

    if stage not in STAGE_FUNCTIONS:
        raise ValueError(f"unknown hourly stage {stage!r}; stages are {', '.join(HOURLY_STAGES)}")
    spark, ds, hour = spark_for(profile), check_date(ds), check_hour(hour)
    if stage == "ingest":
        return ingest(spark, profile, ds, hour, quality=quality, datasets=datasets)
    return STAGE_FUNCTIONS[stage](spark, profile, ds, hour)


def run_hour(ds: str, hour: int, profile: Profile, stages: list[str] | None = None, quality: bool = True) -> Summary:
    """The hourly run of ``ds`` through ``hour``: ingest, tracks, rules, publish (or ``stages``)."""
    from jobs.pipeline import check_config, check_date

    ds, hour = check_date(ds), check_hour(hour)
    chosen = list(stages or HOURLY_STAGES)
    unknown = sorted(set(chosen) - set(HOURLY_STAGES))
    if unknown:
        raise ValueError(f"unknown hourly stage(s) {', '.join(unknown)}; stages are {', '.join(HOURLY_STAGES)}")
    check_config(profile)
    out: Summary = {"ds": ds, "hour": hour}
    for stage in [s for s in HOURLY_STAGES if s in chosen]:
        out[stage] = run_stage(stage, ds, hour, profile, quality=quality)
    return out


__all__ = ["HOURLY_DATASETS", "HOURLY_STAGES", "LATE_HOURS", "check_hour", "hourly_rules", "ingest_one", "run_hour", "run_stage",
           "settled", "settled_until"]
