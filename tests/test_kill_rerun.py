"""kill -9 in the middle of a stage, then a re-run: no duplicate flag, no duplicate task, and the
same lake and task store as a run nobody disturbed (issue 16, the fault suite).

The pipeline runs as a user runs it (``gridrisk run`` in a process of its own, on the housing
slice's deliveries); the whole process group — Python and its Spark JVM — is killed with SIGKILL
once the stage has started. Delta commits are atomic and task ids deterministic, so the re-run
must converge on the undisturbed result whatever the moment of the kill.
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


def env_for(profile: Profile, root: Path) -> dict[str, str]:
    return {**os.environ, "GRIDRISK_PROFILE": "local", "GRIDRISK_WORKDIR": str(root), "GRIDRISK_LAKE": profile.lake,
            "GRIDRISK_INBOX": profile.inbox, "GRIDRISK_TASK_STORE": profile.task_store,
            "GRIDRISK_PSEUDONYM_KEY": "test-key", "PYSPARK_PYTHON": sys.executable, "PYTHONUNBUFFERED": "1"}


def run_pipeline(profile: Profile, root: Path, kill_when: str | None = None, delay_s: float = 0.0) -> str:
    """``gridrisk run`` for DS; with ``kill_when``, SIGKILL its process group ``delay_s`` seconds
    after that line appears on stderr. Returns the stderr seen."""
    proc = subprocess.Popen([sys.executable, "-m", "cli", "run", "--date", DS, "--stages", STAGES],
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


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("undisturbed")
    profile = load_profile("local", env={}, workdir=str(root))
    build_inbox(profile)
    run_pipeline(profile, root)
    flags, tasks = state(profile)
    assert flags and tasks
    return flags, tasks


@pytest.mark.parametrize(("stage", "delay_s"), [("silver", 1.0), ("rules", 3.0), ("publish", 1.0)])
def test_a_run_killed_in_a_stage_then_rerun_leaves_no_duplicate_flag_or_task(tmp_path, undisturbed, stage, delay_s):
    profile = load_profile("local", env={}, workdir=str(tmp_path))
    build_inbox(profile)
    killed = run_pipeline(profile, tmp_path, kill_when=f"[{stage}] started", delay_s=delay_s)
    assert f"[{stage}] started" in killed and "finished in" not in killed

    run_pipeline(profile, tmp_path)
    flags, tasks = state(profile)
    assert len({f[0] for f in flags}) == len(flags), "a flag is duplicated"
    assert len({t[0] for t in tasks}) == len(tasks) and len({t[1] for t in tasks}) == len(tasks), "a task is duplicated"
    assert (flags, tasks) == undisturbed
