"""gold ``risk_flags``: one row per (rule, subject), kept current with Delta MERGE.

    python -m jobs.gold.risk_flags --date 2026-11-01

For the logical date ``ds`` every enabled rule whose inputs exist is evaluated, and:

- a flag that fires and is new is inserted (``first_seen`` = ``opened_on`` = ``last_seen`` = ds);
- a flag that still fires gets ``last_seen`` = ds and fresh evidence; a resolved one re-opens
  (``opened_on`` = ds: a new episode, hence a new task);
- a flag of an evaluated rule that no longer fires is marked ``resolved`` (``resolved_on`` = ds);
- a flag a grid centre reported as a false positive stays ``suppressed`` for the window in
  conf/sla.yaml instead of re-opening.

Nothing is ever duplicated: ``flag_id`` is a hash of (rule id, subject key). Re-running a date
gives the same table; running an older date after a newer one changes nothing (``last_seen``
guards every update). Delta time travel answers "which flags were open on date D".
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from gridrisk import lake
from gridrisk.config import Profile
from gridrisk.rules import LEVEL_CODE_LENGTH, Routing, Rule, load_routing, load_rules

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

TABLE = "risk_flags"
FLAG_SCHEMA = (
    "flag_id string, rule_id string, rule_version int, rule_kind string, subject_type string, subject_key string, "
    "severity string, priority int, address_code string, grid_code string, lon double, lat double, "
    "receiving_level string, receiving_unit string, department string, title string, "
    "explanation string, analyst_explanation string, evidence string, "
    "status string, first_seen date, opened_on date, last_seen date, resolved_on date"
)
#: Where each rule's inputs live: table name → layer.
INPUT_LAYER = {"housing_occupancy": "silver", "rented_units": "silver"}


def flag_id(rule_id: "Column", subject_key: "Column") -> "Column":
    from pyspark.sql import functions as F

    return F.substring(F.sha2(F.concat_ws("|", rule_id, subject_key), 256), 1, 20)


def route_columns(routing: Routing, rules: Iterable[Rule]) -> dict[str, "Column"]:
    """receiving level/unit, department and priority as CASE expressions over rule_id × severity."""
    from pyspark.sql import functions as F

    level = dept = F.lit(None).cast("string")
    for rule in rules:
        for sev in ("low", "medium", "high", "critical"):
            route = routing.route(rule.id, sev)
            hit = (F.col("rule_id") == rule.id) & (F.col("severity") == sev)
            level = F.when(hit, F.lit(route.level)).otherwise(level)
            dept = F.when(hit, F.lit(route.department)).otherwise(dept)
    length = F.lit(None).cast("int")
    for name, n in LEVEL_CODE_LENGTH.items():
        length = F.when(level == name, F.lit(n)).otherwise(length)
    prio = F.lit(None).cast("int")
    for sev, p in routing.priority_of_severity.items():
        prio = F.when(F.col("severity") == sev, F.lit(p)).otherwise(prio)
    # The receiving unit is the grid code cut to the level's division-code length.
    unit = F.expr("substring(grid_code, 1, _unit_length)")
    return {"receiving_level": level, "department": dept, "priority": prio, "_unit_length": length, "receiving_unit": unit}


def transform(inputs: dict[str, "DataFrame"], rules: list[Rule], routing: Routing, ds: str,
              suppressed: "DataFrame | None" = None) -> "DataFrame":
    """Today's flags (one per rule × subject) in the shape of the gold table. Pure."""
    from functools import reduce

    from pyspark.sql import functions as F

    from jobs.gold.rule_kinds import evaluate_rule

    parts = []
    for rule in rules:
        hits = evaluate_rule(inputs, rule, ds)
        parts.append(hits.select(
            F.lit(rule.id).alias("rule_id"), F.lit(rule.version).alias("rule_version"), F.lit(rule.kind).alias("rule_kind"),
            F.lit(rule.title).alias("title"), "*"))
    flags = reduce(lambda a, b: a.unionByName(b), parts)
    routes = route_columns(routing, rules)
    day = F.lit(ds).cast("date")
    flags = flags.withColumn("flag_id", flag_id(F.col("rule_id"), F.col("subject_key")))
    status = F.lit("open")
    if suppressed is not None:
        flags = flags.join(suppressed.select("flag_id", F.lit(True).alias("_suppressed")), "flag_id", "left")
        status = F.when(F.col("_suppressed"), F.lit("suppressed")).otherwise(status)
    return flags.withColumn("_unit_length", routes["_unit_length"]).select(
        "flag_id", "rule_id", "rule_version", "rule_kind", "subject_type", "subject_key", "severity",
        routes["priority"].alias("priority"), "address_code", "grid_code", "lon", "lat",
        routes["receiving_level"].alias("receiving_level"), routes["receiving_unit"].alias("receiving_unit"),
        routes["department"].alias("department"), "title", "explanation", "analyst_explanation", "evidence",
        status.alias("status"), day.alias("first_seen"), day.alias("opened_on"), day.alias("last_seen"),
        F.lit(None).cast("date").alias("resolved_on"),
    )


def merge(spark: "SparkSession", path: str, today: "DataFrame", ds: str, evaluated_rules: list[str]) -> dict[str, int]:
    """Upsert today's flags; resolve the evaluated rules' flags that stopped firing."""
    from delta.tables import DeltaTable

    if not lake.table_exists(spark, path):
        spark.createDataFrame([], FLAG_SCHEMA).write.format("delta").partitionBy("rule_id").save(path)
    day = f"DATE'{ds}'"
    rules_in = ", ".join(lake.sql_literal(r) for r in evaluated_rules) or "NULL"
    refresh = {c: f"s.{c}" for c in (
        "rule_version", "rule_kind", "subject_type", "severity", "priority", "address_code", "grid_code", "lon", "lat",
        "receiving_level", "receiving_unit", "department", "title", "explanation", "analyst_explanation", "evidence")}
    refresh.update({
        "status": "s.status",
        "last_seen": day,
        "opened_on": f"CASE WHEN t.status = 'resolved' THEN {day} ELSE t.opened_on END",
        "resolved_on": "NULL",
    })
    target = DeltaTable.forPath(spark, path)

    def run_merge() -> None:
        (
            target.alias("t")
            .merge(today.alias("s"), "t.flag_id = s.flag_id AND t.rule_id = s.rule_id")
            .whenMatchedUpdate(condition=f"t.last_seen <= {day}", set=refresh)
            .whenNotMatchedInsertAll()
            .whenNotMatchedBySourceUpdate(
                condition=f"t.status IN ('open', 'suppressed') AND t.rule_id IN ({rules_in}) AND t.last_seen <= {day}",
                set={"status": "'resolved'", "resolved_on": day},
            )
            .execute()
        )

    # The logical date goes into the commit, so "as of date D" can find its version later.
    key = "spark.databricks.delta.commitInfo.userMetadata"
    spark.conf.set(key, f"ds={ds}")
    try:
        lake.with_conflict_retry(run_merge)
    finally:
        spark.conf.unset(key)
    return lake.last_metrics(spark, path)


def flags_as_of(spark: "SparkSession", profile: Profile, as_of: str) -> "DataFrame":
    """The flags table as the last run for a logical date on or before ``as_of`` left it.

    Delta time travel: every MERGE commit carries ``ds=<date>`` in its user metadata.
    """
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    path = profile.table_path("gold", TABLE)
    if not lake.table_exists(spark, path):
        raise LookupError(f"no flags yet: {path} does not exist")
    history = DeltaTable.forPath(spark, path).history().where(F.col("userMetadata").startswith("ds="))
    row = history.where(F.substring("userMetadata", 4, 10) <= F.lit(as_of)).agg(F.max("version").alias("v")).first()
    if row is None or row["v"] is None:
        raise LookupError(f"no pipeline run for a date on or before {as_of}")
    return lake.read(spark, profile, "gold", TABLE, version_as_of=int(row["v"]))


def load_inputs(spark: "SparkSession", profile: Profile, rules: list[Rule], ds: str) -> tuple[dict[str, "DataFrame"], list[Rule], list[str]]:
    """The inputs of every rule; a rule whose input is missing for ``ds`` is skipped, not resolved."""
    from jobs.gold.rule_kinds import KIND_CLASSES

    inputs: dict[str, DataFrame] = {}
    ready, skipped = [], []
    for rule in rules:
        needed = KIND_CLASSES[rule.kind].inputs
        ok = True
        for name in needed:
            if name in inputs:
                continue
            path = profile.table_path(INPUT_LAYER[name], name)
            if not lake.table_exists(spark, path):
                ok = False
                continue
            df = lake.read_partition(spark, profile, INPUT_LAYER[name], name, ds)
            if df.isEmpty():
                ok = False
                continue
            inputs[name] = df
        (ready if ok else skipped).append(rule if ok else rule.id)
    return inputs, ready, skipped  # type: ignore[return-value]


def suppressed_flags(spark: "SparkSession", profile: Profile, ds: str) -> "DataFrame | None":
    """Flags a grid centre reported as false positives, still inside the suppression window."""
    import datetime as dt

    from gridrisk.taskstore import open_store

    at = dt.datetime.combine(dt.date.fromisoformat(ds), dt.time(23, 59, 59))
    ids = sorted(open_store(profile.task_store).suppressed_flags(at))
    if not ids:
        return None
    return spark.createDataFrame([(i,) for i in ids], "flag_id string")


def run(spark: "SparkSession", profile: Profile, ds: str) -> dict[str, Any]:
    rules = list(load_rules().values())
    routing = load_routing()
    inputs, ready, skipped = load_inputs(spark, profile, rules, ds)
    if not ready:
        return {"evaluated": [], "skipped": skipped, "metrics": {}}
    today = transform(inputs, ready, routing, ds, suppressed_flags(spark, profile, ds))
    metrics = merge(spark, profile.table_path("gold", TABLE), today, ds, [r.id for r in ready])
    return {"evaluated": [r.id for r in ready], "skipped": skipped, "metrics": metrics}


def main(argv: list[str] | None = None) -> int:
    from jobs.entry import daily_job_main

    return daily_job_main(run, "python -m jobs.gold.risk_flags", argv)


if __name__ == "__main__":
    sys.exit(main())
