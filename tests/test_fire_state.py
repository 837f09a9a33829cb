"""Fire unit state over the event history across days, on hand-built events (jobs/silver/fire_state.py)."""

from __future__ import annotations

import datetime as dt

EVENT_SCHEMA = ("event_id string, unit_id string, device_id string, event_type string, event_ts timestamp, "
                "confirmation string, cleared_ts timestamp, _source_file string, _row_number long")
UNIT = "XF320500000001"
D1, D2, D3, D4 = "2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"


def ts(day: str, hms: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day} {hms}")


def events(spark, *rows):
    """rows: (event_id, device, type, raised, confirmation, cleared)."""
    data = [(e, UNIT, dev, typ, raised, conf, cleared, "fire_events.csv", i + 2)
            for i, (e, dev, typ, raised, conf, cleared) in enumerate(rows)]
    return spark.createDataFrame(data, EVENT_SCHEMA)


def units(spark):
    return spark.createDataFrame([(UNIT, "某商场", "3" * 20, "人员密集场所", dt.date(2025, 11, 1), "在线", "u.csv", 2)],
                                 "unit_id string, unit_name string, address_code string, category string, "
                                 "last_inspection_date date, network_status string, _source_file string, _row_number long")


def days(spark, deliveries, settings=None):
    """Run the history over consecutive days; returns {day: (history, open conditions)} collected."""
    from jobs.silver.fire_state import FireSettings, check_events, event_history, open_conditions

    settings = settings or FireSettings()
    previous, out = None, {}
    for day, rows in deliveries:
        good, _ = check_events(events(spark, *rows), units(spark), day)
        history = event_history(previous, good, day, settings).cache()
        out[day] = (history, open_conditions(history, day))
        previous = history
    return out


def opened(out, day):
    return sorted((r["device_id"], r["condition"], r["event_id"], r["open_hours_at_day_end"]) for r in out[day][1].collect())


def test_a_fault_never_resent_stays_open_across_three_days_until_a_delivery_clears_it(spark):
    out = days(spark, [
        (D1, [("F1", "L09-001", "故障", ts(D1, "10:00:00"), None, None)]),
        (D2, []),   # the centre does not repeat it
        (D3, []),
        (D4, [("F1", "L09-001", "故障", ts(D1, "10:00:00"), None, ts(D4, "09:00:00"))]),
    ])
    assert opened(out, D1) == [("L09-001", "fault", "F1", 14.0)]
    assert opened(out, D2) == [("L09-001", "fault", "F1", 38.0)]
    assert opened(out, D3) == [("L09-001", "fault", "F1", 62.0)]
    assert opened(out, D4) == []
    (f1,) = out[D4][0].where("event_id = 'F1'").collect()
    assert (f1["cleared_ts"], f1["resolved_by"], f1["first_seen_ds"]) == (ts(D4, "09:00:00"), "恢复时间", dt.date(2026, 11, 1))


def test_a_fault_cleared_after_23_h_is_gone_and_one_cleared_after_25_h_was_open_at_midnight(spark):
    out = days(spark, [
        (D1, [("A", "L09-001", "故障", ts(D1, "01:00:00"), None, None),
              ("B", "L09-002", "故障", ts(D1, "01:00:00"), None, None)]),
        (D2, [("A", "L09-001", "故障", ts(D1, "01:00:00"), None, ts(D2, "00:00:00")),    # 23 h
              ("B", "L09-002", "故障", ts(D1, "01:00:00"), None, ts(D2, "02:00:00"))]),  # 25 h
    ])
    # at the end of D1 both were open for 23 h; during D2 both were cleared
    assert opened(out, D1) == [("L09-001", "fault", "A", 23.0), ("L09-002", "fault", "B", 23.0)]
    assert opened(out, D2) == []


def test_a_reset_ends_the_open_events_of_its_device_and_the_unit_wide_signals_only(spark):
    out = days(spark, [
        (D1, [("I1", "L09-003", "屏蔽", ts(D1, "08:00:00"), None, None),
              ("F1", "L09-004", "故障", ts(D1, "08:00:00"), None, None),
              ("S1", "L09-005", "监管", ts(D1, "08:00:00"), None, None),
              ("R1", "L09-003", "复位", ts(D1, "12:00:00"), None, ts(D1, "12:00:00")),
              ("R0", "L09-004", "复位", ts(D1, "07:00:00"), None, ts(D1, "07:00:00"))]),  # before the fault
    ])
    assert opened(out, D1) == [("L09-004", "fault", "F1", 16.0)]
    resolved = {r["event_id"]: r["resolved_by"] for r in out[D1][0].collect()}
    assert resolved["I1"] == "复位 R1" and resolved["S1"] == "复位 R1" and resolved["F1"] is None


def test_the_latest_delivery_of_an_event_wins_and_reopens_it(spark):
    out = days(spark, [
        (D1, [("M1", "ZK01", "手动状态", ts(D1, "20:00:00"), None, ts(D1, "21:00:00"))]),
        (D2, [("M1", "ZK01", "手动状态", ts(D1, "20:00:00"), None, None)]),  # corrected: still manual
    ])
    assert opened(out, D1) == []
    assert opened(out, D2) == [("ZK01", "manual", "M1", 28.0)]


def test_false_alarms_count_within_24_h_per_device_two_do_not_make_three(spark):
    from jobs.silver.fire_state import FireSettings, false_alarms

    out = days(spark, [
        (D1, [("A1", "L09-010", "火警", ts(D1, "09:00:00"), "误报", ts(D1, "09:05:00")),
              ("A2", "L09-010", "火警", ts(D1, "20:00:00"), "误报", ts(D1, "20:05:00")),
              ("B1", "L09-011", "火警", ts(D1, "09:00:00"), "误报", ts(D1, "09:05:00")),
              ("C1", "L09-012", "火警", ts(D1, "09:00:00"), "误报", ts(D1, "09:05:00"))]),
        (D2, [("A3", "L09-010", "火警", ts(D2, "08:59:59"), "误报", ts(D2, "09:05:00")),   # 3 within 24 h
              ("B2", "L09-011", "火警", ts(D2, "09:00:01"), "误报", ts(D2, "09:05:00")),   # 24 h 1 s after B1
              ("B3", "L09-011", "火警", ts(D2, "10:00:00"), "误报", ts(D2, "10:05:00")),
              ("C2", "L09-012", "火警", ts(D2, "08:00:00"), "误报", ts(D2, "08:05:00")),
              ("C3", "L09-012", "火警", ts(D2, "08:30:00"), "测试", ts(D2, "08:35:00"))]),  # a test is no false alarm
    ])
    got = {r["device_id"]: (r["max_in_window"], len(r["false_alarm_times"]))
           for r in false_alarms(out[D2][0], D2, FireSettings().false_alarm_window_hours).collect()}
    assert got == {"L09-010": (3, 3), "L09-011": (2, 3), "L09-012": (2, 2)}


def test_unusable_events_are_rejected_with_a_reason(spark):
    from jobs.silver.fire_state import check_events

    rows = events(spark, ("OK", "L09-001", "故障", ts(D1, "10:00:00"), None, None),
                  ("T0", "L09-001", "故障", None, None, None),
                  ("BK", "L09-001", "屏蔽", ts(D1, "10:00:00"), None, ts(D1, "09:00:00")))
    stranger = spark.createDataFrame([("Z1", "XF999", "L1", "故障", ts(D1, "10:00:00"), None, None, "f.csv", 9)], EVENT_SCHEMA)
    good, rejected = check_events(rows.unionByName(stranger), units(spark), D1)
    assert [r["event_id"] for r in good.collect()] == ["OK"]
    assert sorted((r["event_id"], r["reason"]) for r in rejected.collect()) == [
        ("BK", "cleared before raised: 2026-11-01 09:00:00 < 2026-11-01 10:00:00"),
        ("T0", "event time missing"), ("Z1", "unit in no fire unit register")]


def test_the_job_carries_state_on_delta_and_a_rerun_gives_the_same_tables(spark, profile):
    from pyspark.sql import functions as F

    from gridrisk import lake
    from jobs.silver import fire_state

    def bronze(table, df, ds):
        lake.replace_partition(df.withColumn("ds", F.lit(ds).cast("date")), profile.table_path("bronze", table), {"ds": ds})

    bronze("fire_units", units(spark), D1)
    bronze("addresses", spark.createDataFrame([("3" * 20, "320500000000001", 120.0, 32.0)],
                                              "address_code string, grid_code string, lon double, lat double"), D1)
    bronze("fire_events", events(spark, ("F1", "L09-001", "故障", ts(D1, "10:00:00"), None, None)), D1)
    bronze("fire_events", events(spark), D2)
    fire_state.run(spark, profile, D1)
    first = fire_state.run(spark, profile, D2)
    again = fire_state.run(spark, profile, D2)
    assert first == again
    assert first["fire_events"] == {"read": 0, "used": 0, "rejected": 0, "previous_day_read": True}
    (cond,) = lake.read_partition(spark, profile, "silver", "fire_open_conditions", D2).collect()
    assert (cond["device_key"], cond["condition"], cond["open_hours_at_day_end"]) == (f"{UNIT}/L09-001", "fault", 38.0)
    (unit,) = lake.read_partition(spark, profile, "silver", "fire_unit_state", D2).collect()
    assert (unit["grid_code"], unit["days_since_inspection"], unit["open_conditions"]) == ("320500000000001", 366, ["fault"])


# ---------------------------------------------------------------- the fire rules (conf/rules/fire.yaml)


def fire_rules():
    from gridrisk.rules.kinds import KINDS
    from gridrisk.rules.model import load_rules

    return load_rules(), KINDS


def flagged(spark, out, day: str, rule_id: str, inspection: dt.date = dt.date(2026, 6, 1)) -> dict[str, dict]:
    """Subjects ``rule_id`` flags on ``day`` from the history ``days`` built (unit state from the register)."""
    from pyspark.sql import functions as F

    from gridrisk.rules.kind import Window
    from jobs.silver.fire_state import unit_state

    rules, kinds = fire_rules()
    rule = rules[rule_id]
    history, conditions = out[day]
    register = units(spark).withColumn("last_inspection_date", F.lit(inspection))
    addresses = spark.createDataFrame([("3" * 20, "320500000000001", 120.0, 32.0)],
                                      "address_code string, grid_code string, lon double, lat double")
    inputs = {"fire_event_history": history, "fire_open_conditions": conditions,
              "fire_unit_state": unit_state(register, addresses, conditions, day)}
    hits = kinds[rule.kind]().evaluate(inputs, rule, Window(day))
    return {r["subject_key"]: {"facts": dict(r["facts"]), "grid": r["grid_code"]} for r in hits.collect()}


def test_a_fault_open_23_h_at_midnight_does_not_fire_25_h_does_and_clearing_ends_it(spark):
    out = days(spark, [
        (D1, [("A", "L09-001", "故障", ts(D1, "01:00:00"), None, None),           # 23 h at D2 00:00
              ("B", "L09-002", "故障", ts("2026-10-31", "23:00:00"), None, None)]),  # 25 h
        (D2, [("B", "L09-002", "故障", ts("2026-10-31", "23:00:00"), None, ts(D2, "08:00:00"))]),
    ])
    got = flagged(spark, out, D1, "fire.fault_open")
    assert set(got) == {f"{UNIT}/L09-002"}
    assert (got[f"{UNIT}/L09-002"]["facts"]["open_hours"], got[f"{UNIT}/L09-002"]["grid"]) == ("25.0", "320500000000001")
    # on D2 the cleared fault is gone; the other, never re-sent, is open 47 h now
    assert set(flagged(spark, out, D2, "fire.fault_open")) == {f"{UNIT}/L09-001"}


def test_a_fault_open_across_three_days_fires_each_day_until_it_is_cleared(spark):
    out = days(spark, [
        (D1, [("F1", "L09-001", "故障", ts(D1, "10:00:00"), None, None)]),
        (D2, []), (D3, []),
        (D4, [("F1", "L09-001", "故障", ts(D1, "10:00:00"), None, ts(D4, "09:00:00"))]),
    ])
    assert [bool(flagged(spark, out, d, "fire.fault_open")) for d in (D1, D2, D3, D4)] == [False, True, True, False]


def test_three_false_alarms_of_one_device_in_24_h_fire_two_do_not(spark):
    out = days(spark, [
        (D2, [("A1", "L09-010", "火警", ts(D2, "01:00:00"), "误报", ts(D2, "01:05:00")),
              ("A2", "L09-010", "火警", ts(D2, "09:00:00"), "误报", ts(D2, "09:05:00")),
              ("A3", "L09-010", "火警", ts(D2, "20:00:00"), "误报", ts(D2, "20:05:00")),
              ("B1", "L09-011", "火警", ts(D2, "09:00:00"), "误报", ts(D2, "09:05:00")),
              ("B2", "L09-011", "火警", ts(D2, "10:00:00"), "误报", ts(D2, "10:05:00")),
              ("B3", "L09-011", "火警", ts(D2, "11:00:00"), "测试", ts(D2, "11:05:00"))]),
    ])
    got = flagged(spark, out, D2, "fire.false_alarms")
    assert set(got) == {f"{UNIT}/L09-010"}
    assert (got[f"{UNIT}/L09-010"]["facts"]["false_alarms"], got[f"{UNIT}/L09-010"]["facts"]["first"]) == \
        ("3", "2026-11-02 01:00:00")


def test_isolation_over_72_h_and_offline_over_24_h(spark):
    out = days(spark, [
        (D4, [("I1", "L09-020", "屏蔽", ts("2026-11-01", "23:59:00"), None, None),   # 72 h 01 min at D5 00:00
              ("I2", "L09-021", "屏蔽", ts("2026-11-02", "00:00:00"), None, None),   # exactly 72 h
              ("O1", "TX02", "通信中断", ts(D4, "00:00:00"), None, None),              # exactly 24 h
              ("O2", "TX03", "通信中断", ts(D3, "23:00:00"), None, None)]),            # 25 h
    ])
    assert set(flagged(spark, out, D4, "fire.isolation_long")) == {f"{UNIT}/L09-020"}
    assert set(flagged(spark, out, D4, "fire.offline")) == {f"{UNIT}/TX03"}


def test_inspection_366_days_ago_is_overdue_365_is_not(spark):
    out = days(spark, [(D1, [])])
    assert set(flagged(spark, out, D1, "fire.inspection_overdue", inspection=dt.date(2025, 10, 31))) == {UNIT}
    assert flagged(spark, out, D1, "fire.inspection_overdue", inspection=dt.date(2025, 11, 1)) == {}
