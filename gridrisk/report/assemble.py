"""Read what a report needs from the lake (delta-rs, no JVM) and the task store, for one date.

Everything is read *as of* the report's date, so rebuilding the report of a past date later
gives the same figures: gold ``risk_flags`` at the version its run for that date left
(Delta history), gold ``risk_summary`` partitions of that date and the days before it, the
bronze logs of that date, the task store's events up to the end of that date.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from gridrisk import lake_reader
from gridrisk.config import Profile
from gridrisk.report import data as D

TZ = ZoneInfo("Asia/Shanghai")
FLAG_COLUMNS = ["flag_id", "rule_id", "subject_type", "subject_key", "severity", "priority", "address_code", "grid_code",
                "receiving_level", "receiving_unit", "department", "analyst_explanation", "explanation", "evidence",
                "status", "first_seen", "opened_on", "last_seen", "resolved_on"]
GRID_COLUMNS = ["grid_code", "grid_name", "level", "parent_code", "geometry_json"]
#: Rows of the drill-down table at most (the page stays small; the count of all flags is shown).
DRILL_CAP = int(os.environ.get("GRIDRISK_REPORT_DRILL_CAP", "2000"))


@dataclass
class ReportData:
    """Every figure of one report, as frames and plain values (rendered by html and excel)."""

    ds: str
    scope: D.Scope
    days: int
    titles: dict[str, str]
    names: dict[str, str]
    by_rule: pd.DataFrame
    by_district: pd.DataFrame
    by_district_rule: pd.DataFrame
    trend: pd.DataFrame
    trend_days: list[str]
    map_features: list[dict[str, Any]]
    tracks: list[dict[str, Any]]
    unmapped: int
    cases: pd.DataFrame
    case_total: dict[str, Any] | None
    quality: pd.DataFrame
    quality_departments: pd.DataFrame
    data_docs: str | None
    drill: pd.DataFrame
    drill_total: int
    drill_cap: int
    flags_version: int
    notes: list[str] = field(default_factory=list)

    @property
    def scope_label(self) -> str:
        if self.scope.unit is None:
            return "全省"
        return f"{self.names.get(self.scope.unit, '')} {self.scope.unit}".strip()


def previous_day(ds: str, n: int = 1) -> str:
    return (dt.date.fromisoformat(ds) - dt.timedelta(days=n)).isoformat()


def window(ds: str, days: int) -> list[str]:
    """The ``days`` logical dates ending with ``ds``, oldest first."""
    return [previous_day(ds, n) for n in range(days - 1, -1, -1)]


def read_flags(profile: Profile, ds: str) -> tuple[pd.DataFrame, int]:
    """gold risk_flags as the run for ``ds`` (or the last before it) left it, and that version."""
    version = lake_reader.version_as_of(profile, "gold", "risk_flags", ds)
    available = set(lake_reader.open_table(profile, "gold", "risk_flags", version).schema().to_arrow().names)
    flags = lake_reader.read(profile, "gold", "risk_flags", version=version,
                             columns=[c for c in FLAG_COLUMNS if c in available])
    return flags, version


def day_summaries(profile: Profile, days: list[str], scope: D.Scope,
                  flags_of_day: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame | None]:
    """risk_summary rows per day in scope (``None`` for a day the rules did not run).

    Province, city and district scopes read gold risk_summary; a finer scope counts the same
    way over ``flags_of_day`` (risk_flags as of each day), which gold keeps per flag."""
    present = set(lake_reader.partition_values(profile, "gold", "risk_summary")) \
        if lake_reader.exists(profile, "gold", "risk_summary") else set()
    out: dict[str, pd.DataFrame | None] = {}
    for day in days:
        if day not in present:
            out[day] = None
        elif scope.summary_grain:
            out[day] = D.scope_summary(lake_reader.read(profile, "gold", "risk_summary", partition={"ds": day}), scope)
        else:
            out[day] = D.summary_counts(flags_of_day[day], day, scope)
    return out


def read_grids(profile: Profile, ds: str) -> tuple[pd.DataFrame, str | None]:
    """The reference grid polygons delivered on or before ``ds`` (bronze ``grids``)."""
    try:
        return lake_reader.read_partition(profile, "bronze", "grids", ds, columns=GRID_COLUMNS, latest=True), None
    except lake_reader.LakeReadError as exc:
        return pd.DataFrame(columns=GRID_COLUMNS), f"没有网格参考数据，地图从缺（{exc}）"


def read_quality(profile: Profile, ds: str) -> tuple[pd.DataFrame, list[str]]:
    """Per dataset of ``ds``: the ingest log, the quality log and quarantined rows by reason."""
    from gridrisk.config import all_schemas

    notes: list[str] = []

    def partition(table: str, columns: list[str] | None = None) -> pd.DataFrame:
        try:
            return lake_reader.read_partition(profile, "bronze", table, ds, columns=columns)
        except lake_reader.LakeReadError:
            return pd.DataFrame(columns=columns or ["dataset"])

    ingest = partition("_ingest_log")
    if ingest.empty:
        notes.append(f"{ds} 没有入湖记录（bronze/_ingest_log）")
    checks = partition("_quality_log")
    # Only the dataset and the reason: the quarantine's raw text is restricted and stays in bronze.
    quarantined = partition("_quarantine", ["dataset", "reason_code"])
    counts = (quarantined.groupby(["dataset", "reason_code"]).size().reset_index(name="rows")
              if not quarantined.empty else pd.DataFrame(columns=["dataset", "reason_code", "rows"]))
    departments = {s.dataset: s.department for s in all_schemas()}
    return D.quality_rows(ingest, checks, counts, departments), notes


def read_run_notes(profile: Profile, ds: str) -> list[str]:
    """The late or failed deliveries and skipped rules of ``ds`` (``ops/run_log``), as notes."""
    try:
        rows = lake_reader.read_partition(profile, "ops", "run_log", ds, columns=["step", "item", "outcome", "reason"])
    except lake_reader.LakeReadError:
        return []  # a lake from before the run log, or a run made stage by stage without it
    return D.run_notes(rows)


# --------------------------------------------------------------------------- task store


def _store_available(dsn: str) -> bool:
    """A report never creates a task store: an SQLite file that is not there means no tasks yet."""
    if dsn.startswith("sqlite:///"):
        return os.path.exists(dsn[len("sqlite:///"):])
    return True


def case_handling(profile: Profile, ds: str, days: int, scope: D.Scope,
                  names: dict[str, str]) -> tuple[pd.DataFrame, dict[str, Any] | None, list[str]]:
    """Per receiving unit (the scope's child units × department): filed vs closed, on-time
    closure rate, median time per step over the report's days, and tasks overdue at the end of
    the day. The day ends when ``ds``'s run published its tasks (:func:`data.run_cutoff`):
    only events before then count, so a later rebuild gives the same figures."""
    from gridrisk.taskstore import Task, TaskStore, open_store

    if not _store_available(profile.task_store):
        return pd.DataFrame(columns=list(D.CASE_COLUMNS)), None, ["任务库尚未建立（还没有下发任何任务）"]
    store: TaskStore = open_store(profile.task_store)
    tasks: list[Task] = []
    page = 5000
    while True:
        batch = store.list_tasks(scope.store_unit, limit=page, offset=len(tasks))
        tasks.extend(batch)
        if len(batch) < page:
            break
    commits = lake_reader.history(profile, "gold", "risk_flags")
    filed_times = sorted({t.filed_at for t in tasks})

    def cutoff(day: str) -> dt.datetime:
        return D.run_cutoff(day, commits, filed_times, TZ)

    end, day_start, since = cutoff(ds), cutoff(previous_day(ds)), cutoff(previous_day(ds, days))
    tasks = [t for t in tasks if t.filed_at < end]
    groups: dict[tuple[str, str], int] = {}
    for t in tasks:
        key = (t.receiving_unit[:scope.child_length], t.department)
        groups.setdefault(key, 0)
        if t.deadline is not None and t.deadline < end and _open_at(store, t, end):
            groups[key] += 1
    rows = []
    for (unit, department), overdue in sorted(groups.items()):
        period = store.stats(unit, since, end, department=department)
        today = store.stats(unit, day_start, end, department=department)
        rows.append(D.case_row(unit, names.get(unit, ""), department, period, today, overdue))
    total = None
    if tasks:
        total = D.case_row(scope.store_unit, "合计", "全部", store.stats(scope.store_unit, since, end),
                           store.stats(scope.store_unit, day_start, end), sum(groups.values()))
        total["until"] = end.isoformat()
    return pd.DataFrame(rows, columns=list(D.CASE_COLUMNS)), total, []


def _open_at(store: Any, task: Any, at: dt.datetime) -> bool:
    """Whether the task was still open (not closed) at ``at``; closed is final."""
    if task.status != "closed":
        return True
    closed_at = next((e.at for e in store.events(task.task_id) if e.to_status == "closed"), None)
    return closed_at is None or closed_at >= at


# --------------------------------------------------------------------------- everything


def assemble(profile: Profile, ds: str, unit: str | None = None, days: int = 7, drill_cap: int = DRILL_CAP,
             out_dir: str | None = None) -> ReportData:
    """All figures of the report of ``ds`` for ``unit``'s subtree (None: the province)."""
    from gridrisk.rules import load_rules

    ds = lake_reader.check_date(ds)
    if days < 2:
        raise ValueError(f"--days must be at least 2 (today and the day before), got {days}")
    scope = D.Scope(unit)
    titles = {rule_id: rule.title for rule_id, rule in sorted(load_rules().items())}
    flags, version = read_flags(profile, ds)
    notes: list[str] = []
    days_list = window(ds, days)
    flags_of_day: dict[str, pd.DataFrame] = {ds: flags}
    if not scope.summary_grain:
        for day in days_list[:-1]:
            try:
                flags_of_day[day] = read_flags(profile, day)[0]
            except lake_reader.DateNotFound:
                flags_of_day[day] = flags.iloc[0:0]
    summaries = day_summaries(profile, days_list, scope, flags_of_day)
    today, yesterday = summaries[ds], summaries.get(previous_day(ds))
    if today is None:
        raise lake_reader.DateNotFound(f"gold/risk_summary: no summary for {ds}: the rules stage did not run for that date")
    missing = [d for d in days_list if summaries[d] is None]
    if missing:
        notes.append("这些日期没有运行规则，趋势图中空缺：" + "、".join(missing))
    grids, grid_note = read_grids(profile, ds)
    if grid_note:
        notes.append(grid_note)
    names = D.division_names(grids)
    opened = D.open_flags(flags, ds, scope)
    feats = D.map_features(grids, opened, scope)
    mapped_codes = {f["properties"]["code"] for f in feats if f["properties"]["level"] == "grid"}
    unmapped = int((~opened["grid_code"].isin(mapped_codes)).sum()) if not opened.empty and feats else len(opened)
    by_district = D.headline(today, yesterday, ["city_code", "district_code"])
    by_district.insert(2, "name", [names.get(c, "") for c in by_district["district_code"]])
    cases, case_total, case_notes = case_handling(profile, ds, days, scope, names)
    quality, quality_notes = read_quality(profile, ds)
    docs = f"{profile.reports.rstrip('/')}/data_docs/index.html"
    if out_dir is not None and "://" not in docs and "://" not in out_dir:
        docs = os.path.relpath(docs, out_dir)
    drill = D.drilldown(opened, titles, names, drill_cap)
    return ReportData(
        ds=ds, scope=scope, days=days, titles=titles, names=names,
        by_rule=D.headline(today, yesterday, ["rule_id"]), by_district=by_district,
        by_district_rule=D.headline(today, None, ["district_code", "rule_id"]),
        trend=D.trend(summaries, ["rule_id"]), trend_days=days_list,
        map_features=feats, tracks=D.tracks(opened), unmapped=unmapped,
        cases=cases, case_total=case_total, quality=quality, quality_departments=D.quality_by_department(quality),
        data_docs=docs, drill=drill, drill_total=len(opened), drill_cap=drill_cap, flags_version=version,
        notes=notes + read_run_notes(profile, ds) + case_notes + quality_notes,
    )
