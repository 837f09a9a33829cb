"""Benchmark the synthetic-province generator: seconds per dataset, rows/s, peak RSS.

    .venv/bin/python benchmarks/bench_generate.py --persons 1000000 --out /tmp/bench-generate

Prints numbers; never fails on a slow machine. The output folder is emptied first. ``--hourly``
splits GPS and waybills into hourly parts as the hourly runs read them (the phase "hourly parts").
``TREE=/path/to/checkout`` generates with that checkout's synth package, to compare two side by side.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("TREE", str(Path(__file__).resolve().parents[1])))

from synth.generate import generate  # noqa: E402


def _memory_gib() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-generate"))
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--vehicles", type=int, help="hazmat vehicles (default: conf sizes, ~300 per 1M persons)")
    parser.add_argument("--hourly", action="store_true", help="deliver GPS and waybills as 24 hourly parts a day")
    args = parser.parse_args(argv)
    sizes = {"hazmat_vehicles_per_million": args.vehicles / args.persons * 1e6} if args.vehicles else None

    shutil.rmtree(args.out, ignore_errors=True)
    print(f"machine: {os.cpu_count()} cores, {_memory_gib():.0f} GiB, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    print(f"command: generate(persons={args.persons:,}, days={args.days}, seed={args.seed}, sizes={sizes}, "
          f"hourly={args.hourly}) → {args.out}")
    print(f"code from {Path(sys.modules['synth.generate'].__file__).parents[2]}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    began = time.perf_counter()
    summary = generate(args.out / "inbox", args.out / "truth", args.persons, seed=args.seed,
                       start_date=dt.date(2026, 11, 1), days=args.days, progress=False, sizes=sizes,
                       hourly=args.hourly)
    wall = time.perf_counter() - began
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux

    rows = {ds: sum(by_day.values()) for ds, by_day in summary["rows"].items()}
    timings = summary["timings"]
    print(f"\n{'dataset / phase':34} {'rows':>12} {'seconds':>9} {'rows/s':>12}")
    for name in sorted(timings, key=lambda k: (k.startswith(("phase", "truth", "reference")), k)):
        n = rows.get(name)
        secs = timings[name]
        rate = f"{n / secs:,.0f}" if n and secs > 0 else ""
        print(f"{name:34} {'' if n is None else f'{n:,}':>12} {secs:9.2f} {rate:>12}")
    total_rows = sum(rows.values())
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"\ntotal: {total_rows:,} rows in {wall:.1f} s ({total_rows / wall:,.0f} rows/s), "
          f"{size / 2**20:,.0f} MiB on disk (inbox + truth)")
    print(f"peak RSS: {peak_mib:,.0f} MiB")
    vehicles = rows.get("hazmat_vehicles", 0) // max(1, args.days)
    if rows.get("gps_points"):
        print(f"hazmat: ~{vehicles:,} vehicle rows a day, {rows['gps_points'] / max(1, vehicles) / args.days:,.0f} GPS points "
              "per vehicle row and day")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
