"""Data quality: expectation suites, Spark row flags and the one adapter to Great Expectations.

Three modules, each with one dependency:

- :mod:`gridrisk.quality.checks` — the check model (structural checks from ``schemas/``,
  business checks from ``expectations/*.yaml``, thresholds from ``conf/quality.yaml``) as
  plain dataclasses; plus :mod:`gridrisk.quality.masking` for the values a result shows;
- :mod:`gridrisk.quality.row_flags` — which rows break a row-level check, as Spark columns;
- :mod:`gridrisk.quality.gx_report` — the only module importing ``great_expectations``:
  validation results and Data Docs.

This package imports only the check model eagerly: asking for ``flag_rows`` or ``validate``
loads Spark or GX on first use, so a caller that only reads suites starts neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gridrisk.quality.checks import (
    DEFAULT_REJECTED_ID_STATUSES,
    HELPER_PREFIX,
    KINDS,
    LEVELS,
    Check,
    Policy,
    business_checks,
    expectations_path,
    id_columns,
    load_policy_file,
    load_schema_or_none,
    policy,
    references_needed,
    structural_checks,
    suite_checks,
)

if TYPE_CHECKING:
    from gridrisk.quality.gx_report import DocsSite, ExpectationOutcome, SuiteOutcome, validate
    from gridrisk.quality.row_flags import add_helpers, flag_rows

_LAZY = {"add_helpers": "row_flags", "flag_rows": "row_flags", "validate": "gx_report", "DocsSite": "gx_report",
         "ExpectationOutcome": "gx_report", "SuiteOutcome": "gx_report"}

__all__ = [
    "DEFAULT_REJECTED_ID_STATUSES", "HELPER_PREFIX", "KINDS", "LEVELS", "Check", "DocsSite", "ExpectationOutcome",
    "Policy", "SuiteOutcome", "add_helpers", "business_checks", "expectations_path", "flag_rows", "id_columns",
    "load_policy_file", "load_schema_or_none", "policy", "references_needed", "structural_checks", "suite_checks",
    "validate",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"gridrisk.quality.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'gridrisk.quality' has no attribute {name!r}")
