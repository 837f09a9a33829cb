"""Precision and recall of the risk rules against the generator's planted ground truth.

The truth (``<truth>/<YYYYMMDD>/flags.csv``: rule_id, subject_type, subject_key, detail) is
written by the generator from its clean internal state; the pipeline never reads it. Person
subjects are compared through the same keyed hash the pipeline uses.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gridrisk import privacy

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from gridrisk.config import Profile


@dataclass
class RuleAccuracy:
    rule_id: str
    truth: int
    flagged: int
    true_positives: int
    false_positives: list[str] = field(default_factory=list)
    misses: list[tuple[str, str]] = field(default_factory=list)  # (subject, truth detail)

    @property
    def precision(self) -> float:
        return self.true_positives / self.flagged if self.flagged else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.truth if self.truth else 1.0


def read_truth(truth_dir: Path, ds: str) -> dict[str, dict[str, tuple[str, str]]]:
    """rule_id → subject_key → (subject_type, detail)."""
    path = Path(truth_dir) / dt.date.fromisoformat(ds).strftime("%Y%m%d") / "flags.csv"
    out: dict[str, dict[str, tuple[str, str]]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["rule_id"], {})[row["subject_key"]] = (row["subject_type"], row.get("detail", ""))
    return out


def measure(spark: "SparkSession", profile: "Profile", truth_dir: Path, ds: str, rules: list[str] | None = None
            ) -> list[RuleAccuracy]:
    from pyspark.sql import functions as F

    from gridrisk import lake

    truth = read_truth(truth_dir, ds)
    flags = lake.read(spark, profile, "gold", "risk_flags").where(
        (F.col("status") == "open") & (F.col("last_seen") == F.lit(ds).cast("date")))
    fired: dict[str, set[str]] = {}
    for r in flags.select("rule_id", "subject_key").collect():
        fired.setdefault(r["rule_id"], set()).add(r["subject_key"])
    key = None
    results = []
    for rule_id in sorted(rules or set(fired) | set(truth)):
        expected: dict[str, str] = {}
        for subject, (subject_type, detail) in truth.get(rule_id, {}).items():
            if subject_type == "person":
                key = key or privacy.pseudonym_key(profile.name)
                subject = privacy.person_key(subject, key)
            expected[subject] = detail
        got = fired.get(rule_id, set())
        tp = got & set(expected)
        results.append(RuleAccuracy(
            rule_id, len(expected), len(got), len(tp),
            false_positives=sorted(got - set(expected)),
            misses=sorted((s, expected[s]) for s in set(expected) - got),
        ))
    return results


def format_report(results: list[RuleAccuracy], limit: int = 10) -> str:
    lines = [f"{'rule':<28}{'truth':>7}{'flagged':>9}{'TP':>7}{'precision':>11}{'recall':>9}"]
    for r in results:
        lines.append(f"{r.rule_id:<28}{r.truth:>7}{r.flagged:>9}{r.true_positives:>7}{r.precision:>11.4f}{r.recall:>9.4f}")
        for s in r.false_positives[:limit]:
            lines.append(f"    false positive: {s}")
        for s, detail in r.misses[:limit]:
            lines.append(f"    missed: {s}  ({detail})")
    return "\n".join(lines)
