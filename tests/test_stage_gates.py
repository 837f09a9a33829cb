"""Stage gates come from the catalog: a stage runs only on the day's own inputs.

The link stage places people in grids through the addresses reference. When the day's addresses
have not landed yet, it must not link with yesterday's (a re-run would give another table): it
is skipped, loudly, and writes nothing for the day.
"""

from __future__ import annotations

import datetime as dt

import pytest

from gridrisk import lake
from gridrisk.catalog import CATALOG
from jobs import pipeline

pytestmark = pytest.mark.spark

DAY1, DAY2 = "2026-11-01", "2026-11-02"


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    from synth.generate import generate

    root = tmp_path_factory.mktemp("province")
    generate(inbox=root / "inbox", truth=root / "truth", persons=1000, seed=11,
             start_date=dt.date.fromisoformat(DAY1), days=2, progress=False)
    return root


def test_link_waits_for_the_days_addresses_and_never_reads_yesterdays(spark, province, tmp_path):
    from gridrisk.config import load_profile

    profile = load_profile("local", env={}, workdir=str(tmp_path)).with_inbox(str(province / "inbox"))
    pipeline.ingest(DAY1, profile, datasets=["addresses"], quality=False)  # yesterday's reference is there
    link_inputs = [d for d in CATALOG.stage("link").bronze_inputs if d != "addresses"]
    loaded = pipeline.ingest(DAY2, profile, datasets=link_inputs, quality=False)
    assert {r["status"] for r in loaded["results"]} == {"loaded"}

    out = pipeline.link(DAY2, profile)
    assert out["skipped"] == [f"addresses: not ingested for {DAY2}"]
    assert out["tables"] == {}
    for table in CATALOG.stage("link").writes:
        layer, name = table.split(".")
        path = profile.table_path(layer, name)
        assert not lake.table_exists(spark, path) or lake.read_partition(spark, profile, layer, name, DAY2).isEmpty(), table


def test_a_missing_department_skips_only_the_rules_that_read_it(spark, province, tmp_path):
    """Day 1 is whole; on day 2 waybills and the drug registry did not arrive. Entity resolution
    still links everyone else and writes the mental-health registry's table, not the drug
    registry's; only the rules that read the drug registry alone are skipped (saying why):
    driver.mental and the qualification rule run. The rules that read both registries run on
    the mental-health one, partially: they file what fires and resolve none of day 1's flags (the
    missing registry may still hold them up), and the day's account says so."""
    import json

    from pyspark.sql import functions as F

    from gridrisk.config import load_profile

    profile = load_profile("local", env={}, workdir=str(tmp_path)).with_inbox(str(province / "inbox"))
    link_inputs = list(CATALOG.stage("link").bronze_inputs)
    pipeline.ingest(DAY1, profile, datasets=link_inputs, quality=False)
    assert not pipeline.link(DAY1, profile).get("partial")
    day1 = pipeline.rules(DAY1, profile)
    both = ("worker.at_risk", "data.licence_not_cancelled")
    assert {"driver.mental", "driver.drugs", *both} <= set(day1["evaluated"]) and not day1["partial_rules"]
    flags = lake.read(spark, profile, "gold", "risk_flags")
    open1 = {(r["rule_id"], r["flag_id"]): r for r in flags.where(F.col("rule_id").isin(*both) & (F.col("status") == "open")).collect()}
    drug_only = [k for k, r in open1.items() if {e["registry"] for e in json.loads(r["evidence"])["registry"]} == {"drugs"}]
    assert drug_only, "the generated day 1 has flags held up by the drug registry alone"

    arrived = [d for d in link_inputs if d not in ("waybills", "drug_registry")]
    # Without the quality suites on either day (tests/test_quality*.py): they cost minutes here.
    # The stages run through run_stage, which writes the day's run log the account reads.
    pipeline.ingest(DAY2, profile, datasets=arrived, quality=False)
    link = pipeline.run_stage("link", DAY2, profile)
    assert "skipped" not in link
    assert sorted(p.split(":")[0] for p in link["partial"]) == ["drug_registry", "waybills"]
    assert link["left_out"] == {"person_registry_drugs": ["drug_registry"]}
    assert {"person_records", "person_licences", "person_qualifications", "person_registry_mental",
            "person_profile"} <= set(link["tables"])
    assert "person_registry_drugs" not in link["tables"]
    linked = lake.read_partition(spark, profile, "silver", "person_records", DAY2)
    assert linked.where("dataset = 'driving_licences'").count() > 0
    assert linked.where("dataset IN ('waybills', 'drug_registry')").count() == 0

    rules = pipeline.run_stage("rules", DAY2, profile)
    assert {"driver.mental", "data.qualification_active", *both} <= set(rules["evaluated"])
    assert "driver.drugs" in rules["skipped"] and "driver.mental" not in rules["skipped"]
    assert rules["skip_reasons"]["driver.drugs"].startswith(f"no person_registry_drugs for {DAY2}")
    assert set(rules["partial_rules"]) == set(both)
    for rule_id in both:
        assert rules["mode"][rule_id].startswith("partial: ran without person_registry_drugs")

    flags = lake.read(spark, profile, "gold", "risk_flags")
    after = {(r["rule_id"], r["flag_id"]): r for r in flags.where(F.col("rule_id").isin(*both)).collect()}
    assert all(after[k]["status"] == "open" for k in open1), "a partial rule resolved a flag"
    assert {after[k]["last_seen"].isoformat() for k in drug_only} == {DAY1}  # kept, not seen again today
    assert flags.where((F.col("rule_id") == "driver.drugs") & (F.col("last_seen") == F.lit(DAY2).cast("date"))).isEmpty()

    account = pipeline.summarise(DAY2, profile)
    assert account["outcome"] == "partial"
    assert "driver.drugs" in account["skipped_rules"] and set(account["partial_rules"]) == set(both)
    assert "rules run partially: data.licence_not_cancelled, worker.at_risk" in account["reason"]
