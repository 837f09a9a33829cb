"""The report's figures as an Excel workbook: one sheet per section, the same numbers as the page.

openpyxl stamps the save time into ``docProps/core.xml`` and every zip entry; both are set to
the report's logical date here, so the workbook of a date is byte-identical whenever it is built.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Sequence
from typing import Any

from gridrisk.report import data as D
from gridrisk.report.assemble import ReportData
from gridrisk.report.html import payload, records

#: Sheet name → (column header, key of the row dict) pairs.
SheetSpec = Sequence[tuple[str, str]]

BY_RULE: SheetSpec = (("规则编号", "rule_id"), ("规则", "title"), ("未结", "open"), ("前一日未结", "open_before"),
                      ("变化", "change"), ("新增", "new"), ("消除", "resolved"), ("高危/严重", "open_high"),
                      ("抑制", "suppressed"), ("涉及主体", "subjects"))
BY_DISTRICT: SheetSpec = (("市", "city_code"), ("区县", "district_code"), ("名称", "name"), ("未结", "open"),
                          ("前一日未结", "open_before"), ("变化", "change"), ("新增", "new"), ("消除", "resolved"),
                          ("高危/严重", "open_high"), ("抑制", "suppressed"))
TREND: SheetSpec = (("日期", "ds"), ("规则编号", "rule_id"), ("未结", "open"), ("新增", "new"), ("消除", "resolved"))
MAP: SheetSpec = (("层级", "level"), ("编码", "code"), ("名称", "name"), ("未结", "open"), ("高危/严重", "open_high"))
CASES: SheetSpec = (("接收单位", "unit"), ("名称", "name"), ("部门", "department"), ("当日立案", "filed_day"),
                    ("当日结案", "closed_day"), ("立案", "filed"), ("结案", "closed"), ("按期结案", "closed_on_time"),
                    ("按期结案率", "on_time_rate"), ("系统结案", "closed_by_system"), ("超期未结", "overdue"),
                    *((f"{D.STEP_LABELS[a]}→{D.STEP_LABELS[b]} 中位秒数", f"median_s_{a}_{b}") for a, b in D.STEPS))
QUALITY_DEPARTMENTS: SheetSpec = (("部门", "department"), ("数据集", "datasets"), ("读取", "rows_read"),
                                  ("接收", "rows_accepted"), ("隔离", "rows_quarantined"),
                                  ("未通过的校验套件", "suites_failed"))
QUALITY: SheetSpec = (("部门", "department"), ("数据集", "dataset"), ("入湖", "ingest_status"), ("读取", "rows_read"),
                      ("接收", "rows_accepted"), ("隔离", "rows_quarantined"), ("隔离原因", "by_reason"),
                      ("校验套件", "suite"), ("不合格比例", "bad_share"), ("未通过的期望", "failed_expectations"))
FLAGS: SheetSpec = (("标记", "flag"), ("规则编号", "rule_id"), ("规则", "rule"), ("等级", "severity"),
                    ("优先级", "priority"), ("主体（截短）", "subject"), ("网格", "grid_code"), ("地点", "place"),
                    ("接收单位", "receiving_unit"), ("部门", "department"), ("立案日", "opened_on"),
                    ("说明（分析人员）", "explanation"))


def _write_sheet(wb: Any, title: str, spec: SheetSpec, rows: list[dict[str, Any]], note: str | None = None) -> None:
    from openpyxl.styles import Font

    ws = wb.create_sheet(title)
    start = 1
    if note:
        ws.cell(row=1, column=1, value=note).font = Font(italic=True)
        start = 3
    for col, (header, _) in enumerate(spec, start=1):
        ws.cell(row=start, column=col, value=header).font = Font(bold=True)
    for r, row in enumerate(rows, start=start + 1):
        for col, (_, key) in enumerate(spec, start=1):
            ws.cell(row=r, column=col, value=row.get(key))
    ws.freeze_panes = ws.cell(row=start + 1, column=1)
    for col, (header, key) in enumerate(spec, start=1):
        width = max([len(str(header))] + [len(str(row.get(key) or "")) for row in rows[:200]])
        ws.column_dimensions[ws.cell(row=start, column=col).column_letter].width = min(60, max(8, width * 1.6))


def workbook_bytes(report: ReportData) -> bytes:
    """The workbook of ``report`` (deterministic bytes)."""
    from openpyxl import Workbook

    data = payload(report)
    wb = Workbook()
    about = wb.active
    about.title = "说明"
    lines = [("风险研判日报", report.scope_label), ("逻辑日期", report.ds), ("范围", report.scope.unit or "32（全省）"),
             ("趋势天数", report.days), ("risk_flags 版本", report.flags_version),
             ("明细", f"{data['drill_shown']} / {data['drill_total']} 条（上限 {report.drill_cap}）"),
             ("Data Docs", report.data_docs or "")]
    lines += [("注意", n) for n in report.notes]
    for r, (k, v) in enumerate(lines, start=1):
        about.cell(row=r, column=1, value=k)
        about.cell(row=r, column=2, value=v)
    about.column_dimensions["A"].width = 18
    about.column_dimensions["B"].width = 80
    by_rule = [{**row, "title": report.titles.get(row["rule_id"], row["rule_id"])} for row in data["by_rule"]]
    _write_sheet(wb, "按规则", BY_RULE, by_rule)
    _write_sheet(wb, "按区县", BY_DISTRICT, data["by_district"])
    _write_sheet(wb, "趋势", TREND, data["trend"])
    map_rows = [{**f["properties"]} for f in report.map_features if f["properties"]["open"] > 0]
    _write_sheet(wb, "地图", MAP, map_rows, note=f"有未结标记的区划（共 {len(report.map_features)} 个区划面）")
    cases = list(data["cases"]) + ([data["case_total"]] if data["case_total"] else [])
    _write_sheet(wb, "案件办理", CASES, cases, note=f"近 {report.days} 日，截至 {report.ds} 24:00；末行为合计")
    _write_sheet(wb, "数据质量-部门", QUALITY_DEPARTMENTS, data["quality_departments"])
    _write_sheet(wb, "数据质量-数据集", QUALITY, data["quality"])
    _write_sheet(wb, "风险标记明细", FLAGS, records(report.drill),
                 note=f"共 {data['drill_total']} 条，列出最紧急的 {data['drill_shown']} 条")
    stamp = dt.datetime.fromisoformat(report.ds)
    wb.properties.creator = "gridrisk"
    wb.properties.created = stamp
    buffer = io.BytesIO()
    wb.save(buffer)
    return normalise_xlsx(buffer.getvalue(), stamp)


_CORE_TIMES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:(?:created|modified)>)")


def normalise_xlsx(blob: bytes, stamp: dt.datetime) -> bytes:
    """Pin the timestamps openpyxl takes from the clock (core properties, zip entries) to ``stamp``."""
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode("ascii")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _CORE_TIMES.sub(lambda m: m.group(1) + iso + m.group(2), content)
            entry = zipfile.ZipInfo(info.filename, date_time=(stamp.year, stamp.month, stamp.day, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, content)
    return out.getvalue()
