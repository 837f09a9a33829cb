"""An hourly run lands only what is new (issue 11 item 5, issue 13's incremental work).

Hand-written hourly parts of ``gps_points`` through bronze ingest with ``incremental=True``, as
the hourly run calls it: the first run lands the parts so far, a re-run lands nothing and writes
nothing, the next hours land only their parts, a part delivered again with other bytes replaces
only its own rows, and the day-so-far counts reconcile with bronze and the quarantine every
time. ``tests/test_hourly.py`` runs whole hours on a generated province (tracks, rules, tasks)
and checks the incrementally placed reports against a placement of the whole day.
"""

from __future__ import annotations

import gzip

import pytest

from gridrisk.delivery import ManifestFile, delivery_folder, write_manifest

DAY = "2026-11-02"
HEADER = "车牌号,车牌颜色,定位时间,经度,纬度,速度,方向,报警标志,状态位"


def part_name(hour: int) -> str:
    return f"gps_points_20261102{hour:02d}.csv.gz"


def write_part(inbox, hour: int, rows: list[str]) -> None:
    folder = delivery_folder(inbox, "gps_points", DAY)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / part_name(hour)
    path.write_bytes(gzip.compress(("\n".join([HEADER, *rows]) + "\n").encode(), mtime=0))
    write_manifest(folder, "gps_points", DAY, "events", [ManifestFile.of(path, len(rows))], hour=hour)


def reports(hour: int, n: int, plate: str = "苏A00001") -> list[str]:
    """``n`` good reports of one vehicle in ``hour``, a minute apart."""
    return [f"{plate},黄,261102{hour:02d}{m:02d}00,118689202,31961969,{40 + m},90,0,2" for m in range(n)]


def test_a_part_that_failed_quality_keeps_the_day_so_far_failed_until_delivered_again():
    from jobs.bronze.ingest import carry_failed_parts

    landed = {part_name(0): {"quality_passed": True}, part_name(1): {"quality_passed": False},
              part_name(2): {"quality_passed": None}}  # landed without the gate
    verdict = {"dataset": "gps_points", "ds": DAY, "passed": True, "status": "passed", "message": "quality passed",
               "failed_expectations": []}
    carry_failed_parts(verdict, landed, relanded={part_name(3)})
    assert verdict["passed"] is False and verdict["status"] == "failed"
    assert f"part(s) {part_name(1)} landed earlier today failed their quality gate" in verdict["message"]
    assert verdict["failed_expectations"] == ["earlier_part_failed"]
    again = {"dataset": "gps_points", "ds": DAY, "passed": True, "status": "passed", "message": "ok"}
    carry_failed_parts(again, landed, relanded={part_name(1)})  # delivered again now: judged afresh
    assert again["passed"] is True and again["message"] == "ok"


@pytest.mark.spark
def test_hourly_parts_land_once_each_and_a_part_delivered_again_replaces_only_its_rows(spark, tmp_path):
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from gridrisk import lake
    from gridrisk.config import load_profile
    from jobs.bronze import ingest

    inbox = tmp_path / "inbox"
    profile = load_profile("local", env={}, workdir=str(tmp_path)).with_inbox(str(inbox))
    bronze, parts = profile.table_path("bronze", "gps_points"), profile.table_path("bronze", ingest.PARTS)

    def land(hour: int) -> ingest.IngestResult:
        result = ingest.run(spark, profile, "gps_points", DAY, hour=hour, incremental=True)
        assert result.status == "loaded", result.message
        return result

    def rows_by_file() -> dict[str, tuple[int, str]]:
        """file → (rows in bronze, the batch that landed them)."""
        df = lake.read_partition(spark, profile, "bronze", "gps_points", DAY)
        return {r["_source_file"]: (r["n"], r["b"]) for r in
                df.groupBy("_source_file").agg(F.count("*").alias("n"), F.first("_batch_id").alias("b")).collect()}

    def reconciles(result: ingest.IngestResult) -> None:
        quarantined = lake.read_partition(spark, profile, "bronze", ingest.QUARANTINE, DAY).count()
        in_bronze = sum(n for n, _ in rows_by_file().values())
        assert result.rows_read == result.rows_accepted + result.rows_quarantined
        assert (in_bronze, quarantined) == (result.rows_accepted, result.rows_quarantined)
        (logged,) = ingest.read_log(spark, profile, DAY)
        assert {k: logged[k] for k in ("status", "rows_read", "rows_accepted", "rows_quarantined", "files")} == {
            "status": "loaded", "rows_read": result.rows_read, "rows_accepted": result.rows_accepted,
            "rows_quarantined": result.rows_quarantined, "files": result.files}

    for hour, n in ((0, 3), (1, 5), (2, 4), (3, 6)):
        write_part(inbox, hour, reports(hour, n))

    first = land(1)
    assert first.new_files == [part_name(0), part_name(1)] and first.new_rows == 8
    assert (first.rows_read, first.files) == (8, [part_name(0), part_name(1)])
    reconciles(first)
    batch_01 = rows_by_file()[part_name(1)][1]

    # the same hour again (an Airflow retry): nothing new, nothing written
    versions = (DeltaTable.forPath(spark, bronze).history(1).first()["version"],
                DeltaTable.forPath(spark, parts).history(1).first()["version"])
    again = land(1)
    assert again.new_files == [] and again.new_rows == 0 and again.rows_read == 8
    assert "no new part since the last run" in again.message
    assert (DeltaTable.forPath(spark, bronze).history(1).first()["version"],
            DeltaTable.forPath(spark, parts).history(1).first()["version"]) == versions
    reconciles(again)

    # two hours later (hour 2's run missed): both parts land, the earlier ones stay as they were
    later = land(3)
    assert later.new_files == [part_name(2), part_name(3)] and later.new_rows == 10 and later.rows_read == 18
    by_file = rows_by_file()
    assert {f: n for f, (n, _) in by_file.items()} == {part_name(0): 3, part_name(1): 5, part_name(2): 4, part_name(3): 6}
    assert by_file[part_name(1)][1] == batch_01 and by_file[part_name(3)][1] != batch_01
    hour_3 = by_file[part_name(3)]
    reconciles(later)

    # hour 1's part delivered again (other bytes): one report less, one with a broken time
    write_part(inbox, 1, reports(1, 3) + ["苏A00001,黄,2611ZZ010500,118689202,31961969,40,90,0,2"])
    redelivered = land(3)
    assert redelivered.new_files == [part_name(1)] and redelivered.new_rows == 4
    assert (redelivered.rows_read, redelivered.rows_quarantined) == (17, 1)
    by_file = rows_by_file()
    assert by_file[part_name(1)][0] == 3 and by_file[part_name(1)][1] != batch_01
    assert by_file[part_name(3)] == hour_3  # untouched: same rows, same batch
    (bad,) = lake.read_partition(spark, profile, "bronze", ingest.QUARANTINE, DAY).collect()
    assert (bad["source_file"], bad["row_number"]) == (part_name(1), 4) and "2611ZZ010500" in bad["raw_text"]
    reconciles(redelivered)
    ledger = {r["source_file"]: r for r in ingest.read_parts(spark, profile, "gps_points", DAY).values()}
    assert [(ledger[part_name(h)]["rows_read"], ledger[part_name(h)]["rows_quarantined"]) for h in range(4)] == [
        (3, 0), (4, 1), (4, 0), (6, 0)]

    # the daily run of the day lands the whole delivery at once and the ledger with it
    folder = delivery_folder(inbox, "gps_points", DAY)
    write_manifest(folder, "gps_points", DAY, "events", [ManifestFile.of(folder / part_name(h), r)
                                                          for h, r in ((0, 3), (1, 4), (2, 4), (3, 6))])
    daily = ingest.run(spark, profile, "gps_points", DAY)
    assert (daily.status, daily.rows_read, daily.rows_quarantined, daily.new_files) == ("loaded", 17, 1, None)
    assert sorted(ingest.read_parts(spark, profile, "gps_points", DAY)) == [part_name(h) for h in range(4)]
    assert land(3).new_files == []  # an hour run after the daily run finds everything landed

