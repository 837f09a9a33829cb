"""Spark row flags: which rows break a row-level check, as plain Spark column expressions.

The verdict per row scales: failing rows never travel to the driver. Great Expectations then
validates the same checks on the same DataFrame for counts, samples and Data Docs
(:mod:`gridrisk.quality.gx_report`). Nothing here imports GX.

The ID checks need the one definition of ID damage; it is *passed in* (``id_parser``: a
DataFrame, an ID column and an output column → the DataFrame with ``struct(id_status,
id_birth_date, …)`` in the output column), so the library does not import ``jobs``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from gridrisk.quality.checks import DEFAULT_REJECTED_ID_STATUSES, HELPER_PREFIX, Check, id_columns

#: (DataFrame, ID column, output column) → the DataFrame with a ``struct`` with at least
#: ``id_status`` and ``id_birth_date`` in the output column.
IdParser = Callable[[DataFrame, str, str], DataFrame]
FAILED = "_q_failed"
REASONS = "_q_reasons"


def _window(check: Check, ds: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    day = dt.datetime.combine(dt.date.fromisoformat(ds), dt.time())
    before, after = check.params.get("days_before"), check.params.get("days_after")
    lo = None if before is None else day - dt.timedelta(days=int(before))
    hi = None if after is None else day + dt.timedelta(days=int(after) + 1)  # end of that day, exclusive
    return lo, hi


def applies(check: Check) -> Column:
    """True where ``check`` applies to the row (its ``only_when`` holds; always when it has none)."""
    cond = F.lit(True)
    for col, values in check.only_when.items():
        cond = cond & F.coalesce(F.col(col).cast("string").isin(*values), F.lit(False))
    return cond


def _column(check: Check) -> Column:
    if not check.column:
        raise ValueError(f"{check.name}: a {check.kind} check needs a column")
    return F.col(check.column)


def bad(check: Check) -> Column:
    """True where the row breaks a row-level check (null-safe: nulls pass unless not_null)."""
    p = check.params
    broken: Column
    if check.kind in ("id_valid", "birth_date_matches_id", "date_window"):
        if check.kind == "id_valid":
            broken = F.col(check.helper).isin(*p.get("reject", DEFAULT_REJECTED_ID_STATUSES))
        else:
            broken = ~F.col(check.helper)
        broken = F.coalesce(broken, F.lit(False))
    else:
        col = _column(check)
        if check.kind == "not_null":
            broken = col.isNull()
        elif check.kind == "in_set":
            broken = col.isNotNull() & ~col.cast("string").isin(*[str(v) for v in p["values"]])
        elif check.kind == "regex":
            broken = col.isNotNull() & ~col.cast("string").rlike(str(p["regex"]))
        elif check.kind == "between":
            out = F.lit(False)
            if p.get("min") is not None:
                out = out | (col < F.lit(p["min"]))
            if p.get("max") is not None:
                out = out | (col > F.lit(p["max"]))
            broken = col.isNotNull() & out
        elif check.kind == "not_before":
            before = F.col(str(p["before"]))
            broken = col.isNotNull() & before.isNotNull() & (col < before)
        else:
            raise ValueError(f"{check.name}: {check.kind} is not a row-level kind")
    return applies(check) & broken if check.only_when else broken


def add_helpers(df: DataFrame, checks: list[Check], ds: str, references: Mapping[str, DataFrame] | None = None,
                id_parser: IdParser | None = None) -> DataFrame:
    """Add the derived ``_q_*`` columns some kinds validate (ID status, windows, lookups). Pure."""
    references = references or {}
    ids = id_columns(checks)
    if ids and id_parser is None:
        raise ValueError(f"checks {', '.join(c.name for c in checks if c.kind in ('id_valid', 'birth_date_matches_id'))} "
                         "read ID damage: pass id_parser (the one ID standardisation)")
    for id_col in ids:
        assert id_parser is not None
        df = id_parser(df, id_col, f"{HELPER_PREFIX}id_{id_col}")
    for c in checks:
        if c.kind == "id_valid":
            df = df.withColumn(c.helper, F.col(f"{HELPER_PREFIX}id_{c.column}.id_status"))
        elif c.kind == "birth_date_matches_id":
            hint = F.col(f"{HELPER_PREFIX}id_{c.params['id_column']}.id_birth_date")
            col = _column(c)
            df = df.withColumn(c.helper, F.when(col.isNull() | hint.isNull(), None).otherwise(col.cast("date") == hint))
        elif c.kind == "date_window":
            lo, hi = _window(c, ds)
            v = _column(c).cast("timestamp")
            ok = F.lit(True)
            if lo is not None:
                ok = ok & (v >= F.lit(lo))
            if hi is not None:
                ok = ok & (v < F.lit(hi))
            df = df.withColumn(c.helper, F.when(v.isNull(), None).otherwise(ok))
        elif c.kind == "exists_in" and c.params["reference"] in references:
            ref = references[str(c.params["reference"])]
            col = _column(c)
            keys = (ref.select(F.col(str(c.params.get("reference_column", c.column))).alias("_q_key")).distinct()
                    .withColumn("_q_hit", F.lit(True)))
            df = (df.join(keys, col == F.col("_q_key"), "left")
                  .withColumn(c.helper, F.when(col.isNull(), None).otherwise(F.coalesce(F.col("_q_hit"), F.lit(False))))
                  .drop("_q_key", "_q_hit"))
    return df.drop(*[f"{HELPER_PREFIX}id_{id_col}" for id_col in ids]) if ids else df


def reason(check: Check) -> Column:
    """``expectation <name>: column <col> value '<v>'`` — the value as delivered."""
    col = _column(check)
    value = F.coalesce(col.cast("string"), F.lit("<null>"))
    if check.kind == "not_before":
        before = str(check.params["before"])
        value = F.concat(value, F.lit(f"' before {before} '"), F.coalesce(F.col(before).cast("string"), F.lit("<null>")))
    return F.concat(F.lit(f"expectation {check.name}: column {check.column} value '"), value, F.lit("'"))


def flag_rows(df: DataFrame, checks: list[Check], ds: str, references: Mapping[str, DataFrame] | None = None,
              id_parser: IdParser | None = None) -> DataFrame:
    """``df`` + helper columns + ``_q_failed`` (the name of the first row check the row fails,
    null when it passes them all) and ``_q_reasons`` (every failure's reason, joined by ``; ``).
    Pure. No array of failures filtered by a lambda: Spark interprets a lambda row by row, and
    every check's expression with it."""
    out = add_helpers(df, checks, ds, references, id_parser)
    names: list[Column] = []
    reasons: list[Column] = []
    for c in checks:
        if c.level != "row":
            continue
        broken = bad(c)
        names.append(F.when(broken, F.lit(c.name)))
        reasons.append(F.when(broken, reason(c)))
    if not names:
        none = F.lit(None).cast("string")
        return out.withColumn(FAILED, none).withColumn(REASONS, none)
    return out.withColumn(FAILED, F.coalesce(*names)).withColumn(REASONS, F.concat_ws("; ", *reasons))
