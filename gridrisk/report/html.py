"""One self-contained HTML page: inline CSS, the inlined Vega bundle, the data as embedded JSON.

The page opens offline (no CDN, no tile server, no web font download). Its figures are
embedded once as JSON (``<script id="report-data">``) and in the tables' ``data-*``
attributes, so a test — or an analyst's script — reads them back exactly. No wall-clock time
is written: the same lake gives the same bytes.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import jinja2
import pandas as pd

from gridrisk.report import charts
from gridrisk.report import data as D
from gridrisk.report.assemble import ReportData

SEVERITY_LABELS = {"low": "低", "medium": "中", "high": "高", "critical": "严重"}


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """Vega + Vega-Lite + vega-embed as one script (built offline by vl-convert, ~0.9 MB)."""
    import vl_convert

    bundle = vl_convert.javascript_bundle(vl_version=charts.VEGA_LITE_VERSION)  # type: ignore[call-arg]  # snippet is optional
    return str(bundle).replace("</script", "<\\/script")


def to_json(value: Any) -> str:
    """Stable JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_plain)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts: numpy numbers to Python ones, NaN to None, dates to ISO strings."""
    out = []
    for rec in frame.to_dict("records"):
        clean: dict[str, Any] = {}
        for k, v in rec.items():
            if isinstance(v, float) and math.isnan(v):
                v = None
            elif v is pd.NA or v is pd.NaT:
                v = None
            elif hasattr(v, "item"):
                v = v.item()
            elif hasattr(v, "isoformat"):
                v = v.isoformat()
            clean[str(k)] = v
        out.append(clean)
    return out


def payload(report: ReportData) -> dict[str, Any]:
    """The figures the page embeds (and the workbook writes): aggregates, plus the capped drill-down."""
    return {
        "ds": report.ds, "unit": report.scope.unit, "scope": report.scope_label, "days": report.days,
        "flags_version": report.flags_version,
        "by_rule": records(report.by_rule), "by_district": records(report.by_district),
        "trend": records(report.trend), "trend_days": report.trend_days,
        "map": {"levels": sorted({f["properties"]["level"] for f in report.map_features}, key=D.MAP_LEVELS.index),
                "open_by_division": [{"level": f["properties"]["level"], "code": f["properties"]["code"],
                                      "open": f["properties"]["open"], "open_high": f["properties"]["open_high"]}
                                     for f in report.map_features if f["properties"]["open"] > 0],
                "tracks": len(report.tracks), "unmapped": report.unmapped},
        "cases": records(report.cases), "case_total": report.case_total,
        "quality": records(report.quality), "quality_departments": records(report.quality_departments),
        "drill_total": report.drill_total, "drill_shown": len(report.drill), "drill_cap": report.drill_cap,
        "notes": report.notes,
    }


def chart_specs(report: ReportData) -> dict[str, dict[str, Any]]:
    specs = {
        "by_rule": charts.by_rule_chart(report.by_rule, report.titles),
        "trend": charts.trend_chart(report.trend, report.trend_days, report.titles),
        "by_district": charts.by_district_chart(report.by_district_rule, report.names, report.titles),
    }
    if report.map_features:
        levels = [lv for lv in D.MAP_LEVELS if any(f["properties"]["level"] == lv for f in report.map_features)]
        specs["map"] = charts.map_chart(report.map_features, report.tracks, levels,
                                        "grid" if "grid" in levels else levels[-1])
    if not report.cases.empty:
        specs["cases"] = charts.cases_chart(report.cases, report.names)
        specs["steps"] = charts.steps_chart(report.case_total)
    if not report.quality.empty:
        specs["quality"] = charts.quality_chart(report.quality)
    for spec in specs.values():
        spec["config"] = charts.config()
    return specs


def _fmt_int(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{int(value):,}"


def _fmt_change(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{int(value):+,}"


def _fmt_rate(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{float(value):.1%}"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(int=_fmt_int, change=_fmt_change, rate=_fmt_rate, seconds=D.format_seconds,
                       severity=lambda s: SEVERITY_LABELS.get(s, s or ""))
    return env


def render(report: ReportData) -> str:
    """The report as one HTML document."""
    from gridrisk.report.template import PAGE

    data = payload(report)
    totals = {c: int(report.by_rule[c].sum()) for c in D.COUNTS} if not report.by_rule.empty else dict.fromkeys(D.COUNTS, 0)
    before = report.by_rule["open_before"] if "open_before" in report.by_rule else pd.Series(dtype=object)
    open_before = None if before.empty or before.isna().all() else int(before.fillna(0).sum())
    specs = chart_specs(report)
    return _env().from_string(PAGE).render(
        r=report, data=data, data_json=to_json(data), specs={k: to_json(v) for k, v in specs.items()},
        totals=totals, open_before=open_before, font_stack=charts.FONT_STACK, vega=vega_bundle(),
        steps=[(f"median_s_{a}_{b}", f"{D.STEP_LABELS[a]}→{D.STEP_LABELS[b]}") for a, b in D.STEPS],
        by_rule=records(report.by_rule), by_district=records(report.by_district), cases=records(report.cases),
        quality=records(report.quality), quality_departments=records(report.quality_departments),
        drill=records(report.drill), severity_labels=SEVERITY_LABELS,
    )
