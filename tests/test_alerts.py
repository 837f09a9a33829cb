"""Alerts reach a webhook (a real HTTP server on 127.0.0.1) and the log; a dead webhook loses nothing."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest

from gridrisk import alerts


@pytest.fixture
def receiver():
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", got
    server.shutdown()


def test_a_failed_task_posts_which_task_which_date_why_and_a_link(receiver, monkeypatch, caplog):
    url, got = receiver
    monkeypatch.setenv(alerts.WEBHOOK_ENV, url)
    ti = SimpleNamespace(task_id="ingest_persons", dag_id="gridrisk_daily", log_url="http://airflow/log/1")
    with caplog.at_level(logging.ERROR, logger="gridrisk.alerts"):
        alerts.on_task_failure({"ti": ti, "ds": "2026-11-01", "exception": RuntimeError("persons: not_ready")})
    assert len(got) == 1
    assert {k: got[0][k] for k in ("kind", "dag_id", "task_id", "ds", "link")} == {
        "kind": "task_failed", "dag_id": "gridrisk_daily", "task_id": "ingest_persons", "ds": "2026-11-01",
        "link": "http://airflow/log/1"}
    assert got[0]["reason"] == "RuntimeError: persons: not_ready"
    assert "ingest_persons" in caplog.text  # logged as well


def test_a_dead_webhook_is_retried_logged_and_never_raises(monkeypatch, caplog):
    monkeypatch.setattr(alerts.time, "sleep", lambda s: None)
    with caplog.at_level(logging.WARNING, logger="gridrisk.alerts"):
        delivered = alerts.send(alerts.build("deadline_missed", "gridrisk_daily", None, "2026-11-01", "late", None),
                                webhook="http://127.0.0.1:9/nothing-listens", attempts=2, timeout=1)
    assert delivered is False
    assert "attempt 1 failed" in caplog.text and "not delivered after 2 attempts" in caplog.text
    assert "deadline_missed" in caplog.text


def test_no_webhook_configured_still_logs(monkeypatch, caplog):
    monkeypatch.delenv(alerts.WEBHOOK_ENV, raising=False)
    with caplog.at_level(logging.ERROR, logger="gridrisk.alerts"):
        assert alerts.send(alerts.build("task_failed", "d", "t", "2026-11-01", "boom", None)) is False
    assert "boom" in caplog.text
