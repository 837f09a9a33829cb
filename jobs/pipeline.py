"""The daily pipeline's stages, as the CLI and Airflow call them.

Each stage takes the logical date and the profile name and returns a JSON-serialisable
summary. Airflow tasks import this module inside the task (never at DAG parse time).

    ingest  (one dataset or all) → silver → rules → publish
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gridrisk.config import Profile, deliveries, load_profile, schema_names

STAGES = ("ingest", "silver", "rules", "publish")


def check_date(ds: str) -> str:
    try:
        return dt.date.fromisoformat(ds).isoformat()
    except ValueError:
        raise ValueError(f"logical date must be YYYY-MM-DD, got {ds!r}") from None


def _profile(profile: str | Profile | None, inbox: str | None) -> Profile:
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    return prof.with_inbox(inbox)


def _spark(prof: Profile):  # type: ignore[no-untyped-def]
    from gridrisk.spark import get_spark

    return get_spark(prof)


def ingest(ds: str, profile: str | Profile | None = None, inbox: str | None = None,
           datasets: list[str] | None = None) -> dict[str, Any]:
    """Land the deliveries of ``ds`` in bronze. One dataset failing never stops the others."""
    from jobs.bronze import ingest as bronze_ingest

    ds = check_date(ds)
    prof = _profile(profile, inbox)
    spark = _spark(prof)
    names = datasets or schema_names()
    results = [bronze_ingest.run(spark, prof, name, ds).as_dict() for name in names]
    return {"stage": "ingest", "ds": ds, "results": results}


def silver(ds: str, profile: str | Profile | None = None, inbox: str | None = None) -> dict[str, Any]:
    from jobs.silver import housing_occupancy

    ds = check_date(ds)
    prof = _profile(profile, inbox)
    return {"stage": "silver", "ds": ds, **housing_occupancy.run(_spark(prof), prof, ds)}


def rules(ds: str, profile: str | Profile | None = None, inbox: str | None = None) -> dict[str, Any]:
    from jobs.gold import risk_flags

    ds = check_date(ds)
    prof = _profile(profile, inbox)
    return {"stage": "rules", "ds": ds, **risk_flags.run(_spark(prof), prof, ds)}


def publish(ds: str, profile: str | Profile | None = None, inbox: str | None = None) -> dict[str, Any]:
    from jobs.gold import publish_tasks

    ds = check_date(ds)
    prof = _profile(profile, inbox)
    return {"stage": "publish", "ds": ds, **publish_tasks.run(_spark(prof), prof, ds)}


def run_daily(ds: str, profile: str | Profile | None = None, inbox: str | None = None) -> dict[str, Any]:
    """All stages for one logical date, in order."""
    prof = _profile(profile, inbox)
    out: dict[str, Any] = {"ds": check_date(ds)}
    for stage in STAGES:
        out[stage] = globals()[stage](ds, prof)
    return out


__all__ = ["STAGES", "deliveries", "ingest", "silver", "rules", "publish", "run_daily"]
