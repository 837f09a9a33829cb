"""Benchmark the quality step beside ingest: seconds per dataset and the overhead ratio.

    .venv/bin/python benchmarks/bench_quality.py --persons 1000000

Uses the lake that ``benchmarks/bench_ingest.py`` left for the same size (run that first): it
re-ingests nothing, validates every dataset of the date with its suite (Data Docs included),
and prints the quality time beside the ingest time recorded in ``bronze/_ingest_log``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--date", default="2026-11-01")
    parser.add_argument("--workdir", default="/tmp/gridrisk-bench")
    args = parser.parse_args()
    work = Path(args.workdir) / f"p{args.persons}"
    if not (work / "lake" / "bronze" / "_ingest_log").exists():
        print(f"no ingested lake under {work}: run benchmarks/bench_ingest.py --persons {args.persons} first")
        return 1
    os.environ.update(GRIDRISK_LAKE=str(work / "lake"), GRIDRISK_INBOX=str(work / "inbox"),
                      GRIDRISK_TASK_STORE=f"sqlite:///{work}/tasks.sqlite", GRIDRISK_WORKDIR=str(work))
    from gridrisk.config import load_profile
    from gridrisk.spark import get_spark
    from jobs.bronze.ingest import read_log
    from jobs.quality import validate

    profile = load_profile()
    spark = get_spark(profile)
    ingest = {r["dataset"]: r for r in read_log(spark, profile, args.date)}
    total_q = total_i = 0.0
    print(f"{'dataset':<26}{'rows':>12}{'ingest s':>10}{'quality s':>11}{'ratio':>8}  verdict")
    for name in sorted(ingest):
        if ingest[name]["status"] != "loaded":
            continue
        t = time.monotonic()
        q = validate.run(spark, profile, name, args.date)
        secs = time.monotonic() - t
        total_q += secs
        total_i += ingest[name]["seconds"]
        print(f"{name:<26}{ingest[name]['rows_read']:>12,}{ingest[name]['seconds']:>10.1f}{secs:>11.1f}"
              f"{secs / ingest[name]['seconds']:>8.2f}  {q['status']}")
    print(f"{'total':<38}{total_i:>10.1f}{total_q:>11.1f}{total_q / total_i:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
