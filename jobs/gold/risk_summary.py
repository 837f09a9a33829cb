"""gold ``risk_summary``: flag counts per rule × city × district × day, for analysts' reports.

    gridrisk run --date 2026-11-01 --stages rules   (written after the flags)

One row per (``ds``, ``rule_id``, ``city_code``, ``district_code``), partitioned by ``ds``:

- ``open``: flags open and seen on ds; ``new``: of those, opened on ds (a new episode);
  ``open_high``: of those, severity high or critical;
- ``resolved``: flags resolved on ds; ``suppressed``: flags suppressed and seen on ds;
- ``subjects`` = ``open`` + ``suppressed``: subjects the rule flagged on ds.

City (4 digits) and district (6 digits) are the leading digits of the flag's grid code, or of its
address code when it has no grid code; ``unknown`` when it has neither. A (rule, district) whose
counts are all 0 has no row.

The flags are read *as of* ds (Delta time travel to the last risk_flags run for a date on or
before ds), not as they stand now: ``risk_flags`` is one current row per flag, so once a newer
date ran, its ``last_seen``/``status`` describe that newer date. Reading as of ds makes a backfill
of an older date summarise that date, and re-running a date replaces its partition with the
same rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gridrisk import lake
from gridrisk.config import Profile
from gridrisk.rules import LEVEL_CODE_LENGTH

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

TABLE = "risk_summary"
CITY_CODE_LENGTH = 4
DISTRICT_CODE_LENGTH = LEVEL_CODE_LENGTH["district"]
UNKNOWN = "unknown"
HIGH_SEVERITIES = ("high", "critical")
#: The counts, in column order. ``open_high`` and ``new`` are subsets of ``open``.
COUNTS = ("open", "new", "resolved", "suppressed", "open_high", "subjects")


def _division_code(length: int) -> "Column":
    """The first ``length`` digits of the grid code, else of the address code, else ``unknown``."""
    from pyspark.sql import functions as F

    def present(name: str) -> "Column":  # a blank code is as good as none
        return F.when(F.trim(F.col(name)) != "", F.trim(F.col(name)))

    code = F.coalesce(present("grid_code"), present("address_code"))
    return F.coalesce(F.substring(code, 1, length), F.lit(UNKNOWN))


def transform(flags: "DataFrame", ds: str) -> "DataFrame":
    """Counts per (ds, rule, city, district) from the flags table as it stood after the run for ``ds``. Pure."""
    from pyspark.sql import functions as F

    day = F.lit(ds).cast("date")
    status, seen_today = F.col("status"), F.col("last_seen") == day
    is_open = (status == "open") & seen_today
    conditions = {
        "open": is_open,
        "new": is_open & (F.col("opened_on") == day),
        "resolved": (status == "resolved") & (F.col("resolved_on") == day),
        "suppressed": (status == "suppressed") & seen_today,
        "open_high": is_open & F.col("severity").isin(*HIGH_SEVERITIES),
    }
    conditions["subjects"] = conditions["open"] | conditions["suppressed"]

    def count(cond: "Column") -> "Column":
        return F.sum(F.when(cond, 1).otherwise(0)).cast("int")  # a null condition counts 0

    return (
        flags.where(seen_today | (F.col("resolved_on") == day))  # nothing else can count on ds
        .select("rule_id", _division_code(CITY_CODE_LENGTH).alias("city_code"),
                _division_code(DISTRICT_CODE_LENGTH).alias("district_code"),
                *(conditions[c].alias(f"_{c}") for c in COUNTS))
        .groupBy("rule_id", "city_code", "district_code")
        .agg(*(count(F.col(f"_{c}")).alias(c) for c in COUNTS))
        .where(" OR ".join(f"`{c}` > 0" for c in COUNTS))
        .select(day.alias("ds"), "rule_id", "city_code", "district_code", *COUNTS)
    )


def run(spark: "SparkSession", profile: Profile, ds: str) -> dict[str, Any]:
    from jobs.gold.risk_flags import flags_as_of

    try:
        flags = flags_as_of(spark, profile, ds)
    except LookupError as exc:
        return {"tables": {TABLE: 0}, "skipped": str(exc)}
    metrics = lake.replace_partition(transform(flags, ds), profile.table_path("gold", TABLE), {"ds": ds})
    return {"tables": {TABLE: metrics.get("numOutputRows", 0)}}

