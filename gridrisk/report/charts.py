"""The report's charts and map as Vega-Lite specifications (built with Altair).

Vega-Lite renders in the page from an inlined bundle of Vega, Vega-Lite and vega-embed
(``vl-convert``'s ``javascript_bundle``), as SVG, with no network: the map is drawn from the
reference grid polygons (``geoshape``), with no base map or tile server. Every parameter and
view is named here: Altair would otherwise number them from a process-wide counter, and the
same report built twice must be byte-identical.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from gridrisk.report import data as D

#: Fonts that carry Chinese glyphs, first the one the Debian image installs (fonts-wqy-zenhei).
FONT_STACK = '"WenQuanYi Zen Hei", "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif'
VEGA_LITE_VERSION = "6.4"
WIDTH = 640


def config() -> dict[str, Any]:
    """The Vega config every chart shares: Chinese-capable fonts, quiet axes."""
    return {"font": FONT_STACK, "axis": {"labelFont": FONT_STACK, "titleFont": FONT_STACK, "labelFontSize": 11},
            "legend": {"labelFont": FONT_STACK, "titleFont": FONT_STACK}, "title": {"font": FONT_STACK},
            "view": {"stroke": None}}


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    spec = chart.to_dict()
    spec.pop("config", None)
    return dict(spec)


def _rule_label(titles: dict[str, str], rule_id: str) -> str:
    return f"{titles.get(rule_id, rule_id)} ({rule_id})"


def by_rule_chart(by_rule: pd.DataFrame, titles: dict[str, str]) -> dict[str, Any]:
    """Open flags per rule today beside the day before."""
    rows = []
    for rec in by_rule.to_dict("records"):
        label = _rule_label(titles, rec["rule_id"])
        rows.append({"rule": label, "day": "当日", "open": int(rec["open"])})
        if rec.get("open_before") is not None and not pd.isna(rec["open_before"]):
            rows.append({"rule": label, "day": "前一日", "open": int(rec["open_before"])})
    chart = alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        y=alt.Y("rule:N", title=None, sort=None),
        yOffset=alt.YOffset("day:N", sort=["当日", "前一日"]),
        x=alt.X("open:Q", title="未结风险标记（条）"),
        color=alt.Color("day:N", title=None, sort=["当日", "前一日"], scale=alt.Scale(range=["#c0392b", "#bbbbbb"])),
        tooltip=[alt.Tooltip("rule:N", title="规则"), alt.Tooltip("day:N", title="日期"),
                 alt.Tooltip("open:Q", title="未结")],
    ).properties(width=WIDTH - 260, title="各规则未结风险标记：当日与前一日")
    return _spec(chart)


def trend_chart(trend: pd.DataFrame, days: list[str], titles: dict[str, str]) -> dict[str, Any]:
    """Open flags per rule per day over the report's days."""
    rows = [{"ds": r["ds"], "rule": _rule_label(titles, r["rule_id"]), "open": int(r["open"])}
            for r in trend.to_dict("records")]
    chart = alt.Chart(alt.Data(values=rows)).mark_line(point=True).encode(
        x=alt.X("ds:O", title=None, scale=alt.Scale(domain=days)),
        y=alt.Y("open:Q", title="未结风险标记（条）"),
        color=alt.Color("rule:N", title="规则"),
        tooltip=[alt.Tooltip("ds:O", title="日期"), alt.Tooltip("rule:N", title="规则"),
                 alt.Tooltip("open:Q", title="未结")],
    ).properties(width=WIDTH - 220, height=260, title=f"近{len(days)}日趋势（每日所见未结标记，来自Delta历史）")
    return _spec(chart)


def by_district_chart(by_district_rule: pd.DataFrame, names: dict[str, str], titles: dict[str, str]) -> dict[str, Any]:
    """Open flags per district, stacked by rule."""
    rows = [{"district": f"{names.get(r['district_code'], '')} {r['district_code']}".strip(),
             "rule": _rule_label(titles, r["rule_id"]), "open": int(r["open"])}
            for r in by_district_rule.to_dict("records") if int(r["open"]) > 0]
    chart = alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        y=alt.Y("district:N", title=None, sort="-x"),
        x=alt.X("sum(open):Q", title="未结风险标记（条）"),
        color=alt.Color("rule:N", title="规则"),
        tooltip=[alt.Tooltip("district:N", title="区县"), alt.Tooltip("rule:N", title="规则"),
                 alt.Tooltip("open:Q", title="未结")],
    ).properties(width=WIDTH - 300, title="各区县未结风险标记（按规则）")
    return _spec(chart)


def map_chart(features: list[dict[str, Any]], tracks: list[dict[str, Any]], levels: list[str],
              default_level: str) -> dict[str, Any]:
    """Choropleth of open flags per division; a radio button picks grid / community / street
    (/ district). Tracks from flag evidence (hazmat vehicles' routes) are drawn on top."""
    labels = {"district": "区县", "street": "街道/镇", "community": "社区/村", "grid": "网格"}
    level = alt.param(name="map_level", value=default_level,
                      bind=alt.binding_radio(options=levels, labels=[labels[lv] for lv in levels], name="地图层级 "))
    base = alt.Chart(alt.Data(values=features)).mark_geoshape(stroke="#ffffff", strokeWidth=0.4).encode(
        color=alt.condition("datum.properties.open > 0",
                            alt.Color("properties.open:Q", title="未结标记", scale=alt.Scale(scheme="orangered")),
                            alt.value("#eeeeee")),
        tooltip=[alt.Tooltip("properties.name:N", title="名称"), alt.Tooltip("properties.code:N", title="编码"),
                 alt.Tooltip("properties.open:Q", title="未结标记"), alt.Tooltip("properties.open_high:Q", title="其中高危")],
    ).transform_filter("datum.properties.level == map_level").add_params(level).properties(name="divisions")
    layers: list[Any] = [base]
    if tracks:
        layers.append(alt.Chart(alt.Data(values=tracks)).mark_geoshape(filled=False, stroke="#1f4e79", strokeWidth=1.5)
                      .encode(tooltip=[alt.Tooltip("properties.rule_id:N", title="规则"),
                                       alt.Tooltip("properties.flag:N", title="标记")]).properties(name="tracks"))
    chart = alt.layer(*layers).properties(width=WIDTH, height=480, title="未结风险标记分布").project(type="mercator")
    return _spec(chart)


def cases_chart(cases: pd.DataFrame, names: dict[str, str]) -> dict[str, Any]:
    """Tasks filed vs closed over the report's days per receiving unit."""
    totals = cases.groupby("unit", as_index=False)[["filed", "closed"]].sum() if not cases.empty else cases
    rows = []
    for r in totals.to_dict("records"):
        label = f"{names.get(r['unit'], '')} {r['unit']}".strip()
        rows += [{"unit": label, "what": "立案", "n": int(r["filed"])}, {"unit": label, "what": "结案", "n": int(r["closed"])}]
    chart = alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        y=alt.Y("unit:N", title=None),
        yOffset=alt.YOffset("what:N", sort=["立案", "结案"]),
        x=alt.X("n:Q", title="任务（件）"),
        color=alt.Color("what:N", title=None, sort=["立案", "结案"], scale=alt.Scale(range=["#2e86c1", "#27ae60"])),
        tooltip=[alt.Tooltip("unit:N", title="单位"), alt.Tooltip("what:N", title=" "), alt.Tooltip("n:Q", title="件")],
    ).properties(width=WIDTH - 260, title="立案与结案（按接收单位）")
    return _spec(chart)


def steps_chart(total: dict[str, Any] | None) -> dict[str, Any]:
    """Median time per lifecycle step, in hours, for the whole scope."""
    rows = []
    for a, b in D.STEPS:
        seconds = (total or {}).get(f"median_s_{a}_{b}")
        if seconds is not None:
            rows.append({"step": f"{D.STEP_LABELS[a]}→{D.STEP_LABELS[b]}", "hours": round(seconds / 3600, 2),
                         "text": D.format_seconds(seconds)})
    order = [f"{D.STEP_LABELS[a]}→{D.STEP_LABELS[b]}" for a, b in D.STEPS]
    chart = alt.Chart(alt.Data(values=rows)).mark_bar(color="#8e44ad").encode(
        x=alt.X("step:N", title=None, sort=order, scale=alt.Scale(domain=order)),
        y=alt.Y("hours:Q", title="中位用时（小时）"),
        tooltip=[alt.Tooltip("step:N", title="环节"), alt.Tooltip("text:N", title="中位用时")],
    ).properties(width=WIDTH - 200, height=220, title="各环节中位用时")
    return _spec(chart)


def quality_chart(quality: pd.DataFrame) -> dict[str, Any]:
    """Rows accepted and quarantined per department."""
    rows = []
    for r in quality.to_dict("records"):
        rows += [{"department": r["department"], "what": "接收", "rows": int(r["rows_accepted"])},
                 {"department": r["department"], "what": "隔离", "rows": int(r["rows_quarantined"])}]
    chart = alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        y=alt.Y("department:N", title=None),
        x=alt.X("sum(rows):Q", title="行数", stack="zero"),
        color=alt.Color("what:N", title=None, sort=["接收", "隔离"], scale=alt.Scale(range=["#5d6d7e", "#e67e22"])),
        tooltip=[alt.Tooltip("department:N", title="部门"), alt.Tooltip("what:N", title=" "),
                 alt.Tooltip("sum(rows):Q", title="行数")],
    ).properties(width=WIDTH - 260, title="当日各部门数据：接收与隔离")
    return _spec(chart)
