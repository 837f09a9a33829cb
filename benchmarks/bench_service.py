"""Benchmark: a unit's Open311 list from the task service, requests/s and p99 latency.

    python benchmarks/bench_service.py --backend sqlite --tasks 100000
    python benchmarks/bench_service.py --backend postgresql --tasks 100000   # GRIDRISK_TEST_PG_DSN

Fills a fresh store with ``--tasks`` open tasks spread over 4 districts × 10 streets × 5
communities × 5 grids, starts ``gridrisk serve`` as a real process (uvicorn, one worker, no
scheduler), then ``--clients`` threads ask ``/open311/v2/requests.json`` of one district (page
of 50, most urgent first) ``--requests`` times in all. Prints requests/s, p50/p90/p99 and the
load average beside them (this machine is shared: read the figures with it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from service_world import free_port, start_server, stop  # noqa: E402

from gridrisk.taskstore import Task, open_store  # noqa: E402
from gridrisk.taskstore.model import TZ  # noqa: E402

DISTRICTS = ("320115", "320506", "320102", "320213")


def grid_of(n: int) -> str:
    district = DISTRICTS[n % len(DISTRICTS)]
    street, community, grid = (n // 4) % 10 + 1, (n // 40) % 5 + 1, (n // 200) % 5 + 1
    return f"{district}{street:03d}{community:03d}{grid:03d}"


def fill(store: object, tasks: int, batch: int = 5000) -> float:
    started = time.perf_counter()
    filed = dt.datetime(2026, 11, 2, 9, 0, tzinfo=TZ)
    for start in range(0, tasks, batch):
        rows = []
        for n in range(start, min(tasks, start + batch)):
            grid = grid_of(n)
            rows.append(Task(task_id=f"B{n:08d}", flag_id=f"BF{n:08d}", rule_id="rental.overcrowded",
                             rule_version="1", severity="medium", priority=n % 4 + 1,
                             subject_key=f"{n:064x}", address_code=f"{grid[:12]}{n:08d}",
                             grid_code=grid, receiving_level="grid", receiving_unit=grid,
                             department="网格", title="群租房核查", explanation=f"出租屋{n}号请上门核查",
                             evidence={"occupants": 6}, filed_at=filed + dt.timedelta(seconds=n % 3600),
                             lon=118.8, lat=31.9, address_text=f"测试地址{n}号"))
        store.upsert_tasks(rows, at=filed)  # type: ignore[attr-defined]
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--unit", default="320115")
    args = parser.parse_args(argv)

    from service_world import World

    workdir = Path(tempfile.mkdtemp(prefix="bench-service-"))
    schema = "gridrisk"
    if args.backend == "sqlite":
        dsn = f"sqlite:///{workdir}/tasks.sqlite"
    else:
        dsn = os.environ.get("GRIDRISK_TEST_PG_DSN", "")
        if not dsn:
            print('needs GRIDRISK_TEST_PG_DSN: eval "$(bash .ci/postgres.sh start)"', file=sys.stderr)
            return 2
        schema = f"bench_{uuid.uuid4().hex[:8]}"
    store = open_store(dsn, pg_schema=schema)
    fill_s = fill(store, args.tasks)
    store.add_actor("bench", "bench dispatcher", args.unit, "dispatcher")
    _, secret = store.issue_token("bench", dt.timedelta(days=1))
    world = World(store, dsn, schema)
    port = free_port()
    server = start_server(world, port, log=workdir / "server.log")
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = args.requests // args.clients
    url = f"http://127.0.0.1:{port}/open311/v2/requests.json"
    try:
        with httpx.Client() as warm:
            total = warm.get(url, params={"page_size": 50}, headers={"Authorization": f"Bearer {secret}"})
            total.raise_for_status()

        def client(offset: int) -> None:
            mine = []
            with httpx.Client(headers={"Authorization": f"Bearer {secret}"}, timeout=60) as c:
                for i in range(per_client):
                    started = time.perf_counter()
                    c.get(url, params={"page_size": 50, "page": (offset + i) % 20 + 1,
                                       "status": "open"}).raise_for_status()
                    mine.append(time.perf_counter() - started)
            with lock:
                latencies.extend(mine)

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - started
    finally:
        stop(server)
        if args.backend == "postgresql":
            import psycopg

            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    load = os.getloadavg()
    print(f"backend {args.backend}: {args.tasks:,} open tasks (filled in {fill_s:.1f} s), unit {args.unit} "
          f"holds {total.headers['x-total-count']}")
    print(f"{len(latencies):,} requests from {args.clients} clients in {wall:.1f} s: "
          f"{len(latencies) / wall:.1f} requests/s; p50 {pct(0.5):.1f} ms, p90 {pct(0.9):.1f} ms, "
          f"p99 {pct(0.99):.1f} ms, mean {statistics.mean(latencies) * 1000:.1f} ms")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
