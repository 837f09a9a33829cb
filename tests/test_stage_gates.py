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
    """Waybills and the drug registry did not arrive: entity resolution still links everyone
    else, and only the rules that read the registry are skipped (saying why); the qualification
    rule runs."""
    from gridrisk.config import load_profile

    profile = load_profile("local", env={}, workdir=str(tmp_path)).with_inbox(str(province / "inbox"))
    arrived = [d for d in CATALOG.stage("link").bronze_inputs if d not in ("waybills", "drug_registry")]
    pipeline.ingest(DAY1, profile, datasets=arrived)

    link = pipeline.link(DAY1, profile)
    assert "skipped" not in link
    assert sorted(p.split(":")[0] for p in link["partial"]) == ["drug_registry", "waybills"]
    assert link["left_out"] == {"person_registry": ["drug_registry"]}
    assert {"person_records", "person_licences", "person_qualifications", "person_profile"} <= set(link["tables"])
    assert "person_registry" not in link["tables"]
    linked = lake.read_partition(spark, profile, "silver", "person_records", DAY1)
    assert linked.where("dataset = 'driving_licences'").count() > 0
    assert linked.where("dataset IN ('waybills', 'drug_registry')").count() == 0

    rules = pipeline.rules(DAY1, profile)
    assert "data.qualification_active" in rules["evaluated"]
    for rule_id in ("driver.mental", "driver.drugs", "worker.at_risk", "data.licence_not_cancelled"):
        assert rule_id in rules["skipped"]
        assert "person_registry" in rules["skip_reasons"][rule_id]
