"""Compound escalation of hazmat and fire flags (issue 11, item 4), on hand-built flags.

- ``crew_of``: a vehicle flag whose plate runs a waybill of the day with a flagged person as
  driver or escort is escalated one level; the same plate with an unflagged crew is not;
- ``same_grid``: a fire unit's flag inside a grid with a group-rental flag is escalated; a unit
  in another grid is not.

The escalated task is filed through publish's own function and checked against the disclosure
policy: the note names neither the person rule, the person nor the person's address.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from gridrisk.rules import load_compounds, load_routing, load_rules
from jobs.gold import publish_tasks, risk_flags

pytestmark = pytest.mark.spark

DS = "2026-11-02"
GRID_A, GRID_B = "320115101001003", "320115101002001"
HOME = "32011510200100010001"
HIT_SCHEMA = ("subject_type string, subject_key string, address_code string, grid_code string, lon double, lat double, "
              "severity string, facts map<string,string>, evidence string, explanation string, analyst_explanation string")


def hit(subject_type: str, key: str, grid: str, severity: str, address: str | None = None, text: str = "x") -> tuple:
    return (subject_type, key, address, grid, 118.8, 31.9, severity, {}, "{}", text, text)


@pytest.fixture(scope="module")
def flags(spark):
    rules = load_rules()
    hits_by_rule = {
        "hazmat.speeding": [hit("vehicle", "苏A00001", GRID_B, "high", text="苏A00001超速"),
                            hit("vehicle", "苏A00002", GRID_B, "high", text="苏A00002超速")],
        "hazmat.crew_at_risk": [hit("vehicle", "苏A00001", GRID_B, "critical")],
        "driver.drugs": [hit("person", "pk_driver", GRID_A, "high", address=HOME)],
        "rental.overcrowded": [hit("address", "32011510100100020001", GRID_A, "medium", address="32011510100100020001")],
        "fire.fault_open": [hit("unit", "XF1/D1", GRID_A, "medium", address="32011510100100030001", text="商场故障"),
                            hit("unit", "XF2/D1", GRID_B, "medium", address="32011510200100030001", text="酒店故障")],
    }
    chosen = [rules[r] for r in hits_by_rule]
    hits = {r: spark.createDataFrame(rows, HIT_SCHEMA) for r, rows in hits_by_rule.items()}
    # the day's waybill crew: pk_driver drives 苏A00001; 苏A00002's crew is nobody flagged
    crew = spark.createDataFrame([("pk_driver", "苏A00001"), ("pk_other", "苏A00002")], "source_key string, target_key string")
    occupants = spark.createDataFrame([], "source_key string, target_key string")
    today = risk_flags.transform(hits, chosen, load_routing(), DS, None, load_compounds(rules=rules),
                                 {"crew_of": crew, "lives_in": occupants})
    return {(r["rule_id"], r["subject_key"]): r for r in today.collect()}


def test_a_vehicle_whose_crew_member_is_a_flagged_person_is_escalated(flags):
    speeding = flags[("hazmat.speeding", "苏A00001")]
    assert (speeding["rule_severity"], speeding["severity"]) == ("high", "critical")
    assert speeding["escalated_by"] == "compound.vehicle_crew_flagged"
    assert speeding["priority"] == 1
    other = flags[("hazmat.speeding", "苏A00002")]
    assert (other["severity"], other["escalated_by"]) == ("high", None)
    # already critical: stays critical, but the compound still says why it met
    at_risk = flags[("hazmat.crew_at_risk", "苏A00001")]
    assert at_risk["severity"] == "critical" and at_risk["escalated_by"] == "compound.vehicle_crew_flagged"
    # the person flag itself is a source, not escalated by it
    assert flags[("driver.drugs", "pk_driver")]["escalated_by"] is None


def test_a_fire_unit_in_a_grid_with_a_group_rental_is_escalated(flags):
    inside = flags[("fire.fault_open", "XF1/D1")]
    assert (inside["rule_severity"], inside["severity"]) == ("medium", "high")
    assert inside["escalated_by"] == "compound.unit_in_group_rental_grid" and GRID_A in inside["escalation_note"]
    outside = flags[("fire.fault_open", "XF2/D1")]
    assert (outside["severity"], outside["escalated_by"]) == ("medium", None)
    # vehicles are not same_grid subjects, and the rental itself is not escalated
    assert flags[("rental.overcrowded", "32011510100100020001")]["escalated_by"] is None


def test_the_escalated_tasks_route_by_the_new_severity_and_disclose_nothing_of_the_person(spark, flags):
    from pyspark.sql import Row

    rules = load_rules()
    speeding = flags[("hazmat.speeding", "苏A00001")].asDict()
    row = Row(**{**speeding, "first_seen": dt.date.fromisoformat(DS), "opened_on": dt.date.fromisoformat(DS)})
    task = publish_tasks.task_from_flag(row, dt.datetime(2026, 11, 3, 1, 0), rules["hazmat.speeding"].task_evidence, DS)
    assert task.explanation.startswith("苏A00001超速") and "驾驶员或押运人员另有人员风险预警" in task.explanation
    for secret in ("driver.drugs", "pk_driver", HOME, "drugs", "吸毒"):
        assert secret not in task.explanation and secret not in str(task.evidence)
    assert task.evidence["escalated_by"] == "compound.vehicle_crew_flagged"
    assert (task.department, task.receiving_level, task.receiving_unit) == ("公安交管", "district", GRID_B[:6])
    unit = flags[("fire.fault_open", "XF1/D1")].asDict()
    task = publish_tasks.task_from_flag(Row(**{**unit, "first_seen": dt.date(2026, 11, 2), "opened_on": dt.date(2026, 11, 2)}),
                                        dt.datetime(2026, 11, 3, 1, 0), rules["fire.fault_open"].task_evidence, DS)
    assert (task.department, task.receiving_level, task.receiving_unit, task.severity) == ("消防救援", "grid", GRID_A, "high")


def test_a_crew_at_risk_task_tells_transport_what_to_check_and_nothing_of_the_registry(spark):
    """The flag keeps the registry rows for analysts; the task carries the waybill only."""
    from pyspark.sql import Row

    from gridrisk.rules.kinds import evaluate_rule

    rules = load_rules()
    rule = rules["hazmat.crew_at_risk"]
    d = dt.date.fromisoformat(DS)
    registry = spark.createDataFrame(
        [(d, "pk-escort", "exact", "王*", "mental", "M1", 3, True, d, "在管", None, None, None, None)],
        "ds date, person_key string, link_method string, name_masked string, registry string, record_key string, "
        "risk_level int, has_incident_history boolean, last_followup_date date, management_status string, "
        "control_status string, last_use_date date, rehab_release_date date, decision_date date")
    crew = spark.createDataFrame(
        [(d, "W1", "苏A00009", "arrived", dt.datetime(2026, 11, 2, 8), dt.datetime(2026, 11, 2, 10), "汽油", "pk-driver",
          "pk-escort", True, "32011510100100040001", GRID_A, 118.8, 31.9, 118.9, 31.9)],
        "ds date, waybill_no string, plate_no string, status string, plan_depart_ts timestamp, plan_arrive_ts timestamp, "
        "goods_name string, driver_person_key string, escort_person_key string, has_escort boolean, "
        "load_address_code string, load_grid_code string, load_lon double, load_lat double, unload_lon double, unload_lat double")
    # the mental registry alone: on a day the drug registry is missing the rule runs on the one that came
    hits = {rule.id: evaluate_rule({"waybill_crew": crew, "person_registry_mental": registry}, rule, DS)}
    (flag,) = risk_flags.transform(hits, [rule], load_routing(), DS).collect()
    assert json.loads(flag["evidence"])["registry"][0]["risk_level"] == 3  # analysts see why, in gold
    row = Row(**{**flag.asDict(), "first_seen": d, "opened_on": d})
    task = publish_tasks.task_from_flag(row, dt.datetime(2026, 11, 3, 1, 0), rule.task_evidence, DS)
    assert set(task.evidence) == {"waybills", "first_seen"}
    assert (task.department, task.severity, task.receiving_unit) == ("公安", "critical", GRID_A[:6])
    sent = task.title + task.explanation + str(task.evidence)
    for secret in ("mental", "王*", "M1", "精神", "危险性", "肇事"):
        assert secret not in sent
    assert "苏A00009" in task.explanation and "W1" in task.explanation
