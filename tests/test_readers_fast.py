"""The Arrow fast path of the bronze reader against the Python reader, record by record.

No Spark: :func:`jobs.bronze.readers.parse_file_arrow` must yield exactly the records
:func:`jobs.bronze.readers.parse_file` yields — row and line numbers, raw text, fields, reasons —
and take the fast path whenever the file allows it.
"""

from __future__ import annotations

import codecs
import gzip
import random

import pyarrow as pa
import pytest

from gridrisk.config import load_schema
from jobs.bronze.readers import FileUnreadable, parse_file, parse_file_arrow

FIRE_UNITS = load_schema("fire_units")
PERSONS = load_schema("persons")  # GBK
WORKERS = load_schema("transport_workers")  # UTF-8 with BOM
GPS = load_schema("gps_points")  # gzip
FIRE_UNITS_HEADER = "单位编号,单位名称,标准地址编码,单位类别,最近年度检测日期,联网状态"
PERSONS_HEADER = "公民身份号码,姓名,性别,出生日期,联系电话,居住地址编码,登记日期"


def python_records(data: bytes, file: str, schema, declared_rows=None) -> list[tuple]:
    _, records = parse_file(data, file, schema, declared_rows)
    return [(r.row_number, r.line_number, r.raw, r.error, r.error_column,
             tuple(r.fields.get(n) for n in schema.column_names)) for r in records]


def arrow_records(data: bytes, file: str, schema, declared_rows=None) -> tuple[str, list[tuple]]:
    parsed = parse_file_arrow(data, file, schema, declared_rows)
    table = pa.Table.from_batches(list(parsed.batches), schema=pa.schema(
        [(n, pa.int64() if n in ("_row_number", "_line_number") else pa.string())
         for n in ["_row_number", "_line_number", "_raw", "_parse_error", "_error_column", *schema.column_names]]))
    rows = sorted(table.to_pylist(), key=lambda r: r["_row_number"])
    return parsed.reader, [(r["_row_number"], r["_line_number"], r["_raw"], r["_parse_error"], r["_error_column"],
                            tuple(r[n] if r["_parse_error"] is None else None for n in schema.column_names))
                           for r in rows]


def same(data: bytes, file: str, schema, declared_rows=None) -> tuple[str, list[tuple]]:
    """The fast path's reader and records, after checking they equal the Python reader's."""
    reader, got = arrow_records(data, file, schema, declared_rows)
    expected = python_records(data, file, schema, declared_rows)
    expected = [(*e[:5], e[5] if e[3] is None else tuple(None for _ in e[5])) for e in expected]
    assert got == expected
    return reader, got


def unit(i: int, name: str = "商场") -> str:
    return f"U{i},{name}{i},32011510100100010001,人员密集场所,2026-01-0{1 + i % 9},在线"


def fire_units(rows: list[str], end: str = "\n", sep: str = "\n") -> bytes:
    return (sep.join([FIRE_UNITS_HEADER, *rows]) + end).encode()


def test_a_broken_row_in_the_middle_keeps_numbers_reasons_and_counts():
    rows = [unit(i) for i in range(1, 50)]
    rows[20] = "U21,商场21,3201"  # too few fields
    rows[30] = unit(31) + ",多余"  # too many
    reader, got = same(fire_units(rows), "fire_units_20261101.csv", FIRE_UNITS)
    assert reader == "arrow+python"
    assert len(got) == 49 and [g[0] for g in got] == list(range(1, 50))
    bad = {g[0]: g for g in got if g[3]}
    assert set(bad) == {21, 31}
    assert bad[21][1:4] == (22, "U21,商场21,3201", "expected 6 fields, found 3")
    assert bad[31][3] == "expected 6 fields, found 7"


def test_quoted_commas_and_newlines_count_lines_not_records():
    rows = [unit(1), 'U2,"商场,东区",32011510100100010001,人员密集场所,2026-01-01,在线',
            'U3,"商场\n东区\n三楼",32011510100100010001,人员密集场所,2026-01-01,在线', unit(4), "U5,坏"]
    reader, got = same(fire_units(rows), "fire_units_20261101.csv", FIRE_UNITS)
    assert reader == "arrow+python"
    assert [(g[0], g[1]) for g in got] == [(1, 2), (2, 3), (3, 4), (4, 7), (5, 8)]
    assert got[1][5][1] == "商场,东区" and got[2][5][1] == "商场\n东区\n三楼"
    assert got[2][2] == rows[2]


def test_a_clean_file_never_leaves_arrow():
    reader, got = same(fire_units([unit(i) for i in range(1, 200)], sep="\r\n", end="\r\n"),
                       "fire_units_20261101.csv", FIRE_UNITS)
    assert reader == "arrow" and len(got) == 199 and got[-1][:2] == (199, 200)


def test_gbk_is_decoded_and_a_bad_date_is_left_to_typing():
    rows = ["320115199001011234,张三,男,1990/01/01,+86 138 0000 0000,32011510100100010001,2020/05/06",
            '32011519900101123x,"李,四",女,1990/1/2,13800000001,,2021/01/01',
            "320115199001011234,王五,男,1990/13/45,13800000002,,2021/01/01",
            "320115199001011234,赵六,男"]
    data = ("\r\n".join([PERSONS_HEADER, *rows]) + "\r\n").encode("gbk")
    reader, got = same(data, "persons_20261101.csv", PERSONS)
    assert reader == "arrow+python"
    assert got[1][5][1] == "李,四" and got[3][3] == "expected 7 fields, found 3"
    with pytest.raises(FileUnreadable, match="line 1: not valid gbk"):
        parse_file_arrow(("\n".join([PERSONS_HEADER, rows[0]])).encode("utf-8"), "persons_20261101.csv", PERSONS)


def test_bom_of_an_excel_export_is_not_part_of_the_header():
    header = "从业资格证号,身份证号,姓名,从业资格类别,所属企业,车牌号,发证日期,有效期至,状态"
    row = "C1,320115199001011234,张三,危险货物运输驾驶员,某公司,苏A12345,20200101,20300101,有效"
    data = codecs.BOM_UTF8 + f"{header}\r\n{row}\r\n".encode()
    reader, got = same(data, "transport_workers_20261101.csv", WORKERS)
    assert reader == "arrow" and got[0][5][0] == "C1" and got[0][:3] == (1, 2, row)


def test_gzip_csv():
    body = "车牌号,车牌颜色,定位时间,经度,纬度,速度,方向,报警标志,状态位\n苏A12345,黄,261101083015,118796877,32060255,655,90,1,3\n"
    reader, got = same(gzip.compress(body.encode(), mtime=0), "gps_points_20261101.csv.gz", GPS)
    assert reader == "arrow" and got[0][5][:2] == ("苏A12345", "黄")
    with pytest.raises(FileUnreadable, match="not a valid gzip file"):
        parse_file_arrow(b"not gzip", "gps_points_20261101.csv.gz", GPS)


@pytest.mark.parametrize("data, declared", [
    (fire_units([]), 0),  # header only
    (FIRE_UNITS_HEADER.encode(), 0),  # header only, no newline
    (b"", 0),  # a zero-row delivery
    (b"\r\n", 0),
])
def test_empty_deliveries_have_no_records(data, declared):
    assert same(data, "fire_units_20261101.csv", FIRE_UNITS, declared)[1] == []


def test_whole_file_problems_raise_the_python_readers_error():
    with pytest.raises(FileUnreadable, match="line 1: wrong header: missing column"):
        list(parse_file_arrow("单位编号,单位名称\nU1,x\n".encode(), "fire_units_20261101.csv", FIRE_UNITS).batches)
    with pytest.raises(FileUnreadable, match="empty file but the manifest says 2 row"):
        list(parse_file_arrow(b"\n", "fire_units_20261101.csv", FIRE_UNITS, 2).batches)


@pytest.mark.parametrize("rows, end, reader", [
    ([unit(1), "", unit(2)], "\n", "python"),  # a blank line: a line, not a record
    ([unit(1), unit(2)], "\n\n", "python"),
    ([unit(1), "   ", unit(2)], "\n", "arrow+python"),  # whitespace only: blank to the Python reader
    ([unit(1), 'U2,"商场,32011510100100010001,人员密集场所,2026-01-01,在线', unit(3)], "\n", "arrow+python"),  # runaway
    ([unit(1), "U3,工厂3,3201"], "", "arrow+python"),  # truncated last line, no newline
    ([unit(1), "U9," + "楼" * 70_000 + ",1,一般单位,2026-01-01,在线"], "\n", "python"),  # over-long field
])
def test_irregular_files_give_the_python_readers_records(rows, end, reader):
    assert same(fire_units(rows, end=end), "fire_units_20261101.csv", FIRE_UNITS)[0] == reader


def test_lone_carriage_returns_go_to_the_python_reader():
    data = (FIRE_UNITS_HEADER + "\r" + unit(1) + "\r" + unit(2) + "\r").encode()
    assert same(data, "fire_units_20261101.csv", FIRE_UNITS)[0] == "python"


@pytest.mark.parametrize("seed", range(40))
def test_random_files_read_the_same_by_both_readers(seed):
    """Fuzz: fields with quotes, commas, line breaks, missing and extra fields, CRLF or LF."""
    rnd = random.Random(seed)
    pieces = ["a", "商场", "1", "", " ", ",", '"', '""', "\n", "\r\n", "x y", "2026-01-01"]

    def field() -> str:
        value = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(0, 4)))
        if rnd.random() < 0.3:
            return '"' + value.replace('"', '""') + '"'
        return value.replace(",", "").replace("\n", "").replace("\r", "") if rnd.random() < 0.8 else value

    sep = rnd.choice(["\n", "\r\n"])
    rows = [",".join(field() for _ in range(rnd.choice([6, 6, 6, 6, 5, 7, 1]))) for _ in range(rnd.randrange(1, 40))]
    data = fire_units(rows, sep=sep, end=rnd.choice([sep, ""]))
    try:
        expected = python_records(data, "fire_units_20261101.csv", FIRE_UNITS)
    except FileUnreadable as exc:
        with pytest.raises(FileUnreadable, match=str(exc.problem)[:20].replace("(", r"\(")):
            arrow_records(data, "fire_units_20261101.csv", FIRE_UNITS)
        return
    assert expected is not None
    same(data, "fire_units_20261101.csv", FIRE_UNITS)
