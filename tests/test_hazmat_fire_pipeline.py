"""The hazmat and fire rules live in the daily pipeline (issue 11): their silver stages are gated
by their own deliveries, the rules stage evaluates them, publish files their tasks.

- A day whose GPS delivery is missing: the vehicle tracks stage is skipped and says why, and the
  rules stage skips exactly the hazmat rules (saying which input is missing); the housing, person
  and fire rules run. On a generated province, every other delivery on time.
- A fault raised on day 1 and never re-sent is open across midnight: not flagged on day 1 (16 h),
  flagged on day 2 (40 h) with a task for the unit's grid and fire rescue, resolved on day 3 when
  a delivery gives its 恢复时间 — and its task closed. Hand-built deliveries through ingest.
"""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from gridrisk import lake
from gridrisk.config import load_profile
from gridrisk.delivery import delivery_folder, write_delivery
from gridrisk.rules import load_rules
from jobs import pipeline

pytestmark = pytest.mark.spark

DAY1, DAY2, DAY3 = "2026-11-01", "2026-11-02", "2026-11-03"
HAZMAT = sorted(r for r in load_rules() if r.startswith("hazmat."))
FIRE = sorted(r for r in load_rules() if r.startswith("fire."))


def test_a_day_without_its_gps_delivery_skips_only_the_hazmat_rules_and_says_so(spark, tmp_path):
    from synth.generate import generate

    generate(inbox=tmp_path / "inbox", truth=tmp_path / "truth", persons=1000, seed=11,
             start_date=dt.date.fromisoformat(DAY1), progress=False)
    shutil.rmtree(delivery_folder(tmp_path / "inbox", "gps_points", DAY1))  # the GPS platform is late
    profile = load_profile("local", env={}, workdir=str(tmp_path)).with_inbox(str(tmp_path / "inbox"))
    landed = pipeline.ingest(DAY1, profile, quality=False)  # the quality gate is not what this test is about
    assert {r["dataset"] for r in landed["results"] if r["status"] != "loaded"} == {"gps_points"}
    out = pipeline.run_daily(DAY1, profile, stages=["silver", "link", "vehicle_tracks", "fire_state", "rules", "publish"])
    assert [p.split(":")[0] for p in out["vehicle_tracks"]["skipped"]] == ["gps_points"]
    assert out["vehicle_tracks"]["tables"] == {}
    assert not lake.table_exists(spark, profile.table_path("silver", "vehicle_points"))
    assert "skipped" not in out["fire_state"] and out["fire_state"]["tables"]["fire_unit_state"] > 0

    rules = out["rules"]
    assert sorted(rules["skipped"]) == HAZMAT
    for rule_id in HAZMAT:
        assert "vehicle_points" in rules["skip_reasons"][rule_id] or "waybill_crew" in rules["skip_reasons"][rule_id]
        assert DAY1 in rules["skip_reasons"][rule_id]
    assert set(FIRE) <= set(rules["evaluated"])
    assert {"rental.overcrowded", "driver.mental", "worker.at_risk"} <= set(rules["evaluated"])
    flags = lake.read(spark, profile, "gold", "risk_flags")
    assert flags.where("rule_id LIKE 'hazmat.%'").count() == 0
    fired = {r["rule_id"] for r in flags.select("rule_id").distinct().collect()}
    assert "fire.inspection_overdue" in fired and "rental.overcrowded" in fired
    assert out["publish"]["created"] > 0


ADDRESSES = "标准地址编码,地址,经度,纬度,网格编码,地址类型"
UNITS = "单位编号,单位名称,标准地址编码,单位类别,最近年度检测日期,联网状态"
EVENTS = "事件编号,单位编号,设备编号,事件类型,发生时间,确认结果,恢复时间"
ADDR, GRID = "32011510100100010001", "320115101001003"


def deliver_fire_day(profile, ds: str, events: list[str]) -> None:
    day = dt.date.fromisoformat(ds).strftime("%Y%m%d")
    write_delivery(profile.inbox, "reference", ds, "snapshot", {
        f"addresses_{day}.csv": (f"{ADDRESSES}\n{ADDR},江苏省南京市江宁区某路1号,118.80,31.95,{GRID},商业\n".encode(), 1)})
    write_delivery(profile.inbox, "fire_units", ds, "snapshot", {
        f"fire_units_{day}.csv": (f"{UNITS}\nXF32011500001,江宁万达商场,{ADDR},人员密集场所,2026-06-01,在线\n".encode(), 1)})
    write_delivery(profile.inbox, "fire_events", ds, "events", {
        f"fire_events_{day}.csv": (("\n".join([EVENTS, *events]) + "\n").encode(), len(events))})


def test_a_fault_open_across_days_is_flagged_then_cleared_through_the_pipeline(spark, tmp_path):
    from gridrisk.taskstore import open_store

    profile = load_profile("local", env={}, workdir=str(tmp_path)).with_inbox(str(tmp_path / "inbox"))
    fault = "XFSJ01,XF32011500001,D01,故障,2026-11-01 08:00:00,,"
    days = {
        DAY1: [fault, "XFSJ02,XF32011500001,D02,故障,2026-11-01 10:00:00,,2026-11-01 11:00:00"],
        DAY2: ["XFSJ03,XF32011500001,D03,火警,2026-11-02 09:00:00,真实火警,2026-11-02 09:30:00"],  # the fault is not re-sent
        DAY3: [fault + "2026-11-03 10:00:00"],  # cleared
    }
    states, modes = {}, {}
    for ds, events in days.items():
        deliver_fire_day(profile, ds, events)
        landed = pipeline.ingest(ds, profile, datasets=["addresses", "fire_units", "fire_events"])
        assert [r["status"] for r in landed["results"]] == ["loaded"] * 3, landed
        out = pipeline.run_daily(ds, profile, stages=["fire_state", "rules", "publish"], full=False)
        assert "skipped" not in out["fire_state"], out["fire_state"]
        assert "fire.fault_open" in out["rules"]["evaluated"]
        modes[ds] = out["rules"]["mode"]["fire.fault_open"]
        assert set(HAZMAT) <= set(out["rules"]["skipped"])  # no GPS, no waybills: said, not resolved
        rows = lake.read(spark, profile, "gold", "risk_flags").where("rule_id = 'fire.fault_open'").collect()
        states[ds] = ({r["subject_key"]: (r["status"], str(r["last_seen"]), r["explanation"]) for r in rows},
                      out["publish"])
    # Day 3 follows a day whose run left flags, so the rules stage could chain incrementally; an
    # event kind never is (a fault not re-sent must still be judged). Days 1 and 2 are full runs
    # anyway (day 1 left no flag, hence no run to chain on).
    assert modes == {DAY1: "full", DAY2: "full", DAY3: "full (event kind: recomputed every day)"}
    assert states[DAY1][0] == {}
    status, last_seen, text = states[DAY2][0]["XF32011500001/D01"]
    assert (status, last_seen) == ("open", DAY2)
    assert "江宁万达商场" in text and "2026-11-01 08:00:00" in text and "40.0小时" in text
    assert states[DAY2][1]["created"] == 1
    assert states[DAY3][0]["XF32011500001/D01"][:2] == ("resolved", DAY2)
    assert states[DAY3][1]["closed"] == 1

    store = open_store(profile.task_store)
    tasks = [t for t in store.list_tasks(GRID[:6], status=None, limit=1000) if t.rule_id == "fire.fault_open"]
    assert len(tasks) == 1
    task = tasks[0]
    assert (task.department, task.receiving_level, task.receiving_unit, task.subject_key) == (
        "消防救援", "grid", GRID, "XF32011500001/D01")
    assert set(task.evidence) == {"condition", "first_seen"}
    assert task.evidence["condition"]["event_id"] == "XFSJ01"
