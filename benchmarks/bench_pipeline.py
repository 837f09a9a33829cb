"""The whole daily pipeline end to end: seconds, CPU seconds and peak memory per stage.

    .venv/bin/python benchmarks/bench_pipeline.py --persons 100000
    .venv/bin/python benchmarks/bench_pipeline.py --persons 1000000 --days 2 --json /tmp/p1m.json

Generates the province once (``benchmarks/_province.py``; not timed), then runs
``jobs.pipeline.run_daily`` for each day in one Python process, as ``gridrisk run`` does: one
Spark application shared by every stage. The JVM's start-up is paid inside the first stage and
printed on its own line (``spark start``) so it is not mistaken for ingest.

Per stage it prints wall seconds, CPU seconds (user + system of this process tree: driver Python,
the Spark JVM and its Python workers), the peak resident memory of the tree while the stage ran,
rows where the stage reports them, and the load average before and after. On a shared machine
wall time follows the neighbours; CPU seconds and the load beside them say how much. With
``--days 2`` the second day's rules run as the profile says (full since session 6; incremental
with ``rules: {incremental: true}``) and then again with ``--full`` on the same lake;
``benchmarks/bench_rules.py --rules-only`` on the same work folder times incremental against
full from the same gold state. Bigger provinces set ``GRIDRISK_SHUFFLE_PARTITIONS`` and
``GRIDRISK_DRIVER_MEMORY`` (conf/profiles/local.yaml; docs/benchmarks.md, 10 M persons).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from _measure import tree_cpu

HERE = Path(__file__).resolve().parent
TREE = HERE.parent


def rows_of(summary: Any) -> int | None:
    """The rows a stage says it read or wrote (ingest: rows read; others: the largest count)."""
    if not isinstance(summary, dict):
        return None
    if isinstance(summary.get("results"), list):  # ingest: one result per dataset
        return sum(int(d.get("rows_read") or 0) for d in summary["results"] if isinstance(d, dict)) or None
    counts = [v for k, v in summary.items() if isinstance(v, int) and not isinstance(v, bool)
              and any(w in k for w in ("rows", "records", "flags", "tasks"))]
    return max(counts) if counts else None


class Meter:
    """Wall clock, tree CPU and peak RSS of one stage."""

    def __init__(self) -> None:
        from linkage_accuracy import PeakRss

        self._rss = PeakRss()
        self.load0 = os.getloadavg()
        self.cpu0 = tree_cpu()
        self.t0 = time.monotonic()
        self._rss.__enter__()

    def stop(self) -> dict[str, Any]:
        self._rss.__exit__(None, None, None)
        return {"seconds": round(time.monotonic() - self.t0, 1), "cpu_seconds": round(tree_cpu() - self.cpu0, 1),
                "peak_rss_gib": round(self._rss.peak / 2**30, 2),
                "load_before": [round(x, 1) for x in self.load0],
                "load_after": [round(x, 1) for x in os.getloadavg()]}


def main() -> int:
    sys.path.insert(0, str(TREE))
    sys.path.insert(0, str(HERE))
    from _province import prepare, province_args

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    province_args(parser, 100_000)
    parser.add_argument("--days", type=int, default=1, help="consecutive generated days to run")
    parser.add_argument("--stages", help="comma-separated stages (default: every stage of the catalog)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    import datetime as dt

    work = prepare(args.persons, args.seed, args.date, args.workdir, days=args.days)
    from gridrisk.config import load_profile
    from jobs import pipeline

    profile = load_profile()
    stages = args.stages.split(",") if args.stages else None
    rows: list[dict[str, Any]] = []

    def record(day: str, stage: str, meter: Meter, summary: Any) -> None:
        got = {"day": day, "stage": stage, **meter.stop(), "rows": rows_of(summary)}
        rows.append(got)
        print(json.dumps(got, default=str), flush=True)

    started = time.monotonic()
    meter = Meter()
    from gridrisk.spark import get_spark

    get_spark(profile)  # the JVM and the Delta jars, once per application
    record("-", "spark start", meter, None)
    first = dt.date.fromisoformat(args.date)
    meters: dict[str, Meter] = {}
    for n in range(args.days):
        ds = (first + dt.timedelta(days=n)).isoformat()
        pipeline.run_daily(ds, profile, stages=stages,
                           on_stage_start=lambda s: meters.__setitem__(s, Meter()),
                           on_stage=lambda s, summ, ds=ds: record(ds, s, meters.pop(s), summ))
        if n and (stages is None or "rules" in stages):
            m = Meter()
            summ = pipeline.rules(ds, profile, full=True)
            record(ds, "rules (--full, same day again)", m, summ)
    total = round(time.monotonic() - started, 1)

    print(f"\nbench_pipeline: {args.persons:,} persons × {args.days} day(s), lake {work / 'lake'}, "
          f"{os.cpu_count()} CPUs, profile {profile.name}")
    print(f"  {'day':<10} {'stage':<32} {'wall s':>7} {'CPU s':>7} {'peak GiB':>8} {'rows':>11}  load before → after")
    for r in rows:
        print(f"  {r['day']:<10} {r['stage']:<32} {r['seconds']:>7.1f} {r['cpu_seconds']:>7.1f} "
              f"{r['peak_rss_gib']:>8.2f} {r['rows'] or '':>11}  {r['load_before'][0]} → {r['load_after'][0]}")
    print(f"  total wall {total} s (generation excluded)")
    if args.json:
        args.json.write_text(json.dumps({"persons": args.persons, "days": args.days, "total_seconds": total,
                                         "stages": rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
