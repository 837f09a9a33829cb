"""Turn one delivered file's bytes into records of strings, with row numbers and raw text.

Pure Python and Spark-free: Spark calls :func:`parse_file` inside ``mapInArrow`` so files
are parsed in parallel on the executors, and tests call it directly.

Every data record yields exactly one :class:`Record`; a record that cannot be split into the
declared fields carries an ``error`` and goes to quarantine. A file that cannot be read at
all (wrong encoding, wrong header, not JSON) raises :class:`FileUnreadable` naming the file,
the line and what was expected.

Example:
    >>> from gridrisk.config import load_schema
    >>> s = load_schema("fire_units")
    >>> data = "单位编号,单位名称,标准地址编码,单位类别,最近年度检测日期,联网状态\\nU1,\\"A,B\\",1,一般单位,2026-01-01,在线".encode()
    >>> sha, recs = parse_file(data, "fire_units_20261101.csv", s)
    >>> recs = list(recs)
    >>> recs[0].fields["unit_name"], recs[0].row_number, recs[0].error
    ('A,B', 1, None)
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

from gridrisk.config import DatasetSchema

csv.field_size_limit(64 * 1024 * 1024)

#: A field longer than this is not data but damage (a 10 MB line, a runaway quote).
MAX_FIELD_CHARS = 65536


class FileUnreadable(ValueError):
    """The file as a whole cannot be read with its declared format."""

    def __init__(self, file: str, line: int | None, problem: str):
        self.file, self.line, self.problem = file, line, problem
        where = f"{file}, line {line}" if line else file
        super().__init__(f"{where}: {problem}")


@dataclass
class Record:
    row_number: int  # 1-based data-row ordinal in the file (header excluded)
    line_number: int  # physical line where the record starts
    raw: str
    fields: dict[str, str | None]
    error: str | None = None
    error_column: str | None = None


def decode(data: bytes, encoding: str, file: str) -> str:
    """Decode strictly; on failure name the line and say what was expected."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        hint = ""
        for other in ("utf-8", "gb18030"):
            if not encoding.lower().replace("_", "-").startswith(other[:3]) and _decodes(data, other):
                hint = f" (the file decodes as {other}: was it written in the wrong encoding?)"
                break
        raise FileUnreadable(file, line, f"not valid {encoding}: byte {data[exc.start]:#04x} at offset {exc.start}{hint}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise FileUnreadable(file, line, f"binary data (NUL byte) in a {encoding} text file")
    return text


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def parse_file(data: bytes, file: str, schema: DatasetSchema,
               declared_rows: int | None = None) -> tuple[str, Iterator[Record]]:
    """Return the file's sha256 and its records (a generator, so big files stream).

    Raises :class:`FileUnreadable` at once for a bad encoding or gzip stream, and while
    iterating for a bad header or broken structure. A CSV with no header at all is an error
    unless its manifest declares it with 0 rows (``declared_rows``): a day with nothing to
    deliver (shared/extracts.md) — its header-only form is the usual one.
    """
    sha = hashlib.sha256(data).hexdigest()
    if schema.format == "csv.gz" or file.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise FileUnreadable(file, None, f"not a valid gzip file: {exc}") from None
    text = decode(data, schema.encoding, file)
    if schema.format in ("csv", "csv.gz"):
        return sha, _csv_records(text, file, schema, declared_rows)
    if schema.format == "jsonl":
        return sha, _jsonl_records(text, file, schema)
    return sha, _geojson_records(text, file, schema)


def _csv_records(text: str, file: str, schema: DatasetSchema, declared_rows: int | None = None) -> Iterator[Record]:
    if not text.strip():
        if declared_rows == 0:
            return  # an empty delivery, as its manifest says
        declared = f" but the manifest says {declared_rows} row(s)" if declared_rows else ""
        raise FileUnreadable(file, 1, f"empty file{declared}: expected the header "
                                      f"{schema.delimiter.join(schema.source_names)}")
    lines = text.splitlines(keepends=True)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=schema.delimiter)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise FileUnreadable(file, 1, f"header is not valid CSV: {exc}") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    order = _header_order(header, file, schema)
    expected = len(header)
    prev_line = reader.line_num
    row = 0
    while True:
        start = prev_line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # Only a NUL or an over-long field gets here; the rest of the file cannot be trusted.
            raise FileUnreadable(file, start, f"not valid CSV: {exc}") from None
        end = reader.line_num
        raw = "".join(lines[start - 1 : end]).rstrip("\r\n")
        prev_line = end
        if not fields or (len(fields) == 1 and fields[0].strip() == ""):
            continue  # a blank line is not a record
        row += 1
        rec = Record(row, start, raw, {})
        if len(fields) != expected:
            rec.error = f"expected {expected} fields, found {len(fields)}"
            if end > start and len(fields) < expected:
                rec.error += " (an unclosed quote may have swallowed the following lines)"
            yield rec
            continue
        for name, idx in order:
            value = fields[idx]
            if len(value) > MAX_FIELD_CHARS and rec.error is None:
                rec.error = f"field longer than {MAX_FIELD_CHARS} characters ({len(value)})"
                rec.error_column = schema.column(name).source
            rec.fields[name] = value
        yield rec


def _header_order(header: list[str], file: str, schema: DatasetSchema) -> list[tuple[str, int]]:
    """Map canonical names to positions. Reordered columns are fine; missing or unknown ones are not."""
    expected = schema.source_names
    missing = [h for h in expected if h not in header]
    unknown = [h for h in header if h not in expected]
    dupes = sorted({h for h in header if header.count(h) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}")
    if dupes:
        problems.append(f"repeated column(s) {', '.join(dupes)}")
    if problems:
        raise FileUnreadable(
            file, 1, f"wrong header: {'; '.join(problems)} — expected {schema.delimiter.join(expected)}"
        )
    return [(c.name, header.index(c.source)) for c in schema.columns]


def _jsonl_records(text: str, file: str, schema: DatasetSchema) -> Iterator[Record]:
    row = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row += 1
        rec = Record(row, line_no, line, {})
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            rec.error = f"not a JSON object: {exc.msg} at column {exc.colno}"
            yield rec
            continue
        if not isinstance(obj, dict):
            rec.error = f"expected a JSON object, found {type(obj).__name__}"
            yield rec
            continue
        for col in schema.columns:
            value = obj.get(col.source)
            rec.fields[col.name] = None if value is None else (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        yield rec


def _geojson_records(text: str, file: str, schema: DatasetSchema) -> Iterator[Record]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileUnreadable(file, exc.lineno, f"not valid GeoJSON: {exc.msg}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise FileUnreadable(file, 1, "expected a GeoJSON FeatureCollection with a features list")
    for i, feature in enumerate(doc["features"], start=1):
        raw = json.dumps(feature, ensure_ascii=False)
        rec = Record(i, 0, raw, {})
        if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
            rec.error = "feature without properties"
            yield rec
            continue
        props = feature["properties"]
        for col in schema.columns:
            if col.source == "geometry":
                geom = feature.get("geometry")
                rec.fields[col.name] = json.dumps(geom, ensure_ascii=False) if geom else None
            else:
                value = props.get(col.source)
                rec.fields[col.name] = None if value is None else str(value)
        yield rec
