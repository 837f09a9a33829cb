"""The analysts' report: figures (pure functions), then end to end on a generated province —
two pipeline days, tasks worked in the store, the page opened in a real headless browser."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from gridrisk.report import data as D

DAY1, DAY2 = "2026-11-01", "2026-11-02"
DATASETS = ["addresses", "grids", "housing_units", "residence_registrations", "persons"]
TZ = dt.timezone(dt.timedelta(hours=8))


def d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def flag(fid, rule, status, grid, last_seen, opened_on=DAY2, resolved_on=None, severity="medium", address=None):
    return {"flag_id": fid, "rule_id": rule, "status": status, "grid_code": grid, "address_code": address,
            "severity": severity, "priority": 3, "subject_key": f"p{fid}zzzzzzzzzzzzzzz", "last_seen": d(last_seen),
            "opened_on": d(opened_on), "resolved_on": d(resolved_on) if resolved_on else None,
            "analyst_explanation": f"说明 {fid}", "evidence": "{}", "receiving_unit": grid[:6] if grid else "",
            "department": "网格"}


FLAGS = pd.DataFrame([
    flag("a", "r.one", "open", "320115101001003", DAY2, severity="high"),
    flag("b", "r.one", "open", "320115101001004", DAY2, opened_on=DAY1),
    flag("c", "r.one", "open", "320115101002001", DAY1),  # not seen on DAY2 (its rule did not run): not open
    flag("e", "r.two", "resolved", "320116001001001", DAY1, resolved_on=DAY2),
    flag("f", "r.two", "suppressed", "320116001001001", DAY2),
    flag("g", "r.two", "open", None, DAY2, address="3201150010010001001"),  # no grid: the address's division
    flag("h", "r.two", "open", None, DAY2),  # neither: unknown
])


# --------------------------------------------------------------------------- figures


def test_summary_counts_follow_risk_summary_definitions():
    out = D.summary_counts(FLAGS, DAY2)
    rows = {(r.rule_id, r.district_code): r for r in out.itertuples()}
    assert list(out.columns) == ["ds", "rule_id", "city_code", "district_code", *D.COUNTS]
    one = rows[("r.one", "320115")]
    assert (one.open, one.new, one.open_high, one.subjects) == (2, 1, 1, 2)
    two = rows[("r.two", "320116")]
    assert (two.open, two.resolved, two.suppressed, two.subjects) == (0, 1, 1, 1)
    assert rows[("r.two", "320115")].open == 1 and rows[("r.two", "unknown")].city_code == "unknown"
    scoped = D.summary_counts(FLAGS, DAY2, D.Scope("320115101"))
    assert scoped[["rule_id", "open"]].values.tolist() == [["r.one", 2]]


def test_headline_change_against_the_day_before():
    today = D.summary_counts(FLAGS, DAY2)
    yesterday = D.summary_counts(FLAGS.assign(last_seen=d(DAY1), opened_on=d(DAY1)), DAY1)
    by_rule = D.headline(today, yesterday, ["rule_id"]).set_index("rule_id")
    assert by_rule.loc["r.one", "open"] == 2 and by_rule.loc["r.one", "open_before"] == 3
    assert by_rule.loc["r.one", "change"] == -1
    no_before = D.headline(today, None, ["rule_id"])
    assert no_before["change"].isna().all() and no_before["open_before"].isna().all()


def test_scope():
    assert D.Scope("3201").child_length == 6 and D.Scope("320115101001").child_length == 15
    assert D.Scope("320115").summary_grain and not D.Scope("320115101").summary_grain
    with pytest.raises(ValueError, match="not a division code"):
        D.Scope("32011")


GRIDS = pd.DataFrame([
    {"grid_code": "320115000000000", "grid_name": "江宁区", "level": "district", "parent_code": "320100000000000",
     "geometry_json": json.dumps({"type": "Polygon", "coordinates": [[[118.0, 31.0], [119.0, 31.0], [119.0, 32.0], [118.0, 31.0]]]})},
    {"grid_code": "320115101000000", "grid_name": "某街道", "level": "street", "parent_code": "320115000000000",
     "geometry_json": json.dumps({"type": "Polygon", "coordinates": [[[118.1, 31.1], [118.2, 31.1], [118.2, 31.2], [118.1, 31.1]]]})},
    {"grid_code": "320115101001003", "grid_name": "某社区第3网格", "level": "grid", "parent_code": "320115101001000",
     "geometry_json": json.dumps({"type": "Polygon", "coordinates": [[[118.123456789, 31.1], [118.13, 31.1], [118.13, 31.2], [118.123456789, 31.1]]]})},
    {"grid_code": "320116001001001", "grid_name": "别区网格", "level": "grid", "parent_code": "320116001001000",
     "geometry_json": json.dumps({"type": "Polygon", "coordinates": [[[119.0, 31.0], [119.1, 31.0], [119.1, 31.1], [119.0, 31.0]]]})},
])


def test_map_features_count_open_flags_per_division_in_scope():
    opened = D.open_flags(FLAGS, DAY2, D.Scope(None))
    feats = {(f["properties"]["level"], f["properties"]["code"]): f for f in D.map_features(GRIDS, opened, D.Scope(None))}
    assert feats[("district", "320115")]["properties"]["open"] == 3  # a, b and g (by its address)
    assert feats[("street", "320115101")]["properties"]["open"] == 2
    assert feats[("grid", "320115101001003")]["properties"] | {} == {
        "code": "320115101001003", "name": "某社区第3网格", "level": "grid", "open": 1, "open_high": 1}
    assert feats[("grid", "320116001001001")]["properties"]["open"] == 0
    assert feats[("grid", "320115101001003")]["geometry"]["coordinates"][0][0] == [118.1235, 31.1]
    sparse = D.map_features(GRIDS, opened, D.Scope(None), max_plain_grids=1)
    assert [f["properties"]["code"] for f in sparse if f["properties"]["level"] == "grid"] == ["320115101001003"]
    assert D.default_map_level(sparse) == "street" and D.default_map_level(list(feats.values())) == "grid"
    scoped = D.map_features(GRIDS, D.open_flags(FLAGS, DAY2, D.Scope("320115")), D.Scope("320115"))
    assert [(f["properties"]["level"], f["properties"]["code"]) for f in scoped] == [
        ("street", "320115101"), ("grid", "320115101001003")]


def test_tracks_come_from_linestrings_in_the_evidence():
    route = [[118.0 + i / 1000, 32.0] for i in range(1201)]
    evidence = json.dumps({"plate": "苏A12345", "track": {"type": "Feature", "geometry": {"type": "LineString", "coordinates": route}}})
    flags = pd.DataFrame([{**flag("t", "hazmat.speeding", "open", "320115101001003", DAY2), "evidence": evidence},
                          flag("u", "r.one", "open", "320115101001003", DAY2)])
    lines = D.tracks(flags, max_points=500)
    assert len(lines) == 1 and lines[0]["properties"]["rule_id"] == "hazmat.speeding"
    coords = lines[0]["geometry"]["coordinates"]
    assert len(coords) <= 501 and coords[0] == [118.0, 32.0] and coords[-1] == [119.2, 32.0]


def test_drilldown_masks_keys_and_caps():
    opened = D.open_flags(FLAGS, DAY2, D.Scope(None))
    rows = D.drilldown(opened, {"r.one": "规则一"}, {"320115101001003": "某社区第3网格"}, cap=2)
    assert len(rows) == 2 and rows["subject"].tolist()[0] == "pazzz…zzzz"
    assert rows.iloc[0]["place"] == "某社区第3网格" and rows.iloc[0]["rule"] == "规则一"


def test_run_notes_name_late_deliveries_and_skipped_rules_with_their_reasons():
    log = pd.DataFrame([
        {"step": "ingest.waybills", "item": "bronze.waybills", "outcome": "late", "reason": "no delivery by its cut-off"},
        {"step": "ingest.persons", "item": "bronze.persons", "outcome": "loaded", "reason": None},
        {"step": "rules", "item": "rule:hazmat.no_waybill", "outcome": "skipped", "reason": "no waybills for 2026-11-01"},
        {"step": "rules", "item": "rule:driver.mental", "outcome": "evaluated", "reason": "full"},
        {"step": "rules", "item": "rule:worker.at_risk", "outcome": "evaluated",
         "reason": "partial: ran without person_registry_drugs for 2026-11-01 (late)"},
        {"step": "vehicle_tracks", "item": "silver.vehicle_periods", "outcome": "skipped", "reason": "waybills late"},
    ])
    assert D.run_notes(log) == ["数据 bronze.waybills 今日未入湖（late）：no delivery by its cut-off",
                                "规则 hazmat.no_waybill 今日未运行：no waybills for 2026-11-01",
                                "规则 worker.at_risk 今日部分运行（只新增预警、不解除）："
                                "partial: ran without person_registry_drugs for 2026-11-01 (late)"]
    assert D.run_notes(log.iloc[0:0]) == []


def test_quality_rows_reconcile_read_accepted_quarantined():
    ingest = pd.DataFrame([{"dataset": "persons", "status": "loaded", "rows_read": 100},
                           {"dataset": "waybills", "status": "failed", "rows_read": 0}])
    checks = pd.DataFrame([{"dataset": "persons", "success": False, "bad_share": 0.07, "failed_expectations": ["id_valid"]}])
    quarantine = pd.DataFrame([{"dataset": "persons", "reason_code": "bad_id", "rows": 5},
                               {"dataset": "persons", "reason_code": "id_valid", "rows": 2}])
    rows = D.quality_rows(ingest, checks, quarantine, {"persons": "公安 实有人口", "waybills": "交通运输 电子运单"})
    persons = rows.set_index("dataset").loc["persons"]
    assert (persons.rows_read, persons.rows_accepted, persons.rows_quarantined, persons.suite) == (100, 93, 7, "FAIL")
    assert persons.by_reason == "bad_id: 5; id_valid: 2" and persons.department == "公安"
    depts = D.quality_by_department(rows).set_index("department")
    assert depts.loc["公安", "suites_failed"] == 1 and depts.loc["交通运输", "rows_accepted"] == 0


# --------------------------------------------------------------------------- end to end


def _chromium() -> str | None:
    return shutil.which("chromium-headless-shell") or shutil.which("chromium")


@pytest.fixture(scope="module")
def province(spark, tmp_path_factory):
    """A generated province run for two days, with tasks worked in between; the report of day 1
    is built after day 1 and again after day 2."""
    from gridrisk.config import load_profile
    from gridrisk.report import build_report
    from gridrisk.taskstore import open_store
    from jobs import pipeline
    from synth.generate import generate

    os.environ.setdefault("GRIDRISK_PSEUDONYM_KEY", "test-key")
    root = tmp_path_factory.mktemp("report")
    generate(inbox=root / "inbox", truth=root / "truth", persons=1000, seed=5, start_date=d(DAY1), days=2, progress=False)
    profile = load_profile("local", env={}, workdir=str(root))
    def run_day(ds):
        # The housing slice of the daily pipeline (ingest of its departments and the reference
        # grids, silver, rules, publish): the person rules need entity resolution, minutes of
        # Splink that add nothing the report does not already get from the housing rules.
        loaded = pipeline.ingest(ds, profile, datasets=DATASETS)
        assert [r["status"] for r in loaded["results"]] == ["loaded"] * len(DATASETS)
        pipeline.silver(ds, profile)
        assert pipeline.rules(ds, profile)["evaluated"]
        pipeline.publish(ds, profile)

    run_day(DAY1)
    store = open_store(profile.task_store)
    tasks = store.list_tasks("32", limit=10_000)
    assert len(tasks) >= 4, "the province filed too few tasks to work some of them"

    first, second, third = tasks[0], tasks[1], tasks[2]
    # The store keeps real time: tasks were filed when publish ran (now), and work on them
    # follows, seconds later. That work happens after day 1's run published, so it belongs to
    # the next day's figures, and must not change day 1's report.
    def at(seconds):
        return first.filed_at + dt.timedelta(seconds=seconds)

    # The store refuses events in the future: let the seconds of this made-up work pass first.
    time.sleep(max(0.0, (at(10) - dt.datetime.now(dt.UTC)).total_seconds()))

    # Who acts is registered (the task store refuses unknown actors): a centre's dispatcher and
    # a grid worker, so nobody verifies their own handling.
    store.add_actor("disp", "区中心坐席", "32", "dispatcher", at=first.filed_at)
    store.add_actor("worker", "网格员", "32", "grid_worker", at=first.filed_at)
    who = {"dispatched": "disp", "signed": "worker", "handled": "worker", "verified": "disp", "closed": "disp"}
    for to, when, kw in (("dispatched", at(1), {}), ("signed", at(3), {}),
                         ("handled", at(6), {"note": "已上门核实", "result": "confirmed"}),
                         ("verified", at(8), {}), ("closed", at(9), {})):
        store.transition(first.task_id, to, actor=who[to], at=when, **kw)
    store.transition(second.task_id, "dispatched", actor="disp", at=at(2))
    out = root / "out"
    day1 = build_report(profile, DAY1, out_dir=str(out / "first"))
    first_build = (Path(day1.html).read_bytes(), Path(day1.xlsx).read_bytes())
    # The next day: more work on the tasks, the pipeline's second day, then the report of day 1 again.
    store.transition(second.task_id, "signed", actor="worker", at=at(4))
    store.transition(third.task_id, "dispatched", actor="disp", at=at(5))
    run_day(DAY2)
    again = build_report(profile, DAY1, out_dir=str(out / "first"))
    second_build = (Path(again.html).read_bytes(), Path(again.xlsx).read_bytes())
    day2 = build_report(profile, DAY2, out_dir=str(out / "second"))
    return {"profile": profile, "root": root, "first": first_build, "again": second_build, "day2": day2,
            "store": store}


def _map_counts(html: str) -> list[dict]:
    """The divisions the map colours, with their counts, from the map's Vega-Lite data."""
    m = re.search(r'<script type="application/json" data-chart="map">(.*?)</script>', html, re.S)
    assert m, "the page has a map"
    return [f["properties"] for f in json.loads(m.group(1))["datasets"]["divisions"] if f["properties"]["open"] > 0]


def _embedded(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert m, "the page embeds its figures"
    return json.loads(m.group(1))


@pytest.mark.slow
def test_report_of_a_past_date_rebuilt_later_is_identical(province):
    assert province["first"][0] == province["again"][0], "HTML of day 1 changed after day 2 ran"
    assert province["first"][1] == province["again"][1], "workbook of day 1 changed after day 2 ran"


@pytest.mark.slow
def test_page_figures_equal_the_gold_tables(spark, province):
    from pyspark.sql import functions as F

    from gridrisk import lake
    from jobs.gold.risk_flags import flags_as_of

    profile = province["profile"]
    html = Path(province["day2"].html).read_text(encoding="utf-8")
    page = _embedded(html)
    for ds in (DAY1, DAY2):
        gold = {r["rule_id"]: r.asDict() for r in lake.read_partition(spark, profile, "gold", "risk_summary", ds)
                .groupBy("rule_id").agg(*(F.sum(c).alias(c) for c in D.COUNTS)).collect()}
        trend = {r["rule_id"]: r for r in page["trend"] if r["ds"] == ds}
        assert {k: v["open"] for k, v in trend.items()} == {k: v["open"] for k, v in gold.items()}
        if ds == DAY2:
            assert {r["rule_id"]: {c: r[c] for c in D.COUNTS} for r in page["by_rule"]} == \
                   {k: {c: v[c] for c in D.COUNTS} for k, v in gold.items()}
            before = {r["rule_id"]: r["open_before"] for r in page["by_rule"]}
            assert all(before[k] == trend_day1 for k, trend_day1 in
                       {r["rule_id"]: r["open"] for r in page["trend"] if r["ds"] == DAY1}.items())
    opened = flags_as_of(spark, profile, DAY2).where((F.col("status") == "open") & (F.col("last_seen") == F.lit(DAY2).cast("date")))
    assert page["drill_total"] == opened.count() == sum(r["open"] for r in page["by_rule"])
    by_grid = {r["grid_code"]: r["count"] for r in opened.groupBy("grid_code").count().collect()}
    page_grids = {r["code"]: r["open"] for r in _map_counts(html) if r["level"] == "grid"}
    assert page_grids == {g: n for g, n in by_grid.items() if g in page_grids}
    assert sum(page_grids.values()) + page["map"]["unmapped"] == page["drill_total"]
    # Case handling: the store's events, counted independently of its statistics.
    store = province["store"]
    end = dt.datetime.fromisoformat(page["case_total"]["until"])  # just after day 2's run published
    tasks = [t for t in store.list_tasks("32", limit=100_000) if t.filed_at < end]
    events = [e for t in tasks for e in store.events(t.task_id)]
    assert page["case_total"]["filed"] == len(tasks) > 0  # every task was filed inside the 7 days
    assert page["case_total"]["closed"] == sum(1 for e in events if e.to_status == "closed" and e.at < end) >= 1
    assert page["case_total"]["median_s_dispatched_signed"] == 2  # task 1: 1 s → 3 s, task 2: 2 s → 4 s
    day1 = _embedded(province["first"][0].decode("utf-8"))
    assert day1["case_total"]["closed"] == 0 and day1["case_total"]["median_s_dispatched_signed"] is None
    assert sum(r["filed"] for r in page["cases"]) == page["case_total"]["filed"]
    # Data quality of the day: the ingest log's rows read per dataset.
    log = {r["dataset"]: r["rows_read"] for r in lake.read_partition(spark, profile, "bronze", "_ingest_log", DAY2).collect()}
    assert {r["dataset"]: r["rows_read"] for r in page["quality"]} == log
    assert all(r["rows_read"] == r["rows_accepted"] + r["rows_quarantined"] for r in page["quality"] if r["ingest_status"] == "loaded")


@pytest.mark.slow
def test_unit_scoped_report_shows_only_its_subtree(spark, province):
    from pyspark.sql import functions as F

    from gridrisk import lake
    from gridrisk.report import build_report

    profile = province["profile"]
    full = _embedded(Path(province["day2"].html).read_text(encoding="utf-8"))
    district = max(full["by_district"], key=lambda r: r["open"])["district_code"]
    out = province["root"] / "out" / "district"
    html = Path(build_report(profile, DAY2, unit=district, out_dir=str(out)).html).read_text(encoding="utf-8")
    page = _embedded(html)
    gold = {r["rule_id"]: r["open"] for r in lake.read_partition(spark, profile, "gold", "risk_summary", DAY2)
            .where(F.col("district_code") == district).groupBy("rule_id").agg(F.sum("open").alias("open")).collect()}
    assert {r["rule_id"]: r["open"] for r in page["by_rule"]} == gold
    assert {r["district_code"] for r in page["by_district"]} == {district}
    assert all(r["code"].startswith(district) for r in _map_counts(html))
    assert all(r["unit"].startswith(district) for r in page["cases"])
    # A street: finer than risk_summary, counted over the flags as of the day, same totals.
    street = max((r for r in _map_counts(html) if r["level"] == "street"), key=lambda r: r["open"])
    narrow = _embedded(Path(build_report(profile, DAY2, unit=street["code"], out_dir=str(out)).html).read_text(encoding="utf-8"))
    assert sum(r["open"] for r in narrow["by_rule"]) == street["open"] == narrow["drill_total"]


def _workbook_text(blob: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        return "\n".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml"))


@pytest.mark.slow
def test_no_raw_id_name_or_diagnosis_in_page_or_workbook(province):
    from gridrisk import ids, lake_reader
    from gridrisk.config import load_schema

    profile = province["profile"]
    people = lake_reader.read(profile, "bronze", "persons", columns=["id_no", "name"])
    raw_ids = {ids.normalise_id(str(i)).value or ids.clean(str(i)) for i in people["id_no"].dropna()}
    raw_ids = {i for i in raw_ids if len(i) >= 15}
    legacy = {i[:6] + i[8:17] for i in raw_ids if len(i) == 18}
    names = {str(n) for n in people["name"].dropna() if len(str(n)) >= 2}
    # Place names may read like a person's (陈良镇 holds 陈良): take them out of the text first.
    places = sorted(set(lake_reader.read(profile, "bronze", "grids", columns=["grid_name"])["grid_name"].dropna()),
                    key=len, reverse=True)
    diagnoses = set(load_schema("mental_health_registry").column("diagnosis").enum or ())
    assert raw_ids and names and len(diagnoses) == 6
    outputs = {"page": Path(province["day2"].html).read_text(encoding="utf-8"),
               "workbook": _workbook_text(Path(province["day2"].xlsx).read_bytes()),
               "page of day 1": province["first"][0].decode("utf-8")}
    for what, text in outputs.items():
        # the page's script bundle is library code, not data: scan what is not the bundle
        text = re.sub(r"<script>.*?</script>", "", text, flags=re.S) if what.startswith("page") else text
        for place in places:
            text = text.replace(place, "")
        eighteen = {m for m in re.findall(r"(?<!\d)\d{17}[\dXx](?!\d)", text) if ids.normalise_id(m).status == "valid"}
        assert not eighteen, f"{what} holds ID numbers: {sorted(eighteen)[:3]}"
        assert not [i for i in raw_ids | legacy if i in text], f"{what} holds a raw ID number"
        leaked = sorted(n for n in names if n in text)
        assert not leaked, f"{what} holds unmasked names: {leaked[:5]}"
        assert not [w for w in diagnoses if w in text], f"{what} names a diagnosis"


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="Debian's chromium-headless-shell is not installed")
def test_page_renders_in_a_headless_browser(province, tmp_path):
    from playwright.sync_api import sync_playwright

    html = Path(province["day2"].html)
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:", "about:")) else None)
        page.goto(html.as_uri())
        boxes = page.eval_on_selector_all("[data-chart-box]", "els => els.map(e => e.getAttribute('data-chart-box'))")
        assert {"by_rule", "trend", "by_district", "map", "cases", "steps", "quality"} <= set(boxes)
        page.wait_for_function("() => [...document.querySelectorAll('[data-chart-box]')].every(e => e.dataset.rendered === '1')",
                               timeout=30_000)
        for name in boxes:
            marks = page.eval_on_selector(f"#chart-{name}", "e => e.querySelectorAll('svg path, svg rect, svg line').length")
            assert marks > 5, f"chart {name} drew nothing"
        spec = json.loads(re.search(r'data-chart="map">(.*?)</script>', html.read_text(encoding="utf-8"), re.S).group(1))
        level = next(p["value"] for p in spec["params"] if p["name"] == "map_level")
        divisions = [f for f in spec["datasets"]["divisions"] if f["properties"]["level"] == level]
        shapes = page.eval_on_selector("#chart-map", "e => e.querySelectorAll('svg .mark-shape path').length")
        assert len(divisions) > 0 and shapes >= len(divisions), (level, shapes, len(divisions))
        rendered_text = page.inner_text("#headline")
        assert "未结风险标记" in rendered_text
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        # The drill-down filters by rule, by text and sorts.
        rows = page.eval_on_selector_all("#drill tbody tr", "rs => rs.map(r => r.getAttribute('data-rule'))")
        rule = max(set(rows), key=rows.count)
        page.select_option("#drill-rule", rule)
        visible = page.eval_on_selector_all("#drill tbody tr:not([hidden])", "rs => rs.map(r => r.getAttribute('data-rule'))")
        assert visible and set(visible) == {rule} and len(visible) == rows.count(rule)
        assert page.get_attribute("#drill-count", "data-shown") == str(len(visible))
        page.select_option("#drill-rule", "")
        grid = page.eval_on_selector("#drill tbody tr td:nth-child(6)", "e => e.textContent")
        page.fill("#drill-search", grid)
        shown = page.eval_on_selector_all("#drill tbody tr:not([hidden]) td:nth-child(6)", "cs => cs.map(c => c.textContent)")
        assert shown and all(g == grid for g in shown)
        page.fill("#drill-search", "")
        page.click("#drill thead th:nth-child(6)")
        first = page.eval_on_selector_all("#drill tbody tr td:nth-child(6)", "cs => cs.map(c => c.textContent)")
        assert first == sorted(first, key=lambda s: s)
        browser.close()
    assert not errors, errors
    assert not requests, f"the page fetched from the network: {requests[:3]}"
    assert (tmp_path / "report.png").stat().st_size > 20_000


def test_cli_says_what_is_missing(tmp_path, monkeypatch, capsys):
    from cli.main import main

    monkeypatch.setenv("GRIDRISK_WORKDIR", str(tmp_path))
    monkeypatch.setenv("GRIDRISK_LAKE", str(tmp_path / "lake"))
    assert main(["report", "--date", DAY1]) == 1
    assert "gold/risk_flags: no Delta table at" in capsys.readouterr().err
    assert main(["report", "--date", DAY1, "--unit", "3201x"]) == 2
    assert "not a division code" in capsys.readouterr().err
    assert not (tmp_path / "lake").exists(), "a report never creates anything in the lake"


def test_report_and_lake_reader_need_no_spark():
    """The report runs as an Airflow task after publish and as a quick CLI command: no JVM."""
    import subprocess
    import sys

    code = ("import sys, gridrisk.report.build, gridrisk.report.html, gridrisk.report.excel, gridrisk.lake_reader; "
            "print(sorted(m for m in ('pyspark', 'jobs', 'great_expectations') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
