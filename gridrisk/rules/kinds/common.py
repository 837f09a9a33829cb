"""Spark helpers shared by the rule kinds: parameters as columns and explanation templates."""

from __future__ import annotations

import string
from typing import TYPE_CHECKING

from gridrisk.rules.kinds._spark import F

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

from gridrisk.rules.model import Rule


def city_param(rule: Rule, name: str, city_col: str = "city_code") -> Column:
    """A parameter as a column: the default, or the city's override (CASE on the 4-digit prefix)."""
    expr = F.lit(rule.params[name])
    for city, overrides in sorted(rule.city_overrides.items()):
        if name in overrides:
            expr = F.when(F.col(city_col) == city, F.lit(overrides[name])).otherwise(expr)
    return expr


def render_template(template: str, facts: Column) -> Column:
    """``"住{occupants}人"`` + facts map → a string column (no Python UDF)."""
    parts: list[Column] = []
    for literal, name, _, _ in string.Formatter().parse(template):
        if literal:
            parts.append(F.lit(literal))
        if name:
            # A value may carry a line break from its source (an employer name quoted over two
            # lines): explanations are one line, read on a phone.
            parts.append(F.regexp_replace(F.coalesce(facts.getItem(name), F.lit("?")), r"\s*[\r\n]+\s*", " "))
    return F.concat(*parts) if parts else F.lit("")


def fmt(col: Column, digits: int = 1) -> Column:
    """A number as text with ``digits`` decimals (thousands separated), for explanations."""
    return F.format_number(col, digits).cast("string")


def with_evidence(fired: DataFrame, rows: DataFrame, key: str, aggregates: list[Column]) -> DataFrame:
    """``fired`` (one row per subject that fired) with ``aggregates`` over its own ``rows``.

    Evidence lists (``collect_list`` of structs, sorted) are the dear part of a rule's
    aggregation; built over every subject and then filtered they cost the whole input's worth
    (at 1 M persons most of the rules stage) for the few hundred subjects that fire. So a kind
    decides with plain numbers first and collects the evidence of the subjects that fired only:
    their rows are picked by a semi join (``fired`` is small: broadcast)."""
    evidence = rows.join(F.broadcast(fired.select(key)), key, "left_semi").groupBy(key).agg(*aggregates)
    return fired.join(evidence, key, "left")
