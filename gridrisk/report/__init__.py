"""Analysts' risk reports: one self-contained HTML page and the same figures as a workbook.

Reads the lake without a JVM (:mod:`gridrisk.lake_reader`) and the task store through its
public API; never imports pyspark. See docs/report.md. ``build_report`` is imported lazily so
that ``gridrisk --help`` (which registers the ``report`` sub-command) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridrisk.report.build import ReportPaths, build_report, report_dir

__all__ = ["ReportPaths", "build_report", "report_dir"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from gridrisk.report import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
