"""What a task saves by attaching to the engine instead of starting its own Spark (docs/scaling.md).

Starts an engine (``python -m gridrisk.engine serve``) on the given profile, then, ``--repeat``
times each, in fresh processes as Airflow would start them:

- **cold**: build the session (``gridrisk.spark.get_spark``, Delta jars staged) and run one tiny
  job — what every Spark task pays without the engine;
- **attached**: the same job through the engine (``gridrisk.engine.spark_probe``).

Wall seconds of the process and CPU seconds of its whole tree (Python + its JVM, read from
/proc before the JVM goes), the engine's own CPU per attached call, and the load average.

    python benchmarks/bench_engine.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import tree_cpu

REPO = Path(__file__).resolve().parents[1]

COLD = r"""
import json, os, resource, time
t = time.monotonic()
from gridrisk.spark import get_spark
spark = get_spark()
n = spark.range(1000).selectExpr("sum(id) AS s").first()["s"]
wall = time.monotonic() - t
jvm = spark.sparkContext._gateway.proc.pid
with open(f"/proc/{jvm}/stat") as fh:
    f = fh.read().rsplit(")", 1)[1].split()
jvm_cpu = (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"sum": n, "wall": wall, "cpu": ru.ru_utime + ru.ru_stime + jvm_cpu}))
"""

ATTACHED = r"""
import json, resource, time
t = time.monotonic()
from gridrisk.engine import spark_probe
n = spark_probe()["sum"]
wall = time.monotonic() - t
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"sum": n, "wall": wall, "cpu": ru.ru_utime + ru.ru_stime}))
"""


def run(code: str, env: dict[str, str]) -> dict[str, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["sum"] == sum(range(1000))
    out["process_wall"] = time.monotonic() - started
    return dict(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", default="local")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    env = {**os.environ, "GRIDRISK_WORKDIR": str(work), "GRIDRISK_PROFILE": args.profile,
           "PYTHONPATH": str(REPO), "PYSPARK_PYTHON": sys.executable}
    env.pop("GRIDRISK_ENGINE_URL", None)
    state = work / "engine.json"
    print(f"load {os.getloadavg()[0]:.1f}: starting the engine ({args.profile})", flush=True)
    started = time.monotonic()
    engine = subprocess.Popen([sys.executable, "-m", "gridrisk.engine", "serve", "--state", str(state)], env=env,
                              stdout=subprocess.DEVNULL, stderr=open(work / "engine.log", "wb"), start_new_session=True)
    try:
        while not state.exists():
            if engine.poll() is not None:
                raise SystemExit((work / "engine.log").read_text()[-3000:])
            time.sleep(0.5)
        info = json.loads(state.read_text())
        print(f"load {os.getloadavg()[0]:.1f}: engine up in {time.monotonic() - started:.1f} s "
              f"(session {info['startup_seconds']} s)", flush=True)
        attached_env = {**env, "GRIDRISK_ENGINE_URL": info["url"], "GRIDRISK_ENGINE_TOKEN": info["token"]}
        cold, attached, engine_cpu = [], [], []
        for i in range(args.repeat):
            cold.append(run(COLD, env))
            before = tree_cpu(engine.pid)
            attached.append(run(ATTACHED, attached_env))
            engine_cpu.append(tree_cpu(engine.pid) - before)
            print(f"load {os.getloadavg()[0]:.1f}: round {i + 1}: cold {cold[-1]['process_wall']:.1f} s wall, "
                  f"{cold[-1]['cpu']:.1f} s CPU; attached {attached[-1]['process_wall']:.2f} s wall, "
                  f"{attached[-1]['cpu']:.2f} s CPU (+ {engine_cpu[-1]:.2f} s in the engine)", flush=True)
        med = statistics.median
        print(f"load {os.getloadavg()[0]:.1f}: median over {args.repeat}: cold {med(c['process_wall'] for c in cold):.1f} s "
              f"wall / {med(c['cpu'] for c in cold):.1f} s CPU per task; attached "
              f"{med(a['process_wall'] for a in attached):.2f} s wall / {med(a['cpu'] for a in attached):.2f} s CPU "
              f"(+ {med(engine_cpu):.2f} s engine CPU); saved per task "
              f"{med(c['process_wall'] for c in cold) - med(a['process_wall'] for a in attached):.1f} s wall, "
              f"{med(c['cpu'] for c in cold) - med(a['cpu'] for a in attached) - med(engine_cpu):.1f} s CPU")
    finally:
        subprocess.run([sys.executable, "-m", "gridrisk.engine", "stop", "--state", str(state)], env=env,
                       capture_output=True)
        try:
            engine.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(engine.pid, 9)
    return 0


if __name__ == "__main__":
    sys.exit(main())
