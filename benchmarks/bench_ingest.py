"""Benchmark bronze ingest: rows/s per dataset and total time for one generated day.

    .venv/bin/python benchmarks/bench_ingest.py --persons 1000000 [--workdir /tmp/gridrisk-bench]

Generates the province first when the inbox is empty (not timed), then ingests every dataset of
the first day on the local profile and prints one line per dataset. Peak memory is the driver's
RSS plus the JVM's (from /proc), sampled once a second.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time


def rss_mb_of_tree() -> float:
    """Resident memory of this process and its children (the JVM, Python workers), in MB."""
    total = 0
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            ppid = int(fields[1])
            if int(pid) == me or ppid == me or _is_descendant(int(pid), me):
                with open(f"/proc/{pid}/statm") as fh:
                    total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total / 2**20


def _is_descendant(pid: int, ancestor: int) -> bool:
    for _ in range(10):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            return False
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
    return False


def main() -> int:
    from _province import prepare, province_args

    parser = argparse.ArgumentParser()
    province_args(parser, 1_000_000)
    args = parser.parse_args()

    prepare(args.persons, args.seed, args.date, args.workdir)

    from gridrisk.config import load_profile, schema_names
    from gridrisk.spark import get_spark
    from jobs.bronze import ingest

    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb_of_tree())
            time.sleep(1)

    threading.Thread(target=sample, daemon=True).start()
    profile = load_profile()
    t0 = time.monotonic()
    spark = get_spark(profile)
    print(f"spark session: {time.monotonic() - t0:.1f} s  (master {profile.spark_master})")
    total_rows, started = 0, time.monotonic()
    print(f"{'dataset':<26}{'status':<10}{'rows read':>12}{'quarantined':>13}{'seconds':>9}{'rows/s':>10}")
    for name in schema_names():
        t = time.monotonic()
        r = ingest.run(spark, profile, name, args.date)
        secs = time.monotonic() - t
        total_rows += r.rows_read
        print(f"{name:<26}{r.status:<10}{r.rows_read:>12,}{r.rows_quarantined:>13,}{secs:>9.1f}{r.rows_read / secs:>10,.0f}")
    elapsed = time.monotonic() - started
    stop.set()
    print(f"{'total':<36}{total_rows:>12,}{'':>13}{elapsed:>9.1f}{total_rows / elapsed:>10,.0f}")
    print(f"peak RSS (driver + JVM + workers): {peak[0]:,.0f} MB; python driver maxrss "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB; cores {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
