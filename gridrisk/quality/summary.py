"""The day's quality summary per dataset, from the ingest log, the quality log and the
quarantine's reason counts — one definition for the Spark job and the JVM-free CLI."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from gridrisk.quality.masking import masked_samples


def quality_rows(ingest_log: Iterable[dict[str, Any]], quality_log: Iterable[dict[str, Any]],
                 reason_counts: Iterable[tuple[str, str, int]]) -> list[dict[str, Any]]:
    """Per dataset of a day: read, accepted after quality, quarantined by reason, suite verdict.

    ``failing_values`` holds a few sample values per failed expectation, masked (ID numbers,
    names and other ``sensitive`` columns of the schema): the quality log keeps them raw in bronze.

    Pure, no Spark: ``reason_counts`` is (dataset, reason_code, rows). The Spark job
    (``jobs.quality.validate.summary``) and the JVM-free CLI both build their rows here.
    """
    ingest = {r["dataset"]: r for r in ingest_log}
    checks = {r["dataset"]: r for r in quality_log}
    reasons: dict[str, dict[str, int]] = {}
    for dataset, code, n in reason_counts:
        reasons.setdefault(dataset, {})[code] = reasons.get(dataset, {}).get(code, 0) + int(n)
    out = []
    for dataset in sorted(set(ingest) | set(checks)):
        log, q = ingest.get(dataset, {}), checks.get(dataset)
        by_reason = dict(sorted(reasons.get(dataset, {}).items(), key=lambda kv: (-kv[1], kv[0])))
        read = int(log.get("rows_read") or 0)
        quarantined = sum(by_reason.values())
        out.append({
            "dataset": dataset, "ingest_status": log.get("status", "-"), "rows_read": read,
            "rows_accepted": read - quarantined if log.get("status") == "loaded" else 0,
            "rows_quarantined": quarantined, "quarantined_by_reason": by_reason,
            "suite": "-" if q is None else ("pass" if q["success"] else "FAIL"),
            "bad_share": None if q is None else q["bad_share"],
            "failed_expectations": [] if q is None else list(q["failed_expectations"] or []),
            "failing_values": {} if q is None else masked_samples(dataset, json.loads(q.get("expectations") or "[]")),
        })
    return out
