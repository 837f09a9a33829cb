"""The one I/O layer for Delta tables: every job reads, writes and reads the history of the lake
through here (only this module imports ``delta``).

Writes are idempotent: a partition is replaced as a whole (:func:`replace_partition`) or rows
are merged on a stable key (:func:`merge`), so re-running a logical date leaves the same table.
Every merge commit carries the logical date in its user metadata (``ds=<date> …``), so
:func:`version_for_ds` finds the table as the run of a given date left it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from gridrisk.config import Profile

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

T = TypeVar("T")
_CONFLICTS = ("ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentTransactionException",
              "ProtocolChangedException", "MetadataChangedException", "ConcurrentDeleteDeleteException",
              "[DELTA_CONCURRENT_", "[DELTA_PROTOCOL_CHANGED", "[DELTA_METADATA_CHANGED")


def with_conflict_retry(action: Callable[[], T], attempts: int = 5) -> T:
    """Run a Delta write, retrying when a concurrent writer of another partition won the race."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:  # py4j wraps the JVM exception; match on its name
            # Delta 4's Python exceptions carry the class name only in their type: the message
            # starts with the error class ([DELTA_CONCURRENT_APPEND…]), so match both.
            text = f"{type(exc).__name__} {exc}"
            if attempt == attempts or not any(name in text for name in _CONFLICTS):
                raise
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def partition_predicate(values: dict[str, Any]) -> str:
    """``k = v AND …``; a list or tuple value is ``k IN (…)`` (several partitions in one commit)."""
    return " AND ".join(f"{k} IN ({', '.join(sql_literal(x) for x in v)})" if isinstance(v, (list, tuple))
                        else f"{k} = {sql_literal(v)}" for k, v in values.items())


def table_exists(spark: "SparkSession", path: str) -> bool:
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, path))


def replace_partition(df: "DataFrame", path: str, partition: dict[str, Any], metrics: bool = True,
                      where: dict[str, Any] | None = None) -> dict[str, int]:
    """Replace exactly one partition of a Delta table (created on first write); a list value
    in ``partition`` replaces several partitions in one commit. ``where``: only the rows of the
    partition that match it too (data columns, same form: ``{"_source_file": [...]}`` replaces
    those files' rows and keeps the rest of the partition — an hourly part landed on its own).

    Returns the write's operation metrics (``numOutputRows`` …) read from the Delta log, so
    callers never need a separate ``count()``. The commit is found by a token in its user
    metadata, not by position, so a concurrent writer's commit is never mistaken for ours, and
    a write that Delta skipped (nothing to add or remove) reports 0 rows. ``metrics=False``
    skips reading them (a Spark job on the Delta log) for a caller that counted already.

    A column added by a newer version of a job is added to the table (older partitions read it
    as null), so a lake outlives upgrades; a removed or retyped column still fails loudly.
    """
    predicate = partition_predicate({**partition, **(where or {})})
    token = f"gridrisk-write:{uuid.uuid4().hex}"

    def write() -> None:
        (
            df.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", predicate)
            .option("mergeSchema", "true")
            .option("userMetadata", token)
            .partitionBy(*partition.keys())
            .save(path)
        )

    with_conflict_retry(write)
    return commit_metrics(df.sparkSession, path, token) if metrics else {}


def commit_metrics(spark: "SparkSession", path: str, token: str, look_back: int = 50) -> dict[str, int]:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    if not table_exists(spark, path):
        return {"numOutputRows": 0}
    row = (DeltaTable.forPath(spark, path).history(look_back).where(F.col("userMetadata") == token)
           .select("operationMetrics").first())
    if row is None:
        return {"numOutputRows": 0}
    metrics = row["operationMetrics"] or {}
    return {k: int(v) for k, v in metrics.items() if str(v).lstrip("-").isdigit()}


def last_metrics(spark: "SparkSession", path: str) -> dict[str, int]:
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, path).history(1).select("operationMetrics").first()
    metrics = (row["operationMetrics"] if row else None) or {}
    return {k: int(v) for k, v in metrics.items() if str(v).lstrip("-").isdigit()}


def audit_read(profile: Profile, layer: str, table: str, detail: str = "") -> None:
    """Log a read of a restricted table (raw IDs, names or registry details; ``restricted`` in
    gridrisk/catalog.py): who, when, which table — domain.md §6 "every read of unmasked data is
    logged". The line goes to the ``gridrisk.audit`` logger and, on a local lake, is appended to
    ``<lake>/_audit/unmasked_reads.jsonl``."""
    import datetime as dt
    import getpass
    import json
    import logging
    import os
    import sys

    from gridrisk.catalog import CATALOG

    ref = f"{layer}.{table}"
    try:
        if not CATALOG.table(ref).restricted:
            return
    except KeyError:
        return
    entry = {"at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
             "who": os.environ.get("GRIDRISK_ACTOR") or getpass.getuser(), "table": ref, "detail": detail,
             "process": os.environ.get("AIRFLOW_CTX_TASK_ID") or os.path.basename(sys.argv[0] or "python")}
    line = json.dumps(entry, ensure_ascii=False)
    logging.getLogger("gridrisk.audit").info(line)
    if "://" not in profile.lake:
        folder = os.path.join(profile.lake, "_audit")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "unmasked_reads.jsonl"), "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def read(spark: "SparkSession", profile: Profile, layer: str, table: str, version_as_of: int | None = None,
         timestamp_as_of: str | None = None) -> "DataFrame":
    audit_read(profile, layer, table)
    reader = spark.read.format("delta")
    if version_as_of is not None:
        reader = reader.option("versionAsOf", version_as_of)
    if timestamp_as_of is not None:
        reader = reader.option("timestampAsOf", timestamp_as_of)
    return reader.load(profile.table_path(layer, table))


def read_partition(spark: "SparkSession", profile: Profile, layer: str, table: str, ds: str) -> "DataFrame":
    """One logical date of a ``ds``-partitioned table."""
    from pyspark.sql import functions as F

    return read(spark, profile, layer, table).where(F.col("ds") == F.lit(ds).cast("date"))


def read_latest(spark: "SparkSession", profile: Profile, layer: str, table: str, ds: str) -> "DataFrame":
    """The newest partition on or before ``ds`` (reference data is not re-sent every day)."""
    from pyspark.sql import functions as F

    df = read(spark, profile, layer, table)
    day = F.lit(ds).cast("date")
    latest = df.where(F.col("ds") <= day).agg(F.max("ds").alias("d")).first()
    if latest is None or latest["d"] is None:
        raise LookupError(f"{layer}/{table} has no partition on or before {ds}")
    return df.where(F.col("ds") == F.lit(latest["d"]))


def merge(spark: "SparkSession", path: str, source: "DataFrame", on: str, *, user_metadata: str,
          matched_condition: str | None = None, matched_set: "dict[str, str | Column] | None" = None,
          insert_all: bool = True, not_matched_by_source_condition: str | None = None,
          not_matched_by_source_set: "dict[str, str | Column] | None" = None) -> dict[str, int]:
    """``MERGE INTO <path> t USING source s ON <on>`` with the given clauses, retried on a
    concurrent writer's conflict; ``user_metadata`` goes into the commit. Returns its metrics."""
    from delta.tables import DeltaTable

    target = DeltaTable.forPath(spark, path)

    def run() -> None:
        builder = target.alias("t").merge(source.alias("s"), on)
        if matched_set is not None:
            builder = builder.whenMatchedUpdate(condition=matched_condition, set=matched_set)
        if insert_all:
            builder = builder.whenNotMatchedInsertAll()
        if not_matched_by_source_set is not None:
            builder = builder.whenNotMatchedBySourceUpdate(condition=not_matched_by_source_condition,
                                                           set=not_matched_by_source_set)
        builder.execute()

    from gridrisk.spark import session_conf

    with session_conf(spark, {"spark.databricks.delta.commitInfo.userMetadata": user_metadata}):
        with_conflict_retry(run)
    return last_metrics(spark, path)


def history(spark: "SparkSession", path: str) -> list[dict[str, Any]]:
    """The table's commits (version, operation, operationParameters, userMetadata), oldest first."""
    from delta.tables import DeltaTable

    if not table_exists(spark, path):
        return []
    rows = DeltaTable.forPath(spark, path).history().select("version", "operation", "operationParameters", "userMetadata")
    return sorted((r.asDict() for r in rows.collect()), key=lambda r: r["version"])


def version_for_ds(spark: "SparkSession", path: str, as_of: str) -> int:
    """The version the last run for a logical date on or before ``as_of`` left (commits tagged
    ``ds=<date>``); :class:`LookupError` when there is none."""
    if not table_exists(spark, path):
        raise LookupError(f"no table yet: {path} does not exist")
    tagged = [r["version"] for r in history(spark, path)
              if (r["userMetadata"] or "").startswith("ds=") and r["userMetadata"][3:13] <= as_of]
    if not tagged:
        raise LookupError(f"no pipeline run for a date on or before {as_of}")
    return max(tagged)
