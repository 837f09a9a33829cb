"""gold risk_summary: counts per rule × city × district × day, from the flags as of that day."""

from __future__ import annotations

import datetime as dt

from gridrisk import lake
from jobs.gold import risk_flags, risk_summary

DAY1, DAY2 = "2026-11-01", "2026-11-02"
D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
OVER, CONC = "rental.overcrowded", "rental.concentrated"
GRID_15 = "320115101001003"  # city 3201, district 320115
GRID_16 = "320116101001003"  # city 3201, district 320116
ADDR_15 = "32011510100100010001"
ADDR_16 = "32011610100100010001"
COUNTS = ("open", "new", "resolved", "suppressed", "open_high", "subjects")


def flags_frame(spark, rows: list[dict]):
    """Flags in the gold table's shape, built by column name (FLAG_SCHEMA may gain columns)."""
    schema = spark.createDataFrame([], risk_flags.FLAG_SCHEMA).schema
    defaults = {"rule_version": 1, "severity": "medium", "status": "open", "subject_type": "address"}
    filled = []
    for i, row in enumerate(rows):
        row = {"flag_id": f"f{i}", "subject_key": f"s{i}", **defaults, **row}
        assert set(row) <= set(schema.fieldNames()), set(row) - set(schema.fieldNames())
        filled.append(tuple(row.get(name) for name in schema.fieldNames()))
    return spark.createDataFrame(filled, schema)


def by_key(df) -> dict[tuple, dict[str, int]]:
    return {(r.ds, r.rule_id, r.city_code, r.district_code): {c: r[c] for c in COUNTS} for r in df.collect()}


def counts(open=0, new=0, resolved=0, suppressed=0, open_high=0, subjects=0) -> dict[str, int]:
    return dict(open=open, new=new, resolved=resolved, suppressed=suppressed, open_high=open_high, subjects=subjects)


def test_transform_counts_each_status_per_rule_and_district(spark):
    seen = {"last_seen": D2, "first_seen": D1}
    flags = flags_frame(spark, [
        # open since day 1, still seen today; the grid code wins over an address in another district
        {"rule_id": OVER, "grid_code": GRID_15, "address_code": ADDR_16, "opened_on": D1, **seen},
        # opened today, high
        {"rule_id": OVER, "grid_code": GRID_15, "address_code": ADDR_15, "opened_on": D2, "severity": "high", **seen},
        # no grid code: district from the address code; opened today, critical
        {"rule_id": OVER, "grid_code": None, "address_code": ADDR_16, "opened_on": D2, "severity": "critical", **seen},
        # no code at all
        {"rule_id": OVER, "grid_code": None, "address_code": None, "opened_on": D1, **seen},
        # resolved today / resolved earlier (not counted)
        {"rule_id": OVER, "grid_code": GRID_15, "status": "resolved", "opened_on": D1, "last_seen": D1, "resolved_on": D2},
        {"rule_id": OVER, "grid_code": GRID_16, "status": "resolved", "opened_on": D1, "last_seen": D1, "resolved_on": D1},
        # still open but not seen today (its rule was not evaluated today): not counted
        {"rule_id": OVER, "grid_code": GRID_15, "opened_on": D1, "first_seen": D1, "last_seen": D1},
        # suppressed today (high, but not open: no open_high) / suppressed but last seen earlier
        {"rule_id": CONC, "grid_code": GRID_15[:9], "status": "suppressed", "severity": "high", "opened_on": D1, **seen},
        {"rule_id": CONC, "grid_code": GRID_15, "status": "suppressed", "opened_on": D1, "first_seen": D1, "last_seen": D1},
        # the other rule's only flag in 320116 was resolved earlier: that (rule, district) has no row
        {"rule_id": CONC, "grid_code": GRID_16, "status": "resolved", "opened_on": D1, "last_seen": D1, "resolved_on": D1},
    ])
    from pyspark.sql import functions as F

    out = risk_summary.transform(flags.withColumn("a_later_column", F.lit(1)), DAY2)

    assert out.columns == ["ds", "rule_id", "city_code", "district_code", *COUNTS]
    assert {f.name: f.dataType.simpleString() for f in out.schema.fields} == {
        "ds": "date", "rule_id": "string", "city_code": "string", "district_code": "string", **dict.fromkeys(COUNTS, "int")}
    assert by_key(out) == {
        (D2, OVER, "3201", "320115"): counts(open=2, new=1, resolved=1, open_high=1, subjects=2),
        (D2, OVER, "3201", "320116"): counts(open=1, new=1, open_high=1, subjects=1),
        (D2, OVER, "unknown", "unknown"): counts(open=1, subjects=1),
        (D2, CONC, "3201", "320115"): counts(suppressed=1, subjects=1),
    }


def today_flags(spark, ds: str, rows: list[dict]):
    """What risk_flags.transform would emit for ``ds``: every firing flag open and seen today."""
    day = dt.date.fromisoformat(ds)
    return flags_frame(spark, [{"first_seen": day, "opened_on": day, "last_seen": day, **r} for r in rows])


def summary_partitions(spark, profile) -> dict[tuple, dict[str, int]]:
    return by_key(lake.read(spark, profile, "gold", "risk_summary"))


def test_run_summarises_each_date_as_of_that_date_even_when_backfilled(spark, profile):
    # No flags table yet, then no run on or before the date: skipped, nothing written.
    skipped = risk_summary.run(spark, profile, DAY1)
    assert skipped["tables"] == {"risk_summary": 0} and "no flags yet" in skipped["skipped"]

    path = profile.table_path("gold", "risk_flags")
    a = {"flag_id": "a", "rule_id": OVER, "grid_code": GRID_15, "subject_key": ADDR_15}
    b = {"flag_id": "b", "rule_id": OVER, "grid_code": GRID_16, "severity": "high", "subject_key": ADDR_16}
    c = {"flag_id": "c", "rule_id": CONC, "grid_code": GRID_15, "subject_key": ADDR_15[:16]}
    d = {"flag_id": "d", "rule_id": CONC, "grid_code": None, "address_code": ADDR_15, "severity": "critical",
         "subject_key": "3201151010010002"}
    risk_flags.merge(spark, path, today_flags(spark, DAY1, [a, b, c]), DAY1, [OVER, CONC])
    # Day 2: b stops firing (resolved), d is new.
    risk_flags.merge(spark, path, today_flags(spark, DAY2, [a, c, d]), DAY2, [OVER, CONC])

    before = risk_summary.run(spark, profile, "2026-10-31")
    assert before["tables"] == {"risk_summary": 0} and "on or before 2026-10-31" in before["skipped"]
    assert not lake.table_exists(spark, profile.table_path("gold", "risk_summary"))

    assert risk_summary.run(spark, profile, DAY2) == {"tables": {"risk_summary": 3}}
    assert risk_summary.run(spark, profile, DAY1) == {"tables": {"risk_summary": 3}}  # backfill, after day 2 ran
    expected = {
        (D1, OVER, "3201", "320115"): counts(open=1, new=1, subjects=1),
        (D1, OVER, "3201", "320116"): counts(open=1, new=1, open_high=1, subjects=1),
        (D1, CONC, "3201", "320115"): counts(open=1, new=1, subjects=1),
        (D2, OVER, "3201", "320115"): counts(open=1, subjects=1),
        (D2, OVER, "3201", "320116"): counts(resolved=1),
        (D2, CONC, "3201", "320115"): counts(open=2, new=1, open_high=1, subjects=2),
    }
    assert summary_partitions(spark, profile) == expected

    # Re-running a date replaces its partition: same rows, nothing duplicated, the other day untouched.
    assert risk_summary.run(spark, profile, DAY2) == {"tables": {"risk_summary": 3}}
    assert risk_summary.run(spark, profile, DAY1) == {"tables": {"risk_summary": 3}}
    assert lake.read(spark, profile, "gold", "risk_summary").count() == 6
    assert summary_partitions(spark, profile) == expected
