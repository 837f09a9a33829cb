"""The rules stage against a single-node reference: the same deterministic rules in DuckDB.

    .venv/bin/python benchmarks/bench_reference_duckdb.py --persons 100000 [--repeat 3]

Generates a one-day province (if its inbox is empty), then runs ingest (no quality suites),
the silver housing stage and entity resolution with the person facts — once; a later call with
the same ``--persons`` reuses that lake. Both sides then start from the same silver Delta
snapshot:

- **reference**: DuckDB reads the Parquet files of the ``ds`` partition of seven silver tables —
  ``housing_occupancy``, ``rented_units`` and entity resolution's person facts
  ``person_licences``, ``person_qualifications``, ``person_registry_mental`` and
  ``person_registry_drugs`` (one view ``person_registry`` over both: they share one shape),
  ``person_profile`` (the file list from the Delta log through ``deltalake``, no JVM) — and evaluates the person and
  housing rules of ``conf/rules`` (their parameters and city overrides from the YAML, their
  logic re-written in SQL below) to the set of (rule, subject, rule severity);
- **pipeline**: ``jobs.gold.risk_flags.run(…, full=True)`` for the same rules — evaluation,
  compounds, routing and the Delta MERGE into gold, i.e. what the stage costs — then the flags
  open on ``ds`` are read back as the same set.

The two sets must be equal (a difference is printed and the exit status is 1). The time ratio
is pipeline ÷ reference, each the best of ``--repeat`` runs (the pipeline's first run pays the
JVM's warm-up; it is not counted when ``--repeat`` > 1), printed with the load average.

At 1 M persons DuckDB holds the seven tables' rule columns (≈ 1–2 GB); ``--duckdb-memory``
caps it (default 4GB) and it spills to ``<workdir>/duckdb.tmp`` beyond that.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridrisk.rules import Rule

#: The kinds the reference implements: every deterministic (non-event) kind.
KINDS = ("overcrowded_rental", "concentrated_rental", "licence_condition", "worker_condition", "qualification_inconsistent")
#: The silver tables they read (all ds-partitioned).
TABLES = ("housing_occupancy", "rented_units", "person_licences", "person_qualifications", "person_registry_mental",
          "person_registry_drugs", "person_profile")


def q(value: Any) -> str:
    """A SQL literal."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def in_list(values: list[Any]) -> str:
    return "(" + ", ".join(q(v) for v in values) + ")" if values else "(NULL)"


def city_param(rule: "Rule", name: str) -> str:
    """The parameter as SQL: the default, or the city's override on ``city_code``."""
    expr = q(rule.params[name])
    for city, overrides in sorted(rule.city_overrides.items()):
        if name in overrides:
            expr = f"CASE WHEN city_code = {q(city)} THEN {q(overrides[name])} ELSE {expr} END"
    return expr


def registry_condition(rule: "Rule", day: str) -> str:
    """gridrisk.rules.kinds.persons.registry_condition in SQL (never null)."""
    p, parts = rule.params, []
    if "mental" in p["conditions"]:
        mental = f"risk_level >= {int(p['mental_min_risk_level'])}"
        if p["mental_incident_history"]:
            mental = f"({mental} OR coalesce(has_incident_history, FALSE))"
        parts.append(f"(registry = 'mental' AND coalesce({mental}, FALSE))")
    if "drugs" in p["conditions"]:
        cutoff = f"({day} - INTERVAL {12 * int(p['drug_recent_years'])} MONTH)"
        drugs = (f"control_status IN {in_list(p['drug_control_statuses'])}"
                 f" OR coalesce(last_use_date > {cutoff}, FALSE) OR coalesce(rehab_release_date > {cutoff}, FALSE)")
        parts.append(f"(registry = 'drugs' AND coalesce({drugs}, FALSE))")
    return "(" + " OR ".join(parts) + ")"


def condition_held(rule: "Rule", day: str) -> str:
    days = rule.params.get("held_more_than_days")
    if days is None:
        return "TRUE"
    since = "CASE WHEN registry = 'mental' THEN last_followup_date ELSE decision_date END"
    return f"coalesce(date_diff('day', {since}, {day}) > {int(days)}, FALSE)"


def active(statuses: list[str], day: str) -> str:
    return f"status IN {in_list(statuses)} AND coalesce(valid_until >= {day}, FALSE)"


def rule_sql(rule: "Rule", day: str) -> str:
    """``SELECT rule_id, subject_key, severity`` of one rule's hits."""
    p, rid = rule.params, q(rule.id)
    if rule.kind == "overcrowded_rental":
        limit = (f"CASE WHEN self_contained = FALSE THEN {city_param(rule, 'max_area_per_occupant_m2_not_self_contained')}"
                 f" ELSE {city_param(rule, 'max_area_per_occupant_m2')} END")
        return f"""
        WITH rooms AS (
            SELECT address_code, max(non_family) AS fullest FROM (
                SELECT address_code, room_no, sum(CASE WHEN NOT is_family THEN 1 ELSE 0 END) AS non_family
                FROM housing_occupancy GROUP BY address_code, room_no) GROUP BY address_code),
        units AS (
            SELECT address_code, first(city_code) AS city_code, first(building_area_m2) AS area_m2,
                   first(is_self_contained) AS self_contained, first(letting_mode) AS letting_mode,
                   count(*) AS occupants,
                   sum(CASE WHEN is_adult AND NOT is_family THEN 1 ELSE 0 END) AS unrelated_adults,
                   count(DISTINCT CASE WHEN room_type IN {in_list(p['forbidden_room_types'])} THEN room_type END) AS bad_rooms
            FROM housing_occupancy GROUP BY address_code)
        SELECT {rid} AS rule_id, address_code AS subject_key, {q(rule.severity)} AS severity
        FROM units JOIN rooms USING (address_code)
        WHERE coalesce(unrelated_adults >= {city_param(rule, 'min_unrelated_adults')} AND area_m2 / occupants < {limit}, FALSE)
           OR fullest > {city_param(rule, 'max_non_family_per_room')}
           OR bad_rooms > 0
           OR coalesce(letting_mode IN {in_list(p['bed_letting_modes'])}, FALSE)"""
    if rule.kind == "concentrated_rental":
        return f"""
        SELECT {rid} AS rule_id, building_key AS subject_key, {q(rule.severity)} AS severity FROM (
            SELECT building_key, first(city_code) AS city_code, sum(room_count) AS rooms_let, sum(occupants) AS occupants
            FROM rented_units GROUP BY building_key)
        WHERE coalesce(rooms_let, 0) >= {city_param(rule, 'min_rooms_let')} OR occupants >= {city_param(rule, 'min_occupants')}"""
    if rule.kind == "licence_condition":
        return f"""
        SELECT DISTINCT {rid} AS rule_id, l.person_key AS subject_key, {q(rule.severity)} AS severity
        FROM (SELECT DISTINCT person_key FROM person_licences
              WHERE person_key IS NOT NULL AND {active(p['licence_statuses'], day)}) l
        JOIN (SELECT DISTINCT person_key FROM person_registry
              WHERE person_key IS NOT NULL AND {registry_condition(rule, day)} AND {condition_held(rule, day)}) c
          USING (person_key)"""
    if rule.kind == "worker_condition":
        return f"""
        SELECT {rid} AS rule_id, q.person_key AS subject_key,
               CASE WHEN bool_or(cert_type IN {in_list(p['critical_cert_types'])}) THEN 'critical' ELSE {q(rule.severity)} END AS severity
        FROM person_qualifications q
        LEFT JOIN (SELECT DISTINCT person_key, TRUE AS has_condition FROM person_registry
                   WHERE person_key IS NOT NULL AND {registry_condition(rule, day)}) c USING (person_key)
        LEFT JOIN (SELECT DISTINCT person_key, TRUE AS has_drug_record FROM person_registry
                   WHERE person_key IS NOT NULL AND registry = 'drugs') d USING (person_key)
        WHERE q.person_key IS NOT NULL AND {active(p['qualification_statuses'], day)}
          AND (has_condition OR (cert_type IN {in_list(p['any_drug_record_cert_types'])} AND has_drug_record))
        GROUP BY q.person_key"""
    if rule.kind == "qualification_inconsistent":
        # completed months as Spark's months_between counts them (both month-ends: a whole month)
        months = (f"(12 * (year({day}) - year(birth_date)) + month({day}) - month(birth_date)"
                  f" - CASE WHEN day({day}) < day(birth_date) AND NOT (day({day}) = day(last_day({day}))"
                  f" AND day(birth_date) = day(last_day(birth_date))) THEN 1 ELSE 0 END)")
        too_old = f"coalesce({months} >= {12 * (int(p['max_age']) + 1)}, FALSE)"
        return f"""
        SELECT DISTINCT {rid} AS rule_id, person_key AS subject_key, {q(rule.severity)} AS severity
        FROM (SELECT DISTINCT person_key FROM person_qualifications
              WHERE person_key IS NOT NULL AND {active(p['qualification_statuses'], day)})
        LEFT JOIN (SELECT DISTINCT person_key, TRUE AS cancelled FROM person_licences
                   WHERE person_key IS NOT NULL AND status IN {in_list(p['cancelled_licence_statuses'])}) USING (person_key)
        LEFT JOIN (SELECT person_key, bool_or({too_old}) AS too_old FROM person_profile
                   WHERE person_key IS NOT NULL GROUP BY person_key) USING (person_key)
        WHERE coalesce(cancelled, FALSE) OR coalesce(too_old, FALSE)"""
    raise ValueError(f"the reference has no SQL for kind {rule.kind}")


def partition_files(path: str, ds: str) -> list[str]:
    """The Parquet files of the ``ds`` partition of a Delta table, from its log (no JVM)."""
    from deltalake import DeltaTable

    return list(DeltaTable(path).file_uris([("ds", "=", ds)]))


def reference(profile: Any, rules: "list[Rule]", ds: str, memory: str, temp: Path) -> tuple[set[tuple[str, str, str]], float]:
    """DuckDB's flags (rule, subject, severity) and its seconds, reading included."""
    import duckdb

    started = time.monotonic()
    con = duckdb.connect()
    con.execute(f"SET memory_limit = {q(memory)}")
    con.execute(f"SET temp_directory = {q(str(temp))}")
    for table in TABLES:
        files = partition_files(profile.table_path("silver", table), ds)
        if not files:
            raise SystemExit(f"silver/{table} has no partition for {ds}: run without --skip-prepare")
        # a view: DuckDB reads only the columns (and row groups) each rule's query needs
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet([{', '.join(q(f) for f in files)}])")
    # both registries in one view (the rules' SQL below reads them together, by the registry column)
    con.execute("CREATE VIEW person_registry AS SELECT * FROM person_registry_mental "
                "UNION ALL BY NAME SELECT * FROM person_registry_drugs")
    day = f"DATE {q(ds)}"
    query = "\nUNION ALL\n".join(rule_sql(rule, day) for rule in rules)
    rows = con.execute(query).fetchall()
    con.close()
    return {(r, k, s) for r, k, s in rows}, time.monotonic() - started


def pipeline_flags(spark: Any, profile: Any, rules: "list[Rule]", ds: str) -> set[tuple[str, str, str]]:
    from pyspark.sql import functions as F

    from gridrisk import lake

    flags = (lake.read(spark, profile, "gold", "risk_flags")
             .where(F.col("rule_id").isin(*[r.id for r in rules]) & F.col("status").isin("open", "suppressed")
                    & (F.col("last_seen") == F.lit(ds).cast("date")))
             .select("rule_id", "subject_key", "rule_severity").collect())
    return {(r[0], r[1], r[2]) for r in flags}


def main() -> int:
    from _province import prepare, province_args

    parser = argparse.ArgumentParser()
    province_args(parser, 100_000, workdir="/tmp/gridrisk-bench-reference")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side; the best counts")
    parser.add_argument("--duckdb-memory", default="4GB")
    args = parser.parse_args()

    work = prepare(args.persons, args.seed, args.date, args.workdir)
    from gridrisk import lake
    from gridrisk.catalog import CATALOG
    from gridrisk.config import load_profile
    from gridrisk.rules import load_rules
    from gridrisk.spark import get_spark
    from jobs import pipeline
    from jobs.gold import risk_flags

    profile = load_profile()
    ds = args.date
    rules = [r for r in load_rules().values() if r.kind in KINDS]
    spark = get_spark(profile)
    if not all(lake.table_exists(spark, profile.table_path("silver", t)) for t in TABLES):
        datasets = sorted({ref.split(".", 1)[1] for s in ("silver", "link") for ref in CATALOG.stage(s).reads
                           if ref.startswith("bronze.")})
        t0 = time.monotonic()
        pipeline.ingest(ds, profile, datasets=datasets, quality=False)
        pipeline.silver(ds, profile)
        pipeline.link(ds, profile)
        print(f"ingest ({len(datasets)} datasets), silver, link: {time.monotonic() - t0:.0f} s (not part of the figures)")

    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    pipe_times, ref_times = [], []
    ours: set[tuple[str, str, str]] = set()
    theirs: set[tuple[str, str, str]] = set()
    for i in range(max(1, args.repeat)):
        t0 = time.monotonic()
        out = risk_flags.run(spark, profile, ds, full=True, only=[r.id for r in rules])
        pipe_times.append(time.monotonic() - t0)
        ours = pipeline_flags(spark, profile, rules, ds)
        theirs, seconds = reference(profile, rules, ds, args.duckdb_memory, work / "duckdb.tmp")
        ref_times.append(seconds)
        print(f"run {i + 1}: rules stage {pipe_times[-1]:.2f} s, DuckDB {seconds:.2f} s "
              f"(load {' / '.join(f'{x:.1f}' for x in os.getloadavg())})", flush=True)
    assert sorted(out["evaluated"]) == sorted(r.id for r in rules), out["evaluated"]

    print(f"\n{'rule':<28}{'pipeline':>10}{'DuckDB':>10}")
    for rule in rules:
        a = sum(1 for f in ours if f[0] == rule.id)
        b = sum(1 for f in theirs if f[0] == rule.id)
        print(f"{rule.id:<28}{a:>10,}{b:>10,}")
    same = ours == theirs
    if not same:
        for f in sorted(ours - theirs)[:20]:
            print(f"  only the pipeline: {f}")
        for f in sorted(theirs - ours)[:20]:
            print(f"  only DuckDB: {f}")
    counted = pipe_times[1:] or pipe_times
    best_pipe, best_ref = min(counted), min(ref_times)
    print(f"\n{args.persons:,} persons, {ds}: flags identical (rule, subject, severity): {same} ({len(ours):,} flags)")
    print(f"rules stage (best of {len(counted)}) {best_pipe:.2f} s; DuckDB (best of {len(ref_times)}) {best_ref:.2f} s; "
          f"ratio {best_pipe / best_ref:.1f}x; load average at start {load}, now "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
