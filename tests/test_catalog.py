"""The catalog is the one source of truth for the pipeline's graph; rule kinds own their facts.

No JVM here: these run in the fast tier.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gridrisk.catalog import BRONZE_DATASETS, CATALOG, STAGES, Catalog, Stage, Table
from gridrisk.config import ConfigError, load_profile, schema_names

REPO = Path(__file__).resolve().parents[1]


def test_the_catalog_is_consistent_and_covers_every_schema():
    assert CATALOG.problems() == []
    assert sorted(BRONZE_DATASETS) == sorted(schema_names())
    assert STAGES == ("ingest", "silver", "link", "vehicle_tracks", "fire_state", "rules", "publish", "report")


def test_stage_map_equals_the_catalogs_stages():
    from jobs import pipeline

    assert tuple(pipeline.STAGE_FUNCTIONS) == STAGES


def test_the_link_stage_reads_the_addresses_it_places_people_with():
    link = CATALOG.stage("link")
    assert "addresses" in link.bronze_inputs
    assert "grids" not in CATALOG.stage("silver").bronze_inputs  # silver never reads grids


def test_a_stage_reading_a_table_that_is_not_in_the_catalog_is_named():
    broken = Catalog(
        (Table("bronze", "persons", ("ds",), "ingest", "x"),),
        (Stage("ingest", "jobs.bronze.ingest", (), ("bronze.persons",), "x"),
         Stage("silver", "jobs.x", ("bronze.persons", "bronze.ghosts"), ("silver.nowhere",), "x")),
    )
    problems = "\n".join(broken.problems())
    assert "stage silver: bronze.ghosts is not in the catalog" in problems
    assert "stage silver: silver.nowhere is not in the catalog" in problems
    with pytest.raises(KeyError, match="silver.nowhere is not in the lake catalog"):
        broken.table("silver.nowhere")


def test_the_whole_configuration_checks_clean_and_a_bad_task_store_stops_the_run_at_start(tmp_path):
    from jobs import pipeline

    profile = load_profile("local", env={}, workdir=str(tmp_path))
    assert pipeline.config_problems(profile) == []
    from dataclasses import replace

    bad = replace(profile, task_store="/path/without/scheme")
    with pytest.raises(ConfigError, match="task store '/path/without/scheme'"):
        pipeline.check_config(bad)
    with pytest.raises(ConfigError):  # run_daily checks before any work: no Spark session is needed
        pipeline.run_daily("2026-11-01", bad)


def test_a_linkage_source_outside_the_link_stage_is_a_load_error(tmp_path, monkeypatch):
    from jobs import pipeline
    from jobs.silver import person_master

    real = person_master.load_linkage_config()

    class Extra:
        datasets = [*real.datasets, "fire_units"]

    monkeypatch.setattr(person_master, "load_linkage_config", lambda: Extra)
    problems = pipeline.config_problems(load_profile("local", env={}, workdir=str(tmp_path)))
    assert problems == ["conf/linkage.yaml: source fire_units is not an input of the link stage in gridrisk/catalog.py"]


def test_every_kind_declares_what_it_needs_and_its_inputs_are_in_the_catalog():
    from gridrisk.rules.kinds import KINDS

    for kind in KINDS.values():
        assert kind.declaration_problems() == [], kind.name
        for name in kind.input_names():
            assert CATALOG.find(name, layers=("silver", "gold")).ref in CATALOG.stage("rules").reads


def test_person_rules_must_say_what_evidence_their_task_carries_and_name_only_real_keys():
    from gridrisk.rules import load_rules, parse_rule

    base = load_rules()["driver.mental"]
    raw = {"id": "driver.y", "version": 1, "kind": "licence_condition", "title": "t", "owner": "o", "severity": "high",
           "params": dict(base.params), "explanation": "x", "analyst_explanation": "x"}
    problems: list[str] = []
    assert parse_rule(raw, "test", problems) is None
    assert "task_evidence is required for a rule about a person" in problems[0]
    problems = []
    parse_rule({**raw, "task_evidence": ["licences", "diagnosis"]}, "test", problems)
    assert problems == ["test (driver.y): task_evidence names unknown evidence key(s) diagnosis; "
                        "kind licence_condition produces licences, registry, person"]
    # a housing rule without task_evidence is valid and sends no evidence (deny by default)
    housing = dict(load_rules()["rental.concentrated"].params)
    rule = parse_rule({"id": "rental.x", "version": 1, "kind": "concentrated_rental", "title": "t", "owner": "o",
                       "severity": "low", "params": housing, "explanation": "x", "analyst_explanation": "x"}, "t", [])
    assert rule is not None and rule.task_evidence == ()


def test_a_new_rule_of_an_existing_kind_is_yaml_only(tmp_path):
    import shutil

    from gridrisk.rules import load_routing, load_rules

    rules_dir = tmp_path / "rules"
    shutil.copytree(REPO / "conf" / "rules", rules_dir)
    (rules_dir / "extra.yaml").write_text(
        "rules:\n  - id: rental.big_buildings\n    version: 1\n    kind: concentrated_rental\n    title: 大楼\n"
        "    owner: 公安\n    severity: low\n    params: {min_rooms_let: 30, min_occupants: 40}\n    task_evidence: [units]\n"
        "    explanation: \"出租{rooms_let}间\"\n    analyst_explanation: \"{units}套\"\n", encoding="utf-8")
    routing = load_routing()
    routes = dict(routing.routes)
    routes["rental.big_buildings"] = routes["rental.concentrated"]
    from gridrisk.rules import Routing

    rules = load_rules(rules_dir, routing=Routing(routing.priority_of_severity, routes))
    assert rules["rental.big_buildings"].subject_type == "building"


def test_a_rule_whose_task_would_name_a_registry_detail_does_not_load():
    from gridrisk.rules import load_rules, parse_rule

    base = load_rules()["driver.drugs"]
    raw = {"id": "driver.z", "version": 1, "kind": "licence_condition", "title": "涉毒人员驾驶证核查", "owner": "o",
           "severity": "high", "params": dict(base.params), "task_evidence": ["licences", "registry", "person"],
           "explanation": "持证人为{conditions}，属社区戒毒人员", "analyst_explanation": "{conditions}"}
    problems: list[str] = []
    assert parse_rule(raw, "t", problems) is None
    text = "\n".join(problems)
    assert "title: text contains '涉毒'" in text
    assert "explanation: text contains '社区戒毒'" in text
    assert "explanation quotes conditions" in text
    assert "task_evidence carries registry" in text


def test_every_read_of_a_restricted_table_is_logged_with_who_and_when(tmp_path, monkeypatch):
    import json

    from gridrisk import lake

    profile = load_profile("local", env={}, workdir=str(tmp_path))
    monkeypatch.setenv("GRIDRISK_ACTOR", "analyst-7")
    lake.audit_read(profile, "bronze", "mental_health_registry")
    lake.audit_read(profile, "silver", "person_registry_mental", "ds=2026-11-01")
    lake.audit_read(profile, "gold", "risk_flags")  # masked: not logged
    lines = (Path(profile.lake) / "_audit" / "unmasked_reads.jsonl").read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert [(e["table"], e["who"]) for e in entries] == [("bronze.mental_health_registry", "analyst-7"),
                                                         ("silver.person_registry_mental", "analyst-7")]
    assert entries[0]["at"].endswith("+08:00") or entries[0]["at"][-6] in "+-"
