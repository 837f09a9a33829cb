"""The run log's rows and the day's account (jobs/runlog.py), the delivery schedule
(gridrisk/arrival.py) and the run alerts (gridrisk/alerts.py): pure, no JVM, no Airflow.
The Delta side and the whole flow run in tests/test_dags.py (dag.test of a partial day)."""

from __future__ import annotations

import datetime as dt

import pytest

from gridrisk import alerts
from gridrisk.arrival import load_schedule
from gridrisk.config import ConfigError
from jobs import runlog

DS = "2026-11-01"


def test_ingest_results_become_one_row_per_delivery_with_the_loaders_words():
    rows = runlog.entries("ingest", {"results": [
        {"dataset": "persons", "status": "loaded", "message": "1 file(s) loaded", "rows_accepted": 900, "seconds": 2.0},
        {"dataset": "gps_points", "status": "late", "message": "no delivery by its cut-off", "rows_accepted": 0},
    ]}, {"bronze.persons": 4})
    assert [(r["step"], r["item"], r["outcome"], r["rows"], r["version"], r["reason"]) for r in rows] == [
        ("ingest.persons", "bronze.persons", "loaded", 900, 4, None),
        ("ingest.gps_points", "bronze.gps_points", "late", 0, None, "no delivery by its cut-off")]


def test_a_partial_link_says_which_tables_it_left_out_and_why():
    summary = {"tables": {"person_records": 10, "person_master": 8, "person_licences": 3, "person_registry_mental": 2,
                          "person_profile": 8},
               "left_out": {"person_qualifications": ["transport_workers"]},
               "partial": ["transport_workers: quality failed — one_row_per_key"], "seconds": 4.0}
    rows = {r["item"]: r for r in runlog.entries("link", summary)}
    assert rows["silver.person_licences"]["outcome"] == "written" and rows["silver.person_licences"]["rows"] == 3
    left = rows["silver.person_qualifications"]
    assert left["outcome"] == "left_out"
    assert left["reason"] == "needs transport_workers, not fit for the day (transport_workers: quality failed — one_row_per_key)"


def test_a_skipped_stage_marks_every_table_it_writes_skipped_with_the_gate_s_reasons():
    rows = runlog.entries("vehicle_tracks", {"skipped": ["gps_points: late — no delivery"], "tables": {}})
    assert {r["item"] for r in rows} == {"silver.vehicle_points", "silver.gps_rejects", "silver.waybill_crew",
                                         "silver.vehicle_periods"}
    assert {(r["outcome"], r["reason"]) for r in rows} == {("skipped", "gps_points: late — no delivery")}


def test_rules_get_a_row_each_evaluated_or_skipped_with_why():
    rows = {r["item"]: r for r in runlog.entries("rules", {
        "evaluated": ["driver.mental"], "skipped": ["worker.at_risk"], "mode": {"driver.mental": "full"},
        "skip_reasons": {"worker.at_risk": "no person_qualifications for 2026-11-01"},
        "tables": {"risk_summary": 5}, "metrics": {"numOutputRows": 7}})}
    assert rows["rule:driver.mental"]["outcome"] == "evaluated"
    assert (rows["rule:worker.at_risk"]["outcome"], rows["rule:worker.at_risk"]["reason"]) == (
        "skipped", "no person_qualifications for 2026-11-01")
    assert rows["gold.risk_summary"]["outcome"] == "written"
    assert (rows["gold.risk_flags"]["outcome"], rows["gold.risk_flags"]["rows"]) == ("written", 7)  # MERGEd


def _rows(*items):
    return [{"step": s, "stage": s.split(".")[0], "item": i, "outcome": o} for s, i, o in items]


def test_the_days_account_is_complete_partial_or_empty():
    complete = _rows(("ingest.persons", "bronze.persons", "loaded"), ("rules", "rule:driver.mental", "evaluated"),
                     ("link", "silver.person_master", "written"))
    assert runlog.day_summary(DS, complete)["outcome"] == "complete"
    partial = runlog.day_summary(DS, complete + _rows(
        ("ingest.gps_points", "bronze.gps_points", "late"), ("ingest.waybills", "bronze.waybills", "quality_failed"),
        ("vehicle_tracks", "silver.vehicle_points", "skipped"), ("rules", "rule:hazmat.speeding", "skipped")))
    assert partial["outcome"] == "partial"
    assert (partial["late"], partial["failed"], partial["skipped_rules"]) == (["gps_points"], ["waybills"], ["hazmat.speeding"])
    assert partial["reason"] == ("late: gps_points; failed: waybills; not written: silver.vehicle_points; "
                                 "rules skipped: hazmat.speeding")
    empty = runlog.day_summary(DS, _rows(("ingest.persons", "bronze.persons", "late"), ("ingest.grids", "bronze.grids", "late")))
    assert empty["outcome"] == "empty"


def test_a_rule_run_on_one_registry_of_two_makes_the_day_partial_and_says_which():
    from jobs.gold.risk_flags import partial_note

    rows = {r["item"]: r for r in runlog.entries("rules", {
        "evaluated": ["driver.mental", "worker.at_risk"], "skipped": ["driver.drugs"],
        "mode": {"driver.mental": "full", "worker.at_risk": partial_note(["person_registry_drugs"], DS)},
        "skip_reasons": {"driver.drugs": f"no person_registry_drugs for {DS}"}, "tables": {"risk_summary": 4},
        "metrics": {"numOutputRows": 6}})}
    assert rows["rule:worker.at_risk"]["outcome"] == "evaluated"
    assert rows["rule:worker.at_risk"]["reason"].startswith("partial: ran without person_registry_drugs")
    line = runlog.day_summary(DS, list(rows.values()))
    assert (line["outcome"], line["partial_rules"], line["skipped_rules"]) == ("partial", ["worker.at_risk"], ["driver.drugs"])
    assert line["reason"] == "rules skipped: driver.drugs; rules run partially: worker.at_risk"


def test_cut_offs_are_wall_clock_times_of_the_next_day_in_the_schedules_zone(tmp_path):
    schedule = load_schedule()  # the shipped conf/schedule.yaml
    assert schedule.cutoff_for("persons", DS) == dt.datetime(2026, 11, 2, 4, 0, tzinfo=dt.UTC)  # 12:00 Beijing
    bad = tmp_path / "schedule.yaml"
    bad.write_text("timezone: Mars/Olympus\ncutoff: '25:00'\ncutoffs: {nope: '01:00'}\npoke_seconds: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_schedule(str(bad))
    text = str(exc.value)
    for part in ("Mars/Olympus", "cutoff: '25:00'", "cutoffs.nope: no such delivery", "poke_seconds: 0"):
        assert part in text


def test_run_alerts_fire_only_when_the_day_is_not_complete_or_the_run_is_overdue(monkeypatch):
    sent: list[dict] = []
    monkeypatch.setattr(alerts, "send", lambda payload, **kw: sent.append(payload) or True)
    assert alerts.run_outcome("gridrisk_daily", DS, {"outcome": "complete"}) is False
    alerts.run_outcome("gridrisk_daily", DS, {"outcome": "partial", "failed": [], "reason": "late: gps_points"})
    alerts.run_outcome("gridrisk_daily", DS, {"outcome": "partial", "failed": ["waybills"], "reason": "failed: waybills"})
    assert [(a["kind"], a["reason"]) for a in sent] == [("run_partial", "late: gps_points"), ("run_failed", "failed: waybills")]

    start = dt.datetime(2026, 11, 2, 0, 0, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)
    assert alerts.deadline_missed("gridrisk_daily", DS, start, 2 * hour, now=start + hour) is False
    assert alerts.deadline_missed("gridrisk_daily", DS, start, 2 * hour, now=start + 3 * hour, link="http://a/run") is True
    assert (sent[-1]["kind"], sent[-1]["link"]) == ("deadline_missed", "http://a/run")
    assert "taken 180 min" in sent[-1]["reason"] and "deadline is 120 min" in sent[-1]["reason"]
    alerts.delivery_late("gridrisk_daily", "ingest_gps_points", DS, "gps_points", "2026-11-02T04:00:00+00:00")
    assert sent[-1]["kind"] == "delivery_late" and "re-run ingest_gps_points" in sent[-1]["reason"]
