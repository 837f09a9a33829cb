"""Data quality: expectation suites, row flags and the one adapter to Great Expectations.

A suite is a list of :class:`Check` objects built from two sources:

- **structural** checks derived at run time from ``schemas/<dataset>.yaml`` (columns present,
  Spark types, not-null for ``nullable: false``, enum sets, regex patterns, min/max) — never
  retyped by hand;
- **business** checks declared in ``expectations/<dataset>.yaml`` (ID check character, birth
  date against the ID, coordinates inside Jiangsu, speed, event time window, one row per
  business key, referential checks …), with thresholds from ``conf/quality.yaml``.

Every check has a ``level``: ``row`` (a failing row is moved to quarantine by the caller) or
``batch`` (a share/threshold over the whole batch; nothing is removed). The row-level verdict
per row is computed by :func:`flag_rows` as plain Spark columns (it scales: failing rows never
travel to the driver); Great Expectations then validates the same checks on the same
DataFrame for counts, sample values and Data Docs (:func:`validate`). This is the only
module that imports ``great_expectations``, and it does so lazily inside functions.

Example:
    >>> [c.name for c in structural_checks(load_schema_or_none("hazmat_vehicles"))][:3]
    ['hazmat_vehicles.columns_present', 'hazmat_vehicles.plate_no.type', 'hazmat_vehicles.plate_colour.type']
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridrisk.config import ConfigError, DatasetSchema, load_schema, read_yaml, repo_root, schema_names

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

LEVELS = ("row", "batch")
#: ID statuses (gridrisk.ids.STATUSES) that make a row unusable at bronze. Damaged but
#: repairable or merely unlinkable IDs (repaired_15, bad_check, truncated, missing) stay: silver
#: repairs or falls back to names, and dropping them would hide real people from the rules.
DEFAULT_REJECTED_ID_STATUSES = ("malformed",)
SPARK_TYPE_NAMES = {
    "string": "StringType", "int": "IntegerType", "long": "LongType", "double": "DoubleType",
    "date": "DateType", "timestamp": "TimestampType", "boolean": "BooleanType",
}
KINDS = ("not_null", "in_set", "regex", "between", "id_valid", "birth_date_matches_id", "date_window",
         "not_before", "unique_key", "exists_in")
HELPER_PREFIX = "_q_"


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Check:
    """One expectation: what GX validates, and (for row checks) how Spark flags a bad row."""

    name: str
    kind: str
    level: str  # row | batch
    origin: str  # schema | business
    column: str | None = None  # the column named in a quarantine reason
    params: Mapping[str, Any] = field(default_factory=dict)
    threshold: float | None = None  # batch checks: the share of rows that must pass ("mostly")
    description: str = ""

    @property
    def helper(self) -> str:
        """Name of the derived column some kinds validate (``_q_<name>``)."""
        return HELPER_PREFIX + re.sub(r"\W", "_", self.name)


@dataclass(frozen=True)
class Policy:
    """Per-dataset thresholds from ``conf/quality.yaml``."""

    max_bad_share: float
    thresholds: Mapping[str, float]


@cache
def load_policy_file() -> dict[str, Any]:
    raw = read_yaml(repo_root() / "conf" / "quality.yaml") or {}
    problems = []
    default = raw.get("default") or {}
    if not isinstance(default.get("max_bad_share"), (int, float)):
        problems.append("default.max_bad_share must be a number")
    for name, entry in (raw.get("datasets") or {}).items():
        for key in entry or {}:
            if key not in ("max_bad_share", "thresholds"):
                problems.append(f"datasets.{name}: unknown key {key!r}")
    if problems:
        raise ConfigError("conf/quality.yaml", problems)
    return raw


def policy(dataset: str) -> Policy:
    """Thresholds for ``dataset``: its own entry over the default."""
    raw = load_policy_file()
    default = raw.get("default") or {}
    own = (raw.get("datasets") or {}).get(dataset) or {}
    thresholds = {**(default.get("thresholds") or {}), **(own.get("thresholds") or {})}
    return Policy(float(own.get("max_bad_share", default["max_bad_share"])), thresholds)


def load_schema_or_none(dataset: str) -> DatasetSchema | None:
    return load_schema(dataset) if dataset in schema_names() else None


def structural_checks(schema: DatasetSchema | None) -> list[Check]:
    """Checks implied by the declared schema: nothing here is typed by hand."""
    if schema is None:
        return []
    d = schema.dataset
    checks = [Check(f"{d}.columns_present", "columns_present", "batch", "schema",
                    params={"columns": tuple(schema.column_names)},
                    description="every declared column is in the table")]
    for c in schema.columns:
        checks.append(Check(f"{d}.{c.name}.type", "type", "batch", "schema", c.name,
                            {"type": SPARK_TYPE_NAMES[c.type]}, description=f"{c.name} is {c.type}"))
    for c in schema.columns:
        if not c.nullable:
            checks.append(Check(f"{d}.{c.name}.not_null", "not_null", "row", "schema", c.name,
                                description=f"{c.source} ({c.name}) is required"))
        if c.enum:
            checks.append(Check(f"{d}.{c.name}.in_set", "in_set", "row", "schema", c.name,
                                {"values": tuple(c.enum)}, description=f"{c.name} is one of {', '.join(c.enum)}"))
        if c.pattern:
            checks.append(Check(f"{d}.{c.name}.pattern", "regex", "row", "schema", c.name,
                                {"regex": c.pattern}, description=f"{c.name} matches {c.pattern}"))
        if c.min is not None or c.max is not None:
            checks.append(Check(f"{d}.{c.name}.range", "between", "row", "schema", c.name,
                                {"min": c.min, "max": c.max}, description=f"{c.name} within [{c.min}, {c.max}]"))
    return checks


def expectations_path(dataset: str) -> Path:
    return repo_root() / "expectations" / f"{dataset}.yaml"


def business_checks(dataset: str, pol: Policy | None = None) -> list[Check]:
    """The hand-written checks of ``expectations/<dataset>.yaml``; every problem reported at once."""
    path = expectations_path(dataset)
    raw = read_yaml(path) or {}
    pol = pol or policy(dataset)
    schema = load_schema_or_none(dataset)
    known = set(schema.column_names) if schema else None
    problems: list[str] = []
    checks: list[Check] = []
    if raw.get("dataset") != dataset:
        problems.append(f"dataset must be {dataset!r}, got {raw.get('dataset')!r}")
    seen: set[str] = set()
    for i, e in enumerate(raw.get("expectations") or []):
        where = f"expectations[{i}]"
        name, kind, level = e.get("name"), e.get("kind"), e.get("level")
        if not name or kind not in KINDS or level not in LEVELS:
            problems.append(f"{where}: needs name, kind (one of {', '.join(KINDS)}) and level (row|batch)")
            continue
        if name in seen:
            problems.append(f"{where}: name {name!r} used twice")
        seen.add(name)
        params = {k: v for k, v in e.items() if k not in ("name", "kind", "level", "column", "threshold", "why")}
        column = e.get("column")
        cols = [column] if column else []
        cols += list(params.get("columns") or []) + [params[k] for k in ("id_column", "before") if k in params]
        for col in cols:
            if known is not None and col not in known:
                problems.append(f"{where} ({name}): {col!r} is not a column of {dataset}")
        if kind not in ("unique_key",) and not column:
            problems.append(f"{where} ({name}): needs a column")
        threshold = pol.thresholds.get(name, e.get("threshold"))
        if level == "batch" and threshold is None:
            problems.append(f"{where} ({name}): a batch expectation needs a threshold (here or in conf/quality.yaml)")
        if level == "row" and kind in ("unique_key", "exists_in"):
            problems.append(f"{where} ({name}): {kind} is batch level only (duplicates and late references are normal)")
        if kind == "unique_key" and not params.get("columns"):
            if schema is None:
                problems.append(f"{where} ({name}): needs columns (no schema to take the business key from)")
            else:
                params["columns"] = list(schema.business_key)
        checks.append(Check(f"{dataset}.{name}", kind, level, "business", column, params,
                            None if threshold is None else float(threshold), str(e.get("why", "")).strip()))
    if problems:
        raise ConfigError(str(path), problems)
    return checks


def suite_checks(dataset: str) -> list[Check]:
    """Structural (from ``schemas/``) + business (from ``expectations/``) checks of a dataset."""
    return structural_checks(load_schema_or_none(dataset)) + business_checks(dataset)


def references_needed(checks: list[Check]) -> set[str]:
    """Bronze tables the referential checks read (the caller loads them)."""
    return {c.params["reference"] for c in checks if c.kind == "exists_in"}


# --------------------------------------------------------------------------- Spark (no GX)


def _window(check: Check, ds: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    day = dt.datetime.combine(dt.date.fromisoformat(ds), dt.time())
    before, after = check.params.get("days_before"), check.params.get("days_after")
    lo = None if before is None else day - dt.timedelta(days=before)
    hi = None if after is None else day + dt.timedelta(days=after + 1)  # end of that day, exclusive
    return lo, hi


def _bad(check: Check) -> "Column":
    """True where the row breaks a row-level check (null-safe: nulls pass unless not_null)."""
    from pyspark.sql import functions as F

    col = F.col(check.column) if check.column else None
    p = check.params
    if check.kind == "not_null":
        return col.isNull()
    if check.kind == "in_set":
        return col.isNotNull() & ~col.cast("string").isin(*[str(v) for v in p["values"]])
    if check.kind == "regex":
        return col.isNotNull() & ~col.cast("string").rlike(p["regex"])
    if check.kind == "between":
        bad = F.lit(False)
        if p.get("min") is not None:
            bad = bad | (col < F.lit(p["min"]))
        if p.get("max") is not None:
            bad = bad | (col > F.lit(p["max"]))
        return col.isNotNull() & bad
    if check.kind == "id_valid":
        return F.coalesce(F.col(check.helper).isin(*p.get("reject", DEFAULT_REJECTED_ID_STATUSES)), F.lit(False))
    if check.kind in ("birth_date_matches_id", "date_window"):
        return F.coalesce(~F.col(check.helper), F.lit(False))
    if check.kind == "not_before":
        return col.isNotNull() & F.col(p["before"]).isNotNull() & (col < F.col(p["before"]))
    raise ValueError(f"{check.name}: {check.kind} is not a row-level kind")


def add_helpers(df: "DataFrame", checks: list[Check], ds: str,
                references: Mapping[str, "DataFrame"] | None = None) -> "DataFrame":
    """Add the derived ``_q_*`` columns some kinds validate (ID status, windows, lookups). Pure."""
    from pyspark.sql import functions as F

    references = references or {}
    id_cols = sorted({c.column if c.kind == "id_valid" else c.params["id_column"]
                      for c in checks if c.kind in ("id_valid", "birth_date_matches_id")})
    if id_cols:
        from jobs.silver.standardise import normalise_id  # the one definition of ID damage

        for col in id_cols:
            df = df.withColumn(f"{HELPER_PREFIX}id_{col}", normalise_id(col))
    for c in checks:
        if c.kind == "id_valid":
            df = df.withColumn(c.helper, F.col(f"{HELPER_PREFIX}id_{c.column}.id_status"))
        elif c.kind == "birth_date_matches_id":
            hint = F.col(f"{HELPER_PREFIX}id_{c.params['id_column']}.id_birth_date")
            df = df.withColumn(c.helper, F.when(F.col(c.column).isNull() | hint.isNull(), None)
                               .otherwise(F.col(c.column).cast("date") == hint))
        elif c.kind == "date_window":
            lo, hi = _window(c, ds)
            v = F.col(c.column).cast("timestamp")
            ok = F.lit(True)
            if lo is not None:
                ok = ok & (v >= F.lit(lo))
            if hi is not None:
                ok = ok & (v < F.lit(hi))
            df = df.withColumn(c.helper, F.when(v.isNull(), None).otherwise(ok))
        elif c.kind == "exists_in" and c.params["reference"] in references:
            ref = references[c.params["reference"]]
            keys = ref.select(F.col(c.params.get("reference_column", c.column)).alias("_q_key")).distinct() \
                .withColumn("_q_hit", F.lit(True))
            df = (df.join(keys, F.col(c.column) == F.col("_q_key"), "left")
                  .withColumn(c.helper, F.when(F.col(c.column).isNull(), None)
                              .otherwise(F.coalesce(F.col("_q_hit"), F.lit(False))))
                  .drop("_q_key", "_q_hit"))
    return df.drop(*[f"{HELPER_PREFIX}id_{col}" for col in id_cols]) if id_cols else df


def flag_rows(df: "DataFrame", checks: list[Check], ds: str,
              references: Mapping[str, "DataFrame"] | None = None) -> "DataFrame":
    """``df`` + helper columns + ``_q_failed`` (names of failed row checks) and ``_q_reasons``. Pure.

    A reason reads ``expectation <name>: column <col> value '<v>'`` — the value as delivered.
    """
    from pyspark.sql import functions as F

    out = add_helpers(df, checks, ds, references)
    names, reasons = [], []
    for c in checks:
        if c.level != "row":
            continue
        bad = _bad(c)
        value = F.coalesce(F.col(c.column).cast("string"), F.lit("<null>"))
        if c.kind == "not_before":
            value = F.concat(value, F.lit(f"' before {c.params['before']} '"),
                             F.coalesce(F.col(c.params["before"]).cast("string"), F.lit("<null>")))
        names.append(F.when(bad, F.lit(c.name)))
        reasons.append(F.when(bad, F.concat(F.lit(f"expectation {c.name}: column {c.column} value '"), value, F.lit("'"))))
    if not names:
        return out.withColumn("_q_failed", F.array().cast("array<string>")).withColumn(
            "_q_reasons", F.array().cast("array<string>"))
    return out.withColumn("_q_failed", F.filter(F.array(*names), lambda x: x.isNotNull())) \
              .withColumn("_q_reasons", F.filter(F.array(*reasons), lambda x: x.isNotNull()))


# --------------------------------------------------------------------------- Great Expectations


@dataclass
class ExpectationOutcome:
    name: str
    level: str
    origin: str
    success: bool | None  # None: skipped (e.g. reference table missing)
    unexpected_count: int | None = None
    element_count: int | None = None
    unexpected_values: list[Any] = field(default_factory=list)
    threshold: float | None = None
    observed: Any = None
    note: str = ""


@dataclass
class SuiteOutcome:
    suite: str
    success: bool  # GX's own verdict over every expectation (row ones have no tolerance)
    expectations: list[ExpectationOutcome]
    data_docs: str | None = None

    def by_name(self) -> dict[str, ExpectationOutcome]:
        return {e.name: e for e in self.expectations}


def _gx_expectation(check: Check, columns: set[str]):  # type: ignore[no-untyped-def]
    """The GX 1.x expectation object for one check (or None when it cannot run)."""
    import great_expectations as gx

    E = gx.expectations
    p = check.params
    meta = {"gridrisk_name": check.name, "level": check.level, "origin": check.origin,
            "description": check.description}
    mostly = {"mostly": check.threshold} if check.level == "batch" and check.threshold is not None else {}
    if check.kind == "columns_present":
        return E.ExpectTableColumnsToMatchSet(column_set=list(p["columns"]), exact_match=False, meta=meta)
    if check.kind == "type":
        return E.ExpectColumnValuesToBeOfType(column=check.column, type_=p["type"], meta=meta)
    if check.kind == "not_null":
        return E.ExpectColumnValuesToNotBeNull(column=check.column, meta=meta, **mostly)
    if check.kind == "in_set":
        return E.ExpectColumnValuesToBeInSet(column=check.column, value_set=list(p["values"]), meta=meta, **mostly)
    if check.kind == "regex":
        return E.ExpectColumnValuesToMatchRegex(column=check.column, regex=p["regex"], meta=meta, **mostly)
    if check.kind == "between":
        return E.ExpectColumnValuesToBeBetween(column=check.column, min_value=p.get("min"), max_value=p.get("max"),
                                               meta=meta, **mostly)
    if check.kind == "id_valid":
        return E.ExpectColumnValuesToNotBeInSet(column=check.helper, meta=meta, **mostly,
                                                value_set=list(p.get("reject", DEFAULT_REJECTED_ID_STATUSES)))
    if check.kind in ("birth_date_matches_id", "date_window", "exists_in"):
        if check.helper not in columns:
            return None
        return E.ExpectColumnValuesToBeInSet(column=check.helper, value_set=[True], meta=meta, **mostly)
    if check.kind == "not_before":
        return E.ExpectColumnPairValuesAToBeGreaterThanB(column_A=check.column, column_B=p["before"], or_equal=True,
                                                         ignore_row_if="either_value_is_missing", meta=meta, **mostly)
    if check.kind == "unique_key":
        cols = list(p["columns"])
        if len(cols) == 1:
            return E.ExpectColumnValuesToBeUnique(column=cols[0], meta=meta, **mostly)
        return E.ExpectCompoundColumnsToBeUnique(column_list=cols, meta=meta, **mostly)
    raise ValueError(f"{check.name}: unknown kind {check.kind}")


def _docs_site(docs_dir: str) -> dict[str, Any]:
    return {"class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": docs_dir},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}


def validate(df: "DataFrame", suite_name: str, checks: list[Check], run_name: str,
             docs_dir: str | None = None, sample: int = 5) -> SuiteOutcome:
    """Validate ``df`` (already through :func:`add_helpers`) with GX; build Data Docs if ``docs_dir``.

    Returns plain Python: per expectation its name, success, unexpected count and a few values.
    """
    import logging
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}  # type: ignore[assignment]
    for site in list((ctx.variables.data_docs_sites or {}).keys()):
        ctx.delete_data_docs_site(site)
    if docs_dir:
        Path(docs_dir).mkdir(parents=True, exist_ok=True)
        ctx.add_data_docs_site("gridrisk", _docs_site(docs_dir))
    asset = ctx.data_sources.add_spark("gridrisk").add_dataframe_asset(suite_name)
    batch_def = asset.add_batch_definition_whole_dataframe("whole")
    suite = ctx.suites.add(gx.ExpectationSuite(name=suite_name))
    columns = set(df.columns)
    skipped: list[ExpectationOutcome] = []
    for c in checks:
        exp = _gx_expectation(c, columns)
        if exp is None:
            skipped.append(ExpectationOutcome(c.name, c.level, c.origin, None, threshold=c.threshold,
                                              note=f"skipped: reference {c.params.get('reference')} not available"))
        else:
            suite.add_expectation(exp)
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=run_name, data=batch_def, suite=suite))
    result = vd.run(batch_parameters={"dataframe": df},
                    result_format={"result_format": "SUMMARY", "partial_unexpected_count": sample})
    by_name = {c.name: c for c in checks}
    outcomes = []
    for r in result.results:
        name = r.expectation_config.meta["gridrisk_name"]
        check = by_name[name]
        res = r.result or {}
        err = (r.exception_info or {}).get("exception_message") if r.exception_info else None
        outcomes.append(ExpectationOutcome(
            name, check.level, check.origin, bool(r.success), res.get("unexpected_count"), res.get("element_count"),
            list(res.get("partial_unexpected_list") or [])[:sample], check.threshold, res.get("observed_value"),
            note=f"error: {err}" if err and not r.success else ""))
    order = {c.name: i for i, c in enumerate(checks)}
    outcomes = sorted(outcomes + skipped, key=lambda o: order[o.name])
    docs = None
    if docs_dir:
        ctx.build_data_docs(site_names=["gridrisk"])
        docs = str(Path(docs_dir) / "index.html")
    return SuiteOutcome(suite_name, bool(result.success), outcomes, docs)
