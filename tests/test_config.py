"""Profiles, schemas, rules and the Java check: plain Python, no Spark."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gridrisk import spark as spark_factory
from gridrisk.config import ConfigError, _parse_schema, load_profile, load_schema, schema_names
from gridrisk.rules import load_routing, load_rules, parse_rule


def test_local_profile_resolves_relative_paths_against_the_workdir(tmp_path):
    prof = load_profile("local", env={}, workdir=str(tmp_path))
    assert prof.lake == str(tmp_path / "lake") and prof.inbox == str(tmp_path / "inbox")
    assert prof.task_store == f"sqlite:///{tmp_path}/lake/_tasks/tasks.sqlite"
    assert prof.spark_master == "local[*]"
    assert prof.table_path("bronze", "persons") == f"{tmp_path}/lake/bronze/persons"


def test_cluster_profile_takes_everything_from_the_environment_and_lists_every_missing_variable():
    with pytest.raises(ConfigError) as err:
        load_profile("cluster", env={"GRIDRISK_SPARK_MASTER": "spark://m:7077"})
    text = str(err.value)
    for var in ("GRIDRISK_LAKE_URI", "GRIDRISK_INBOX_URI", "GRIDRISK_REPORTS_URI", "GRIDRISK_TASK_STORE_DSN"):
        assert f"environment variable {var} is not set" in text
    env = {"GRIDRISK_SPARK_MASTER": "spark://m:7077", "GRIDRISK_LAKE_URI": "s3a://lake/g", "GRIDRISK_INBOX_URI": "s3a://in",
           "GRIDRISK_REPORTS_URI": "s3a://rep", "GRIDRISK_TASK_STORE_DSN": "postgresql://g@db/g"}
    prof = load_profile("cluster", env=env)
    assert (prof.lake, prof.task_store, prof.spark_conf["spark.sql.shuffle.partitions"]) == (
        "s3a://lake/g", "postgresql://g@db/g", "200")


def test_rules_run_in_full_unless_the_profile_or_the_environment_turns_incremental_on(tmp_path):
    assert load_profile("local", env={}, workdir=str(tmp_path)).rules_incremental is False
    assert load_profile("local", env={"GRIDRISK_RULES_INCREMENTAL": "true"}, workdir=str(tmp_path)).rules_incremental
    assert not load_profile("local", env={"GRIDRISK_RULES_INCREMENTAL": "no"}, workdir=str(tmp_path)).rules_incremental
    with pytest.raises(ConfigError, match="rules.incremental .* must be true or false, not 'sometimes'"):
        load_profile("local", env={"GRIDRISK_RULES_INCREMENTAL": "sometimes"}, workdir=str(tmp_path))


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(ConfigError, match="known profiles: cluster, local"):
        load_profile("nope", env={})


def test_every_schema_loads_and_declares_the_contract_headers():
    assert len(schema_names()) == 17
    persons = load_schema("persons")
    assert persons.source_names == ["公民身份号码", "姓名", "性别", "出生日期", "联系电话", "居住地址编码", "登记日期"]
    assert (persons.encoding, persons.date_format, persons.kind) == ("gbk", "yyyy/MM/dd", "snapshot")
    assert load_schema("addresses").delivery == "reference"


def test_a_bad_schema_reports_every_problem_at_once(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text(
        "dataset: other\ndepartment: x\nkind: sometimes\nformat: xls\nencoding: klingon\nbusiness_key: [nope]\n"
        "columns:\n  - {name: a, source: A, type: float}\n  - {name: b, source: B, type: boolean}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        _parse_schema(path)
    assert len(err.value.problems) == 7, err.value.problems


def test_rules_load_and_a_bad_rule_lists_all_its_problems():
    rules = load_rules()
    assert {"rental.overcrowded", "rental.concentrated"} <= set(rules)
    assert rules["rental.overcrowded"].params_for_city("3205")["max_non_family_per_room"] == 2
    problems: list[str] = []
    parse_rule({"id": "Bad", "version": 0, "kind": "overcrowded_rental", "title": "t", "owner": "o", "severity": "huge",
                "params": {"min_unrelated_adults": "4"}, "explanation": "住{nobody}人", "analyst_explanation": "x"},
               "test", problems)
    text = "\n".join(problems)
    assert "id must look like" in text and "version must be" in text and "severity must be" in text
    assert "parameter max_area_per_occupant_m2 is missing" in text
    assert "parameter min_unrelated_adults must be int" in text
    assert "unknown fact(s) nobody" in text
    assert load_routing().route("rental.overcrowded", "high").level == "community"


def test_no_java_or_the_wrong_java_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(spark_factory.EnvironmentProblem, match="Java not found: Spark needs Java 17"):
        spark_factory.check_java()
    jdk25 = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
    if jdk25.exists():
        monkeypatch.setenv("JAVA_HOME", str(jdk25))
        with pytest.raises(spark_factory.EnvironmentProblem, match=r"Java 25 found but Spark 4 needs Java 17 or 21"):
            spark_factory.check_java()
    monkeypatch.delenv("JAVA_HOME")
    assert spark_factory.check_java() in (17, 21)


def test_delta_jar_matches_the_installed_packages():
    from importlib.metadata import version

    assert spark_factory.delta_package() == f"io.delta:delta-spark_4.2_2.13:{version('delta-spark')}"
    assert os.path.basename(str(spark_factory.ivy_dir())).startswith(".ivy2")


def test_person_rules_and_compounds_load_and_their_mistakes_are_listed(tmp_path: Path):
    from gridrisk.config import ConfigError
    from gridrisk.rules import escalated, load_compounds

    rules = load_rules()
    assert {"driver.mental", "driver.drugs", "data.licence_not_cancelled", "worker.at_risk",
            "data.qualification_active"} <= set(rules)
    assert all(r.version >= 1 and r.owner for r in rules.values())
    assert rules["data.licence_not_cancelled"].params["held_more_than_days"] == 30
    assert rules["driver.mental"].task_evidence == ("licences", "person")
    assert [(c.id, c.mode, c.subject_types) for c in load_compounds()] == [
        ("compound.person_in_group_rental", "lives_in", ("person",)),
        ("compound.unit_in_group_rental_grid", "same_grid", ("unit",)),
        ("compound.vehicle_crew_flagged", "crew_of", ("vehicle",))]
    assert (escalated("medium", 1), escalated("high", 1), escalated("critical", 2)) == ("high", "critical", "critical")

    good = dict(rules["driver.mental"].params)
    problems: list[str] = []
    parse_rule({"id": "driver.x", "version": 1, "kind": "licence_condition", "title": "t", "owner": "o", "severity": "high",
                "params": {**good, "conditions": ["mental", "gambling"], "mental_incident_history": "yes"},
                "task_evidence": "licences", "explanation": "x", "analyst_explanation": "x"}, "test", problems)
    text = "\n".join(problems)
    assert "unknown registry 'gambling'" in text
    assert "parameter mental_incident_history must be bool" in text
    assert "task_evidence must be a list" in text

    (tmp_path / "r.yaml").write_text(
        "compound:\n  - {id: c.x, version: 1, title: t, mode: nearby, subject_types: [person, enterprise], source_rules: [no.such],"
        " escalate_levels: 0, note: '{who}'}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_compounds(tmp_path, rules=rules)
    text = str(err.value)
    assert "mode must be one of" in text and "unknown: no.such" in text and "escalate_levels" in text and "who" in text
    # no declared rule produces an enterprise subject: a compound naming one is a mistake, not a no-op
    assert "subject_types must name subjects a declared rule produces" in text and "unknown: enterprise" in text
