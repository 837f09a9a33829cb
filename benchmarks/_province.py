"""Shared by the benchmark scripts: a generated province in its own work folder."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path


def province_args(parser: "argparse.ArgumentParser", persons: int, workdir: str = "/tmp/gridrisk-bench") -> None:
    """The options every province benchmark takes: size, seed, first date, work folder."""
    parser.add_argument("--persons", type=int, default=persons)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--date", default="2026-11-01")
    parser.add_argument("--workdir", default=workdir)


def prepare(persons: int, seed: int, date: str, workdir: str, progress: bool = True, days: int = 1,
            noise: dict[str, float] | None = None) -> Path:
    """Point the pipeline at ``<workdir>/p<persons>`` (``…x<days>`` for several days, ``…-<knobs>``
    with noise overrides) and generate the province there once."""
    tag = "".join(f"-{k}{v:g}" for k, v in sorted((noise or {}).items()))
    work = Path(workdir) / (f"p{persons}" + (f"x{days}" if days > 1 else "") + tag)
    os.environ.update(GRIDRISK_LAKE=str(work / "lake"), GRIDRISK_INBOX=str(work / "inbox"),
                      GRIDRISK_TASK_STORE=f"sqlite:///{work}/tasks.sqlite", GRIDRISK_WORKDIR=str(work))
    if not (work / "inbox" / "persons").exists():
        from synth.generate import generate

        started = time.monotonic()
        generate(inbox=work / "inbox", truth=work / "truth", persons=persons, seed=seed,
                 start_date=dt.date.fromisoformat(date), days=days, noise=noise, progress=progress)
        print(f"generated {persons:,} persons in {time.monotonic() - started:.0f} s (not part of the figures)")
    return work
