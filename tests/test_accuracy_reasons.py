"""Reasons for the accuracy report's misses and false positives, on hand-written truth files (no Spark)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gridrisk.privacy import person_key
from synth.accuracy import (
    INTACT,
    NO_TRUTH,
    NOT_PERSON,
    Explainer,
    PersonRecord,
    RuleAccuracy,
    SilverLinks,
    compare,
    false_positive_reason,
    format_report,
    miss_reason,
    read_person_records,
    to_markdown,
)

DS = "2026-11-01"
KEY = b"test-key"
TRUNCATED = "320115199001011234"  # licence ID truncated, mental health ID missing
INTACT_ID = "32011519850505432X"  # every record clean
FULLWIDTH = "320115197003031111"


@pytest.fixture
def truth(tmp_path: Path) -> Path:
    day = tmp_path / "20261101"
    day.mkdir()
    (day / "person_records.csv").write_text(
        "dataset,record_key,role,true_id_no,id_damage\n"
        f"persons,{TRUNCATED},resident,{TRUNCATED},none\n"
        f"driving_licences,DL0001,holder,{TRUNCATED},truncated\n"
        f"mental_health_registry,MH0001,patient,{TRUNCATED},missing\n"
        f"persons,{INTACT_ID},resident,{INTACT_ID},none\n"
        f"waybills,WB0001,driver,{INTACT_ID},none\n"
        f"persons,３２０１１５１９７００３０３１１１１,resident,{FULLWIDTH},fullwidth\n",
        encoding="utf-8")
    return tmp_path


def test_person_records_are_read_per_true_id(truth):
    people = read_person_records(truth, DS)
    assert set(people) == {TRUNCATED, INTACT_ID, FULLWIDTH}
    assert people[TRUNCATED][1] == PersonRecord("driving_licences", "DL0001", "holder", "truncated")
    assert people[TRUNCATED][1] == ("driving_licences", "DL0001", "holder", "truncated")


def test_a_miss_whose_licence_id_was_truncated_names_the_licence_and_the_truncation(truth):
    reason = miss_reason("person", TRUNCATED, read_person_records(truth, DS))
    assert "driving_licences holder record DL0001: ID truncated" in reason
    assert "mental_health_registry patient record MH0001: ID missing" in reason
    assert "probabilistic linkage" in reason
    assert "persons" not in reason  # the clean persons record is not a cause


def test_a_miss_with_every_id_intact_says_investigate(truth):
    reason = miss_reason("person", INTACT_ID, read_person_records(truth, DS))
    assert reason == f"all IDs intact (persons, waybills) — {INTACT}"
    assert "investigate" in reason


def test_a_repairable_damage_says_it_should_have_linked_exactly(truth):
    reason = miss_reason("person", FULLWIDTH, read_person_records(truth, DS))
    assert "persons resident record: ID in full-width characters" in reason
    assert "３" not in reason  # the persons record key is the ID: never printed
    assert "linked exactly" in reason


def test_non_person_and_unknown_subjects(truth):
    people = read_person_records(truth, DS)
    assert miss_reason("address", "32011500100200300001", people) == NOT_PERSON
    assert "no record of this person" in miss_reason("person", "110101199912120000", people)
    assert "no person_records.csv" in miss_reason("person", TRUNCATED, None)


def test_silver_says_how_each_damaged_record_was_linked(truth):
    people = read_person_records(truth, DS)
    right = person_key(TRUNCATED, KEY)
    silver = SilverLinks.from_rows([
        {"dataset": "driving_licences", "record_key": "DL0001", "role": "holder", "person_key": "pwrongwrongwrongwron",
         "link_method": "probabilistic"},
        ("mental_health_registry", "MH0001", "patient", "u123", "unlinked"),
        ("persons", "hashed", "resident", right, "exact"),
    ])
    reason = miss_reason("person", TRUNCATED, people, silver, KEY)
    assert "ID truncated by Excel (000 or E+17), linked probabilistically to the wrong person" in reason
    assert "ID missing, left unlinked" in reason

    fixed = SilverLinks.from_rows([("driving_licences", "DL0001", "holder", right, "probabilistic"),
                                   ("mental_health_registry", "MH0001", "patient", right, "probabilistic")])
    assert "a rule defect, investigate" in miss_reason("person", TRUNCATED, people, fixed, KEY)


def test_false_positive_reasons(truth):
    people = read_person_records(truth, DS)
    intact_key = person_key(INTACT_ID, KEY)
    silver = SilverLinks.from_rows([
        ("waybills", "WB0001", "driver", intact_key, "exact"),
        ("driving_licences", "DL0001", "holder", intact_key, "probabilistic"),  # TRUNCATED's licence, linked wrongly
    ])
    reason = false_positive_reason("person", intact_key, people, silver, KEY)
    assert "320115********432X" in reason and INTACT_ID not in reason
    assert "waybills driver record WB0001 (exact)" in reason
    assert "another person's record(s) linked in: driving_licences holder record DL0001" in reason
    assert "unlinked record" in false_positive_reason("person", "u0000", people, silver, KEY)
    assert "nobody in the truth" in false_positive_reason("person", "pnobody", people, None, KEY)
    assert false_positive_reason("building", "3201150010", people) == NOT_PERSON


def test_format_report_prints_reasons_and_to_markdown_has_a_row_per_rule(truth):
    why = Explainer(read_person_records(truth, DS))
    results = [
        RuleAccuracy("hazmat.unfit_driver", 2, 1, 0,
                     false_positives=[("pfalse", why.false_positive("person", "pfalse"))],
                     misses=[("p1", "truncated licence", why.miss("person", TRUNCATED)),
                             ("p2", "clean", why.miss("person", INTACT_ID))]),
        RuleAccuracy("rental.overcrowded", 3, 3, 3),
    ]
    report = format_report(results, limit=1)
    lines = report.splitlines()
    assert lines[0].split() == ["rule", "truth", "flagged", "TP", "precision", "recall"]
    assert lines[1].startswith("hazmat.unfit_driver")
    assert "    missed: p1  (truncated licence)" in lines
    assert any(line.strip().startswith("why:") and "driving_licences" in line and "truncated" in line for line in lines)
    assert "    … 1 more misses" in lines
    assert "    false positive: pfalse" in lines
    assert lines[-1].startswith("rental.overcrowded")

    table = to_markdown(results).splitlines()
    assert len(table) == 2 + len(results)
    assert table[2].startswith("| hazmat.unfit_driver | 2 | 1 | 0 | 0.0 | 0.0 | 2 | 1 |")
    assert table[3] == "| rental.overcrowded | 3 | 3 | 3 | 1.0 | 1.0 | 0 | 0 |"
    with_persons = to_markdown(results, ("persons (seed 42)", "20,000")).splitlines()
    assert with_persons[0].startswith("| persons (seed 42) | rule |")
    assert all(row.startswith("| 20,000 | ") for row in with_persons[2:])


def _truth_with_manifest(root: Path, planted: list[str], flags: list[str]) -> Path:
    """A truth folder as the generator writes it: the manifest names the planted rules."""
    (root / "20261101").mkdir(parents=True, exist_ok=True)
    (root / "20261101" / "flags.csv").write_text("rule_id,subject_type,subject_key,detail\n" + "".join(
        f"{line}\n" for line in flags), encoding="utf-8")
    (root / "manifest.json").write_text(json.dumps({"planted_per_date": {r: {"positives": 1, "near_misses": 1}
                                                                         for r in planted}}), encoding="utf-8")
    return root


def test_a_rule_without_planted_truth_is_reported_as_no_truth_not_as_a_failure(tmp_path):
    """A rule added in YAML alone has flags but no truth: counted, not judged, no precision."""
    truth = _truth_with_manifest(tmp_path, ["rental.overcrowded", "fire.offline"],
                                 ["rental.overcrowded,address,32011510100100010001,4 adults",
                                  "rental.overcrowded,address,32011510100100010002,5 adults"])
    fired = {"rental.overcrowded": {"32011510100100010001": "address", "32011510100100019999": "address"},
             "rental.new_in_yaml": {"32011510100100010003": "address", "32011510100100010004": "address"}}
    results = {r.rule_id: r for r in compare(truth, DS, fired, ["fire.offline", "rental.new_in_yaml", "rental.overcrowded"])}

    new = results["rental.new_in_yaml"]
    assert (new.has_truth, new.truth, new.flagged, new.true_positives) == (False, 0, 2, 0)
    assert new.precision is None and new.recall is None
    assert new.misses == [] and new.false_positives == []
    # A covered rule is still judged, false positives and misses included …
    over = results["rental.overcrowded"]
    assert (over.has_truth, over.truth, over.flagged, over.true_positives) == (True, 2, 2, 1)
    assert over.precision == 0.5 and over.recall == 0.5
    assert [s for s, _ in over.false_positives] == ["32011510100100019999"]
    assert [s for s, _, _ in over.misses] == ["32011510100100010002"]
    # … and a covered rule with nothing planted on the date is a perfect zero, not "no truth".
    off = results["fire.offline"]
    assert (off.has_truth, off.truth, off.flagged, off.precision, off.recall) == (True, 0, 0, 1.0, 1.0)

    report = format_report(list(results.values())).splitlines()
    line = next(x for x in report if x.startswith("rental.new_in_yaml"))
    assert NO_TRUTH in line and line.split()[:3] == ["rental.new_in_yaml", "-", "2"]
    row = next(x for x in to_markdown(list(results.values())).splitlines() if x.startswith("| rental.new_in_yaml"))
    assert row == "| rental.new_in_yaml | - | 2 | - | no truth | no truth | - | - |"


def test_without_a_truth_manifest_the_rules_in_flags_csv_are_the_covered_ones(tmp_path):
    (tmp_path / "20261101").mkdir()
    (tmp_path / "20261101" / "flags.csv").write_text(
        "rule_id,subject_type,subject_key,detail\nrental.concentrated,building,3201151010010001,10 rooms\n", encoding="utf-8")
    results = {r.rule_id: r for r in compare(tmp_path, DS, {"driver.mental": {"pk": "person"}})}
    assert results["rental.concentrated"].has_truth and results["rental.concentrated"].recall == 0.0
    assert not results["driver.mental"].has_truth  # no key needed: an unjudged rule's subjects are not looked up


def test_vehicle_and_fire_unit_misses_say_what_silver_holds(tmp_path):
    """A hazmat or fire subject missed or flagged in excess is explained from the silver stages'
    tables (asked once, for exactly those subjects), never with the person-only placeholder."""
    from synth.accuracy import unit_reason, vehicle_reason

    truth = _truth_with_manifest(tmp_path, ["hazmat.speeding", "fire.fault_open"],
                                 ["hazmat.speeding,vehicle,苏A00001,90 km/h for 60 s",
                                  "fire.fault_open,unit,XF1/D1,fault open 30 h"])
    fired = {"hazmat.speeding": {"苏A00002": "vehicle"}, "fire.fault_open": {}}
    asked: list[set] = []

    def others(subjects):
        asked.append(set(subjects))
        return {("vehicle", "苏A00001"): vehicle_reason("苏A00001", 0, None, {"outside China": 3}, 1, []),
                ("vehicle", "苏A00002"): vehicle_reason("苏A00002", 120, ("08:00", "09:00"), {}, 1,
                                                        ["driver ID unusable (truncated) and linked to nobody"]),
                ("unit", "XF1/D1"): unit_reason("XF1/D1", True, [("fault", 23.5)], {"event time missing": 1}, "2026-06-01")}

    results = {r.rule_id: r for r in compare(truth, DS, fired, others=others)}
    assert asked == [{("vehicle", "苏A00001"), ("vehicle", "苏A00002"), ("unit", "XF1/D1")}]
    (plate, _, why), = results["hazmat.speeding"].misses
    assert plate == "苏A00001" and why.startswith("plate 苏A00001: 0 GPS reports accepted; 3 rejected: outside China ×3")
    assert "check the GPS delivery" not in why  # it has a waybill
    (extra, why), = results["hazmat.speeding"].false_positives
    assert extra == "苏A00002" and "crew data problem: driver ID unusable" in why and "120 GPS reports accepted (08:00 – 09:00)" in why
    (unit, _, why), = results["fire.fault_open"].misses
    assert unit == "XF1/D1" and why.startswith("XF1/D1: fault open 23.5 h at day end; last inspection 2026-06-01; "
                                               "events rejected: event time missing ×1")
    assert unit_reason("XF9/D1", False, [], {}) == "unit XF9 not in silver fire_unit_state (not in the fire unit register on that day)"
    assert NOT_PERSON not in format_report(list(results.values()))
