"""The rules stage's fixed cost: the tests' hand-made person facts (20-odd people), two days.

    .venv/bin/python benchmarks/bench_rules_fixed.py [--tree /path/to/another/checkout]

Writes the silver person facts of ``tests/person_world.py`` for two days into a fresh lake,
then runs the rules stage as the pipeline does (``risk_flags.run`` then ``risk_summary.run``):
day one in full (after a warm-up run on a throw-away lake, so the JVM's start is not counted),
day two incrementally, day two again (a re-run: full). For each it prints the seconds, the
Spark jobs and tasks, and where they went (the stage's own steps, by Spark job group). Jobs
and tasks do not depend on the machine's load; seconds do, so the load average is printed
beside them. ``--tree`` runs another checkout's code (e.g. ``git worktree add /tmp/old HEAD~3``)
for a before/after on the same machine.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from _measure import sizing_env

STEPS = {
    "jobs.gold.risk_flags": ("load_inputs", "last_run", "carried_flags", "suppressed_flags", "compound_links", "transform",
                             "merge"),
    "gridrisk.lake": ("merge", "history", "replace_partition", "commit_metrics", "last_metrics"),
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parents[1]), help="the checkout whose code runs")
    args = parser.parse_args()
    sys.path[:0] = [args.tree, str(Path(args.tree) / "tests")]
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    import importlib

    from gridrisk.config import load_profile
    from gridrisk.spark import get_spark

    work = Path(tempfile.mkdtemp(prefix="rules-fixed-"))
    base = load_profile("local", env=sizing_env(), workdir=str(work / "warm"))
    conf = {**base.spark_conf, "spark.master": "local[2]", "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2", "spark.ui.enabled": "false"}
    spark = get_spark(replace(base, spark_master="local[2]", spark_conf=conf))
    sc = spark.sparkContext
    from test_person_rules import DAY2, DS, PEOPLE, day_two, write_facts

    from jobs.gold import risk_flags, risk_summary

    print(f"code: {Path(importlib.import_module('jobs.gold.risk_flags').__file__ or '').resolve()}")
    seconds: dict[str, float] = {}
    groups: list[str] = []

    def wrap(module: Any, name: str) -> None:
        fn = getattr(module, name)
        label = f"{module.__name__.rsplit('.', 1)[-1]}.{name}"

        @functools.wraps(fn)
        def timed(*a: Any, **kw: Any) -> Any:
            outer = sc.getLocalProperty("spark.jobGroup.id")
            sc.setJobGroup(label, label)
            groups.append(label)
            t0 = time.monotonic()
            try:
                return fn(*a, **kw)
            finally:
                seconds[label] = seconds.get(label, 0.0) + time.monotonic() - t0
                sc.setLocalProperty("spark.jobGroup.id", outer)  # type: ignore[arg-type]  # None clears it

        setattr(module, name, timed)

    for mod_name, names in STEPS.items():
        module = importlib.import_module(mod_name)
        for name in names:
            if hasattr(module, name):
                wrap(module, name)

    def jobs_and_tasks(label: str) -> tuple[int, int]:
        ids = sc.statusTracker().getJobIdsForGroup(label)
        tasks = 0
        for j in ids:
            info = sc.statusTracker().getJobInfo(j)
            for s in (info.stageIds if info else []):
                stage = sc.statusTracker().getStageInfo(s)
                tasks += stage.numTasks if stage else 0
        return len(ids), tasks

    def step(title: str, fn: Any) -> None:
        seconds.clear()
        groups.clear()
        sc.setJobGroup(title, title)
        t0 = time.monotonic()
        fn()
        total = time.monotonic() - t0
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        labels = [title, *dict.fromkeys(groups)]
        counts = {g: jobs_and_tasks(g) for g in labels}
        jobs = sum(c[0] for c in counts.values())
        tasks = sum(c[1] for c in counts.values())
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\n{title}: {total:.1f} s, {jobs} Spark jobs, {tasks} tasks (load {load})")
        for g in labels[1:]:
            print(f"  {g:<30}{seconds.get(g, 0.0):7.1f} s {counts[g][0]:4} jobs {counts[g][1]:5} tasks (own)")
        sys.stdout.flush()

    def stage(profile: Any, ds: str, full: bool = False) -> None:
        out = risk_flags.run(spark, profile, ds, full=full)
        risk_summary.run(spark, profile, ds)
        if "mode" in out:
            modes = sorted(set(out["mode"].values()))
            print(f"  modes: {'; '.join(modes)}")

    warm = load_profile("local", env=sizing_env(), workdir=str(work / "warm"))
    write_facts(spark, warm, PEOPLE, DS)
    stage(warm, DS, full=True)  # JVM warm-up, not counted
    profile = load_profile("local", env=sizing_env(), workdir=str(work / "lake"))
    write_facts(spark, profile, PEOPLE, DS)
    write_facts(spark, profile, day_two(), DAY2)
    step(f"day one {DS}, full", lambda: stage(profile, DS, full=True))
    step(f"day two {DAY2}, incremental", lambda: stage(profile, DAY2))
    step(f"day two {DAY2} again (re-run: full)", lambda: stage(profile, DAY2))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
