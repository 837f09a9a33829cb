"""Publish: open flags of the logical date → inspection tasks in the grid task queues.

    gridrisk run --date 2026-11-01 --stages publish

Each open flag becomes one task routed to its receiving unit. The task id is a hash of the
flag id and the day the flag (re-)opened, so a re-run or an Airflow retry never creates a
second task for the same open flag, and a flag that resolves and fires again later gets a new
one. Tasks of flags that resolved on this date and nobody has signed for yet are closed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from gridrisk import lake
from gridrisk.config import Profile

if TYPE_CHECKING:
    from pyspark.sql import Row, SparkSession

    from gridrisk.taskstore import Task

BATCH = 1000
TZ = ZoneInfo("Asia/Shanghai")


def task_id(flag_id: str, opened_on: dt.date) -> str:
    return "T" + hashlib.sha256(f"{flag_id}|{opened_on.isoformat()}".encode()).hexdigest()[:19]


def task_evidence(row: "Row", allowed: tuple[str, ...]) -> dict[str, Any]:
    """The evidence a task carries: only the keys the rule lets its receiving unit see
    (``task_evidence`` in conf/rules; none when it lists none), so e.g. a traffic police task
    never carries a mental-health registry entry."""
    evidence = json.loads(row["evidence"]) if row["evidence"] else {}
    evidence = {k: v for k, v in evidence.items() if k in allowed}
    evidence["first_seen"] = row["first_seen"].isoformat()
    if row["escalated_by"]:
        evidence["escalated_by"] = row["escalated_by"]
    return evidence


def task_from_flag(row: "Row", filed_at: dt.datetime, allowed: tuple[str, ...] = ()) -> "Task":
    from gridrisk.disclosure import DisclosureError, task_problems
    from gridrisk.taskstore import Task

    explanation = row["explanation"] + (row["escalation_note"] or "")
    evidence = task_evidence(row, allowed)
    problems = task_problems(f"{row['title']} {explanation}", evidence)
    if problems:  # the rules' validation makes this unreachable for declared text; facts are data
        raise DisclosureError(f"task of flag {row['flag_id']} ({row['rule_id']}) would disclose registry details to "
                              f"{row['department']}: {'; '.join(problems)} (conf/disclosure.yaml)")
    return Task(
        task_id=task_id(row["flag_id"], row["opened_on"]),
        flag_id=row["flag_id"],
        rule_id=row["rule_id"],
        rule_version=str(row["rule_version"]),
        severity=row["severity"],
        priority=int(row["priority"]),
        subject_key=row["subject_key"],
        address_code=row["address_code"],
        grid_code=row["grid_code"],
        receiving_level=row["receiving_level"],
        receiving_unit=row["receiving_unit"],
        department=row["department"],
        title=row["title"],
        explanation=explanation,
        evidence=evidence,
        filed_at=filed_at,
        lon=row["lon"],
        lat=row["lat"],
    )


def _batches(rows: Iterator["Row"], size: int) -> Iterator[list["Row"]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run(spark: "SparkSession", profile: Profile, ds: str, now: dt.datetime | None = None) -> dict[str, Any]:
    from pyspark.sql import functions as F

    from gridrisk.rules import load_rules
    from gridrisk.taskstore import open_store

    path = profile.table_path("gold", "risk_flags")
    if not lake.table_exists(spark, path):
        return {"created": 0, "unchanged": 0, "updated": 0, "closed": 0, "unroutable": 0}
    allowed = {rule.id: rule.task_evidence for rule in load_rules().values()}
    flags = lake.read(spark, profile, "gold", "risk_flags")
    day = F.lit(ds).cast("date")
    store = open_store(profile.task_store)
    filed_at = (now or dt.datetime.now(TZ)).replace(microsecond=0)
    totals = {"created": 0, "unchanged": 0, "updated": 0}
    open_today = flags.where((F.col("status") == "open") & (F.col("last_seen") == day))
    # A subject without a known place (a person no register gives an address for) has no grid to
    # go to: it stays in gold for analysts and is counted here, never filed to a wrong unit.
    routable = F.col("grid_code").isNotNull() & F.col("receiving_unit").isNotNull()
    unroutable = open_today.where(~routable).count()
    for batch in _batches(open_today.where(routable).orderBy("flag_id").toLocalIterator(), BATCH):
        result = store.upsert_tasks([task_from_flag(r, filed_at, allowed.get(r["rule_id"], ())) for r in batch], at=filed_at)
        for key in totals:
            totals[key] += getattr(result, key)
    resolved = [r["flag_id"] for r in flags.where((F.col("status") == "resolved") & (F.col("resolved_on") == day))
                .select("flag_id").collect()]
    closed = store.close_resolved(resolved, at=filed_at) if resolved else []
    return {**totals, "closed": len(closed), "unroutable": unroutable}

