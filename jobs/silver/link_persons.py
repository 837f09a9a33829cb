"""The link stage: entity resolution, then the person facts keyed by its person keys.

    gridrisk run --date 2026-11-01 --stages link

:mod:`jobs.silver.person_master` links every person-bearing record to a stable person key
(silver ``person_records``, ``person_master``); :mod:`jobs.silver.person_facts` then writes the
licences, qualifications, registry entries and profiles the person rules read, joined on those
keys. One stage, because the facts are meaningless without the keys of the same day.

A partial day: the stage runs when persons and addresses are fit for use (gridrisk/catalog.py);
a department whose delivery is late or failed is left out of today's linking, and the fact
tables it feeds get no partition for the day, so only the rules that read them are skipped.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from gridrisk.config import Profile

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def run(spark: "SparkSession", profile: Profile, ds: str, available: frozenset[str] | None = None) -> dict[str, Any]:
    """``available``: the bronze inputs fit for use today (None: all of them)."""
    from jobs.silver import person_facts, person_master

    linked = person_master.run(spark, profile, ds, available=available)
    started = time.monotonic()
    facts = person_facts.run(spark, profile, ds, available=available)
    seconds = {**linked.get("seconds", {}), "facts": round(time.monotonic() - started, 2)}
    return {**linked, "tables": {**linked.get("tables", {}), **facts["tables"]}, "left_out": facts["left_out"],
            "seconds": seconds}
