"""The lake I/O layer: partition replacement across job versions."""

from __future__ import annotations

import pytest

from gridrisk import lake


def test_a_newer_job_adding_a_column_writes_into_an_older_table(spark, tmp_path):
    path = str(tmp_path / "t")
    lake.replace_partition(spark.createDataFrame([("2026-11-01", "a")], "ds string, x string")
                           .selectExpr("CAST(ds AS DATE) ds", "x"), path, {"ds": "2026-11-01"})
    newer = spark.createDataFrame([("2026-11-02", "b", 7)], "ds string, x string, y int").selectExpr("CAST(ds AS DATE) ds", "x", "y")
    written = lake.replace_partition(newer, path, {"ds": "2026-11-02"})
    assert written["numOutputRows"] == 1
    rows = {r["x"]: r["y"] for r in spark.read.format("delta").load(path).collect()}
    assert rows == {"a": None, "b": 7}
    # a retyped column is not silently accepted
    retyped = spark.createDataFrame([("2026-11-03", 1, 7)], "ds string, x int, y int").selectExpr("CAST(ds AS DATE) ds", "x", "y")
    with pytest.raises(Exception, match="(?i)merge|schema|type"):
        lake.replace_partition(retyped, path, {"ds": "2026-11-03"})
