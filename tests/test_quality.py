"""Quality gate: suites derived from schemas/, row failures moved to quarantine, batch verdicts."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from gridrisk import ids, lake, quality
from gridrisk.config import ConfigError, repo_root, schema_names
from gridrisk.delivery import write_delivery
from jobs.bronze import ingest
from jobs.quality import validate

DS = "2026-11-01"
GPS_HEADER = "车牌号,车牌颜色,定位时间,经度,纬度,速度,方向,报警标志,状态位"
PERSONS_HEADER = "公民身份号码,姓名,性别,出生日期,联系电话,居住地址编码,登记日期"
VEHICLES_HEADER = "车牌号,车牌颜色,承运企业,道路运输证号,运输证有效期至,车辆类型"


def gps_delivery(profile, rows: list[str]) -> None:
    body = "\n".join([GPS_HEADER, *rows]) + "\n"
    write_delivery(profile.inbox, "gps_points", DS, "events",
                   {"gps_points_20261101.csv.gz": (gzip.compress(body.encode(), mtime=0), len(rows))})


def good_gps(i: int) -> str:
    return f"苏A1234{i % 10},黄,26110108{i // 60:02d}{i % 60:02d},118796877,32060255,655,90,0,3"


def quarantine(spark, profile, dataset):
    return lake.read_partition(spark, profile, "bronze", "_quarantine", DS).where(f"dataset = '{dataset}'")


# --------------------------------------------------------------------------- suites (no Spark)


def test_structural_expectations_are_derived_from_the_schema():
    checks = quality.structural_checks(quality.load_schema_or_none("gps_points"))
    got = [(c.name, c.kind, c.level, dict(c.params)) for c in checks if c.kind != "type"]
    assert got == [
        ("gps_points.columns_present", "columns_present", "batch",
         {"columns": ("plate_no", "plate_colour", "gps_ts", "lon", "lat", "speed_kmh", "heading_deg", "alarm_bits",
                      "status_bits")}),
        ("gps_points.plate_no.not_null", "not_null", "row", {}),
        ("gps_points.gps_ts.not_null", "not_null", "row", {}),
        ("gps_points.lon.not_null", "not_null", "row", {}),
        ("gps_points.lat.not_null", "not_null", "row", {}),
        ("gps_points.heading_deg.range", "between", "row", {"min": 0, "max": 359}),
    ]
    types = {c.column: c.params["type"] for c in checks if c.kind == "type"}
    assert types == {"plate_no": "StringType", "plate_colour": "StringType", "gps_ts": "TimestampType",
                     "lon": "DoubleType", "lat": "DoubleType", "speed_kmh": "DoubleType", "heading_deg": "IntegerType",
                     "alarm_bits": "LongType", "status_bits": "LongType"}
    # enum and pattern come from the schema too
    lic = {c.name: c for c in quality.structural_checks(quality.load_schema_or_none("driving_licences"))}
    assert lic["driving_licences.status.in_set"].params["values"][0] == "正常"
    assert lic["driving_licences.licence_classes.pattern"].params["regex"].startswith("^(A1|A2")


def test_every_bronze_table_and_silver_occupancy_has_a_valid_business_suite():
    for dataset in [*schema_names(), "silver_housing_occupancy"]:
        checks = quality.suite_checks(dataset)
        assert any(c.origin == "business" for c in checks), dataset
        for c in checks:
            assert c.level in ("row", "batch")
            if c.level == "batch" and c.origin == "business":
                assert c.threshold is not None, c.name
    # thresholds in conf/quality.yaml win over the YAML's own
    gps = {c.name: c for c in quality.suite_checks("gps_points")}
    assert gps["gps_points.one_row_per_key"].threshold == 0.95
    assert quality.policy("persons").max_bad_share == 0.05 and quality.policy("grids").max_bad_share == 0.0


def test_a_broken_expectation_file_lists_every_problem(tmp_path, monkeypatch):
    for sub in ("schemas", "conf", "expectations"):
        (tmp_path / sub).mkdir()
    root = str(repo_root())
    for name in ("persons.yaml",):
        (tmp_path / "schemas" / name).write_bytes(open(os.path.join(root, "schemas", name), "rb").read())
    (tmp_path / "conf" / "quality.yaml").write_text("default: {max_bad_share: 0.05}\n")
    (tmp_path / "expectations" / "persons.yaml").write_text(
        "dataset: persons\nexpectations:\n"
        "  - {name: a, kind: nope, level: row, column: id_no}\n"
        "  - {name: b, kind: between, level: row, column: no_such_column}\n"
        "  - {name: c, kind: unique_key, level: batch}\n")
    monkeypatch.setenv("GRIDRISK_HOME", str(tmp_path))
    quality.load_policy_file.cache_clear()
    try:
        with pytest.raises(ConfigError) as err:
            quality.business_checks("persons")
    finally:
        quality.load_policy_file.cache_clear()
    assert len(err.value.problems) == 3
    assert "'no_such_column' is not a column of persons" in str(err.value)
    assert "c): a batch expectation needs a threshold" in str(err.value)


# --------------------------------------------------------------------------- end to end on Spark


def test_gps_bad_rows_move_to_quarantine_with_name_and_value_and_counts_reconcile(spark, profile):
    # vehicles reference so the referential batch check runs
    write_delivery(profile.inbox, "hazmat_vehicles", DS, "snapshot", {"hazmat_vehicles_20261101.csv": (
        ("\n".join([VEHICLES_HEADER] + [f"苏A1234{i},黄,C,P{i},20271231,罐式" for i in range(10)]) + "\n").encode(), 10)})
    assert ingest.run(spark, profile, "hazmat_vehicles", DS).status == "loaded"
    rows = [good_gps(i) for i in range(96)] + [
        "苏A12341,黄,261101083001,32060255,118796877,100,90,0,3",  # lat/lon swapped
        "苏A12342,黄,261101083002,118796877,32060255,2500,90,0,3",  # 250 km/h
        "苏A12343,黄,261105083003,118796877,32060255,100,90,0,3",  # 4 days after the delivery date
        "苏A12344,黄,261101083004,118796877,32060255,100,400,0,3",  # heading 400: schema max 359
    ]
    gps_delivery(profile, rows)
    loaded = ingest.run(spark, profile, "gps_points", DS)
    assert (loaded.status, loaded.rows_accepted) == ("loaded", 100)

    result = validate.run(spark, profile, "gps_points", DS)

    assert result["passed"], result["message"]
    assert (result["rows_checked"], result["rows_failed"], result["rows_moved"]) == (100, 4, 4)
    q = {r.reason_code: r for r in quarantine(spark, profile, "gps_points").collect()}
    assert set(q) == {"gps_points.lon_in_jiangsu", "gps_points.speed_plausible",
                      "gps_points.gps_ts_in_delivery_window", "gps_points.heading_deg.range"}
    swapped = q["gps_points.lon_in_jiangsu"]
    assert swapped.reason == ("expectation gps_points.lon_in_jiangsu: column lon value '32.060255'; "
                              "expectation gps_points.lat_in_jiangsu: column lat value '118.796877'")
    assert swapped.source_file == "gps_points_20261101.csv.gz" and swapped.row_number == 97
    assert json.loads(swapped.raw_text)["plate_no"] == "苏A12341"
    assert "column speed_kmh value '250.0'" in q["gps_points.speed_plausible"].reason
    assert "column gps_ts value '2026-11-05 08:30:03'" in q["gps_points.gps_ts_in_delivery_window"].reason
    assert "column heading_deg value '400'" in q["gps_points.heading_deg.range"].reason
    # rows read = accepted + quarantined, against the ingest log
    assert lake.read_partition(spark, profile, "bronze", "gps_points", DS).count() == 96
    # GX and the Spark row flags agree on every row-level expectation
    exp = {e["name"]: e for e in result["expectations"]}
    for name in ("gps_points.speed_plausible", "gps_points.gps_ts_in_delivery_window"):
        assert exp[name]["unexpected_count"] == exp[name]["quarantined"] == 1
    assert exp["gps_points.lat_in_jiangsu"]["unexpected_count"] == 1  # same row as lon: moved once
    assert exp["gps_points.speed_plausible"]["unexpected_values"] == ["250.0"]
    assert exp["gps_points.plate_registered"]["success"] is True
    assert exp["gps_points.one_row_per_key"]["success"] is True
    assert os.path.isfile(result["data_docs"]) and result["data_docs"].endswith("data_docs/index.html")
    [log] = validate.read_quality_log(spark, profile, DS)
    assert log["success"] and log["rows_failed"] == 4 and log["data_docs"] == result["data_docs"]

    # Idempotent: a second run moves nothing and reaches the same verdict and counts.
    again = validate.run(spark, profile, "gps_points", DS, data_docs=False)
    assert (again["passed"], again["rows_failed"], again["rows_moved"]) == (True, 4, 0)
    assert quarantine(spark, profile, "gps_points").count() == 4
    assert lake.read_partition(spark, profile, "bronze", "gps_points", DS).count() == 96

    [s] = [r for r in validate.summary(spark, profile, DS) if r["dataset"] == "gps_points"]
    assert (s["rows_read"], s["rows_accepted"], s["rows_quarantined"], s["suite"]) == (100, 96, 4, "pass")
    assert s["quarantined_by_reason"]["gps_points.speed_plausible"] == 1
    text = validate.format_summary(validate.summary(spark, profile, DS))
    assert "gps_points" in text and "hazmat_vehicles" in text and "gps_points.speed_plausible: 1" in text


def test_a_batch_over_the_bad_share_threshold_fails_loudly_and_bad_ids_are_quarantined(spark, profile):
    good = ids.make_id("320115", __import__("datetime").date(1990, 1, 1), 123)
    legacy15 = good[:6] + good[8:17]  # repairable: stays
    bad_check = good[:17] + ("0" if good[17] != "0" else "1")  # repairable in silver: stays
    rows = [
        f"{good},张三,男,1990/01/01,,,2020/05/06",
        f"{legacy15},李四,男,1990/01/01,,,2020/05/06",
        f"{bad_check},王五,男,1990/01/01,,,2020/05/06",
        "ABC-not-an-id,赵六,男,1990/01/01,,,2020/05/06",  # malformed
        "320115199013451234,钱七,男,1990/01/01,,,2020/05/06",  # month 13: bad_date
        f"{good},孙八,男,1985/03/03,,,2020/05/06",  # birth date disagrees with the ID
        f"{good},周九,男,1990/01/01,,,2020/05/06",  # same ID twice more: duplicates (batch level)
    ]
    write_delivery(profile.inbox, "persons", DS, "snapshot", {"persons_20261101.csv": (
        ("\r\n".join([PERSONS_HEADER, *rows]) + "\r\n").encode("gbk"), len(rows))})
    assert ingest.run(spark, profile, "persons", DS).rows_accepted == 7

    result = validate.run(spark, profile, "persons", DS, data_docs=False)

    assert not result["passed"] and result["status"] == "failed"
    assert result["message"].startswith("QUALITY FAILED persons 2026-11-01: 1 of 7 rows (14.3%) failed row expectations")
    assert "more than the allowed 5.0%" in result["message"] and "downstream steps of persons" in result["message"]
    assert "batch expectation persons.one_row_per_key failed" in result["message"]
    assert "persons.address_exists" not in result["failed_expectations"]  # no addresses table: skipped
    skipped = {e["name"]: e for e in result["expectations"]}["persons.address_exists"]
    assert skipped["success"] is None and "skipped" in skipped["note"]
    q = {r.row_number: r for r in quarantine(spark, profile, "persons").collect()}
    assert set(q) == {4}
    assert q[4].reason == "expectation persons.id_check_character: column id_no value 'ABC-not-an-id'"
    # A typo'd ID (month 13) and a birth date that disagrees with the ID are measured at batch
    # level: the rows stay for entity resolution.
    kept = {r.name for r in lake.read_partition(spark, profile, "bronze", "persons", DS).collect()}
    assert kept == {"张三", "李四", "王五", "钱七", "孙八", "周九"}
    [log] = validate.read_quality_log(spark, profile, DS)
    assert log["success"] is False and abs(log["bad_share"] - 1 / 7) < 1e-9
    assert set(log["failed_expectations"]) == {"persons.id_check_character", "persons.birth_date_matches_id",
                                                "persons.one_row_per_key"}
    # the re-run keeps failing: the verdict is re-derived from the ingest log and the quarantine
    again = validate.run(spark, profile, "persons", DS, data_docs=False)
    assert (again["passed"], again["rows_failed"], again["rows_moved"]) == (False, 1, 0)


def test_validate_without_a_loaded_ingest_is_skipped_and_not_passed(spark, profile):
    result = validate.run(spark, profile, "waybills", DS)
    assert result["passed"] is False and result["status"] == "skipped"
    assert "no ingest log entry" in result["message"]


def test_the_gate_before_the_write_leaves_the_lake_and_verdict_of_ingest_then_validate(spark, tmp_path):
    """The pipeline's path (``pipeline.land``: the suite judges the parsed rows, then bronze and
    the quarantine are written once each) and the two-step path (ingest writes everything, the
    suite moves the failing rows) leave the same rows, quarantine, verdict and quality log."""
    from gridrisk.config import load_profile
    from jobs import pipeline

    rows = [good_gps(i) for i in range(60)] + [
        "苏A12342,黄,261101083002,118796877,32060255,2500,90,0,3",  # 250 km/h: an expectation
        "苏A12344,黄,261101083004,118796877,32060255,100,400,0,3",  # heading 400: the schema's range
        "苏A12345,黄,not-a-time,118796877,32060255,100,90,0,3",  # untypeable: ingest's quarantine
    ]
    seen = {}
    for way in ("two steps", "gate first"):
        profile = load_profile("local", env={}, workdir=str(tmp_path / way.replace(" ", "_")))
        write_delivery(profile.inbox, "hazmat_vehicles", DS, "snapshot", {"hazmat_vehicles_20261101.csv": (
            ("\n".join([VEHICLES_HEADER] + [f"苏A1234{i},黄,C,P{i},20271231,罐式" for i in range(10)]) + "\n").encode(),
            10)})
        gps_delivery(profile, rows)
        assert ingest.run(spark, profile, "hazmat_vehicles", DS).status == "loaded"
        if way == "two steps":
            loaded = ingest.run(spark, profile, "gps_points", DS)
            verdict = validate.run(spark, profile, "gps_points", DS, data_docs=False)
        else:
            loaded, verdict = pipeline.land(spark, profile, "gps_points", DS, log=True)
        assert (loaded.rows_read, loaded.rows_accepted, loaded.rows_quarantined) == (63, 62, 1)
        bronze = sorted(tuple(r) for r in lake.read_partition(spark, profile, "bronze", "gps_points", DS)
                        .drop("_ingest_ts").collect())
        moved = sorted(tuple(r) for r in quarantine(spark, profile, "gps_points").drop("_ingest_ts").collect())
        [log] = validate.read_quality_log(spark, profile, DS)
        seen[way] = {
            "bronze": bronze, "quarantine": moved,
            "verdict": {k: v for k, v in verdict.items() if k not in ("seconds", "data_docs", "rows_moved")},
            "log": {k: v for k, v in log.items() if k not in ("seconds", "data_docs", "rows_moved")},
        }
    assert len(seen["gate first"]["bronze"]) == 60 and len(seen["gate first"]["quarantine"]) == 3
    gated = seen["gate first"]["verdict"]
    assert gated["passed"] and gated["rows_failed"] == 2, gated["message"]
    assert seen["gate first"] == seen["two steps"]
