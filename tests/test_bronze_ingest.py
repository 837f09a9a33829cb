"""Bronze ingest on tiny hand-written deliveries that follow shared/extracts.md."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest

from gridrisk import lake
from gridrisk.delivery import delivery_folder, write_delivery
from jobs.bronze import ingest

DS = "2026-11-01"
PERSONS_HEADER = "公民身份号码,姓名,性别,出生日期,联系电话,居住地址编码,登记日期"
FIRE_UNITS_HEADER = "单位编号,单位名称,标准地址编码,单位类别,最近年度检测日期,联网状态"


def persons_file(rows: list[str]) -> bytes:
    return ("\r\n".join([PERSONS_HEADER, *rows]) + "\r\n").encode("gbk")


def deliver(profile, dataset, files, kind="snapshot", ds=DS):
    return write_delivery(profile.inbox, dataset, ds, kind, files)


def bronze(spark, profile, table):
    return lake.read_partition(spark, profile, "bronze", table, DS)


def quarantine(spark, profile, dataset):
    return {
        (r.row_number, r.reason_code): r
        for r in bronze(spark, profile, ingest.QUARANTINE).where(f"dataset = '{dataset}'").collect()
    }


def test_persons_gbk_rows_are_typed_and_every_bad_row_is_quarantined(spark, profile):
    rows = [
        "320115199001011234,张三,男,1990/01/01,+86 138 0000 0000,32011510100100010001,2020/05/06",
        '32011519900101123x,"李,四",女,1990/1/2,13800000001,,2021/01/01',  # quoted comma, lower x
        "320115199001011234,王五,男,1990/13/45,13800000002,,2021/01/01",  # month 13
        "320115199001011234,赵六,男",  # too few fields
        "３２０１１５１９９００１０１１２３４,钱七,男,1990-01-03,,,",  # full-width, other date format
    ]
    deliver(profile, "persons", {"persons_20261101.csv": (persons_file(rows), 5)})
    result = ingest.run(spark, profile, "persons", DS)

    assert result.status == "loaded", result.message
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (5, 3, 2)
    got = {r.name: r for r in bronze(spark, profile, "persons").collect()}
    assert got["张三"].birth_date == dt.date(1990, 1, 1)
    assert got["张三"].phone == "+86 138 0000 0000"
    assert got["李,四"].id_no == "32011519900101123x"  # bronze keeps the ID as delivered
    assert got["李,四"].birth_date == dt.date(1990, 1, 2)
    assert got["钱七"].birth_date == dt.date(1990, 1, 3)
    assert got["张三"]._source_file == "persons_20261101.csv" and got["张三"]._row_number == 1
    assert got["张三"].ds == dt.date(2026, 11, 1)
    q = quarantine(spark, profile, "persons")
    assert set(q) == {(3, "birth_date:bad_date"), (4, "record:unparsable")}
    assert "出生日期 (birth_date): expected a date yyyy/MM/dd, got '1990/13/45'" in q[(3, "birth_date:bad_date")].reason
    assert q[(4, "record:unparsable")].reason == "expected 7 fields, found 3"
    assert q[(4, "record:unparsable")].raw_text == "320115199001011234,赵六,男"
    assert result.reasons == {"birth_date:bad_date": 1, "record:unparsable": 1}


def test_quoted_newline_keeps_row_numbers_and_raw_text(spark, profile):
    body = FIRE_UNITS_HEADER + '\nU1,"商场\n东区",32011510100100010001,人员密集场所,2025-11-01,在线\nU2,工厂,,一般单位,not-a-date,离线'
    deliver(profile, "fire_units", {"fire_units_20261101.csv": (body.encode(), 2)})
    result = ingest.run(spark, profile, "fire_units", DS)
    assert (result.status, result.rows_read, result.rows_accepted, result.rows_quarantined) == ("loaded", 2, 1, 1)
    [row] = bronze(spark, profile, "fire_units").collect()
    assert row.unit_name == "商场\n东区" and row.last_inspection_date == dt.date(2025, 11, 1)
    [q] = quarantine(spark, profile, "fire_units").values()
    assert (q.row_number, q.line_number, q.raw_text) == (2, 4, "U2,工厂,,一般单位,not-a-date,离线")


def test_rerun_of_the_same_date_replaces_only_that_partition(spark, profile):
    rows = ["320115199001011234,张三,男,1990/01/01,,,2020/05/06"]
    deliver(profile, "persons", {"persons_20261101.csv": (persons_file(rows), 1)})
    deliver(profile, "persons", {"persons_20261102.csv": (persons_file(rows * 2), 2)}, ds="2026-11-02")
    for _ in range(2):
        assert ingest.run(spark, profile, "persons", DS).status == "loaded"
    assert ingest.run(spark, profile, "persons", "2026-11-02").rows_accepted == 2
    first = ingest.run(spark, profile, "persons", DS)
    table = lake.read(spark, profile, "bronze", "persons")
    assert {(r.ds.isoformat(), r["count"]) for r in table.groupBy("ds").count().collect()} == {
        ("2026-11-01", 1), ("2026-11-02", 2)}
    # A correction re-sent for the same date replaces the old delivery.
    deliver(profile, "persons", {"persons_20261101.csv": (persons_file(rows * 3), 3)})
    second = ingest.run(spark, profile, "persons", DS)
    assert (first.rows_accepted, second.rows_accepted) == (1, 3)
    assert bronze(spark, profile, "persons").count() == 3
    log = {r["dataset"]: r for r in ingest.read_log(spark, profile, DS)}
    assert log["persons"]["rows_accepted"] == 3 and log["persons"]["status"] == "loaded"


def test_no_manifest_means_not_ready(spark, profile):
    folder = delivery_folder(profile.inbox, "persons", DS)
    folder.mkdir(parents=True)
    (folder / "persons_20261101.csv").write_bytes(persons_file([]))
    result = ingest.run(spark, profile, "persons", DS)
    assert result.status == "not_ready" and "no manifest.json yet" in result.message


@pytest.mark.parametrize(
    "tamper, expected",
    [
        (lambda m: m["files"][0].update(rows=2), "1 data rows but the manifest says 2"),
        (lambda m: m["files"][0].update(sha256="0" * 64), "does not match the manifest"),
        (lambda m: m.update(date="2026-10-31"), "date is '2026-10-31' but the folder is 20261101"),
    ],
)
def test_manifest_mismatch_rejects_the_whole_delivery(spark, profile, tamper, expected):
    rows = ["320115199001011234,张三,男,1990/01/01,,,2020/05/06"]
    folder = deliver(profile, "persons", {"persons_20261101.csv": (persons_file(rows), 1)})
    manifest = json.loads((folder / "manifest.json").read_text())
    tamper(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = ingest.run(spark, profile, "persons", DS)
    assert result.status == "rejected" and expected in result.message
    assert not lake.table_exists(spark, profile.table_path("bronze", "persons"))


def test_unreadable_file_stops_the_dataset_with_file_line_and_expectation(spark, profile):
    utf8_rows = "\n".join([PERSONS_HEADER, "320115199001011234,张三,男,1990/01/01,,,2020/05/06"]).encode("utf-8")
    deliver(profile, "persons", {"persons_20261101.csv": (utf8_rows, 1)})  # declared GBK
    result = ingest.run(spark, profile, "persons", DS)
    assert result.status == "failed"
    assert "persons_20261101.csv, line 1: not valid gbk" in result.message
    assert "the file decodes as utf-8" in result.message

    deliver(profile, "fire_units", {"fire_units_20261101.csv": ("单位编号,单位名称\nU1,x\n".encode(), 1)})
    result = ingest.run(spark, profile, "fire_units", DS)
    assert result.status == "failed"
    assert "line 1: wrong header: missing column(s) 标准地址编码" in result.message


def test_gps_gzip_scaled_coordinates_and_jt808_time(spark, profile):
    body = "车牌号,车牌颜色,定位时间,经度,纬度,速度,方向,报警标志,状态位\n苏A12345,黄,261101083015,118796877,32060255,655,90,1,3\n"
    deliver(profile, "gps_points", {"gps_points_20261101.csv.gz": (gzip.compress(body.encode(), mtime=0), 1)},
            kind="events")
    result = ingest.run(spark, profile, "gps_points", DS)
    assert result.status == "loaded" and result.rows_accepted == 1
    [p] = bronze(spark, profile, "gps_points").collect()
    assert (p.lon, p.lat, p.speed_kmh, p.heading_deg) == (118.796877, 32.060255, 65.5, 90)
    assert p.gps_ts == dt.datetime(2026, 11, 1, 8, 30, 15)


def test_waybill_json_lines(spark, profile):
    good = {"waybillNo": "W1", "plateNo": "苏A12345", "driverIdCard": "320115199001011234", "escortIdCard": None,
            "quantityKg": 12000.5, "planDepartTime": "2026-11-01T08:00:00+08:00", "status": "departed"}
    lines = [json.dumps(good, ensure_ascii=False), "{not json", json.dumps({**good, "waybillNo": None})]
    deliver(profile, "waybills", {"waybills_20261101.jsonl": ("\n".join(lines).encode(), 3)}, kind="events")
    result = ingest.run(spark, profile, "waybills", DS)
    assert (result.rows_accepted, result.rows_quarantined) == (1, 2)
    [w] = bronze(spark, profile, "waybills").collect()
    assert w.escort_id_no is None and w.quantity_kg == 12000.5
    assert w.plan_depart_ts == dt.datetime(2026, 11, 1, 8, 0, 0)
    assert {q.reason_code for q in quarantine(spark, profile, "waybills").values()} == {
        "record:unparsable", "waybill_no:missing"}


def test_fast_path_and_python_reader_load_the_same_rows_and_reasons(spark, profile):
    """A big-enough file with a broken record and a bad date in the middle: the Arrow fast path
    (with the Python reader's verdict on the broken record) loads exactly what the Python reader
    alone loads — rows, row and line numbers, raw text, reasons — and the counts reconcile."""
    rows = [f"U{i},\"商场,{i}\",32011510100100010001,人员密集场所,2026-01-0{1 + i % 9},在线" for i in range(1, 3001)]
    rows[1499] = "U1500,断行"  # line 1501: too few fields
    rows[1999] = 'U2000,"东区\n二楼",32011510100100010001,人员密集场所,2026-13-01,在线'  # bad date, two lines
    deliver(profile, "fire_units", {"fire_units_20261101.csv": (("\r\n".join([FIRE_UNITS_HEADER, *rows]) + "\r\n").encode(), 3000)})
    got = {}
    for fast in (False, True):
        result = ingest.run(spark, profile, "fire_units", DS, fast=fast)
        assert (result.status, result.rows_read, result.rows_accepted, result.rows_quarantined) == \
            ("loaded", 3000, 2998, 2), result.message
        assert result.reasons == {"record:unparsable": 1, "last_inspection_date:bad_date": 1}
        table = {(r._row_number, r.unit_id, r.unit_name, r.last_inspection_date)
                 for r in bronze(spark, profile, "fire_units").collect()}
        q = {(r.row_number, r.line_number, r.raw_text, r.reason) for r in
             bronze(spark, profile, ingest.QUARANTINE).where("dataset = 'fire_units'").collect()}
        got[fast] = (table, q)
    assert got[True] == got[False]
    table, q = got[True]
    assert (2001, "U2001", "商场,2001", dt.date(2026, 1, 4)) in table  # after the two-line record
    assert q == {(1500, 1501, "U1500,断行", "expected 6 fields, found 2"),
                 (2000, 2001, 'U2000,"东区\n二楼",32011510100100010001,人员密集场所,2026-13-01,在线',
                  "column 最近年度检测日期 (last_inspection_date): expected a date yyyy-MM-dd, got '2026-13-01'")}


def fire_units_file(bad_date: str | None = None) -> tuple[bytes, int]:
    """Three fire units; with ``bad_date``, U3's inspection date is that (typing quarantines it)."""
    units = [f"U{i},商场{i},32011510100100010001,人员密集场所,{bad_date if bad_date and i == 3 else '2026-01-01'},在线"
             for i in range(1, 4)]
    return ("\n".join([FIRE_UNITS_HEADER, *units]) + "\n").encode(), 3


def test_pipeline_ingest_commits_each_table_once_per_run_and_builds_the_docs_once(spark, profile):
    """The ingest log, the quality log and the quarantine get one commit per run whatever the
    number of datasets; a re-run clears what the earlier run quarantined; counts reconcile."""
    from jobs import pipeline
    from jobs.quality import validate

    deliver(profile, "fire_units", {"fire_units_20261101.csv": fire_units_file(bad_date="2026-13-45")})
    events = "事件编号,单位编号,设备编号,事件类型,发生时间,确认结果,恢复时间\nE1,U1,D1,故障,2026-11-01 08:00:00,,\n"
    deliver(profile, "fire_events", {"fire_events_20261101.csv": (events.encode(), 1)}, kind="events")
    out = pipeline.ingest(DS, profile, datasets=["fire_units", "fire_events", "persons"])  # persons: not delivered
    status = {r["dataset"]: r["status"] for r in out["results"]}
    assert status == {"fire_units": "loaded", "fire_events": "loaded", "persons": "not_ready"}
    for table in (ingest.INGEST_LOG, validate.QUALITY_LOG, ingest.QUARANTINE):
        assert [h["operation"] for h in lake.history(spark, profile.table_path("bronze", table))] == ["WRITE"], table
    assert {r["dataset"]: r["status"] for r in ingest.read_log(spark, profile, DS)} == {
        "fire_events": "loaded", "fire_units": "loaded", "persons": "not_ready"}
    units = {r["dataset"]: r for r in out["results"]}["fire_units"]
    assert (units["rows_read"], units["rows_accepted"], units["rows_quarantined"]) == (3, 2, 1)
    assert set(quarantine(spark, profile, "fire_units")) == {(3, "last_inspection_date:bad_date")}
    assert {r.unit_id for r in bronze(spark, profile, "fire_units").collect()} == {"U1", "U2"}
    assert {r["dataset"] for r in validate.read_quality_log(spark, profile, DS)} == {"fire_events", "fire_units"}
    index = (validate.docs_site(profile).index).read_text(encoding="utf-8")
    assert "bronze.fire_units" in index and "bronze.fire_events" in index

    # The department sends a corrected file; the re-run replaces the quarantine's rows of that day.
    deliver(profile, "fire_units", {"fire_units_20261101.csv": fire_units_file()})
    pipeline.ingest(DS, profile, datasets=["fire_units", "fire_events", "persons"])
    assert [h["operation"] for h in lake.history(spark, profile.table_path("bronze", ingest.QUARANTINE))] == ["WRITE"] * 2
    assert quarantine(spark, profile, "fire_units") == {}
    assert {r.unit_id for r in bronze(spark, profile, "fire_units").collect()} == {"U1", "U2", "U3"}


def test_pipeline_ingest_marks_datasets_failed_when_their_quarantine_cannot_be_written(spark, profile, monkeypatch):
    from jobs import pipeline

    deliver(profile, "fire_units", {"fire_units_20261101.csv": fire_units_file(bad_date="2026-13-45")})

    def broken(self, profile):
        raise OSError("disk full")

    monkeypatch.setattr(ingest.QuarantineBatch, "write", broken)
    with pytest.raises(OSError, match="disk full"):
        pipeline.ingest(DS, profile, datasets=["fire_units", "persons"])
    log = {r["dataset"]: r for r in ingest.read_log(spark, profile, DS)}
    assert log["persons"]["status"] == "not_ready"
    assert log["fire_units"]["status"] == "failed"
    assert "quarantined rows could not be written" in log["fire_units"]["message"]
    assert "disk full" in log["fire_units"]["message"]
