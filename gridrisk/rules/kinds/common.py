"""Spark helpers shared by the rule kinds: parameters as columns and explanation templates."""

from __future__ import annotations

import string
from typing import TYPE_CHECKING

from gridrisk.rules.kinds._spark import F

if TYPE_CHECKING:
    from pyspark.sql import Column

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
