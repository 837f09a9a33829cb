"""The fire-safety windows shared by silver ``fire_state`` and the fire rule kinds (library: the
kinds may not import jobs). Pure Spark column and DataFrame functions.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

FIRE_ALARM = "火警"
FALSE = "误报"


def day_end(ds: str) -> "Column":
    from pyspark.sql import functions as F

    return F.lit((dt.date.fromisoformat(ds) + dt.timedelta(days=1)).isoformat()).cast("timestamp")


def false_alarms(history: "DataFrame", ds: str, window_hours: int) -> "DataFrame":
    """silver ``fire_false_alarms``: per device with a 误报 fire alarm on ``ds``, the most 误报
    within ``window_hours`` (inclusive) of a window whose last alarm is on ``ds``.

    The fire.false_alarms rule kind calls it with its own window; the silver table uses
    ``FireSettings.false_alarm_window_hours``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    start, end = F.lit(ds).cast("timestamp"), day_end(ds)
    window_s = int(window_hours) * 3600
    alarms = history.where((F.col("event_type") == FIRE_ALARM) & (F.col("confirmation") == FALSE)
                           & (F.col("event_ts") < end)
                           & (F.col("event_ts") >= start - F.expr(f"INTERVAL {int(window_hours)} HOURS")))
    t = F.unix_timestamp("event_ts")
    per_device = Window.partitionBy("unit_id", "device_id").orderBy(t).rangeBetween(-window_s, 0)
    counted = alarms.withColumn("in_window", F.count("*").over(per_device))
    on_day = counted.where(F.col("event_ts") >= start)
    return (on_day.groupBy("unit_id", "device_id").agg(
                F.max("in_window").alias("max_in_window"),
                F.max("event_ts").alias("last_false_alarm_ts"))
            .join(alarms.groupBy("unit_id", "device_id").agg(
                F.array_sort(F.collect_list("event_ts")).alias("false_alarm_times"),
                F.array_sort(F.collect_list("event_id")).alias("false_alarm_event_ids")), ["unit_id", "device_id"])
            .select(F.lit(ds).cast("date").alias("ds"), "unit_id", "device_id",
                    F.concat_ws("/", "unit_id", F.coalesce("device_id", F.lit(""))).alias("device_key"),
                    F.lit(int(window_hours)).alias("window_hours"), "max_in_window",
                    "last_false_alarm_ts", "false_alarm_times", "false_alarm_event_ids"))
