"""The offending stretches of hazmat tracks, as pure DataFrame functions over silver tables.

Each function takes silver ``vehicle_points`` rows (the day and the day before, one per plate
and time — :func:`jobs.silver.vehicle_tracks.track_points`) and returns one row per *episode*:
a maximal run of consecutive reports of one plate for which a condition holds, with its first
and last time, its span, the numbers the rule quotes and the evidence — the reports and a
GeoJSON LineString of the stretch. The rule kinds (:mod:`gridrisk.rules.kinds.hazmat`) keep the
episodes that cross the rule's threshold and overlap the day (or the hour).

"Consecutive" means consecutive in the vehicle's own time order among *all* its reports: one
report below the limit ends a speeding run. A run's span is first to last report (the truth's
reading: "consecutive points … spanning ≥ 30 s").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

#: the report fields an evidence row carries
EVIDENCE_FIELDS = ("gps_ts", "lon", "lat", "speed_kmh", "road_name", "road_class", "grid_code")


def one_per_time(points: "DataFrame") -> "DataFrame":
    """One report per (plate, time) over several ``ds`` partitions: the earliest delivery wins, so
    a late copy of yesterday's report in today's delivery counts once.

    Each partition holds one row per (plate, time) already (silver de-duplicates every delivery),
    so a copy in another partition is always a report taken on another day than its partition's
    (a late or early report, a percent or two), and only such a report and the rows sharing its
    (plate, time) are ranked: a broadcast semi-join picks them. The rest pass untouched, without
    the shuffle and sort of every report that ranking them all costs — the rules take their
    input through here, once per hazmat kind."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    off_day = F.coalesce(F.to_date("gps_ts") != F.col("ds"), F.lit(True))
    stray = points.where(off_day)
    keys = F.broadcast(stray.select("plate_no", "gps_ts").distinct())
    on_day = points.where(~off_day)
    contested = on_day.join(keys, ["plate_no", "gps_ts"], "left_semi").unionByName(stray)
    first = Window.partitionBy("plate_no", "gps_ts").orderBy("ds", "_source_file", "_row_number")
    ranked = contested.withColumn("_copy", F.row_number().over(first)).where("_copy = 1").drop("_copy")
    return on_day.join(keys, ["plate_no", "gps_ts"], "left_anti").unionByName(ranked)


def line_geojson(points: "Column") -> "Column":
    """GeoJSON LineString text of an array of structs with ``lon``/``lat`` (a point repeated if alone)."""
    from pyspark.sql import functions as F

    coords = F.transform(points, lambda p: F.concat(F.lit("["), p["lon"].cast("string"), F.lit(","),
                                                    p["lat"].cast("string"), F.lit("]")))
    coords = F.when(F.size(coords) == 1, F.array(coords[0], coords[0])).otherwise(coords)
    return F.concat(F.lit('{"type":"LineString","coordinates":['), F.array_join(coords, ","), F.lit("]}"))


def episodes(points: "DataFrame", condition: "Column", key: "Column | None" = None,
             extra: dict[str, "Column"] | None = None) -> "DataFrame":
    """Maximal runs of consecutive reports of a plate where ``condition`` holds (and ``key`` stays
    the same, e.g. the same sensitive place), one row each.

    Columns: plate_no, run_key, start_ts, end_ts, span_s, points, max_speed_kmh, the ``extra``
    aggregates, ``track`` (the reports, time-ordered) and ``track_geojson``.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    by_time = Window.partitionBy("plate_no").orderBy("gps_ts")
    k = key if key is not None else F.lit("")
    flagged = (points.withColumn("_hit", F.coalesce(condition, F.lit(False)))
               .withColumn("_key", F.coalesce(k.cast("string"), F.lit("")))
               .withColumn("_prev_hit", F.lag("_hit").over(by_time))
               .withColumn("_prev_key", F.lag("_key").over(by_time))
               .withColumn("_start", F.col("_hit") & (F.col("_prev_hit").isNull() | ~F.col("_prev_hit")
                                                      | (F.col("_prev_key") != F.col("_key"))))
               .withColumn("_run", F.sum(F.col("_start").cast("int")).over(by_time.rowsBetween(Window.unboundedPreceding, 0)))
               .where("_hit"))
    row = F.struct(*[F.col(c) for c in EVIDENCE_FIELDS])
    aggs = [F.min("gps_ts").alias("start_ts"), F.max("gps_ts").alias("end_ts"), F.count("*").alias("points"),
            F.max("speed_kmh").alias("max_speed_kmh"), F.array_sort(F.collect_list(row)).alias("track")]
    aggs += [v.alias(n) for n, v in (extra or {}).items()]
    out = flagged.groupBy("plate_no", "_run").agg(F.first("_key").alias("run_key"), *aggs)
    return (out.withColumn("span_s", F.unix_timestamp("end_ts") - F.unix_timestamp("start_ts"))
            .withColumn("track_geojson", line_geojson(F.col("track")))
            .drop("_run"))


def covered_by_waybill(points: "DataFrame", crew: "DataFrame") -> "DataFrame":
    """``points`` + ``_covered``: the time lies in the plan window of a non-cancelled waybill of the plate.

    Each plate's plan windows travel as one array to every report of the plate (a broadcast join
    on the plate: a day's waybills are thousands of rows), so the reports keep their distribution
    and order by plate and time (:func:`gridrisk.rules.kinds.hazmat.share_tracks`) — a join on
    (plate, time) would shuffle every report twice."""
    from pyspark.sql import functions as F

    windows = (crew.where(F.col("status") != "cancelled")
               .groupBy(F.col("plate_no").alias("_wplate"))
               .agg(F.collect_list(F.struct("plan_depart_ts", "plan_arrive_ts")).alias("_windows")))
    inside = F.exists(F.coalesce(F.col("_windows"), F.array()),
                      lambda w: (F.col("gps_ts") >= w["plan_depart_ts"]) & (F.col("gps_ts") <= w["plan_arrive_ts"]))
    return (points.join(F.broadcast(windows), F.col("plate_no") == F.col("_wplate"), "left")
            .withColumn("_covered", F.coalesce(inside, F.lit(False))).drop("_wplate", "_windows"))


def local_minute_of_day(ts: "Column") -> "Column":
    """Minutes since local midnight (the session's zone is the pipeline's, Asia/Shanghai)."""
    from pyspark.sql import functions as F

    return F.hour(ts) * 60 + F.minute(ts)


def in_night(ts: "Column", start_hhmm: str, end_hhmm: str) -> "Column":
    """True when ``ts`` is in [start, end) of the night, which wraps midnight (22:00–06:00)."""
    from pyspark.sql import functions as F

    sh, sm = (int(x) for x in start_hhmm.split(":"))
    eh, em = (int(x) for x in end_hhmm.split(":"))
    start, end = sh * 60 + sm, eh * 60 + em
    minute = local_minute_of_day(ts) + F.second(ts) / 60.0
    if start <= end:
        return (minute >= start) & (minute < end)
    return (minute >= start) | (minute < end)


def driving_stints(points: "DataFrame", rest_s: int) -> "DataFrame":
    """Continuous driving between rests: a rest is a run of stopped reports (speed 0) spanning at
    least ``rest_s`` from its first to its last report; a stint is everything between two rests,
    and its span is from its first to its last *moving* report.

    One row per stint with moving reports: plate_no, start_ts, end_ts, span_s, points,
    max_speed_kmh, track, track_geojson, and the rest before it (``rest_before_s``, null if the
    track begins with driving).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    by_time = Window.partitionBy("plate_no").orderBy("gps_ts")
    upto = by_time.rowsBetween(Window.unboundedPreceding, 0)
    stopped = F.col("speed_kmh") <= 0
    pts = (points.withColumn("_stopped", stopped)
           .withColumn("_prev_stopped", F.lag("_stopped").over(by_time))
           .withColumn("_zrun", F.sum((F.col("_prev_stopped").isNull() | (F.col("_stopped") != F.col("_prev_stopped")))
                                      .cast("int")).over(upto)))
    zrun = Window.partitionBy("plate_no", "_zrun")
    pts = (pts.withColumn("_zspan", F.when(F.col("_stopped"), F.unix_timestamp(F.max("gps_ts").over(zrun))
                                           - F.unix_timestamp(F.min("gps_ts").over(zrun))))
           .withColumn("_rest", F.col("_stopped") & (F.col("_zspan") >= rest_s))
           .withColumn("_rest_start", F.col("_rest") & ~F.coalesce(F.lag("_rest").over(by_time), F.lit(False)))
           .withColumn("_stint", F.sum(F.col("_rest_start").cast("int")).over(upto))
           .withColumn("_rest_span", F.max(F.when(F.col("_rest"), F.col("_zspan"))).over(Window.partitionBy("plate_no", "_stint"))))
    row = F.struct(*[F.col(c) for c in EVIDENCE_FIELDS])
    moving = pts.where(~F.col("_stopped"))
    out = moving.groupBy("plate_no", "_stint").agg(
        F.min("gps_ts").alias("start_ts"), F.max("gps_ts").alias("end_ts"), F.count("*").alias("points"),
        F.max("speed_kmh").alias("max_speed_kmh"), F.array_sort(F.collect_list(row)).alias("track"),
        F.first("_rest_span").alias("rest_before_s"))
    return (out.withColumn("span_s", F.unix_timestamp("end_ts") - F.unix_timestamp("start_ts"))
            .withColumn("track_geojson", line_geojson(F.col("track"))).drop("_stint"))


def distance_to_corridor_m(lon: "Column", lat: "Column", lon_a: "Column", lat_a: "Column",
                           lon_b: "Column", lat_b: "Column") -> "Column":
    """Metres from a point to the straight segment A–B (the waybill's load → unload corridor),
    measured by shapely in a projection centred on A (equirectangular at A's latitude: over a
    corridor of tens of km the scale error stays below 0.1 %)."""
    import pandas as pd
    from pyspark.sql import functions as F

    def corridor(x: pd.Series, y: pd.Series, xa: pd.Series, ya: pd.Series, xb: pd.Series, yb: pd.Series) -> pd.Series:
        import numpy as np
        import shapely

        from gridrisk.spatial import M_PER_DEG_LAT

        lon0, lat0 = xa.to_numpy(dtype="float64"), ya.to_numpy(dtype="float64")
        kx = 111_320.0 * np.cos(np.radians(lat0))

        def local(lon: pd.Series, lat: pd.Series) -> np.ndarray:
            return np.column_stack([(lon.to_numpy(dtype="float64") - lon0) * kx,
                                    (lat.to_numpy(dtype="float64") - lat0) * M_PER_DEG_LAT])

        a, b, p = local(xa, ya), local(xb, yb), local(x, y)
        # a waybill address that was never placed (null) has no corridor: no distance, no warning
        out = np.full(len(p), np.nan)
        ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1) & np.isfinite(p).all(axis=1)
        out[ok] = shapely.distance(shapely.points(p[ok]), shapely.linestrings(np.stack([a[ok], b[ok]], axis=1)))
        return pd.Series(out)

    # this module postpones annotations (strings naming a pandas imported here, which Spark's
    # type-hint inference cannot resolve): give it the real classes
    corridor.__annotations__ = {**dict.fromkeys(("x", "y", "xa", "ya", "xb", "yb"), pd.Series), "return": pd.Series}
    return F.pandas_udf(corridor, "double")(lon, lat, lon_a, lat_a, lon_b, lat_b)  # type: ignore[call-overload]
