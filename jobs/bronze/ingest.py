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
- ``bronze/_ingest_log``: one row per (dataset, date) — read, accepted, quarantined, status;
- ``bronze/_ingest_parts`` (the datasets delivered in hourly parts): one row per landed file —
  its checksum, counts, batch and quality verdict. An hourly run (``incremental``) lands only
  the parts not landed yet (or re-delivered with other bytes) and replaces only their rows; its
  ``_ingest_log`` row is the day so far, summed from here.

Rows read = rows accepted + rows quarantined, for every file and every run; the job checks it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from gridrisk import lake, storage
from gridrisk.config import DatasetSchema, Profile, load_schema
from gridrisk.delivery import HOURLY_DATASETS, MANIFEST, hourly_manifest
from jobs.bronze.readers import RECORD_META, FileUnreadable, parse_file_arrow

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

QUARANTINE = "_quarantine"
INGEST_LOG = "_ingest_log"
PARTS = "_ingest_parts"
PARTS_SCHEMA = (
    "dataset string, ds date, source_file string, sha256 string, rows_read bigint, rows_accepted bigint, "
    "rows_quarantined bigint, reasons map<string,bigint>, rows_failed_quality bigint, batch_id string, "
    "quality_passed boolean, quality_message string, landed_ts timestamp"
)
#: About this many delivered bytes per partition of a parsed delivery (≈ 200k rows of persons):
#: typing, the quality gate and the writes then use every core on a big file, and no cached
#: partition outgrows the heap (a 10 M-person persons delivery in 4 partitions of 2.5 M rows
#: did: ``OutOfMemoryError`` building the cache of one).
SPLIT_BYTES = 32 << 20


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
    #: An incremental (hourly) run: the files it landed now and their rows read; the fields
    #: above are then the day so far (every part landed, this run's included).
    new_files: list[str] | None = None
    new_rows: int | None = None
    #: (incremental) rows of the day so far the quality gate moved to the quarantine
    rows_failed_quality: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Gated(Protocol):
    """What a quality gate makes of the accepted rows: ``keep`` for bronze, ``bad`` for the
    quarantine (its columns), released once both are written."""

    keep: "DataFrame"
    bad: "DataFrame"
    #: the verdict (the ``_quality_log`` row's fields: passed, message, …)
    result: dict[str, Any]

    @property
    def moved(self) -> int:
        """How many rows ``bad`` holds."""

    def release(self) -> None: ...


#: The quality gate :func:`run` calls: (accepted rows, ingest's result so far) → :class:`Gated`.
Gate = Callable[["DataFrame", dict[str, Any]], Gated]


class QuarantineBatch:
    """The quarantined rows of several datasets of one date, written in one commit.

    A day's ingest lands up to 17 deliveries; a quarantine write per delivery was a Delta commit
    (and its snapshot computations) each, nearly always for no rows at all. :func:`run` hands its
    quarantined rows here instead (``quarantine=``), and :meth:`write` replaces the partitions
    ``(dataset, ds)`` of every dataset added, in one commit — also for a dataset with no bad rows
    now, so a re-run still clears what an earlier run quarantined. The rows of a delivery are kept
    (cached) only when there are some; the counts that say so are ingest's own.
    Thread-safe: the pipeline's ingest threads add to one batch."""

    def __init__(self, ds: str):
        self.ds = ds
        self._parts: dict[str, "DataFrame"] = {}
        self._cached: list["DataFrame"] = []
        self._lock = threading.Lock()

    def add(self, dataset: str, rows: "DataFrame", count: int) -> None:
        """Keep ``rows`` (``count`` of them, known from ingest's counts) of ``dataset`` for the
        write; called before the frames they come from are released."""
        from pyspark import StorageLevel

        if count:
            rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
            got = rows.count()
            if got != count:
                rows.unpersist()
                raise IngestError(f"{dataset} {self.ds}: {got} rows to quarantine, but the counts said {count} — "
                                  "this is a bug, please report it")
        else:
            # no rows: an empty frame of the same columns, without the delivery's lineage (which
            # the write would otherwise plan, and whose cached parents are released by then)
            rows = rows.sparkSession.createDataFrame([], rows.schema)
        with self._lock:
            self._parts[dataset] = rows
            if count:
                self._cached.append(rows)

    @property
    def datasets(self) -> list[str]:
        with self._lock:
            return sorted(self._parts)

    def write(self, profile: Profile) -> None:
        """One commit: the partitions of every dataset added, replaced by their rows."""
        from functools import reduce

        with self._lock:
            parts, cached = dict(self._parts), list(self._cached)
            self._parts.clear()
            self._cached.clear()
        if not parts:
            return
        try:
            rows = reduce(lambda a, b: a.unionByName(b), [parts[name] for name in sorted(parts)])
            lake.replace_partition(rows, profile.table_path("bronze", QUARANTINE),
                                   {"dataset": sorted(parts), "ds": self.ds}, metrics=False)
        finally:
            for frame in cached:
                frame.unpersist()


# --------------------------------------------------------------------------- the delivery


@dataclass(frozen=True)
class Delivery:
    folder: str
    files: tuple[tuple[str, int, str], ...]  # (name, rows, sha256) for this table's files
    empty: tuple[str, ...] = ()  # files of 0 bytes that the manifest declares with 0 rows

    def only(self, names: set[str]) -> Delivery:
        """The same delivery restricted to the files ``names``."""
        return Delivery(self.folder, tuple(f for f in self.files if f[0] in names),
                        tuple(n for n in self.empty if n in names))

    @property
    def paths(self) -> list[str]:
        """The files Spark reads (a 0-byte file has nothing to read: its stats are :meth:`empty_stats`)."""
        return [storage.join(self.folder, name) for name, _, _ in self.files if name not in self.empty]

    def empty_stats(self) -> list[dict[str, Any]]:
        """The per-file stats of the empty files, as :func:`arrow_parser` reports a file."""
        sha = hashlib.sha256(b"").hexdigest()
        return [{"_source_file": name, "_file_sha256": sha, "_file_rows": 0, "_file_error": None} for name in self.empty]


def compact(ds: str) -> str:
    return dt.date.fromisoformat(ds).strftime("%Y%m%d")


def delivery_states(inbox: str, ds: str, datasets: list[str] | None = None, hour: int | None = None
                    ) -> dict[str, str] | None:
    """Per dataset, whether its delivery for ``ds`` is there: ``ready`` (a manifest), ``no
    manifest`` or ``no folder``; None when the inbox itself does not exist. Only looks at
    names, so a caller can refuse an empty inbox before any work starts. With ``hour``: whether
    the hourly parts 00 … ``hour`` are all there (``no manifest_HH.json`` names the first missing)."""
    from gridrisk.config import schema_names

    if not storage.exists(inbox):
        return None
    day = compact(ds)
    states = {}
    for name in datasets or schema_names():
        folder = storage.join(inbox, load_schema(name).delivery, day)
        manifests = [MANIFEST] if hour is None else [hourly_manifest(h) for h in range(hour + 1)]
        missing = [m for m in manifests if not storage.exists(storage.join(folder, m))]
        states[name] = ("ready" if not missing else "no folder" if not storage.exists(folder)
                        else "no manifest" if hour is None else f"no {missing[0]}")
    return states



def find_delivery(inbox: str, schema: DatasetSchema, ds: str, hour: int | None = None) -> Delivery:
    """Locate and validate the manifest of ``schema``'s delivery for ``ds``.

    With ``hour``: the day so far of a dataset delivered hourly — the parts of hours 00 …
    ``hour``, each listed by its own ``manifest_HH.json`` (every one of them must be there: a
    missing hour means the day so far is not complete yet). The day's ``manifest.json``, written
    after the last hour, lists the same parts, so the daily run reads exactly their union."""
    day = compact(ds)
    folder = storage.join(inbox, schema.delivery, day)
    if hour is None:
        files, problems = _manifest_files(folder, MANIFEST, schema, ds, None)
    else:
        missing = [hourly_manifest(h) for h in range(hour + 1) if not storage.exists(storage.join(folder, hourly_manifest(h)))]
        if missing:
            where = "no delivery folder" if not storage.exists(folder) else f"no {missing[0]} yet"
            raise DeliveryNotReady(f"{folder}: {where} — the {schema.delivery} delivery for {ds} up to hour {hour:02d} "
                                   "is not complete")
        files, problems = [], []
        for h in range(hour + 1):
            got, wrong = _manifest_files(folder, hourly_manifest(h), schema, ds, h)
            files += got
            problems += wrong
    if not files and not problems:
        problems.append(f"{storage.join(folder, MANIFEST if hour is None else hourly_manifest(0))}: "
                        f"lists no {schema.file_prefix}_*.{schema.format} file")
    if problems:
        raise DeliveryRejected("; ".join(problems))
    empty = []
    for name, rows, _ in files:
        # A 0-byte file declared with 0 rows is a day with nothing to deliver (shared/extracts.md);
        # declared with rows it is a file that lost its content. (A 0-byte file is not read at
        # all — :attr:`Delivery.paths` — so both are decided here.)
        if storage.size(storage.join(folder, name)) > 0:
            continue
        if rows == 0:
            empty.append(name)
            continue
        expected = {"jsonl": "JSON lines", "geojson": "a GeoJSON FeatureCollection"}.get(
            schema.format, f"the header {schema.delimiter.join(schema.source_names)}")
        raise IngestError(f"{name}, line 1: empty file (0 bytes) but the manifest says {rows} row(s): expected {expected}")
    return Delivery(folder, tuple(sorted(files)), tuple(sorted(empty)))


def _manifest_files(folder: str, manifest_name: str, schema: DatasetSchema, ds: str, hour: int | None
                    ) -> tuple[list[tuple[str, int, str]], list[str]]:
    """(name, rows, sha256) of ``schema``'s files one manifest lists, and what is wrong with it
    (each problem prefixed with the manifest's path). Raises :class:`DeliveryNotReady` without it."""
    day = compact(ds)
    manifest_path = storage.join(folder, manifest_name)
    if not storage.exists(manifest_path):
        where = "no delivery folder" if not storage.exists(folder) else f"no {manifest_name} yet"
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
    if hour is not None and manifest.get("hour") != hour:
        problems.append(f"hour is {manifest.get('hour')!r}, expected {hour}")
    # <prefix>_<YYYYMMDD>[HH][_partNN].<ext>: a day's file, or one hour's part of it
    name_re = re.compile(rf"^{re.escape(schema.file_prefix)}_(\d{{8}})(\d{{2}})?(?:_part\d+)?\.{re.escape(schema.format)}$")
    files = []
    for entry in manifest["files"]:
        name = str(entry.get("name", ""))
        if not name.startswith(f"{schema.file_prefix}_"):
            continue  # another table of the same delivery (reference)
        m = name_re.match(name)
        if not m:
            problems.append(f"file {name} does not follow {schema.file_prefix}_<YYYYMMDD>[HH][_partNN].{schema.format}")
            continue
        if m.group(1) != day:
            problems.append(f"file {name} is for {m.group(1)}, not {day}")
        if hour is not None and m.group(2) != f"{hour:02d}":
            problems.append(f"file {name} is not a part of hour {hour:02d} ({schema.file_prefix}_{day}{hour:02d}…)")
        if not storage.is_file(storage.join(folder, name)):
            problems.append(f"file {name} is listed in the manifest but missing")
        try:
            rows = int(entry["rows"])
            if rows < 0:
                raise ValueError
            files.append((name, rows, str(entry["sha256"]).lower()))
        except (KeyError, TypeError, ValueError):
            problems.append(f"file {name}: manifest entry needs a row count (a whole number ≥ 0) and a sha256")
    return files, [f"{manifest_path}: {p}" for p in problems]


# --------------------------------------------------------------------------- parsing on executors


FILE_META: tuple[tuple[str, str], ...] = (
    ("_kind", "string"), ("_source_file", "string"), ("_file_sha256", "string"), ("_file_rows", "int64"),
    ("_file_error", "string"),
)
#: Column order of the parsed-records DataFrame (the readers' record columns in the middle).
_META_ORDER = ("_kind", "_source_file", "_row_number", "_line_number", "_raw", "_parse_error", "_error_column",
               "_file_sha256", "_file_rows", "_file_error")
_SPARK_TYPE = {"string": "string", "int64": "bigint"}


def records_struct(schema: DatasetSchema) -> str:
    """DDL of the parsed-records DataFrame: metadata + one string per declared column."""
    kinds = dict(FILE_META + RECORD_META)
    return ", ".join([f"{k} {_SPARK_TYPE[kinds[k]]}" for k in _META_ORDER] + [f"`{c.name}` string" for c in schema.columns])


def arrow_parser(schema: DatasetSchema, paths: list[str], declared_rows: dict[str, int] | None = None,
                 fast: bool = True):  # type: ignore[no-untyped-def]
    """A ``mapInArrow`` function: batches of file numbers (``id``: an index into ``paths``) →
    record batches of parsed rows (``declared_rows``: file name → the manifest's row count, so an
    empty file can be judged; ``fast=False``: the Python reader only, to compare). The Python
    worker reads its file itself (:func:`gridrisk.storage.read_bytes`: local disk, s3://, gs://,
    hdfs://), so a file's bytes never sit in the JVM's heap. Each file's rows are followed by one
    ``_kind='file'`` row with its checksum, row count and (unreadable file) error."""
    names = schema.column_names

    def parse(batches: Iterator["pa.RecordBatch"]) -> Iterator["pa.RecordBatch"]:
        import pyarrow as pa

        kinds = dict(FILE_META + RECORD_META)
        out_schema = pa.schema([(k, pa.type_for_alias(kinds[k])) for k in _META_ORDER] + [(n, pa.string()) for n in names])

        def with_file(batch: "pa.RecordBatch", file: str) -> "pa.RecordBatch":
            n = batch.num_rows
            extra = {"_kind": pa.array(["row"] * n, pa.string()), "_source_file": pa.array([file] * n, pa.string()),
                     "_file_sha256": pa.nulls(n, pa.string()), "_file_rows": pa.nulls(n, pa.int64()),
                     "_file_error": pa.nulls(n, pa.string())}
            return pa.RecordBatch.from_arrays([extra[f.name] if f.name in extra else batch.column(f.name)
                                               for f in out_schema], schema=out_schema)

        for batch in batches:
            for path in (paths[i] for i in batch.column("id").to_pylist()):
                file = path.rsplit("/", 1)[-1]
                rows, sha, error = 0, None, None
                try:
                    try:
                        content = storage.read_bytes(path)
                    except OSError as exc:
                        raise FileUnreadable(file, None, f"cannot be read ({exc})") from None
                    parsed = parse_file_arrow(content, file, schema, (declared_rows or {}).get(file), fast=fast)
                    sha = parsed.sha256
                    for records in parsed.batches:
                        rows += records.num_rows
                        yield with_file(records, file)
                except FileUnreadable as exc:
                    error = str(exc)  # the dataset stops (verify_files): none of this file's rows count
                stats: dict[str, list[Any]] = {f.name: [None] for f in out_schema}
                stats.update(_kind=["file"], _source_file=[file], _file_sha256=[sha], _file_rows=[rows],
                             _file_error=[error])
                yield pa.RecordBatch.from_pydict(stats, schema=out_schema)

    return parse


def read_records(spark: "SparkSession", schema: DatasetSchema, delivery: Delivery, fast: bool = True) -> "DataFrame":
    """Parsed records + one ``_kind='file'`` row per file with its checksum and row count
    (none for the 0-byte files of an empty delivery: see :meth:`Delivery.empty_stats`).

    One task per file: its Python worker reads and parses it (Arrow uses its threads), so memory
    holds one file per running task whatever the delivery's size — Spark's ``binaryFile`` source
    packed 128 MiB of files into one row batch on the JVM heap, which ran a 10 M-person day out of
    a 4 GiB heap. A big delivery is spread over more partitions after parsing
    (:data:`SPLIT_BYTES`), so typing and writing then use every core rather than one task per file."""
    paths = delivery.paths
    if not paths:
        return spark.createDataFrame([], records_struct(schema))
    declared = {name: rows for name, rows, _ in delivery.files}
    files = spark.range(0, len(paths), 1, len(paths))  # file i is partition i
    records = files.mapInArrow(arrow_parser(schema, paths, declared, fast), records_struct(schema))
    total = sum(storage.size(p) for p in paths)
    if schema.format == "csv.gz":
        total *= 8  # about what gzip saves on these extracts
    wanted = total // SPLIT_BYTES
    if wanted > max(1, len(paths)):
        records = records.repartition(int(wanted))
    return records


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


def transform(records: "DataFrame", schema: DatasetSchema, ds: str, batch_id: str, ingest_ts: dt.datetime,
              typed: bool = False) -> tuple["DataFrame", "DataFrame"]:
    """(accepted rows, quarantined rows) from the parsed records of one delivery (``typed``:
    already through :func:`~jobs.bronze.cast.cast_records`). Pure."""
    from pyspark.sql import functions as F

    from jobs.bronze.cast import cast_records

    rows = records.where(F.col("_kind") == "row")
    typed_rows = rows if typed else cast_records(rows, schema)
    stamp = [F.lit(batch_id).alias("_batch_id"), F.lit(ingest_ts).cast("timestamp").alias("_ingest_ts"),
             F.lit(ds).cast("date").alias("ds")]
    accepted = typed_rows.where(F.col("_error_code").isNull()).select(
        *schema.column_names, "_source_file", "_row_number", *stamp
    )
    quarantined = typed_rows.where(F.col("_error_code").isNotNull()).select(
        F.lit(schema.dataset).alias("dataset"),
        F.col("_source_file").alias("source_file"),
        F.col("_row_number").alias("row_number"),
        F.col("_line_number").alias("line_number"),
        F.col("_raw").alias("raw_text"),
        F.col("_error").alias("reason"),
        F.col("_error_code").alias("reason_code"),
        *stamp,
    )
    return accepted, quarantined


def batch_id_for(schema: DatasetSchema, ds: str, delivery: Delivery) -> str:
    digest = hashlib.sha256(json.dumps([schema.dataset, ds, delivery.files]).encode()).hexdigest()
    return digest[:16]


# --------------------------------------------------------------------------- I/O shell


def run(spark: "SparkSession", profile: Profile, dataset: str, ds: str, now: dt.datetime | None = None,
        fast: bool = True, log: bool = True, hour: int | None = None, gate: "Gate | None" = None,
        quarantine: QuarantineBatch | None = None, incremental: bool = False) -> IngestResult:
    """Ingest one dataset for one logical date (with ``hour``: the hourly parts of the day so far,
    :func:`find_delivery`). Never raises for bad input: the result says.

    One pass parses and types the delivery (cached); one small job over it gives every count —
    the files' checksums and rows, accepted rows, quarantined rows by reason — so the two
    writes (the table, the quarantine) need no count or read-back of their own. ``log=False``
    leaves the ``_ingest_log`` row to the caller (:func:`write_logs`: one commit for a whole
    run); ``fast=False`` parses with the Python reader only (to compare).

    ``gate`` (the quality gate, ``jobs.quality.validate.gate``) judges the accepted rows before
    anything is written: bronze then gets only the rows that pass it and the quarantine both the
    rows typing refused and those it refused — one write per table instead of a write, a read
    back and a rewrite. The ingest result and log keep ingest's own counts; the gate's verdict is
    its ``result``.

    ``incremental`` (with ``hour``; the hourly run): only the parts of the day so far that
    ``_ingest_parts`` does not hold with the same checksum are parsed, gated and written, each
    write replacing only those files' rows (:func:`lake.replace_partition` ``where``); a re-run
    with nothing new writes nothing. The gate judges the new parts; a part landed earlier that
    failed quality keeps the day so far failed until it is delivered again. The result's counts
    are the day so far, ``new_files`` / ``new_rows`` this run's."""
    import time

    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from jobs.bronze.cast import cast_records

    if incremental and (hour is None or quarantine is not None):
        raise ValueError("incremental ingest lands hourly parts (hour=) and writes its own quarantine rows (no quarantine=)")
    started = time.monotonic()
    schema = load_schema(dataset)
    result = IngestResult(dataset, ds, "failed")
    typed = None
    gated = None
    try:
        delivery = find_delivery(profile.inbox, schema, ds, hour)
        landed = read_parts(spark, profile, dataset, ds) if incremental else {}
        if incremental:
            delivery = delivery.only({name for name, _, sha in delivery.files if landed.get(name, {}).get("sha256") != sha})
            if not delivery.files:
                return _finish(spark, profile, day_so_far(result, landed, [], 0), started, log)
        result.files = [name for name, _, _ in delivery.files]
        result.batch_id = batch_id_for(schema, ds, delivery)
        typed = cast_records(read_records(spark, schema, delivery, fast), schema).persist(StorageLevel.MEMORY_AND_DISK)
        code = F.when(F.col("_kind") == "row", F.col("_error_code"))
        groups = (typed.groupBy("_kind", "_source_file", "_file_sha256", "_file_rows", "_file_error", code.alias("code"))
                  .count().collect())
        stats = [g.asDict() for g in groups if g["_kind"] == "file"] + delivery.empty_stats()
        verify_files(delivery, stats)
        result.rows_read = sum(int(s["_file_rows"]) for s in stats)
        rows = [g for g in groups if g["_kind"] == "row"]
        emitted = sum(int(g["count"]) for g in rows)
        reasons: dict[str, int] = {}
        for g in rows:
            if g["code"] is not None:
                reasons[g["code"]] = reasons.get(g["code"], 0) + int(g["count"])
        if result.rows_read != emitted:
            raise IngestError(f"{dataset} {ds}: the readers counted {result.rows_read} rows but emitted {emitted} — "
                              "this is a bug, please report it")
        ingest_ts = (now or dt.datetime.now()).replace(microsecond=0)
        result.reasons = dict(sorted(reasons.items()))
        result.rows_quarantined = sum(reasons.values())
        result.rows_accepted = emitted - result.rows_quarantined
        accepted, quarantined = transform(typed, schema, ds, result.batch_id, ingest_ts, typed=True)
        bad = result.rows_quarantined
        if gate is not None:
            gated = gate(accepted, {**result.as_dict(), "status": "loaded"})
            accepted, quarantined = gated.keep, quarantined.unionByName(gated.bad)
            bad += gated.moved
        files = {"_source_file": result.files} if incremental else None
        lake.replace_partition(accepted, profile.table_path("bronze", dataset), {"ds": ds}, metrics=False, where=files)
        if quarantine is not None:
            quarantine.add(dataset, quarantined, bad)
        else:
            lake.replace_partition(quarantined, profile.table_path("bronze", QUARANTINE), {"dataset": dataset, "ds": ds},
                                   metrics=False, where={"source_file": result.files} if incremental else None)
        if dataset in HOURLY_DATASETS:
            verdict = gated.result if gated is not None else None
            parts = part_rows(result, stats, rows, gated.bad if gated is not None and gated.moved else None,
                              verdict, ingest_ts)
            write_parts(spark, profile, dataset, ds, parts, replace_day=not incremental)
            if incremental:
                result = day_so_far(result, landed, parts, emitted)
                if verdict is not None:
                    carry_failed_parts(verdict, landed, set(result.new_files or ()))
        result.status = "loaded"
        if not incremental:
            result.message = f"{len(result.files)} file(s) loaded"
    except IngestError as exc:
        result.status, result.message = exc.status, str(exc)
    finally:
        if gated is not None:
            gated.release()
        if typed is not None:
            typed.unpersist()
    return _finish(spark, profile, result, started, log)


def _finish(spark: "SparkSession", profile: Profile, result: IngestResult, started: float, log: bool) -> IngestResult:
    import time

    result.seconds = round(time.monotonic() - started, 2)
    if log:
        write_log(spark, profile, result)
    return result


# --------------------------------------------------------------------------- hourly parts


def read_parts(spark: "SparkSession", profile: Profile, dataset: str, ds: str) -> dict[str, dict[str, Any]]:
    """``_ingest_parts`` of one dataset and date: file name → its row (checksum, counts, verdict)."""
    from pyspark.sql import functions as F

    path = profile.table_path("bronze", PARTS)
    if not lake.table_exists(spark, path):
        return {}
    rows = lake.read_partition(spark, profile, "bronze", PARTS, ds).where(F.col("dataset") == dataset).collect()
    return {r["source_file"]: r.asDict(recursive=True) for r in rows}


def part_rows(result: IngestResult, stats: list[dict[str, Any]], rows: list[Any], gate_bad: "DataFrame | None",
              verdict: dict[str, Any] | None, landed_ts: dt.datetime) -> list[dict[str, Any]]:
    """One ``_ingest_parts`` row per file of this landing: rows read (the file's stats), accepted
    and quarantined by typing, with the reasons (ingest's own counts, as ``_ingest_log``), and the
    rows the quality gate moved (``gate_bad``, counted per file)."""
    gated: dict[str, int] = {}
    if gate_bad is not None:
        gated = {r["source_file"]: int(r["count"]) for r in gate_bad.groupBy("source_file").count().collect()}
    reasons: dict[str, dict[str, int]] = {}
    for g in rows:
        if g["code"] is not None:
            by = reasons.setdefault(g["_source_file"], {})
            by[g["code"]] = by.get(g["code"], 0) + int(g["count"])
    out = []
    for st in sorted(stats, key=lambda x: x["_source_file"]):
        name, read = st["_source_file"], int(st["_file_rows"])
        bad = sum(reasons.get(name, {}).values())
        out.append({"dataset": result.dataset, "ds": dt.date.fromisoformat(result.ds), "source_file": name,
                    "sha256": st["_file_sha256"], "rows_read": read, "rows_accepted": read - bad, "rows_quarantined": bad,
                    "reasons": dict(sorted(reasons.get(name, {}).items())), "rows_failed_quality": gated.get(name, 0),
                    "batch_id": result.batch_id,
                    "quality_passed": None if verdict is None else bool(verdict["passed"]),
                    "quality_message": None if verdict is None else verdict["message"], "landed_ts": landed_ts})
    return out


def write_parts(spark: "SparkSession", profile: Profile, dataset: str, ds: str, parts: list[dict[str, Any]],
                replace_day: bool) -> None:
    """The ``_ingest_parts`` rows of a landing: replacing those files' rows, or (a daily run,
    ``replace_day``) the whole day of the dataset."""
    rows = spark.createDataFrame(parts, PARTS_SCHEMA)
    lake.replace_partition(rows, profile.table_path("bronze", PARTS), {"dataset": dataset, "ds": ds}, metrics=False,
                           where=None if replace_day else {"source_file": [p["source_file"] for p in parts]})


def day_so_far(result: IngestResult, landed: dict[str, dict[str, Any]], parts: list[dict[str, Any]],
               new_rows: int) -> IngestResult:
    """An incremental landing's result as the day so far: the parts landed before (less those
    replaced now) plus this run's ``parts``; ``new_files`` / ``new_rows`` say what this run added."""
    from dataclasses import replace

    new = {p["source_file"]: p for p in parts}
    every = {**{k: v for k, v in landed.items() if k not in new}, **new}
    reasons: dict[str, int] = {}
    for p in every.values():
        for code, n in (p.get("reasons") or {}).items():
            reasons[code] = reasons.get(code, 0) + int(n)
    names = sorted(every)
    message = (f"{len(new)} new part(s) landed ({new_rows} rows); the day so far: {len(names)} file(s)" if new else
               f"no new part since the last run; the day so far: {len(names)} file(s)")
    latest = max(every.values(), key=lambda p: (p["landed_ts"], p["source_file"]))["batch_id"] if every else None
    return replace(result, status="loaded", files=names, batch_id=result.batch_id or latest,
                   rows_read=sum(int(p["rows_read"]) for p in every.values()),
                   rows_accepted=sum(int(p["rows_accepted"]) for p in every.values()),
                   rows_quarantined=sum(int(p["rows_quarantined"]) for p in every.values()),
                   reasons=dict(sorted(reasons.items())), message=message,
                   new_files=sorted(new), new_rows=new_rows,
                   rows_failed_quality=sum(int(p.get("rows_failed_quality") or 0) for p in every.values()))


def carry_failed_parts(verdict: dict[str, Any], landed: dict[str, dict[str, Any]], relanded: set[str]) -> None:
    """A part landed earlier today that failed quality (and is not delivered again now) keeps
    the day so far failed: the new parts' verdict says so, naming it (in place)."""
    failed = sorted(name for name, p in landed.items() if p.get("quality_passed") is False and name not in relanded)
    if not failed:
        return
    verdict.update(passed=False, status="failed", message=(
        f"QUALITY FAILED {verdict['dataset']} {verdict['ds']}: part(s) {', '.join(failed)} landed earlier today "
        f"failed their quality gate and were not delivered again ({verdict['message']})"))
    verdict["failed_expectations"] = sorted(set(verdict.get("failed_expectations") or []) | {"earlier_part_failed"})


LOG_SCHEMA = (
    "dataset string, ds date, status string, batch_id string, files array<string>, rows_read bigint, "
    "rows_accepted bigint, rows_quarantined bigint, reasons map<string,bigint>, message string, seconds double"
)


def write_log(spark: "SparkSession", profile: Profile, result: IngestResult) -> None:
    write_logs(spark, profile, [result])


def write_logs(spark: "SparkSession", profile: Profile, results: list[IngestResult]) -> None:
    """The ``_ingest_log`` rows of several datasets of one date, in one commit."""
    if not results:
        return
    days = {r.ds for r in results}
    if len(days) != 1:
        raise ValueError(f"write_logs takes results of one date, got {sorted(days)}")
    columns = [c.split()[0] for c in LOG_SCHEMA.split(", ")]
    rows = [{**{k: v for k, v in r.as_dict().items() if k in columns}, "ds": dt.date.fromisoformat(r.ds)} for r in results]
    lake.replace_partition(spark.createDataFrame(rows, LOG_SCHEMA), profile.table_path("bronze", INGEST_LOG),
                           {"dataset": sorted({r.dataset for r in results}), "ds": days.pop()}, metrics=False)


def read_log(spark: "SparkSession", profile: Profile, ds: str) -> list[dict[str, Any]]:
    path = profile.table_path("bronze", INGEST_LOG)
    if not lake.table_exists(spark, path):
        return []
    return [r.asDict(recursive=True) for r in lake.read_partition(spark, profile, "bronze", INGEST_LOG, ds).orderBy("dataset").collect()]

