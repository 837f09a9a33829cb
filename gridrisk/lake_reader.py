"""Read-only access to the lake's Delta tables without a JVM (delta-rs → pandas/pyarrow).

Spark writes the lake (:mod:`gridrisk.lake`); read-only consumers — the analysts' report, quick
CLI look-ups — read it here in milliseconds instead of starting a Spark session. Nothing in this
module writes, and it never imports pyspark.

Three ways to pick what to read:

- the latest state: ``read(profile, "gold", "risk_summary")``;
- one partition: ``read(profile, "gold", "risk_summary", partition={"ds": "2026-11-01"})``;
- the table *as of a logical date*: ``read(profile, "gold", "risk_flags", as_of="2026-11-01")``
  — the version left by the last pipeline run for a date on or before it. ``risk_flags``
  commits carry ``ds=<date> …`` in their Delta user metadata (``jobs.gold.risk_flags.merge``);
  :func:`version_as_of` resolves a date to a version exactly as ``gridrisk flags --as-of`` does.

Errors say what is missing: :class:`TableNotFound` (no Delta table at the path),
:class:`DateNotFound` (no run or partition for the date), :class:`UnsupportedTable` (delta-rs
cannot read a table feature the writer used).

Example:
    >>> import tempfile
    >>> from gridrisk.config import load_profile
    >>> prof = load_profile("local", env={}, workdir=tempfile.mkdtemp())
    >>> exists(prof, "gold", "risk_flags")
    False
    >>> read(prof, "gold", "risk_flags")
    Traceback (most recent call last):
    ...
    gridrisk.lake_reader.TableNotFound: gold/risk_flags: no Delta table at .../lake/gold/risk_flags
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gridrisk.config import Profile

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from deltalake import DeltaTable

#: The prefix of a pipeline run's tag in a commit's user metadata (``ds=2026-11-01 rules=…``).
RUN_TAG = "ds="


class LakeReadError(LookupError):
    """Base class: something asked of the lake is not there or cannot be read."""


class TableNotFound(LakeReadError):
    pass


class DateNotFound(LakeReadError):
    pass


class UnsupportedTable(LakeReadError):
    """delta-rs cannot read this table (a reader feature it lacks); read it with Spark instead."""


@dataclass(frozen=True)
class Commit:
    """One entry of a table's Delta history."""

    version: int
    timestamp: dt.datetime | None
    operation: str
    user_metadata: str | None

    @property
    def tags(self) -> dict[str, str]:
        """``key=value`` words of the user metadata: ``{"ds": "2026-11-01", "rules": …}``."""
        words = (self.user_metadata or "").split()
        return dict(w.split("=", 1) for w in words if "=" in w)

    @property
    def run_date(self) -> str | None:
        """The logical date of the pipeline run that made this commit, if it was tagged with one."""
        text = self.user_metadata or ""
        return text[len(RUN_TAG):len(RUN_TAG) + 10] if text.startswith(RUN_TAG) else None


def table_uri(profile: Profile, layer: str, table: str) -> str:
    """Where delta-rs finds the table: Hadoop's ``s3a://`` is plain ``s3://`` to object_store."""
    path = profile.table_path(layer, table)
    return "s3://" + path[len("s3a://"):] if path.startswith("s3a://") else path


def _name(layer: str, table: str) -> str:
    return f"{layer}/{table}"


def open_table(profile: Profile, layer: str, table: str, version: int | None = None) -> "DeltaTable":
    """The Delta table (at ``version``, default latest). Raises :class:`TableNotFound`."""
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError, DeltaProtocolError, TableNotFoundError

    uri = table_uri(profile, layer, table)
    try:
        return DeltaTable(uri, version=version)
    except TableNotFoundError:
        raise TableNotFound(f"{_name(layer, table)}: no Delta table at {uri}") from None
    except DeltaProtocolError as exc:
        raise UnsupportedTable(f"{_name(layer, table)}: delta-rs cannot read this table ({exc})") from None
    except DeltaError as exc:
        if version is not None and "version" in str(exc).lower():
            raise DateNotFound(f"{_name(layer, table)}: no version {version} ({exc})") from None
        raise


def exists(profile: Profile, layer: str, table: str) -> bool:
    try:
        open_table(profile, layer, table)
    except TableNotFound:
        return False
    return True


def history(profile: Profile, layer: str, table: str) -> list[Commit]:
    """The table's commits, newest first."""
    commits = []
    for c in open_table(profile, layer, table).history():
        ts = c.get("timestamp")
        commits.append(Commit(
            version=int(c["version"]),
            timestamp=dt.datetime.fromtimestamp(ts / 1000, dt.UTC) if isinstance(ts, (int, float)) else None,
            operation=str(c.get("operation", "")),
            user_metadata=c.get("userMetadata"),
        ))
    return commits


def version_as_of(profile: Profile, layer: str, table: str, ds: str) -> int:
    """The version the last pipeline run for a logical date on or before ``ds`` left.

    The same resolution as ``jobs.gold.risk_flags.flags_as_of``: the highest version whose user
    metadata starts with ``ds=<date>`` and whose date is on or before ``ds``.
    """
    day = check_date(ds)
    tagged = [c for c in history(profile, layer, table) if c.run_date is not None]
    eligible = [c.version for c in tagged if c.run_date is not None and c.run_date <= day]
    if not eligible:
        first = min((c.run_date for c in tagged if c.run_date), default=None)
        hint = f"; its first run is for {first}" if first else "; no commit is tagged with a run date"
        raise DateNotFound(f"{_name(layer, table)}: no pipeline run for a date on or before {day}{hint}")
    return max(eligible)


def check_date(ds: str) -> str:
    try:
        return dt.date.fromisoformat(ds).isoformat()
    except (TypeError, ValueError):
        raise ValueError(f"logical date must be YYYY-MM-DD, got {ds!r}") from None


def _partition_filters(dtable: "DeltaTable", partition: Mapping[str, Any] | None,
                       name: str) -> list[tuple[str, str, Any]] | None:
    if not partition:
        return None
    columns = set(dtable.metadata().partition_columns)
    unknown = sorted(set(partition) - columns)
    if unknown:
        raise ValueError(f"{name}: {', '.join(unknown)} is not a partition column "
                         f"(partitioned by {', '.join(sorted(columns)) or 'nothing'})")
    filters: list[tuple[str, str, Any]] = []
    for key, value in partition.items():
        if isinstance(value, (list, tuple, set, frozenset)):
            filters.append((key, "in", sorted(str(v) for v in value)))
        else:
            filters.append((key, "=", str(value)))
    return filters


def read_arrow(profile: Profile, layer: str, table: str, *, partition: Mapping[str, Any] | None = None,
               as_of: str | None = None, version: int | None = None,
               columns: Iterable[str] | None = None) -> "pa.Table":
    """The table (or one state or partition of it) as a pyarrow Table; see :func:`read`."""
    from deltalake.exceptions import DeltaError

    if as_of is not None and version is not None:
        raise ValueError("give as_of (a logical date) or version, not both")
    if as_of is not None:
        version = version_as_of(profile, layer, table, as_of)
    dtable = open_table(profile, layer, table, version)
    name = _name(layer, table)
    filters = _partition_filters(dtable, partition, name)
    try:
        return dtable.to_pyarrow_table(partitions=filters, columns=list(columns) if columns is not None else None)
    except DeltaError as exc:
        if "feature" in str(exc).lower() or "protocol" in str(exc).lower():
            raise UnsupportedTable(f"{name}: delta-rs cannot read this table ({exc})") from None
        raise


def read(profile: Profile, layer: str, table: str, *, partition: Mapping[str, Any] | None = None,
         as_of: str | None = None, version: int | None = None, columns: Iterable[str] | None = None) -> "pd.DataFrame":
    """A Delta table as a pandas DataFrame.

    Args:
        partition: partition column → value (or a list of values), e.g. ``{"ds": "2026-11-01"}``.
        as_of: a logical date: the version the pipeline run for that date (or the last before
            it) left — see :func:`version_as_of`.
        version: an explicit Delta version (not with ``as_of``).
        columns: only these columns (a restricted table's raw text need never leave the lake).

    Dates come back as ``datetime.date`` objects, timestamps as pandas timestamps.
    """
    return read_arrow(profile, layer, table, partition=partition, as_of=as_of, version=version,
                      columns=columns).to_pandas(date_as_object=True)


def partition_values(profile: Profile, layer: str, table: str, column: str = "ds") -> list[str]:
    """The distinct values of one partition column in the latest version, sorted."""
    dtable = open_table(profile, layer, table)
    return sorted({p[column] for p in dtable.partitions() if p.get(column) is not None})


def latest_partition(profile: Profile, layer: str, table: str, ds: str, column: str = "ds") -> str:
    """The newest ``ds`` partition on or before ``ds`` (reference data is not re-sent every day)."""
    day = check_date(ds)
    days = [d for d in partition_values(profile, layer, table, column) if d <= day]
    if not days:
        raise DateNotFound(f"{_name(layer, table)}: no partition on or before {day}")
    return days[-1]


def read_partition(profile: Profile, layer: str, table: str, ds: str, *, columns: Iterable[str] | None = None,
                   latest: bool = False) -> "pd.DataFrame":
    """One logical date of a ``ds``-partitioned table (``latest``: the newest on or before it).

    Raises :class:`DateNotFound` when that partition does not exist.
    """
    day = latest_partition(profile, layer, table, ds) if latest else check_date(ds)
    if not latest and day not in partition_values(profile, layer, table):
        raise DateNotFound(f"{_name(layer, table)}: no partition for {day}")
    return read(profile, layer, table, partition={"ds": day}, columns=columns)
