"""Hazmat vehicle tracks on hand-built points: checks, de-duplication, order, grid and road
placement, periods across midnight, waybills and crew (jobs/silver/vehicle_tracks.py)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from gridrisk.spatial import Reference, SpatialIndex, haversine_m

DAY = "2026-11-02"
PREV = "2026-11-01"
WEST, EAST, SOUTH_WEST = "320500000000001", "320500000000002", "320500000000003"
PLATE = "苏E12345"
GPS_SCHEMA = ("plate_no string, plate_colour string, gps_ts timestamp, lon double, lat double, speed_kmh double, "
              "heading_deg int, alarm_bits long, status_bits long, _source_file string, _row_number long, _batch_id string")


def square(x0: float, y0: float, x1: float, y1: float) -> str:
    return json.dumps({"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]})


def line(*pts: tuple[float, float]) -> str:
    return json.dumps({"type": "LineString", "coordinates": [list(p) for p in pts]})


# Three grids: WEST and EAST share the edge lon = 120.01; SOUTH_WEST lies under WEST (edge lat = 32.00),
# so (120.01, 32.00) is a corner of three grids. The expressway runs along lat 32.005, the 国道 along
# lat 32.015 (1.1 km north). A school stands at (120.005, 32.008).
REF = Reference.of(
    grids=[(EAST, square(120.01, 32.00, 120.02, 32.02)), (WEST, square(120.00, 32.00, 120.01, 32.02)),
           (SOUTH_WEST, square(120.00, 31.99, 120.01, 32.00))],
    roads=[("G2", "京沪高速", "高速", line((119.99, 32.005), (120.03, 32.005))),
           ("G204", "204国道", "国道", line((119.99, 32.015), (120.03, 32.015)))],
    places=[("P1", "实验小学", "学校", 120.005, 32.008, 100.0)],
)


def metres_north(lat: float, metres: float) -> float:
    return lat + metres / 111_194.9  # the haversine's metres per degree of latitude


# ---------------------------------------------------------------- spatial (no Spark)


def test_a_point_on_a_shared_grid_edge_gets_exactly_the_smaller_grid_code():
    index = SpatialIndex(REF)
    lon = np.array([120.01, 120.01, 120.005, 120.015, 120.0, 121.0])
    lat = np.array([32.01, 32.00, 32.01, 32.01, 31.995, 32.0])
    got = list(index.grid_of(lon, lat))
    # on the W|E edge → WEST; on the corner of three → the smallest; inside each → itself; outside → None
    assert got == [WEST, WEST, WEST, EAST, SOUTH_WEST, None]


def test_the_boundary_rule_does_not_depend_on_the_order_of_the_reference():
    reordered = Reference.of(grids=list(reversed(REF.grids)), roads=REF.roads, places=REF.places)
    lon, lat = np.array([120.01]), np.array([32.01])
    assert list(SpatialIndex(reordered).grid_of(lon, lat)) == list(SpatialIndex(REF).grid_of(lon, lat)) == [WEST]


def test_each_point_takes_its_nearest_road_and_the_roads_class():
    index = SpatialIndex(REF)
    out = index.annotate(np.array([120.005, 120.005, 120.005]), np.array([32.0051, 32.0149, 32.0300]), 300.0, 200.0)
    assert list(out["road_id"]) == ["G2", "G204", None]
    assert list(out["road_class"]) == ["高速", "国道", None]
    assert out["road_distance_m"][0] == pytest.approx(11.1, abs=0.3)


def test_a_point_is_near_a_sensitive_place_within_200_m_exactly():
    index = SpatialIndex(REF)
    lat = np.array([metres_north(32.008, 199.0), metres_north(32.008, 201.0)])
    out = index.annotate(np.array([120.005, 120.005]), lat, 300.0, 200.0)
    assert list(out["place_id"]) == ["P1", None]
    assert list(out["place_grid_code"]) == [WEST, None]  # the school's own grid, for routing a stop near it
    assert out["place_distance_m"][0] == pytest.approx(199.0, abs=0.2)
    assert haversine_m(120.005, 32.008, 120.005, lat[1]) == pytest.approx(201.0, abs=0.2)


# ---------------------------------------------------------------- Spark helpers


def ts(day: str, hms: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day} {hms}")


def gps(spark, rows, file: str = "gps_points.csv.gz", batch: str = "b1"):
    """rows: (plate, datetime, lon, lat, speed) → a bronze-shaped gps_points frame (one file, one batch)."""
    data = [(p, "黄", t, x, y, v, 90, 0, 3, file, i + 2, batch) for i, (p, t, x, y, v) in enumerate(rows)]
    return spark.createDataFrame(data, GPS_SCHEMA)


def register(spark, *plates: str):
    return spark.createDataFrame([(p,) for p in plates], "plate_no string")


def drive(day: str, start: str, minutes: int, every_s: int = 20, speed: float = 60.0, lat: float = 32.005):
    """A vehicle moving east along the expressway: one report every ``every_s`` seconds."""
    t0 = ts(day, start)
    n = minutes * 60 // every_s
    return [(PLATE, t0 + dt.timedelta(seconds=i * every_s), 120.001 + i * 0.0001, lat, speed) for i in range(n + 1)]


def park(day: str, start: str, minutes: int, lon: float = 120.005, lat: float = 32.010):
    t0 = ts(day, start)
    return [(PLATE, t0 + dt.timedelta(minutes=i * 5), lon, lat, 0.0) for i in range(minutes // 5 + 1)]


# ---------------------------------------------------------------- checks and de-duplication


def test_each_kind_of_bad_report_is_rejected_with_its_reason_and_the_counts_reconcile(spark):
    from jobs.silver.vehicle_tracks import TrackSettings, check_points

    good = (PLATE, ts(DAY, "10:00:00"), 120.005, 32.005, 50.0)
    rows = [
        good,
        good,                                                      # sent twice
        (PLATE, ts(DAY, "10:00:20"), 0.0, 0.0, 50.0),              # no fix
        (PLATE, ts(DAY, "10:00:40"), 2.35, 48.85, 50.0),           # Paris
        (PLATE, ts(DAY, "10:01:00"), 120.005, 32.005, 250.0),      # 250 km/h
        (PLATE, ts(PREV, "22:59:00"), 120.005, 32.005, 50.0),      # 61 min before the day
        (PLATE, ts(PREV, "23:01:00"), 120.005, 32.005, 50.0),      # 59 min before: late but fine
        (PLATE, ts("2026-11-03", "01:01:00"), 120.005, 32.005, 50.0),  # 61 min after the day
        ("苏Z99999", ts(DAY, "10:02:00"), 120.005, 32.005, 50.0),   # no register knows it
    ]
    accepted, rejected = check_points(gps(spark, rows), register(spark, PLATE), DAY, TrackSettings())
    reasons = sorted(r["reason"].split(":")[0] for r in rejected.collect())
    assert reasons == sorted([
        "coordinates 0/0 (no GNSS fix)", "coordinates outside China", "speed over 200 km/h",
        f"time outside the delivery day {DAY} by more than 60 min",
        f"time outside the delivery day {DAY} by more than 60 min", "plate in no hazmat vehicle register"])
    kept = sorted((r["gps_ts"], r["_row_number"]) for r in accepted.collect())
    assert kept == [(ts(PREV, "23:01:00"), 8), (ts(DAY, "10:00:00"), 2)]
    assert len(rows) == len(kept) + 1 + len(reasons)  # accepted + the one duplicate + rejected


def test_a_speed_of_exactly_200_kmh_is_kept_and_200_1_rejected(spark):
    from jobs.silver.vehicle_tracks import TrackSettings, check_points

    rows = [(PLATE, ts(DAY, "10:00:00"), 120.005, 32.005, 200.0), (PLATE, ts(DAY, "10:00:20"), 120.005, 32.005, 200.1)]
    accepted, rejected = check_points(gps(spark, rows), register(spark, PLATE), DAY, TrackSettings())
    assert [r["speed_kmh"] for r in accepted.collect()] == [200.0]
    assert [r["speed_kmh"] for r in rejected.collect()] == [200.1]


# ---------------------------------------------------------------- periods


def point_frame(spark, rows, ds: str = DAY):
    """Checked, placed points as silver vehicle_points holds them."""
    from pyspark.sql import functions as F

    from jobs.silver.vehicle_tracks import TrackSettings, check_points, vehicle_points

    good, _ = check_points(gps(spark, rows), register(spark, PLATE), ds, TrackSettings())
    return vehicle_points(good, REF, ds, TrackSettings()).withColumn("ds", F.lit(ds).cast("date"))


def period_rows(df):
    return [(r["state"], r["start_ts"], r["end_ts"], r["points"]) for r in df.orderBy("start_ts").collect()]


def test_repeated_and_out_of_order_points_give_the_same_periods_as_a_clean_track(spark):
    from jobs.silver.vehicle_tracks import TrackSettings, periods, track_points

    clean = drive(DAY, "08:00:00", 30) + park(DAY, "08:31:00", 25) + drive(DAY, "08:57:00", 20)
    messy = list(reversed(clean[:40])) + clean[40:] + clean[5:15] + clean[100:103]
    settings = TrackSettings()
    want = period_rows(periods(track_points(point_frame(spark, clean), None), DAY, settings))
    got = period_rows(periods(track_points(point_frame(spark, messy), None), DAY, settings))
    assert got == want
    assert [(s, n) for s, _, _, n in want] == [("driving", 91), ("resting", 6), ("driving", 61)]


def test_a_trip_crossing_midnight_is_one_trip_read_from_the_previous_days_tail(spark):
    from jobs.silver.vehicle_tracks import TrackSettings, periods, track_points

    before = drive(PREV, "23:00:00", 59)           # 23:00:00 … 23:59:00
    after = drive(DAY, "00:00:00", 60)              # 00:00:00 … 01:00:00
    after = [(p, t, x + 0.0178, y, v) for p, t, x, y, v in after]
    out = periods(track_points(point_frame(spark, after), point_frame(spark, before, PREV)), DAY, TrackSettings())
    rows = out.collect()
    assert len(rows) == 1
    (row,) = rows
    assert (row["state"], row["start_ts"], row["end_ts"]) == ("driving", ts(PREV, "23:00:00"), ts(DAY, "01:00:00"))
    assert row["began_day_before"] is True
    assert row["duration_s"] == 2 * 3600
    assert row["points"] == len(before) + len(after)
    # without yesterday's tail the same trip would look like it began at midnight
    alone = periods(track_points(point_frame(spark, after), None), DAY, TrackSettings()).collect()
    assert [r["start_ts"] for r in alone] == [ts(DAY, "00:00:00")]


def test_a_late_copy_of_yesterdays_point_in_todays_delivery_counts_once(spark):
    from jobs.silver.vehicle_tracks import TrackSettings, periods, track_points

    before = drive(PREV, "23:30:00", 29)
    after = drive(DAY, "00:00:00", 10) + before[-5:]   # the last five re-sent after midnight
    out = periods(track_points(point_frame(spark, after), point_frame(spark, before, PREV)), DAY, TrackSettings())
    assert [r["points"] for r in out.collect()] == [len(before) + len(drive(DAY, "00:00:00", 10))]


def test_one_report_per_time_ranks_only_the_reports_taken_on_another_day_and_agrees_with_ranking_all(spark):
    """Late copies (yesterday's report in today's partition), early ones (today's in yesterday's),
    a report re-sent twice after midnight, another plate, a null time: the earliest delivery wins
    exactly as ranking every report by (ds, file, row) would."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from gridrisk.rules.kinds.tracks import one_per_time

    schema = "ds date, plate_no string, gps_ts timestamp, speed_kmh double, _source_file string, _row_number long"
    d0, d1 = dt.date.fromisoformat(PREV), dt.date.fromisoformat(DAY)
    late, early = ts(PREV, "23:50:00"), ts(DAY, "00:05:00")
    rows = [(d0, PLATE, ts(PREV, "12:00:00"), 50.0, "a", 1), (d0, PLATE, late, 60.0, "a", 2),
            (d0, PLATE, early, 61.0, "a", 3),                      # early: today's report in yesterday's delivery
            (d1, PLATE, late, 62.0, "b", 1), (d1, PLATE, late, 63.0, "c", 1),  # re-sent twice after midnight
            (d1, PLATE, early, 64.0, "b", 2), (d1, PLATE, ts(DAY, "09:00:00"), 65.0, "b", 3),
            (d1, "苏B00002", late, 66.0, "b", 4), (d1, PLATE, None, 67.0, "b", 5)]
    points = spark.createDataFrame(rows, schema)
    first = Window.partitionBy("plate_no", "gps_ts").orderBy("ds", "_source_file", "_row_number")
    everyone = points.withColumn("_r", F.row_number().over(first)).where("_r = 1").drop("_r")

    def speeds(df) -> list[float]:  # type: ignore[no-untyped-def]
        return sorted(r["speed_kmh"] for r in df.collect())

    assert speeds(one_per_time(points)) == speeds(everyone) == [50.0, 60.0, 61.0, 65.0, 66.0, 67.0]
    assert sorted(one_per_time(points).columns) == sorted(points.columns)


def test_a_silent_terminal_cuts_the_period_and_a_long_rest_starts_a_new_trip(spark):
    from jobs.silver.vehicle_tracks import TrackSettings, periods, track_points

    rows = (drive(DAY, "08:00:00", 10) + drive(DAY, "08:30:00", 10)          # 20 min silence: cut
            + park(DAY, "08:41:00", 20) + drive(DAY, "09:02:00", 10)          # a 20-min rest: new trip
            + park(DAY, "09:13:00", 15) + drive(DAY, "09:29:00", 10))         # a 15-min rest: same trip
    out = periods(track_points(point_frame(spark, rows), None), DAY, TrackSettings()).orderBy("start_ts").collect()
    assert [r["state"] for r in out] == ["driving", "driving", "resting", "driving", "resting", "driving"]
    assert out[1]["gap_before_s"] == 20 * 60
    trips = [r["trip_id"] for r in out]
    assert trips[0] == trips[1] == trips[2] != trips[3] == trips[4] == trips[5]
    assert trips[3] == f"{PLATE}|20261102090200"


def test_points_carry_their_grid_road_class_and_nearby_place(spark):
    rows = [(PLATE, ts(DAY, "10:00:00"), 120.01, 32.005, 60.0),              # on the W|E edge, on the expressway
            (PLATE, ts(DAY, "10:00:20"), 120.015, 32.0149, 40.0),             # EAST, on the 国道
            (PLATE, ts(DAY, "10:00:40"), 120.005, metres_north(32.008, 150), 0.0)]  # 150 m from the school
    got = [(r["grid_code"], r["road_class"], r["place_id"]) for r in point_frame(spark, rows).orderBy("gps_ts").collect()]
    assert got == [(WEST, "高速", None), (EAST, "国道", None), (WEST, None, "P1")]


# ---------------------------------------------------------------- waybills and crew

WAYBILL_SCHEMA = ("ds date, waybill_no string, plate_no string, driver_id_no string, driver_cert_no string, "
                  "escort_id_no string, escort_cert_no string, un_no string, goods_name string, hazard_class string, "
                  "quantity_kg double, load_address_code string, unload_address_code string, plan_depart_ts timestamp, "
                  "plan_arrive_ts timestamp, status string, _source_file string, _row_number long")
RECORD_SCHEMA = "ds date, dataset string, record_key string, role string, person_key string, link_method string, id_status string"


def waybill(no: str, depart: dt.datetime, arrive: dt.datetime, status: str = "arrived", escort: str | None = "E",
            ds: str = DAY, row: int = 2):
    return (dt.date.fromisoformat(ds), no, PLATE, "D", "C1", escort, "C2" if escort else None, "1203", "汽油", "3",
            9000.0, "1" * 20, "2" * 20, depart, arrive, status, "waybills.jsonl", row)


def test_crew_get_their_person_keys_and_an_unusable_id_is_a_data_problem(spark):
    """W4's escort ID was lost but the escort's certificate number is there: an escort whose ID
    is a data problem, not a waybill without an escort (which W3 is: neither field)."""
    from jobs.silver.vehicle_tracks import waybill_crew

    lost_id = list(waybill("W4", ts(DAY, "19:00:00"), ts(DAY, "20:00:00")))
    lost_id[5] = None  # escort_id_no; escort_cert_no stays "C2"
    wbs = spark.createDataFrame([
        waybill("W1", ts(DAY, "08:00:00"), ts(DAY, "12:00:00")),
        waybill("W2", ts(DAY, "13:00:00"), ts(DAY, "15:00:00")),
        waybill("W3", ts(DAY, "16:00:00"), ts(DAY, "18:00:00"), escort=None),
        tuple(lost_id),
    ], WAYBILL_SCHEMA)
    d = dt.date.fromisoformat(DAY)
    recs = spark.createDataFrame([
        (d, "waybills", "W1", "driver", "pk-driver", "exact", "valid"),
        (d, "waybills", "W1", "escort", "pk-escort", "probabilistic", "typo"),
        (d, "waybills", "W2", "driver", "u123", "unlinked", "truncated"),
        (d, "waybills", "W2", "escort", "pk-escort", "exact", "valid"),
        (d, "waybills", "W3", "driver", "pk-driver", "exact", "valid"),
        (d, "waybills", "W4", "driver", "pk-driver", "exact", "valid"),
    ], RECORD_SCHEMA)
    got = {r["waybill_no"]: (r["driver_person_key"], r["escort_person_key"], r["has_escort"], r["crew_problem"])
           for r in waybill_crew(wbs, recs, DAY).collect()}
    assert got == {
        "W1": ("pk-driver", "pk-escort", True, None),
        "W2": (None, "pk-escort", True, "driver ID unusable (truncated) and linked to nobody"),
        "W3": ("pk-driver", None, False, None),
        "W4": ("pk-driver", None, True, "escort ID empty"),
    }


def test_a_period_takes_the_waybill_overlapping_it_most_and_never_a_cancelled_one(spark):
    from jobs.silver.vehicle_tracks import TrackSettings, attach_waybills, periods, track_points, waybill_crew

    wbs = spark.createDataFrame([
        waybill("W1", ts(DAY, "07:00:00"), ts(DAY, "08:10:00")),
        waybill("W2", ts(DAY, "08:05:00"), ts(DAY, "10:00:00")),
        waybill("W3", ts(DAY, "07:00:00"), ts(DAY, "11:00:00"), status="cancelled"),
        waybill("W4", ts(DAY, "11:00:00"), ts(DAY, "12:00:00")),
    ], WAYBILL_SCHEMA)
    crew = waybill_crew(wbs, spark.createDataFrame([], RECORD_SCHEMA), DAY)
    rows = drive(DAY, "08:00:00", 60) + park(DAY, "09:01:00", 30) + drive(DAY, "13:00:00", 10)
    per = periods(track_points(point_frame(spark, rows), None), DAY, TrackSettings())
    got = [(r["state"], r["waybill_no"]) for r in attach_waybills(per, crew).orderBy("start_ts").collect()]
    assert got == [("driving", "W2"), ("resting", "W2"), ("driving", None)]


# ---------------------------------------------------------------- the job on Delta


def write_bronze(spark, profile, table, df, ds):
    from pyspark.sql import functions as F

    from gridrisk import lake

    lake.replace_partition(df.withColumn("ds", F.lit(ds).cast("date")), profile.table_path("bronze", table), {"ds": ds})


def write_reference(spark, profile, ds: str) -> None:
    """The grids, roads, places, vehicle register and addresses of REF, delivered on ``ds``."""
    grids = spark.createDataFrame([(c, None, "grid", None, j) for c, j in REF.grids],
                                  "grid_code string, grid_name string, level string, parent_code string, geometry_json string")
    roads = spark.createDataFrame([r for r in REF.roads], "road_id string, road_name string, road_class string, geometry_json string")
    places = spark.createDataFrame([p for p in REF.places],
                                   "place_id string, place_name string, category string, lon double, lat double, radius_m double")
    vehicles = spark.createDataFrame([(PLATE, "黄")], "plate_no string, plate_colour string")
    addresses = spark.createDataFrame([("1" * 20, WEST, 120.0, 32.0)], "address_code string, grid_code string, lon double, lat double")
    for table, df in (("grids", grids), ("roads", roads), ("sensitive_places", places), ("hazmat_vehicles", vehicles),
                      ("addresses", addresses)):
        write_bronze(spark, profile, table, df, ds)


def test_two_days_through_the_job_give_one_midnight_trip_and_reconciled_counts(spark, profile):
    from jobs.silver import vehicle_tracks

    write_reference(spark, profile, PREV)
    wbs = spark.createDataFrame([waybill("W9", ts(PREV, "22:30:00"), ts(DAY, "02:00:00"), ds=PREV)], WAYBILL_SCHEMA)
    write_bronze(spark, profile, "waybills", wbs.drop("ds"), PREV)
    write_bronze(spark, profile, "waybills", spark.createDataFrame([], WAYBILL_SCHEMA).drop("ds"), DAY)

    before = drive(PREV, "23:00:00", 59)
    after = [(p, t, x + 0.0178, y, v) for p, t, x, y, v in drive(DAY, "00:00:00", 60)]
    bad = [(PLATE, ts(DAY, "00:30:10"), 0.0, 0.0, 40.0), ("苏Z99999", ts(DAY, "00:30:10"), 120.0, 32.0, 40.0)]
    write_bronze(spark, profile, "gps_points", gps(spark, before), PREV)
    write_bronze(spark, profile, "gps_points", gps(spark, after + after[:3] + bad), DAY)

    first = vehicle_tracks.run(spark, profile, PREV)
    assert first["gps_points"] == {"read": len(before), "accepted": len(before), "duplicates": 0, "rejected": 0,
                                   "reasons": {}, "previous_day_read": False}
    summary = vehicle_tracks.run(spark, profile, DAY)
    again = vehicle_tracks.run(spark, profile, DAY)  # a re-run replaces its own partitions
    assert summary == again
    assert summary["gps_points"] == {"read": len(after) + 5, "accepted": len(after), "duplicates": 3, "rejected": 2,
                                     "reasons": {"coordinates 0/0 (no GNSS fix)": 1, "plate in no hazmat vehicle register": 1},
                                     "previous_day_read": True}
    from gridrisk import lake

    (trip,) = lake.read_partition(spark, profile, "silver", "vehicle_periods", DAY).collect()
    assert (trip["start_ts"], trip["end_ts"], trip["waybill_no"]) == (ts(PREV, "23:00:00"), ts(DAY, "01:00:00"), "W9")
    assert trip["crew_problem"] == "driver not in entity resolution; escort not in entity resolution"


def test_an_hourly_run_places_only_the_files_landed_since_and_gets_what_placing_the_day_gets(spark, profile):
    """``incremental``: the first run places the day so far whole; then only a new file (whose
    late copy of a placed report is a duplicate) — the tables then equal those of a placement of
    the whole day; a re-run places nothing; an earlier part landed again places the day whole."""
    from gridrisk import lake
    from jobs.silver import vehicle_tracks

    write_reference(spark, profile, DAY)
    write_bronze(spark, profile, "waybills", spark.createDataFrame([], WAYBILL_SCHEMA).drop("ds"), DAY)
    hours = {h: drive(DAY, f"{h:02d}:00:00", 10) for h in range(4)}  # 31 reports each

    def land(*files: tuple[int, str, list]) -> None:  # (hour, batch, rows) → bronze's day
        frames = [gps(spark, rows, f"gps_points_20261102{h:02d}.csv.gz", batch) for h, batch, rows in files]
        df = frames[0]
        for f in frames[1:]:
            df = df.unionByName(f)
        write_bronze(spark, profile, "gps_points", df, DAY)

    def tables() -> dict[str, list]:
        return {t: sorted(tuple(map(str, r)) for r in lake.read_partition(spark, profile, "silver", t, DAY).collect())
                for t in ("vehicle_points", "gps_rejects", "vehicle_periods")}

    def placed(whole_day_check: bool = False, **expected) -> None:  # an incremental run: what it placed
        out = vehicle_tracks.run(spark, profile, DAY, incremental=True)["gps_points"]
        assert {k: out[k] for k in expected} == expected
        if whole_day_check:  # … and the day as a placement of the whole day has it
            after = tables()
            vehicle_tracks.run(spark, profile, DAY)
            assert tables() == after

    land((0, "b1", hours[0]), (1, "b1", hours[1]), (2, "b1", hours[2]))
    placed(incremental={"files_placed": "the whole day"}, read=93, accepted=93)
    land((0, "b1", hours[0]), (1, "b1", hours[1]), (2, "b1", hours[2]), (3, "b2", hours[3] + hours[2][-1:]))
    placed(True, incremental={"files_placed": 1, "files_kept": 3}, read=32, accepted=31, duplicates=1, rejected=0)
    placed(incremental={"files_placed": 0, "files_kept": 4}, read=0, accepted=0, duplicates=0)
    # hour 01's part landed again (a new batch): the whole day is placed again
    land((0, "b1", hours[0]), (1, "b3", hours[1][:20]), (2, "b1", hours[2]), (3, "b2", hours[3] + hours[2][-1:]))
    placed(incremental={"files_placed": "the whole day"}, read=114, accepted=113, duplicates=1)
