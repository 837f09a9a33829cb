"""A small world for the service tests: two districts, their actors and tokens, some tasks, a
real SQLite file or a real PostgreSQL schema, and a uvicorn server in a subprocess."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from gridrisk.taskstore import SqlTaskStore, Task, open_store
from gridrisk.taskstore.model import TZ
from gridrisk.taskstore.sla import sla_from_dict

REPO = Path(__file__).resolve().parents[1]
PG_ENV = "GRIDRISK_TEST_PG_DSN"
JN_GRID = "320115001001003"  # Jiangning district → street 001 → community 001 → grid 003
JN_GRID2 = "320115001001004"
WZ_GRID = "320506100200001"  # Suzhou Wuzhong: another district
NOW = dt.datetime(2026, 11, 3, 10, 0, 0, tzinfo=TZ)


def token_lifetime() -> dt.timedelta:
    """How long the world's tokens live: 30 days past whichever is later, the fixed NOW the
    injected-clock tests run at or the wall clock the real-server tests run at. A plain 30 days from
    NOW expired on 2026-12-02 and turned every test against ``gridrisk serve`` into a 401."""
    return dt.timedelta(days=30) + max(dt.timedelta(0), dt.datetime.now(TZ) - NOW)


SLA = sla_from_dict({
    "working_hours": [["09:00", "12:00"], ["13:30", "17:30"]],
    "priorities": {1: {"sign": "1h", "handle": "1d", "close": "2d"},
                   2: {"sign": "2h", "handle": "2d", "close": "3d"},
                   3: {"sign": "4h", "handle": "3d", "close": "5d"},
                   4: {"sign": "1d", "handle": "5d", "close": "10d"}},
    "false_positive_suppress_days": 90,
    "escalation": {"first": "raise_priority", "then": "move_up", "repeat_after": "1d"},
})
#: Evidence the rules let the unit see; it must never show except through the logged endpoint.
EVIDENCE = {"occupants": 6, "masked_names": ["张*三"], "registry_group": "精神障碍随访"}
ACTORS = {
    "jn-dispatch": ("320115", "dispatcher"), "jn-dispatch2": ("320115", "dispatcher"),
    "jn-worker": (JN_GRID, "grid_worker"), "jn-worker2": (JN_GRID, "grid_worker"),
    "jn-analyst": ("320115", "analyst"), "wz-dispatch": ("320506", "dispatcher"),
    "wz-worker": (WZ_GRID, "grid_worker"), "admin": ("32", "admin"),
}


def make_task(n: int, grid: str = JN_GRID, *, priority: int = 3, flag: str | None = None,
              filed_at: dt.datetime | None = None, logical_date: str | None = "2026-11-02",
              lat: float = 31.95, lon: float = 118.84) -> Task:
    return Task(task_id=f"T{n:05d}{grid[:6]}", flag_id=flag or f"F{n:05d}{grid[:6]}",
                rule_id="rental.overcrowded", rule_version="1", severity="medium", priority=priority,
                subject_key=f"{n:064x}", address_code=f"{grid[:12]}{n:08d}", grid_code=grid,
                receiving_level="grid", receiving_unit=grid, department="网格",
                title="群租房核查", explanation=f"出租屋{n}号住6人，人均4平方米，请上门核查",
                evidence=dict(EVIDENCE), filed_at=filed_at or dt.datetime(2026, 11, 2, 9, 0, tzinfo=TZ),
                lon=lon, lat=lat, address_text=("江宁区东山街道" if grid.startswith("320115") else "吴中区") + f"{n}号", logical_date=logical_date)


@dataclass
class World:
    store: SqlTaskStore
    dsn: str
    schema: str
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def pg_dsn_or_skip() -> str:
    dsn = os.environ.get(PG_ENV)
    if not dsn:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PG_ENV} is not set under CI=true")
        pytest.skip(f'PostgreSQL cases need {PG_ENV}; eval "$(bash .ci/postgres.sh start)"')
    return dsn


def build_world(backend: str, tmp_path: Path, tasks: int = 3) -> World:
    if backend == "sqlite":
        dsn, schema = f"sqlite:///{tmp_path}/tasks.sqlite", "gridrisk"
    else:
        dsn, schema = pg_dsn_or_skip(), f"s_{uuid.uuid4().hex[:12]}"
    store = open_store(dsn, sla=SLA, pg_schema=schema)
    world = World(store, dsn, schema)
    for actor, (unit, role) in ACTORS.items():
        store.add_actor(actor, f"{actor} 显示名", unit, role)
        world.token_ids[actor], world.tokens[actor] = store.issue_token(
            actor, token_lifetime(), at=NOW - dt.timedelta(days=1))
    # An expired token and a revoked one, both of a Jiangning dispatcher.
    world.token_ids["expired"], world.tokens["expired"] = store.issue_token(
        "jn-dispatch", dt.timedelta(hours=1), at=NOW - dt.timedelta(days=2))
    world.token_ids["revoked"], world.tokens["revoked"] = store.issue_token(
        "jn-dispatch", token_lifetime(), at=NOW - dt.timedelta(days=1))
    store.revoke_token(world.token_ids["revoked"], at=NOW - dt.timedelta(hours=1))
    store.upsert_tasks([make_task(n) for n in range(1, tasks + 1)]
                       + [make_task(100, WZ_GRID, lat=31.2, lon=120.6)],
                       at=dt.datetime(2026, 11, 2, 9, 0, tzinfo=TZ), logical_date="2026-11-02")
    return world


def drop_world(world: World) -> None:
    if world.dsn.startswith("postgresql"):
        import psycopg

        with psycopg.connect(world.dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {world.schema} CASCADE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s} s")


def start_server(world: World, port: int, *, config: Path | None = None, scheduler: bool = False,
                 log: Path | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``gridrisk serve`` on the world's store, as a real process."""
    args = [sys.executable, "-m", "cli", "serve", "--store", world.dsn, "--port", str(port),
            "--host", "127.0.0.1"]
    if config is not None:
        args += ["--config", str(config)]
    if not scheduler:
        args.append("--no-scheduler")
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    if world.schema != "gridrisk":
        full_env["GRIDRISK_PG_SCHEMA"] = world.schema
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 — handed to the child
    proc = subprocess.Popen(args, cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
    return proc


def stop(proc: subprocess.Popen[bytes], kill: bool = False) -> None:
    if proc.poll() is None:
        proc.kill() if kill else proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


Opener = Callable[..., World]


def world_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    world = build_world(request.param, tmp_path)
    yield world
    drop_world(world)
