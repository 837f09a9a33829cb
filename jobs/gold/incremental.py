"""Incremental rule runs: re-evaluate only the subjects whose answer could have changed.

A rule's answer for one subject (an address, a building, a person key) depends only on that
subject's input rows and on the day. So between yesterday (``prev``) and today it can change
only for

- **changed subjects** — a row of the subject was added, removed or altered between the two
  ``ds`` partitions of an input. The silver tables are daily snapshots, so this is the snapshot
  difference (a keyed hash of every column but ``ds``, anti-joined both ways): the equivalent of
  Delta's Change Data Feed for tables that are rewritten per day rather than updated in place;
- **due subjects** — a row test that takes the day (a licence valid until yesterday, a drug
  record that turns 3 years old today, a 61st birthday) flips between ``prev`` and today. Each
  kind names these tests (:meth:`gridrisk.rules.kind.RuleKind.day_tests`), and they are the
  same functions its ``hits`` uses, so the two cannot drift apart.

Everything else keeps yesterday's flag as gold holds it. The result equals a full recompute
(``tests/test_person_rules.py::test_an_incremental_day_equals_a_full_recompute`` compares the two); :func:`jobs.gold.risk_flags.run` falls back
to a full run whenever the shortcut's premises do not hold (no run for yesterday, other rule
configuration, an input without yesterday's partition).
"""

from __future__ import annotations

from functools import reduce
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from gridrisk.rules import Rule
    from gridrisk.rules.kind import RuleKind


def _row_hash(df: "DataFrame") -> "DataFrame":
    """Each row with a 64-bit hash of every column but ``ds`` (xxhash64: cheap, and a collision
    would have to happen between two versions of the same subject's row)."""
    from pyspark.sql import functions as F

    cols = sorted(c for c in df.columns if c != "ds")
    return df.select("*", F.xxhash64(*cols).alias("_row_hash"))


def changed_subjects(today: "DataFrame", prev: "DataFrame", subject: str) -> "DataFrame":
    """Subjects with a row added, removed or altered between two snapshots (column ``subject_key``)."""
    from pyspark.sql import functions as F

    t = _row_hash(today).select(F.col(subject).alias("subject_key"), "_row_hash")
    p = _row_hash(prev).select(F.col(subject).alias("subject_key"), "_row_hash")
    diff = t.join(p, ["subject_key", "_row_hash"], "left_anti").unionByName(p.join(t, ["subject_key", "_row_hash"], "left_anti"))
    return diff.where(F.col("subject_key").isNotNull()).select("subject_key")


def due_subjects(kind: "RuleKind", rule: "Rule", inputs: "dict[str, DataFrame]", prev_ds: str, ds: str) -> "list[DataFrame]":
    """Subjects with a day-dependent row test that answers differently on ``prev_ds`` and ``ds``."""
    from pyspark.sql import functions as F

    out = []
    prev, day = F.lit(prev_ds).cast("date"), F.lit(ds).cast("date")
    for name, tests in kind.day_tests(rule).items():
        flips = reduce(lambda a, b: a | b, [~test(prev).eqNullSafe(test(day)) for test in tests])
        column = kind.subject_columns()[name]
        out.append(inputs[name].where(flips & F.col(column).isNotNull()).select(F.col(column).alias("subject_key")))
    return out


class Changes:
    """The changed subjects of each input, computed once per run and shared by every rule that
    reads the input (the person tables feed five rules)."""

    def __init__(self, today: "dict[str, DataFrame]", prev: "dict[str, DataFrame]") -> None:
        self.today, self.prev = today, prev
        self._memo: dict[tuple[str, str], DataFrame] = {}
        self._held: list[DataFrame] = []

    def of(self, name: str, subject: str) -> "DataFrame":
        if (name, subject) not in self._memo:
            self._memo[(name, subject)] = changed_subjects(self.today[name], self.prev[name], subject).distinct().cache()
        return self._memo[(name, subject)]

    def hold(self, df: "DataFrame") -> None:
        """Keep ``df`` cached until :meth:`release` (after the merge that reads it)."""
        self._held.append(df)

    def release(self) -> None:
        for df in [*self._memo.values(), *self._held]:
            df.unpersist()
        self._memo.clear()
        self._held.clear()


def subjects_to_recompute(kind: "RuleKind", rule: "Rule", changes: Changes, prev_ds: str, ds: str) -> "DataFrame":
    columns = kind.subject_columns()
    parts = [changes.of(name, columns[name]) for name in kind.input_names()]
    parts += due_subjects(kind, rule, changes.today, prev_ds, ds)
    return reduce(lambda a, b: a.unionByName(b), parts).distinct()


def evaluate(rule: "Rule", changes: Changes, carried: "DataFrame", prev_ds: str, ds: str) -> "tuple[DataFrame, DataFrame]":
    """Today's hits of ``rule``: fresh for the subjects to recompute, ``carried`` (yesterday's
    open flags in the shape of :func:`gridrisk.rules.kinds.evaluate_rule`) for the rest.

    Returns (hits, subjects recomputed)."""

    from gridrisk.rules.kinds import KINDS, evaluate_rule

    kind = KINDS[rule.kind]()
    today = changes.today
    keys = subjects_to_recompute(kind, rule, changes, prev_ds, ds).cache()
    changes.hold(keys)
    columns = kind.subject_columns()
    subset = {
        name: today[name].join(keys.withColumnRenamed("subject_key", columns[name]), columns[name], "left_semi")
        for name in kind.input_names()
    }
    fresh = evaluate_rule(subset, rule, ds)
    kept = carried.join(keys, "subject_key", "left_anti")
    return fresh.unionByName(kept.select(*fresh.columns)), keys
