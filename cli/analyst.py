"""The analysts' read-only questions, answered from the lake without a JVM.

``gridrisk quality``, ``flags``, ``summary`` and ``link --explain`` only read Delta tables, so they
read them with delta-rs (:mod:`gridrisk.lake_reader`) in well under a second instead of starting
Spark. Each function returns plain rows with the same figures as the Spark code it stands in for
(tests/test_cli.py compares them on a lake Spark wrote):

- :func:`quality` ↔ ``jobs.quality.validate.summary``;
- :func:`flags_as_of` ↔ ``jobs.gold.risk_flags.flags_as_of`` (the same ``ds=<date>`` commit tags);
- :func:`risk_summary` ↔ ``lake.read_partition(…, "gold", "risk_summary", ds)``;
- :func:`linked_records` ↔ the lookup in ``jobs.silver.person_master.explain``.

Nothing here imports pyspark. A missing table or date raises a
:class:`gridrisk.lake_reader.LakeReadError` (a :class:`LookupError`) whose message says what to run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gridrisk import lake_reader
from gridrisk.config import Profile
from gridrisk.lake_reader import DateNotFound, TableNotFound

INGEST_LOG, QUALITY_LOG, QUARANTINE = "_ingest_log", "_quality_log", "_quarantine"
FLAGS, SUMMARY, PERSON_RECORDS = "risk_flags", "risk_summary", "person_records"


def _rows(table: Any) -> list[dict[str, Any]]:
    """A pyarrow table as Python dicts (None stays None, dates stay dates; no NaN games)."""
    return list(table.to_pylist())


def _partition_rows(profile: Profile, layer: str, table: str, ds: str,
                    columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rows of one ``ds`` partition; [] when the table or the partition does not exist."""
    try:
        return _rows(lake_reader.read_arrow(profile, layer, table, partition={"ds": ds}, columns=columns))
    except TableNotFound:
        return []


# --------------------------------------------------------------------------- quality


def quality(profile: Profile, ds: str) -> list[dict[str, Any]]:
    """:func:`gridrisk.quality.summary.quality_rows` of ``ds`` read from bronze (the quarantine's raw text is never read)."""
    from collections import Counter

    ingest = _partition_rows(profile, "bronze", INGEST_LOG, ds, ["dataset", "status", "rows_read"])
    checks = _partition_rows(profile, "bronze", QUALITY_LOG, ds,
                             ["dataset", "success", "bad_share", "failed_expectations", "expectations"])
    quarantined = Counter((r["dataset"], r["reason_code"])
                          for r in _partition_rows(profile, "bronze", QUARANTINE, ds, ["dataset", "reason_code"]))
    from gridrisk.quality.summary import quality_rows

    return quality_rows(ingest, checks, [(d, c, n) for (d, c), n in quarantined.items()])


def ingested_dates(profile: Profile) -> list[str]:
    """The logical dates bronze has an ingest log for (to say which dates *do* exist)."""
    try:
        return lake_reader.partition_values(profile, "bronze", INGEST_LOG)
    except TableNotFound:
        return []


# --------------------------------------------------------------------------- flags


FLAG_COLUMNS = ("flag_id", "rule_id", "subject_key", "severity", "rule_severity", "escalated_by", "priority", "status",
                "grid_code", "first_seen", "last_seen", "explanation", "analyst_explanation")


@dataclass(frozen=True)
class FlagsAnswer:
    as_of: str
    version: int
    rows: list[dict[str, Any]]  # the first ``limit`` wanted flags, most urgent first
    counts: dict[str, int]  # rule → all wanted flags (not only the rows shown)


def flags_as_of(profile: Profile, as_of: str, statuses: Sequence[str] = ("open",), rules: Sequence[str] = (),
                unit: str | None = None, limit: int = 50) -> FlagsAnswer:
    """The flags as the last pipeline run for a date on or before ``as_of`` left them.

    Filtered by status, rule and unit (a grid-code prefix), ordered by priority, rule and subject
    (as ``gridrisk flags`` always has). Raises :class:`DateNotFound` when no run is that old.
    """
    try:
        version = lake_reader.version_as_of(profile, "gold", FLAGS, as_of)
    except TableNotFound:
        raise TableNotFound(f"no risk flags yet: run the rules stage first (gridrisk run --date {as_of})") from None
    import pyarrow.compute as pc

    dtable = lake_reader.open_table(profile, "gold", FLAGS, version)
    present = set(dtable.schema().to_arrow().names)  # a lake older than a column reads without it
    table = dtable.to_pyarrow_table(columns=[c for c in FLAG_COLUMNS if c in present])
    keep = pc.is_in(table["status"], value_set=_strings(statuses))
    if rules:
        keep = pc.and_(keep, pc.is_in(table["rule_id"], value_set=_strings(rules)))
    if unit:
        keep = pc.and_(keep, pc.fill_null(pc.starts_with(table["grid_code"], unit), False))
    wanted = table.filter(keep)
    counts = {str(k): int(v) for k, v in
              zip(*_value_counts(wanted["rule_id"]), strict=True)}
    # Spark sorts nulls first in ascending order; so does this.
    order = wanted.sort_by([(c, "ascending", "at_start") for c in ("priority", "rule_id", "subject_key")])
    return FlagsAnswer(as_of, version, _rows(order.slice(0, limit)), dict(sorted(counts.items())))


def _strings(values: Iterable[str]) -> Any:
    import pyarrow as pa

    return pa.array(list(values), pa.string())


def _value_counts(column: Any) -> tuple[list[Any], list[int]]:
    counts = column.value_counts()
    return counts.field("values").to_pylist(), counts.field("counts").to_pylist()


def run_dates(profile: Profile) -> list[str]:
    """The logical dates the rules stage ran for (the commits of risk_flags tagged ``ds=``)."""
    try:
        return sorted({c.run_date for c in lake_reader.history(profile, "gold", FLAGS) if c.run_date})
    except TableNotFound:
        return []


# --------------------------------------------------------------------------- summary


SUMMARY_COLUMNS = ("rule_id", "city_code", "district_code", "open", "new", "resolved", "suppressed", "open_high")


def risk_summary(profile: Profile, ds: str, unit: str | None = None) -> list[dict[str, Any]]:
    """gold risk_summary of ``ds`` (a city or district ``unit``: its districts; a finer unit: the
    district it lies in), ordered by rule and district. Raises :class:`DateNotFound` when the
    rules stage has not run for ``ds``."""
    try:
        days = lake_reader.partition_values(profile, "gold", SUMMARY)
    except TableNotFound:
        raise TableNotFound(f"no risk summary yet: run the rules stage first (gridrisk run --date {ds})") from None
    if ds not in days:
        known = f"; summaries exist for {_date_span(days)}" if days else ""
        raise DateNotFound(f"no risk summary for {ds}: the rules stage has not run for that date{known}")
    rows = _rows(lake_reader.read_arrow(profile, "gold", SUMMARY, partition={"ds": ds}, columns=list(SUMMARY_COLUMNS)))
    if unit:
        rows = [r for r in rows if str(r["district_code"]).startswith(unit) or unit.startswith(str(r["district_code"]))]
    return sorted(rows, key=lambda r: (r["rule_id"], r["district_code"]))


def district_names(profile: Profile, ds: str) -> dict[str, str]:
    """District code → name from the newest reference grids on or before ``ds`` ({} if none)."""
    try:
        grids = lake_reader.read_partition(profile, "bronze", "grids", ds, columns=["grid_code", "grid_name", "level"],
                                           latest=True)
    except lake_reader.LakeReadError:
        return {}
    return {str(r["grid_code"])[:6]: str(r["grid_name"]) for r in grids.to_dict("records")
            if r.get("level") == "district" and r.get("grid_name")}


def _date_span(days: Sequence[str]) -> str:
    return days[0] if len(days) == 1 else f"{len(days)} dates, {days[0]} … {days[-1]}"


# --------------------------------------------------------------------------- link --explain


EXPLAIN_COLUMNS = ("dataset", "record_key", "role", "person_key", "link_method", "id_status", "match_explanation",
                   "match_weight")


def linked_records(profile: Profile, ds: str, dataset: str, keys: Sequence[str]) -> list[dict[str, Any]]:
    """The silver person_records rows of ``dataset`` whose record key is one of ``keys`` on ``ds``.

    Raises :class:`DateNotFound` when entity resolution has not run for ``ds``."""
    try:
        dtable = lake_reader.open_table(profile, "silver", PERSON_RECORDS)
    except TableNotFound:
        raise TableNotFound(f"no linked records yet: run entity resolution first (gridrisk run --date {ds})") from None
    days = sorted({p["ds"] for p in dtable.partitions() if p.get("ds")})
    if ds not in days:
        known = f"; it ran for {_date_span(days)}" if days else ""
        raise DateNotFound(f"entity resolution has not run for {ds}{known}")
    filters = [("ds", "=", dt.date.fromisoformat(ds)), ("dataset", "=", dataset), ("record_key", "in", list(keys))]
    return _rows(dtable.to_pyarrow_table(columns=list(EXPLAIN_COLUMNS), filters=filters))
