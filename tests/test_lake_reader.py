"""gridrisk.lake_reader: Delta tables read without a JVM, latest / partition / as of a logical date."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from gridrisk import lake_reader
from gridrisk.lake_reader import DateNotFound, TableNotFound


def _write(profile, table, rows, metadata=None, mode="append", partition_by=None):
    from deltalake import CommitProperties, write_deltalake

    data = pa.Table.from_pylist(rows, schema=pa.schema([("flag_id", pa.string()), ("status", pa.string()),
                                                        ("ds", pa.date32())]))
    props = CommitProperties(custom_metadata={"userMetadata": metadata}) if metadata else None
    write_deltalake(profile.table_path("gold", table), data, mode=mode, partition_by=partition_by,
                    commit_properties=props)


def _row(flag, status, ds):
    return {"flag_id": flag, "status": status, "ds": dt.date.fromisoformat(ds)}


def test_missing_table_is_named(profile):
    assert not lake_reader.exists(profile, "gold", "nothing")
    with pytest.raises(TableNotFound, match="gold/nothing: no Delta table at"):
        lake_reader.read(profile, "gold", "nothing")


def test_as_of_takes_the_last_run_on_or_before_the_date(profile):
    _write(profile, "t", [], mode="overwrite")  # an untagged creation commit (version 0)
    _write(profile, "t", [_row("a", "open", "2026-11-01")], metadata="ds=2026-11-01 rules=x")
    _write(profile, "t", [_row("b", "open", "2026-11-03")], metadata="ds=2026-11-03 rules=x")
    _write(profile, "t", [_row("c", "open", "2026-11-03")], metadata="gridrisk-write:123")  # not a run
    assert lake_reader.version_as_of(profile, "gold", "t", "2026-11-01") == 1
    assert lake_reader.version_as_of(profile, "gold", "t", "2026-11-02") == 1  # no run on the 2nd: the 1st's state
    assert lake_reader.version_as_of(profile, "gold", "t", "2026-11-30") == 2
    assert sorted(lake_reader.read(profile, "gold", "t", as_of="2026-11-02")["flag_id"]) == ["a"]
    assert sorted(lake_reader.read(profile, "gold", "t", as_of="2026-11-03")["flag_id"]) == ["a", "b"]
    assert sorted(lake_reader.read(profile, "gold", "t")["flag_id"]) == ["a", "b", "c"]
    with pytest.raises(DateNotFound, match="no pipeline run for a date on or before 2026-10-31; its first run is for 2026-11-01"):
        lake_reader.read(profile, "gold", "t", as_of="2026-10-31")
    with pytest.raises(ValueError, match="logical date must be YYYY-MM-DD"):
        lake_reader.read(profile, "gold", "t", as_of="1.11.2026")


def test_partitions_latest_and_missing(profile):
    _write(profile, "p", [_row("a", "open", "2026-11-01"), _row("b", "open", "2026-11-03")], partition_by=["ds"])
    assert lake_reader.partition_values(profile, "gold", "p") == ["2026-11-01", "2026-11-03"]
    day = lake_reader.read_partition(profile, "gold", "p", "2026-11-03")
    assert day["flag_id"].tolist() == ["b"] and day["ds"].tolist() == [dt.date(2026, 11, 3)]
    assert lake_reader.read_partition(profile, "gold", "p", "2026-11-02", latest=True)["flag_id"].tolist() == ["a"]
    with pytest.raises(DateNotFound, match="gold/p: no partition for 2026-11-02"):
        lake_reader.read_partition(profile, "gold", "p", "2026-11-02")
    with pytest.raises(DateNotFound, match="no partition on or before 2026-10-01"):
        lake_reader.read_partition(profile, "gold", "p", "2026-10-01", latest=True)
    with pytest.raises(ValueError, match="status is not a partition column"):
        lake_reader.read(profile, "gold", "p", partition={"status": "open"})
    assert lake_reader.read(profile, "gold", "p", partition={"ds": ["2026-11-01", "2026-11-03"]},
                            columns=["flag_id"]).columns.tolist() == ["flag_id"]


def test_commit_tags():
    c = lake_reader.Commit(3, None, "MERGE", "ds=2026-11-02 rules=abc evaluated=r1,r2")
    assert c.run_date == "2026-11-02" and c.tags == {"ds": "2026-11-02", "rules": "abc", "evaluated": "r1,r2"}
    assert lake_reader.Commit(1, None, "WRITE", "gridrisk-write:9f").run_date is None


def test_s3a_is_read_as_s3():
    from dataclasses import replace

    from gridrisk.config import load_profile

    prof = replace(load_profile("local", env={}), lake="s3a://lake/gridrisk")
    assert lake_reader.table_uri(prof, "gold", "risk_flags") == "s3://lake/gridrisk/gold/risk_flags"


@pytest.mark.slow
def test_reads_what_spark_wrote_as_flags_as_of_does(spark, profile):
    """delta-spark writes risk_flags with MERGE tagged ds=…; delta-rs resolves the same version
    as ``jobs.gold.risk_flags.flags_as_of`` and reads the same rows."""
    from jobs.gold.risk_flags import FLAG_SCHEMA, flags_as_of, merge

    path = profile.table_path("gold", "risk_flags")

    def flag(fid, day):
        d = dt.date.fromisoformat(day)
        return {"flag_id": fid, "rule_id": "r.one", "rule_version": 1, "subject_key": fid, "severity": "medium",
                "status": "open", "first_seen": d, "opened_on": d, "last_seen": d, "grid_code": "320115101001003"}

    full = [f.split()[0] for f in FLAG_SCHEMA.split(", ")]
    for day, ids in (("2026-11-01", ["a", "b"]), ("2026-11-02", ["b", "c"])):
        rows = [{c: flag(i, day).get(c) for c in full} for i in ids]
        merge(spark, path, spark.createDataFrame(rows, FLAG_SCHEMA), day, ["r.one"], tag="rules=t")
    for day in ("2026-11-01", "2026-11-02", "2026-11-05"):
        want = sorted((r["flag_id"], r["status"], r["last_seen"]) for r in flags_as_of(spark, profile, day).collect())
        got = lake_reader.read(profile, "gold", "risk_flags", as_of=day)
        assert sorted(zip(got["flag_id"], got["status"], got["last_seen"])) == want
    assert dict(zip(*[lake_reader.read(profile, "gold", "risk_flags", as_of="2026-11-02")[c]
                      for c in ("flag_id", "status")])) == {"a": "resolved", "b": "open", "c": "open"}
