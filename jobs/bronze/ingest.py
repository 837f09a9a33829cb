"""Bronze ingest: one department's delivery for one logical date → a Delta table.

    gridrisk ingest --date 2026-11-01 --dataset persons [--inbox DIR] [--profile local]

The delivery (``<inbox>/<delivery>/<YYYYMMDD>/``) is checked against its ``manifest.json``
(no manifest: not ready; a row count or checksum mismatch: the whole delivery is rejected and
nothing of it is loaded), parsed in parallel on the executors with the declared schema
(``schemas/<dataset>.yaml``, never inferred), typed, and written:

- ``bronze/<dataset>``: the accepted rows, canonical names and types, plus ``_source_file``,
  ``_row_number``, ``_batch_id``, ``_ingest_ts``; partitioned by ``ds``; a re-run replaces the
  partition of that date and nothing else;
- ``bronze/_quarantine``: every row that could not be typed, with file, row, raw text, reason;
- ``bronze/_ingest_log``: one row per (dataset, date) — read, accepted, quarantined, status.

Rows read = rows accepted + rows quarantined, for every file and every run; the job checks it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from gridrisk import lake, storage
from gridrisk.config import DatasetSchema, Profile, load_schema
from jobs.bronze.readers import FileUnreadable, parse_file

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

QUARANTINE = "_quarantine"
INGEST_LOG = "_ingest_log"
ARROW_BATCH_ROWS = 20_000


class IngestError(RuntimeError):
    """The dataset cannot be loaded for this date; ``status`` says why."""

    status = "failed"


class DeliveryNotReady(IngestError):
    status = "not_ready"


class DeliveryRejected(IngestError):
    status = "rejected"


@dataclass
class IngestResult:
    dataset: str
    ds: str
    status: str  # loaded | not_ready | rejected | failed
    batch_id: str | None = None
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    message: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- the delivery


@dataclass(frozen=True)
class Delivery:
    folder: str
    files: tuple[tuple[str, int, str], ...]  # (name, rows, sha256) for this table's files

    @property
    def paths(self) -> list[str]:
        return [storage.join(self.folder, name) for name, _, _ in self.files]


def compact(ds: str) -> str:
    return dt.date.fromisoformat(ds).strftime("%Y%m%d")


def find_delivery(inbox: str, schema: DatasetSchema, ds: str) -> Delivery:
    """Locate and validate the manifest of ``schema``'s delivery for ``ds``."""
    day = compact(ds)
    folder = storage.join(inbox, schema.delivery, day)
    manifest_path = storage.join(folder, "manifest.json")
    if not storage.exists(manifest_path):
        where = "no delivery folder" if not storage.exists(folder) else "no manifest.json yet"
        raise DeliveryNotReady(f"{folder}: {where} — the {schema.delivery} delivery for {ds} is not complete")
    try:
        manifest = storage.read_json(manifest_path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DeliveryRejected(f"{manifest_path}: not valid JSON ({exc})") from None
    problems = []
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise DeliveryRejected(f"{manifest_path}: expected an object with a files list")
    if manifest.get("dataset") != schema.delivery:
        problems.append(f"dataset is {manifest.get('dataset')!r}, expected {schema.delivery!r}")
    if str(manifest.get("date")) != ds:
        problems.append(f"date is {manifest.get('date')!r} but the folder is {day} (expected {ds})")
    if manifest.get("kind") not in (None, schema.kind):
        problems.append(f"kind is {manifest.get('kind')!r}, expected {schema.kind!r}")
    name_re = re.compile(rf"^{re.escape(schema.file_prefix)}_(\d{{8}})(?:_part\d+)?\.{re.escape(schema.format)}$")
    files = []
    for entry in manifest["files"]:
        name = str(entry.get("name", ""))
        if not name.startswith(f"{schema.file_prefix}_"):
            continue  # another table of the same delivery (reference)
        m = name_re.match(name)
        if not m:
            problems.append(f"file {name} does not follow {schema.file_prefix}_<YYYYMMDD>[_partNN].{schema.format}")
            continue
        if m.group(1) != day:
            problems.append(f"file {name} is for {m.group(1)}, not {day}")
        if not storage.is_file(storage.join(folder, name)):
            problems.append(f"file {name} is listed in the manifest but missing")
        try:
            files.append((name, int(entry["rows"]), str(entry["sha256"]).lower()))
        except (KeyError, TypeError, ValueError):
            problems.append(f"file {name}: manifest entry needs integer rows and a sha256")
    if not files and not problems:
        problems.append(f"lists no {schema.file_prefix}_*.{schema.format} file")
    if problems:
        raise DeliveryRejected(f"{manifest_path}: " + "; ".join(problems))
    for name, _, _ in files:
        # Spark's binaryFile source yields nothing for a 0-byte file: say what is wrong here.
        if schema.format != "geojson" and storage.size(storage.join(folder, name)) == 0:
            raise IngestError(f"{name}, line 1: empty file: expected the header "
                              f"{schema.delimiter.join(schema.source_names)}" if schema.format != "jsonl"
                              else f"{name}: empty file: expected JSON lines")
    return Delivery(folder, tuple(sorted(files)))


# --------------------------------------------------------------------------- parsing on executors


def records_struct(schema: DatasetSchema) -> str:
    """DDL of the parsed-records DataFrame: metadata + one string per declared column."""
    meta = [
        "_kind string", "_source_file string", "_row_number bigint", "_line_number bigint", "_raw string",
        "_parse_error string", "_error_column string", "_file_sha256 string", "_file_rows bigint",
        "_file_error string",
    ]
    return ", ".join(meta + [f"`{c.name}` string" for c in schema.columns])


def arrow_parser(schema: DatasetSchema):  # type: ignore[no-untyped-def]
    """A ``mapInArrow`` function: (path, content) batches → record batches of parsed rows."""
    names = schema.column_names

    def parse(batches: Iterator["pa.RecordBatch"]) -> Iterator["pa.RecordBatch"]:
        import pyarrow as pa

        meta = ["_kind", "_source_file", "_row_number", "_line_number", "_raw", "_parse_error",
                "_error_column", "_file_sha256", "_file_rows", "_file_error"]
        empty = {k: [] for k in meta + names}

        def flush(buf: dict[str, list[Any]]) -> "pa.RecordBatch":
            return pa.RecordBatch.from_pydict(buf, schema=arrow_schema)

        int_cols = {"_row_number", "_line_number", "_file_rows"}
        arrow_schema = pa.schema([(k, pa.int64() if k in int_cols else pa.string()) for k in meta + names])
        for batch in batches:
            for path, content in zip(batch.column("path").to_pylist(), batch.column("content").to_pylist()):
                file = path.rsplit("/", 1)[-1]
                buf = {k: [] for k in empty}
                rows, sha, error = 0, None, None
                try:
                    sha, records = parse_file(content, file, schema)
                    for rec in records:
                        rows += 1
                        buf["_kind"].append("row")
                        buf["_source_file"].append(file)
                        buf["_row_number"].append(rec.row_number)
                        buf["_line_number"].append(rec.line_number)
                        buf["_raw"].append(rec.raw)
                        buf["_parse_error"].append(rec.error)
                        buf["_error_column"].append(rec.error_column)
                        for k in ("_file_sha256", "_file_rows", "_file_error"):
                            buf[k].append(None)
                        for n in names:
                            buf[n].append(rec.fields.get(n))
                        if len(buf["_kind"]) >= ARROW_BATCH_ROWS:
                            yield flush(buf)
                            buf = {k: [] for k in empty}
                except FileUnreadable as exc:
                    error = str(exc)
                    buf = {k: [] for k in empty}  # the dataset stops: none of this file's rows count
                if buf["_kind"]:
                    yield flush(buf)
                stats = {k: [None] for k in empty}
                stats.update(_kind=["file"], _source_file=[file], _file_sha256=[sha], _file_rows=[rows],
                             _file_error=[error])
                yield flush(stats)

    return parse


def read_records(spark: "SparkSession", schema: DatasetSchema, delivery: Delivery) -> "DataFrame":
    """Parsed records + one ``_kind='file'`` row per file with its checksum and row count."""
    files = spark.read.format("binaryFile").load(delivery.paths)
    return files.select("path", "content").mapInArrow(arrow_parser(schema), records_struct(schema))


def verify_files(delivery: Delivery, stats: list[dict[str, Any]]) -> None:
    """Every file readable, and its checksum and row count as the manifest says."""
    by_name = {s["_source_file"]: s for s in stats}
    unreadable = [s["_file_error"] for s in stats if s["_file_error"]]
    if unreadable:
        raise IngestError("; ".join(unreadable))
    problems = []
    for name, rows, sha in delivery.files:
        got = by_name.get(name)
        if got is None:
            problems.append(f"{name}: could not be read")
        elif got["_file_sha256"] != sha:
            problems.append(f"{name}: sha256 {got['_file_sha256']} does not match the manifest's {sha}")
        elif got["_file_rows"] != rows:
            problems.append(f"{name}: {got['_file_rows']} data rows but the manifest says {rows}")
    if problems:
        raise DeliveryRejected(f"{delivery.folder}: delivery rejected, nothing loaded — " + "; ".join(problems))


# --------------------------------------------------------------------------- transform


def transform(records: "DataFrame", schema: DatasetSchema, ds: str, batch_id: str, ingest_ts: dt.datetime
              ) -> tuple["DataFrame", "DataFrame"]:
    """(accepted rows, quarantined rows) from the parsed records of one delivery. Pure."""
    from pyspark.sql import functions as F

    from jobs.bronze.cast import cast_records

    typed = cast_records(records.where(F.col("_kind") == "row"), schema)
    stamp = [F.lit(batch_id).alias("_batch_id"), F.lit(ingest_ts).cast("timestamp").alias("_ingest_ts"),
             F.lit(ds).cast("date").alias("ds")]
    accepted = typed.where(F.size("_errors") == 0).select(
        *schema.column_names, "_source_file", "_row_number", *stamp
    )
    quarantined = typed.where(F.size("_errors") > 0).select(
        F.lit(schema.dataset).alias("dataset"),
        F.col("_source_file").alias("source_file"),
        F.col("_row_number").alias("row_number"),
        F.col("_line_number").alias("line_number"),
        F.col("_raw").alias("raw_text"),
        F.array_join("_errors", "; ").alias("reason"),
        F.col("_error_codes").getItem(0).alias("reason_code"),
        *stamp,
    )
    return accepted, quarantined


def batch_id_for(schema: DatasetSchema, ds: str, delivery: Delivery) -> str:
    digest = hashlib.sha256(json.dumps([schema.dataset, ds, delivery.files]).encode()).hexdigest()
    return digest[:16]


# --------------------------------------------------------------------------- I/O shell


def run(spark: "SparkSession", profile: Profile, dataset: str, ds: str, now: dt.datetime | None = None) -> IngestResult:
    """Ingest one dataset for one logical date. Never raises for bad input: the result says."""
    import time

    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started = time.monotonic()
    schema = load_schema(dataset)
    result = IngestResult(dataset, ds, "failed")
    records = None
    try:
        delivery = find_delivery(profile.inbox, schema, ds)
        result.files = [name for name, _, _ in delivery.files]
        result.batch_id = batch_id_for(schema, ds, delivery)
        records = read_records(spark, schema, delivery).persist(StorageLevel.MEMORY_AND_DISK)
        stats = [r.asDict() for r in records.where(F.col("_kind") == "file").collect()]
        verify_files(delivery, stats)
        result.rows_read = sum(int(s["_file_rows"]) for s in stats)
        ingest_ts = (now or dt.datetime.now()).replace(microsecond=0)
        accepted, quarantined = transform(records, schema, ds, result.batch_id, ingest_ts)
        written = lake.replace_partition(accepted, profile.table_path("bronze", dataset), {"ds": ds})
        result.rows_accepted = written.get("numOutputRows", 0)
        qpath = profile.table_path("bronze", QUARANTINE)
        qwritten = lake.replace_partition(quarantined, qpath, {"dataset": dataset, "ds": ds})
        result.rows_quarantined = qwritten.get("numOutputRows", 0)
        if result.rows_quarantined:
            reasons = (
                lake.read_partition(spark, profile, "bronze", QUARANTINE, ds)
                .where(F.col("dataset") == dataset).groupBy("reason_code").count().collect()
            )
            result.reasons = {r["reason_code"]: int(r["count"]) for r in reasons}
        if result.rows_read != result.rows_accepted + result.rows_quarantined:
            raise IngestError(
                f"{dataset} {ds}: read {result.rows_read} rows but accepted {result.rows_accepted} "
                f"+ quarantined {result.rows_quarantined} — this is a bug, please report it"
            )
        result.status = "loaded"
        result.message = f"{len(result.files)} file(s) loaded"
    except IngestError as exc:
        result.status, result.message = exc.status, str(exc)
    finally:
        if records is not None:
            records.unpersist()
    result.seconds = round(time.monotonic() - started, 2)
    write_log(spark, profile, result)
    return result


LOG_SCHEMA = (
    "dataset string, ds date, status string, batch_id string, files array<string>, rows_read bigint, "
    "rows_accepted bigint, rows_quarantined bigint, reasons map<string,bigint>, message string, seconds double"
)


def write_log(spark: "SparkSession", profile: Profile, result: IngestResult) -> None:
    row = result.as_dict()
    row["ds"] = dt.date.fromisoformat(result.ds)
    df = spark.createDataFrame([row], LOG_SCHEMA)
    lake.replace_partition(df, profile.table_path("bronze", INGEST_LOG), {"dataset": result.dataset, "ds": result.ds})


def read_log(spark: "SparkSession", profile: Profile, ds: str) -> list[dict[str, Any]]:
    path = profile.table_path("bronze", INGEST_LOG)
    if not lake.table_exists(spark, path):
        return []
    return [r.asDict(recursive=True) for r in lake.read_partition(spark, profile, "bronze", INGEST_LOG, ds).orderBy("dataset").collect()]

