"""Entity resolution's cost: seconds per step, CPU seconds, peak memory — and before/after side by side.

    .venv/bin/python benchmarks/bench_link.py --persons 20000
    .venv/bin/python benchmarks/bench_link.py --persons 20000 --compare /tmp/er-base --rounds 2

Generates the province once (``benchmarks/_province.py``), ingests the person-bearing datasets
(and addresses, for person_profile) into bronze once, then runs the whole link stage —
``jobs.silver.link_persons.run``: entity resolution and the person facts (a tree without that
module: ``person_master.run`` then ``person_facts.run``) — for the date in a fresh Python
process per run (``--worker``), so every run pays the same JVM start-up — which is left out of
the figures: the clock starts after a warm-up read of bronze.

``--compare DIR`` also runs the implementation whose ``gridrisk``/``jobs``/``conf`` sit in DIR (e.g.
``git archive <commit> gridrisk jobs conf | tar -x -C DIR``), alternating with this tree's for
``--rounds`` rounds, on the same bronze and the same machine, and prints the ratio. On a shared
machine wall time follows the neighbours; CPU seconds (driver Python + JVM + Python workers,
summed over the process tree) and the load average printed beside each run say how much.
Each run also digests every silver table the stage wrote (row count + an order-free hash of all
columns): with ``--compare``, equal digests show that both implementations wrote the same rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
PERSON_DATASETS = ("persons", "residence_registrations", "housing_units", "driving_licences", "transport_workers",
                   "mental_health_registry", "drug_registry", "waybills", "addresses")  # addresses: person_profile


def _tree_cpu(proc: Any) -> dict[int, float]:
    """CPU seconds (user + system) of a process and all its descendants, by pid."""
    import psutil

    out: dict[int, float] = {}
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def worker(args: argparse.Namespace) -> int:
    """One measured run in this process (its ``gridrisk``/``jobs`` come from PYTHONPATH)."""
    import psutil

    sys.path.insert(0, str(HERE))
    from linkage_accuracy import PeakRss

    from gridrisk import lake
    from gridrisk.config import load_profile
    from gridrisk.spark import get_spark
    from jobs.silver import person_master as pm

    profile = load_profile()
    spark = get_spark(profile)
    if args.ingest:
        from jobs.bronze import ingest

        for dataset in PERSON_DATASETS:
            path = profile.table_path("bronze", dataset)
            if not lake.table_exists(spark, path) or lake.read_partition(spark, profile, "bronze", dataset,
                                                                         args.date).isEmpty():
                t = time.monotonic()
                ingested = ingest.run(spark, profile, dataset, args.date)
                print(f"ingest {dataset}: {ingested.status} {ingested.rows_accepted} rows, {time.monotonic() - t:.0f} s",
                      file=sys.stderr)
        print(json.dumps({"impl": "ingest", "datasets": list(PERSON_DATASETS)}))  # _spawn reads the last JSON line
        return 0
    conf = pm.load_linkage_config()
    rows = sum(lake.read_partition(spark, profile, "bronze", d, args.date).count() for d in conf.datasets
               if lake.table_exists(spark, profile.table_path("bronze", d)))  # warm-up, and the input size
    me = psutil.Process()
    cpu0 = _tree_cpu(me)
    load0 = os.getloadavg()
    with PeakRss() as mem:
        t0 = time.monotonic()
        try:  # the whole link stage: entity resolution, then the person facts
            from jobs.silver import link_persons
        except ImportError:  # an older tree without the stage module
            result = pm.run(spark, profile, args.date, conf)
            t = time.monotonic()
            from jobs.silver import person_facts

            person_facts.run(spark, profile, args.date)
            result.setdefault("seconds", {})["facts"] = round(time.monotonic() - t, 2)
        else:
            result = link_persons.run(spark, profile, args.date)
        seconds = time.monotonic() - t0
    cpu1 = _tree_cpu(me)
    cpu = sum(v - cpu0.get(pid, 0.0) for pid, v in cpu1.items())
    # what was written, as one order-free digest per table: equal digests = the same rows
    from pyspark.sql import functions as F

    digests = {}
    # person_registry: one table for both registries before they were split (an older tree)
    for table in ("person_records", "person_master", "person_licences", "person_qualifications", "person_registry_mental",
                  "person_registry_drugs", "person_registry", "person_profile"):
        if lake.table_exists(spark, profile.table_path("silver", table)):
            df = lake.read_partition(spark, profile, "silver", table, args.date)
            row = df.agg(F.count("*").alias("n"), F.sum(F.xxhash64(*sorted(df.columns)) % 1_000_000_007).alias("h")).first()
            digests[table] = f"{row['n']}:{row['h']}" if row else None
    print(json.dumps({"impl": args.impl, "persons": args.persons, "bronze_rows": rows, "seconds": round(seconds, 1),
                      "cpu_seconds": round(cpu, 1), "peak_rss_gib": round(mem.peak / 2**30, 2),
                      "load_before": [round(x, 1) for x in load0],
                      "load_after": [round(x, 1) for x in os.getloadavg()],
                      "steps": result.get("seconds"), "link_method": result.get("link_method"),
                      "anchors": result.get("anchors"), "anchors_reachable": result.get("anchors_reachable"),
                      "candidates": result.get("candidates"), "digests": digests}, default=str))
    spark.stop()
    return 0


def _spawn(args: argparse.Namespace, impl: str, tree: Path, *extra: str) -> dict[str, Any] | None:
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{HERE}")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--impl", impl, "--persons", str(args.persons),
           "--seed", str(args.seed), "--date", args.date, "--workdir", args.workdir, *extra]
    done = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"{impl} failed (rc {done.returncode}):\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def main() -> int:
    if "--worker" not in sys.argv:
        # this tree's gridrisk (and generator), not the installed one; a worker imports the
        # implementation its PYTHONPATH names (--compare), as its Python workers do
        sys.path.insert(0, str(TREE))
    from _province import prepare, province_args

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    province_args(parser, 20_000, "/tmp/er-bench")
    parser.add_argument("--compare", type=Path, help="a tree with another implementation's gridrisk/jobs/conf")
    parser.add_argument("--rounds", type=int, default=1, help="alternating runs per implementation")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ingest", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", default="this tree", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        prepare(args.persons, args.seed, args.date, args.workdir, progress=False)
        return worker(args)

    prepare(args.persons, args.seed, args.date, args.workdir, progress=False)
    if _spawn(args, "ingest", TREE, "--ingest") is None:
        return 1
    impls = [("after", TREE)] + ([("before", args.compare.resolve())] if args.compare else [])
    runs: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        for impl, tree in reversed(impls):  # before first in each round
            got = _spawn(args, impl, tree)
            if got is None:
                return 1
            runs.append(got)
            print(json.dumps(got, ensure_ascii=False))
    print(f"\nperson_master at {args.persons:,} persons ({runs[0]['bronze_rows']:,} bronze rows), "
          f"{os.cpu_count()} CPUs; JVM start-up excluded")
    print(f"  {'impl':<8} {'wall s':>7} {'CPU s':>7} {'peak GiB':>8}  {'load 1/5/15 before':<20} steps (s)")
    for r in runs:
        steps = " ".join(f"{k}={v}" for k, v in (r["steps"] or {}).items())
        load = "/".join(f"{x:g}" for x in r["load_before"])
        print(f"  {r['impl']:<8} {r['seconds']:>7} {r['cpu_seconds']:>7} {r['peak_rss_gib']:>8}  {load:<20} {steps}")
    if args.compare:
        def median(impl: str, key: str) -> float:
            vals = sorted(r[key] for r in runs if r["impl"] == impl)
            return vals[len(vals) // 2]

        for key, label in (("seconds", "wall"), ("cpu_seconds", "CPU")):
            before, after = median("before", key), median("after", key)
            print(f"  {label}: before {before} s, after {after} s, after/before = {after / before:.2f}")
        kinds = {json.dumps(r["link_method"], sort_keys=True) for r in runs}
        print(f"  link methods {'agree' if len(kinds) == 1 else 'DIFFER'}: " + " | ".join(sorted(kinds)))
        tables = {json.dumps(r.get("digests"), sort_keys=True) for r in runs}
        print(f"  silver tables (row count and digest of every row) {'identical' if len(tables) == 1 else 'DIFFER'}: "
              + " | ".join(sorted(tables)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
