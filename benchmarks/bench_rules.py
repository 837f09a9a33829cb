"""The rules stage on day two: incremental against a full recompute, time and equality.

    .venv/bin/python benchmarks/bench_rules.py --persons 100000

Generates a two-day province (evolving snapshots: renters move, licences change status, new
drug and mental-health registrations), runs the whole pipeline for day one and the inputs of
day two, then the rules of day two twice from the same starting state (Delta RESTORE of the
flags table to day one's commit): once incrementally, once in full. Prints seconds per stage,
the subjects re-evaluated per rule, and whether the two flag tables are identical.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time


def main() -> int:
    from _province import prepare, province_args

    parser = argparse.ArgumentParser()
    province_args(parser, 100_000)
    parser.add_argument("--rules-only", action="store_true",
                        help="the lake already holds both days (an earlier run): time the rules only")
    args = parser.parse_args()

    prepare(args.persons, args.seed, args.date, args.workdir, days=2)
    from delta.tables import DeltaTable

    from gridrisk import lake
    from gridrisk.config import load_profile
    from gridrisk.spark import get_spark
    from jobs import pipeline
    from jobs.gold import risk_flags

    profile = load_profile()
    spark = get_spark(profile)
    day1, day2 = args.date, (dt.date.fromisoformat(args.date) + dt.timedelta(days=1)).isoformat()
    timings: dict[str, float] = {}

    def timed(label: str, fn, *a, **kw):  # type: ignore[no-untyped-def]
        t0 = time.monotonic()
        out = fn(*a, **kw)
        timings[label] = time.monotonic() - t0
        print(f"{label}: {timings[label]:.1f} s", flush=True)
        return out

    if not args.rules_only:
        timed(f"day one, whole pipeline ({day1})", pipeline.run_daily, day1, profile, full=True)
        for stage in ("ingest", "silver", "link"):
            timed(f"day two, {stage}", getattr(pipeline, stage), day2, profile)
    path = profile.table_path("gold", risk_flags.TABLE)
    table = DeltaTable.forPath(spark, path)
    # the last commit of day one's rules run: where both day-two runs start from
    day1_version = (table.history().where(f"userMetadata LIKE 'ds={day1} %'").agg({"version": "max"}).first()[0])
    if table.history(1).first()["version"] != day1_version:
        table.restoreToVersion(day1_version)

    # full first, so the JVM's warm-up is charged to it, not to the incremental run
    full = timed("day two, rules full", risk_flags.run, spark, profile, day2, full=True)
    recomputed = spark.read.format("delta").load(path).localCheckpoint()
    table.restoreToVersion(day1_version)
    inc = timed("day two, rules incremental", risk_flags.run, spark, profile, day2, full=False)  # full is the default
    incremental = lake.read(spark, profile, "gold", risk_flags.TABLE)
    same = incremental.exceptAll(recomputed).count() == 0 and recomputed.exceptAll(incremental).count() == 0
    print("\nrule                          day-two mode")
    for rule_id in sorted(inc["mode"]):
        print(f"  {rule_id:<28}{inc['mode'][rule_id]}")
    print(f"\nflags after day two: {recomputed.count():,}; incremental == full: {same}")
    print(f"rules stage, day two: incremental {timings['day two, rules incremental']:.1f} s, "
          f"full {timings['day two, rules full']:.1f} s")
    print(f"driver peak RSS (Python side): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    assert full["mode"] and all(m == "full" for m in full["mode"].values())
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
