"""Webhook delivery of task events: killed services and receivers lose nothing and the
receiver's idempotency check counts every event exactly once."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_world import (
    JN_GRID,
    World,
    build_world,
    drop_world,
    free_port,
    make_task,
    start_server,
    stop,
    wait_http,
)

from gridrisk.service.config import ServiceConfig, Subscriber
from gridrisk.service.outbox import backoff_s, deliver_once
from gridrisk.taskstore.model import TZ

RECEIVER = textwrap.dedent('''
    """A centre's own system: records every event key once (its idempotency check)."""
    import http.server, sqlite3, sys, time

    db_path, port = sys.argv[1], int(sys.argv[2])

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            key = self.headers["Idempotency-Key"]
            time.sleep(0.02)  # a slow system: kills land mid-delivery
            with sqlite3.connect(db_path, timeout=30) as db:
                db.execute("CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, body TEXT)")
                db.execute("CREATE TABLE IF NOT EXISTS posts (key TEXT)")
                db.execute("INSERT INTO posts VALUES (?)", (key,))
                db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (key, body.decode()))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Hook).serve_forever()
''')


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    w = build_world(request.param, tmp_path)
    yield w
    drop_world(w)


def start_receiver(script: Path, db: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(port)])
    wait_http(f"http://127.0.0.1:{port}/", proc=proc)
    return proc


def seen(db: Path) -> tuple[set[str], int]:
    if not db.exists():
        return set(), 0
    with sqlite3.connect(db, timeout=30) as conn:
        try:
            keys = {r[0] for r in conn.execute("SELECT key FROM seen")}
            posts = conn.execute("SELECT COUNT(*) FROM posts").fetchone()[0]
        except sqlite3.OperationalError:
            return set(), 0
    return keys, posts


def outbox_keys(world: World, prefix: str) -> set[str]:
    with world.store._connect() as db:  # noqa: SLF001
        return {r[0] for r in db.all("SELECT event_key FROM outbox WHERE receiving_unit LIKE :p", p=prefix + "%")}


def wait_for(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_service_and_receiver_lose_nothing_and_deliver_each_event_once(
        world: World, tmp_path: Path) -> None:
    store = world.store
    store.upsert_tasks([make_task(n) for n in range(10, 70)])  # 60 more filed events
    script, received = tmp_path / "receiver.py", tmp_path / "received.sqlite"
    script.write_text(RECEIVER, encoding="utf-8")
    rport, sport = free_port(), free_port()
    config = tmp_path / "service.yaml"
    config.write_text(textwrap.dedent(f"""
        scheduler: {{escalation_every_s: 0, delivery_every_s: 0.2}}
        delivery:
          backoff_base_s: 0.5
          backoff_cap_s: 1
          subscribers:
            - {{name: jiangning, unit: "320115", url: "http://127.0.0.1:{rport}/hook"}}
    """), encoding="utf-8")
    receiver = start_receiver(script, received, rport)
    server = start_server(world, sport, config=config, scheduler=True, log=tmp_path / "server.log")
    try:
        wait_for(lambda: len(seen(received)[0]) >= 15, 60, "the first deliveries")
        server.send_signal(signal.SIGKILL)  # mid-delivery: no chance to mark what it sent
        server.wait(timeout=15)
        receiver.send_signal(signal.SIGKILL)
        receiver.wait(timeout=15)
        # While both are down, the centre's tasks keep moving.
        for n in range(10, 20):
            store.act(f"T{n:05d}{JN_GRID[:6]}", "dispatch", "jn-dispatch", dt.datetime(2026, 11, 2, 10, 0, tzinfo=TZ))
        server = start_server(world, sport, config=config, scheduler=True, log=tmp_path / "server.log")
        time.sleep(2)  # the service retries against a dead receiver, with backoff
        receiver = start_receiver(script, received, rport)
        wanted = outbox_keys(world, "320115")
        wait_for(lambda: seen(received)[0] >= wanted, 120, "every event of the centre")
        assert seen(received)[0] == wanted  # and nothing of Wuzhong
        wait_for(lambda: {d["event_key"] for d in store.deliveries("jiangning", "delivered")} == wanted,
                 30, "the service to mark the last delivery")
        assert not store.deliveries("jiangning", "dead")
        with sqlite3.connect(received) as conn:  # the idempotency check counted each key once
            counts = dict(conn.execute("SELECT key, COUNT(*) FROM seen GROUP BY key").fetchall())
        assert set(counts.values()) == {1} and len(counts) == len(wanted) == 3 + 60 + 10
    finally:
        stop(server)
        stop(receiver)


def test_a_centre_offline_for_a_day_gets_everything_once_and_a_refusal_goes_to_dead_letters(
        world: World) -> None:
    store = world.store
    config = ServiceConfig(backoff_base_s=60, backoff_cap_s=3600, dead_after_hours=72,
                           subscribers=(Subscriber("jiangning", "320115", "http://centre.example/hook"),))
    online = {"up": False}
    received: list[str] = []

    def centre(request: httpx.Request) -> httpx.Response:
        if not online["up"]:
            raise httpx.ConnectError("connection refused")
        key = request.headers["Idempotency-Key"]
        if key.startswith(f"T00003{JN_GRID[:6]}:"):
            return httpx.Response(422, text="unknown grid in our system")
        received.append(key)
        return httpx.Response(204)

    client = httpx.Client(transport=httpx.MockTransport(centre))
    start = dt.datetime(2026, 11, 3, 9, 0, tzinfo=TZ)
    first = deliver_once(store, config, client, now=start)
    assert (first["jiangning"].delivered, first["jiangning"].retried) == (0, 1)  # in order: stops at the first
    for hour in range(1, 24):  # offline all day: retries, never dead, order kept
        deliver_once(store, config, client, now=start + dt.timedelta(hours=hour))
    assert not store.deliveries("jiangning", "dead")
    online["up"] = True
    later = start + dt.timedelta(days=1, hours=2)
    for _ in range(5):
        deliver_once(store, config, client, now=later)
    assert sorted(received) == sorted(k for k in outbox_keys(world, "320115") if not k.startswith(f"T00003{JN_GRID[:6]}"))
    assert len(received) == len(set(received))
    dead = store.deliveries("jiangning", "dead")
    assert [(d["event_key"], d["last_error"]) for d in dead] == [
        (f"T00003{JN_GRID[:6]}:1", "HTTP 422: unknown grid in our system")]
    assert store.requeue_dead("jiangning", later) == 1
    assert backoff_s(1, config) == 60 and backoff_s(10, config) == 3600


def test_webhook_signature_uses_the_secret_from_the_environment(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import hmac

    monkeypatch.setenv("GRIDRISK_TEST_HOOK_SECRET", "s3cret")
    config = ServiceConfig(subscribers=(Subscriber("jn", "320115", "http://c/h", "GRIDRISK_TEST_HOOK_SECRET"),))
    checked: list[bool] = []

    def centre(request: httpx.Request) -> httpx.Response:
        want = hmac.new(b"s3cret", request.content, hashlib.sha256).hexdigest()
        checked.append(request.headers["X-Gridrisk-Signature"] == f"sha256={want}")
        return httpx.Response(200)

    deliver_once(world.store, config, httpx.Client(transport=httpx.MockTransport(centre)))
    assert checked and all(checked)
    assert os.environ["GRIDRISK_TEST_HOOK_SECRET"] not in str(world.store.deliveries("jn"))
