"""The grid centre's page in a real headless browser (Debian's chromium-headless-shell via
Playwright; fonts-wqy-zenhei for the Chinese). Skipped when the browser is not installed, except
under CI=true."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_world import JN_GRID, JN_GRID2, World, build_world, drop_world, free_port, make_task, start_server, stop

from gridrisk.taskstore.model import TZ

BROWSER = shutil.which("chromium-headless-shell") or "/usr/lib/chromium/chromium-headless-shell"


def square(lon: float, lat: float, size: float = 0.01) -> dict[str, object]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[World, str]]:
    if not os.path.exists(BROWSER):
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs chromium-headless-shell (apt-get install chromium-headless-shell fonts-wqy-zenhei)")
        pytest.skip("needs Debian's chromium-headless-shell")
    world = build_world("sqlite", tmp_path)
    world.store.upsert_tasks([make_task(7, priority=1), make_task(8, JN_GRID2, priority=2)])
    world.store.replace_grids([(JN_GRID, "东山一网格", "grid", JN_GRID[:12], json.dumps(square(118.83, 31.94))),
                               (JN_GRID2, "东山二网格", "grid", JN_GRID[:12], json.dumps(square(118.84, 31.94))),
                               ("320506100200001", "吴中网格", "grid", "320506100200", json.dumps(square(120.6, 31.2)))])
    port = free_port()
    server = start_server(world, port)
    yield world, f"http://127.0.0.1:{port}"
    stop(server)
    drop_world(world)


def test_a_dispatcher_sees_urgent_tasks_first_the_map_the_timeline_and_acts(served: tuple[World, str]) -> None:
    from playwright.sync_api import sync_playwright

    world, base = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=BROWSER)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/")
        page.fill("#token", world.tokens["jn-dispatch"])
        page.click("button[type=submit]")
        page.wait_for_selector("tr.task")
        rows = page.locator("tr.task")
        assert rows.count() == 5  # Jiangning's five, not Wuzhong's
        assert [rows.nth(i).get_attribute("data-id") for i in range(2)] == [
            f"T00007{JN_GRID[:6]}", f"T00008{JN_GRID2[:6]}"]  # P1, then P2
        assert "江宁区东山街道7号" in rows.nth(0).inner_text()
        polygons = page.locator("#map polygon")
        assert polygons.count() == 2  # only the grids of the territory
        assert sorted(polygons.nth(i).get_attribute("data-grid") for i in range(2)) == [JN_GRID, JN_GRID2]
        rows.nth(0).click()
        page.wait_for_selector("#timeline li")
        assert "立案 (file) · system" in page.inner_text("#timeline")
        assert page.locator("#actions button").all_inner_texts() == ["dispatch", "close", "remind"]
        assert page.is_hidden("#evidence")
        page.click("#show-evidence")
        page.wait_for_selector("#evidence:not([hidden])")
        assert "occupants" in page.inner_text("#evidence")
        page.fill("#note", "请东山网格员上门")
        page.click("#actions button[data-action=dispatch]")
        page.wait_for_function("document.querySelector('#action-message').textContent.includes('dispatched')")
        page.wait_for_function("document.querySelectorAll('#timeline li').length === 2")
        assert "派遣 (dispatch) · jn-dispatch · 请东山网格员上门" in page.inner_text("#timeline")
        bad = page.fill("#note", "<b>x</b>")
        page.click("#actions button[data-action=remind]")
        page.wait_for_function("document.querySelector('#action-message').classList.contains('error')")
        assert "HTML" in page.inner_text("#action-message")
        page.screenshot(path=str(Path(os.environ.get("PYTEST_SCREENSHOT_DIR", "/tmp")) / "gridrisk-centre.png"))
        # A read-only analyst sees the same list and no action.
        analyst = browser.new_page()
        analyst.goto(base + "/")
        analyst.fill("#token", world.tokens["jn-analyst"])
        analyst.click("button[type=submit]")
        analyst.wait_for_selector("tr.task")
        analyst.locator("tr.task").nth(0).click()
        analyst.wait_for_selector("#timeline li")
        assert analyst.locator("#actions button").count() == 0
        bad_login = browser.new_page()
        bad_login.goto(base + "/")
        bad_login.fill("#token", world.tokens["expired"])
        bad_login.click("button[type=submit]")
        bad_login.wait_for_function("document.querySelector('#login-error').textContent.length > 0")
        assert "expired" in bad_login.inner_text("#login-error")
        browser.close()
        assert bad is None and errors == []
    reads = world.store.evidence_reads(f"T00007{JN_GRID[:6]}")
    assert [r["actor_id"] for r in reads] == ["jn-dispatch"]
    assert [e.action for e in world.store.events(f"T00007{JN_GRID[:6]}")] == ["file", "dispatch"]
    assert dt.datetime.now(TZ) >= reads[0]["at"]
