"""The change detection of incremental rule runs (jobs/gold/incremental.py), on hand-made rows.

The end-to-end equivalence with a full run is tests/test_person_rules.py
(test_an_incremental_day_equals_a_full_recompute)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from jobs.gold.incremental import subject_changes

SCHEMA = "person_key string, status string, valid_until date, last_use_date date, rehab_release_date date, ds date"
PREV, TODAY = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
D = dt.date.fromisoformat


def rows(day: dt.date, data: list[tuple]) -> list[tuple]:
    return [(*r, day) for r in data]


def test_a_subject_is_changed_exactly_when_its_rows_differ_between_the_days(spark):
    same = [("same", "正常", D("2030-01-01"), None, None)]
    prev = rows(PREV, same + [
        ("altered", "正常", D("2030-01-01"), None, None),
        ("removed", "正常", D("2030-01-01"), None, None),
        ("swapped", "正常", None, D("2024-01-01"), None),       # the date moves to the next column
        ("doubled", "正常", D("2030-01-01"), None, None),
        ("reordered", "正常", D("2030-01-01"), None, None), ("reordered", "注销", D("2020-01-01"), None, None),
    ])
    today = rows(TODAY, same + [
        ("altered", "注销", D("2030-01-01"), None, None),
        ("added", "正常", D("2030-01-01"), None, None),
        ("swapped", "正常", None, None, D("2024-01-01")),
        ("doubled", "正常", D("2030-01-01"), None, None), ("doubled", "正常", D("2030-01-01"), None, None),
        ("reordered", "注销", D("2020-01-01"), None, None), ("reordered", "正常", D("2030-01-01"), None, None),
        (None, "正常", D("2030-01-01"), None, None),            # no subject: never a change
    ])
    t, p = spark.createDataFrame(today, SCHEMA), spark.createDataFrame(prev, SCHEMA)
    out = {r["subject_key"]: r["changed"] for r in subject_changes(t, p, "person_key").collect()}
    assert out == {"altered": True, "removed": True, "added": True, "swapped": True, "doubled": True}


def test_a_day_test_that_flips_marks_its_subject_without_a_change(spark):
    data = [("expires_yesterday", "正常", PREV, None, None), ("valid", "正常", D("2030-01-01"), None, None)]
    t = spark.createDataFrame(rows(TODAY, data), SCHEMA)
    p = spark.createDataFrame(rows(PREV, data), SCHEMA)

    def valid(day):
        return F.coalesce(F.col("valid_until") >= day, F.lit(False))

    flips = {"_due_x": ~valid(F.lit(PREV)).eqNullSafe(valid(F.lit(TODAY)))}
    out = [r.asDict() for r in subject_changes(t, p, "person_key", flips).collect()]
    assert out == [{"subject_key": "expires_yesterday", "changed": False, "_due_x": True}]
