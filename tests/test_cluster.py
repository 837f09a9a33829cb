"""The same code on a cluster (issue 13 items 2 and 7, issue 15 item 5).

A real Spark standalone master and two workers on this machine (from the installed pyspark), the
shared engine started on them with ``--profile cluster``, and the whole daily pipeline of a small
generated province sent to it stage by stage, as Airflow tasks send it: the flags are exactly the
flags of a ``local[*]`` run of the same deliveries. Then what a task gains from the engine: it
attaches without starting a JVM, errors come back with the engine's traceback, a stranger is
refused. One cluster and one engine serve the whole module (CI time); both are always stopped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridrisk import lake_reader, standalone
from gridrisk.catalog import STAGES
from gridrisk.config import Profile, load_profile
from gridrisk.engine import URL_ENV, Client, EngineError, RemoteError
from gridrisk.spark import EnvironmentProblem, check_java

pytestmark = pytest.mark.slow

DS = "2026-11-01"
PERSONS = 1000  # the generator's smallest province: every department, a few hazmat vehicles and fire units
KEY = "test-key"
REPO = Path(__file__).resolve().parents[1]
ENGINE_START_S = 600  # a JVM, two executors and their Python workers on a shared 2-core machine


def _require_java() -> None:
    try:
        check_java()
    except EnvironmentProblem as exc:
        pytest.skip(f"no usable Java, so no Spark cluster: {exc}")


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synth.generate import generate

    root = tmp_path_factory.mktemp("province")
    generate(inbox=root / "inbox", truth=root / "truth", persons=PERSONS, seed=7,
             start_date=dt.date.fromisoformat(DS), progress=False)
    return root / "inbox"


def cluster_env(root: Path, inbox: Path, master: str) -> dict[str, str]:
    """What the ``cluster`` profile reads: the master's URL, a lake every worker sees, small executors."""
    lake = root / "lake"
    return {"GRIDRISK_SPARK_MASTER": master, "GRIDRISK_LAKE_URI": str(lake), "GRIDRISK_INBOX_URI": str(inbox),
            "GRIDRISK_REPORTS_URI": str(lake / "_reports"),
            "GRIDRISK_TASK_STORE_DSN": f"sqlite:///{root / 'tasks.sqlite'}",
            "GRIDRISK_SHUFFLE_PARTITIONS": "2", "GRIDRISK_DELTA_SNAPSHOT_PARTITIONS": "2",
            "GRIDRISK_EXECUTOR_CORES": "1", "GRIDRISK_EXECUTOR_MEMORY": "768m", "GRIDRISK_DRIVER_MEMORY": "2g"}


class RunningEngine:
    def __init__(self, url: str, token: str, profile: Profile, env: dict[str, str], log: Path):
        self.url, self.token, self.profile, self.env, self.log = url, token, profile, env, log
        self.client = Client(url, token)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, province: Path) -> Iterator[RunningEngine]:
    """A standalone master + 2 workers (1 core, 1 GiB each) and the engine on them; stopped after."""
    _require_java()
    root = tmp_path_factory.mktemp("cluster")
    cluster = standalone.start(root / "standalone", workers=2, cores=1, memory="1g")
    proc = None
    try:
        env = {**os.environ, **cluster_env(root, province, cluster.master_url), "GRIDRISK_PSEUDONYM_KEY": KEY,
               "PYSPARK_PYTHON": sys.executable, "PYTHONPATH": str(REPO), "GRIDRISK_ENGINE_TOKEN": "engine-test-token"}
        env.pop(URL_ENV, None)
        state, log = root / "engine.json", root / "engine.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "gridrisk.engine", "serve", "--profile", "cluster",
                                     "--state", str(state), "--slots", "2"], env=env, cwd=root, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + ENGINE_START_S
        while not state.exists():
            assert proc.poll() is None, f"the engine exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no engine after {ENGINE_START_S} s: {log.read_text()[-3000:]}"
            time.sleep(1)
        info = json.loads(state.read_text())
        assert info["master"] == cluster.master_url
        profile = load_profile("cluster", env=cluster_env(root, province, cluster.master_url))
        yield RunningEngine(info["url"], info["token"], profile, env, log)
    finally:
        if proc is not None:
            if proc.poll() is None:
                try:
                    Client(json.loads((root / "engine.json").read_text())["url"], "engine-test-token").stop()
                    proc.wait(timeout=120)
                except (OSError, ValueError, EngineError, subprocess.TimeoutExpired):
                    os.killpg(proc.pid, 9)
                    proc.wait(timeout=30)
        standalone.stop(root / "standalone")
        assert standalone.status(root / "standalone") is None


def comparable_flags(profile: Profile) -> list[dict[str, object]]:
    rows = lake_reader.read_arrow(profile, "gold", "risk_flags").to_pylist()
    return sorted(rows, key=lambda r: str(r["flag_id"]))


def test_the_daily_run_on_a_standalone_cluster_flags_exactly_what_a_local_run_flags(
        engine: RunningEngine, spark, tmp_path, monkeypatch):
    from jobs import pipeline

    # As an Airflow task: the stage goes to the engine, which runs it on the cluster's executors.
    monkeypatch.setenv(URL_ENV, engine.url)
    monkeypatch.setenv("GRIDRISK_ENGINE_TOKEN", engine.token)
    before = engine.client.status()
    assert before["master"].startswith("spark://") and before["profile"] == "cluster"
    on_cluster = pipeline.run_daily(DS, engine.profile)
    after = engine.client.status()
    stages = [s for s in on_cluster if s in STAGES]
    # every stage ran in the engine, and so did the day's summary (the run log's account)
    assert after["served"] - before["served"] == len(stages) + 1, "every stage and the summary ran in the engine"
    assert after["failed"] == before["failed"]
    assert [r["status"] for r in on_cluster["ingest"]["results"]] == ["loaded"] * len(on_cluster["ingest"]["results"])
    assert not on_cluster["rules"].get("skipped"), on_cluster["rules"]

    # The same deliveries, in this process, on local[*].
    monkeypatch.delenv(URL_ENV)
    monkeypatch.setenv("GRIDRISK_PSEUDONYM_KEY", KEY)
    local = load_profile("local", env={}, workdir=str(tmp_path)).with_inbox(engine.profile.inbox)
    on_local = pipeline.run_daily(DS, local)

    cluster_flags, local_flags = comparable_flags(engine.profile), comparable_flags(local)
    assert len(cluster_flags) > 10, "the province must raise flags for the comparison to mean anything"
    assert {f["rule_id"] for f in cluster_flags} >= {"rental.overcrowded"}
    assert cluster_flags == local_flags
    assert on_cluster["publish"]["created"] == on_local["publish"]["created"] > 0


def test_a_task_attaches_to_the_engine_without_starting_a_jvm(engine: RunningEngine):
    """A fresh process (an Airflow task) runs a Spark job in the engine: its own process tree never
    holds a JVM, and what attaching cost it is printed (docs/scaling.md)."""
    code = ("import json, resource, sys, time\n"
            "t = time.monotonic()\n"
            "from gridrisk.engine import spark_probe\n"
            "out = spark_probe()\n"
            "out['wall'] = time.monotonic() - t\n"
            "ru = resource.getrusage(resource.RUSAGE_SELF)\n"
            "out['cpu'] = ru.ru_utime + ru.ru_stime\n"
            "out['pyspark_jvm'] = any(m.startswith('py4j') for m in sys.modules)\n"
            "print(json.dumps(out))\n")
    env = {**engine.env, URL_ENV: engine.url, "GRIDRISK_ENGINE_TOKEN": engine.token}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["sum"] == sum(range(1000))
    assert out["pid"] == engine.client.status()["pid"], "the job ran in the engine"
    assert not out["pyspark_jvm"], "the task never loaded py4j, so never started a JVM"
    print(f"attach + one Spark job through the engine: {time.monotonic() - started:.2f} s wall for the "
          f"process, CPU {out['cpu']:.2f} s; load {os.getloadavg()[0]:.1f}")


def test_an_error_in_the_engine_comes_back_with_its_traceback(engine: RunningEngine, monkeypatch):
    from jobs import pipeline

    monkeypatch.setenv(URL_ENV, engine.url)
    monkeypatch.setenv("GRIDRISK_ENGINE_TOKEN", engine.token)
    with pytest.raises(RemoteError, match="unknown stage 'nope'") as caught:
        pipeline.run_stage("nope", DS, engine.profile)
    assert caught.value.remote_type == "ValueError"
    assert "jobs/pipeline.py" in caught.value.remote_traceback


def test_a_caller_without_the_token_is_refused(engine: RunningEngine):
    with pytest.raises(EngineError, match="refused the call: wrong or missing GRIDRISK_ENGINE_TOKEN"):
        Client(engine.url, "not-the-token").call("gridrisk.engine.spark_probe")
