"""Fire-safety kinds, on the silver fire state carried across days (``jobs/silver/fire_state.py``).

Subjects are fire units (``unit_id``) or their devices (``unit_id/device_id``, subject type
``unit``); a flag is placed in the unit's grid (its standard address → the addresses reference).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gridrisk.rules.kind import Hits, Input, RuleKind, Window
from gridrisk.rules.kinds._spark import F
from gridrisk.rules.model import Rule

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

UNITS = "fire_unit_state"
CONDITIONS = ("fault", "isolation", "manual", "offline", "mains_fault", "battery_fault")
CONDITION_LABELS = {"fault": "故障", "isolation": "屏蔽", "manual": "手动状态", "offline": "通信中断",
                    "mains_fault": "主电故障", "battery_fault": "备电故障"}
UNIT_FACTS = ("unit_name", "unit_category")


def _ts(col: Any) -> Any:
    return F.date_format(col, "yyyy-MM-dd HH:mm:ss")


def _with_unit(df: "DataFrame", units: "DataFrame") -> "DataFrame":
    u = units.select("unit_id", "unit_name", F.col("category").alias("unit_category"), "address_code", "grid_code",
                     "lon", "lat")
    return df.join(u, "unit_id", "left")


def _unit_hits(frame: "DataFrame", rule: Rule, key: Any, facts: dict[str, Any], evidence: dict[str, Any]) -> Hits:
    return Hits(frame=frame, subject_key=key, severity=F.lit(rule.severity),
                address_code=F.col("address_code"), grid_code=F.col("grid_code"), lon=F.col("lon"), lat=F.col("lat"),
                facts={"unit_name": F.col("unit_name"), "unit_category": F.col("unit_category"), **facts},
                evidence=evidence)


class FireOpenCondition(RuleKind):
    """A device condition (fault, isolation, manual mode, offline …) still open at the end of the
    day and open for more than ``open_more_than_h`` hours then (a 复位 or 恢复时间 ends it)."""

    name = "fire_open_condition"
    subject_type = "unit"
    inputs = (Input("fire_open_conditions", subject_column="device_key"), Input(UNITS, subject_column="unit_id"))
    params = {"condition": str, "open_more_than_h": (int, float)}
    facts = (*UNIT_FACTS, "device_id", "condition", "since", "open_hours", "open_more_than_h", "event_id")
    evidence = ("condition",)
    hourly = False
    incremental = False

    @classmethod
    def check(cls, params: dict[str, Any]) -> list[str]:
        if params.get("condition") not in CONDITIONS:
            return [f"condition: must be one of {', '.join(CONDITIONS)}"]
        return []

    def hits(self, inputs: "dict[str, DataFrame]", rule: Rule, window: Window) -> Hits:
        p = rule.params
        limit = float(p["open_more_than_h"])
        cond = inputs["fire_open_conditions"].where(
            (F.col("ds") == window.day()) & (F.col("condition") == p["condition"]) & (F.col("open_hours_at_day_end") > limit))
        units = inputs[UNITS].where(F.col("ds") == window.day())
        frame = _with_unit(cond, units)
        row = F.struct(F.col("event_id"), F.col("event_type"), _ts("since_ts").alias("since"),
                       F.col("open_hours_at_day_end"), F.col("open_events"), F.col("first_seen_ds").cast("string").alias("first_seen"))
        return _unit_hits(frame, rule, F.col("device_key"), {
            "device_id": F.col("device_id"),
            "condition": F.lit(CONDITION_LABELS[p["condition"]]),
            "since": _ts("since_ts"),
            "open_hours": F.format_number("open_hours_at_day_end", 1),
            "open_more_than_h": F.lit(f"{limit:g}"),
            "event_id": F.col("event_id"),
        }, {"condition": row})


class FireFalseAlarms(RuleKind):
    """≥ ``at_least`` fire alarms confirmed false (误报) from one device within ``within_h`` hours,
    the last of them on the day."""

    name = "fire_false_alarms"
    subject_type = "unit"
    inputs = (Input("fire_event_history", lookback_days=0, subject_column="unit_id"), Input(UNITS, subject_column="unit_id"))
    params = {"at_least": int, "within_h": (int, float)}
    facts = (*UNIT_FACTS, "device_id", "false_alarms", "within_h", "first", "last")
    evidence = ("alarms",)
    incremental = False

    def hits(self, inputs: "dict[str, DataFrame]", rule: Rule, window: Window) -> Hits:
        from gridrisk.fire_windows import false_alarms

        p = rule.params
        history = inputs["fire_event_history"].where(F.col("ds") == window.day())
        counted = false_alarms(history, window.ds, int(p["within_h"])).where(F.col("max_in_window") >= int(p["at_least"]))
        frame = _with_unit(counted, inputs[UNITS].where(F.col("ds") == window.day()))
        return _unit_hits(frame, rule, F.col("device_key"), {
            "device_id": F.col("device_id"),
            "false_alarms": F.col("max_in_window"),
            "within_h": F.lit(f"{float(p['within_h']):g}"),
            "first": _ts(F.col("false_alarm_times")[0]),
            "last": _ts("last_false_alarm_ts"),
        }, {"alarms": F.arrays_zip(F.col("false_alarm_event_ids").alias("event_id"),
                                   F.transform("false_alarm_times", lambda t: _ts(t)).alias("ts"))})


class FireInspectionOverdue(RuleKind):
    """The last annual inspection (最近年度检测日期) lies more than ``more_than_days`` days back."""

    name = "fire_inspection_overdue"
    subject_type = "unit"
    inputs = (Input(UNITS, subject_column="unit_id"),)
    params = {"more_than_days": int}
    # no "days since": an explanation quotes dates, so an unchanged unit keeps its text (incremental runs)
    facts = (*UNIT_FACTS, "last_inspection", "more_than_days")
    evidence = ("unit",)
    incremental = False

    def day_tests(self, rule: Rule) -> dict[str, list[Any]]:
        return {UNITS: [lambda day: self.overdue(rule, day)]}

    @staticmethod
    def overdue(rule: Rule, day: Any) -> Any:
        return F.coalesce(F.datediff(day, F.col("last_inspection_date")) > F.lit(int(rule.params["more_than_days"])),
                          F.lit(False))

    def hits(self, inputs: "dict[str, DataFrame]", rule: Rule, window: Window) -> Hits:
        day = window.day()
        units = inputs[UNITS].where((F.col("ds") == day) & self.overdue(rule, day)).withColumnRenamed("category", "unit_category")
        return _unit_hits(units, rule, F.col("unit_id"), {
            "last_inspection": F.col("last_inspection_date").cast("string"),
            "more_than_days": F.lit(int(rule.params["more_than_days"])),
        }, {"unit": F.struct(F.col("unit_id"), F.col("last_inspection_date").cast("string").alias("last_inspection"),
                             F.col("network_status"), F.col("open_conditions"))})


#: The fire kinds, for gridrisk.rules.kinds.KIND_CLASSES.
FIRE_KINDS: tuple[type[RuleKind], ...] = (FireOpenCondition, FireFalseAlarms, FireInspectionOverdue)
