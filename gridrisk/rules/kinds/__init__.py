"""The rule kinds this version knows, by name. Adding a kind = a class here (and its module).

Importing this package imports pyspark (no session, no JVM): the kinds' Spark code lives beside
their declarations, which is what validating ``conf/rules`` reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridrisk.rules.kind import RuleKind
from gridrisk.rules.kinds.fire import FIRE_KINDS
from gridrisk.rules.kinds.hazmat import HAZMAT_KINDS
from gridrisk.rules.kinds.housing import ConcentratedRental, OvercrowdedRental
from gridrisk.rules.kinds.persons import LicenceCondition, QualificationInconsistent, WorkerCondition

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from gridrisk.rules.kind import Window
    from gridrisk.rules.model import Rule

KIND_CLASSES: tuple[type[RuleKind], ...] = (
    OvercrowdedRental, ConcentratedRental, LicenceCondition, WorkerCondition, QualificationInconsistent,
    *HAZMAT_KINDS, *FIRE_KINDS,
)
#: kind name → its class (the declarations are class attributes; instantiate to evaluate).
KINDS: dict[str, type[RuleKind]] = {cls.name: cls for cls in KIND_CLASSES}

__all__ = ["KINDS", "KIND_CLASSES", "RuleKind", "evaluate_rule"]


def evaluate_rule(inputs: "dict[str, DataFrame]", rule: "Rule", window: "Window | str") -> "DataFrame":
    """Hits of ``rule`` (:data:`gridrisk.rules.kind.HIT_COLUMNS`) with both explanations rendered."""
    from pyspark.sql import functions as F

    from gridrisk.rules.kind import HIT_COLUMNS, Window
    from gridrisk.rules.kinds.common import render_template

    win = window if isinstance(window, Window) else Window(window)
    hits = KINDS[rule.kind]().evaluate(inputs, rule, win)
    return hits.select(
        *HIT_COLUMNS,
        render_template(rule.explanation, F.col("facts")).alias("explanation"),
        render_template(rule.analyst_explanation, F.col("facts")).alias("analyst_explanation"),
    )
