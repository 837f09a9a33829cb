"""Quarantine against the rules that read a column (docs/quality.md "Quarantine against the rules"):
a row whose defect does not touch what a rule reads stays; the defect is measured at batch level."""

from __future__ import annotations

import datetime as dt

from gridrisk import ids, lake
from gridrisk.config import load_schema, read_yaml, repo_root
from gridrisk.delivery import write_delivery
from gridrisk.quality import suite_checks
from jobs.bronze import ingest
from jobs.quality import validate
from jobs.silver import person_facts

DS = "2026-11-01"
LICENCE_HEADER = "档案编号,证件号码,姓名,准驾车型,状态,初次领证日期,有效期止,状态变更日期"
DRUGS_HEADER = "人员编号,公民身份号码,姓名,管控状态,最近吸毒日期,解除强制隔离戒毒日期,决定日期"


def person_id(i: int) -> str:
    return ids.make_id("320115", dt.date(1980, 1, 1) + dt.timedelta(days=i), 100 + i)


def rule_params(key: str) -> set[tuple[str, ...]]:
    rules = read_yaml(repo_root() / "conf" / "rules" / "persons.yaml")["rules"]
    return {tuple(r["params"][key]) for r in rules if key in (r.get("params") or {})}


def test_date_checks_quarantine_drug_records_only_where_the_date_decides_the_rule():
    """Under a control status the drugs condition fires on the status alone; elsewhere the dates decide."""
    [control] = rule_params("drug_control_statuses")
    statuses = set(load_schema("drug_registry").column("control_status").enum or ())
    checks = {c.name: c for c in suite_checks("drug_registry")}
    for name in ("drug_registry.last_use_not_in_future", "drug_registry.release_not_in_future"):
        assert checks[name].level == "row"
        assert set(checks[name].only_when["control_status"]) == statuses - set(control), name


def test_no_row_check_on_licence_or_qualification_dates_the_rules_do_not_read():
    """The licence and qualification rules read status and valid_until only (gridrisk.rules.kinds.persons.licence_valid,
    qualification_active, qualification_inconsistent): date-consistency checks keep the row."""
    for dataset, dates in (("driving_licences", {"first_issue_date"}), ("transport_workers", {"issue_date"})):
        for c in suite_checks(dataset):
            if set(c.value_columns) & dates:
                assert c.level == "batch", c.name


def test_cancelled_licence_with_validity_before_first_issue_stays_in_bronze_and_reaches_silver(spark, profile):
    rows = [f"DL{i:04d},{person_id(i)},张三{i},C1,正常,2015-03-0{1 + i % 9},2031-03-01," for i in range(20)]
    # 注销 with 有效期止 before 初次领证日期: exactly what data.qualification_active reads (status + date)
    rows.append(f"DL9999,{person_id(99)},李四,A2,注销,2019-05-01,2013-05-01,2024-08-15")
    write_delivery(profile.inbox, "driving_licences", DS, "snapshot", {"driving_licences_20261101.csv": (
        ("\r\n".join([LICENCE_HEADER, *rows]) + "\r\n").encode("gbk"), len(rows))})
    assert ingest.run(spark, profile, "driving_licences", DS).rows_accepted == 21

    result = validate.run(spark, profile, "driving_licences", DS, data_docs=False)

    assert result["passed"], result["message"]
    assert (result["rows_failed"], result["rows_moved"]) == (0, 0)
    exp = {e["name"]: e for e in result["expectations"]}["driving_licences.valid_until_not_before_first_issue"]
    assert (exp["level"], exp["unexpected_count"], exp["success"]) == ("batch", 1, True)  # measured, 1 of 21 < 5 %
    bronze = lake.read_partition(spark, profile, "bronze", "driving_licences", DS)
    assert bronze.where("file_no = 'DL9999'").count() == 1

    records = spark.createDataFrame(
        [("driving_licences", f"DL{i:04d}", f"p{i:019d}", "exact_id", "张*") for i in [*range(20), 9999]],
        "dataset string, record_key string, person_key string, link_method string, name_masked string")
    master = spark.createDataFrame([], "person_key string, name_masked string, birth_date date, address_code string")
    silver = person_facts.transform(records, master, {"driving_licences": bronze}, DS)[person_facts.LICENCES]
    [cancelled] = silver.where("file_no = 'DL9999'").collect()
    assert (cancelled.person_key, cancelled.status, str(cancelled.status_changed_date)) == (
        "p0000000000000009999", "注销", "2024-08-15")


def test_future_last_use_moves_only_the_record_whose_status_leaves_the_date_to_decide(spark, profile):
    future = "2027/06/01"
    rows = [f"D{i:04d},{person_id(i)},王五{i},社区康复,2025/01/0{1 + i % 9},,2025/02/01" for i in range(60)]
    rows += [f"D8000,{person_id(80)},赵六,社区戒毒,{future},,2026/01/05",  # the status fires the rule: stays
             f"D8001,{person_id(81)},钱七,戒断三年未复吸,{future},,2020/01/05"]  # the date decides: moved
    write_delivery(profile.inbox, "drug_registry", DS, "snapshot", {"drug_registry_20261101.csv": (
        ("\r\n".join([DRUGS_HEADER, *rows]) + "\r\n").encode("gbk"), len(rows))})
    assert ingest.run(spark, profile, "drug_registry", DS).rows_accepted == 62

    result = validate.run(spark, profile, "drug_registry", DS, data_docs=False)

    assert result["passed"], result["message"]
    q = lake.read_partition(spark, profile, "bronze", "_quarantine", DS).where("dataset = 'drug_registry'").collect()
    assert [(r.row_number, r.reason_code) for r in q] == [(62, "drug_registry.last_use_not_in_future")]
    kept = {r.person_no for r in lake.read_partition(spark, profile, "bronze", "drug_registry", DS).collect()}
    assert "D8000" in kept and "D8001" not in kept and len(kept) == 61
    # GX applies the same condition: its unexpected count is the one row moved
    exp = {e["name"]: e for e in result["expectations"]}["drug_registry.last_use_not_in_future"]
    assert exp["unexpected_count"] == exp["quarantined"] == 1
