"""Benchmark bronze ingest: rows/s per dataset and total time for one generated day.

    .venv/bin/python benchmarks/bench_ingest.py --persons 100000 [--compare] [--workdir /tmp/gridrisk-bench]
    .venv/bin/python benchmarks/bench_ingest.py --persons 20000 --fixed-cost [--rows 20]

Generates the province first when the inbox is empty (not timed), then ingests every dataset of
the first day on the local profile and prints one line per dataset: rows, seconds, rows/s, and
which reader took the files. ``--compare`` ingests each dataset twice in the same session, first
with the Python reader only (the path before the Arrow fast path), then with the fast path, and
prints both side by side.

``--fixed-cost`` measures what a dataset costs whatever its size: every delivery of the day is
cut to its first ``--rows`` records (a tiny inbox beside the province), then the ingest stage
with its quality gate (``jobs.pipeline.ingest``, Data Docs included) runs twice on it; the
second run's seconds per dataset is the figure. Run it from another checkout
(``PYTHONPATH=<checkout>``) to compare versions: it uses only what every version has.

Every figure is printed with the load average at that moment (the machine may be shared), the
CPU seconds of the whole process tree (driver, JVM, Python workers, from /proc) and the peak
resident memory of that tree (sampled once a second).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

from _measure import tree_cpu, tree_rss_mb


def load() -> str:
    return "load " + "/".join(f"{x:.1f}" for x in os.getloadavg())


class Peak:
    """Peak RSS of the process tree, sampled once a second in a thread."""

    def __init__(self) -> None:
        self.mb = 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.mb = max(self.mb, tree_rss_mb())
            time.sleep(1)

    def stop(self) -> float:
        self._stop.set()
        return self.mb


def readers_used(profile: Any, dataset: str, ds: str, fast: bool) -> str:
    """Which reader the fast path would take for each file of the delivery (driver-side, not timed)."""
    from gridrisk import storage
    from gridrisk.config import load_schema
    from jobs.bronze.ingest import find_delivery
    from jobs.bronze.readers import parse_file_arrow

    if not fast:
        return "python"
    schema = load_schema(dataset)
    try:
        delivery = find_delivery(profile.inbox, schema, ds)
    except Exception:  # noqa: BLE001 — not loadable: the result says why
        return "-"
    got = {parse_file_arrow(storage.read_bytes(path), path.rsplit("/", 1)[-1], schema).reader
           for path in delivery.paths}
    return "+".join(sorted(got)) or "-"


def throughput(args: argparse.Namespace) -> int:
    from gridrisk.config import load_profile, schema_names
    from gridrisk.spark import get_spark
    from jobs.bronze import ingest

    peak = Peak()
    profile = load_profile()
    t0 = time.monotonic()
    spark = get_spark(profile)
    print(f"spark session: {time.monotonic() - t0:.1f} s  (master {profile.spark_master}; {load()})")
    paths = [False, True] if args.compare else [True]
    header = f"{'dataset':<26}{'rows read':>11}{'quar.':>7}"
    for fast in paths:
        tag = "arrow" if fast else "python"
        header += f"{tag + ' s':>10}{'rows/s':>9}{'cpu s':>8}"
    print(header + "  reader  load")
    totals = {fast: [0, 0.0, 0.0] for fast in paths}
    for name in schema_names():
        line = ""
        rows = quarantined = 0
        for fast in paths:
            cpu, t = tree_cpu(reaped=True), time.monotonic()
            r = ingest.run(spark, profile, name, args.date, fast=fast)
            secs, cpu = time.monotonic() - t, tree_cpu(reaped=True) - cpu
            rows, quarantined = r.rows_read, r.rows_quarantined
            if r.status != "loaded":
                print(f"  {name}: {r.status} — {r.message}")
            totals[fast][0] += r.rows_read
            totals[fast][1] += secs
            totals[fast][2] += cpu
            line += f"{secs:>10.1f}{r.rows_read / secs:>9,.0f}{cpu:>8.1f}"
        used = readers_used(profile, name, args.date, True)
        print(f"{name:<26}{rows:>11,}{quarantined:>7,}{line}  {used}  {load()}")
    line = ""
    for fast in paths:
        n, secs, cpu = totals[fast]
        line += f"{secs:>10.1f}{n / secs:>9,.0f}{cpu:>8.1f}"
    print(f"{'total':<26}{totals[paths[-1]][0]:>11,}{'':>7}{line}  {load()}")
    print(f"peak RSS (driver + JVM + workers): {peak.stop():,.0f} MB; python driver maxrss "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB; cores {os.cpu_count()}")
    return 0


def tiny_inbox(inbox: Path, ds: str, rows: int, out: Path) -> Path:
    """Every delivery of ``ds`` in ``inbox`` cut to its first ``rows`` records, under ``out``."""
    import gzip
    import json

    from gridrisk.config import load_schema, schema_names
    from gridrisk.delivery import write_delivery
    from jobs.bronze.ingest import compact
    from jobs.bronze.readers import parse_file

    by_delivery: dict[str, dict[str, tuple[bytes, int]]] = {}
    kinds: dict[str, str] = {}
    for name in schema_names():
        schema = load_schema(name)
        folder = inbox / schema.delivery / compact(ds)
        manifest = json.loads((folder / "manifest.json").read_text())
        kinds[schema.delivery] = manifest.get("kind", schema.kind)
        for entry in manifest["files"]:
            file = entry["name"]
            if not file.startswith(f"{schema.file_prefix}_"):
                continue
            data = (folder / file).read_bytes()
            if schema.format == "geojson":
                doc = json.loads(data)
                doc["features"] = doc["features"][:rows]
                body, n = json.dumps(doc, ensure_ascii=False).encode(), len(doc["features"])
            elif schema.format == "jsonl":
                lines = [line for line in data.decode(schema.encoding).splitlines() if line.strip()][:rows]
                body, n = ("\n".join(lines) + "\n").encode(schema.encoding), len(lines)
            else:
                _, records = parse_file(data, file, schema)
                kept = [r.raw for _, r in zip(range(rows), records)]
                text = "\n".join([schema.delimiter.join(schema.source_names), *kept]) + "\n"
                body, n = text.encode(schema.encoding), len(kept)
                if schema.format == "csv.gz":
                    body = gzip.compress(body, mtime=0)
            by_delivery.setdefault(schema.delivery, {})[file] = (body, n)
    for delivery, files in by_delivery.items():
        write_delivery(out, delivery, ds, kinds[delivery], files)
    return out


def fixed_cost(args: argparse.Namespace, work: Path) -> int:
    import shutil

    from gridrisk.config import load_profile
    from jobs import pipeline

    tiny = work.parent / f"{work.name}-tiny{args.rows}"
    if tiny.exists():
        shutil.rmtree(tiny)
    tiny_inbox(work / "inbox", args.date, args.rows, tiny / "inbox")
    os.environ.update(GRIDRISK_LAKE=str(tiny / "lake"), GRIDRISK_INBOX=str(tiny / "inbox"),
                      GRIDRISK_TASK_STORE=f"sqlite:///{tiny}/tasks.sqlite", GRIDRISK_WORKDIR=str(tiny))
    peak = Peak()
    profile = load_profile()
    t0 = time.monotonic()
    pipeline.spark_for(profile)
    print(f"spark session: {time.monotonic() - t0:.1f} s ({load()}); code from {pipeline.__file__}")
    for attempt in (1, 2):
        cpu, t = tree_cpu(reaped=True), time.monotonic()
        out = pipeline.ingest(args.date, profile)
        secs, cpu = time.monotonic() - t, tree_cpu(reaped=True) - cpu
        n = len(out["results"])
        rows = sum(int(r["rows_read"]) for r in out["results"])
        statuses = sorted({r["status"] for r in out["results"]})
        print(f"run {attempt}: {n} datasets, {rows} rows ({args.rows} per file at most), ingest + quality + Data Docs "
              f"{secs:.1f} s = {secs / n:.2f} s per dataset, CPU {cpu:.1f} s ({cpu / n:.2f} s per dataset); "
              f"statuses {statuses}; {load()}")
    print(f"peak RSS (driver + JVM + workers): {peak.stop():,.0f} MB")
    return 0


def main() -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from _province import prepare, province_args

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    province_args(parser, 1_000_000)
    parser.add_argument("--compare", action="store_true",
                        help="ingest each dataset with the Python reader, then with the Arrow fast path")
    parser.add_argument("--fixed-cost", action="store_true",
                        help="the per-dataset cost of ingest + quality on a tiny copy of the day (--rows each)")
    parser.add_argument("--rows", type=int, default=20)
    args = parser.parse_args()
    work = prepare(args.persons, args.seed, args.date, args.workdir)
    return fixed_cost(args, work) if args.fixed_cost else throughput(args)


if __name__ == "__main__":
    sys.exit(main())
