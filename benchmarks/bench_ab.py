"""Which setting, or which code, makes a stage faster: one stage of the daily pipeline, side by side.

    .venv/bin/python benchmarks/bench_ab.py --persons 1000 --stage ingest --rounds 3 --repeat 2 \\
        --variant base --variant no-codegen:spark.sql.codegen.factoryMode=NO_CODEGEN \\
        --variant before@/tmp/old-tree

Each variant runs in a process of its own (its own JVM: nothing another variant compiled or
cached helps it), the variants one after the other, ``--repeat`` times, in alternating order.
A process runs the stage ``--rounds`` times: its first round is the cold one (the JIT, Spark's
compiled query code), the later ones warm. For each round it prints the wall seconds, the CPU
seconds of the JVM and of Python, and the load average. On two cores the noise between two
processes of the same variant is ~10 %: read the warm rounds of every repeat, not one figure.

The stage runs on the day the generated province delivers (``--date``). ``ingest`` starts each
round on an empty lake; any other stage runs on a copy of a lake made once, beforehand, by the
stages that come before it in the catalog, and each round runs it again there (a re-run leaves
the same lake). Every variant's outcome is compared with the first variant's — ingest: each
dataset's status and row counts; rules and publish: the flags (id, status, severity); other
stages: the rows of the tables they wrote — and a variant that changes it is reported, not timed
as a speed-up.

A variant is ``NAME[@TREE][:KEY=VALUE,...]``: ``TREE`` is another checkout whose code runs
(``git worktree add /tmp/old-tree HEAD~3``: the editable install would otherwise import this
one's), and the settings are SQL settings a running session may change (``spark.conf.set``; Spark
refuses a static one by name).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import sizing_env, tree_cpu  # noqa: E402
from _province import prepare, province_args  # noqa: E402

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]


def parse_variant(text: str) -> dict[str, Any]:
    head, _, settings = text.partition(":")
    name, _, tree = head.partition("@")
    conf = {}
    for item in filter(None, settings.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise SystemExit(f"--variant {text}: a setting is KEY=VALUE, got {item!r}")
        conf[key.strip()] = value.strip()
    if not name:
        raise SystemExit(f"--variant {text}: give it a name")
    if tree and not (Path(tree) / "jobs" / "pipeline.py").exists():
        raise SystemExit(f"--variant {text}: {tree} is not a gridrisk checkout (no jobs/pipeline.py)")
    return {"name": name, "tree": tree or str(REPO), "conf": conf}


def outcome(spark: Any, stage: str, out: dict[str, Any], profile: Any) -> Any:
    """What the stage produced, to compare across variants (module docstring). Read through Spark:
    the Rust Delta reader's threads abort a process that also holds a JVM when it exits."""
    from gridrisk import lake

    if stage == "ingest":
        return sorted((r["dataset"], r["status"], r.get("rows_accepted"), r.get("rows_quarantined"))
                      for r in out["results"])
    if stage in ("rules", "publish"):
        flags = lake.read(spark, profile, "gold", "risk_flags").select("flag_id", "status", "severity").collect()
        return sorted(tuple(f) for f in flags)
    return out.get("tables")


def child(args: argparse.Namespace) -> int:
    """One variant's process: ``--rounds`` runs of the stage; prints one JSON line per round."""
    from gridrisk.config import load_profile
    from jobs import pipeline

    conf = json.loads(args.conf)
    work = Path(args.lake_root)
    if args.prepare:
        profile = load_profile("local", env=sizing_env(), workdir=str(work / "lake")).with_inbox(args.inbox)
        out = pipeline.run_daily(args.date, profile, stages=args.prepare.split(","))
        if "ingest" in out:
            assert all(r["status"] == "loaded" for r in out["ingest"]["results"]), out["ingest"]["results"]
        return 0

    def profile_for(round_no: int) -> Any:
        root = work / (f"r{round_no}" if args.stage == "ingest" else "lake")
        if args.stage == "ingest":
            shutil.rmtree(root, ignore_errors=True)
        return load_profile("local", env=sizing_env(), workdir=str(root)).with_inbox(args.inbox)

    spark = pipeline.spark_for(profile_for(0))
    for key, value in conf.items():
        spark.conf.set(key, value)
    for round_no in range(args.rounds):
        profile = profile_for(round_no)
        load = os.getloadavg()[0]
        wall, jvm, py = time.monotonic(), tree_cpu(descendants_only=True), os.times()
        out = pipeline.run_stage(args.stage, args.date, profile)
        done = os.times()
        print(json.dumps({"round": round_no, "wall": round(time.monotonic() - wall, 1),
                          "jvm_cpu": round(tree_cpu(descendants_only=True) - jvm, 1),
                          "py_cpu": round(done.user - py.user + done.system - py.system, 1),
                          "load": round(load, 1), "outcome": outcome(spark, args.stage, out, profile)},
                         default=str), flush=True)
        if args.stage == "ingest" and round_no:
            shutil.rmtree(work / f"r{round_no - 1}", ignore_errors=True)
    return 0


def run_child(variant: dict[str, Any], stage: str, rounds: int, date: str, inbox: str, lake_root: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": variant["tree"], "PYSPARK_PYTHON": sys.executable}
    env.setdefault("GRIDRISK_PSEUDONYM_KEY", "bench-key")
    cmd = [sys.executable, str(HERE), "--child", "--stage", stage, "--rounds", str(rounds), "--date", date,
           "--inbox", inbox, "--lake-root", str(lake_root), "--conf", json.dumps(variant["conf"])]
    done = subprocess.run(cmd, env=env, cwd=variant["tree"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"variant {variant['name']} failed:\n{done.stderr[-4000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    province_args(parser, persons=1000, workdir="/tmp/gridrisk-ab")
    parser.add_argument("--stage", default="ingest", help="a stage of the catalog (default: ingest)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of the stage in each process (the first is cold)")
    parser.add_argument("--repeat", type=int, default=2, help="processes per variant, the variants taking turns")
    parser.add_argument("--variant", action="append", default=[], help="NAME[@TREE][:KEY=VALUE,...] (module docstring)")
    parser.add_argument("--json", type=Path, help="also write every round's figures here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--inbox", help=argparse.SUPPRESS)
    parser.add_argument("--lake-root", help=argparse.SUPPRESS)
    parser.add_argument("--conf", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--prepare", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    from gridrisk.catalog import CATALOG

    if args.stage not in CATALOG.stage_names:
        raise SystemExit(f"--stage {args.stage}: not a stage; stages are {', '.join(CATALOG.stage_names)}")
    variants = [parse_variant(v) for v in (args.variant or ["base"])]
    if len({v["name"] for v in variants}) != len(variants):
        raise SystemExit("every --variant needs a name of its own")
    work = prepare(args.persons, args.seed, args.date, args.workdir)
    inbox = str(work / "inbox")
    base_lake = work / f"ab-before-{args.stage}"
    before = CATALOG.stage_names[:CATALOG.stage_names.index(args.stage)]
    if before and not (base_lake / "lake" / "_done").exists():  # the stages before, once, in a process of its own
        started = time.monotonic()
        shutil.rmtree(base_lake, ignore_errors=True)
        # (a script, not ``python -c``: PySpark's Connect module exits a ``-c`` program on import)
        done = subprocess.run([sys.executable, str(HERE), "--child", "--prepare", ",".join(before), "--date", args.date,
                               "--inbox", inbox, "--lake-root", str(base_lake)], cwd=REPO, capture_output=True, text=True,
                              env={**os.environ, "GRIDRISK_PSEUDONYM_KEY": os.environ.get("GRIDRISK_PSEUDONYM_KEY", "bench-key")})
        if done.returncode != 0:
            raise SystemExit(f"the stages before {args.stage} failed:\n{done.stderr[-4000:]}")
        (base_lake / "lake" / "_done").write_text(",".join(before))
        print(f"the stages before {args.stage} ({', '.join(before)}) in {time.monotonic() - started:.0f} s (not timed)")

    rows: list[dict[str, Any]] = []
    expected: Any = None
    for repeat in range(args.repeat):
        order = variants if repeat % 2 == 0 else variants[::-1]
        for variant in order:
            lake_root = work / f"ab-{args.stage}-{variant['name']}"
            shutil.rmtree(lake_root, ignore_errors=True)
            if before:
                shutil.copytree(base_lake / "lake", lake_root / "lake")
            for r in run_child(variant, args.stage, args.rounds, args.date, inbox, lake_root):
                same = expected is None or r["outcome"] == expected
                expected = r["outcome"] if expected is None else expected
                rows.append({"variant": variant["name"], "process": repeat + 1, **{k: v for k, v in r.items() if k != "outcome"},
                             "same_outcome": same})
                print(f"{variant['name']:>14}  process {repeat + 1}  round {r['round'] + 1}  wall {r['wall']:6.1f} s  "
                      f"JVM CPU {r['jvm_cpu']:6.1f} s  Python CPU {r['py_cpu']:5.1f} s  load {r['load']:4.1f}"
                      + ("" if same else "  OUTCOME DIFFERS from the first variant's"), flush=True)
            shutil.rmtree(lake_root, ignore_errors=True)
    print("\nwarm rounds (all but each process's first), median wall / JVM CPU:")
    for variant in variants:
        warm = [r for r in rows if r["variant"] == variant["name"] and r["round"] > 0]
        if warm:
            walls, cpus = sorted(r["wall"] for r in warm), sorted(r["jvm_cpu"] for r in warm)
            print(f"  {variant['name']:>14}  {walls[len(walls) // 2]:6.1f} s  {cpus[len(cpus) // 2]:6.1f} s  "
                  f"(wall {walls[0]}–{walls[-1]} s over {len(warm)} rounds)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 1 if any(not r["same_outcome"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
