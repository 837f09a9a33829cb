"""Build time and file size of the analysts' report on a generated province.

    python benchmarks/bench_report.py --persons 20000            # generates and runs the pipeline once
    python benchmarks/bench_report.py --persons 1000000 --days 2  # the size the issue asks about

Prints, per build: seconds, HTML bytes (and how much of it is the inlined Vega bundle, the map
polygons and the rest of the data), workbook bytes; the same figures for a unit-scoped report;
and, for comparison, what inlining plotly.js instead of Vega would weigh. The load average is
printed beside the figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._province import prepare, province_args  # noqa: E402


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f} ({os.cpu_count()} cores)"


def html_parts(html: str) -> dict[str, int]:
    """Bytes of the page by part: the JS bundle, the map's polygons, the rest."""
    total = len(html.encode("utf-8"))
    bundle = sum(len(m.encode("utf-8")) for m in re.findall(r"<script>(.*?)</script>", html, re.S)[:1])
    specs = {m.group(1): len(m.group(2).encode("utf-8"))
             for m in re.finditer(r'<script type="application/json" data-chart="(\w+)">(.*?)</script>', html, re.S)}
    return {"total": total, "vega bundle": bundle, "map spec": specs.get("map", 0),
            "other charts": sum(v for k, v in specs.items() if k != "map"),
            "tables, data, css": total - bundle - sum(specs.values())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    province_args(parser, persons=20_000)
    parser.add_argument("--days", type=int, default=2, help="pipeline days to run before the report (default 2)")
    parser.add_argument("--repeat", type=int, default=2, help="builds per report (the first warms caches)")
    args = parser.parse_args(argv)
    import datetime as dt

    work = prepare(args.persons, args.seed, args.date, args.workdir, days=args.days)
    from gridrisk import lake_reader
    from gridrisk.config import load_profile
    from gridrisk.report import build_report

    profile = load_profile("local")
    dates = [(dt.date.fromisoformat(args.date) + dt.timedelta(days=n)).isoformat() for n in range(args.days)]
    if not lake_reader.exists(profile, "gold", "risk_summary") or \
            dates[-1] not in lake_reader.partition_values(profile, "gold", "risk_summary"):
        from jobs import pipeline

        for ds in dates:
            started = time.monotonic()
            pipeline.run_daily(ds, profile)
            print(f"pipeline {ds}: {time.monotonic() - started:.0f} s (not part of the figures)   [{load()}]")
    ds = dates[-1]
    summary = lake_reader.read(profile, "gold", "risk_summary", partition={"ds": ds})
    district = summary.groupby("district_code")["open"].sum().idxmax()
    print(f"\nreport of {ds}, {args.persons:,} persons, {int(summary['open'].sum()):,} open flags, work folder {work}")
    for unit in (None, district):
        for n in range(args.repeat):
            paths = build_report(profile, ds, unit=unit, out_dir=str(work / "reports"))
            parts = html_parts(Path(paths.html).read_text(encoding="utf-8"))
            print(f"{'province' if unit is None else 'unit ' + unit:>14}  build {n + 1}: {paths.seconds:6.2f} s   "
                  f"html {parts['total'] / 1024:8,.0f} KiB   xlsx {paths.xlsx_bytes / 1024:6,.0f} KiB   [{load()}]")
        print("                " + ", ".join(f"{k} {v / 1024:,.0f} KiB" for k, v in parts.items() if k != "total"))
    try:
        from plotly.offline import get_plotlyjs

        print(f"\nfor comparison: plotly.js inlined would weigh {len(get_plotlyjs().encode()) / 1024:,.0f} KiB "
              f"against the Vega bundle's {parts['vega bundle'] / 1024:,.0f} KiB")
    except ImportError:
        print("\n(plotly not installed: no comparison)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
