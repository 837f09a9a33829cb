"""Data Docs after a day's run: every suite listed, older runs kept, usable offline, dates in
Beijing time, and no raw ID number or name in anything that renders the quality log."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import shutil
import time
from pathlib import Path

import pytest

from gridrisk import ids
from gridrisk.delivery import write_delivery
from gridrisk.quality import gx_report
from jobs.bronze import ingest
from jobs.quality import validate

DS, DS_BEFORE = "2026-11-01", "2026-10-31"
GPS_HEADER = "车牌号,车牌颜色,定位时间,经度,纬度,速度,方向,报警标志,状态位"
PERSONS_HEADER = "公民身份号码,姓名,性别,出生日期,联系电话,居住地址编码,登记日期"
VEHICLES_HEADER = "车牌号,车牌颜色,承运企业,道路运输证号,运输证有效期至,车辆类型"
ID_A = ids.make_id("320115", dt.date(1990, 1, 1), 123)
ID_B = ids.make_id("320106", dt.date(1975, 6, 30), 457)
NAMES = ("张三丰", "李四光", "王小五")
CHROME = shutil.which("chromium-headless-shell") or "/usr/bin/chromium-headless-shell"


def deliver_vehicles(profile, ds: str) -> None:
    day = ds.replace("-", "")
    rows = [f"苏A1234{i},黄,C,P{i},20271231,罐式" for i in range(10)]
    write_delivery(profile.inbox, "hazmat_vehicles", ds, "snapshot",
                   {f"hazmat_vehicles_{day}.csv": (("\n".join([VEHICLES_HEADER, *rows]) + "\n").encode(), len(rows))})


def deliver_gps(profile) -> None:
    rows = [f"苏A1234{i % 10},黄,26110108{i // 60:02d}{i % 60:02d},118796877,32060255,655,90,0,3" for i in range(40)]
    rows.append("苏A12342,黄,261101083002,118796877,32060255,2500,90,0,3")  # 250 km/h: quarantined
    body = "\n".join([GPS_HEADER, *rows]) + "\n"
    write_delivery(profile.inbox, "gps_points", DS, "events",
                   {"gps_points_20261101.csv.gz": (gzip.compress(body.encode(), mtime=0), len(rows))})


def deliver_persons(profile) -> None:
    """Each ID three times: the one-row-per-key batch expectation fails and shows the IDs."""
    rows = [f"{pid},{name},男,{pid[6:10]}/{pid[10:12]}/{pid[12:14]},13800001234,,2020/05/06"
            for pid in (ID_A, ID_B) for name in NAMES]
    write_delivery(profile.inbox, "persons", DS, "snapshot", {"persons_20261101.csv": (
        ("\r\n".join([PERSONS_HEADER, *rows]) + "\r\n").encode("gbk"), len(rows))})


@pytest.fixture
def day_run(spark, profile):
    """Yesterday's vehicles, then today's vehicles, GPS points and persons, each through quality."""
    results = {}
    deliver_vehicles(profile, DS_BEFORE)
    assert ingest.run(spark, profile, "hazmat_vehicles", DS_BEFORE).status == "loaded"
    results["before"] = validate.run(spark, profile, "hazmat_vehicles", DS_BEFORE)
    deliver_vehicles(profile, DS)
    deliver_gps(profile)
    deliver_persons(profile)
    for dataset in ("hazmat_vehicles", "gps_points", "persons"):
        assert ingest.run(spark, profile, dataset, DS).status == "loaded"
        results[dataset] = validate.run(spark, profile, dataset, DS)
    return results


def offline_page(browser, url: str):
    """Open ``url`` with every non-file request aborted; returns (page, failed, blocked)."""
    page = browser.new_page()
    failed: list[str] = []
    blocked: list[str] = []

    def only_files(route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_files)
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    page.set_default_timeout(120_000)  # a loaded CI machine
    page.goto(url, wait_until="load")
    page.evaluate("document.fonts.ready.then(() => true)")
    return page, failed, blocked


def drawn_glyph(icon: dict) -> bool:
    return icon["glyph"] not in ("none", "normal", "") and icon["width"] > 0


def drawn_rows(page, timeout_s: float = 60.0) -> list[dict]:
    """The validation table's rows once bootstrap-table has drawn them for good: every Font Awesome
    icon with its glyph. Read right after the first row appeared, on a loaded CI machine the icons
    came back undrawn (computed glyph '', width 0) although the page draws them. Polls until a
    snapshot is fully drawn, or returns the last one at the deadline for the assertions to report."""
    deadline = time.monotonic() + timeout_s
    page.wait_for_selector(".ge-index-page-validation-results-table tbody tr")
    while True:
        rows = page.eval_on_selector_all(
            ".ge-index-page-validation-results-table tbody tr",
            """rows => rows.map(r => ({text: r.innerText,
                icons: [...r.querySelectorAll('i')].map(i => ({cls: i.className,
                    glyph: getComputedStyle(i, '::before').content, width: i.getBoundingClientRect().width}))}))""")
        icons = [i for r in rows for i in r["icons"] if "fa-" in i["cls"]]
        if (icons and all(map(drawn_glyph, icons))) or time.monotonic() > deadline:
            return rows
        page.wait_for_timeout(250)


def test_data_docs_list_every_suite_of_the_day_keep_older_runs_and_work_offline(spark, profile, day_run):
    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright

    assert day_run["gps_points"]["passed"] and not day_run["persons"]["passed"]
    index = Path(validate.data_docs_dir(profile)) / "index.html"
    assert day_run["persons"]["data_docs"] == str(index)
    pages = sorted(p.relative_to(index.parent).as_posix() for p in (index.parent / "validations").rglob("*.html"))
    assert [p.split("/")[1:4] for p in pages] == [
        ["bronze", "gps_points", DS], ["bronze", "hazmat_vehicles", DS_BEFORE], ["bronze", "hazmat_vehicles", DS],
        ["bronze", "persons", DS]]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROME)
        try:
            page, failed, blocked = offline_page(browser, index.as_uri())
            rows = drawn_rows(page)
            fa_loaded = page.evaluate("""[...document.fonts].some(f => f.family.replace(/"/g, '').startsWith('Font Awesome')
                                         && f.status === 'loaded')""")
            navbar = page.evaluate("getComputedStyle(document.querySelector('nav.navbar')).display")
            assert (failed, blocked) == ([], [])
            # bootstrap-table built the rows from its JSON: one per run, with its logical date
            by_run = {(suite, run): r for r in rows for suite in ("bronze.gps_points", "bronze.hazmat_vehicles",
                                                                  "bronze.persons") for run in (DS, DS_BEFORE)
                      if suite in r["text"] and run in r["text"]}
            assert sorted(by_run) == [("bronze.gps_points", DS), ("bronze.hazmat_vehicles", DS_BEFORE),
                                      ("bronze.hazmat_vehicles", DS), ("bronze.persons", DS)]
            # pass/fail marks are drawn by the vendored Font Awesome (a glyph, not an empty box)
            mark = {k: [i for i in r["icons"] if "fa-check" in i["cls"] or "fa-times" in i["cls"]]
                    for k, r in by_run.items()}
            assert all(len(m) == 1 and drawn_glyph(m[0]) for m in mark.values()), mark
            assert "fa-check" in mark[("bronze.hazmat_vehicles", DS)][0]["cls"]
            assert "fa-times" in mark[("bronze.persons", DS)][0]["cls"]  # GX's verdict: one_row_per_key failed
            assert fa_loaded and navbar == "flex"  # Bootstrap styled the page
            # Beijing time with its offset, never labelled Z
            times = re.findall(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\S*", page.inner_text("body"))
            assert times and all(t.endswith("+08:00") for t in times), times

            [persons_page] = [p for p in pages if "/persons/" in p]
            page, failed, blocked = offline_page(browser, (index.parent / persons_page).as_uri())
            page.get_by_text("Show more info...").first.click()  # the Info block (Bootstrap collapse)
            page.get_by_text("Logical date").first.wait_for(state="visible")
            text = page.inner_text("body")
            assert (failed, blocked) == ([], [])
            assert re.search(rf"Logical date\s+{DS}", text) and re.search(rf"Run Name\s+{DS}", text)
            assert re.search(r"Run Time \(Beijing\)\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\+08:00", text)
            assert not re.search(r"\d{2}:\d{2}:\d{2}(\.\d+)?Z", text)
            assert "320115********" in page.content()  # the duplicated IDs, masked
        finally:
            browser.close()


def _raw_personal_values() -> list[str]:
    return [ID_A, ID_B, ID_A[:17], *NAMES]


def test_nothing_that_renders_the_quality_log_shows_raw_ids_or_names(spark, profile, day_run):
    site = Path(validate.data_docs_dir(profile))
    store = Path(validate.data_docs_store_dir(profile))
    rendered = {p: p.read_text(encoding="utf-8") for d in (site, store) for p in d.rglob("*")
                if p.is_file() and p.suffix in (".html", ".json")}
    assert any("partial_unexpected_list" in t for t in rendered.values())  # GX did keep samples ...
    for path, text in rendered.items():
        for raw in _raw_personal_values():
            assert raw not in text, (path, raw)  # ... but masked

    rows = validate.summary(spark, profile, DS)
    [persons] = [r for r in rows if r["dataset"] == "persons"]
    samples = persons["failing_values"]["persons.one_row_per_key"]
    assert samples and all(re.fullmatch(r"3201\d{2}\*{8}\d{3}[\dX]", s) for s in samples), samples
    text = validate.format_summary(rows) + json.dumps(rows, ensure_ascii=False, default=str)
    assert "persons.one_row_per_key (e.g. 3201" in text
    for raw in _raw_personal_values():
        assert raw not in text

    # A quality-log row written before masking (raw values in bronze) is masked on the way out too.
    [log] = [r for r in validate.read_quality_log(spark, profile, DS) if r["dataset"] == "persons"]
    legacy = json.loads(log["expectations"])
    for e in legacy:
        if e["name"] == "persons.one_row_per_key":
            e["unexpected_values"] = [ID_A, ID_B]
    validate._write_log(spark, profile, {**log, "ds": DS, "passed": log["success"], "expectations": legacy})
    [persons] = [r for r in validate.summary(spark, profile, DS) if r["dataset"] == "persons"]
    assert persons["failing_values"]["persons.one_row_per_key"] == [gx_report_mask(ID_A), gx_report_mask(ID_B)]


def gx_report_mask(id_no: str) -> str:
    return id_no[:6] + "********" + id_no[-4:]


def test_localise_page_points_every_cdn_link_at_the_vendored_copy(tmp_path):
    page = tmp_path / "validations" / "bronze" / "x" / "run" / "time" / "ds=1.html"
    page.parent.mkdir(parents=True)
    (tmp_path / "static" / "images").mkdir(parents=True)
    (tmp_path / "static" / "images" / "logo-long.png").write_bytes(b"png")
    links = "\n".join(f'<script src="{url}" integrity="sha384-x" crossorigin="anonymous"></script>'
                      for url in gx_report.VENDOR_MAP)
    page.write_text(links + f'<img src="{gx_report.GX_IMAGES_URL}logo-long.png?d=1">'
                    + f"<style>a {{ background: url('{gx_report.GX_IMAGES_URL}full_logo_dark.png') }}</style>"
                    + '<link href="../../../../static/images/favicon.ico">', encoding="utf-8")
    gx_report.localise_page(page, tmp_path)
    out = page.read_text(encoding="utf-8")
    assert "https://" not in out and "integrity" not in out and "crossorigin" not in out
    for target in gx_report.VENDOR_MAP.values():
        assert f'"../../../../../static/vendor/{target}"' in out
        assert (gx_report.STATIC_DIR / target).is_file(), target  # every target is vendored
    assert '"../../../../../static/images/logo-long.png?d=1"' in out
    assert "url('../../../../../static/images/logo-long.png')" in out  # dark logo: not shipped, light one
    assert '"../../../../../static/images/favicon.ico"' in out  # GX's depth for the favicon is one short
