"""The person rules on hand-built people: each threshold's boundary, the compound escalation,
privacy of gold and tasks, and incremental runs equal to a full recompute."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pytest
from person_world import DIAGNOSIS, Person, bronze_frames, person_inputs

from gridrisk import lake
from gridrisk.rules import load_compounds, load_routing, load_rules
from gridrisk.rules.kinds import evaluate_rule
from jobs.gold import publish_tasks, risk_flags
from jobs.silver import person_facts

DS = "2026-11-01"  # 3 years back to the day: 2023-11-01
HAZMAT, RIDE, TAXI, BUS = "危险货物运输驾驶员", "网络预约出租汽车驾驶员", "巡游出租汽车驾驶员", "道路旅客运输驾驶员"
VALID = [("正常", "2030-01-01")]

PEOPLE = [
    # driver.mental: risk level 3 fires, 2 does not, 2 with an incident history does
    Person("m_risk3", licences=VALID, mental=[(3, False, "2026-10-20")]),
    Person("m_risk2", licences=VALID, mental=[(2, False, "2026-10-20")]),
    Person("m_risk2_incident", licences=VALID, mental=[(2, True, "2026-10-20")]),
    Person("m_cancelled", licences=[("注销", "2030-01-01")], mental=[(5, True, "2026-10-20")]),
    # a licence valid until yesterday no longer counts; valid until today (inclusive) does
    Person("m_expired", licences=[("正常", "2026-10-31")], mental=[(4, False, "2026-10-20")]),
    Person("m_until_today", licences=[("正常", DS)], mental=[(4, False, "2026-10-20")]),
    # driver.drugs: last use exactly 3 years ago to the day no longer counts, a day later does
    Person("d_use_3y", licences=VALID, drugs=[("戒断三年未复吸", "2023-11-01", None, "2020-01-01")]),
    Person("d_use_3y_minus_1", licences=VALID, drugs=[("戒断三年未复吸", "2023-11-02", None, "2026-10-25")]),
    Person("d_community_recovery", licences=VALID, drugs=[("社区康复", "2020-01-01", None, "2026-10-25")]),
    Person("d_release_recent", licences=VALID, drugs=[("戒断三年未复吸", "2019-01-01", "2023-11-02", "2026-10-25")]),
    # data.licence_not_cancelled: the condition held exactly 30 days → no; 31 days → fires
    Person("n_30_days", licences=VALID, mental=[(3, False, "2026-10-02")]),
    Person("n_31_days", licences=VALID, mental=[(3, False, "2026-10-01")]),
    Person("n_drugs_31", licences=VALID, drugs=[("社区戒毒", "2026-09-01", None, "2026-10-01")]),
    # worker.at_risk
    Person("w_hazmat_drugs", quals=[(HAZMAT, "有效", "2030-01-01")], drugs=[("社区戒毒", "2026-09-01", None, "2026-10-25")]),
    Person("w_ride_old_record", quals=[(RIDE, "有效", "2030-01-01")], drugs=[("戒断三年未复吸", "2015-01-01", None, "2015-02-01")]),
    Person("w_taxi_old_record", quals=[(TAXI, "有效", "2030-01-01")], drugs=[("戒断三年未复吸", "2015-01-01", None, "2015-02-01")]),
    Person("w_bus_expired", quals=[(BUS, "有效", "2026-10-31")], mental=[(3, False, "2026-10-20")]),
    Person("w_bus_until_today", quals=[(BUS, "有效", DS)], mental=[(3, False, "2026-10-20")]),
    # data.qualification_active: 60 on the day passes, 61 fires; a cancelled licence fires
    Person("q_age_60", born=dt.date(1966, 11, 1), quals=[(BUS, "有效", "2030-01-01")]),
    Person("q_age_61", born=dt.date(1965, 11, 1), quals=[(BUS, "有效", "2030-01-01")]),
    Person("q_61_tomorrow", born=dt.date(1965, 11, 2), quals=[(BUS, "有效", "2030-01-01")]),
    Person("q_licence_cancelled", quals=[(BUS, "有效", "2030-01-01")], licences=[("注销", "2030-01-01")]),
    Person("q_both_cancelled", quals=[(BUS, "注销", "2030-01-01")], licences=[("注销", "2030-01-01")]),
    # no address anywhere: flagged, but cannot be routed to a grid
    Person("m_homeless", address=None, licences=VALID, mental=[(3, False, "2026-10-20")]),
]
EXPECTED = {
    "driver.mental": {"m_risk3", "m_risk2_incident", "m_until_today", "n_30_days", "n_31_days", "m_homeless"},
    "driver.drugs": {"d_use_3y_minus_1", "d_community_recovery", "d_release_recent", "n_drugs_31"},
    "data.licence_not_cancelled": {"n_31_days", "n_drugs_31"},
    "worker.at_risk": {"w_hazmat_drugs", "w_ride_old_record", "w_bus_until_today"},
    "data.qualification_active": {"q_age_61", "q_licence_cancelled"},
}


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture(scope="module")
def inputs(spark):
    cached = {k: v.cache() for k, v in person_inputs(spark, PEOPLE, DS).items()}
    yield cached
    for df in cached.values():
        df.unpersist()


@pytest.mark.parametrize("rule_id", sorted(EXPECTED))
def test_each_person_rule_fires_exactly_on_its_side_of_every_threshold(inputs, rules, rule_id):
    hits = evaluate_rule(inputs, rules[rule_id], DS).collect()
    assert {h["subject_key"] for h in hits} == EXPECTED[rule_id]
    for h in hits:
        assert h["explanation"] and "\n" not in h["explanation"] and "?" not in h["explanation"]


def test_hazmat_workers_are_critical_and_the_others_keep_the_rule_severity(inputs, rules):
    hits = {h["subject_key"]: h for h in evaluate_rule(inputs, rules["worker.at_risk"], DS).collect()}
    assert hits["w_hazmat_drugs"]["severity"] == "critical"
    assert hits["w_ride_old_record"]["severity"] == hits["w_bus_until_today"]["severity"] == "high"
    assert "有涉毒记录" in hits["w_ride_old_record"]["analyst_explanation"]


def test_a_person_flag_carries_the_evidence_of_that_person_only(inputs, rules):
    """Evidence is collected for the people who fired only (common.with_evidence, the semi join
    on conditions): each hit still lists exactly its own licences and registry rows."""
    hits = {h["subject_key"]: json.loads(h["evidence"]) for h in evaluate_rule(inputs, rules["driver.mental"], DS).collect()}
    assert [(r["status"], r["valid_until"]) for r in hits["m_until_today"]["licences"]] == [("正常", DS)]
    assert [(r["status"], r["valid_until"]) for r in hits["m_risk3"]["licences"]] == [("正常", "2030-01-01")]
    assert [r["risk_level"] for r in hits["m_risk3"]["registry"]] == [3]
    assert [r["risk_level"] for r in hits["m_risk2_incident"]["registry"]] == [2]
    assert hits["m_risk3"]["person"]["person_key"] == "m_risk3"


def test_rules_can_be_tightened_by_yaml_alone(inputs, rules):
    stricter = replace(rules["driver.mental"], id="driver.mental_strict", params={**rules["driver.mental"].params,
                                                                                 "mental_min_risk_level": 2})
    hits = {h["subject_key"] for h in evaluate_rule(inputs, stricter, DS).collect()}
    assert "m_risk2" in hits and "m_risk3" in hits


def test_silver_facts_keep_one_row_per_record_and_no_diagnosis_raw_id_or_name(spark):
    records, master, bronze = bronze_frames(spark, PEOPLE)
    bronze["driving_licences"] = bronze["driving_licences"].unionByName(bronze["driving_licences"])  # a re-sent file
    out = person_facts.transform(records, master, bronze, DS)
    assert out["person_licences"].count() == sum(len(p.licences) for p in PEOPLE)
    assert out["person_registry_mental"].where("registry = 'mental'").count() == sum(len(p.mental) for p in PEOPLE)
    assert out["person_registry_drugs"].where("registry = 'drugs'").count() == sum(len(p.drugs) for p in PEOPLE)
    text = " ".join(json.dumps(r.asDict(), default=str, ensure_ascii=False) for df in out.values() for r in df.collect())
    assert DIAGNOSIS not in text
    for p in PEOPLE:
        assert p.raw_id not in text and p.name not in text
    assert all("diagnosis" not in out[t].columns for t in ("person_registry_mental", "person_registry_drugs"))


def _today(spark, inputs, rules, extra_hits=None, occupants=None):
    from pyspark.sql import functions as F

    chosen = [rules[r] for r in sorted(EXPECTED)]
    hits = {r.id: evaluate_rule(inputs, r, DS) for r in chosen}
    if extra_hits is not None:
        chosen.append(rules["rental.overcrowded"])
        hits["rental.overcrowded"] = extra_hits
    links = None if occupants is None else {"lives_in": occupants.select(F.col("address_code").alias("source_key"),
                                                                         F.col("person_key").alias("target_key"))}
    return risk_flags.transform(hits, chosen, load_routing(), DS, None, load_compounds(rules=rules), links)


def test_a_person_flag_on_an_occupant_of_a_group_rental_is_escalated(spark, inputs, rules):
    address = "32011510100100020001"
    rental = spark.createDataFrame(
        [("address", address, address, "320115101001003", 118.8, 31.9, "medium", {}, "{}", "群租", "群租")],
        "subject_type string, subject_key string, address_code string, grid_code string, lon double, lat double, "
        "severity string, facts map<string,string>, evidence string, explanation string, analyst_explanation string")
    occupants = spark.createDataFrame([(address, "m_risk3"), (address, "q_age_61")], "address_code string, person_key string")
    flags = {(r["rule_id"], r["subject_key"]): r for r in _today(spark, inputs, rules, rental, occupants).collect()}
    mental = flags[("driver.mental", "m_risk3")]
    assert (mental["rule_severity"], mental["severity"]) == ("high", "critical")
    assert mental["escalated_by"] == "compound.person_in_group_rental" and address in mental["escalation_note"]
    assert mental["priority"] == 1
    older = flags[("data.qualification_active", "q_age_61")]
    assert (older["rule_severity"], older["severity"]) == ("medium", "high")
    untouched = flags[("driver.mental", "m_risk2_incident")]
    assert untouched["severity"] == "high" and untouched["escalated_by"] is None
    assert flags[("rental.overcrowded", address)]["escalated_by"] is None  # the source is not escalated by itself


def test_gold_and_tasks_never_carry_a_diagnosis_raw_id_or_name(spark, inputs, rules):
    rows = _today(spark, inputs, rules).collect()
    gold_text = " ".join(json.dumps(r.asDict(), default=str, ensure_ascii=False) for r in rows)
    assert DIAGNOSIS not in gold_text
    for p in PEOPLE:
        assert p.raw_id not in gold_text and p.name not in gold_text
    filed = dt.datetime(2026, 11, 2, 8, 0, 0)
    mental = next(r for r in rows if r["rule_id"] == "driver.mental" and r["subject_key"] == "m_risk3")
    task = publish_tasks.task_from_flag(mental, filed, rules["driver.mental"].task_evidence)
    # The traffic police learn what to do, not why medically: no registry entry, no risk level.
    assert "registry" not in task.evidence and set(task.evidence) >= {"licences", "person"}
    assert "精神" not in task.explanation and "危险性" not in task.explanation and "注销" in task.explanation
    assert "严重精神障碍" in mental["analyst_explanation"]  # the analyst (restricted report) sees the ground
    # Nor for drugs: the measure and the dates of drug use stay with the analysts (conf/disclosure.yaml).
    drugs = next(r for r in rows if r["rule_id"] == "driver.drugs")
    task = publish_tasks.task_from_flag(drugs, filed, rules["driver.drugs"].task_evidence)
    assert "registry" not in task.evidence
    text = task.title + task.explanation + json.dumps(task.evidence, ensure_ascii=False)
    for term in ("社区", "戒毒", "吸毒", "涉毒", "禁毒", "last_use"):
        assert term not in text, term
    assert "涉毒人员" in drugs["analyst_explanation"]


def test_a_task_that_would_carry_registry_details_is_refused_at_filing(spark, inputs, rules):
    from gridrisk.disclosure import DisclosureError

    rows = _today(spark, inputs, rules).collect()
    drugs = next(r for r in rows if r["rule_id"] == "driver.drugs").asDict()
    leaky = {**drugs, "explanation": drugs["analyst_explanation"]}
    with pytest.raises(DisclosureError, match="would disclose registry details"):
        publish_tasks.task_from_flag(leaky, dt.datetime(2026, 11, 2, 8), ("licences", "person"))
    with pytest.raises(DisclosureError):  # evidence too, whatever a rule's task_evidence says
        publish_tasks.task_from_flag(drugs, dt.datetime(2026, 11, 2, 8), ("licences", "registry", "person"))


# --- incremental runs ----------------------------------------------------------------------------

DAY2 = "2026-11-02"


def day_two() -> list[Person]:
    """The next day: one change of data per kind, plus subjects whose answer flips with the date."""
    people = {p.key: p for p in PEOPLE}
    people["m_risk2"] = replace(people["m_risk2"], mental=[(3, False, "2026-11-01")])  # reassessed: now fires
    people["d_community_recovery"] = replace(people["d_community_recovery"], licences=[("注销", "2030-01-01")])  # cancelled
    people.pop("w_ride_old_record")  # left the registers
    people["new_driver"] = Person("new_driver", licences=VALID, drugs=[("查获吸毒", "2026-11-01", None, "2026-11-02")])
    # unchanged rows, flipping with the date: d_use_3y_minus_1 (3 years exactly on DAY2), m_until_today
    # (licence expired), w_bus_until_today (qualification expired), q_61_tomorrow (61st birthday),
    # n_30_days (31 days on DAY2).
    return list(people.values())


def write_facts(spark, profile, people, ds):
    for table, df in person_inputs(spark, people, ds).items():
        lake.replace_partition(df, profile.table_path("silver", table), {"ds": ds})


def flags_table(spark, profile):
    return lake.read(spark, profile, "gold", "risk_flags")


@pytest.mark.slow
def test_an_incremental_day_equals_a_full_recompute(spark, tmp_path):
    from gridrisk.config import load_profile

    lakes = {}
    for mode in ("incremental", "full"):
        profile = load_profile("local", env={}, workdir=str(tmp_path / mode))
        write_facts(spark, profile, PEOPLE, DS)
        write_facts(spark, profile, day_two(), DAY2)
        first = risk_flags.run(spark, profile, DS)
        assert set(first["mode"].values()) == {"full"}  # nothing to chain on
        second = risk_flags.run(spark, profile, DAY2, full=(mode == "full"))
        lakes[mode] = (profile, second)
    inc_profile, inc = lakes["incremental"]
    full_profile, _ = lakes["full"]
    person_rules = sorted(EXPECTED)
    assert all(inc["mode"][r].startswith("incremental") for r in person_rules), inc["mode"]
    a, b = flags_table(spark, inc_profile), flags_table(spark, full_profile)
    assert a.count() == b.count() > 0
    assert a.exceptAll(b).count() == 0 and b.exceptAll(a).count() == 0
    # and the day's changes really happened
    state = {(r["rule_id"], r["subject_key"]): r["status"] for r in a.collect()}
    assert state[("driver.mental", "m_risk2")] == "open"
    assert state[("driver.drugs", "d_community_recovery")] == "resolved"
    assert state[("worker.at_risk", "w_ride_old_record")] == "resolved"
    assert state[("driver.drugs", "new_driver")] == "open"
    assert state[("driver.drugs", "d_use_3y_minus_1")] == "resolved"
    assert state[("driver.mental", "m_until_today")] == "resolved"
    assert state[("worker.at_risk", "w_bus_until_today")] == "resolved"
    assert state[("data.qualification_active", "q_61_tomorrow")] == "open"
    assert state[("data.licence_not_cancelled", "n_30_days")] == "open"
    assert state[("driver.mental", "m_risk3")] == "open"  # carried unchanged
    # a re-run (an Airflow retry) of the same day recomputes in full and changes nothing
    again = risk_flags.run(spark, inc_profile, DAY2)
    assert set(again["mode"].values()) == {"full"}
    c = flags_table(spark, inc_profile)
    assert c.exceptAll(b).count() == 0 and b.exceptAll(c).count() == 0


def test_a_changed_rule_configuration_forces_a_full_recompute(spark, tmp_path, monkeypatch):
    from gridrisk.config import load_profile

    profile = load_profile("local", env={}, workdir=str(tmp_path))
    write_facts(spark, profile, PEOPLE, DS)
    write_facts(spark, profile, PEOPLE, DAY2)
    risk_flags.run(spark, profile, DS)
    real = risk_flags.load_rules

    def bumped():
        rules = real()
        return {**rules, "driver.mental": replace(rules["driver.mental"], version=2)}

    monkeypatch.setattr(risk_flags, "load_rules", bumped)
    out = risk_flags.run(spark, profile, DAY2)
    assert set(out["mode"].values()) == {"full"}
    versions = {r["rule_version"] for r in flags_table(spark, profile).where("rule_id = 'driver.mental' AND status = 'open'").collect()}
    assert versions == {2}


@pytest.mark.slow
def test_after_an_operator_restores_yesterdays_flags_the_next_run_chains_on_them(spark, tmp_path):
    from delta.tables import DeltaTable

    from gridrisk.config import load_profile

    profile = load_profile("local", env={}, workdir=str(tmp_path))
    write_facts(spark, profile, PEOPLE, DS)
    write_facts(spark, profile, day_two(), DAY2)
    risk_flags.run(spark, profile, DS)
    path = profile.table_path("gold", risk_flags.TABLE)
    table = DeltaTable.forPath(spark, path)
    day_one = table.history(1).first()["version"]
    risk_flags.run(spark, profile, DAY2)
    first = flags_table(spark, profile).localCheckpoint()
    table.restoreToVersion(day_one)  # e.g. after a bad day-two run
    assert risk_flags.last_run(spark, path)["ds"] == DS
    again = risk_flags.run(spark, profile, DAY2, full=False)
    assert all(m.startswith("incremental") for m in again["mode"].values()), again["mode"]
    second = flags_table(spark, profile)
    assert first.exceptAll(second).count() == 0 and second.exceptAll(first).count() == 0


def test_published_person_tasks_reach_their_district_and_carry_no_registry_details(spark, tmp_path):
    from gridrisk.config import load_profile
    from gridrisk.taskstore import open_store

    profile = load_profile("local", env={}, workdir=str(tmp_path))
    write_facts(spark, profile, PEOPLE, DS)
    risk_flags.run(spark, profile, DS)
    out = publish_tasks.run(spark, profile, DS)
    fired = sum(len(v) for v in EXPECTED.values())
    assert out["unroutable"] == 1  # m_homeless: flagged for analysts, no place to send it
    assert out["created"] == fired - 1
    tasks = open_store(profile.task_store).list_tasks("320115")
    assert len(tasks) == fired - 1
    mental = [t for t in tasks if t.rule_id == "driver.mental"]
    assert {(t.receiving_level, t.receiving_unit, t.department) for t in mental} == {("district", "320115", "公安交管")}
    for t in tasks:
        text = json.dumps(t.evidence, ensure_ascii=False) + t.explanation
        assert DIAGNOSIS not in text
        if t.rule_id in ("driver.mental", "data.licence_not_cancelled"):  # the traffic police's tasks
            assert "risk_level" not in text and "精神" not in text, text
    assert all("registry" not in t.evidence for t in mental)
    critical = [t for t in tasks if t.rule_id == "worker.at_risk" and t.severity == "critical"]
    assert [(t.department, t.priority) for t in critical] == [("公安", 1)]
