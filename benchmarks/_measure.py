"""Shared by the benchmark scripts: CPU and memory of a process tree (the driver's Python, its
Spark JVM and the JVM's Python workers), through psutil."""

from __future__ import annotations

import os

import psutil

#: the Spark sizing a benchmark takes from the environment (conf/profiles/local.yaml)
SIZING = ("GRIDRISK_SHUFFLE_PARTITIONS", "GRIDRISK_DRIVER_MEMORY")


def sizing_env() -> dict[str, str]:
    """For ``load_profile(env=...)``: :data:`SIZING` from the environment and nothing else of it,
    so a stray ``GRIDRISK_*`` setting cannot change what is measured, while the shuffle
    partitions and the heap a big run needs can be given (an empty ``env`` silently dropped them:
    the profile's 4 partitions and 4 GiB)."""
    return {k: os.environ[k] for k in SIZING if k in os.environ}


def _tree(pid: int | None, descendants_only: bool) -> list[psutil.Process]:
    root = psutil.Process(pid)
    try:
        below = root.children(recursive=True)
    except psutil.Error:
        below = []
    return below if descendants_only else [root, *below]


def tree_cpu(pid: int | None = None, *, descendants_only: bool = False, reaped: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (default: this process) and its live descendants;
    ``descendants_only``: without ``pid`` itself (this process's Spark JVM alone); ``reaped``: plus
    the children that have already exited (Python workers the JVM started and reaped)."""
    total = 0.0
    for p in _tree(pid, descendants_only):
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + ((t.children_user + t.children_system) if reaped else 0.0)
    return total


def tree_rss_mb(pid: int | None = None) -> float:
    """Resident memory of ``pid`` (default: this process) and its live descendants, in MB."""
    total = 0
    for p in _tree(pid, False):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20
