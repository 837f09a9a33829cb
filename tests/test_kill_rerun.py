"""kill -9 in the middle of a stage, then a re-run: no duplicate flag, no duplicate task, and the
same lake and task store as a run nobody disturbed (issue 16, the fault suite).

The pipeline runs as a user runs it (``gridrisk run`` in a process of its own, on the housing
slice's deliveries); the whole process group — Python and its Spark JVM — is killed with SIGKILL
once the stage has started. Delta commits are atomic and task ids deterministic, so the re-run
must converge on the undisturbed result whatever the moment of the kill.

One lake takes the three kills in turn: the run killed in silver never reached the rules, so the
next run, killed in the rules, is the first to write gold; it never reached publish, so the run
after it, killed in publish, is the first to file tasks. Each kill hits its stage's first write,
as on a fresh lake. Each killed run starts at the stage the previous one was killed in (as an
operator re-runs from the failed task; CI time), and the last run is the whole day again, so every
stage is also re-run over what the killed runs left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_slice_overcrowded import DS, build_inbox

from gridrisk import lake_reader
from gridrisk.config import Profile, load_profile

pytestmark = pytest.mark.slow

STAGES = "ingest,silver,rules,publish"


KEY = "test-key"  # the pseudonym key of every run here, killed, re-run or undisturbed


def env_for(profile: Profile, root: Path) -> dict[str, str]:
    return {**os.environ, "GRIDRISK_PROFILE": "local", "GRIDRISK_WORKDIR": str(root), "GRIDRISK_LAKE": profile.lake,
            "GRIDRISK_INBOX": profile.inbox, "GRIDRISK_TASK_STORE": profile.task_store,
            "GRIDRISK_PSEUDONYM_KEY": KEY, "PYSPARK_PYTHON": sys.executable, "PYTHONUNBUFFERED": "1"}


def run_pipeline(profile: Profile, root: Path, kill_when: str | None = None, delay_s: float = 0.0,
                 stages: str = STAGES) -> str:
    """``gridrisk run`` of ``stages`` for DS; with ``kill_when``, SIGKILL its process group
    ``delay_s`` seconds after that line appears on stderr. Returns the stderr seen."""
    proc = subprocess.Popen([sys.executable, "-m", "cli", "run", "--date", DS, "--stages", stages],
                            env=env_for(profile, root), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    seen: list[str] = []
    assert proc.stderr is not None
    deadline = time.monotonic() + 900
    for line in proc.stderr:
        seen.append(line)
        if kill_when and kill_when in line:
            time.sleep(delay_s)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            assert proc.returncode == -signal.SIGKILL
            time.sleep(2)  # the JVM follows its parent down (its gateway watches stdin)
            return "".join(seen)
        assert time.monotonic() < deadline, "".join(seen)
    assert proc.wait(timeout=900) == 0, "".join(seen)
    return "".join(seen)


def state(profile: Profile) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(flags as (flag_id, rule, status), tasks as (task_id, flag_id, status)), sorted."""
    from gridrisk.taskstore import open_store

    flags = lake_reader.read(profile, "gold", "risk_flags", columns=["flag_id", "rule_id", "status"])
    tasks = open_store(profile.task_store).list_tasks("32", limit=100_000)
    return (sorted(map(tuple, flags[["flag_id", "rule_id", "status"]].itertuples(index=False))),
            sorted((t.task_id, t.flag_id, t.status) for t in tasks))


def test_runs_killed_in_each_stage_then_rerun_leave_no_duplicate_flag_or_task(spark, tmp_path, monkeypatch):
    from jobs import pipeline

    # The undisturbed result: the same deliveries run once, in this process's Spark session.
    monkeypatch.setenv("GRIDRISK_PSEUDONYM_KEY", KEY)
    reference = load_profile("local", env={}, workdir=str(tmp_path / "undisturbed"))
    build_inbox(reference)
    pipeline.run_daily(DS, reference, stages=STAGES.split(","))
    undisturbed = state(reference)
    assert undisturbed[0] and undisturbed[1]

    root = tmp_path / "killed"
    root.mkdir()
    profile = load_profile("local", env={}, workdir=str(root))
    build_inbox(profile)
    for stages, stage, delay_s in (("ingest,silver", "silver", 1.0), ("silver,rules", "rules", 3.0),
                                   ("rules,publish", "publish", 1.0)):
        killed = run_pipeline(profile, root, kill_when=f"[{stage}] started", delay_s=delay_s, stages=stages)
        assert f"[{stage}] started" in killed and "finished in" not in killed, stage

    run_pipeline(profile, root)
    flags, tasks = state(profile)
    assert len({f[0] for f in flags}) == len(flags), "a flag is duplicated"
    assert len({t[0] for t in tasks}) == len(tasks) and len({t[1] for t in tasks}) == len(tasks), "a task is duplicated"
    assert (flags, tasks) == undisturbed
