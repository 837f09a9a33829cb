"""The shared ``main()`` of the daily jobs: ``python -m jobs.<layer>.<job> --date D [--profile P]``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any


def daily_job_main(run: Callable[..., dict[str, Any]], prog: str, argv: list[str] | None = None) -> int:
    """Parse ``--date``/``--profile``, build the session, call ``run(spark, profile, ds)``, print its summary."""
    from gridrisk.config import load_profile
    from gridrisk.spark import get_spark

    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--date", required=True, help="logical date YYYY-MM-DD")
    parser.add_argument("--profile", help="conf/profiles/<name>.yaml (default: $GRIDRISK_PROFILE or local)")
    args = parser.parse_args(argv)
    profile = load_profile(args.profile)
    print(json.dumps(run(get_spark(profile), profile, args.date), ensure_ascii=False, default=str))
    return 0
