"""The ``gridrisk`` command (the console entry point; the top layer: it calls jobs/ and the library).

    gridrisk demo                         generate a small province and run the whole pipeline on it
    gridrisk generate --persons 10000     write a synthetic province's deliveries into the inbox
    gridrisk run --date 2026-11-01        the daily pipeline for one logical date
    gridrisk ingest --date … [--dataset]  bronze ingest (and its quality gate) only
    gridrisk quality --date 2026-11-01    per dataset: read, accepted, quarantined by reason, suite verdicts
    gridrisk link --date … --explain driving_licences:<档案编号>   why a record was linked to its person
    gridrisk flags --as-of 2026-11-01     the flags open on a date (Delta time travel)
    gridrisk tasks list --unit 320115     a grid centre's tasks (its own unit and everything below)
    gridrisk tasks show <id>              one task with its history
    gridrisk tasks transition <id> --to signed --actor 张网格员

Every command takes ``--profile`` (default ``GRIDRISK_PROFILE`` or ``local``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gridrisk.config import ConfigError, Profile, load_profile

TZ = ZoneInfo("Asia/Shanghai")
DEMO_DATE = "2026-11-01"


def _profile(args: argparse.Namespace) -> Profile:
    return load_profile(args.profile).with_inbox(getattr(args, "inbox", None))


# --------------------------------------------------------------------------- generate


def cmd_generate(args: argparse.Namespace) -> int:
    from synth.generate import generate

    prof = _profile(args)
    inbox = Path(args.inbox or prof.inbox)
    truth = Path(args.truth or Path(prof.inbox).parent / "truth")
    noise: dict[str, Any] = {}
    for item in args.noise or []:
        key, _, value = item.partition("=")
        noise[key] = float(value) if value.replace(".", "", 1).isdigit() else value
    summary = generate(inbox=inbox, truth=truth, persons=args.persons, seed=args.seed,
                       start_date=dt.date.fromisoformat(args.date), days=args.days, noise=noise or None,
                       progress=not args.quiet)
    print(f"wrote a province of {args.persons:,} persons into {inbox} (truth in {truth})")
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=1, default=str))
    return 0


# --------------------------------------------------------------------------- run / ingest


def print_ingest_summary(results: list[dict[str, Any]], prof: Profile) -> None:
    from tabulate import tabulate

    rows = []
    for r in results:
        reasons = ", ".join(f"{k} ×{v}" for k, v in sorted(r.get("reasons", {}).items(), key=lambda kv: -kv[1])[:3])
        rows.append([r["dataset"], r["status"], r["rows_read"], r["rows_accepted"], r["rows_quarantined"],
                     reasons or (r["message"][:60] if r["status"] != "loaded" else "")])
    print(tabulate(rows, headers=["bronze table", "status", "read", "accepted", "quarantined", "why"],
                   intfmt=",", disable_numparse=False))
    print(f"\nlake: {prof.lake}   (quarantine: {prof.table_path('bronze', '_quarantine')})")
    docs = next((r["quality"]["data_docs"] for r in results if r.get("quality", {}).get("data_docs")), None)
    if docs:
        print(f"quality reports (Data Docs): {docs}")


def cmd_ingest(args: argparse.Namespace) -> int:
    from jobs import pipeline

    prof = _profile(args)
    out = pipeline.ingest(args.date, prof, datasets=args.dataset or None)
    print_ingest_summary(out["results"], prof)
    return 0 if all(r["status"] == "loaded" for r in out["results"]) else 1


def cmd_quality(args: argparse.Namespace) -> int:
    from jobs import pipeline
    from jobs.quality import validate
    from jobs.quality.validate import data_docs_dir, format_summary

    prof = _profile(args)
    rows = validate.summary(pipeline.spark_for(prof), prof, pipeline.check_date(args.date))
    if not rows:
        print(f"nothing ingested for {args.date} yet")
        return 1
    print(format_summary(rows))
    print(f"\nData Docs: {data_docs_dir(prof)}/index.html")
    return 0 if all(r["suite"] != "FAIL" for r in rows) else 1


def cmd_link(args: argparse.Namespace) -> int:
    """Entity resolution: run it for a date, or explain one record's link."""
    from jobs import pipeline

    prof = _profile(args)
    if args.explain:
        dataset, sep, key = args.explain.partition(":")
        if not sep:
            print("--explain takes <dataset>:<record_key>, e.g. driving_licences:DL0001234", file=sys.stderr)
            return 2
        from jobs.silver import person_master

        print(person_master.explain(pipeline.spark_for(prof), prof, pipeline.check_date(args.date), dataset, key))
        return 0
    out = pipeline.link(args.date, prof)
    print(json.dumps(out, ensure_ascii=False, indent=1, default=str))
    return 1 if out.get("skipped") else 0


def cmd_run(args: argparse.Namespace) -> int:
    from jobs import pipeline

    prof = _profile(args)
    started = time.monotonic()
    stages = args.stages.split(",") if args.stages else list(pipeline.STAGES)
    unknown = set(stages) - set(pipeline.STAGES)
    if unknown:
        print(f"unknown stage(s) {', '.join(sorted(unknown))}; stages are {', '.join(pipeline.STAGES)}", file=sys.stderr)
        return 2
    clock = {"t": time.monotonic()}

    def done(stage: str, _: dict[str, Any]) -> None:
        print(f"[{stage}] done in {time.monotonic() - clock['t']:.1f} s", file=sys.stderr)
        clock["t"] = time.monotonic()

    outcome = pipeline.run_daily(args.date, prof, full=args.full, stages=stages, on_stage=done)
    if "ingest" in outcome:
        print_ingest_summary(outcome["ingest"]["results"], prof)
    if outcome.get("silver", {}).get("skipped"):
        print("\nsilver skipped — inputs not fit for use:\n  " + "\n  ".join(outcome["silver"]["skipped"]))
    if outcome.get("link", {}).get("partial"):
        print("\nentity resolution ran without (their records are not linked today, the rules they feed skip):\n  "
              + "\n  ".join(outcome["link"]["partial"]))
    if outcome.get("link", {}).get("skipped"):
        print("\nentity resolution skipped — inputs not fit for use:\n  " + "\n  ".join(outcome["link"]["skipped"]))
    elif "link" in outcome:
        methods = outcome["link"].get("link_method") or {}
        if methods:
            print("\nperson records linked: " + ", ".join(f"{k} {v:,}" for k, v in sorted(methods.items())))
    if "rules" in outcome:
        r = outcome["rules"]
        print(f"\nrules evaluated: {', '.join(r['evaluated']) or 'none'}")
        for rule_id in r["skipped"]:
            print(f"  skipped {rule_id}: {(r.get('skip_reasons') or {}).get(rule_id, 'inputs missing')}")
        for rule_id, mode in sorted((r.get("mode") or {}).items()):
            print(f"  {rule_id}: {mode}")
    if "publish" in outcome:
        p = outcome["publish"]
        print(f"tasks: {p['created']} new, {p['unchanged']} already filed, {p['updated']} refreshed, "
              f"{p['closed']} closed because their flag resolved"
              + (f"; {p['unroutable']} flags without a known place (no grid) kept in gold, not filed" if p.get("unroutable") else ""))
    print(f"\ndaily pipeline for {args.date} finished in {time.monotonic() - started:.0f} s")
    if args.json:
        print(json.dumps(outcome, ensure_ascii=False, indent=1, default=str))
    failed = [r for r in outcome.get("ingest", {}).get("results", []) if r["status"] != "loaded"]
    return 1 if failed and args.strict else 0


# --------------------------------------------------------------------------- tasks


def cmd_tasks(args: argparse.Namespace) -> int:
    from gridrisk.taskstore import open_store
    from gridrisk.taskstore.render import format_task_detail, format_task_table

    prof = _profile(args)
    store = open_store(prof.task_store)
    if args.tasks_cmd == "list":
        tasks = store.list_tasks(args.unit, status=args.status or None, department=args.department, limit=args.limit)
        if not tasks:
            print(f"no tasks for unit {args.unit}")
            return 0
        print(format_task_table(tasks))
        print(f"\n{len(tasks)} task(s) for unit {args.unit} and below" + (" (limit reached)" if len(tasks) == args.limit else ""))
        return 0
    task_id = store.resolve_id(args.task_id)
    if args.tasks_cmd == "transition":
        at = dt.datetime.fromisoformat(args.at) if args.at else dt.datetime.now(TZ)
        event = store.transition(task_id, args.to, actor=args.actor, at=at, note=args.note, result=args.result,
                                 photo_url=args.photo)
        print(f"task {task_id}: {event.from_status} → {event.to_status} by {event.actor} at {event.at:%Y-%m-%d %H:%M:%S}")
        return 0
    task = store.get(task_id)
    assert task is not None
    if args.open311:
        print(json.dumps(store.to_open311(task), ensure_ascii=False, indent=1))
    else:
        print(format_task_detail(task, store.events(task_id)))
    return 0


# --------------------------------------------------------------------------- flags


def cmd_flags(args: argparse.Namespace) -> int:
    """Flags open on a date (Delta time travel), for analysts: masked, with the fuller explanation."""
    from pyspark.sql import functions as F
    from tabulate import tabulate

    from gridrisk.spark import get_spark
    from jobs.gold.risk_flags import flags_as_of

    prof = _profile(args)
    flags = flags_as_of(get_spark(prof), prof, args.as_of)
    wanted = flags.where(F.col("status").isin(*(args.status or ["open"])))
    if args.rule:
        wanted = wanted.where(F.col("rule_id").isin(*args.rule))
    if args.unit:
        wanted = wanted.where(F.col("grid_code").startswith(args.unit))
    rows = wanted.orderBy("priority", "rule_id", "subject_key").limit(args.limit).collect()
    counts = {r["rule_id"]: r["count"] for r in wanted.groupBy("rule_id").count().collect()}
    def severity(r: Any) -> str:  # an escalated flag shows the rule's own severity too
        escalated = r.asDict().get("escalated_by")
        return f"{r['severity']} (↑ from {r['rule_severity']})" if escalated else r["severity"]

    print(tabulate([[r["flag_id"][:10], r["rule_id"], severity(r), r["status"], r["grid_code"], str(r["first_seen"]),
                     str(r["last_seen"]), r["analyst_explanation"][:70] if args.analyst else r["explanation"][:70]] for r in rows],
                   headers=["flag", "rule", "severity", "status", "grid", "first seen", "last seen", "explanation"]))
    print(f"\nflags as of {args.as_of}: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """gold risk_summary of a date: flags per rule × city × district, for analysts' reports."""
    from pyspark.sql import functions as F
    from tabulate import tabulate

    from gridrisk import lake
    from gridrisk.spark import get_spark

    prof = _profile(args)
    spark = get_spark(prof)
    if not lake.table_exists(spark, prof.table_path("gold", "risk_summary")):
        print("no risk summary yet: run the rules stage first (gridrisk run --date D)", file=sys.stderr)
        return 1
    df = lake.read_partition(spark, prof, "gold", "risk_summary", args.date)
    if args.unit:
        df = df.where(F.col("district_code").startswith(args.unit) | F.lit(args.unit).startswith(F.col("district_code")))
    cols = ["rule_id", "city_code", "district_code", "open", "new", "resolved", "suppressed", "open_high"]
    rows = [[r[c] for c in cols] for r in df.orderBy("rule_id", "district_code").collect()]
    if not rows:
        print(f"no flags summarised for {args.date}")
        return 0
    print(tabulate(rows, headers=["rule", "city", "district", "open", "new", "resolved", "suppressed", "open high+"]))
    return 0


# --------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate a small province, run the daily pipeline, show one district's tasks."""
    prof = _profile(args)
    from gridrisk.taskstore import open_store

    inbox = Path(prof.inbox)
    if args.fresh or not (inbox / "persons").exists():
        gen = argparse.Namespace(**{**vars(args), "inbox": str(inbox), "truth": None, "noise": None, "json": False,
                                    "quiet": False, "days": 1, "date": args.date})
        cmd_generate(gen)
    else:
        print(f"using the deliveries already in {inbox} (gridrisk demo --fresh regenerates them)")
    run = argparse.Namespace(**{**vars(args), "stages": None, "json": False, "strict": False, "full": False})
    cmd_run(run)
    store = open_store(prof.task_store)
    tasks = store.list_tasks("32", limit=10_000)
    if not tasks:
        print("no inspection tasks were filed")
        return 0
    by_district: dict[str, int] = {}
    for t in tasks:
        by_district[t.grid_code[:6]] = by_district.get(t.grid_code[:6], 0) + 1
    district = max(by_district, key=lambda d: by_district[d])
    print(f"\n=== inspection tasks of district {district} (first 15) ===")
    from gridrisk.taskstore.render import format_task_table

    print(format_task_table(store.list_tasks(district, limit=15)))
    others = ", ".join(f"{d} ({n})" for d, n in sorted(by_district.items()) if d != district)
    print(f"\nlist any unit's tasks with:  gridrisk tasks list --unit {district}")
    if others:
        print(f"other districts with tasks: {others}")
    print(f"show one task with:          gridrisk tasks show {tasks[0].task_id[:8]}")
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridrisk", description="Risk screening for grid-based social governance.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str, func: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--profile", help="conf/profiles/<name>.yaml (default: $GRIDRISK_PROFILE or local)")
        p.set_defaults(func=func)
        return p

    def add_generate_args(p: argparse.ArgumentParser, persons: int) -> None:
        p.add_argument("--persons", type=int, default=persons, help=f"province size, 1,000–10,000,000 (default {persons:,})")
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--date", default=DEMO_DATE, help="first logical date (YYYY-MM-DD)")
        p.add_argument("--inbox", help="where to write the deliveries (default: the profile's inbox)")

    g = add("generate", "write a synthetic province's departmental deliveries", cmd_generate)
    add_generate_args(g, 10_000)
    g.add_argument("--days", type=int, default=1)
    g.add_argument("--truth", help="where the planted ground truth goes (default: <inbox>/../truth)")
    g.add_argument("--noise", action="append", metavar="KEY=VALUE", help="override a rate of conf/generator.yaml")
    g.add_argument("--quiet", action="store_true")
    g.add_argument("--json", action="store_true")

    r = add("run", "run the daily pipeline for one logical date", cmd_run)
    r.add_argument("--date", required=True)
    r.add_argument("--inbox")
    r.add_argument("--stages", help="comma-separated subset of ingest,silver,link,rules,publish")
    r.add_argument("--strict", action="store_true", help="exit 1 when any delivery did not load")
    r.add_argument("--full", action="store_true",
                   help="recompute every rule on every subject (default: incremental when yesterday was run)")
    r.add_argument("--json", action="store_true")

    i = add("ingest", "bronze ingest of one logical date", cmd_ingest)
    i.add_argument("--date", required=True)
    i.add_argument("--inbox")
    i.add_argument("--dataset", action="append")

    q = add("quality", "rows read, accepted, quarantined by reason and suite verdicts of one date", cmd_quality)
    q.add_argument("--date", required=True)

    lk = add("link", "entity resolution: link every person record to a stable person key", cmd_link)
    lk.add_argument("--date", required=True)
    lk.add_argument("--explain", metavar="DATASET:RECORD_KEY", help="why this record was linked (or not)")

    d = add("demo", "generate a small province and run the whole pipeline on it", cmd_demo)
    add_generate_args(d, 5_000)
    d.add_argument("--fresh", action="store_true", help="regenerate the deliveries even if the inbox has some")

    f = add("flags", "risk flags as they were on a date (Delta time travel)", cmd_flags)
    f.add_argument("--as-of", required=True, help="logical date YYYY-MM-DD")
    f.add_argument("--status", action="append", help="open (default), resolved, suppressed")
    f.add_argument("--rule", action="append")
    f.add_argument("--unit", help="only flags whose grid code starts with this division code")
    f.add_argument("--analyst", action="store_true", help="show the analyst's fuller explanation")
    f.add_argument("--limit", type=int, default=50)

    sm = add("summary", "flag counts per rule × city × district on a date (gold risk_summary)", cmd_summary)
    sm.add_argument("--date", required=True)
    sm.add_argument("--unit", help="only this city or district code")

    t = add("tasks", "a grid centre's inspection tasks", cmd_tasks)
    tsub = t.add_subparsers(dest="tasks_cmd", required=True)
    tl = tsub.add_parser("list", help="tasks of a unit and everything below it")
    tl.add_argument("--unit", required=True, help="division or grid code: 32 (province) … 15-digit grid")
    tl.add_argument("--status", action="append")
    tl.add_argument("--department")
    tl.add_argument("--limit", type=int, default=50)
    ts = tsub.add_parser("show", help="one task with its history")
    ts.add_argument("task_id", help="the id or its first characters")
    ts.add_argument("--open311", action="store_true", help="as an Open311 GeoReport v2 service request")
    tt = tsub.add_parser("transition", help="move a task along its lifecycle")
    tt.add_argument("task_id")
    tt.add_argument("--to", required=True, help="dispatched, signed, handled, verified, closed, returned, deferred")
    tt.add_argument("--actor", required=True)
    tt.add_argument("--note")
    tt.add_argument("--result", choices=["confirmed", "rectified", "false_positive"])
    tt.add_argument("--photo")
    tt.add_argument("--at", help="ISO timestamp (default: now, Asia/Shanghai)")
    for p in (tl, ts, tt):
        p.add_argument("--profile")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"gridrisk: configuration problem — {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 — turn known user-facing errors into one line
        from gridrisk.spark import EnvironmentProblem

        known: tuple[type[BaseException], ...] = (EnvironmentProblem,)
        try:
            from gridrisk.taskstore import TaskError

            known += (TaskError,)
        except ImportError:
            pass
        if isinstance(exc, known) or (isinstance(exc, ValueError) and "logical date" in str(exc)):
            print(f"gridrisk: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    sys.exit(main())
