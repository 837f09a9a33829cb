"""Turn one delivered file's bytes into records of strings, with row numbers and raw text.

Spark-free: Spark calls :func:`parse_file_arrow` inside ``mapInArrow`` so files are parsed in
parallel on the executors, and tests call it directly. Two readers, one result:

- the **fast path** (:func:`parse_file_arrow`, CSV): Arrow's native CSV reader (C++, several
  threads over blocks of the file) splits every record; row numbers, line numbers and the raw
  text come from vectorised arithmetic on the file's bytes, so a well-formed row never passes
  through per-row Python;
- the **Python reader** (:func:`parse_file`): the reference. It parses JSON lines, GeoJSON and
  every CSV the fast path does not take whole; and for the records Arrow rejects (a wrong field
  count, a runaway quote) it is asked about exactly those records, so their quarantine reason is
  the one it would give. A file whose structure the fast path cannot vouch for (blank lines,
  lone CR line breaks, an over-long field, anything Arrow refuses) is read by it entirely.

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
from typing import TYPE_CHECKING, Any

from gridrisk.config import DatasetSchema

if TYPE_CHECKING:
    import pyarrow as pa

csv.field_size_limit(64 * 1024 * 1024)

#: A field longer than this is not data but damage (a 10 MB line, a runaway quote).
MAX_FIELD_CHARS = 65536
#: Arrow parses a file in blocks of this size, one thread per block; a record longer than a
#: block makes Arrow give up and the Python reader takes the file (such a record is damage).
ARROW_BLOCK_BYTES = 8 << 20
#: Rows per record batch handed to Spark.
BATCH_ROWS = 20_000
#: The per-record metadata columns every reader yields, before the declared columns (strings).
RECORD_META: tuple[tuple[str, str], ...] = (
    ("_row_number", "int64"), ("_line_number", "int64"), ("_raw", "string"), ("_parse_error", "string"),
    ("_error_column", "string"),
)


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


# --------------------------------------------------------------------------- Arrow batches, fast path


@dataclass
class ParsedFile:
    """One file as record batches (:func:`record_schema` columns) and how it was read."""

    sha256: str
    batches: Iterator["pa.RecordBatch"]
    #: ``arrow`` (every record by Arrow), ``arrow+python`` (Arrow, with the Python reader's
    #: verdict on the records Arrow rejected) or ``python`` (the whole file by the Python reader).
    reader: str


def record_schema(schema: DatasetSchema) -> "pa.Schema":
    """The Arrow schema of parsed records: :data:`RECORD_META` + one string per declared column."""
    import pyarrow as pa

    return pa.schema([(name, pa.type_for_alias(kind)) for name, kind in RECORD_META]
                     + [(name, pa.string()) for name in schema.column_names])


def parse_file_arrow(data: bytes, file: str, schema: DatasetSchema, declared_rows: int | None = None,
                     fast: bool = True) -> ParsedFile:
    """:func:`parse_file` as Arrow record batches, through the fast path wherever the file allows.

    The records are the ones :func:`parse_file` yields — same row and line numbers, raw text,
    fields and reasons — in no particular order. ``fast=False`` reads with the Python reader
    only (to compare the two). Raises :class:`FileUnreadable` like :func:`parse_file`: at once
    for a bad encoding, gzip stream or (fast path) header, else while iterating.

    Example:
        >>> from gridrisk.config import load_schema
        >>> s = load_schema("fire_units")
        >>> head = "单位编号,单位名称,标准地址编码,单位类别,最近年度检测日期,联网状态\\n"
        >>> p = parse_file_arrow((head + "U1,A,1,一般单位,2026-01-01,在线\\nU2,B\\n").encode(), "f.csv", s)
        >>> t = __import__("pyarrow").Table.from_batches(list(p.batches)).sort_by("_row_number")
        >>> p.reader, t.column("_line_number").to_pylist(), t.column("_parse_error").to_pylist()
        ('arrow+python', [2, 3], [None, 'expected 6 fields, found 2'])
    """
    if fast and schema.format in ("csv", "csv.gz"):
        sha = hashlib.sha256(data).hexdigest()
        raw = _gunzip(data, file) if schema.format == "csv.gz" or file.endswith(".gz") else data
        text = decode(raw, schema.encoding, file)
        if text.strip():
            utf8 = (raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw) if _is_utf8(schema.encoding) \
                else text.encode("utf-8")
            del text
            fast_read = _csv_fast(utf8, file, schema)
            if fast_read is not None:
                table, reader = fast_read
                return ParsedFile(sha, iter(table.to_batches(max_chunksize=BATCH_ROWS)), reader)
    sha, records = parse_file(data, file, schema, declared_rows)
    return ParsedFile(sha, _batches(records, schema), "python")


def _gunzip(data: bytes, file: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise FileUnreadable(file, None, f"not a valid gzip file: {exc}") from None


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")


def _batches(records: Iterator[Record], schema: DatasetSchema) -> Iterator["pa.RecordBatch"]:
    """Python records → record batches of :func:`record_schema` (the Python reader's output)."""
    import pyarrow as pa

    arrow_schema = record_schema(schema)
    keys = [name for name, _ in RECORD_META]
    names = schema.column_names

    def empty() -> dict[str, list[Any]]:
        return {k: [] for k in keys + names}

    buf = empty()
    for rec in records:
        for k, v in zip(keys, (rec.row_number, rec.line_number, rec.raw, rec.error, rec.error_column)):
            buf[k].append(v)
        for n in names:
            buf[n].append(rec.fields.get(n))
        if len(buf["_raw"]) >= BATCH_ROWS:
            yield pa.RecordBatch.from_pydict(buf, schema=arrow_schema)
            buf = empty()
    if buf["_raw"]:
        yield pa.RecordBatch.from_pydict(buf, schema=arrow_schema)


def _csv_fast(data: bytes, file: str, schema: DatasetSchema) -> "tuple[pa.Table, str] | None":
    """Parse a UTF-8 CSV (no BOM) with Arrow; None when the Python reader must take the file.

    Row and line numbers: Arrow numbers records, not lines, and only when parsing on one
    thread. So the file is read on every thread first; only when Arrow rejected some records is
    it read again on one thread to learn where they sit. A record spans 1 + (newlines in its
    fields) lines; the records tile the file, so the cumulative sum of the spans gives every
    record's first line, the line offsets of the bytes give its raw text (the Python reader's
    ``raw``: the record's lines, trailing line breaks stripped) — and a final check that the
    spans add up to the file's line count guards the arithmetic.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    cr = data.count(b"\r")
    if cr and cr != data.count(b"\r\n"):
        return None  # a lone CR ends a line for both readers but not for the line arithmetic
    if b"\n\n" in data or b"\n\r\n" in data:
        return None  # a blank line is a line but not a record
    end = data.find(b"\n")
    header_line = data[: end if end >= 0 else len(data)].decode("utf-8").rstrip("\r")
    if end < 0 or '"' in header_line or not header_line.strip():
        return None  # no data line, or a header only the Python reader should judge
    header = [h.strip().lstrip("\ufeff") for h in next(csv.reader([header_line], delimiter=schema.delimiter))]
    order = _header_order(header, file, schema)  # a wrong header: the same error as the Python reader's
    fields = [f"f{i}" for i in range(len(header))]
    rejected: list[tuple[int | None, str]] = []

    def on_invalid(row: Any) -> str:
        rejected.append((row.number, row.text))
        return "skip"

    def read(threads: bool) -> pa.Table:
        rejected.clear()
        return pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=fields, skip_rows=1, use_threads=threads,
                                           block_size=ARROW_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(delimiter=schema.delimiter, newlines_in_values=True,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={f: pa.string() for f in fields},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))

    try:
        table = read(threads=True)
        if rejected:
            table = read(threads=False)  # Arrow knows where a rejected record sits only on one thread
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    for column in table.columns:
        if table.num_rows and pc.max(pc.utf8_length(column)).as_py() > MAX_FIELD_CHARS:
            return None  # the Python reader names the column
    n_valid, n_all = table.num_rows, table.num_rows + len(rejected)
    positions = np.array([-1 if number is None else number - 2 for number, _ in rejected], dtype=np.int64)
    if len(positions) and (positions[0] < 0 or positions[-1] >= n_all or np.any(np.diff(positions) <= 0)):
        return None
    valid = np.ones(n_all, dtype=bool)
    valid[positions] = False
    span = np.ones(n_all, dtype=np.int64)
    if n_valid:
        newlines = pc.count_substring(table.column(0), "\n")
        for column in table.columns[1:]:
            newlines = pc.add(newlines, pc.count_substring(column, "\n"))
        span[valid] += newlines.to_numpy(zero_copy_only=False)
    span[positions] += np.array([text.count("\n") for _, text in rejected], dtype=np.int64)
    first_line = 2 + np.concatenate([[0], np.cumsum(span)[:-1]]).astype(np.int64)
    line_breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A)
    lines = len(line_breaks) + (0 if data.endswith(b"\n") else 1)
    if (first_line[-1] + span[-1] - 1 if n_all else 1) != lines:
        return None  # Arrow and the line arithmetic disagree: let the Python reader decide
    offset_type = np.int32 if len(data) < 2**31 else np.int64
    offsets = np.concatenate([line_breaks[first_line - 2] + 1, [len(data)]]).astype(offset_type)
    string_type = pa.string() if offset_type is np.int32 else pa.large_string()
    raw = pc.utf8_rtrim(pa.Array.from_buffers(string_type, n_all, [None, pa.py_buffer(offsets), pa.py_buffer(data)]),
                        characters="\r\n").cast(pa.string())

    is_record = np.ones(n_all, dtype=bool)
    repaired: list[Record] = []
    for pos in positions:
        # The Python reader's verdict on this one record: its reason and what it counts as.
        text = raw[int(pos)].as_py()
        got = list(_csv_records(header_line + "\n" + text, file, schema))
        if not got:
            is_record[pos] = False  # whitespace only: a blank line to the Python reader
        elif len(got) == 1 and got[0].error is not None:
            repaired.append(got[0])
        else:
            return None
    row_number = np.cumsum(is_record)
    keep = np.flatnonzero(valid)
    columns: dict[str, Any] = {
        "_row_number": pa.array(row_number[keep]), "_line_number": pa.array(first_line[keep]),
        "_raw": raw.take(pa.array(keep)), "_parse_error": pa.nulls(n_valid, pa.string()),
        "_error_column": pa.nulls(n_valid, pa.string()),
    }
    for name, idx in order:
        columns[name] = table.column(idx)
    out = pa.Table.from_pydict(columns, schema=record_schema(schema))
    if repaired:
        at = [int(p) for p in positions if is_record[p]]
        for rec, pos in zip(repaired, at):
            rec.row_number, rec.line_number, rec.raw = int(row_number[pos]), int(first_line[pos]), raw[pos].as_py()
        out = pa.concat_tables([out, pa.Table.from_batches(list(_batches(iter(repaired), schema)),
                                                           schema=record_schema(schema))])
    return out, "arrow+python" if len(positions) else "arrow"
