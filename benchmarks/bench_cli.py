"""Benchmark: how fast the read-only analyst and grid-centre commands answer (no JVM).

    python benchmarks/bench_cli.py                      # the lake of `make demo` (./lake)
    python benchmarks/bench_cli.py --date 2026-11-01 --repeat 5

Each command runs ``--repeat`` times as a user runs it — ``gridrisk …`` in a fresh process, so
every start-up cost (Python, imports, reading the Delta log) is counted. Prints per command the
median and worst wall time, the median CPU seconds of the process and its exit codes, with the
load average beside the figures. (That none of them loads pyspark is asserted by
tests/test_cli.py::test_read_only_commands_do_not_import_pyspark.)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def commands(ds: str, record: str | None) -> list[list[str]]:
    out = [["quality", "--date", ds], ["flags", "--as-of", ds], ["flags", "--as-of", ds, "--analyst"],
           ["summary", "--date", ds], ["tasks", "list", "--unit", "32"], ["tasks", "stats", "--unit", "32"]]
    if record:
        out.append(["link", "--date", ds, "--explain", record])
    return out


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "cli", *argv], env=env, cwd=REPO,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--date", default="2026-11-01", help="a logical date the lake has run")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explain", default=None, metavar="DATASET:KEY",
                        help="a record for `link --explain` (e.g. driving_licences:<档案编号>)")
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    print(f"{'command':<48} {'median s':>9} {'worst s':>8} {'cpu s':>6}  rc")
    worst_all = 0.0
    for cmd in commands(args.date, args.explain):
        runs = [run_once(cmd, env) for _ in range(args.repeat)]
        walls = [r[0] for r in runs]
        worst_all = max(worst_all, max(walls))
        print(f"{'gridrisk ' + ' '.join(cmd):<48} {statistics.median(walls):>9.2f} {max(walls):>8.2f} "
              f"{statistics.median(r[1] for r in runs):>6.2f}  {sorted({r[2] for r in runs})}")
    load = os.getloadavg()
    print(f"slowest answer {worst_all:.2f} s; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
