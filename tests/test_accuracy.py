"""The housing rules against the generator's planted truth, on a small generated province."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from gridrisk.accuracy import format_report, measure
from gridrisk.config import load_profile
from gridrisk.generate import generate
from jobs import pipeline

DS = "2026-11-01"


@pytest.mark.slow
def test_housing_rules_find_the_planted_rentals_and_nothing_else(spark, tmp_path):
    os.environ.setdefault("GRIDRISK_PSEUDONYM_KEY", "test-key")
    generate(inbox=tmp_path / "inbox", truth=tmp_path / "truth", persons=3000, seed=11,
             start_date=dt.date.fromisoformat(DS), progress=False)
    profile = load_profile("local", env={}, workdir=str(tmp_path))
    loaded = pipeline.ingest(DS, profile, datasets=["housing_units", "residence_registrations", "addresses"])
    assert [r["status"] for r in loaded["results"]] == ["loaded"] * 3
    pipeline.silver(DS, profile)
    pipeline.rules(DS, profile)
    results = {r.rule_id: r for r in measure(spark, profile, tmp_path / "truth", DS,
                                              ["rental.overcrowded", "rental.concentrated"])}
    report = format_report(list(results.values()))
    for rule_id, r in results.items():
        assert r.truth > 0, f"the generator planted no {rule_id}"
        assert r.precision == 1.0, report
        assert r.recall >= 0.99, report
