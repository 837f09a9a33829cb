"""A Spark standalone cluster on this machine, from the installed pyspark: one master, N workers.

The pip package of pyspark has the cluster's classes but not Spark's ``sbin/start-master.sh`` /
``start-worker.sh``; this module does what they do (``spark-class`` with the Master and Worker
classes), with pid files, logs and the master's URL in one state folder, so a script, a test or
a user can start it, find it and stop it::

    python -m gridrisk.standalone start --dir /tmp/gridrisk-cluster --workers 2
    python -m gridrisk.standalone status --dir /tmp/gridrisk-cluster
    python -m gridrisk.standalone stop --dir /tmp/gridrisk-cluster

``start`` prints ``export GRIDRISK_SPARK_MASTER=spark://127.0.0.1:<port>``: the ``cluster``
profile reads the master's URL from there. Workers (and the executors they start) get the
caller's ``PYTHONPATH`` and ``JAVA_HOME``; executors run the driver's ``PYSPARK_PYTHON``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

START_TIMEOUT_S = 180.0  # a loaded 2-core machine takes 10–40 s per JVM


class ClusterError(RuntimeError):
    """The cluster did not start (the message names the log to read) or is not there."""


@dataclass(frozen=True)
class Cluster:
    """What :func:`start` left running (also in ``<dir>/cluster.json``)."""

    master_url: str
    master_ui: str
    master_pid: int
    worker_pids: tuple[int, ...]
    workers: int
    cores: int
    memory: str
    dir: str


def spark_home() -> Path:
    """The installed pyspark's folder: it has ``bin/spark-class`` and ``jars/``."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child that exited) still answers kill(0): ask the process table.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def _launch(args: list[str], log: Path, env: dict[str, str]) -> int:
    """Start ``spark-class <args>`` detached (own session: it outlives the caller), log to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen([str(spark_home() / "bin" / "spark-class"), *args], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    return proc.pid


def _wait_for(log: Path, pattern: str, pid: int, what: str, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        m = regex.search(text)
        if m:
            return m
        if not _alive(pid):
            raise ClusterError(f"the {what} exited during start-up: read {log}")
        time.sleep(0.5)
    raise ClusterError(f"the {what} did not start within {timeout:.0f} s: read {log}")


def state_file(folder: Path) -> Path:
    return folder / "cluster.json"


def read_state(folder: Path) -> Cluster | None:
    path = state_file(folder)
    if not path.exists():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["worker_pids"] = tuple(raw["worker_pids"])
    return Cluster(**raw)


def status(folder: Path) -> Cluster | None:
    """The running cluster of ``folder`` (master and every worker alive), else None."""
    state = read_state(folder)
    if state is None or not _alive(state.master_pid) or not all(_alive(p) for p in state.worker_pids):
        return None
    return state


def start(folder: Path, workers: int = 2, cores: int = 1, memory: str = "1g", host: str = "127.0.0.1",
          timeout: float = START_TIMEOUT_S) -> Cluster:
    """Start a master and ``workers`` workers (``cores`` and ``memory`` each); return when every
    worker has registered. An already running cluster of ``folder`` is returned as it is."""
    from gridrisk.spark import check_java

    check_java()
    running = status(folder)
    if running is not None:
        return running
    stop(folder)  # whatever is left of a half-dead one
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOG_DIR": str(folder / "logs"),
           "SPARK_NO_DAEMONIZE": "1"}
    port, ui = free_port(host), free_port(host)
    master_log = folder / "logs" / "master.log"
    master_pid = _launch(["org.apache.spark.deploy.master.Master", "--host", host, "--port", str(port),
                          "--webui-port", str(ui)], master_log, env)
    pids: list[int] = []
    try:
        _wait_for(master_log, r"Starting Spark master at (spark://\S+)", master_pid, "master", timeout)
        url = f"spark://{host}:{port}"
        for i in range(1, workers + 1):
            work = folder / f"worker-{i}"
            work.mkdir(exist_ok=True)
            log = folder / "logs" / f"worker-{i}.log"
            pids.append(_launch(["org.apache.spark.deploy.worker.Worker", "--host", host, "--cores", str(cores),
                                 "--memory", memory, "--webui-port", str(free_port(host)), "--work-dir", str(work),
                                 url], log, env))
        for i, pid in enumerate(pids, start=1):
            _wait_for(folder / "logs" / f"worker-{i}.log", r"Successfully registered with master", pid,
                      f"worker {i}", timeout)
    except BaseException:
        _kill([master_pid, *pids])
        raise
    cluster = Cluster(master_url=url, master_ui=f"http://{host}:{ui}", master_pid=master_pid,
                      worker_pids=tuple(pids), workers=workers, cores=cores, memory=memory, dir=str(folder))
    tmp = state_file(folder).with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(cluster), indent=2) + "\n", encoding="utf-8")
    tmp.replace(state_file(folder))
    return cluster


def _kill(pids: list[int], timeout: float = 30.0) -> None:
    """SIGTERM each process group (the JVM and the executors it started), SIGKILL what stays."""
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.3)
    for pid in pids:
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def stop(folder: Path) -> bool:
    """Stop the cluster of ``folder`` (workers first); False when none was recorded there."""
    state = read_state(folder)
    if state is None:
        return False
    _kill([*state.worker_pids])
    _kill([state.master_pid])
    state_file(folder).unlink(missing_ok=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gridrisk.standalone", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("--dir", required=True, type=Path, help="state folder: pid files, logs, cluster.json")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1, help="cores per worker")
    parser.add_argument("--memory", default="1g", help="memory per worker (executors get at most this)")
    args = parser.parse_args(argv)
    folder = args.dir.resolve()
    if args.action == "start":
        try:
            cluster = start(folder, workers=args.workers, cores=args.cores, memory=args.memory)
        except ClusterError as exc:
            print(f"standalone: {exc}", file=sys.stderr)
            return 1
        print(f"export GRIDRISK_SPARK_MASTER={cluster.master_url}")
        print(f"standalone: master {cluster.master_url} (UI {cluster.master_ui}), {cluster.workers} workers × "
              f"{cluster.cores} core, {cluster.memory}; logs in {folder / 'logs'}", file=sys.stderr)
        return 0
    if args.action == "stop":
        print("standalone: stopped" if stop(folder) else f"standalone: no cluster recorded in {folder}", file=sys.stderr)
        return 0
    alive = status(folder)
    if alive is None:
        print(f"standalone: not running ({folder})", file=sys.stderr)
        return 3
    print(json.dumps(asdict(alive), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
