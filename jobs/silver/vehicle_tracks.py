"""silver ``vehicle_points``, ``gps_rejects``, ``waybill_crew`` and ``vehicle_periods``: hazmat
vehicle tracks cut into driving and resting periods, each joined to its waybill and crew.

    python -m jobs.silver.vehicle_tracks --date 2026-11-01

* **vehicle_points** (partition ``ds`` = the delivery date): the JT/T 808 reports of the day's
  delivery (bronze has already decoded the units: ``yyMMddHHmmss`` GMT+8, degrees × 10⁶,
  0.1 km/h), checked, de-duplicated on (plate, time), each placed in its grid and on its nearest
  road with the road's class, and near a sensitive place (with the place's own grid) when within ``place_within_m``
  (:mod:`gridrisk.spatial`, shapely inside ``mapInArrow``).
* **gps_rejects** (``ds``): every report that cannot be a real position of a registered hazmat
  vehicle on that day, with the reason — coordinates 0/0, outside China, a speed over
  ``max_speed_kmh``, a time outside the delivery's day by more than ``lateness_minutes``, a
  plate in no vehicle register. A rejected point never reaches a period, so no flag is ever
  built on it. Rows in = accepted + duplicates + rejected (the job checks it).
* **waybill_crew** (``ds``): the waybills of the day's delivery and of the day before (a trip
  that starts before midnight), latest state, each with the person keys of its driver and
  escort from entity resolution (silver ``person_records``, dataset ``waybills``), and a
  ``crew_problem`` when a crew ID could be linked to nobody.
* **vehicle_periods** (``ds``): maximal runs of moving (speed > 0) or stopped reports per
  vehicle in time order — however late or out of order they were delivered — cut also where
  the terminal was silent longer than ``max_gap_minutes``. The run reads the previous day's
  accepted points, so a trip crossing midnight is one trip; the partition holds every period
  that overlaps the day (the midnight one whole). Periods carry ``trip_no``: a new trip begins
  after a stop of at least ``trip_rest_minutes``. Each period carries the non-cancelled waybill
  of its plate whose plan window overlaps it most, and that waybill's crew.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from gridrisk import lake
from gridrisk.config import Profile
from gridrisk.spatial import CHINA_LAT, CHINA_LON, Reference, annotate_points

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

POINTS_TABLE = "vehicle_points"
REJECTS_TABLE = "gps_rejects"
CREW_TABLE = "waybill_crew"
PERIODS_TABLE = "vehicle_periods"
LINKED_CREW = ("exact", "probabilistic")


@dataclass(frozen=True)
class TrackSettings:
    """Thresholds of the track stage (the rules' thresholds live with the rules)."""

    lateness_minutes: int = 60
    max_speed_kmh: float = 200.0
    max_gap_minutes: int = 15
    trip_rest_minutes: int = 20
    max_road_m: float = 300.0
    place_within_m: float = 200.0

    @classmethod
    def of(cls, values: dict[str, Any] | None) -> "TrackSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values or {}) - known)
        if unknown:
            raise ValueError(f"unknown track settings {unknown}; known: {sorted(known)}")
        return cls(**(values or {}))


def day_bounds(ds: str) -> tuple["Column", "Column"]:
    """[start, end) of the logical date in the session's zone (Asia/Shanghai)."""
    from pyspark.sql import functions as F

    start = F.lit(ds).cast("timestamp")
    return start, F.lit((dt.date.fromisoformat(ds) + dt.timedelta(days=1)).isoformat()).cast("timestamp")


def reject_reason(settings: TrackSettings, ds: str) -> "Column":
    """The first reason a report cannot be a real position of a registered vehicle (null if good).

    Needs a boolean ``_registered`` column (the plate is in the vehicle register).
    """
    from pyspark.sql import functions as F

    start, end = day_bounds(ds)
    late = F.expr(f"INTERVAL {int(settings.lateness_minutes)} MINUTES")
    lon, lat = F.col("lon"), F.col("lat")
    return (
        F.when(F.col("plate_no").isNull() | F.col("gps_ts").isNull() | lon.isNull() | lat.isNull(),
               F.lit("required value missing (plate, time or position)"))
        .when((lon == 0) & (lat == 0), F.lit("coordinates 0/0 (no GNSS fix)"))
        .when(~lon.between(*CHINA_LON) | ~lat.between(*CHINA_LAT),
              F.concat(F.lit("coordinates outside China: "), lon.cast("string"), F.lit(","), lat.cast("string")))
        .when(F.col("speed_kmh").isNull(), F.lit("speed missing"))
        .when(F.col("speed_kmh") > settings.max_speed_kmh,
              F.concat(F.lit(f"speed over {settings.max_speed_kmh:g} km/h: "), F.col("speed_kmh").cast("string")))
        .when(F.col("speed_kmh") < 0, F.lit("negative speed"))
        .when((F.col("gps_ts") < start - late) | (F.col("gps_ts") >= end + late),
              F.concat(F.lit(f"time outside the delivery day {ds} by more than {settings.lateness_minutes} min: "),
                       F.date_format("gps_ts", "yyyy-MM-dd HH:mm:ss")))
        .when(~F.col("_registered"), F.lit("plate in no hazmat vehicle register"))
    )


def check_points(raw: "DataFrame", vehicles: "DataFrame", ds: str, settings: TrackSettings
                 ) -> tuple["DataFrame", "DataFrame"]:
    """(good reports, one row per distinct (plate, time); rejected reports with ``reason``). Pure.

    A report sent twice (same plate and time) is kept once: the first delivered row wins.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    register = vehicles.select(F.trim("plate_no").alias("plate_no")).where("plate_no IS NOT NULL").distinct() \
        .withColumn("_registered", F.lit(True))
    checked = (raw.withColumn("plate_no", F.trim("plate_no"))
               .join(F.broadcast(register), "plate_no", "left")
               .withColumn("_registered", F.coalesce("_registered", F.lit(False)))
               .withColumn("reason", reject_reason(settings, ds)))
    rejected = checked.where(F.col("reason").isNotNull()).select(
        F.lit(ds).cast("date").alias("ds"), "plate_no", "gps_ts", "lon", "lat", "speed_kmh", "reason",
        "_source_file", "_row_number", "_batch_id")
    first = Window.partitionBy("plate_no", "gps_ts").orderBy("_source_file", "_row_number")
    good = (checked.where(F.col("reason").isNull())
            .withColumn("_copy", F.row_number().over(first)).where("_copy = 1")
            .select("plate_no", "plate_colour", "gps_ts", "lon", "lat", "speed_kmh", "heading_deg",
                    "alarm_bits", "status_bits", "_source_file", "_row_number", "_batch_id"))
    return good, rejected


def reference_of(grids: "DataFrame", roads: "DataFrame", places: "DataFrame") -> Reference:
    """The spatial reference (grid polygons of level ``grid``, roads, sensitive places), collected."""
    from pyspark.sql import functions as F

    g = [(r["grid_code"], r["geometry_json"]) for r in
         grids.where(F.col("level") == "grid").select("grid_code", "geometry_json").distinct().collect()]
    rd = [(r["road_id"], r["road_name"], r["road_class"], r["geometry_json"]) for r in
          roads.select("road_id", "road_name", "road_class", "geometry_json").distinct().collect()]
    p = [(r["place_id"], r["place_name"], r["category"], r["lon"], r["lat"], r["radius_m"]) for r in
         places.where("lon IS NOT NULL AND lat IS NOT NULL")
         .select("place_id", "place_name", "category", "lon", "lat", "radius_m").distinct().collect()]
    return Reference.of(g, rd, p)


def vehicle_points(good: "DataFrame", ref: Reference, ds: str, settings: TrackSettings) -> "DataFrame":
    """silver ``vehicle_points``: good reports placed in their grid, on their road, near a place."""
    from pyspark.sql import functions as F

    placed = annotate_points(good, ref, settings.max_road_m, settings.place_within_m)
    return placed.select(
        F.lit(ds).cast("date").alias("ds"), "plate_no", "plate_colour", "gps_ts",
        F.to_date("gps_ts").alias("event_date"), "lon", "lat", "speed_kmh", "heading_deg", "alarm_bits",
        "status_bits", "grid_code", "road_id", "road_name", "road_class", "road_distance_m", "place_id",
        "place_category", "place_distance_m", "place_grid_code", "_source_file", "_row_number", "_batch_id")


def track_points(today: "DataFrame", yesterday: "DataFrame | None") -> "DataFrame":
    """Today's points and yesterday's, one per (plate, time): a late copy in today's delivery of a
    point already delivered yesterday does not count twice (yesterday's row wins)."""
    from gridrisk.rules.kinds.tracks import one_per_time

    return one_per_time(today if yesterday is None else yesterday.unionByName(today))


def periods(points: "DataFrame", ds: str, settings: TrackSettings) -> "DataFrame":
    """Driving / resting periods per vehicle that overlap ``ds`` (pure).

    ``points``: silver vehicle_points rows of the day and the day before (:func:`track_points`).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    start, end = day_bounds(ds)
    by_time = Window.partitionBy("plate_no").orderBy("gps_ts")
    pts = (points
           .withColumn("state", F.when(F.col("speed_kmh") > 0, F.lit("driving")).otherwise(F.lit("resting")))
           .withColumn("_prev_ts", F.lag("gps_ts").over(by_time))
           .withColumn("_prev_state", F.lag("state").over(by_time))
           .withColumn("_prev_lon", F.lag("lon").over(by_time))
           .withColumn("_prev_lat", F.lag("lat").over(by_time))
           .withColumn("_gap_s", F.unix_timestamp("gps_ts") - F.unix_timestamp("_prev_ts"))
           .withColumn("_new", F.col("_prev_ts").isNull() | (F.col("state") != F.col("_prev_state"))
                       | (F.col("_gap_s") > settings.max_gap_minutes * 60))
           .withColumn("period_no", F.sum(F.col("_new").cast("int")).over(by_time.rowsBetween(Window.unboundedPreceding, 0)))
           # metres from the previous report, counted only inside a period
           .withColumn("_step_m", F.when(~F.col("_new"), haversine_col("_prev_lon", "_prev_lat", "lon", "lat"))
                       .otherwise(F.lit(0.0))))
    per = pts.groupBy("plate_no", "period_no").agg(
        F.first("state").alias("state"),
        F.min("gps_ts").alias("start_ts"),
        F.max("gps_ts").alias("end_ts"),
        F.count("*").alias("points"),
        F.max("speed_kmh").alias("max_speed_kmh"),
        F.round(F.sum("_step_m") / 1000.0, 3).alias("distance_km"),
        F.min_by(F.struct("lon", "lat", "grid_code", "road_id"), "gps_ts").alias("_first"),
        F.max_by(F.struct("lon", "lat", "grid_code", "road_id"), "gps_ts").alias("_last"),
        F.array_sort(F.collect_set("road_class")).alias("road_classes"),
        F.min_by("_gap_s", "gps_ts").alias("gap_before_s"),
        F.array_sort(F.collect_set(F.when(F.col("state") == "resting", F.col("place_id")))).alias("places_near"),
    )
    trip_window = Window.partitionBy("plate_no").orderBy("start_ts")
    long_rest = (F.col("state") == "resting") & (
        F.unix_timestamp("end_ts") - F.unix_timestamp("start_ts") >= settings.trip_rest_minutes * 60)
    with_trip = (per
                 .withColumn("duration_s", F.unix_timestamp("end_ts") - F.unix_timestamp("start_ts"))
                 .withColumn("_after_rest", F.coalesce(F.lag(long_rest).over(trip_window), F.lit(True)))
                 .withColumn("trip_no", F.sum(F.col("_after_rest").cast("int"))
                             .over(trip_window.rowsBetween(Window.unboundedPreceding, 0)))
                 .withColumn("trip_id", F.concat_ws("|", "plate_no", F.date_format(
                     F.min("start_ts").over(Window.partitionBy("plate_no", "trip_no")), "yyyyMMddHHmmss"))))
    return (with_trip.where((F.col("end_ts") >= start) & (F.col("start_ts") < end))
            .select(
                F.lit(ds).cast("date").alias("ds"), "plate_no",
                F.concat_ws("|", "plate_no", F.date_format("start_ts", "yyyyMMddHHmmss")).alias("period_id"),
                "trip_id",
                "state", "start_ts", "end_ts", "duration_s", "points", "max_speed_kmh", "distance_km",
                F.col("_first.lon").alias("start_lon"), F.col("_first.lat").alias("start_lat"),
                F.col("_first.grid_code").alias("start_grid_code"),
                F.col("_last.lon").alias("end_lon"), F.col("_last.lat").alias("end_lat"),
                F.col("_last.grid_code").alias("end_grid_code"),
                "road_classes", "places_near", "gap_before_s",
                (F.col("start_ts") < start).alias("began_day_before"),
            ))


def haversine_col(lon1: str, lat1: str, lon2: str, lat2: str) -> "Column":
    """Great-circle metres between two lon/lat column pairs."""
    from pyspark.sql import functions as F

    p1, p2 = F.radians(lat1), F.radians(lat2)
    a = (F.pow(F.sin((p2 - p1) / 2), 2)
         + F.cos(p1) * F.cos(p2) * F.pow(F.sin((F.radians(lon2) - F.radians(lon1)) / 2), 2))
    return F.lit(2 * 6_371_008.8) * F.asin(F.sqrt(F.least(F.lit(1.0), a)))


def waybill_crew(waybills: "DataFrame", person_records: "DataFrame", ds: str,
                 addresses: "DataFrame | None" = None) -> "DataFrame":
    """silver ``waybill_crew``: one row per waybill (latest delivered state) with crew person keys.

    ``waybills``: bronze rows of the day and the day before; ``person_records``: the silver rows of
    dataset ``waybills`` of the same partitions. A crew member whose ID linked to nobody
    (``link_method`` unlinked) is a data problem: ``crew_problem`` says which and why. The load and
    unload sites get their coordinates from the standard-address reference (``addresses``), for
    the route-deviation corridor.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    latest = Window.partitionBy("waybill_no").orderBy(F.col("ds").desc(), F.col("_source_file").desc(),
                                                      F.col("_row_number").desc())
    wb = (waybills.withColumn("_r", F.row_number().over(latest)).where("_r = 1")
          .select("waybill_no", F.trim("plate_no").alias("plate_no"), "driver_cert_no", "escort_cert_no", "un_no",
                  "goods_name", "hazard_class", "quantity_kg", "load_address_code", "unload_address_code",
                  "plan_depart_ts", "plan_arrive_ts", "status",
                  F.col("escort_id_no").isNull().alias("_no_escort_id"), F.col("driver_id_no").isNull().alias("_no_driver_id"),
                  # an escort is on the waybill when either of their fields is: a blank ID beside a
                  # certificate number is an escort whose ID was lost (a data problem), not none
                  (F.col("escort_id_no").isNotNull() | F.col("escort_cert_no").isNotNull()).alias("_escort")))
    recs = person_records.where(F.col("dataset") == "waybills")
    latest_rec = Window.partitionBy("record_key", "role").orderBy(F.col("ds").desc())
    recs = (recs.withColumn("_r", F.row_number().over(latest_rec)).where("_r = 1")
            .select(F.col("record_key").alias("waybill_no"), "role", "person_key", "link_method", "id_status"))

    def crew(role: str) -> "DataFrame":
        r = recs.where(F.col("role") == role)
        return r.select("waybill_no", *[F.col(c).alias(f"{role}_{c}") for c in ("person_key", "link_method", "id_status")])

    out = wb.join(crew("driver"), "waybill_no", "left").join(crew("escort"), "waybill_no", "left")
    if addresses is None:
        addresses = waybills.sparkSession.createDataFrame([], "address_code string, grid_code string, lon double, lat double")
    site = addresses.select("address_code", "grid_code", "lon", "lat").dropDuplicates(["address_code"])
    for end in ("load", "unload"):
        out = out.join(site.select(F.col("address_code").alias(f"{end}_address_code"), F.col("grid_code").alias(f"{end}_grid_code"),
                                   F.col("lon").alias(f"{end}_lon"), F.col("lat").alias(f"{end}_lat")), f"{end}_address_code", "left")

    def unusable(role: str, missing_id: "Column") -> "Column":
        linked = F.col(f"{role}_link_method").isin(*LINKED_CREW)
        return (F.when(missing_id, F.lit(f"{role} ID empty"))
                .when(F.col(f"{role}_link_method").isNull(), F.lit(f"{role} not in entity resolution"))
                .when(~linked, F.concat(F.lit(f"{role} ID unusable ("), F.coalesce(F.col(f"{role}_id_status"), F.lit("?")),
                                        F.lit(") and linked to nobody"))))

    # A missing escort is the crew_unqualified rule's business, not a data problem.
    driver_problem = unusable("driver", F.col("_no_driver_id"))
    escort_problem = F.when(F.col("_escort"), unusable("escort", F.col("_no_escort_id")))
    return out.select(
        F.lit(ds).cast("date").alias("ds"), "waybill_no", "plate_no", "status", "plan_depart_ts", "plan_arrive_ts",
        "un_no", "goods_name", "hazard_class", "quantity_kg", "load_address_code", "unload_address_code",
        "load_grid_code", "load_lon", "load_lat", "unload_lon", "unload_lat", "driver_cert_no", "escort_cert_no",
        F.when(F.col("driver_link_method").isin(*LINKED_CREW), F.col("driver_person_key")).alias("driver_person_key"),
        "driver_link_method",
        F.when(F.col("escort_link_method").isin(*LINKED_CREW), F.col("escort_person_key")).alias("escort_person_key"),
        "escort_link_method",
        F.col("_escort").alias("has_escort"),
        F.concat_ws("; ", driver_problem, escort_problem).alias("_problems"),
    ).withColumn("crew_problem", F.when(F.col("_problems") != "", F.col("_problems"))).drop("_problems")


def attach_waybills(per: "DataFrame", crew: "DataFrame") -> "DataFrame":
    """Each period + the non-cancelled waybill of its plate overlapping it most (ties: the earlier
    plan, then the smaller number), its overlap in seconds and the crew's person keys."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    wb = crew.where(F.col("status") != "cancelled").select(
        "plate_no", "waybill_no", "plan_depart_ts", "plan_arrive_ts", "driver_person_key", "escort_person_key",
        "has_escort", "crew_problem", "load_address_code", "unload_address_code")
    overlap_s = (F.unix_timestamp(F.least("end_ts", "plan_arrive_ts")) - F.unix_timestamp(F.greatest("start_ts", "plan_depart_ts")))
    joined = per.join(wb, (per.plate_no == wb.plate_no) & (wb.plan_depart_ts <= per.end_ts) & (wb.plan_arrive_ts >= per.start_ts),
                      "left").drop(wb.plate_no).withColumn("waybill_overlap_s", overlap_s)
    best = Window.partitionBy("period_id").orderBy(F.col("waybill_overlap_s").desc_nulls_last(), "plan_depart_ts", "waybill_no")
    return joined.withColumn("_r", F.row_number().over(best)).where("_r = 1").drop("_r")


def read_optional_partition(spark: "SparkSession", profile: Profile, layer: str, table: str, ds: str) -> "DataFrame | None":
    path = profile.table_path(layer, table)
    if not lake.table_exists(spark, path):
        return None
    df = lake.read_partition(spark, profile, layer, table, ds)
    return df if df.limit(1).count() else None


def tracked_parts(spark: "SparkSession", profile: Profile, raw: "DataFrame", ds: str) -> tuple[set[str], set[str]] | None:
    """(the bronze files of ``ds`` whose landing the silver points do not reflect yet, those they
    do) — or None when the day must be placed whole: nothing tracked yet, or a file to place
    sorts before one already placed (a part delivered again), where "the first delivered copy
    of a report wins" could change rows already written. A landing is (file, ``_batch_id``): a
    part landed again has a new batch. A part whose every report was a duplicate leaves no row
    and is simply placed again (to no effect)."""
    landed = {(r["_source_file"], r["_batch_id"]) for r in raw.select("_source_file", "_batch_id").distinct().collect()}
    done: set[tuple[str, str]] = set()
    for table in (POINTS_TABLE, REJECTS_TABLE):
        if not lake.table_exists(spark, profile.table_path("silver", table)):
            return None
        part = lake.read_partition(spark, profile, "silver", table, ds)
        if "_batch_id" not in part.columns:
            return None  # written before landings were tracked
        done |= {(r["_source_file"], r["_batch_id"]) for r in part.select("_source_file", "_batch_id").distinct().collect()}
    todo = {f for f, _ in landed - done}
    kept = {f for f, _ in landed} - todo
    if not kept or (todo and min(todo) < max(kept)):
        return None
    return todo, kept


def run(spark: "SparkSession", profile: Profile, ds: str, settings: TrackSettings | None = None,
        incremental: bool = False) -> dict[str, Any]:
    """Read bronze gps_points/waybills/hazmat_vehicles/reference (grids, roads, sensitive_places,
    addresses) and silver person_records; write the four tables.

    ``incremental`` (the hourly run): only the GPS files of the day landed since the last run
    (:func:`tracked_parts`) are checked and placed — the costly part, a spatial join per report —
    and their rows replace only those files' rows of ``vehicle_points`` and ``gps_rejects``; a
    report already placed from an earlier file wins over its copy. Waybills and periods are
    rebuilt from the day so far (they are cheap, and a period can span every hour). The counts
    reconcile for the files placed now."""
    from pyspark.sql import functions as F

    settings = settings or TrackSettings()
    prev = (dt.date.fromisoformat(ds) - dt.timedelta(days=1)).isoformat()
    raw = lake.read_partition(spark, profile, "bronze", "gps_points", ds)
    parts = tracked_parts(spark, profile, raw, ds) if incremental else None
    only: dict[str, Any] | None = None
    if parts is not None:
        todo, kept = parts
        only = {"_source_file": sorted(todo)}
        raw = raw.where(F.col("_source_file").isin(*sorted(todo)))
    vehicles = lake.read_latest(spark, profile, "bronze", "hazmat_vehicles", ds)
    good, rejected = check_points(raw, vehicles, ds, settings)
    if parts is not None:  # a copy of a report placed from an earlier file is a duplicate
        placed = (lake.read_partition(spark, profile, "silver", POINTS_TABLE, ds)
                  .where(F.col("_source_file").isin(*sorted(kept))).select("plate_no", "gps_ts"))
        good = good.join(placed, ["plate_no", "gps_ts"], "left_anti")
    # an incremental run says what it placed: the new files (counts below are theirs) or, when it
    # could not go incrementally, the whole day
    placing = ({"incremental": {"files_placed": len(parts[0]), "files_kept": len(parts[1])} if parts is not None
                else {"files_placed": "the whole day"}} if incremental else {})
    if only is not None and not only["_source_file"]:
        rows_in = accepted = quarantined = placed_now = 0  # nothing landed since the last run
    else:
        ref = reference_of(lake.read_latest(spark, profile, "bronze", "grids", ds),
                           lake.read_latest(spark, profile, "bronze", "roads", ds),
                           lake.read_latest(spark, profile, "bronze", "sensitive_places", ds))
        accepted = lake.replace_partition(vehicle_points(good, ref, ds, settings),
                                          profile.table_path("silver", POINTS_TABLE), {"ds": ds}, where=only
                                          ).get("numOutputRows", 0)
        quarantined = lake.replace_partition(rejected, profile.table_path("silver", REJECTS_TABLE), {"ds": ds},
                                             where=only).get("numOutputRows", 0)
        rows_in = raw.count()
        placed_now = good.count() if rows_in else 0
    duplicates = rows_in - quarantined - placed_now
    if rows_in != accepted + duplicates + quarantined:
        raise RuntimeError(f"gps_points {ds}: read {rows_in} ≠ accepted {accepted} + duplicates {duplicates} "
                           f"+ rejected {quarantined} — this is a bug, please report it")

    waybills = lake.read(spark, profile, "bronze", "waybills").where(F.col("ds").isin(F.lit(prev).cast("date"),
                                                                                        F.lit(ds).cast("date")))
    records_path = profile.table_path("silver", "person_records")
    if lake.table_exists(spark, records_path):
        records = lake.read(spark, profile, "silver", "person_records").where(
            F.col("ds").isin(F.lit(prev).cast("date"), F.lit(ds).cast("date")))
    else:
        records = spark.createDataFrame([], "ds date, dataset string, record_key string, role string, "
                                            "person_key string, link_method string, id_status string")
    addresses = lake.read_latest(spark, profile, "bronze", "addresses", ds)
    written_crew = lake.replace_partition(waybill_crew(waybills, records, ds, addresses),
                                          profile.table_path("silver", CREW_TABLE), {"ds": ds})

    today = lake.read_partition(spark, profile, "silver", POINTS_TABLE, ds)
    yesterday = read_optional_partition(spark, profile, "silver", POINTS_TABLE, prev)
    crew = lake.read_partition(spark, profile, "silver", CREW_TABLE, ds)
    per = attach_waybills(periods(track_points(today, yesterday), ds, settings), crew)
    written_periods = lake.replace_partition(per, profile.table_path("silver", PERIODS_TABLE), {"ds": ds})
    rejects = lake.read_partition(spark, profile, "silver", REJECTS_TABLE, ds)
    if only is not None:
        rejects = rejects.where(F.col("_source_file").isin(*only["_source_file"]))
    reasons = {r["kind"]: r["n"] for r in rejects
               .groupBy(F.split("reason", ":").getItem(0).alias("kind")).agg(F.count("*").alias("n")).collect()}
    return {
        "tables": {POINTS_TABLE: accepted, REJECTS_TABLE: quarantined, CREW_TABLE: written_crew.get("numOutputRows", 0),
                   PERIODS_TABLE: written_periods.get("numOutputRows", 0)},
        "gps_points": {"read": rows_in, "accepted": accepted, "duplicates": duplicates, "rejected": quarantined,
                       "reasons": reasons, "previous_day_read": yesterday is not None, **placing},
    }

