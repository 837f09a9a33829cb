"""The grid centres' task service over real SQLite and PostgreSQL stores.

PostgreSQL cases need GRIDRISK_TEST_PG_DSN (eval "$(bash .ci/postgres.sh start)").
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from service_world import (
    EVIDENCE,
    JN_GRID,
    NOW,
    WZ_GRID,
    World,
    build_world,
    drop_world,
    free_port,
    make_task,
    start_server,
    stop,
    token_lifetime,
)

from gridrisk.service.app import create_app
from gridrisk.service.config import ServiceConfig
from gridrisk.service.escalation import run_escalation
from gridrisk.taskstore.model import TZ, contains_id_number

JN_TASK, WZ_TASK = f"T00001{JN_GRID[:6]}", f"T00100{WZ_GRID[:6]}"


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    w = build_world(request.param, tmp_path)
    yield w
    drop_world(w)


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[World]:
    w = build_world("sqlite", tmp_path)
    yield w
    drop_world(w)


def client_for(world: World, now: dt.datetime = NOW) -> TestClient:
    return TestClient(create_app(world.store, ServiceConfig(), clock=lambda: now))


# -- Open311 -----------------------------------------------------------------------------------

def test_an_open311_client_lists_its_units_tasks_and_reads_one_over_a_real_server(
        sqlite_world: World) -> None:
    """What a GeoReport v2 client does: discovery of services, then requests.xml with its
    api_key and the jurisdiction, then one request — here against ``gridrisk serve``."""
    port = free_port()
    server = start_server(sqlite_world, port)
    base = f"http://127.0.0.1:{port}/open311/v2"
    key = {"api_key": sqlite_world.tokens["jn-dispatch"], "jurisdiction_id": "js.gridrisk"}
    try:
        services = ET.fromstring(httpx.get(f"{base}/services.xml", params=key).content)
        codes = {s.findtext("service_code") for s in services.findall("service")}
        assert {"rental.overcrowded", "patrol_report"} <= codes
        listing = httpx.get(f"{base}/requests.xml", params={**key, "status": "open",
                                                            "service_code": "rental.overcrowded"})
        assert listing.status_code == 200 and listing.headers["content-type"].startswith("application/xml")
        requests = ET.fromstring(listing.content).findall("request")
        ids = [r.findtext("service_request_id") for r in requests]
        assert sorted(ids) == sorted(f"T{n:05d}{JN_GRID[:6]}" for n in (1, 2, 3))  # not Wuzhong's
        first = requests[0]
        assert first.findtext("status") == "open"
        assert first.findtext("expected_datetime") == "2026-11-06T17:30:00+08:00"  # 5 working days
        assert first.findtext("address").startswith("江宁区东山街道")
        assert first.findtext("extended_attributes/lifecycle_status") == "filed"
        one = ET.fromstring(httpx.get(f"{base}/requests/{ids[0]}.xml", params=key).content)
        assert [r.findtext("service_request_id") for r in one.findall("request")] == [ids[0]]
        as_json = httpx.get(f"{base}/requests/{ids[0]}.json",
                            headers=sqlite_world.auth("jn-dispatch")).json()
        assert as_json[0]["requested_datetime"] == "2026-11-02T09:00:00+08:00"
        assert as_json[0]["extended_attributes"]["map_url"].startswith("https://www.openstreetmap.org/")
        assert httpx.get(f"{base}/requests/{WZ_TASK}.json", params=key).status_code == 404
        assert httpx.get(f"{base}/requests.json", params={**key, "jurisdiction_id": "elsewhere"}
                         ).status_code == 404
    finally:
        stop(server)


def test_requests_filter_by_status_dates_and_pages(world: World) -> None:
    world.store.upsert_tasks([make_task(n, filed_at=dt.datetime(2026, 11, 3, 9, n, tzinfo=TZ))
                              for n in range(4, 9)])
    c = client_for(world)
    h = world.auth("jn-dispatch")
    page1 = c.get("/open311/v2/requests.json", params={"page_size": 3}, headers=h)
    page3 = c.get("/open311/v2/requests.json", params={"page_size": 3, "page": 3}, headers=h)
    assert page1.headers["x-total-count"] == "8" and len(page1.json()) == 3
    assert len(page3.json()) == 2
    later = c.get("/open311/v2/requests.json", headers=h,
                  params={"start_date": "2026-11-03T00:00:00+08:00", "end_date": "2026-11-03T09:05:00+08:00"})
    assert sorted(r["service_request_id"] for r in later.json()) == [
        f"T{n:05d}{JN_GRID[:6]}" for n in range(4, 6)]
    c.post(f"/api/v1/tasks/{JN_TASK}/actions/close", json={"note": "已处理"}, headers=h)
    closed = c.get("/open311/v2/requests.json", params={"status": "closed"}, headers=h).json()
    assert [r["service_request_id"] for r in closed] == [JN_TASK]
    fine = c.get("/open311/v2/requests.json", params={"status": "filed"}, headers=h)
    assert fine.headers["x-total-count"] == "7"


def test_the_openapi_document_validates(sqlite_world: World) -> None:
    from openapi_spec_validator import validate

    document = client_for(sqlite_world).get("/openapi.json").json()
    validate(document)
    assert "/open311/v2/requests.{fmt}" in document["paths"]


# -- who sees what -----------------------------------------------------------------------------

def _concrete(route: APIRoute, task_id: str) -> str:
    return (route.path.replace("{task_id}", task_id).replace("{request_id}", task_id)
            .replace("{fmt}", "json").replace("{action}", "dispatch"))


def _params(route: APIRoute) -> dict[str, str]:
    if route.path == "/api/v1/stats":
        return {"since": "2026-11-01T00:00:00+08:00", "until": "2026-11-04T00:00:00+08:00"}
    return {}


def test_every_endpoint_refuses_other_units_expired_revoked_and_read_only_tokens(world: World) -> None:
    c = client_for(world)
    routes = [r for r in c.app.routes if isinstance(r, APIRoute) and r.include_in_schema]  # type: ignore[attr-defined]
    assert len(routes) >= 14
    for route in routes:
        method = sorted(route.methods)[0]
        url = _concrete(route, JN_TASK)
        body = {} if method == "POST" else None
        if route.path == "/api/v1/reports":
            body = {"report_ref": "r1", "title": "消防通道堵塞", "description": "楼道堆物",
                    "grid_code": JN_GRID}
        for bad in (None, "expired", "revoked"):
            headers = world.auth(bad) if bad else {}
            answer = c.request(method, url, json=body, params=_params(route), headers=headers)
            assert answer.status_code == 401, (route.path, bad, answer.text)
            assert JN_TASK not in answer.text
        # Wuzhong's dispatcher gets nothing of Jiangning: no task id, no text of it.
        answer = c.request(method, url, json=body, params=_params(route), headers=world.auth("wz-dispatch"))
        assert "江宁区" not in answer.text and "出租屋1号" not in answer.text, route.path
        if "{task_id}" not in route.path and "{request_id}" not in route.path:
            assert JN_TASK not in answer.text, route.path
        else:
            assert answer.status_code == 404, (route.path, answer.text)
            missing = c.request(method, _concrete(route, "T-NO-SUCH-TASK"), json=body,
                                headers=world.auth("wz-dispatch"))
            # Refused exactly like a task that does not exist.
            assert (missing.status_code, missing.json()["error"].replace("T-NO-SUCH-TASK", "X")) == (
                answer.status_code, answer.json()["error"].replace(JN_TASK, "X"))
        # Asking for another unit explicitly is refused too.
        if "unit" in {p.name for p in route.dependant.query_params}:
            other = c.request(method, url, json=body, params={**_params(route), "unit": "320115"},
                              headers=world.auth("wz-dispatch"))
            assert other.status_code == 403 and JN_TASK not in other.text
        # A read-only analyst of the right unit can read but not change anything.
        if method == "POST":
            answer = c.request(method, url, json=body, headers=world.auth("jn-analyst"))
            assert answer.status_code == 403, (route.path, answer.text)
    assert [e.to_status for e in world.store.events(JN_TASK)] == ["filed"]


def test_tokens_are_stored_hashed_and_expire(world: World) -> None:
    secret = world.tokens["jn-dispatch"]
    assert world.store.authenticate(secret, NOW).actor_id == "jn-dispatch"  # type: ignore[union-attr]
    _, month = world.store.issue_token("jn-dispatch", dt.timedelta(days=30), at=NOW)
    assert world.store.authenticate(month, NOW + dt.timedelta(days=29)).actor_id == "jn-dispatch"  # type: ignore[union-attr]
    assert world.store.authenticate(month, NOW + dt.timedelta(days=30, seconds=1)) is None
    assert world.store.authenticate(world.tokens["revoked"], NOW) is None
    with world.store._connect() as db:  # noqa: SLF001 — look at what is stored
        stored = [r[0] for r in db.all("SELECT token_hash FROM api_tokens")]
    assert secret not in stored and all(len(h) == 64 for h in stored)
    world.store.deactivate_actor("jn-dispatch")
    assert world.store.authenticate(secret, NOW) is None


def test_every_evidence_read_is_logged(world: World) -> None:
    c = client_for(world)
    got = c.get(f"/api/v1/tasks/{JN_TASK}/evidence", headers=world.auth("jn-worker"))
    assert got.json()["evidence"] == EVIDENCE
    c.get(f"/api/v1/tasks/{JN_TASK}/evidence", headers=world.auth("jn-dispatch"))
    reads = c.get(f"/api/v1/tasks/{JN_TASK}/evidence-reads", headers=world.auth("jn-dispatch")).json()
    assert [(r["actor_id"], r["at"]) for r in reads] == [
        ("jn-worker", NOW.isoformat()), ("jn-dispatch", NOW.isoformat())]
    assert c.get(f"/api/v1/tasks/{JN_TASK}/evidence-reads", headers=world.auth("jn-worker")).status_code == 403


# -- the case loop over the API ------------------------------------------------------------------

def test_the_whole_case_loop_with_its_rules(world: World) -> None:
    c = client_for(world)
    d, w, w2, d2 = (world.auth(a) for a in ("jn-dispatch", "jn-worker", "jn-worker2", "jn-dispatch2"))
    url = f"/api/v1/tasks/{JN_TASK}/actions"

    def post(action: str, headers: dict[str, str], **body: Any) -> httpx.Response:
        return c.post(f"{url}/{action}", json=body, headers=headers)

    assert post("dispatch", d, at="2026-11-02T09:10:00+08:00", assignee="jn-worker").status_code == 200
    refused = post("sign", w2, at="2026-11-02T09:20:00+08:00")
    assert refused.status_code == 409 and "assigned to jn-worker" in refused.json()["error"]
    assert post("sign", w, at="2026-11-02T09:20:00+08:00").status_code == 200
    future = post("remind", d, at="2026-11-03T10:00:01+08:00", note="请尽快")
    assert future.status_code == 409 and "in the future" in future.json()["error"]
    assert post("remind", d, at="2026-11-02T15:00:00+08:00", note="请今日上门").status_code == 200
    ext = post("request_extension", w, at="2026-11-03T09:00:00+08:00", note="房东在外地",
               new_deadline="2026-11-10T17:30:00+08:00")
    assert ext.status_code == 200
    assert post("grant_extension", d, at="2026-11-03T09:30:00+08:00").status_code == 200
    detail = c.get(f"/api/v1/tasks/{JN_TASK}", headers=d).json()
    assert detail["request"]["expected_datetime"] == "2026-11-10T17:30:00+08:00"
    handled = post("handle", w, at="2026-11-03T09:40:00+08:00", result="rectified", note="已清退两人",
                   photo_url="https://grid.example/p/1.jpg", expected_version=detail["version"])
    assert handled.status_code == 200
    stale = post("verify", d, at="2026-11-03T09:41:00+08:00", expected_version=detail["version"])
    assert stale.status_code == 409 and "reload" in stale.json()["error"]
    assert post("verify", d, at="2026-11-03T09:45:00+08:00").status_code == 200
    assert post("close", d, at="2026-11-03T09:50:00+08:00").status_code == 200
    assert post("follow_up", d2, at="2026-11-03T09:55:00+08:00", rating="unsatisfied",
                note="群众反映仍有人居住").status_code == 200
    assert post("reopen", d2, at="2026-11-03T09:56:00+08:00", note="回访不满意，返工").status_code == 200
    events = c.get(f"/api/v1/tasks/{JN_TASK}/events", headers=d).json()
    assert [(e["action"], e["to_status"], e["actor"]) for e in events] == [
        ("file", "filed", "system"), ("dispatch", "dispatched", "jn-dispatch"),
        ("sign", "signed", "jn-worker"), ("remind", "signed", "jn-dispatch"),
        ("request_extension", "signed", "jn-worker"), ("grant_extension", "signed", "jn-dispatch"),
        ("handle", "handled", "jn-worker"), ("verify", "verified", "jn-dispatch"),
        ("close", "closed", "jn-dispatch"), ("follow_up", "closed", "jn-dispatch2"),
        ("reopen", "dispatched", "jn-dispatch2")]
    assert events[9]["detail"] == {"rating": "unsatisfied"}
    assert c.get(f"/api/v1/tasks/{JN_TASK}", headers=d).json()["actions"] == [
        "close", "return", "remind"]


def test_nobody_verifies_their_own_work(world: World) -> None:
    world.store.add_actor("jn-lead", "网格长", "320115", "admin")
    c = client_for(world)
    lead = world.auth("admin")  # an admin may handle and verify, but not the same case both
    for action, at in (("dispatch", "09:10"), ("sign", "09:20")):
        assert c.post(f"/api/v1/tasks/{JN_TASK}/actions/{action}", headers=lead,
                      json={"at": f"2026-11-02T{at}:00+08:00"}).status_code == 200
    c.post(f"/api/v1/tasks/{JN_TASK}/actions/handle", headers=lead,
           json={"at": "2026-11-02T10:00:00+08:00", "result": "confirmed", "note": "属实"})
    own = c.post(f"/api/v1/tasks/{JN_TASK}/actions/verify", headers=lead, json={"at": "2026-11-02T10:05:00+08:00"})
    assert own.status_code == 403 and "may not verify their own work" in own.json()["error"]
    other = c.post(f"/api/v1/tasks/{JN_TASK}/actions/verify", headers=world.auth("jn-dispatch"),
                   json={"at": "2026-11-02T10:06:00+08:00"})
    assert other.status_code == 200


def test_a_grid_workers_patrol_report_is_filed_once(world: World) -> None:
    c = client_for(world)
    report = {"report_ref": "patrol-2026-11-03-01", "title": "消防通道堵塞",
              "description": "3号楼楼道堆放杂物", "grid_code": JN_GRID, "lat": 31.951, "long": 118.841,
              "address_text": "东山街道3号楼", "at": "2026-11-03T08:30:00+08:00"}
    first = c.post("/api/v1/reports", json=report, headers=world.auth("jn-worker"))
    again = c.post("/api/v1/reports", json=report, headers=world.auth("jn-worker"))
    assert first.status_code == again.status_code == 201
    task_id = first.json()["service_request_id"]
    assert again.json()["service_request_id"] == task_id
    task = world.store.get(task_id)
    assert task is not None and (task.source, task.receiving_unit, task.status) == ("patrol", JN_GRID, "filed")
    elsewhere = c.post("/api/v1/reports", json={**report, "grid_code": WZ_GRID, "report_ref": "x"},
                       headers=world.auth("jn-worker"))
    assert elsewhere.status_code == 403
    assert c.post("/api/v1/reports", json=report, headers=world.auth("jn-dispatch")).status_code == 403


# -- races -------------------------------------------------------------------------------------

def test_racing_clients_make_no_double_transition_and_lose_no_event(world: World, tmp_path: Path) -> None:
    """N clients over HTTP against a real server, racing to sign and to claim."""
    store = world.store
    extra = [make_task(n) for n in range(10, 16)]
    store.upsert_tasks(extra)
    targets = [f"T{n:05d}{JN_GRID[:6]}" for n in (1, 2, 3)]
    for t in targets + [t.task_id for t in extra]:
        store.act(t, "dispatch", "jn-dispatch", dt.datetime(2026, 11, 2, 9, 5, tzinfo=TZ))
    workers = ["jn-worker", "jn-worker2", "admin"]
    for n in range(3, 8):
        store.add_actor(f"jn-w{n}", f"网格员{n}", JN_GRID, "grid_worker")
        workers.append(f"jn-w{n}")
    secrets = {w: store.issue_token(w, token_lifetime(), at=NOW)[1] for w in workers if w not in world.tokens}
    secrets.update({w: world.tokens[w] for w in workers if w in world.tokens})
    port = free_port()
    server = start_server(world, port, log=tmp_path / "server.log")
    base = f"http://127.0.0.1:{port}"
    outcomes: dict[str, list[int]] = {t: [] for t in targets}
    claims: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(workers))

    def race(worker: str) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secrets[worker]}"}, timeout=60) as cl:
            barrier.wait()
            for t in targets:
                code = cl.post(f"/api/v1/tasks/{t}/actions/sign", json={}).status_code
                with lock:
                    outcomes[t].append(code)
            while True:
                answer = cl.post("/api/v1/claim")
                if answer.status_code != 200:
                    assert answer.status_code == 404, answer.text
                    break
                with lock:
                    claims.append(answer.json()["task_id"])

    try:
        threads = [threading.Thread(target=race, args=(w,)) for w in workers]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
    finally:
        stop(server)
    for t in targets:
        assert sorted(outcomes[t]) == [200] + [409] * (len(workers) - 1), outcomes
    assert sorted(claims) == sorted(t.task_id for t in extra)  # each claimed once, none left
    for t in targets + [t.task_id for t in extra]:
        events = store.events(t)
        assert [e.action for e in events] == ["file", "dispatch", "sign"]
        with store._connect() as db:  # noqa: SLF001 — the outbox holds exactly these events
            keys = sorted(r[0] for r in db.all("SELECT event_key FROM outbox WHERE task_id = :t", t=t))
        assert keys == sorted(f"{t}:{e.seq}" for e in events)


# -- bad input ---------------------------------------------------------------------------------

def test_bad_requests_get_a_4xx_that_says_what_is_wrong_never_a_500(sqlite_world: World) -> None:
    c = client_for(sqlite_world)
    h = sqlite_world.auth("jn-dispatch")
    w = sqlite_world.auth("jn-worker")
    act = f"/api/v1/tasks/{JN_TASK}/actions"
    cases: list[tuple[str, str, dict[str, Any], Any, dict[str, str], int, str]] = [
        ("POST", f"{act}/dispatch", {}, {"colour": "red"}, h, 422, "colour: Extra inputs are not permitted"),
        ("POST", f"{act}/sign", {}, {}, h, 403, "a dispatcher may not sign"),
        ("POST", f"{act}/verify", {}, {}, h, 409, "cannot go to verified"),
        ("POST", f"{act}/explode", {}, {}, h, 404, "unknown action"),
        ("POST", f"{act}/dispatch", {}, {"at": "2026-13-45T99:00"}, h, 422, "at: "),
        ("POST", f"{act}/dispatch", {}, {"at": "2026-11-01T08:00:00+08:00"}, h, 409, "before its previous event"),
        ("POST", f"{act}/dispatch", {}, {"note": "x'; DROP TABLE tasks; --"}, h, 422, "SQL"),
        ("POST", f"{act}/dispatch", {}, {"note": "<script>alert(1)</script>"}, h, 422, "HTML"),
        ("POST", f"{act}/dispatch", {}, {"note": "户主32011519900307123X已搬走"}, h, 422, "resident ID"),
        ("POST", f"{act}/dispatch", {}, {"note": "x" * 3000}, h, 422, "at most 2000"),
        ("POST", f"{act}/dispatch", {}, {"expected_version": "two"}, h, 422, "expected_version"),
        ("POST", f"{act}/dispatch", {}, "not json", h, 422, "invalid request"),
        ("GET", "/open311/v2/requests.json", {"start_date": "yesterday"}, None, h, 400, "ISO 8601"),
        ("GET", "/open311/v2/requests.json", {"status": "lost"}, None, h, 400, "status 'lost'"),
        ("GET", "/open311/v2/requests.json", {"page": "0"}, None, h, 422, "page"),
        ("GET", "/open311/v2/requests.json", {"page_size": "100000"}, None, h, 400, "page_size"),
        ("GET", "/open311/v2/requests.csv", {}, None, h, 422, "fmt"),
        ("GET", "/api/v1/stats", {"since": "x", "until": "y"}, None, h, 400, "ISO 8601"),
        ("GET", "/api/v1/stats", {}, None, h, 422, "since"),
        ("POST", "/api/v1/reports", {}, {"report_ref": "a b", "title": "", "description": "x",
                                          "grid_code": "123"}, w, 422, "grid_code"),
        ("POST", "/api/v1/reports", {}, {"report_ref": "r9", "title": "t", "description": "<img src=x>",
                                          "grid_code": JN_GRID}, w, 422, "HTML"),
        ("GET", "/open311/v2/requests/1' OR '1'='1.json", {}, None, h, 404, "no task"),
    ]
    for method, url, params, body, headers, status, says in cases:
        if isinstance(body, str):
            answer = c.request(method, url, params=params, content=body.encode(),
                               headers={**headers, "Content-Type": "application/json"})
        else:
            answer = c.request(method, url, params=params, json=body, headers=headers)
        assert answer.status_code == status, (url, body, answer.text)
        message = answer.json()["error"] + " " + " ".join(answer.json()["problems"])
        assert says in message, (url, message)
        assert "Traceback" not in answer.text and "32011519900307123X" not in answer.text
    big = c.post(f"{act}/dispatch", content=b"{" + b" " * 70_000 + b"}",
                 headers={**h, "Content-Type": "application/json"})
    assert big.status_code == 413 and "larger than" in big.json()["error"]
    assert [e.action for e in sqlite_world.store.events(JN_TASK)] == ["file"]


def test_no_id_number_name_or_evidence_in_responses_logs_or_webhook_payloads(
        sqlite_world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = client_for(sqlite_world)
    h, w = sqlite_world.auth("jn-dispatch"), sqlite_world.auth("jn-worker")
    seen: list[str] = []
    for method, url, body, headers in [
        ("GET", "/open311/v2/requests.json", None, h), ("GET", "/open311/v2/requests.xml", None, h),
        ("GET", f"/open311/v2/requests/{JN_TASK}.json", None, h),
        ("POST", f"/api/v1/tasks/{JN_TASK}/actions/dispatch", {"note": "张三丰 320115199003071234"}, h),
        ("POST", f"/api/v1/tasks/{JN_TASK}/actions/dispatch", {"note": "请核查"}, h),
        ("POST", f"/api/v1/tasks/{JN_TASK}/actions/sign", {}, w),
        ("GET", f"/api/v1/tasks/{JN_TASK}", None, w), ("GET", f"/api/v1/tasks/{JN_TASK}/events", None, w),
        ("GET", "/api/v1/overdue", None, h), ("GET", "/api/v1/map", None, h),
    ]:
        seen.append(c.request(method, url, json=body, headers=headers).text)
    with sqlite_world.store._connect() as db:  # noqa: SLF001 — every webhook payload
        seen += [str(r[0]) for r in db.all("SELECT payload FROM outbox")]
    seen += [r.getMessage() for r in caplog.records]
    text = "\n".join(seen)
    assert not contains_id_number(text)
    assert "张三丰" not in text and "320115199003071234" not in text
    # The evidence (masked names, registry group) and the subject key never leave these paths.
    for secret in ("张*三", "精神障碍", f"{1:064x}"):
        assert secret not in text


# -- SLA, figures, feedback ----------------------------------------------------------------------

def test_overdue_tasks_are_escalated_once_per_period_then_moved_up(world: World) -> None:
    store = world.store
    deadline = store.get(JN_TASK).deadline  # type: ignore[union-attr]
    assert deadline == dt.datetime(2026, 11, 6, 17, 30, tzinfo=TZ)
    late = dt.datetime(2026, 11, 9, 9, 30, tzinfo=TZ)
    first = run_escalation(store, late, "320115")
    assert [(e.task_id, e.step, e.priority) for e in first][:1] == [(JN_TASK, "raise_priority", (3, 2))]
    assert len(first) == 3 and run_escalation(store, late, "320115") == []
    moved = run_escalation(store, late + dt.timedelta(days=1), "320115")  # a working day later
    assert {(e.step, e.receiving_unit) for e in moved} == {("move_up", (JN_GRID, JN_GRID[:12]))}
    task = store.get(JN_TASK)
    assert task is not None and (task.priority, task.receiving_level, task.escalation_level) == (2, "community", 2)
    assert [e.action for e in store.events(JN_TASK)][-2:] == ["escalate", "escalate"]
    c = client_for(world, now=late + dt.timedelta(days=1))
    overdue = c.get("/api/v1/overdue", headers=world.auth("jn-dispatch")).json()
    assert sorted(overdue) == [JN_GRID[:12]] and len(overdue[JN_GRID[:12]]) == 3
    # The grid worker no longer sees a task moved up to the community.
    assert c.get(f"/api/v1/tasks/{JN_TASK}", headers=world.auth("jn-worker")).status_code == 404


def test_headline_figures_endpoint_and_command(world: World) -> None:
    store = world.store
    store.act(JN_TASK, "close", "jn-dispatch", dt.datetime(2026, 11, 2, 10, 0, tzinfo=TZ), note="重复")
    c = client_for(world)
    figures = c.get("/api/v1/stats", headers=world.auth("jn-dispatch"),
                    params={"since": "2026-11-01T00:00:00+08:00", "until": "2026-11-04T00:00:00+08:00"}).json()
    assert (figures["filed"], figures["closed"], figures["on_time_closure_rate"]) == (3, 1, 1.0)
    assert figures["median_seconds_per_step"] == {"filed->closed": 3600.0}
    if world.dsn.startswith("sqlite"):
        out = subprocess.run([sys.executable, "-m", "cli", "tasks", "stats", "--store", world.dsn,
                              "--unit", "320115", "--since", "2026-11-01T00:00:00", "--until", "2026-11-04T00:00:00"],
                             capture_output=True, text=True, check=True)
        assert "filed 3, closed 1" in out.stdout and "on-time closure rate 100.0%" in out.stdout


class _FakeSpark:
    """Stands in for the SparkSession in risk_flags.suppressed_flags: records the ids it gets."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def createDataFrame(self, rows: list[tuple[str]], schema: str) -> list[str]:  # noqa: N802
        self.ids = [r[0] for r in rows]
        return self.ids


def test_feedback_from_the_api_reaches_the_rules_next_run_by_logical_date(world: World) -> None:
    """False positive → suppressed on the next logical date (not the wall clock); rectified →
    resolved outcome; the rules' own reader (jobs.gold.risk_flags.suppressed_flags) sees it."""
    from jobs.gold.risk_flags import suppressed_flags

    c = client_for(world)
    d, w = world.auth("jn-dispatch"), world.auth("jn-worker")
    t2 = f"T00002{JN_GRID[:6]}"
    for tid, result in ((JN_TASK, "false_positive"), (t2, "rectified")):
        for action, body, who in (("dispatch", {}, d), ("sign", {}, w),
                                  ("handle", {"result": result, "note": "现场核实"}, w)):
            assert c.post(f"/api/v1/tasks/{tid}/actions/{action}", json=body, headers=who).status_code == 200
    # Handled "now" (2026-11-03 wall time of the service) but counted for logical 2026-11-02,
    # the date the pipeline last published: the next run (11-03) is suppressed.
    flag_fp, flag_ok = f"F00001{JN_GRID[:6]}", f"F00002{JN_GRID[:6]}"
    outcomes = world.store.flag_outcomes()
    assert outcomes[flag_fp].logical_date == dt.date(2026, 11, 2)
    assert outcomes[flag_ok].result == "rectified"

    class Profile:
        task_store = world.dsn

    if world.dsn.startswith("sqlite"):
        spark = _FakeSpark()
        suppressed_flags(spark, Profile(), "2026-11-03")  # type: ignore[arg-type]
        assert spark.ids == [flag_fp]
    assert world.store.suppressed_flags(dt.date(2026, 11, 3)) == {flag_fp}
    assert world.store.suppressed_flags(dt.date(2027, 1, 30)) == {flag_fp}  # day 89 of 90
    assert world.store.suppressed_flags(dt.date(2027, 1, 31)) == set()


def test_importing_the_service_does_not_import_pyspark() -> None:
    code = ("import sys, gridrisk.service, gridrisk.service.app, gridrisk.service.cli, "
            "gridrisk.service.outbox, gridrisk.service.escalation; "
            "print([m for m in sys.modules if m.startswith(('pyspark', 'delta', 'great_expectations'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert json.loads(out.stdout.replace("'", '"')) == []


def test_the_cli_issues_lists_and_revokes_tokens(sqlite_world: World) -> None:
    def run(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "cli", *args, "--store", sqlite_world.dsn],
                              capture_output=True, text=True, check=True).stdout

    issued = run("tokens", "issue", "jn-worker", "--days", "7")
    token_id = issued.split()[1]
    secret = issued.strip().splitlines()[-1]
    assert sqlite_world.store.authenticate(secret).actor_id == "jn-worker"  # type: ignore[union-attr]
    assert re.search(rf"{token_id}\s+jn-worker\s+active", run("tokens", "list"))
    run("tokens", "revoke", token_id)
    assert sqlite_world.store.authenticate(secret) is None
    assert re.search(rf"{token_id}\s+jn-worker\s+revoked", run("tokens", "list"))


def test_the_services_own_scheduler_runs_the_sla_check(sqlite_world: World) -> None:
    import time

    late = dt.datetime(2026, 11, 9, 9, 30, tzinfo=TZ)
    config = ServiceConfig(escalation_every_s=0.2, delivery_every_s=0)
    with TestClient(create_app(sqlite_world.store, config, clock=lambda: late, scheduler=True)):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sqlite_world.store.events(JN_TASK)[-1].action != "escalate":
            time.sleep(0.1)
    escalations = [e for e in sqlite_world.store.events(JN_TASK) if e.action == "escalate"]
    assert [(e.actor, e.detail["priority"]) for e in escalations] == [("system", [3, 2])]  # type: ignore[index]
