"""Bad deliveries through bronze ingest (and the quality gate where it is the one that catches them).

Every case ends either with quarantined rows that carry a reason, or with a clear error naming
the file, the line and what was expected — and always with rows read = accepted + quarantined
and no accepted table damaged. Inputs are generated here, small, in the contract's formats.
"""

from __future__ import annotations

import datetime as dt
import gzip
import random

import pytest

from gridrisk import ids, lake
from gridrisk.delivery import write_delivery
from jobs.bronze import ingest
from jobs.quality import validate

DS = "2026-11-01"
FIRE_UNITS_HEADER = "单位编号,单位名称,标准地址编码,单位类别,最近年度检测日期,联网状态"
PERSONS_HEADER = "公民身份号码,姓名,性别,出生日期,联系电话,居住地址编码,登记日期"
ADDRESSES_HEADER = "标准地址编码,地址,经度,纬度,网格编码,地址类型"
ADDR = "32011510100100010001"


def unit(i: int, name: str = "商场") -> str:
    return f"U{i},{name}{i},{ADDR},人员密集场所,2026-01-0{1 + i % 9},在线"


def fire_units(rows: list[str], header: str = FIRE_UNITS_HEADER, end: str = "\n") -> bytes:
    return ("\n".join([header, *rows]) + end).encode("utf-8")


def deliver(profile, dataset, data: bytes, rows: int, ds: str = DS, name: str | None = None, kind="snapshot"):
    day = dt.date.fromisoformat(ds).strftime("%Y%m%d")
    ext = "jsonl" if dataset == "waybills" else "csv"
    return write_delivery(profile.inbox, dataset, ds, kind, {name or f"{dataset}_{day}.{ext}": (data, rows)})


def reconciles(spark, profile, result, dataset: str, ds: str = DS) -> None:
    """rows read = accepted + quarantined, in the result and in the tables."""
    assert result.rows_read == result.rows_accepted + result.rows_quarantined
    if result.status != "loaded":
        assert (result.rows_accepted, result.rows_quarantined) == (0, 0)
        return
    accepted = lake.read_partition(spark, profile, "bronze", dataset, ds).count()
    quarantined = lake.read_partition(spark, profile, "bronze", "_quarantine", ds).where(f"dataset = '{dataset}'").count()
    assert (accepted, quarantined) == (result.rows_accepted, result.rows_quarantined)


def no_table(spark, profile, dataset) -> bool:
    return not lake.table_exists(spark, profile.table_path("bronze", dataset))


# --------------------------------------------------------------------------- whole-file problems: a clear error


@pytest.mark.parametrize(
    "case, data, rows, expected",
    [
        pytest.param("empty_file", b"", 2, "fire_units_20261101.csv, line 1: empty file (0 bytes) but the manifest says "
                     "2 row(s): expected the header 单位编号,单位名称", id="empty_file"),
        pytest.param("blank_file", b"\r\n", 2, "fire_units_20261101.csv, line 1: empty file but the manifest says 2 row(s): "
                     "expected the header 单位编号,单位名称", id="blank_file"),
        ("missing_column", fire_units([unit(1).rsplit(",", 1)[0]], header=FIRE_UNITS_HEADER.rsplit(",", 1)[0]), 1,
         "fire_units_20261101.csv, line 1: wrong header: missing column(s) 联网状态"),
        ("extra_column", fire_units([unit(1) + ",x"], header=FIRE_UNITS_HEADER + ",备注"), 1,
         "fire_units_20261101.csv, line 1: wrong header: unknown column(s) 备注"),
        ("gbk_declared_utf8", fire_units([unit(1)]).decode().encode("gbk"), 1,
         "fire_units_20261101.csv, line 1: not valid utf-8"),
        ("wrong_encoding_utf16", fire_units([unit(1)]).decode().encode("utf-16"), 1,
         "fire_units_20261101.csv, line 1: not valid utf-8"),
        ("binary_garbage", bytes(random.Random(7).randrange(256) for _ in range(4096)), 3,
         "fire_units_20261101.csv, line "),
    ],
)
def test_unreadable_file_fails_the_dataset_naming_file_and_line(spark, profile, case, data, rows, expected):
    deliver(profile, "fire_units", data, rows)
    result = ingest.run(spark, profile, "fire_units", DS)
    assert result.status == "failed", (case, result.message)
    assert expected in result.message, (case, result.message)
    reconciles(spark, profile, result, "fire_units")
    assert no_table(spark, profile, "fire_units")


def test_gbk_file_hint_says_which_encoding_it_is(spark, profile):
    deliver(profile, "fire_units", fire_units([unit(1)]).decode().encode("gbk"), 1)
    result = ingest.run(spark, profile, "fire_units", DS)
    assert "the file decodes as gb18030" in result.message


def test_a_bad_correction_leaves_the_loaded_partition_intact(spark, profile):
    deliver(profile, "fire_units", fire_units([unit(1), unit(2)]), 2)
    assert ingest.run(spark, profile, "fire_units", DS).rows_accepted == 2
    deliver(profile, "fire_units", b"\x00\x01garbage\xff" * 100, 1)  # the re-sent "correction" is garbage
    result = ingest.run(spark, profile, "fire_units", DS)
    assert result.status == "failed" and "fire_units_20261101.csv, line 1" in result.message
    assert {r.unit_id for r in lake.read_partition(spark, profile, "bronze", "fire_units", DS).collect()} == {"U1", "U2"}


def test_file_for_the_wrong_date_is_rejected_and_nothing_loads(spark, profile):
    deliver(profile, "fire_units", fire_units([unit(1)]), 1, name="fire_units_20261102.csv")
    result = ingest.run(spark, profile, "fire_units", DS)
    assert result.status == "rejected"
    assert "file fire_units_20261102.csv is for 20261102, not 20261101" in result.message
    reconciles(spark, profile, result, "fire_units")
    assert no_table(spark, profile, "fire_units")


# --------------------------------------------------------------------------- row problems: quarantined with a reason


def test_header_only_loads_zero_rows(spark, profile):
    deliver(profile, "fire_units", fire_units([]), 0)
    result = ingest.run(spark, profile, "fire_units", DS)
    assert (result.status, result.rows_read, result.rows_accepted) == ("loaded", 0, 0), result.message
    reconciles(spark, profile, result, "fire_units")


FIRE_EVENTS_HEADER = "事件编号,单位编号,设备编号,事件类型,发生时间,确认结果,恢复时间"


@pytest.mark.parametrize("dataset, name, data", [
    ("fire_events", "fire_events_20261101.csv", (FIRE_EVENTS_HEADER + "\n").encode()),  # header only
    ("fire_events", "fire_events_20261101.csv", b""),  # nothing at all, and the manifest says so
    ("waybills", "waybills_20261101.jsonl", b""),  # an empty JSON-lines file
    ("gps_points", "gps_points_20261101.csv.gz", gzip.compress("车牌号,车牌颜色,定位时间,经度,纬度,速度,方向,报警标志,状态位\n".encode())),
])
def test_an_events_delivery_declaring_rows_0_is_a_valid_empty_delivery(spark, profile, dataset, name, data):
    """shared/extracts.md: a day with nothing to deliver is a file with no data rows and a
    manifest that says ``rows: 0`` — loaded as 0 rows, not rejected as an empty file."""
    deliver(profile, dataset, data, 0, name=name, kind="events")
    result = ingest.run(spark, profile, dataset, DS)
    assert (result.status, result.rows_read, result.rows_accepted, result.rows_quarantined) == ("loaded", 0, 0, 0), \
        result.message
    assert result.files == [name]
    reconciles(spark, profile, result, dataset)
    log = {r["dataset"]: r for r in ingest.read_log(spark, profile, DS)}
    assert log[dataset]["status"] == "loaded"


def test_an_empty_jsonl_file_declared_with_rows_is_an_error_naming_it(spark, profile):
    deliver(profile, "waybills", b"", 3, name="waybills_20261101.jsonl", kind="events")
    result = ingest.run(spark, profile, "waybills", DS)
    assert result.status == "failed"
    assert "waybills_20261101.jsonl, line 1: empty file (0 bytes) but the manifest says 3 row(s): expected JSON lines" \
        in result.message


def test_truncated_last_line_is_quarantined_with_its_row_and_line(spark, profile):
    data = fire_units([unit(1), unit(2), "U3,工厂3,3201"], end="")  # cut mid-record, no final newline
    deliver(profile, "fire_units", data, 3)
    result = ingest.run(spark, profile, "fire_units", DS)
    assert (result.status, result.rows_accepted, result.rows_quarantined) == ("loaded", 2, 1), result.message
    [q] = lake.read_partition(spark, profile, "bronze", "_quarantine", DS).collect()
    assert (q.row_number, q.line_number, q.raw_text, q.reason) == (3, 4, "U3,工厂3,3201", "expected 6 fields, found 3")
    reconciles(spark, profile, result, "fire_units")


def test_reordered_columns_are_mapped_by_header_name(spark, profile):
    cols = FIRE_UNITS_HEADER.split(",")
    order = [5, 3, 0, 4, 2, 1]
    rows = [",".join(unit(i).split(",")[j] for j in order) for i in (1, 2)]
    deliver(profile, "fire_units", fire_units(rows, header=",".join(cols[j] for j in order)), 2)
    result = ingest.run(spark, profile, "fire_units", DS)
    assert (result.status, result.rows_accepted) == ("loaded", 2), result.message
    got = {r.unit_id: r for r in lake.read_partition(spark, profile, "bronze", "fire_units", DS).collect()}
    assert got["U1"].unit_name == "商场1" and got["U1"].network_status == "在线"
    assert got["U2"].last_inspection_date == dt.date(2026, 1, 3)
    reconciles(spark, profile, result, "fire_units")


def test_a_10mb_single_line_is_quarantined_not_loaded(spark, profile):
    huge = "U9," + "楼" * (10 * 1024 * 1024 // 3) + f",{ADDR},一般单位,2026-01-01,在线"
    deliver(profile, "fire_units", fire_units([unit(1), huge]), 2)
    result = ingest.run(spark, profile, "fire_units", DS)
    assert (result.status, result.rows_accepted, result.rows_quarantined) == ("loaded", 1, 1), result.message
    [q] = lake.read_partition(spark, profile, "bronze", "_quarantine", DS).collect()
    assert q.row_number == 2 and q.reason.startswith("field longer than 65536 characters")
    reconciles(spark, profile, result, "fire_units")


def test_duplicate_delivery_replaces_and_duplicate_parts_fail_the_key_expectation(spark, profile):
    data = fire_units([unit(i) for i in range(1, 11)])
    deliver(profile, "fire_units", data, 10)
    first = ingest.run(spark, profile, "fire_units", DS)
    deliver(profile, "fire_units", data, 10)  # the very same file sent again
    second = ingest.run(spark, profile, "fire_units", DS)
    assert (first.rows_accepted, second.rows_accepted) == (10, 10)
    assert lake.read_partition(spark, profile, "bronze", "fire_units", DS).count() == 10
    # the same file delivered twice inside one delivery, as two parts: loaded, then caught by quality
    write_delivery(profile.inbox, "fire_units", DS, "snapshot",
                   {"fire_units_20261101_part01.csv": (data, 10), "fire_units_20261101_part02.csv": (data, 10)})
    result = ingest.run(spark, profile, "fire_units", DS)
    assert (result.status, result.rows_read, result.rows_accepted) == ("loaded", 20, 20)
    reconciles(spark, profile, result, "fire_units")
    checked = validate.run(spark, profile, "fire_units", DS, data_docs=False)
    assert not checked["passed"]
    assert "batch expectation fire_units.one_row_per_key failed (20 of 20 rows unexpected" in checked["message"]
    assert lake.read_partition(spark, profile, "bronze", "fire_units", DS).count() == 20  # batch level: nothing moved


def damaged_ids() -> dict[str, tuple[str, str]]:
    """name → (ID as delivered, expected ids.normalise_id status)."""
    good = ids.make_id("320115", dt.date(1990, 1, 1), 123)
    with_x = next(i for i in (ids.make_id("320115", dt.date(1990, 1, 1), s) for s in range(1000)) if i.endswith("X"))
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in good)
    return {
        "valid": (good, "valid"),
        "lower_x": (with_x.lower(), "valid"),
        "full_width": (full_width, "valid"),
        "spaces_and_quote": (f" '{good[:6]} {good[6:]}", "valid"),
        "legacy_15": (good[:6] + good[8:17], "repaired_15"),
        "bad_check": (good[:17] + ("1" if good[17] != "1" else "2"), "bad_check"),
        "excel_000": (good[:15] + "000", "truncated"),
        "excel_sci": ("3.20115199E+17", "truncated"),
        "too_short": (good[:12], "truncated"),
        "bad_date": ("320115199002301234", "bad_date"),
        "letters": ("32011519900101ABCD", "malformed"),
        "missing": ("", "missing"),
    }


def test_ids_with_every_kind_of_damage_only_unusable_ones_are_quarantined(spark, profile):
    cases = damaged_ids()
    for name, (raw, status) in cases.items():
        assert ids.normalise_id(raw).status == status, name  # the test data means what it says
    rows = [f"{raw},{name},男,1990/01/01,,,2020/05/06" for name, (raw, _) in cases.items()]
    deliver(profile, "persons", ("\r\n".join([PERSONS_HEADER, *rows]) + "\r\n").encode("gbk"), len(rows))
    loaded = ingest.run(spark, profile, "persons", DS)
    assert (loaded.status, loaded.rows_accepted) == ("loaded", len(rows)), loaded.message  # bronze keeps IDs as sent
    result = validate.run(spark, profile, "persons", DS, data_docs=False)
    q = {r.raw_text and __import__("json").loads(r.raw_text)["name"]: r
         for r in lake.read_partition(spark, profile, "bronze", "_quarantine", DS).collect()}
    assert set(q) == {"letters"}  # only an ID that is no ID at all; a typo'd date is for linkage
    assert q["letters"].reason == "expectation persons.id_check_character: column id_no value '32011519900101ABCD'"
    assert result["rows_failed"] == 1 and not result["passed"]  # 1 of 12 > 5 %
    kept = {r.name for r in lake.read_partition(spark, profile, "bronze", "persons", DS).collect()}
    assert kept == set(cases) - {"letters"}
    assert loaded.rows_read == len(kept) + len(q)


def test_swapped_lat_lon_in_the_addresses_reference_is_quarantined_by_quality(spark, profile):
    rows = [f"{ADDR[:-1]}{i},南京路{i}号,118.79{i},32.06{i},320115101001001,住宅" for i in range(10)]
    rows.append(f"{ADDR[:-2]}99,南京路99号,32.060,118.790,320115101001001,住宅")  # lat and lon swapped
    write_delivery(profile.inbox, "reference", DS, "snapshot",
                   {"addresses_20261101.csv": (("\n".join([ADDRESSES_HEADER, *rows]) + "\n").encode(), 11)})
    loaded = ingest.run(spark, profile, "addresses", DS)
    assert (loaded.status, loaded.rows_accepted) == ("loaded", 11), loaded.message
    result = validate.run(spark, profile, "addresses", DS, data_docs=False)
    [q] = lake.read_partition(spark, profile, "bronze", "_quarantine", DS).collect()
    assert q.reason == ("expectation addresses.lon_in_jiangsu: column lon value '32.06'; "
                        "expectation addresses.lat_in_jiangsu: column lat value '118.79'")
    assert result["rows_failed"] == 1 and not result["passed"]  # 1 of 11 = 9 % > 5 %
    assert lake.read_partition(spark, profile, "bronze", "addresses", DS).count() == 10
