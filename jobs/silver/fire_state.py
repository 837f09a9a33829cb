"""Silver state of the fire-networked units, carried from day to day over the event history.

    python -m jobs.silver.fire_state --date 2026-11-01

The monitoring centre delivers each day the events that happened that day or were still active
during it, in their state at the end of the day (``恢复时间`` empty while active). This stage
does not trust the delivery to repeat an open event: it carries yesterday's state forward, so a
fault raised on one day and never cleared stays open on every following day until a delivery
clears it (``恢复时间``) or a ``复位`` of the same device resolves it.

Tables (all partitioned by ``ds``):

* **fire_event_history** — every event still open at the start of the day, or cleared within
  ``history_days`` before its end, in its latest known state: the latest delivery of an event
  wins over older ones, and a 复位 resolves the events of its device (and the unit-wide types of
  ``reset_clears_unit``) that began before it. ``resolved_by`` says how an event ended.
* **fire_event_rejects** — rows of the day's delivery that cannot be used, with the reason:
  no time, cleared before raised, a unit in no register. Rows in = used + rejected.
* **fire_open_conditions** — one row per (unit, device, condition) open at the end of the day:
  fault (故障), isolation (屏蔽), manual mode (手动状态), offline (通信中断), mains/battery
  fault; since when (the oldest open event), its event id and hours open at the day's end.
* **fire_false_alarms** — per device with a confirmed-false (误报) fire alarm on the day: the
  largest number of them within any ``false_alarm_window_hours`` window whose last alarm is on
  the day, and the alarm times.
* **fire_unit_state** — per registered unit: category, address and grid, last annual
  inspection and days since it at the day, the register's network status, open conditions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from gridrisk import lake
from gridrisk.config import Profile
from gridrisk.fire_windows import day_end, false_alarms

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

HISTORY_TABLE = "fire_event_history"
REJECTS_TABLE = "fire_event_rejects"
OPEN_TABLE = "fire_open_conditions"
FALSE_ALARMS_TABLE = "fire_false_alarms"
UNITS_TABLE = "fire_unit_state"

#: event type → the condition it opens (fire alarms, supervisory signals and resets open none).
CONDITIONS = {"故障": "fault", "屏蔽": "isolation", "手动状态": "manual", "通信中断": "offline",
              "主电故障": "mains_fault", "备电故障": "battery_fault"}
RESET = "复位"
HISTORY_SCHEMA = ("event_id string, unit_id string, device_id string, event_type string, event_ts timestamp, "
                  "confirmation string, cleared_ts timestamp, resolved_by string, first_seen_ds date, last_seen_ds date")


@dataclass(frozen=True)
class FireSettings:
    """How the event history is carried (the rules' thresholds live with the rules)."""

    history_days: int = 3
    false_alarm_window_hours: int = 24
    #: a 复位 always resolves the events of its own device; these types also unit-wide (a panel
    #: reset silences the alarm and supervisory signals; a fault or an isolation outlives it).
    reset_clears_unit: tuple[str, ...] = ("火警", "监管")

    @classmethod
    def of(cls, values: dict[str, Any] | None) -> "FireSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values or {}) - known)
        if unknown:
            raise ValueError(f"unknown fire settings {unknown}; known: {sorted(known)}")
        vals = dict(values or {})
        if "reset_clears_unit" in vals:
            vals["reset_clears_unit"] = tuple(vals["reset_clears_unit"])
        return cls(**vals)


def check_events(events: "DataFrame", units: "DataFrame", ds: str) -> tuple["DataFrame", "DataFrame"]:
    """(usable rows, rejected rows with ``reason``) of one day's delivery. Pure."""
    from pyspark.sql import functions as F

    known = units.select("unit_id").distinct().withColumn("_registered", F.lit(True))
    checked = (events.join(F.broadcast(known), "unit_id", "left")
               .withColumn("reason",
                           F.when(F.col("event_ts").isNull(), F.lit("event time missing"))
                           .when(F.col("event_type").isNull(), F.lit("event type missing"))
                           .when(F.col("cleared_ts") < F.col("event_ts"),
                                 F.concat(F.lit("cleared before raised: "), F.date_format("cleared_ts", "yyyy-MM-dd HH:mm:ss"),
                                          F.lit(" < "), F.date_format("event_ts", "yyyy-MM-dd HH:mm:ss")))
                           .when(F.col("_registered").isNull(), F.lit("unit in no fire unit register"))))
    rejected = checked.where(F.col("reason").isNotNull()).select(
        F.lit(ds).cast("date").alias("ds"), "event_id", "unit_id", "device_id", "event_type", "event_ts", "reason",
        "_source_file", "_row_number")
    good = checked.where(F.col("reason").isNull()).drop("_registered", "reason")
    return good, rejected


def event_history(previous: "DataFrame | None", today: "DataFrame", ds: str, settings: FireSettings) -> "DataFrame":
    """silver ``fire_event_history`` of ``ds`` from yesterday's and today's usable rows. Pure.

    ``previous``: yesterday's history partition (None on the first day); ``today``: the usable
    delivery rows of ``ds``.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    day = F.lit(ds).cast("date")
    end = day_end(ds)
    delivered = today.select(
        "event_id", "unit_id", "device_id", "event_type", "event_ts", "confirmation", "cleared_ts",
        F.lit(None).cast("string").alias("resolved_by"), day.alias("first_seen_ds"), day.alias("last_seen_ds"),
        F.lit(1).alias("_today"), "_source_file", "_row_number")
    carried = (previous.select(*[c.split()[0] for c in HISTORY_SCHEMA.split(", ")])
               .withColumn("_today", F.lit(0)).withColumn("_source_file", F.lit(""))
               .withColumn("_row_number", F.lit(0).cast("long"))) if previous is not None else None
    both = delivered if carried is None else carried.unionByName(delivered)
    latest = Window.partitionBy("event_id").orderBy(F.col("_today").desc(), F.col("_source_file").desc(),
                                                     F.col("_row_number").desc())
    first_seen = Window.partitionBy("event_id")
    merged = (both.withColumn("first_seen_ds", F.min("first_seen_ds").over(first_seen))
              .withColumn("_r", F.row_number().over(latest)).where("_r = 1")
              # a delivery that clears the event states how it ended; a carried one keeps its reason
              .withColumn("resolved_by", F.when(F.col("cleared_ts").isNull(), F.lit(None))
                          .when(F.col("_today") == 1, F.lit("恢复时间")).otherwise(F.col("resolved_by")))
              .drop("_r", "_today", "_source_file", "_row_number"))

    # 复位: the first reset after an open event, on its device (or unit-wide for some types), ends it.
    resets = merged.where(F.col("event_type") == RESET).select(
        F.col("unit_id").alias("r_unit"), F.col("device_id").alias("r_device"), F.col("event_ts").alias("r_ts"),
        F.col("event_id").alias("r_id"))
    open_events = merged.where(F.col("event_type") != RESET)
    cond = ((open_events.unit_id == resets.r_unit) & (resets.r_ts >= open_events.event_ts) & (resets.r_ts < end)
            & ((open_events.device_id == resets.r_device) | open_events.event_type.isin(*settings.reset_clears_unit)))
    first_reset = Window.partitionBy("event_id").orderBy("r_ts", "r_id")
    with_reset = (open_events.join(resets, cond, "left")
                  .withColumn("_r", F.row_number().over(first_reset)).where("_r = 1")
                  .withColumn("_reset_ends", F.col("r_ts").isNotNull()
                              & (F.col("cleared_ts").isNull() | (F.col("r_ts") < F.col("cleared_ts"))))
                  .withColumn("resolved_by", F.when(F.col("_reset_ends"), F.concat(F.lit("复位 "), F.col("r_id")))
                              .otherwise(F.col("resolved_by")))
                  .withColumn("cleared_ts", F.when(F.col("_reset_ends"), F.col("r_ts")).otherwise(F.col("cleared_ts")))
                  .drop("r_unit", "r_device", "r_ts", "r_id", "_r", "_reset_ends"))
    history = with_reset.unionByName(merged.where(F.col("event_type") == RESET))
    keep_from = F.lit((dt.date.fromisoformat(ds) - dt.timedelta(days=settings.history_days)).isoformat()).cast("timestamp")
    is_condition = F.col("event_type").isin(*CONDITIONS)
    # an open condition is carried for ever; anything else for history_days after it ended (or
    # happened: an alarm or a reset without 恢复时间 opens nothing)
    return (history.where((is_condition & F.col("cleared_ts").isNull())
                          | (F.coalesce("cleared_ts", "event_ts") >= keep_from))
            .select(day.alias("ds"), *[c.split()[0] for c in HISTORY_SCHEMA.split(", ")]))


def open_conditions(history: "DataFrame", ds: str) -> "DataFrame":
    """silver ``fire_open_conditions``: what is still open at the end of ``ds``, per unit/device/condition."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    end = day_end(ds)
    mapping = F.create_map(*[x for k, v in CONDITIONS.items() for x in (F.lit(k), F.lit(v))])
    still_open = (history.where(F.col("event_type").isin(*CONDITIONS) & (F.col("event_ts") < end)
                                & (F.col("cleared_ts").isNull() | (F.col("cleared_ts") >= end)))
                  .withColumn("condition", mapping[F.col("event_type")]))
    oldest = Window.partitionBy("unit_id", "device_id", "condition").orderBy("event_ts", "event_id")
    return (still_open.withColumn("open_events", F.count("*").over(Window.partitionBy("unit_id", "device_id", "condition")))
            .withColumn("_r", F.row_number().over(oldest)).where("_r = 1")
            .select(F.lit(ds).cast("date").alias("ds"), "unit_id", "device_id",
                    F.concat_ws("/", "unit_id", F.coalesce("device_id", F.lit(""))).alias("device_key"),
                    "condition", "event_type", "event_id", F.col("event_ts").alias("since_ts"),
                    F.round((F.unix_timestamp(end) - F.unix_timestamp("event_ts")) / 3600.0, 2).alias("open_hours_at_day_end"),
                    "open_events", "first_seen_ds"))


def unit_state(units: "DataFrame", addresses: "DataFrame", conditions: "DataFrame", ds: str) -> "DataFrame":
    """silver ``fire_unit_state``: every registered unit with its grid, inspection and open conditions."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    latest = Window.partitionBy("unit_id").orderBy(F.col("_source_file").desc(), F.col("_row_number").desc())
    u = units.withColumn("_r", F.row_number().over(latest)).where("_r = 1")
    grid = addresses.select("address_code", "grid_code", "lon", "lat").dropDuplicates(["address_code"])
    opened = conditions.groupBy("unit_id").agg(F.array_sort(F.collect_set("condition")).alias("open_conditions"))
    return (u.join(grid, "address_code", "left").join(opened, "unit_id", "left")
            .select(F.lit(ds).cast("date").alias("ds"), "unit_id", "unit_name", "address_code", "grid_code", "lon", "lat",
                    "category", "last_inspection_date",
                    F.datediff(F.lit(ds).cast("date"), "last_inspection_date").alias("days_since_inspection"),
                    "network_status", F.coalesce("open_conditions", F.array().cast("array<string>")).alias("open_conditions")))


def run(spark: "SparkSession", profile: Profile, ds: str, settings: FireSettings | None = None) -> dict[str, Any]:
    """Read bronze fire_events/fire_units/addresses and yesterday's history; write the five tables."""
    settings = settings or FireSettings()
    prev = (dt.date.fromisoformat(ds) - dt.timedelta(days=1)).isoformat()
    events = lake.read_partition(spark, profile, "bronze", "fire_events", ds)
    units = lake.read_latest(spark, profile, "bronze", "fire_units", ds)
    good, rejected = check_events(events, units, ds)
    history_path = profile.table_path("silver", HISTORY_TABLE)
    previous = None
    if lake.table_exists(spark, history_path):
        yesterday = lake.read_partition(spark, profile, "silver", HISTORY_TABLE, prev)
        previous = yesterday if yesterday.limit(1).count() else None
    written: dict[str, int] = {}
    written[REJECTS_TABLE] = lake.replace_partition(rejected, profile.table_path("silver", REJECTS_TABLE),
                                                    {"ds": ds}).get("numOutputRows", 0)
    written[HISTORY_TABLE] = lake.replace_partition(event_history(previous, good, ds, settings), history_path,
                                                    {"ds": ds}).get("numOutputRows", 0)
    history = lake.read_partition(spark, profile, "silver", HISTORY_TABLE, ds)
    written[OPEN_TABLE] = lake.replace_partition(open_conditions(history, ds), profile.table_path("silver", OPEN_TABLE),
                                                 {"ds": ds}).get("numOutputRows", 0)
    written[FALSE_ALARMS_TABLE] = lake.replace_partition(
        false_alarms(history, ds, settings.false_alarm_window_hours), profile.table_path("silver", FALSE_ALARMS_TABLE), {"ds": ds}).get("numOutputRows", 0)
    addresses = lake.read_latest(spark, profile, "bronze", "addresses", ds)
    conditions = lake.read_partition(spark, profile, "silver", OPEN_TABLE, ds)
    written[UNITS_TABLE] = lake.replace_partition(unit_state(units, addresses, conditions, ds),
                                                  profile.table_path("silver", UNITS_TABLE), {"ds": ds}).get("numOutputRows", 0)
    rows_in = events.count()
    used = rows_in - written[REJECTS_TABLE]
    return {"tables": written, "fire_events": {"read": rows_in, "used": used, "rejected": written[REJECTS_TABLE],
                                               "previous_day_read": previous is not None}}

