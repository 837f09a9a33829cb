"""The overcrowded-rental slice: deliveries → bronze → silver occupancy → gold flags → tasks."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from gridrisk import ids, lake
from gridrisk.delivery import write_delivery
from gridrisk.taskstore import open_store
from jobs import pipeline

DS = "2026-11-01"
COMMUNITY = "320115101001"
GRID = COMMUNITY + "003"
REG_HEADER = "登记编号,公民身份号码,姓名,标准地址编码,房间号,房间类型,入住日期,离开日期,与承租人关系"
UNIT_HEADER = "标准地址编码,建筑面积,房间数,是否成套,房屋用途,出租方式,产权人证件号码,更新日期"
ADDR_HEADER = "标准地址编码,地址,经度,纬度,网格编码,地址类型"


def addr(n: int) -> str:
    return f"{COMMUNITY}{n:04d}0001"


def person(n: int, born: dt.date = dt.date(1990, 1, 1)) -> str:
    return ids.make_id("320115", born, (2 * n + 1) % 1000)


#: unit number → (area m², rooms, self-contained, letting mode, occupants [(room, room type, relation, birth)])
ADULT = dt.date(1990, 1, 1)
CHILD = dt.date(2015, 6, 1)
UNITS = {
    1: (39.6, 2, "是", "分租", [("A", "卧室", "合租", ADULT)] * 4),  # 4 adults, 9.9 m² each → fires
    2: (40.0, 2, "是", "分租", [("A", "卧室", "合租", ADULT)] * 2 + [("B", "卧室", "合租", ADULT)] * 2),  # 10.0 m² → no
    3: (20.0, 2, "是", "分租", [("A", "卧室", "合租", ADULT)] * 2 + [("B", "卧室", "合租", ADULT)]),  # 3 adults → no
    4: (19.6, 1, "否", "分租", [("A", "卧室", "合租", ADULT)] * 2 + [("B", "卧室", "合租", ADULT)] * 2),  # 4.9 < 5 → fires
    5: (60.0, 3, "是", "分租", [("A", "卧室", "合租", ADULT)] * 3),  # 3 non-family in one room → fires
    6: (60.0, 3, "是", "整租", [("A", "卧室", "本人", ADULT), ("A", "卧室", "配偶", ADULT),
                             ("B", "卧室", "子女", CHILD), ("B", "卧室", "子女", CHILD), ("C", "卧室", "父母", ADULT)]),  # family → no
    7: (80.0, 3, "是", "分租", [("K", "厨房", "合租", ADULT), ("A", "卧室", "合租", ADULT)]),  # kitchen let → fires
    8: (80.0, 3, "是", "按床位", [("A", "卧室", "合租", ADULT)]),  # let by bed → fires
    9: (200.0, 10, "是", "整租", []),  # 10 rooms let in one building → concentrated rental
    10: (200.0, 9, "是", "分租", [(f"{r}", "卧室", "合租", ADULT) for r in "ABCDEFGHI"]),  # 9 rooms, 9 people → no
}
FIRING = {addr(n) for n in (1, 4, 5, 7, 8)}
CONCENTRATED = {addr(9)[:16]}


def build_inbox(profile, units=UNITS, ds=DS, duplicate_rows=True):
    day = ds.replace("-", "")
    unit_rows, reg_rows, addr_rows = [], [], []
    seq = 0
    for n, (area, rooms, self_contained, mode, occupants) in units.items():
        unit_rows.append(f"{addr(n)},{area},{rooms},{self_contained},出租,{mode},,2026-10-01")
        addr_rows.append(f"{addr(n)},江宁区某路{n}号,118.8,31.9,{GRID},住宅")
        for room, room_type, relation, born in occupants:
            seq += 1
            reg_rows.append(f"R{seq:05d},{person(seq, born)},住户{seq},{addr(n)},{room},{room_type},2026/01/01,,{relation}")
    reg_rows.append(f"R{seq + 1:05d},{person(999)},已搬走,{addr(3)},A,卧室,2025/01/01,2026/10/01,合租")
    if duplicate_rows:
        reg_rows += reg_rows[:1]  # a re-sent row collapses to one occupant
    def csv(header, rows, enc):
        return ("\n".join([header, *rows]) + "\n").encode(enc), len(rows)
    write_delivery(profile.inbox, "housing_units", ds, "snapshot",
                   {f"housing_units_{day}.csv": csv(UNIT_HEADER, unit_rows, "utf-8")})
    write_delivery(profile.inbox, "residence_registrations", ds, "snapshot",
                   {f"residence_registrations_{day}.csv": csv(REG_HEADER, reg_rows, "gbk")})
    write_delivery(profile.inbox, "reference", ds, "snapshot",
                   {f"addresses_{day}.csv": csv(ADDR_HEADER, addr_rows, "utf-8")})


def run_slice(profile, ds=DS):
    pipeline.ingest(ds, profile, datasets=["housing_units", "residence_registrations", "addresses"])
    pipeline.silver(ds, profile)
    pipeline.rules(ds, profile)
    return pipeline.publish(ds, profile)


@pytest.fixture(scope="module")
def slice_profile(spark, tmp_path_factory):
    """One lake for the module: the tests run in order and build on each other's days
    (the pipeline is slow to start for tiny data, so it runs as few times as possible)."""
    from gridrisk.config import load_profile

    old = os.environ.get("GRIDRISK_PSEUDONYM_KEY")
    os.environ["GRIDRISK_PSEUDONYM_KEY"] = "test-key"
    profile = load_profile("local", env={}, workdir=str(tmp_path_factory.mktemp("slice")))
    build_inbox(profile)
    yield profile
    if old is None:
        os.environ.pop("GRIDRISK_PSEUDONYM_KEY", None)
    else:
        os.environ["GRIDRISK_PSEUDONYM_KEY"] = old


@pytest.fixture(scope="module")
def day_one(spark, slice_profile):
    return run_slice(slice_profile)


def flags(spark, profile):
    return {r.subject_key: r for r in lake.read(spark, profile, "gold", "risk_flags").collect()}


def test_occupancy_collapses_duplicates_and_drops_people_who_moved_out(spark, slice_profile, day_one):
    occ = lake.read_partition(spark, slice_profile, "silver", "housing_occupancy", DS)
    per_unit = {r.address_code: r["count"] for r in occ.groupBy("address_code").count().collect()}
    assert per_unit == {addr(n): len(u[4]) for n, u in UNITS.items() if u[4]}
    row = occ.where(f"address_code = '{addr(1)}'").first()
    assert row.grid_code == GRID and row.building_area_m2 == 39.6 and row.is_adult
    assert row.name_masked.startswith("住*") and row.person_key.startswith("p")
    assert "id_no" not in occ.columns and "name" not in occ.columns


def test_overcrowded_rule_fires_exactly_on_the_planted_units_and_tasks_reach_the_grid(spark, slice_profile, day_one):
    published = day_one
    got = flags(spark, slice_profile)
    assert set(got) == FIRING | CONCENTRATED
    assert {k for k, f in got.items() if f.rule_id == "rental.concentrated"} == CONCENTRATED
    building = got[addr(9)[:16]]
    assert (building.receiving_level, building.receiving_unit, building.department) == ("street", GRID[:9], "公安派出所")
    assert "出租1套、10间" in building.explanation
    assert [(u["address_code"], u["room_count"]) for u in json.loads(building.evidence)["units"]] == [(addr(9), 10)]
    f1 = got[addr(1)]
    assert (f1.rule_id, f1.rule_version, f1.status, f1.grid_code) == ("rental.overcrowded", 1, "open", GRID)
    assert (f1.receiving_level, f1.receiving_unit, f1.department, f1.priority) == ("grid", GRID, "网格", 3)
    assert "居住4人" in f1.explanation and "人均9.9平方米" in f1.explanation
    assert "低于10.0平方米" in f1.explanation
    assert "按床位出租" in got[addr(8)].explanation
    assert "厨房用于居住" in got[addr(7)].explanation
    assert "A房间住非家庭成员3人" in got[addr(5)].explanation
    assert "低于5.0平方米" in got[addr(4)].explanation
    assert published["created"] == 6

    store = open_store(slice_profile.task_store)
    tasks = [t for t in store.list_tasks(COMMUNITY) if t.rule_id == "rental.overcrowded"]
    assert {t.address_code for t in tasks} == FIRING
    assert all(t.status == "filed" and t.receiving_unit == GRID for t in tasks)
    assert [t.rule_id for t in store.list_tasks(GRID[:9]) if t.receiving_level == "street"] == ["rental.concentrated"]
    assert store.list_tasks("320116") == []  # another district sees nothing
    evidence = next(t for t in tasks if t.address_code == addr(1)).evidence
    assert len(evidence["occupants"]) == 4 and evidence["occupants"][0]["name_masked"].startswith("住*")

    # the rules stage also wrote the day's report counts
    summary = {r["rule_id"]: r for r in lake.read_partition(spark, slice_profile, "gold", "risk_summary", DS).collect()}
    assert (summary["rental.overcrowded"]["open"], summary["rental.overcrowded"]["new"]) == (5, 5)
    assert summary["rental.overcrowded"]["district_code"] == GRID[:6]
    assert summary["rental.concentrated"]["open"] == 1


def test_rerunning_the_same_date_leaves_the_same_flags_and_tasks(spark, slice_profile, day_one):
    before = {k: (v.status, v.first_seen, v.last_seen, v.evidence) for k, v in flags(spark, slice_profile).items()}
    again = run_slice(slice_profile)
    after = {k: (v.status, v.first_seen, v.last_seen, v.evidence) for k, v in flags(spark, slice_profile).items()}
    assert after == before
    assert again["created"] == 0 and again["unchanged"] == 6
    assert len(open_store(slice_profile.task_store).list_tasks("32")) == 6


def test_next_day_resolves_flags_that_stopped_firing_and_closes_their_tasks(spark, slice_profile, day_one):
    next_day = "2026-11-02"
    fixed = dict(UNITS)
    fixed[8] = (80.0, 3, "是", "整租", UNITS[8][4])  # no longer let by bed
    build_inbox(slice_profile, fixed, ds=next_day)
    result = run_slice(slice_profile, next_day)
    got = flags(spark, slice_profile)
    assert got[addr(8)].status == "resolved" and got[addr(8)].resolved_on == dt.date(2026, 11, 2)
    assert got[addr(1)].last_seen == dt.date(2026, 11, 2) and got[addr(1)].first_seen == dt.date(2026, 11, 1)
    assert result == {"stage": "publish", "ds": next_day, "created": 0, "unchanged": 5, "updated": 0, "closed": 1,
                      "unroutable": 0}
    store = open_store(slice_profile.task_store)
    closed = [t for t in store.list_tasks("32") if t.address_code == addr(8)]
    assert [t.status for t in closed] == ["closed"]
    # Time travel: the table as of the first day still shows the flag open.
    from jobs.gold.risk_flags import flags_as_of

    first = flags_as_of(spark, slice_profile, "2026-11-01")
    assert first.where(f"subject_key = '{addr(8)}'").first().status == "open"
    assert flags_as_of(spark, slice_profile, "2026-11-05").where(f"subject_key = '{addr(8)}'").first().status == "resolved"


def test_analysts_read_flags_as_of_a_date_and_the_summary_from_the_cli(spark, slice_profile, day_one, monkeypatch, capsys):
    from cli import main as cli

    monkeypatch.setenv("GRIDRISK_LAKE", slice_profile.lake)
    monkeypatch.setenv("GRIDRISK_TASK_STORE", slice_profile.task_store)
    assert cli.main(["flags", "--as-of", DS, "--rule", "rental.overcrowded", "--analyst"]) == 0
    out = capsys.readouterr().out
    # explanations are wrapped in their column, never cut: read the text without the line breaks
    assert "flags as of 2026-11-01: rental.overcrowded 5" in out and "规则rental.overcrowdedv1" in "".join(out.split())
    assert cli.main(["summary", "--date", DS, "--unit", GRID[:6]]) == 0
    out = capsys.readouterr().out
    assert "rental.overcrowded" in out and GRID[:6] in out
    assert cli.main(["summary", "--date", DS, "--unit", "320116"]) == 0
    assert "no flags summarised" in capsys.readouterr().out
