"""The report's figures: pure functions over pandas frames read from the lake.

Nothing here reads or writes: :mod:`gridrisk.report.assemble` reads the lake and the task store
and calls these. Every function returns rows in a stable order, so the same inputs give the
same report byte for byte.

The definitions follow gold ``risk_summary`` (``jobs/gold/risk_summary.py``): on day ``ds`` a
flag is *open* when ``status == "open"`` and ``last_seen == ds``; *new* when, in addition,
``opened_on == ds``; *resolved* when ``resolved_on == ds``; *suppressed* when suppressed and
seen on ds; *open_high* when open with severity high or critical. A flag's division is the
leading digits of its grid code, else of its address code, else ``unknown``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gridrisk.catalog import PARTIAL_RULE

#: Division level → length of its code (GB/T 2260 + town + village + grid number).
LEVEL_LENGTH = {"province": 2, "city": 4, "district": 6, "street": 9, "community": 12, "grid": 15}
#: Levels the map can colour, finest last.
MAP_LEVELS = ("district", "street", "community", "grid")
COUNTS = ("open", "new", "resolved", "suppressed", "open_high", "subjects")
HIGH_SEVERITIES = ("high", "critical")
UNKNOWN = "unknown"
#: The lifecycle steps whose median time the case-handling section shows (立案→…→结案).
STEPS = (("filed", "dispatched"), ("dispatched", "signed"), ("signed", "handled"),
         ("handled", "verified"), ("verified", "closed"))
STEP_LABELS = {"filed": "立案", "dispatched": "派遣", "signed": "签收", "handled": "处置", "verified": "核查",
               "closed": "结案"}


@dataclass(frozen=True)
class Scope:
    """The part of the province a report covers: ``unit`` and everything below it (None: all).

    Example:
        >>> Scope("320115").contains("320115101001003"), Scope("320115").contains("320116000000000")
        (True, False)
        >>> [Scope(u).child_length for u in (None, "3201", "320115", "320115101001003")]
        [6, 6, 9, 15]
    """

    unit: str | None = None

    def __post_init__(self) -> None:
        if self.unit is not None and not (self.unit.isascii() and self.unit.isdigit()
                                          and len(self.unit) in LEVEL_LENGTH.values()):
            raise ValueError(f"unit {self.unit!r} is not a division code of "
                             f"{'/'.join(str(n) for n in LEVEL_LENGTH.values())} digits")

    @property
    def store_unit(self) -> str:
        """The unit as the task store takes it (the province when the report is province-wide)."""
        return self.unit or "32"

    @property
    def length(self) -> int:
        return len(self.unit) if self.unit else 0

    @property
    def child_length(self) -> int:
        """The code length of the units one row of a per-unit table stands for (district for a
        province or city report, then one level down)."""
        deeper = [n for n in LEVEL_LENGTH.values() if n > max(self.length, LEVEL_LENGTH["city"])]
        return deeper[0] if deeper else LEVEL_LENGTH["grid"]  # a grid's report has one row: itself

    @property
    def summary_grain(self) -> bool:
        """True when gold risk_summary (per district) answers this scope's totals."""
        return self.length <= LEVEL_LENGTH["district"]

    def contains(self, code: str | None) -> bool:
        return self.unit is None or (code is not None and code.startswith(self.unit))


# --------------------------------------------------------------------------- flags → counts


def division_code(flags: pd.DataFrame, length: int) -> pd.Series:
    """The first ``length`` digits of the grid code, else of the address code, else ``unknown``."""
    def present(name: str) -> pd.Series:
        col = flags[name] if name in flags else pd.Series([None] * len(flags), index=flags.index, dtype=object)
        col = col.astype("string").str.strip()
        return col.where(col.notna() & (col != ""))

    code = present("grid_code").fillna(present("address_code"))
    return code.str.slice(0, length).fillna(UNKNOWN).astype(object)


def flag_conditions(flags: pd.DataFrame, ds: str) -> pd.DataFrame:
    """One boolean column per count of :data:`COUNTS` (risk_summary's definitions), by flag."""
    day = dt.date.fromisoformat(ds)
    status = flags["status"]
    seen_today = flags["last_seen"] == day
    is_open = (status == "open") & seen_today
    out = pd.DataFrame({
        "open": is_open,
        "new": is_open & (flags["opened_on"] == day),
        "resolved": (status == "resolved") & (flags["resolved_on"] == day),
        "suppressed": (status == "suppressed") & seen_today,
        "open_high": is_open & flags["severity"].isin(HIGH_SEVERITIES),
    }, index=flags.index)
    out["subjects"] = out["open"] | out["suppressed"]
    return out.fillna(False).astype(bool)


def open_flags(flags: pd.DataFrame, ds: str, scope: Scope) -> pd.DataFrame:
    """The flags open on ``ds`` inside ``scope``, most urgent first (priority, rule, grid, id)."""
    if flags.empty:
        return flags
    wanted = flag_conditions(flags, ds)["open"] & division_code(flags, 15).map(scope.contains)
    keys = [c for c in ("priority", "rule_id", "grid_code", "flag_id") if c in flags]
    return flags[wanted].sort_values(keys, kind="mergesort", na_position="last").reset_index(drop=True)


def summary_counts(flags: pd.DataFrame, ds: str, scope: Scope = Scope(None)) -> pd.DataFrame:
    """The risk_summary rows of ``ds`` computed from the flags table as of ``ds``.

    For scopes finer than a district, which gold risk_summary (one row per district) cannot
    answer. Same columns and order as the gold table: ds, rule_id, city_code, district_code, counts.
    """
    columns = ["ds", "rule_id", "city_code", "district_code", *COUNTS]
    if flags.empty:
        return pd.DataFrame(columns=columns)
    cond = flag_conditions(flags, ds)
    inside = division_code(flags, 15).map(scope.contains)  # a flag of no known place counts province-wide only
    frame = pd.concat([flags[["rule_id"]], cond.astype(int)], axis=1)
    frame["city_code"] = division_code(flags, LEVEL_LENGTH["city"])
    frame["district_code"] = division_code(flags, LEVEL_LENGTH["district"])
    counted = frame[inside & cond.any(axis=1)]
    out = counted.groupby(["rule_id", "city_code", "district_code"], as_index=False)[list(COUNTS)].sum()
    out = out[out[list(COUNTS)].sum(axis=1) > 0]
    out.insert(0, "ds", dt.date.fromisoformat(ds))
    return sort_summary(out[columns])


def sort_summary(summary: pd.DataFrame) -> pd.DataFrame:
    out = summary.copy()
    for c in COUNTS:
        out[c] = out[c].astype(int)
    return out.sort_values(["ds", "rule_id", "city_code", "district_code"], kind="mergesort").reset_index(drop=True)


def scope_summary(summary: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    """Gold risk_summary rows inside a scope of province, city or district grain."""
    if not scope.summary_grain:
        raise ValueError(f"risk_summary is per district; unit {scope.unit} needs summary_counts over the flags")
    if scope.unit is None:
        return sort_summary(summary)
    return sort_summary(summary[summary["district_code"].astype(str).str.startswith(scope.unit)])


# --------------------------------------------------------------------------- headline and trend


def _totals(summary: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    if summary.empty:
        return pd.DataFrame(columns=[*keys, *COUNTS])
    return summary.groupby(keys, as_index=False)[list(COUNTS)].sum()


def headline(today: pd.DataFrame, yesterday: pd.DataFrame | None, keys: list[str]) -> pd.DataFrame:
    """The day's counts per ``keys`` with yesterday's open flags and the change.

    ``yesterday`` None means there is no summary for the day before: ``open_before`` and
    ``change`` stay empty rather than pretending the day before had none.
    """
    now = _totals(today, keys)
    if yesterday is None:
        now["open_before"] = pd.Series([None] * len(now), dtype=object)
        now["change"] = pd.Series([None] * len(now), dtype=object)
    else:
        before = _totals(yesterday, keys)[[*keys, "open"]].rename(columns={"open": "open_before"})
        now = now.merge(before, on=keys, how="outer")
        for c in (*COUNTS, "open_before"):
            now[c] = now[c].fillna(0).astype(int)
        now["change"] = now["open"] - now["open_before"]
        now = now[(now[list(COUNTS)].sum(axis=1) > 0) | (now["open_before"] > 0)]
    for c in COUNTS:
        now[c] = now[c].astype(int)
    return now.sort_values(keys, kind="mergesort").reset_index(drop=True)


def trend(summaries: Mapping[str, pd.DataFrame | None], keys: list[str]) -> pd.DataFrame:
    """Open flags per day and ``keys`` over the days given (``None``: no summary that day, skipped)."""
    rows = []
    for ds in sorted(summaries):
        day = summaries[ds]
        if day is None:
            continue
        totals = _totals(day, keys)
        for rec in totals.to_dict("records"):
            rows.append({"ds": ds, **{k: rec[k] for k in keys}, "open": int(rec["open"]),
                         "new": int(rec["new"]), "resolved": int(rec["resolved"])})
    out = pd.DataFrame(rows, columns=["ds", *keys, "open", "new", "resolved"])
    return out.sort_values(["ds", *keys], kind="mergesort").reset_index(drop=True)


# --------------------------------------------------------------------------- map


def open_by_division(flags_open: pd.DataFrame, level: str) -> pd.DataFrame:
    """Open (and high-severity open) flags per division code of ``level``."""
    if flags_open.empty:
        return pd.DataFrame(columns=["code", "open", "open_high"])
    frame = pd.DataFrame({"code": division_code(flags_open, LEVEL_LENGTH[level]),
                          "open": 1, "open_high": flags_open["severity"].isin(HIGH_SEVERITIES).astype(int)})
    out = frame.groupby("code", as_index=False)[["open", "open_high"]].sum()
    return out.sort_values("code", kind="mergesort").reset_index(drop=True)


def division_code_of_feature(grid_code: str, level: str) -> str:
    """The reference grids pad every division's code to 15 digits (``320115000000000``)."""
    return grid_code[:LEVEL_LENGTH[level]]


def _ring_area(ring: list[list[float]]) -> float:
    """Twice the planar signed area of a ring: positive when it runs counter-clockwise."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0, *_), (x1, y1, *_) in zip(ring, ring[1:] + ring[:1]))


def rewind(geometry: dict[str, Any]) -> dict[str, Any]:
    """Polygons wound as d3-geo (which Vega draws with) expects: outer rings clockwise, holes
    counter-clockwise. GeoJSON (RFC 7946) winds them the other way round, and d3 reads a
    counter-clockwise outer ring as the whole globe but the polygon: one shape filling the map.

    Example:
        >>> square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
        >>> rewind(square)["coordinates"][0]
        [[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]
    """
    def polygon(rings: list[Any]) -> list[Any]:
        return [ring[::-1] if (_ring_area(ring) > 0) == (i == 0) else ring for i, ring in enumerate(rings)]

    if geometry.get("type") == "Polygon":
        return {"type": "Polygon", "coordinates": polygon(geometry["coordinates"])}
    if geometry.get("type") == "MultiPolygon":
        return {"type": "MultiPolygon", "coordinates": [polygon(p) for p in geometry["coordinates"]]}
    return geometry


def _round_coords(value: Any, digits: int) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, list):
        return [_round_coords(v, digits) for v in value]
    return value


#: Past this many grid polygons in a scope, the map ships only the grids with open flags (drawn over
#: their communities): every grid of a province would make the page several megabytes.
MAX_PLAIN_GRIDS = 3000


def map_features(grids: pd.DataFrame, flags_open: pd.DataFrame, scope: Scope, digits: int = 4,
                 max_plain_grids: int = MAX_PLAIN_GRIDS) -> list[dict[str, Any]]:
    """GeoJSON features of every division in scope (levels of :data:`MAP_LEVELS` below the scope)
    with ``open``/``open_high`` counts, for the choropleth.

    Coordinates are rounded to ``digits`` decimals (4 ≈ 10 m): the page stays small and the same
    between builds. When the scope holds more than ``max_plain_grids`` grids, only grids with
    open flags are kept (the map draws them over the community layer).
    """
    feats: list[dict[str, Any]] = []
    counts = {level: open_by_division(flags_open, level).set_index("code") for level in MAP_LEVELS}
    inside = grids[grids["level"].isin(MAP_LEVELS)].copy()
    inside["code"] = [division_code_of_feature(str(c), str(lv)) for c, lv in zip(inside["grid_code"], inside["level"])]
    inside = inside[[LEVEL_LENGTH[lv] > scope.length and scope.contains(c) for c, lv in zip(inside["code"], inside["level"])]]
    sparse = int((inside["level"] == "grid").sum()) > max_plain_grids
    for rec in inside.sort_values(["level", "code"], kind="mergesort").to_dict("records"):
        level, code = str(rec["level"]), str(rec["code"])
        table = counts[level]
        open_, high = (int(table.at[code, "open"]), int(table.at[code, "open_high"])) if code in table.index else (0, 0)
        if sparse and level == "grid" and open_ == 0:
            continue
        try:
            geometry = json.loads(rec["geometry_json"])
        except (TypeError, ValueError):
            continue  # a reference row without usable geometry is reported by its quality suite
        props: dict[str, Any] = {"code": code, "name": rec.get("grid_name") or code, "level": level,
                                 "open": open_, "open_high": high}
        if sparse and level == "grid":
            props["sparse"] = 1
        geometry = rewind({"type": geometry["type"], "coordinates": _round_coords(geometry["coordinates"], digits)})
        feats.append({"type": "Feature", "geometry": geometry, "properties": props})
    order = {lvl: i for i, lvl in enumerate(MAP_LEVELS)}
    return sorted(feats, key=lambda f: (order[f["properties"]["level"]], f["properties"]["code"]))


def default_map_level(features: list[dict[str, Any]], most: int = 400) -> str:
    """The finest level with at most ``most`` polygons (a province opens on districts, a street on
    grids); a level shipped sparse (only its flagged grids) is never the first view."""
    levels = [lv for lv in MAP_LEVELS if any(f["properties"]["level"] == lv for f in features)]
    fitting = [lv for lv in levels if sum(f["properties"]["level"] == lv for f in features) <= most
               and not any(f["properties"]["level"] == lv and f["properties"].get("sparse") for f in features)]
    return fitting[-1] if fitting else levels[0]


def division_names(grids: pd.DataFrame) -> dict[str, str]:
    """Division code (at its own length) → name, from the reference grids."""
    names: dict[str, str] = {}
    for rec in grids.to_dict("records"):
        level = rec.get("level")
        if level in LEVEL_LENGTH and rec.get("grid_name"):
            names[division_code_of_feature(str(rec["grid_code"]), level)] = str(rec["grid_name"])
    return names


def _geojson_lines(value: Any) -> Iterable[dict[str, Any]]:
    """Every GeoJSON LineString/MultiLineString (bare or as a Feature) inside ``value``."""
    if isinstance(value, dict):
        kind = value.get("type")
        if kind in ("LineString", "MultiLineString") and isinstance(value.get("coordinates"), list):
            yield {"type": kind, "coordinates": value["coordinates"]}
            return
        if kind == "Feature" and isinstance(value.get("geometry"), dict):
            yield from _geojson_lines(value["geometry"])
            return
        for v in value.values():
            yield from _geojson_lines(v)
    elif isinstance(value, list):
        for v in value:
            yield from _geojson_lines(v)
    elif isinstance(value, str) and value.lstrip().startswith("{") and "LineString" in value:
        try:
            yield from _geojson_lines(json.loads(value))
        except ValueError:
            return


def tracks(flags_open: pd.DataFrame, max_tracks: int = 200, max_points: int = 500, digits: int = 5) -> list[dict[str, Any]]:
    """Tracks drawn from flag evidence: a rule whose evidence holds a GeoJSON LineString (a
    hazmat vehicle's route) gets a line on the map. At most ``max_tracks`` lines of at most
    ``max_points`` points each (evenly thinned, both ends kept)."""
    out: list[dict[str, Any]] = []
    if flags_open.empty or "evidence" not in flags_open:
        return out
    for rec in flags_open.to_dict("records"):
        evidence = rec.get("evidence")
        if not evidence or "LineString" not in str(evidence):
            continue
        for geom in _geojson_lines(evidence):
            lines = [geom["coordinates"]] if geom["type"] == "LineString" else geom["coordinates"]
            for line in lines:
                if len(line) < 2:
                    continue
                step = max(1, -(-len(line) // max_points))
                thinned = line[::step] if (len(line) - 1) % step == 0 else [*line[::step], line[-1]]
                out.append({"type": "Feature",
                            "geometry": {"type": "LineString", "coordinates": _round_coords(
                                [[float(x), float(y)] for x, y, *_ in thinned], digits)},
                            "properties": {"flag": str(rec["flag_id"])[:10], "rule_id": rec["rule_id"],
                                           "severity": rec.get("severity")}})
                if len(out) >= max_tracks:
                    return out
    return out


# --------------------------------------------------------------------------- drill-down


def mask_key(key: str | None) -> str:
    """A subject key shortened for the screen: ``pabcd…wxyz``. Person keys are already keyed
    hashes; shortening keeps a page or a screenshot from carrying whole keys around.

    Example:
        >>> mask_key("pqz3k7v2m4abcdefwxyz"), mask_key("A1")
        ('pqz3k…wxyz', 'A1')
    """
    if not key or len(key) <= 10:
        return key or ""
    return f"{key[:5]}…{key[-4:]}"


DRILL_COLUMNS = ("flag", "rule_id", "rule", "severity", "priority", "subject", "grid_code", "place", "receiving_unit",
                 "department", "opened_on", "explanation")


def drilldown(flags_open: pd.DataFrame, titles: Mapping[str, str], names: Mapping[str, str],
              cap: int) -> pd.DataFrame:
    """The flags table of the page and workbook: masked keys, the analyst's explanation, at most
    ``cap`` rows in the order of :func:`open_flags` (most urgent first)."""
    rows = []
    for rec in flags_open.head(cap).to_dict("records"):
        grid = rec.get("grid_code") or ""
        place = names.get(grid) or names.get(grid[:12]) or names.get(grid[:9]) or names.get(grid[:6]) or ""
        opened = rec.get("opened_on")
        rows.append({
            "flag": str(rec["flag_id"])[:10], "rule_id": rec["rule_id"], "rule": titles.get(rec["rule_id"], rec["rule_id"]),
            "severity": rec.get("severity") or "", "priority": int(rec["priority"]) if pd.notna(rec.get("priority")) else None,
            "subject": mask_key(rec.get("subject_key")), "grid_code": grid, "place": place,
            "receiving_unit": rec.get("receiving_unit") or "", "department": rec.get("department") or "",
            "opened_on": opened.isoformat() if isinstance(opened, dt.date) else (str(opened) if opened else ""),
            "explanation": rec.get("analyst_explanation") or rec.get("explanation") or "",
        })
    return pd.DataFrame(rows, columns=list(DRILL_COLUMNS))


# --------------------------------------------------------------------------- data quality


def quality_rows(ingest_log: pd.DataFrame, quality_log: pd.DataFrame, quarantine_counts: pd.DataFrame,
                 departments: Mapping[str, str]) -> pd.DataFrame:
    """Per dataset of one day: rows read, accepted (after quality), quarantined by reason, verdict.

    ``quarantine_counts``: (dataset, reason_code, rows); ``departments``: dataset → department.
    :func:`gridrisk.quality.summary.quality_rows` — the figures of ``gridrisk quality`` — as a
    table with the department and the reasons and failed expectations as text.
    """
    from gridrisk.quality.summary import quality_rows as summary_rows

    def plain(v: Any) -> Any:  # Arrow lists arrive as arrays, nulls as NaN
        if hasattr(v, "tolist") and not isinstance(v, str):
            v = v.tolist()
        return v if isinstance(v, list) or not pd.isna(v) else None

    def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return [{k: plain(v) for k, v in r.items()} for r in frame.to_dict("records")]

    rows = [{
        "department": departments.get(r["dataset"], "").split(" ")[0] or "-",
        **{k: r[k] for k in ("dataset", "ingest_status", "rows_read", "rows_accepted", "rows_quarantined", "suite")},
        "by_reason": "; ".join(f"{k}: {v}" for k, v in r["quarantined_by_reason"].items()),
        "bad_share": None if r["bad_share"] is None else float(r["bad_share"]),
        "failed_expectations": ", ".join(str(x) for x in r["failed_expectations"]),
    } for r in summary_rows(records(ingest_log), records(quality_log),
                            ((c["dataset"], c["reason_code"], c["rows"]) for c in quarantine_counts.to_dict("records")))]
    cols = ["department", "dataset", "ingest_status", "rows_read", "rows_accepted", "rows_quarantined", "by_reason",
            "suite", "bad_share", "failed_expectations"]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["department", "dataset"], kind="mergesort").reset_index(drop=True)


def run_notes(run_log: pd.DataFrame) -> list[str]:
    """What the day's run left out, from ``ops/run_log``: deliveries that were late or failed and
    rules that were skipped, each with its reason (table and rule names only: no personal data)."""
    if run_log.empty:
        return []
    notes = []
    ingest = run_log[run_log["step"].astype(str).str.startswith("ingest.")
                     & run_log["outcome"].isin(["late", "not_ready", "rejected", "quality_failed", "failed"])]
    for r in ingest.sort_values("item").itertuples():
        notes.append(f"数据 {r.item} 今日未入湖（{r.outcome}）：{r.reason or ''}".rstrip("："))
    is_rule = run_log["item"].astype(str).str.startswith("rule:")
    rules = run_log[is_rule & (run_log["outcome"] == "skipped")]
    for r in rules.sort_values("item").itertuples():
        notes.append(f"规则 {str(r.item).split(':', 1)[1]} 今日未运行：{r.reason or '输入缺失'}")
    # A rule that reads both registries and got one ran on it: new hits filed, nothing resolved.
    partial = run_log[is_rule & (run_log["outcome"] == "evaluated") & run_log["reason"].astype(str).str.startswith(PARTIAL_RULE)]
    for r in partial.sort_values("item").itertuples():
        notes.append(f"规则 {str(r.item).split(':', 1)[1]} 今日部分运行（只新增预警、不解除）：{r.reason}")
    return notes


def quality_by_department(rows: pd.DataFrame) -> pd.DataFrame:
    """Department totals of :func:`quality_rows`; a department fails when any of its suites does."""
    cols = ["department", "datasets", "rows_read", "rows_accepted", "rows_quarantined", "suites_failed"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    out = rows.groupby("department", as_index=False).agg(
        datasets=("dataset", "count"), rows_read=("rows_read", "sum"), rows_accepted=("rows_accepted", "sum"),
        rows_quarantined=("rows_quarantined", "sum"), suites_failed=("suite", lambda s: int((s == "FAIL").sum())))
    return out[cols].sort_values("department", kind="mergesort").reset_index(drop=True)


# --------------------------------------------------------------------------- case handling


def run_cutoff(day: str, commits: Iterable[Any], filed_at: Iterable[dt.datetime], tz: dt.tzinfo) -> dt.datetime:
    """The moment the task store's figures of logical date ``day`` stop (exclusive).

    A day's run publishes its tasks after the day is over (Airflow runs a date after its
    interval; a backfill or a demo runs it weeks later), and the report of that day should
    count them. So the day ends at midnight, or when the day's run published its tasks if that
    was later: the first task filed after the run's ``risk_flags`` commit and before the next
    run's (all tasks of one publish share a filing time), else the commit itself. ``commits``
    are ``lake_reader.Commit`` of risk_flags; both inputs are history that never changes, so the
    cut-off — and the report — is the same whenever it is built.

    Example:
        >>> from gridrisk.lake_reader import Commit
        >>> utc = dt.timezone.utc
        >>> runs = [Commit(1, dt.datetime(2026, 11, 29, 2, 0, tzinfo=utc), "MERGE", "ds=2026-11-01 rules=x")]
        >>> filed = [dt.datetime(2026, 11, 29, 2, 3, tzinfo=utc)]
        >>> run_cutoff("2026-11-01", runs, filed, utc).isoformat()
        '2026-11-29T02:03:01+00:00'
        >>> run_cutoff("2026-10-31", runs, filed, utc).isoformat()
        '2026-11-01T00:00:00+00:00'
    """
    end = dt.datetime.combine(dt.date.fromisoformat(day) + dt.timedelta(days=1), dt.time(), tz)
    tagged = [c for c in commits if c.run_date is not None and c.timestamp is not None]
    mine = [c for c in tagged if c.run_date <= day]
    if not mine:
        return end
    run = max(mine, key=lambda c: c.version)
    later = [c.timestamp for c in tagged if c.version > run.version]
    until = min(later) if later else None
    filed = [f for f in filed_at if f >= run.timestamp and (until is None or f < until)]
    published = min(filed) if filed else run.timestamp
    return max(end, published + dt.timedelta(seconds=1))


def step_key(from_status: str, to_status: str) -> str:
    return f"{from_status}->{to_status}"


def case_row(unit: str, name: str, department: str, stats: Any, day_stats: Any, overdue: int) -> dict[str, Any]:
    """One row of the case-handling table from two ``TaskStats`` (the period and the day)."""
    rate = stats.on_time_closure_rate
    row: dict[str, Any] = {
        "unit": unit, "name": name, "department": department,
        "filed_day": int(day_stats.filed), "closed_day": int(day_stats.closed),
        "filed": int(stats.filed), "closed": int(stats.closed), "closed_on_time": int(stats.closed_on_time),
        "closed_by_system": int(stats.closed_by_system),
        "on_time_rate": None if rate is None else round(float(rate), 4), "overdue": int(overdue),
    }
    for a, b in STEPS:
        seconds = stats.median_seconds_per_step.get(step_key(a, b))
        row[f"median_s_{a}_{b}"] = None if seconds is None else int(round(float(seconds)))
    return row


CASE_COLUMNS = ("unit", "name", "department", "filed_day", "closed_day", "filed", "closed", "closed_on_time",
                "closed_by_system", "on_time_rate", "overdue", *(f"median_s_{a}_{b}" for a, b in STEPS))


def format_seconds(seconds: float | None) -> str:
    """Case-handling times to the second, as the grid centres count them.

    Example:
        >>> format_seconds(93784), format_seconds(61), format_seconds(None)
        ('1天2时3分4秒', '1分1秒', '—')
    """
    if seconds is None or pd.isna(seconds):
        return "—"
    s = int(seconds)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "天"), (hours, "时"), (minutes, "分"), (secs, "秒")]
    text = "".join(f"{v}{u}" for v, u in parts if v)
    return text or "0秒"
