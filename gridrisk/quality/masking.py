"""Masking the values a quality result shows (no Spark, no GX).

Bronze ``_quality_log`` and GX results carry sample failing values. Anything that renders them
(Data Docs, ``gridrisk quality``) shows the values of a dataset's ``sensitive`` columns
(``schemas/<dataset>.yaml``) masked with :mod:`gridrisk.privacy`'s helpers: ID numbers as
``320115********123X``, names as ``张*丰``, any other sensitive value (phone, diagnosis) as stars.

Example:
    >>> mask_value("id_no", "32011519900101123X"), mask_value("name", "张三丰"), mask_value("phone", "13800001234")
    ('320115********123X', '张*丰', '***')
    >>> masker_for("persons")("persons.one_row_per_key", "32011519900101123X")
    '320115********123X'
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from gridrisk import privacy
from gridrisk.quality.checks import Check, load_schema_or_none, suite_checks

#: A check name and a value it shows → the value safe to render.
Masker = Callable[[str, Any], Any]
#: Stands for a sensitive value that is neither an ID number nor a name.
HIDDEN = "***"


def mask_value(column: str, value: Any) -> Any:
    """``value`` of the sensitive ``column`` masked: ID numbers and names keep a hint, the rest is hidden."""
    if value is None:
        return None
    text = str(value)
    if column.endswith("id_no"):
        return privacy.mask_id(text)
    if column == "name" or column.endswith("_name"):
        return privacy.mask_name(text)
    return HIDDEN if text else text


def _mask_shown(value: Any, columns: tuple[str, ...], sensitive: frozenset[str]) -> Any:
    """A shown value is a scalar of the check's first column, or a ``{column: value}`` row."""
    if isinstance(value, dict):
        return {k: mask_value(k, v) if k in sensitive else v for k, v in value.items()}
    if isinstance(value, (list, tuple)) and len(value) == len(columns) > 1:
        return type(value)(mask_value(c, v) if c in sensitive else v for c, v in zip(columns, value))
    shown = [c for c in columns if c in sensitive]
    return mask_value(shown[0], value) if shown else value


def sensitive_columns(dataset: str) -> frozenset[str]:
    schema = load_schema_or_none(dataset)
    return frozenset(schema.sensitive) if schema else frozenset()


def check_masker(checks: list[Check], sensitive: frozenset[str]) -> Masker:
    """A :data:`Masker` for the checks of one dataset whose ``sensitive`` columns are given.

    A value of a check that reads a sensitive column is masked; a check on a derived ``_q_*``
    column (an ID's damage status, a window test) shows no personal value and is left alone.
    """
    by_name = {c.name: c.value_columns for c in checks}

    def mask(name: str, value: Any) -> Any:
        if name not in by_name:  # an expectation this suite no longer has: nothing tells what it shows
            return None if value is None else HIDDEN
        columns = by_name[name]
        if not any(c in sensitive for c in columns):
            return value
        return _mask_shown(value, columns, sensitive)

    return mask


@cache
def masker_for(dataset: str) -> Masker:
    """The :data:`Masker` of ``dataset``'s suite (schema ``sensitive`` columns)."""
    return check_masker(suite_checks(dataset), sensitive_columns(dataset))


def masked_samples(dataset: str, expectations: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per failed expectation of a quality-log entry, its sample values masked (for display).

    Masks again on reading: log rows written before masking existed hold raw values.
    """
    mask = masker_for(dataset)
    return {e["name"]: [str(mask(e["name"], v)) for v in e.get("unexpected_values") or []]
            for e in expectations if e.get("success") is False and e.get("unexpected_values")}
