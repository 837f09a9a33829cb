"""Build one report: assemble its figures, render the page and the workbook, write both.

    >>> from gridrisk.report import build_report
    >>> paths = build_report("local", "2026-11-01")            # doctest: +SKIP
    >>> paths.html                                              # doctest: +SKIP
    '/…/lake/_reports/risk/2026-11-01/gridrisk-report-2026-11-01.html'

The daily DAG calls ``build_report(profile, ds)`` after publish (one line, no Spark, no jobs
import); any past date can be rebuilt from the lake and the task store alone and gives the same
bytes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gridrisk import storage
from gridrisk.config import Profile, load_profile
from gridrisk.report.assemble import DRILL_CAP, assemble


@dataclass(frozen=True)
class ReportPaths:
    html: str
    xlsx: str
    html_bytes: int
    xlsx_bytes: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"html": self.html, "xlsx": self.xlsx, "html_bytes": self.html_bytes, "xlsx_bytes": self.xlsx_bytes,
                "seconds": round(self.seconds, 2)}


def report_dir(profile: Profile, ds: str) -> str:
    """Where the reports of a date go by default: ``<reports>/risk/<ds>``."""
    return storage.join(profile.reports, "risk", ds)


def report_name(ds: str, unit: str | None) -> str:
    return f"gridrisk-report-{ds}" + (f"-{unit}" if unit else "")


def write_bytes(uri: str, blob: bytes) -> None:
    from pyarrow import fs as pafs

    if "://" in uri and not uri.startswith("file://"):
        filesystem, path = pafs.FileSystem.from_uri(uri)
    else:
        filesystem, path = pafs.LocalFileSystem(), uri.removeprefix("file://")
    parent = path.rsplit("/", 1)[0]
    if parent:
        filesystem.create_dir(parent, recursive=True)
    with filesystem.open_output_stream(path) as fh:
        fh.write(blob)


def build_report(profile: str | Profile | None, ds: str, unit: str | None = None, days: int = 7,
                 out_dir: str | None = None, drill_cap: int = DRILL_CAP) -> ReportPaths:
    """Write the report of ``ds`` for ``unit``'s subtree (None: the province) as HTML and XLSX.

    Raises ``gridrisk.lake_reader.LakeReadError`` (with what is missing) when the lake has no
    flags or no summary for ``ds``.
    """
    from gridrisk.report.excel import workbook_bytes
    from gridrisk.report.html import render

    started = time.monotonic()
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    out = (out_dir or report_dir(prof, ds)).rstrip("/")
    report = assemble(prof, ds, unit=unit, days=days, drill_cap=drill_cap, out_dir=out)
    page = render(report).encode("utf-8")
    book = workbook_bytes(report)
    name = report_name(report.ds, unit)
    html_path, xlsx_path = f"{out}/{name}.html", f"{out}/{name}.xlsx"
    write_bytes(html_path, page)
    write_bytes(xlsx_path, book)
    return ReportPaths(html_path, xlsx_path, len(page), len(book), time.monotonic() - started)
