"""Incremental rule runs: re-evaluate only the subjects whose answer could have changed.

A rule's answer for one subject (an address, a building, a person key) depends only on that
subject's input rows and on the day. So between yesterday (``prev``) and today it can change
only for

- **changed subjects** — a row of the subject was added, removed or altered between the two
  ``ds`` partitions of an input. The silver tables are daily snapshots, rewritten per day
  partition, so Delta's Change Data Feed would list every row of the day as inserted; the
  difference is taken here instead, per subject, from a fingerprint of its rows on each day
  (count and summed 64-bit row hashes);
- **due subjects** — a row test that takes the day (a licence valid until yesterday, a drug
  record that turns 3 years old today, a 61st birthday) flips between ``prev`` and today. Each
  kind names these tests (:meth:`gridrisk.rules.kind.RuleKind.day_tests`), and they are the
  same functions its ``hits`` uses, so the two cannot drift apart.

Both come from **one pass per input table** (:func:`subject_changes`): both days' rows, one
aggregation per subject with a map-side combine, every incremental rule's day tests as extra
columns, the (small) result cached and shared by the rules that read the input. A kind opts in
with :attr:`gridrisk.rules.kind.RuleKind.incremental`.

Everything else keeps yesterday's flag as gold holds it. The result equals a full recompute
(``tests/test_person_rules.py::test_an_incremental_day_equals_a_full_recompute`` compares the two); :func:`jobs.gold.risk_flags.run` falls back
to a full run whenever the shortcut's premises do not hold (no run for yesterday, other rule
configuration, an input without yesterday's partition).
"""

from __future__ import annotations

from functools import reduce
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from gridrisk.rules import Rule
    from gridrisk.rules.kind import RuleKind


def _row_hash(df: "DataFrame") -> "Column":
    """A 64-bit hash of every column but ``ds`` (xxhash64: cheap, and a collision would have to
    happen between two versions of the same subject's rows). Spark's hash skips a null, so which
    columns are null goes in as a bit mask: (null, x) and (x, null) hash apart."""
    from functools import reduce

    from pyspark.sql import functions as F

    cols = sorted(c for c in df.columns if c != "ds")
    nulls = reduce(lambda a, b: a + b, [F.when(F.col(c).isNull(), F.lit(1 << (i % 62))).otherwise(F.lit(0))
                                        for i, c in enumerate(cols)], F.lit(0))
    return F.xxhash64(*cols, nulls.cast("long"))


def subject_changes(today: "DataFrame", prev: "DataFrame", subject: str,
                    flips: "dict[str, Column] | None" = None) -> "DataFrame":
    """One pass over both days' rows of an input: per subject whose rows differ between the two
    snapshots (a row added, removed or altered) or for which one of ``flips`` (name → a row test
    that answers differently on the two days, over today's rows) holds, the row
    ``subject_key, changed, <name>…``.

    The rows of each day are summarised per subject by their count and the sums of the two 32-bit
    halves of their hashes (an order-free fingerprint of the multiset; no overflow below 2³¹ rows
    a subject), so the diff is one aggregation with a map-side combine — not two anti-joins of
    whole snapshots — and every rule reading the input shares it."""
    from functools import reduce

    from pyspark.sql import functions as F

    flips = flips or {}
    both = (today.select(F.col(subject).alias("subject_key"), _row_hash(today).alias("_h"), F.lit(True).alias("_today"),
                         *[test.alias(f"_flip_{i}") for i, test in enumerate(flips.values())])
            .unionByName(prev.select(F.col(subject).alias("subject_key"), _row_hash(prev).alias("_h"),
                                     F.lit(False).alias("_today"),
                                     *[F.lit(False).alias(f"_flip_{i}") for i in range(len(flips))]))
            .where(F.col("subject_key").isNotNull()))
    lo, hi = F.col("_h").bitwiseAND(F.lit(0xFFFFFFFF)), F.shiftright(F.col("_h"), 32)

    def per_day(col: "Column", today_: bool) -> "Column":
        return F.sum(F.when(F.col("_today") == F.lit(today_), col).otherwise(F.lit(0)))

    summary = both.groupBy("subject_key").agg(
        *[per_day(c, t).alias(f"_{n}{'t' if t else 'p'}") for t in (True, False)
          for n, c in (("n", F.lit(1)), ("lo", lo), ("hi", hi))],
        *[F.max(F.col(f"_flip_{i}")).alias(name) for i, name in enumerate(flips)],
    )
    changed = reduce(lambda a, b: a | b, [F.col(f"_{n}t") != F.col(f"_{n}p") for n in ("n", "lo", "hi")])
    out = summary.select("subject_key", changed.alias("changed"), *[F.coalesce(F.col(n), F.lit(False)).alias(n) for n in flips])
    return out.where(reduce(lambda a, b: a | b, [F.col("changed"), *[F.col(n) for n in flips]]))


def flip_tests(kind: "RuleKind", rule: "Rule", prev_ds: str, ds: str) -> "dict[str, Column]":
    """input table → the row test "a day-dependent test of ``rule`` answers differently on
    ``prev_ds`` and ``ds``" (:meth:`gridrisk.rules.kind.RuleKind.day_tests`)."""
    from functools import reduce

    from pyspark.sql import functions as F

    prev, day = F.lit(prev_ds).cast("date"), F.lit(ds).cast("date")
    return {name: reduce(lambda a, b: a | b, [F.coalesce(~test(prev).eqNullSafe(test(day)), F.lit(False)) for test in tests])
            for name, tests in kind.day_tests(rule).items()}


class Changes:
    """The subjects to recompute, found once per input table and shared by every rule that
    reads it (the person tables feed five rules): one cached frame per input with a ``changed``
    column and one column per rule with a day test on it (:func:`subject_changes`)."""

    def __init__(self, today: "dict[str, DataFrame]", prev: "dict[str, DataFrame]") -> None:
        self.today, self.prev = today, prev
        self._flips: dict[str, dict[str, Column]] = {}
        self._subject: dict[str, str] = {}
        self._memo: dict[str, DataFrame] = {}

    def register(self, kind: "RuleKind", rule: "Rule", prev_ds: str, ds: str) -> None:
        """Declare an incremental rule before any :meth:`of`: its inputs' passes then carry its day tests."""
        if self._memo:
            raise RuntimeError("register every incremental rule before asking for changes")
        tests = flip_tests(kind, rule, prev_ds, ds)
        for name, column in kind.subject_columns(rule).items():
            self._subject[name] = column
            flips = self._flips.setdefault(name, {})
            if name in tests:
                flips[_flip_name(rule)] = tests[name]

    def of(self, name: str) -> "DataFrame":
        """``subject_key, changed, <flip columns>`` of input ``name`` (cached; small)."""
        if name not in self._memo:
            self._memo[name] = subject_changes(self.today[name], self.prev[name], self._subject[name],
                                               self._flips.get(name)).cache()
        return self._memo[name]

    def release(self) -> None:
        """Drop the cached frames (after the merge and the count that read them)."""
        for df in self._memo.values():
            df.unpersist()
        self._memo.clear()


def _flip_name(rule: "Rule") -> str:
    return "_due_" + "".join(c if c.isalnum() else "_" for c in rule.id)


def subjects_to_recompute(kind: "RuleKind", rule: "Rule", changes: Changes) -> "DataFrame":
    """The subjects of ``rule`` whose rows changed in any of its inputs, or whose day test flips."""
    from pyspark.sql import functions as F

    parts = []
    for name in kind.input_names(rule):
        frame = changes.of(name)
        due = F.col(_flip_name(rule)) if _flip_name(rule) in frame.columns else F.lit(False)
        parts.append(frame.where(F.col("changed") | due).select("subject_key"))
    return reduce(lambda a, b: a.unionByName(b), parts).distinct()


def evaluate(rule: "Rule", changes: Changes, carried: "DataFrame", prev_ds: str, ds: str) -> "tuple[DataFrame, DataFrame]":
    """Today's hits of ``rule``: fresh for the subjects to recompute, ``carried`` (yesterday's
    open flags in the shape of :func:`gridrisk.rules.kinds.evaluate_rule`) for the rest.

    Returns (hits, subjects recomputed)."""

    from gridrisk.rules.kinds import KINDS, evaluate_rule

    kind = KINDS[rule.kind]()
    today = changes.today
    keys = subjects_to_recompute(kind, rule, changes)
    columns = kind.subject_columns(rule)
    subset = {
        name: today[name].join(keys.withColumnRenamed("subject_key", columns[name]), columns[name], "left_semi")
        for name in kind.input_names(rule)
    }
    fresh = evaluate_rule(subset, rule, ds)
    kept = carried.join(keys, "subject_key", "left_anti")
    return fresh.unionByName(kept.select(*fresh.columns)), keys
