"""Configuration: profiles, dataset schemas and YAML files under ``conf/``.

Everything here is plain Python (no Spark), so DAG files, the CLI and tests can load and
validate configuration cheaply. Problems are collected and raised together, so a user sees
every mistake in a file at once.

Example:
    >>> prof = load_profile("local", env={}, workdir="/tmp/x")
    >>> prof.lake
    '/tmp/x/lake'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration file is wrong; the message lists every problem found."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def repo_root() -> Path:
    """Where ``conf/``, ``schemas/`` and ``expectations/`` live (``GRIDRISK_HOME`` overrides)."""
    env = os.environ.get("GRIDRISK_HOME")
    return Path(env) if env else Path(__file__).resolve().parents[1]


def conf_dir() -> Path:
    return repo_root() / "conf"


def read_yaml(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(str(path), ["file not found"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"not valid YAML: {exc}"]) from None


_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")


def expand_env(value: str, env: Mapping[str, str], missing: list[str]) -> str:
    """Replace ``${VAR}`` (required) and ``${VAR:-default}`` from ``env``."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    return _VAR.sub(sub, value)


def _is_uri(path: str) -> bool:
    return "://" in path


def _resolve_path(path: str, workdir: Path) -> str:
    if _is_uri(path) or os.path.isabs(path):
        return path
    return str((workdir / path).resolve())


@dataclass(frozen=True)
class Profile:
    """Where things run and live. Chosen by ``--profile`` or ``GRIDRISK_PROFILE``."""

    name: str
    spark_master: str
    app_name: str
    spark_conf: dict[str, str]
    lake: str
    inbox: str
    reports: str
    task_store: str
    #: The rules stage re-evaluates only changed subjects when it can chain on yesterday's run
    #: (``rules: {incremental: true}`` in the profile, or GRIDRISK_RULES_INCREMENTAL=true). Off by
    #: default: measured slower than a full run at 100 k persons (docs/benchmarks.md).
    rules_incremental: bool = False

    def table_path(self, layer: str, table: str) -> str:
        """Location of a Delta table, e.g. ``table_path("bronze", "persons")``."""
        return f"{self.lake.rstrip('/')}/{layer}/{table}"

    def with_inbox(self, inbox: str | None) -> "Profile":
        if not inbox:
            return self
        from dataclasses import replace

        return replace(self, inbox=_resolve_path(inbox, Path.cwd()))


def load_profile(
    name: str | None = None,
    env: Mapping[str, str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
) -> Profile:
    """Load ``conf/profiles/<name>.yaml`` with ``${VAR}`` taken from the environment.

    Relative local paths are resolved against ``workdir`` (default: ``GRIDRISK_WORKDIR`` or
    the current directory). Missing variables are all reported in one error.
    """
    env = os.environ if env is None else env
    name = name or env.get("GRIDRISK_PROFILE") or "local"
    path = conf_dir() / "profiles" / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (conf_dir() / "profiles").glob("*.yaml"))
        raise ConfigError(str(path), [f"no profile {name!r}; known profiles: {', '.join(known)}"])
    raw = read_yaml(path) or {}
    wd = Path(workdir or env.get("GRIDRISK_WORKDIR") or Path.cwd())
    missing: list[str] = []
    problems: list[str] = []

    def get(key: str) -> str:
        if key not in raw:
            problems.append(f"missing key {key!r}")
            return ""
        return expand_env(str(raw[key]), env, missing)

    spark = raw.get("spark") or {}
    spark_conf = {str(k): expand_env(str(v), env, missing) for k, v in (spark.get("conf") or {}).items()}
    master = expand_env(str(spark.get("master", "local[*]")), env, missing)
    lake, inbox, reports, store = get("lake"), get("inbox"), get("reports"), get("task_store")
    # Environment overrides that every profile honours (e.g. tests point the lake at a temp dir).
    lake = env.get("GRIDRISK_LAKE") or lake
    inbox = env.get("GRIDRISK_INBOX") or inbox
    store = env.get("GRIDRISK_TASK_STORE") or store
    if env.get("GRIDRISK_LAKE") and not env.get("GRIDRISK_REPORTS"):
        reports = f"{lake.rstrip('/')}/_reports"
    reports = env.get("GRIDRISK_REPORTS") or reports
    rules_conf = raw.get("rules") or {}
    incremental: object = env.get("GRIDRISK_RULES_INCREMENTAL") or rules_conf.get("incremental", False)
    if isinstance(incremental, str):
        incremental = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(
            incremental.strip().lower(), incremental)
    if not isinstance(incremental, bool):
        problems.append(f"rules.incremental (or GRIDRISK_RULES_INCREMENTAL) must be true or false, not {incremental!r}")
    for var in sorted(set(missing)):
        problems.append(f"environment variable {var} is not set")
    if problems:
        raise ConfigError(str(path), problems)
    if store.startswith("sqlite:///"):
        store = "sqlite:///" + _resolve_path(store[len("sqlite:///"):], wd)
    return Profile(
        name=name,
        spark_master=master,
        app_name=str(spark.get("app_name", "gridrisk")),
        spark_conf=spark_conf,
        lake=_resolve_path(lake, wd),
        inbox=_resolve_path(inbox, wd),
        reports=_resolve_path(reports, wd),
        task_store=store,
        rules_incremental=bool(incremental),
    )


# --------------------------------------------------------------------------- schemas

SPARK_TYPES = ("string", "int", "long", "double", "date", "timestamp", "boolean")
FORMATS = ("csv", "csv.gz", "jsonl", "geojson")


@dataclass(frozen=True)
class Column:
    name: str
    source: str
    type: str
    nullable: bool = True
    enum: tuple[str, ...] | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    scale: float | None = None
    true_values: tuple[str, ...] = ()
    false_values: tuple[str, ...] = ()
    format: str | None = None


@dataclass(frozen=True)
class DatasetSchema:
    """One department's extract, as declared in ``schemas/<dataset>.yaml``."""

    dataset: str
    department: str
    kind: str
    format: str
    encoding: str
    columns: tuple[Column, ...]
    business_key: tuple[str, ...]
    delivery: str
    file_prefix: str
    delimiter: str = ","
    date_format: str | None = None
    timestamp_format: str | None = None
    sensitive: tuple[str, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def source_names(self) -> list[str]:
        return [c.source for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.dataset} has no column {name!r}")

    def ddl(self, columns: "list[str] | None" = None, lineage: bool = False) -> str:
        """The bronze table's Spark DDL (canonical names and types), optionally a subset of the
        columns and the lineage columns every bronze row has (``_source_file``, ``_row_number``).

        Example:
            >>> load_schema("drug_registry").ddl(["person_no", "last_use_date"], lineage=True)
            'person_no string, last_use_date date, _source_file string, _row_number long'
        """
        wanted = self.columns if columns is None else tuple(self.column(n) for n in columns)
        parts = [f"{c.name} {c.type}" for c in wanted]
        if lineage:
            parts += ["_source_file string", "_row_number long"]
        return ", ".join(parts)

    def temporal_format(self, col: Column) -> str | None:
        if col.format:
            return col.format
        return self.date_format if col.type == "date" else self.timestamp_format


def _parse_schema(path: Path) -> DatasetSchema:
    raw = read_yaml(path) or {}
    problems: list[str] = []
    for key in ("dataset", "department", "kind", "format", "encoding", "columns", "business_key"):
        if key not in raw:
            problems.append(f"missing key {key!r}")
    if problems:
        raise ConfigError(str(path), problems)
    if raw["kind"] not in ("snapshot", "events"):
        problems.append(f"kind must be snapshot or events, got {raw['kind']!r}")
    if raw["format"] not in FORMATS:
        problems.append(f"format must be one of {FORMATS}, got {raw['format']!r}")
    try:
        "".encode(raw["encoding"])
    except LookupError:
        problems.append(f"unknown encoding {raw['encoding']!r}")
    cols: list[Column] = []
    for i, c in enumerate(raw["columns"] or []):
        where = f"columns[{i}]"
        if not isinstance(c, dict) or "name" not in c or "source" not in c or "type" not in c:
            problems.append(f"{where}: needs name, source and type")
            continue
        if c["type"] not in SPARK_TYPES:
            problems.append(f"{where} ({c['name']}): type must be one of {SPARK_TYPES}, got {c['type']!r}")
        if c["type"] == "boolean" and not (c.get("true_values") and c.get("false_values")):
            problems.append(f"{where} ({c['name']}): a boolean needs true_values and false_values")
        if c["type"] in ("date", "timestamp") and not (
            c.get("format") or raw.get("date_format" if c["type"] == "date" else "timestamp_format")
        ):
            problems.append(f"{where} ({c['name']}): no {c['type']} format declared")
        cols.append(
            Column(
                name=c["name"],
                source=str(c["source"]),
                type=c["type"],
                nullable=bool(c.get("nullable", True)),
                enum=tuple(str(v) for v in c["enum"]) if c.get("enum") else None,
                pattern=c.get("pattern"),
                min=c.get("min"),
                max=c.get("max"),
                scale=c.get("scale"),
                true_values=tuple(str(v) for v in c.get("true_values", ())),
                false_values=tuple(str(v) for v in c.get("false_values", ())),
                format=c.get("format"),
            )
        )
    names = [c.name for c in cols]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"column name {dup!r} appears more than once")
    for key in raw["business_key"]:
        if key not in names:
            problems.append(f"business_key {key!r} is not a column")
    for key in raw.get("sensitive", []) or []:
        if key not in names:
            problems.append(f"sensitive column {key!r} is not a column")
    if raw["dataset"] != path.stem:
        problems.append(f"dataset {raw['dataset']!r} must match the file name {path.stem!r}")
    if problems:
        raise ConfigError(str(path), problems)
    return DatasetSchema(
        dataset=raw["dataset"],
        department=raw["department"],
        kind=raw["kind"],
        format=raw["format"],
        encoding=raw["encoding"],
        columns=tuple(cols),
        business_key=tuple(raw["business_key"]),
        delivery=raw.get("delivery", raw["dataset"]),
        file_prefix=raw.get("file_prefix", raw["dataset"]),
        delimiter=raw.get("delimiter", ","),
        date_format=raw.get("date_format"),
        timestamp_format=raw.get("timestamp_format"),
        sensitive=tuple(raw.get("sensitive", []) or []),
    )


@cache
def load_schema(dataset: str) -> DatasetSchema:
    """The declared schema of one dataset (``schemas/<dataset>.yaml``)."""
    path = repo_root() / "schemas" / f"{dataset}.yaml"
    if not path.exists():
        raise ConfigError(str(path), [f"no schema for dataset {dataset!r}; known: {', '.join(schema_names())}"])
    return _parse_schema(path)


def schema_names() -> list[str]:
    return sorted(p.stem for p in (repo_root() / "schemas").glob("*.yaml"))


def all_schemas() -> list[DatasetSchema]:
    return [load_schema(n) for n in schema_names()]


def deliveries() -> dict[str, list[DatasetSchema]]:
    """Inbox folder name → the tables delivered in it (``reference`` carries four)."""
    out: dict[str, list[DatasetSchema]] = {}
    for s in all_schemas():
        out.setdefault(s.delivery, []).append(s)
    return out
