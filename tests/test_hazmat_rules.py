"""Hazmat rule kinds on hand-built tracks, on both sides of every threshold (issue 11, Tests).

Each test builds silver ``vehicle_points`` rows for several plates — one plate per case — and
evaluates one rule of conf/rules/hazmat.yaml once; the plates that fire are the cases
across the threshold.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

DAY = "2026-11-02"
POINT_SCHEMA = ("ds date, plate_no string, gps_ts timestamp, lon double, lat double, speed_kmh double, road_name string, "
                "road_class string, grid_code string, place_id string, place_category string, place_distance_m double, "
                "place_grid_code string, _source_file string, _row_number long")
CREW_SCHEMA = ("ds date, waybill_no string, plate_no string, status string, plan_depart_ts timestamp, plan_arrive_ts timestamp, "
               "goods_name string, driver_person_key string, escort_person_key string, has_escort boolean, "
               "load_address_code string, load_grid_code string, load_lon double, load_lat double, unload_lon double, unload_lat double")
QUAL_SCHEMA = "ds date, person_key string, cert_no string, cert_type string, employer string, plate_no string, status string, valid_until date"
REGISTRY_SCHEMA = ("ds date, person_key string, link_method string, name_masked string, registry string, record_key string, "
                   "risk_level int, has_incident_history boolean, last_followup_date date, management_status string, "
                   "control_status string, last_use_date date, rehab_release_date date, decision_date date")
GRID = "320500000000001"


def registry_frames(spark, rows) -> dict:
    """The registry rows as the silver tables the rules read: one per registry (its ``registry`` column)."""
    from gridrisk.catalog import REGISTRY_DATASETS, registry_table

    return {registry_table(n): spark.createDataFrame([r for r in rows if r[4] == n], REGISTRY_SCHEMA)
            for n in REGISTRY_DATASETS}

PLACE_GRID = "320500000000002"  # the school's grid, next to the one the vehicle stands in


@pytest.fixture(scope="module")
def rules():
    from gridrisk.rules.kinds import KINDS
    from gridrisk.rules.model import load_rules

    return load_rules(), KINDS


def ts(hms: str, day: str = DAY) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day} {hms}")


def run(plate: str, start: dt.datetime, seconds: list[int], speed: float, road_class: str | None = "高速",
        lat: float = 32.005, place: tuple[str, float] | None = None, lon0: float = 120.0):
    """Reports of one plate at ``start`` + each offset, all at ``speed`` on one road, each in the
    ``ds`` partition of its own day."""
    road = {"高速": "沪宁高速", "国道": "312国道"}.get(road_class or "", None)
    return [((start + dt.timedelta(seconds=s)).date(), plate, start + dt.timedelta(seconds=s), lon0 + s * 0.00001, lat, speed, road, road_class, GRID,
             place[0] if place else None, "学校" if place else None, place[1] if place else None,
             PLACE_GRID if place else None, "gps.csv.gz", i + 2)
            for i, s in enumerate(seconds)]


def crew_row(no: str, plate: str, depart: dt.datetime, arrive: dt.datetime, status: str = "arrived",
             driver: str | None = "pk-d", escort: str | None = "pk-e", has_escort: bool = True,
             load: tuple[float, float] = (120.0, 32.0), unload: tuple[float, float] = (120.5, 32.0)):
    return (dt.date.fromisoformat(DAY), no, plate, status, depart, arrive, "汽油", driver, escort, has_escort,
            "3" * 20, GRID, load[0], load[1], unload[0], unload[1])


def fired(spark, rules, rule_id: str, rows=(), crew_rows=(), hour: int | None = None, quals=(), registry=()) -> dict[str, dict]:
    from gridrisk.rules.kind import Window

    loaded, kinds = rules
    rule = loaded[rule_id]
    inputs = {"vehicle_points": spark.createDataFrame(list(rows), POINT_SCHEMA),
              "waybill_crew": spark.createDataFrame(list(crew_rows), CREW_SCHEMA),
              "person_qualifications": spark.createDataFrame(list(quals), QUAL_SCHEMA),
              **registry_frames(spark, list(registry))}
    hits = kinds[rule.kind]().evaluate(inputs, rule, Window(DAY, hour))
    return {r["subject_key"]: {"facts": dict(r["facts"]), "evidence": json.loads(r["evidence"]), "grid": r["grid_code"]}
            for r in hits.collect()}


def test_speeding_81_kmh_for_31_s_fires_and_29_s_or_exactly_80_does_not(spark, rules):
    t0 = ts("10:00:00")
    rows = []
    for plate, offsets, speed in (("苏E00031", [0, 10, 20, 31], 81.0), ("苏E00029", [0, 10, 20, 29], 81.0),
                                  ("苏E00080", list(range(0, 301, 10)), 80.0)):
        rows += run(plate, t0 - dt.timedelta(seconds=60), [0, 30], 70.0)   # legal before …
        rows += run(plate, t0, offsets, speed)
        rows += run(plate, t0 + dt.timedelta(seconds=offsets[-1] + 10), [0, 20], 70.0)  # … and after
    got = fired(spark, rules, "hazmat.speeding", rows)
    assert set(got) == {"苏E00031"}
    facts = got["苏E00031"]["facts"]
    assert (facts["road"], facts["start"], facts["end"], facts["span"], facts["max_speed"], facts["limit"]) == \
        ("沪宁高速", "2026-11-02 10:00:00", "2026-11-02 10:00:31", "31 s", "81.0", "80.0")
    line = json.loads(got["苏E00031"]["evidence"]["track_geojson"])
    assert line["type"] == "LineString" and len(line["coordinates"]) == 4
    assert [p["speed_kmh"] for p in got["苏E00031"]["evidence"]["track"]] == [81.0] * 4


def test_speeding_elsewhere_is_judged_against_60(spark, rules):
    rows = run("苏E00061", ts("10:00:00"), [0, 15, 30], 61.0, road_class="国道") + \
        run("苏E00060", ts("10:00:00"), [0, 15, 30, 45], 60.0, road_class="国道")
    assert set(fired(spark, rules, "hazmat.speeding", rows)) == {"苏E00061"}


def test_night_ban_2201_on_an_expressway_fires_2159_and_a_trunk_road_at_night_do_not(spark, rules):
    rows = (run("苏E02201", ts("22:01:00"), [0], 60.0) + run("苏E02159", ts("21:59:00"), [0, 30], 60.0)
            + run("苏E0G312", ts("22:30:00"), [0, 30], 60.0, road_class="国道")
            + run("苏E00559", ts("05:59:00"), [0], 60.0) + run("苏E00600", ts("06:00:00"), [0], 60.0))
    got = fired(spark, rules, "hazmat.night_ban", rows)
    assert set(got) == {"苏E02201", "苏E00559"}
    assert got["苏E02201"]["facts"]["start"] == "2026-11-02 22:01:00"


def every(seconds: int, step: int = 60) -> list[int]:
    return list(range(0, seconds + 1, step))


def test_fatigue_4_h_01_without_rest_fires_3_h_59_does_not(spark, rules):
    t0 = ts("06:00:00")
    rows = run("苏E00401", t0, every(4 * 3600 + 60), 60.0) + run("苏E00359", t0, every(4 * 3600 - 60), 60.0)
    got = fired(spark, rules, "hazmat.fatigue", rows)
    assert set(got) == {"苏E00401"}
    assert got["苏E00401"]["facts"]["span"] == "4 h 01 min 00 s"
    assert got["苏E00401"]["facts"]["kind"] == "连续驾驶"


def test_a_19_min_stop_is_no_rest_and_a_21_min_stop_is(spark, rules):
    rows = []
    for plate, rest in (("苏E00019", 19), ("苏E00021", 21)):
        t0 = ts("06:00:00")
        rows += run(plate, t0, every(2 * 3600 + 30 * 60), 60.0)                      # 2 h 30 driving
        stop = t0 + dt.timedelta(hours=2, minutes=31)
        rows += run(plate, stop, every(rest * 60), 0.0)                               # the stop, first to last
        rows += run(plate, stop + dt.timedelta(minutes=rest, seconds=60), every(2 * 3600), 60.0)  # 2 h more
    assert set(fired(spark, rules, "hazmat.fatigue", rows)) == {"苏E00019"}


def test_more_than_8_h_moving_in_the_day_fires_with_rests_in_between(spark, rules):
    rows = []
    for plate, legs in (("苏E00830", 3), ("苏E00750", 2)):
        t = ts("05:00:00")
        for _ in range(legs):
            rows += run(plate, t, every(int(2.8 * 3600)), 60.0)             # 2 h 48 min legs
            rows += run(plate, t + dt.timedelta(hours=2.8, seconds=60), every(30 * 60), 0.0)
            t += dt.timedelta(hours=2.8, minutes=32)
    got = fired(spark, rules, "hazmat.fatigue", rows)
    assert set(got) == {"苏E00830"}
    assert got["苏E00830"]["facts"]["kind"] == "当日累计驾驶"


def test_sensitive_stop_11_min_at_150_m_fires_9_min_or_250_m_does_not(spark, rules):
    t0 = ts("14:00:00")
    rows = (run("苏E11150", t0, every(11 * 60), 0.0, place=("P1", 150.0))
            + run("苏E09150", t0, every(9 * 60), 0.0, place=("P1", 150.0))
            + run("苏E11250", t0, every(11 * 60), 0.0, place=("P1", 250.0)))
    got = fired(spark, rules, "hazmat.sensitive_stop", rows)
    assert set(got) == {"苏E11150"}
    # routed to the grid of the place (domain.md §5), not the one the vehicle happened to stand in
    assert (got["苏E11150"]["facts"]["place_id"], got["苏E11150"]["facts"]["distance_m"], got["苏E11150"]["grid"]) == \
        ("P1", "150", PLACE_GRID)


def test_moving_6_min_without_a_waybill_fires_4_min_or_inside_a_window_does_not(spark, rules):
    t0 = ts("09:00:00")
    crew = [crew_row("W1", "苏E0WB06", ts("08:55:00"), ts("09:30:00")),
            crew_row("W2", "苏E0NO06", ts("08:55:00"), ts("09:30:00"), status="cancelled")]
    rows = (run("苏E0NO06", t0, every(6 * 60, 20), 40.0) + run("苏E0NO04", t0, every(4 * 60, 20), 40.0)
            + run("苏E0WB06", t0, every(6 * 60, 20), 40.0))
    got = fired(spark, rules, "hazmat.no_waybill", rows, crew)
    assert set(got) == {"苏E0NO06"}  # a cancelled waybill covers nothing


def test_route_deviation_at_2_1_km_fires_1_9_km_does_not(spark, rules):
    from gridrisk.spatial import M_PER_DEG_LAT

    crew = [crew_row(f"W{p}", f"苏E00{p}", ts("08:00:00"), ts("12:00:00")) for p in ("019", "021")]
    rows = (run("苏E00019", ts("09:00:00"), [0, 20], 50.0, lat=32.0 + 1900 / M_PER_DEG_LAT, lon0=120.2)
            + run("苏E00021", ts("09:00:00"), [0, 20], 50.0, lat=32.0 + 2100 / M_PER_DEG_LAT, lon0=120.2))
    got = fired(spark, rules, "hazmat.route_deviation", rows, crew)
    assert set(got) == {"苏E00021"}
    assert (got["苏E00021"]["facts"]["waybill_no"], got["苏E00021"]["facts"]["max_km"]) == ("W021", "2.10")


def test_an_hourly_window_sees_only_episodes_overlapping_its_hour(spark, rules):
    rows = run("苏E02201", ts("22:01:00"), [0], 60.0)
    assert set(fired(spark, rules, "hazmat.night_ban", rows, hour=22)) == {"苏E02201"}
    assert fired(spark, rules, "hazmat.night_ban", rows, hour=21) == {}


def test_crew_unqualified_no_escort_or_an_escort_without_a_valid_qualification(spark, rules):
    d = dt.date.fromisoformat(DAY)
    yesterday = d - dt.timedelta(days=1)
    quals = [(d, "pk-d", "C1", "危险货物运输驾驶员", "某运输公司", None, "有效", d),          # valid until today: counts
             (d, "pk-e", "C2", "危险货物运输押运人员", "某运输公司", None, "有效", d),
             (d, "pk-e2", "C3", "危险货物运输押运人员", "某运输公司", None, "有效", yesterday),  # expired yesterday
             (d, "pk-d2", "C4", "道路货物运输驾驶员", "某运输公司", None, "有效", d)]          # the wrong type
    crew = [crew_row("W1", "苏E0000K", ts("08:00:00"), ts("10:00:00")),
            crew_row("W2", "苏E000NE", ts("08:00:00"), ts("10:00:00"), escort=None, has_escort=False),
            crew_row("W3", "苏E000XE", ts("08:00:00"), ts("10:00:00"), escort="pk-e2"),
            crew_row("W4", "苏E000XD", ts("08:00:00"), ts("10:00:00"), driver="pk-d2"),
            crew_row("W5", "苏E000CX", ts("08:00:00"), ts("10:00:00"), escort=None, has_escort=False, status="cancelled")]
    got = fired(spark, rules, "hazmat.crew_unqualified", crew_rows=crew, quals=quals)
    assert {k: v["facts"]["reasons"] for k, v in got.items()} == {
        "苏E000NE": "无押运人员",
        "苏E000XE": "押运人员无有效危险货物运输押运人员从业资格",
        "苏E000XD": "驾驶员无有效危险货物运输驾驶员从业资格",
    }
    assert got["苏E000NE"]["grid"] == GRID


def test_crew_at_risk_is_critical_for_an_escort_with_risk_3_not_2(spark, rules):
    from gridrisk.rules.kind import Window

    d = dt.date.fromisoformat(DAY)
    registry = [(d, "pk-e3", "exact", "王*", "mental", "M1", 3, False, d, "在管", None, None, None, None),
                (d, "pk-e2", "exact", "李*", "mental", "M2", 2, False, d, "在管", None, None, None, None)]
    crew = [crew_row("W1", "苏E0RISK", ts("08:00:00"), ts("10:00:00"), escort="pk-e3"),
            crew_row("W2", "苏E0SAFE", ts("08:00:00"), ts("10:00:00"), escort="pk-e2")]
    got = fired(spark, rules, "hazmat.crew_at_risk", crew_rows=crew, registry=registry)
    assert set(got) == {"苏E0RISK"}
    assert got["苏E0RISK"]["facts"]["reasons"] == "押运人员存在跨部门风险比对命中"
    loaded, kinds = rules
    rule = loaded["hazmat.crew_at_risk"]
    inputs = {"waybill_crew": spark.createDataFrame(crew, CREW_SCHEMA), **registry_frames(spark, registry)}
    assert [r["severity"] for r in kinds[rule.kind]().evaluate(inputs, rule, Window(DAY)).collect()] == ["critical"]


# --- across midnight: an episode that began yesterday counts from its start, one that ended yesterday does not


def yesterday(hms: str) -> dt.datetime:
    return ts(hms) - dt.timedelta(days=1)


def test_runs_that_cross_midnight_fire_with_their_start_yesterday_and_ended_ones_do_not(spark, rules):
    midnight = ts("00:00:00")
    speeding = (run("苏E0X035", midnight - dt.timedelta(seconds=20), [0, 10, 20, 35], 85.0)  # 20 s + 15 s
                + run("苏E0X015", midnight, [0, 15], 85.0)                                   # 15 s alone
                + run("苏E0XEND", midnight - dt.timedelta(seconds=60), [0, 40], 85.0)        # 40 s, ended …
                + run("苏E0XEND", midnight - dt.timedelta(seconds=10), [0, 20], 70.0))       # … before midnight
    got = fired(spark, rules, "hazmat.speeding", speeding)
    assert set(got) == {"苏E0X035"}
    assert (got["苏E0X035"]["facts"]["start"], got["苏E0X035"]["facts"]["span"]) == ("2026-11-01 23:59:40", "35 s")

    night = run("苏E0N000", yesterday("23:30:00"), every(40 * 60), 70.0) + run("苏E0N001", yesterday("23:00:00"), [0], 70.0)
    got = fired(spark, rules, "hazmat.night_ban", night)
    assert set(got) == {"苏E0N000"} and got["苏E0N000"]["facts"]["start"] == "2026-11-01 23:30:00"

    stop = (run("苏E0S011", yesterday("23:55:00"), every(11 * 60), 0.0, place=("P1", 150.0))
            + run("苏E0S009", yesterday("23:57:00"), every(9 * 60), 0.0, place=("P1", 150.0)))
    got = fired(spark, rules, "hazmat.sensitive_stop", stop)
    assert set(got) == {"苏E0S011"} and got["苏E0S011"]["facts"]["span"] == "11 min 00 s"

    crew = [crew_row("W1", "苏E0W006", yesterday("23:00:00"), yesterday("23:56:00"))]
    no_waybill = (run("苏E0W006", yesterday("23:50:00"), every(12 * 60, 20), 40.0)   # covered until 23:56, then 6 min
                  + run("苏E0W004", yesterday("23:58:00"), every(4 * 60, 20), 40.0))
    got = fired(spark, rules, "hazmat.no_waybill", no_waybill, crew)
    assert set(got) == {"苏E0W006"} and got["苏E0W006"]["facts"]["start"] == "2026-11-01 23:56:20"

    from gridrisk.spatial import M_PER_DEG_LAT

    crew = [crew_row("W2", "苏E0R021", yesterday("23:00:00"), ts("02:00:00"))]
    off = 32.0 + 2100 / M_PER_DEG_LAT
    route = run("苏E0R021", yesterday("23:59:40"), [0, 20, 40], 50.0, lat=off, lon0=120.2)
    got = fired(spark, rules, "hazmat.route_deviation", route, crew)
    assert set(got) == {"苏E0R021"} and got["苏E0R021"]["facts"]["start"] == "2026-11-01 23:59:40"


def test_fatigue_counts_the_driving_before_midnight_unless_a_rest_came_between(spark, rules):
    rows = []
    rows += run("苏E0F430", yesterday("22:00:00"), every(int(4.5 * 3600)), 60.0)          # 22:00-02:30 non-stop
    for plate, stop_min in (("苏E0F015", 15), ("苏E0F025", 25)):
        rows += run(plate, yesterday("21:00:00"), every(int(2.8 * 3600)), 60.0)           # to 23:48
        rows += run(plate, yesterday("23:49:00"), every(stop_min * 60), 0.0)               # stopped across midnight
        rows += run(plate, yesterday("23:50:00") + dt.timedelta(minutes=stop_min), every(int(1.6 * 3600)), 60.0)
    got = fired(spark, rules, "hazmat.fatigue", rows)
    # a 15 min stop is no rest: 21:00 to 01:2x is one stint; a 25 min stop is a rest
    assert set(got) == {"苏E0F430", "苏E0F015"}
    assert (got["苏E0F430"]["facts"]["start"], got["苏E0F430"]["facts"]["span"]) == ("2026-11-01 22:00:00", "4 h 30 min 00 s")
    assert got["苏E0F015"]["facts"]["start"] == "2026-11-01 21:00:00"
    # the daily total counts the day's driving only
    assert got["苏E0F430"]["facts"]["daily_moving"] == "2 h 30 min 00 s"


def _shuffled_columns(plan) -> list[list[str]]:  # noqa: ANN001 — a py4j SparkPlan
    """The columns of every shuffle in an executed (adaptive) plan that has the kept track input
    below it (a broadcast of the waybills is not a shuffle of it)."""
    def below(node) -> list:  # noqa: ANN001
        if node.nodeName() == "AdaptiveSparkPlan":
            return [node.finalPhysicalPlan()]
        if node.nodeName().endswith("QueryStage"):
            return [node.plan()]
        children = node.children()
        return [children.apply(i) for i in range(children.size())]

    def reads_kept(node) -> bool:  # noqa: ANN001
        return node.nodeName() == "InMemoryTableScan" or any(reads_kept(c) for c in below(node))

    found = []
    if plan.nodeName() == "Exchange" and reads_kept(plan):
        output = plan.output()
        found.append([output.apply(i).name() for i in range(output.size())])
    for child in below(plan):
        found += _shuffled_columns(child)
    return found


def test_the_track_rules_read_one_kept_input_with_the_same_hits_and_never_shuffle_the_reports_again(spark, rules):
    """The rules stage keeps the track input once for every track rule (``share_tracks``):
    clustered by plate and in time order, so a kind's windows and per-plate aggregates do not
    shuffle the reports again. A day with a case for each track rule (yesterday's evening, a late copy
    of a report among them) gives the same hits, facts and evidence either way."""
    from gridrisk.rules.kind import Window
    from gridrisk.rules.kinds import evaluate_rule
    from gridrisk.rules.kinds.hazmat import TRACK_KIND_NAMES, share_tracks
    from gridrisk.spark import session_conf
    from gridrisk.spatial import M_PER_DEG_LAT
    from jobs.gold.risk_flags import EVALUATION_CONF, evaluate_once

    loaded, _ = rules
    off = 32.0 + 2100 / M_PER_DEG_LAT
    late_copy = run("苏E0X035", yesterday("23:59:50"), [0], 85.0)[0]
    rows = (run("苏E00031", ts("10:00:00"), [0, 10, 20, 31], 81.0) + run("苏E02201", ts("22:01:00"), [0], 60.0)
            + run("苏E0X035", yesterday("23:59:40"), [0, 10, 20, 35], 85.0)
            + [(dt.date.fromisoformat(DAY), *late_copy[1:])]                     # delivered again today
            + run("苏E11150", ts("14:00:00"), every(11 * 60), 0.0, place=("P1", 150.0))
            + run("苏E0NO06", ts("09:00:00"), every(6 * 60, 20), 40.0) + run("苏E0WB06", ts("09:00:00"), every(6 * 60, 20), 40.0)
            + run("苏E00021", ts("09:00:00"), [0, 20], 50.0, lat=off, lon0=120.2)
            + run("苏E0F430", yesterday("22:00:00"), every(int(4.5 * 3600)), 60.0))
    crew = [crew_row("W1", "苏E0WB06", ts("08:55:00"), ts("09:30:00")), crew_row("W021", "苏E00021", ts("08:00:00"), ts("12:00:00"))]
    track_rules = [r for r in loaded.values() if r.kind in TRACK_KIND_NAMES]
    assert len(track_rules) == 6

    def inputs() -> dict:
        return {"vehicle_points": spark.createDataFrame(rows, POINT_SCHEMA), "waybill_crew": spark.createDataFrame(crew, CREW_SCHEMA)}

    def as_rows(df) -> list:  # noqa: ANN001
        return sorted((r["subject_key"], sorted(r["facts"].items()), r["evidence"]) for r in df.collect())

    alone = {r.id: as_rows(evaluate_rule(inputs(), r, DAY)) for r in track_rules}
    assert all(alone.values()), {k: len(v) for k, v in alone.items()}  # every rule fires: equal says something

    shared = inputs()
    with share_tracks(shared, track_rules):
        # as at scale: the reports are never broadcast (the waybills are, by hint)
        no_broadcast = {"spark.sql.autoBroadcastJoinThreshold": "-1", "spark.sql.adaptive.autoBroadcastJoinThreshold": "-1"}
        with session_conf(spark, {**EVALUATION_CONF, **no_broadcast}):
            shuffled = {}
            for rule in track_rules:
                hits = evaluate_rule(shared, rule, DAY)
                hits.collect()
                plan = hits._jdf.queryExecution().executedPlan()
                assert "InMemoryTableScan" in plan.toString(), rule.id
                shuffled[rule.id] = _shuffled_columns(plan)
        # No rule moves the reports again. What some still shuffle is smaller: fatigue its
        # per-plate results (a full join), route deviation the distances it measured for the
        # reports inside a plan window (plate, time, waybill, metres: Python's UDF output is
        # not taken as clustered).
        assert not [(rule_id, cols) for rule_id, found in shuffled.items() for cols in found if "speed_kmh" in cols]
        assert {rule_id for rule_id, found in shuffled.items() if found} <= {"hazmat.fatigue", "hazmat.route_deviation"}
        done = evaluate_once({r.id: evaluate_rule(shared, r, Window(DAY)) for r in track_rules})
        together = {rule_id: as_rows(df) for rule_id, df in done.items()}
    assert together == alone
    assert "_shared_tracks" not in shared
