"""Strings as delivered → the declared canonical types, with a reason for every failure.

Pure transform: ``cast_records(df, schema)`` takes the parsed records (every field a string)
and returns the typed columns plus ``_error`` (the human-readable reasons joined by ``; ``,
null when the row is good) and ``_error_code`` (the first reason's short ``column:problem``
code, for summaries; null when the row is good).
"""

from __future__ import annotations

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from gridrisk.config import Column, DatasetSchema

#: Formats also accepted for a date column besides the declared one: real extracts mix them.
DATE_FALLBACKS = ("yyyy-MM-dd", "yyyy/MM/dd", "yyyyMMdd", "yyyy.MM.dd", "yyyy-M-d", "yyyy/M/d")
SPARK_SQL_TYPE = {
    "string": "string",
    "int": "int",
    "long": "bigint",
    "double": "double",
    "date": "date",
    "timestamp": "timestamp",
    "boolean": "boolean",
}


def _blank_to_null(raw: SparkColumn) -> SparkColumn:
    trimmed = F.trim(raw)
    return F.when(trimmed == "", F.lit(None)).otherwise(trimmed)


def _parse_temporal(v: SparkColumn, col: Column, schema: DatasetSchema) -> tuple[SparkColumn, str]:
    fmt = schema.temporal_format(col)
    if col.type == "timestamp":
        if fmt in (None, "iso8601"):
            return F.try_to_timestamp(v), "an ISO 8601 timestamp"
        return F.try_to_timestamp(v, F.lit(fmt)), f"a timestamp {fmt}"
    formats = [fmt] + [f for f in DATE_FALLBACKS if f != fmt]
    parsed = F.coalesce(*[F.try_to_timestamp(v, F.lit(f)) for f in formats])
    return F.to_date(parsed), f"a date {fmt}"


def typed_value(col: Column, schema: DatasetSchema) -> tuple[SparkColumn, SparkColumn]:
    """(typed value, error message or null) for one column of the records DataFrame."""
    v = _blank_to_null(F.col(col.name))
    what: str
    if col.type == "string":
        value, what = v, "text"
    elif col.type in ("int", "long"):
        ok = v.rlike(r"^[+-]?[0-9]+$")
        value = F.when(ok, v.try_cast(SPARK_SQL_TYPE[col.type]))
        what = "a whole number"
    elif col.type == "double":
        value = v.try_cast("double")
        what = "a number"
    elif col.type in ("date", "timestamp"):
        value, what = _parse_temporal(v, col, schema)
    else:  # boolean
        value = F.when(v.isin(*col.true_values), F.lit(True)).when(v.isin(*col.false_values), F.lit(False))
        what = "one of " + "/".join(col.true_values + col.false_values)
    if col.scale is not None:
        value = F.round(value * F.lit(col.scale), 7)
    label = f"column {col.source} ({col.name})"
    shown = F.substring(v, 1, 200)
    error = (
        F.when(v.isNotNull() & value.isNull(), F.concat(F.lit(f"{label}: expected {what}, got '"), shown, F.lit("'")))
        .when(v.isNull() & F.lit(not col.nullable), F.lit(f"{label}: required value is empty"))
    )
    return value.cast(SPARK_SQL_TYPE[col.type]).alias(col.name), error


def cast_records(records: DataFrame, schema: DatasetSchema) -> DataFrame:
    """Typed columns of ``schema`` + the record's metadata + ``_error`` / ``_error_code``.

    ``records`` has one string column per canonical name plus ``_parse_error`` (the reader's
    reason, e.g. a wrong field count) and ``_error_column``.
    """
    values, errors, codes = [], [], []
    for col in schema.columns:
        value, error = typed_value(col, schema)
        values.append(value)
        errors.append(error)
        codes.append(
            F.when(error.isNotNull(), F.when(error.endswith("required value is empty"), F.lit(f"{col.name}:missing")).otherwise(F.lit(f"{col.name}:bad_{col.type}")))
        )
    # No array of the failures, filtered by a lambda: Spark interprets lambdas row by row, and
    # with them every typed value they are given. concat_ws and coalesce skip nulls natively.
    parse_failed = F.col("_parse_error").isNotNull()
    first_code = F.coalesce(*codes)
    error = F.when(parse_failed, F.col("_parse_error")).when(first_code.isNotNull(), F.concat_ws("; ", *errors))
    code = F.when(parse_failed, F.concat(F.coalesce(F.col("_error_column"), F.lit("record")), F.lit(":unparsable"))
                  ).otherwise(first_code)
    meta = [c for c in records.columns if c.startswith("_") and c not in ("_parse_error", "_error_column")]
    return records.select(*values, *meta, error.alias("_error"), code.alias("_error_code"))
