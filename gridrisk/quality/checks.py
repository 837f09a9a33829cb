"""The check model: what a dataset's suite expects, as plain data (no Spark, no GX).

A suite is a list of :class:`Check` objects built from two sources:

- **structural** checks derived at run time from ``schemas/<dataset>.yaml`` (columns present,
  Spark types, not-null for ``nullable: false``, enum sets, regex patterns, min/max) — never
  retyped by hand;
- **business** checks declared in ``expectations/<dataset>.yaml`` (ID check character, birth
  date against the ID, coordinates inside Jiangsu, speed, event time window, one row per
  business key, referential checks …), with thresholds from ``conf/quality.yaml``.

Every check has a ``level``: ``row`` (a failing row is moved to quarantine by the caller) or
``batch`` (a share/threshold over the whole batch; nothing is removed).

Example:
    >>> [c.name for c in structural_checks(load_schema_or_none("hazmat_vehicles"))][:3]
    ['hazmat_vehicles.columns_present', 'hazmat_vehicles.plate_no.type', 'hazmat_vehicles.plate_colour.type']
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from gridrisk.config import ConfigError, DatasetSchema, load_schema, read_yaml, repo_root, schema_names

Level = Literal["row", "batch"]
Origin = Literal["schema", "business"]
LEVELS: tuple[Level, ...] = ("row", "batch")
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
#: Keys of an expectation entry that are not parameters of its kind.
ENTRY_KEYS = ("name", "kind", "level", "column", "threshold", "why", "only_when")
HELPER_PREFIX = "_q_"


@dataclass(frozen=True)
class Check:
    """One expectation: what GX validates, and (for row checks) how Spark flags a bad row.

    ``only_when`` restricts a row check to rows whose column values are in the given sets
    (``{"status": ("正常",)}``): a row outside them is never moved for this check.
    """

    name: str
    kind: str
    level: Level
    origin: Origin
    column: str | None = None  # the column named in a quarantine reason
    params: Mapping[str, Any] = field(default_factory=dict)
    threshold: float | None = None  # batch checks: the share of rows that must pass ("mostly")
    description: str = ""
    only_when: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def helper(self) -> str:
        """Name of the derived column some kinds validate (``_q_<name>``)."""
        return HELPER_PREFIX + re.sub(r"\W", "_", self.name)

    @property
    def value_columns(self) -> tuple[str, ...]:
        """The dataset columns whose values a result of this check shows (for masking)."""
        cols = [self.column] if self.column else []
        cols += list(self.params.get("columns") or ())
        if "before" in self.params:
            cols.append(str(self.params["before"]))
        return tuple(dict.fromkeys(cols))


@dataclass(frozen=True)
class Policy:
    """Per-dataset thresholds from ``conf/quality.yaml``."""

    max_bad_share: float
    thresholds: Mapping[str, float]


@cache
def load_policy_file() -> dict[str, Any]:
    raw: dict[str, Any] = read_yaml(repo_root() / "conf" / "quality.yaml") or {}
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


def _only_when(raw: Any, where: str, known: set[str] | None, problems: list[str]) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, list) and v for v in raw.values()):
        problems.append(f"{where}: only_when maps a column to a non-empty list of values")
        return {}
    for col in raw:
        if known is not None and col not in known:
            problems.append(f"{where}: only_when names {col!r}, not a column")
    return {str(k): tuple(str(x) for x in v) for k, v in raw.items()}


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
        params = {k: v for k, v in e.items() if k not in ENTRY_KEYS}
        column = e.get("column")
        cols = [column] if column else []
        cols += list(params.get("columns") or []) + [params[k] for k in ("id_column", "before") if k in params]
        for col in cols:
            if known is not None and col not in known:
                problems.append(f"{where} ({name}): {col!r} is not a column of {dataset}")
        if kind not in ("unique_key",) and not column:
            problems.append(f"{where} ({name}): needs a column")
        only_when = _only_when(e.get("only_when"), f"{where} ({name})", known, problems)
        if only_when and level != "row":
            problems.append(f"{where} ({name}): only_when applies to row expectations")
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
                            None if threshold is None else float(threshold), str(e.get("why", "")).strip(),
                            only_when))
    if problems:
        raise ConfigError(str(path), problems)
    return checks


def suite_checks(dataset: str) -> list[Check]:
    """Structural (from ``schemas/``) + business (from ``expectations/``) checks of a dataset."""
    return structural_checks(load_schema_or_none(dataset)) + business_checks(dataset)


def references_needed(checks: list[Check]) -> set[str]:
    """Bronze tables the referential checks read (the caller loads them)."""
    return {str(c.params["reference"]) for c in checks if c.kind == "exists_in"}


def quality_references(dataset: str) -> list[str]:
    """The other deliveries whose bronze rows ``dataset``'s suite checks against (``exists_in``).

    Their ingest must finish before this dataset's quality step, or the check is skipped as
    "reference not available" and the day's verdict depends on which ingest happened to finish
    first (the DAG draws these edges; :func:`ingest_order` keeps them in one process)."""
    return sorted(references_needed(suite_checks(dataset)) - {dataset})


def ingest_order(datasets: list[str]) -> list[str]:
    """``datasets`` with every one after the ones among them its suite checks against, otherwise
    in the given order; a cycle of references is a :class:`ConfigError` (one check at start).

    >>> ingest_order(["fire_events", "fire_units", "addresses", "roads"])
    ['addresses', 'roads', 'fire_units', 'fire_events']
    """
    from graphlib import CycleError, TopologicalSorter

    graph = TopologicalSorter({n: [r for r in quality_references(n) if r in datasets] for n in datasets})
    try:
        graph.prepare()
    except CycleError as exc:
        raise ConfigError("expectations/", [f"exists_in references form a cycle: {' → '.join(exc.args[1])}"]) from None
    order: list[str] = []
    while graph.is_active():
        ready = sorted(graph.get_ready(), key=datasets.index)
        order += ready
        graph.done(*ready)
    return order


def id_columns(checks: list[Check]) -> list[str]:
    """The ID columns whose damage status some checks read (``id_valid``, ``birth_date_matches_id``)."""
    return sorted({str(c.column if c.kind == "id_valid" else c.params["id_column"])
                   for c in checks if c.kind in ("id_valid", "birth_date_matches_id")})
