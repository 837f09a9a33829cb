"""``gridrisk report``: the analysts' report of a date as HTML + XLSX.

    gridrisk report --date 2026-11-01 [--unit 320115] [--days 7] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_report(args: argparse.Namespace) -> int:
    from gridrisk.config import load_profile
    from gridrisk.lake_reader import LakeReadError
    from gridrisk.report import build_report

    profile = load_profile(args.profile)
    try:
        paths = build_report(profile, args.date, unit=args.unit, days=args.days, out_dir=args.out)
    except LakeReadError as exc:
        print(f"gridrisk report: {exc}", file=sys.stderr)
        return 1
    print(f"report:   {paths.html}  ({paths.html_bytes / 1024:,.0f} KiB)")
    print(f"workbook: {paths.xlsx}  ({paths.xlsx_bytes / 1024:,.0f} KiB)")
    print(f"built in {paths.seconds:.1f} s")
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``report`` to the ``gridrisk`` command's sub-commands."""
    help_ = "the analysts' risk report of a date: one offline HTML page and an Excel workbook"
    p: argparse.ArgumentParser = subparsers.add_parser("report", help=help_, description=help_)
    p.add_argument("--profile", help="conf/profiles/<name>.yaml (default: $GRIDRISK_PROFILE or local)")
    p.add_argument("--date", required=True, help="logical date YYYY-MM-DD")
    p.add_argument("--unit", help="only this unit's subtree: a city, district, street, community or grid code")
    p.add_argument("--days", type=int, default=7, help="days of trend and case handling (default 7)")
    p.add_argument("--out", help="output directory (default: <reports>/risk/<date>)")
    p.set_defaults(func=cmd_report)
    return p
