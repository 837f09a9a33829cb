"""The ``gridrisk`` command (the console entry point; the top layer: it calls jobs/ and the library).

    gridrisk demo                         generate a small province and run the whole pipeline on it
    gridrisk generate --persons 10000     write a synthetic province's deliveries into the inbox
    gridrisk run --date 2026-11-01        the daily pipeline for one logical date
    gridrisk ingest --date … [--dataset]  bronze ingest (and its quality gate) only
    gridrisk quality --date 2026-11-01    per dataset: read, accepted, quarantined by reason, suite verdicts
    gridrisk link --date … --explain driving_licences:<档案编号>   why a record was linked to its person
    gridrisk flags --as-of 2026-11-01     the flags open on a date (Delta time travel)
    gridrisk summary --date 2026-11-01    flag counts per rule × city × district
    gridrisk report --date 2026-11-01     the analysts' report: one offline HTML page + an Excel workbook
    gridrisk tasks list --unit 320115     a grid centre's tasks (its own unit and everything below)
    gridrisk tasks show <id>              one task with its history
    gridrisk tasks transition <id> --to signed --actor <actor id>
    gridrisk serve                        the grid centres' task service (Open311 API + page)
    gridrisk tokens issue <actor>         a unit's API credentials

Every command takes ``--profile`` (default ``GRIDRISK_PROFILE`` or ``local``) and ``--debug``.

Exit status: 0 done; 1 the work failed (a delivery missing, no data for the date, a Spark job
failed …); 2 a bad argument or configuration, refused before any work; 130 interrupted. Errors
are one line on stderr; ``--debug`` (or ``GRIDRISK_DEBUG=1``) adds the traceback.

The read-only commands (``quality``, ``flags``, ``summary``, ``link --explain``) read the lake
without a JVM (:mod:`cli.analyst`); the others start Spark through :mod:`gridrisk.spark`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.args import (
    ArgumentParser,
    UsageError,
    comma_list,
    command_name,
    division_code,
    int_range,
    iso_date,
    key_value,
    one_of,
    record_ref,
)
from gridrisk.config import ConfigError, Profile, load_profile

DEMO_DATE = "2026-11-01"
FLAG_STATUSES = ("open", "resolved", "suppressed")


class WorkFailed(Exception):
    """The command could not do its work (exit status 1); the message says why and what to do."""


def _profile(args: argparse.Namespace) -> Profile:
    return load_profile(args.profile).with_inbox(getattr(args, "inbox", None))


def say(message: str) -> None:
    """A progress line on stderr (stdout stays the command's answer)."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- generate


def cmd_generate(args: argparse.Namespace) -> int:
    import datetime as dt

    from synth.generate import generate
    from synth.generate.config import settings

    prof = _profile(args)
    inbox = Path(args.inbox or prof.inbox)
    truth = Path(args.truth or Path(prof.inbox).parent / "truth")
    noise = dict(args.noise or [])
    try:
        settings(noise or None)  # every bad knob at once, before a minute of generating
    except ValueError as exc:
        raise UsageError(str(exc).replace("\n", " ")) from None
    summary = generate(inbox=inbox, truth=truth, persons=args.persons, seed=args.seed,
                       start_date=dt.date.fromisoformat(args.date), days=args.days, noise=noise or None,
                       progress=not args.quiet, hourly=args.hourly)
    print(f"wrote a province of {args.persons:,} persons into {inbox} (truth in {truth})")
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=1, default=str))
    return 0


# --------------------------------------------------------------------------- run / ingest


class Progress:
    """Per-stage and per-dataset progress lines on stderr, as they happen (ingest runs datasets
    on several threads, hence the lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: dict[str, float] = {}

    def stage_started(self, stage: str) -> None:
        self.started[stage] = time.monotonic()
        say(f"[{stage}] started")

    def stage_done(self, stage: str, summary: dict[str, Any]) -> None:
        seconds = time.monotonic() - self.started.get(stage, time.monotonic())
        skipped = summary.get("skipped")
        note = f" — skipped: {'; '.join(skipped)}" if isinstance(skipped, list) and skipped else ""
        say(f"[{stage}] done in {seconds:.1f} s{note}")

    def dataset(self, event: Any) -> None:
        with self.lock:
            if event.result is None:
                say(f"[ingest] {event.dataset}: reading ({event.started}/{event.total} started)")
                return
            r = event.result
            if r["status"] == "loaded":
                what = f"{r['rows_accepted']:,} rows accepted" + (
                    f", {r['rows_quarantined']:,} quarantined" if r["rows_quarantined"] else "")
            else:
                what = f"{r['status']} — {r['message']}"
            say(f"[ingest] {event.dataset}: {what} in {r.get('seconds', 0):.1f} s ({event.done}/{event.total} done)")


def check_inbox(prof: Profile, ds: str, datasets: list[str] | None, hour: int | None = None) -> None:
    """Fail at once, before Spark starts, when the inbox is missing or holds nothing for ``ds``
    (with ``hour``: when no hourly dataset has all its parts 00 … ``hour``)."""
    from jobs.bronze.ingest import delivery_states

    states = delivery_states(prof.inbox, ds, datasets, hour=hour)
    if states is None:
        raise WorkFailed(f"inbox {prof.inbox} does not exist: generate deliveries first "
                         f"({command_name()} generate) or point --inbox at the departments' drop folder")
    if not any(s == "ready" for s in states.values()):
        what = "a manifest.json for that date" if hour is None else f"its manifest_00 … manifest_{hour:02d}.json"
        raise WorkFailed(f"nothing delivered for {ds} in {prof.inbox}: no dataset has {what}"
                         + (f" ({'; '.join(f'{k}: {v}' for k, v in sorted(states.items()))})" if datasets else ""))


def cmd_run_hour(args: argparse.Namespace) -> int:
    """``gridrisk run --date D --hour H``: the hourly hazmat run (jobs/hourly.py)."""
    from jobs import hourly, pipeline

    prof = _profile(args)
    started = time.monotonic()
    stages = args.stages or list(hourly.HOURLY_STAGES)
    unknown = sorted(set(stages) - set(hourly.HOURLY_STAGES))
    if unknown:
        raise UsageError(f"--hour runs only the stages {', '.join(hourly.HOURLY_STAGES)}; not {', '.join(unknown)}")
    if "ingest" in stages:
        check_inbox(prof, args.date, list(hourly.HOURLY_DATASETS), hour=args.hour)
    outcome = pipeline.run_hour(args.date, args.hour, prof, stages=stages)
    if "ingest" in outcome:
        print_ingest_summary(outcome["ingest"]["results"], prof)
        print("(the day so far; landed by this run: " + "; ".join(
            f"{r['dataset']} {len(r['new_files'])} new part(s), {r['new_rows']:,} rows" for r in outcome["ingest"]["results"]
            if r.get("new_files") is not None) + ")")
    tracks = outcome.get("vehicle_tracks", {})
    if tracks.get("skipped"):
        print("\nvehicle_tracks skipped — inputs not fit for use:\n  " + "\n  ".join(tracks["skipped"]))
    elif "gps_points" in tracks:
        g = tracks["gps_points"]
        placed = g.get("incremental", {})
        what = (f"{placed['files_placed']} new GPS file(s) placed, {placed['files_kept']} kept from earlier runs"
                if "files_kept" in placed else "the day so far placed whole")
        print(f"\nvehicle_tracks: {what}: {g['read']:,} reports read, {g['accepted']:,} accepted, "
              f"{g['duplicates']:,} duplicates, {g['rejected']:,} rejected")
    if "rules" in outcome:
        r = outcome["rules"]
        print(f"\nhourly rules over the reports before {r['settled_until']}: {', '.join(r['evaluated']) or 'none'}")
        for rule_id in r["skipped"]:
            print(f"  skipped {rule_id}: {(r.get('skip_reasons') or {}).get(rule_id, 'inputs missing')}")
    if "publish" in outcome:
        p = outcome["publish"]
        print(f"tasks: {p['created']} new, {p['unchanged']} already filed, {p['updated']} refreshed")
    print(f"\nhourly run for {args.date} hour {args.hour:02d} finished in {time.monotonic() - started:.0f} s")
    if args.json:
        print(json.dumps(outcome, ensure_ascii=False, indent=1, default=str))
    results = outcome.get("ingest", {}).get("results", [])
    return 1 if any(r["status"] != "loaded" for r in results) else 0


def print_ingest_summary(results: list[dict[str, Any]], prof: Profile) -> None:
    from gridrisk.texttable import table

    rows = []
    for r in results:
        reasons = ", ".join(f"{k} ×{v}" for k, v in sorted(r.get("reasons", {}).items(), key=lambda kv: -kv[1])[:3])
        rows.append([r["dataset"], r["status"], r["rows_read"], r["rows_accepted"], r["rows_quarantined"],
                     reasons or (r["message"] if r["status"] != "loaded" else "")])
    print(table(rows, ["bronze table", "status", "read", "accepted", "quarantined", "why"], wrap_column=5))
    print(f"\nlake: {prof.lake}   (quarantine: {prof.table_path('bronze', '_quarantine')})")
    docs = next((r["quality"]["data_docs"] for r in results if r.get("quality", {}).get("data_docs")), None)
    if docs:
        print(f"quality reports (Data Docs): {docs}")


def cmd_ingest(args: argparse.Namespace) -> int:
    from jobs import pipeline

    prof = _profile(args)
    check_inbox(prof, args.date, args.dataset)
    out = pipeline.run_stage("ingest", args.date, prof, datasets=args.dataset or None, on_dataset=Progress().dataset)
    print_ingest_summary(out["results"], prof)
    return 0 if all(r["status"] == "loaded" for r in out["results"]) else 1


def cmd_run(args: argparse.Namespace) -> int:
    from jobs import pipeline

    if args.hour is not None:
        return cmd_run_hour(args)
    prof = _profile(args)
    started = time.monotonic()
    stages = args.stages or list(pipeline.STAGES)
    if "ingest" in stages:
        check_inbox(prof, args.date, None)
    progress = Progress()
    outcome = pipeline.run_daily(args.date, prof, full=args.full, stages=stages, on_stage=progress.stage_done,
                                 on_stage_start=progress.stage_started, on_dataset=progress.dataset)
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
    if "report" in outcome:
        rep = outcome["report"]
        if rep.get("skipped"):
            print("report not built: " + "; ".join(rep["skipped"]))
        else:
            print(f"analysts' report: {rep['html']} ({rep['html_bytes'] / 1e6:.1f} MB) and {rep['xlsx']}")
    print(f"\ndaily pipeline for {args.date} finished in {time.monotonic() - started:.0f} s")
    if args.json:
        print(json.dumps(outcome, ensure_ascii=False, indent=1, default=str))
    results = outcome.get("ingest", {}).get("results", [])
    failed = [r for r in results if r["status"] != "loaded"]
    if results and len(failed) == len(results):
        say(f"gridrisk: no delivery loaded for {args.date} ({len(failed)} of {len(results)} did not)")
        return 1
    return 1 if failed and args.strict else 0


# --------------------------------------------------------------------------- read-only: quality, link --explain


def cmd_quality(args: argparse.Namespace) -> int:
    from cli import analyst
    from jobs.quality.validate import data_docs_dir, format_summary

    prof = _profile(args)
    rows = analyst.quality(prof, args.date)
    if not rows:
        days = analyst.ingested_dates(prof)
        known = f"; ingested dates: {', '.join(days[-5:])}" if days else ""
        raise WorkFailed(f"nothing ingested for {args.date}{known}")
    print(format_summary(rows))
    print(f"\nData Docs: {data_docs_dir(prof)}/index.html")
    return 0 if all(r["suite"] != "FAIL" for r in rows) else 1


def cmd_link(args: argparse.Namespace) -> int:
    """Entity resolution: run it for a date, or explain one record's link (read-only, no JVM)."""
    prof = _profile(args)
    if args.explain:
        return explain_link(prof, args.date, *args.explain)
    from jobs import pipeline

    out = pipeline.run_stage("link", args.date, prof)  # logged and in the run log, as in a daily run
    print(json.dumps(out, ensure_ascii=False, indent=1, default=str))
    return 1 if out.get("skipped") else 0


def explain_link(prof: Profile, ds: str, dataset: str, record_key: str) -> int:
    from cli import analyst
    from gridrisk.privacy import keyed_hash, pseudonym_key
    from jobs.silver.person_master import format_explanation, load_linkage_config

    conf = load_linkage_config()
    sources = {s.dataset: s for s in conf.sources}
    if dataset not in sources:
        raise UsageError(f"--explain: {dataset!r} is not a linked dataset; linked datasets are: {', '.join(sorted(sources))}")
    keys = [record_key]
    if sources[dataset].record_key_is_id:  # the persons register is keyed by the ID, stored hashed
        keys.append(keyed_hash(record_key, pseudonym_key(prof.name), "record") or "")
    rows = analyst.linked_records(prof, ds, dataset, keys)
    if not rows:
        raise WorkFailed(f"{dataset}:{record_key}: no such record in silver person_records on {ds}")
    print("\n\n".join(format_explanation(r, conf) for r in rows))
    return 0


# --------------------------------------------------------------------------- read-only: flags, summary


def cmd_flags(args: argparse.Namespace) -> int:
    """Flags open on a date (Delta time travel), for analysts: masked, with the fuller explanation."""
    from cli import analyst
    from gridrisk.texttable import table

    prof = _profile(args)
    answer = analyst.flags_as_of(prof, args.as_of, statuses=args.status or ["open"], rules=args.rule or [],
                                 unit=args.unit, limit=args.limit)

    def severity(r: dict[str, Any]) -> str:  # an escalated flag shows the rule's own severity too
        return f"{r['severity']} (↑ from {r['rule_severity']})" if r.get("escalated_by") else str(r["severity"])

    text = "analyst_explanation" if args.analyst else "explanation"
    rows = [[r["flag_id"][:10], r["rule_id"], severity(r), r["status"], r["grid_code"], r["first_seen"],
             r["last_seen"], r.get(text) or r.get("explanation")] for r in answer.rows]
    if rows:
        print(table(rows, ["flag", "rule", "severity", "status", "grid", "first seen", "last seen", "explanation"],
                    wrap_column=7))
    total = sum(answer.counts.values())
    shown = f" (first {len(rows)} shown; --limit for more)" if total > len(rows) else ""
    print(f"\nflags as of {args.as_of}: "
          + (", ".join(f"{k} {v}" for k, v in answer.counts.items()) or "none") + shown)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """gold risk_summary of a date: flags per rule × city × district, for analysts' reports."""
    from cli import analyst
    from gridrisk.texttable import table

    prof = _profile(args)
    rows = analyst.risk_summary(prof, args.date, unit=args.unit)
    if not rows:
        print(f"no flags summarised for {args.date}" + (f" in {args.unit}" if args.unit else ""))
        return 0
    names = analyst.district_names(prof, args.date)
    cols = ["open", "new", "resolved", "suppressed", "open_high"]
    print(table([[r["rule_id"], r["city_code"], r["district_code"], names.get(r["district_code"], ""),
                  *(r[c] for c in cols)] for r in rows],
                ["rule", "city", "district", "name", "open", "new", "resolved", "suppressed", "open high+"]))
    return 0


# --------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate a small province, run the daily pipeline, show one district's tasks."""
    prof = _profile(args)
    inbox = Path(prof.inbox)
    if args.fresh or not (inbox / "persons").exists():
        gen = argparse.Namespace(**{**vars(args), "inbox": str(inbox), "truth": None, "noise": None, "json": False,
                                    "quiet": False, "days": 1, "date": args.date, "hourly": False})
        cmd_generate(gen)
    else:
        print(f"using the deliveries already in {inbox} ({command_name()} demo --fresh regenerates them)")
    # `gridrisk run --date D` as the user would type it: every option of run gets its default,
    # also the ones added after this command was written.
    argv = ["run", "--date", args.date, *(["--profile", args.profile] if args.profile else []),
            *(["--inbox", args.inbox] if args.inbox else [])]
    rc = cmd_run(build_parser().parse_args(argv))
    show_busiest_district(prof, args.date)
    return rc


def show_busiest_district(prof: Profile, ds: str, shown: int = 15) -> None:
    """The tasks of the district with the most, and the commands to look further (as the user
    can type them; the task named is one of those printed)."""
    from gridrisk.taskstore import open_store
    from gridrisk.taskstore.render import format_task_table, short_ids

    store = open_store(prof.task_store)
    tasks = store.list_tasks("32", limit=10_000)
    if not tasks:
        print("no inspection tasks were filed")
        return
    by_district: dict[str, int] = {}
    for t in tasks:
        by_district[t.grid_code[:6]] = by_district.get(t.grid_code[:6], 0) + 1
    district = max(sorted(by_district), key=lambda d: by_district[d])
    listed = store.list_tasks(district, limit=shown)
    print(f"\n=== inspection tasks of district {district} (first {len(listed)} of {by_district[district]}) ===")
    print(format_task_table(listed))
    gridrisk = command_name()
    others = ", ".join(f"{d} ({n})" for d, n in sorted(by_district.items()) if d != district)
    print(f"\nlist any unit's tasks with:  {gridrisk} tasks list --unit {district}")
    if others:
        print(f"other districts with tasks: {others}")
    print(f"show one task with:          {gridrisk} tasks show {short_ids([t.task_id for t in listed])[0]}")
    print(f"the flags behind them:       {gridrisk} flags --as-of {ds} --unit {district} --analyst")


# --------------------------------------------------------------------------- parser


def _schema_names() -> list[str]:
    from gridrisk.config import schema_names

    return list(schema_names())


def _rule_ids() -> list[str]:
    from gridrisk.rules import load_rules

    return list(load_rules())


def _stage_names() -> list[str]:
    from gridrisk.catalog import STAGES

    return list(STAGES)


def _noise_knob(text: str) -> tuple[str, float]:
    from synth.generate.config import load_noise_defaults

    key, value = key_value(text)
    known = load_noise_defaults()
    if key not in known:
        raise argparse.ArgumentTypeError(f"unknown knob {key!r}; knobs are: {', '.join(sorted(known))}")
    return key, value


def version_text() -> str:
    """``gridrisk X (Python …, pyspark …, delta-spark …, deltalake …)``, read without importing them."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    libs = ", ".join(f"{n} {v(n)}" for n in ("pyspark", "delta-spark", "deltalake"))
    return f"gridrisk {v('gridrisk')} (Python {platform.python_version()}, {libs})"


class VersionAction(argparse.Action):
    """``--version``, with the versions looked up only when asked (not on every command)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:  # noqa: A002
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(version_text())
        parser.exit()


#: Extra sub-commands from other parts of the code base: ``register(subparsers)`` adds a parser
#: whose ``func`` default runs it (e.g. ``gridrisk report``).
def _hooks() -> list[Callable[[Any], Any]]:
    from gridrisk.report.cli import register as register_report
    from gridrisk.service.cli import register as register_service  # serve, tokens, tasks (no pyspark)

    return [register_report, register_service]


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="gridrisk", description="Risk screening for grid-based social governance.",
                            epilog="exit status: 0 done, 1 the work failed, 2 bad arguments or configuration")
    parser.add_argument("--version", action=VersionAction, help="print the versions and exit")
    parser.add_argument("--debug", action="store_true", help="show the full traceback when a command fails")
    common = ArgumentParser(add_help=False)
    common.add_argument("--profile", help="conf/profiles/<name>.yaml (default: $GRIDRISK_PROFILE or local)")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback when the command fails")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_: str, func: Callable[[argparse.Namespace], int]) -> ArgumentParser:
        p: ArgumentParser = sub.add_parser(name, help=help_, description=help_, parents=[common])
        p.set_defaults(func=func)
        return p

    def add_generate_args(p: argparse.ArgumentParser, persons: int) -> None:
        p.add_argument("--persons", type=int_range(1_000, 10_000_000), default=persons,
                       help=f"province size, 1,000–10,000,000 (default {persons:,})")
        p.add_argument("--seed", type=int, default=42, help="random seed: the same seed gives the same files (default 42)")
        p.add_argument("--date", type=iso_date, default=DEMO_DATE, help=f"first logical date, YYYY-MM-DD (default {DEMO_DATE})")
        p.add_argument("--inbox", help="where to write the deliveries (default: the profile's inbox)")

    date_help = "logical date, YYYY-MM-DD"
    g = add("generate", "write a synthetic province's departmental deliveries", cmd_generate)
    add_generate_args(g, 10_000)
    g.add_argument("--days", type=int_range(1, 366), default=1, help="consecutive dates to deliver (default 1)")
    g.add_argument("--truth", help="where the planted ground truth goes (default: <inbox>/../truth)")
    g.add_argument("--noise", action="append", type=_noise_knob, metavar="KEY=VALUE",
                   help="override a knob of conf/generator.yaml, e.g. id_typo=0 (repeatable)")
    g.add_argument("--hourly", action="store_true",
                   help="deliver GPS and waybills also as hourly parts (manifest_HH.json), some GPS reports an hour late")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--json", action="store_true", help="also print what was written as JSON")

    r = add("run", "run the daily pipeline for one logical date", cmd_run)
    r.add_argument("--date", required=True, type=iso_date, help=date_help)
    r.add_argument("--inbox", help="the departments' drop folder (default: the profile's inbox)")
    r.add_argument("--stages", type=comma_list(one_of("stage", _stage_names)), metavar="STAGE,…",
                   help="comma-separated subset of " + ",".join(_stage_names()) + " (default: all)")
    r.add_argument("--strict", action="store_true", help="exit 1 when any delivery did not load")
    mode = r.add_mutually_exclusive_group()
    mode.add_argument("--full", dest="full", action="store_true", default=None,
                      help="recompute every rule on every subject (the default unless the profile sets rules.incremental)")
    mode.add_argument("--incremental", dest="full", action="store_false",
                      help="re-evaluate only subjects whose facts changed since yesterday's run (falls back to full "
                           "when it cannot chain); measured slower than full at 100k persons, see docs/rules.md")
    r.add_argument("--json", action="store_true", help="also print every stage's summary as JSON")
    r.add_argument("--hour", type=int_range(0, 23), metavar="H",
                   help="the hourly hazmat run: GPS and waybill parts 00…H of the day, vehicle tracks, the hourly "
                        "hazmat rules over the settled reports, tasks (stages: ingest,vehicle_tracks,rules,publish)")

    i = add("ingest", "bronze ingest of one logical date", cmd_ingest)
    i.add_argument("--date", required=True, type=iso_date, help=date_help)
    i.add_argument("--inbox", help="the departments' drop folder (default: the profile's inbox)")
    i.add_argument("--dataset", action="append", type=one_of("dataset", _schema_names),
                   help="only this dataset (repeatable; default: all)")

    q = add("quality", "rows read, accepted, quarantined by reason and suite verdicts of one date", cmd_quality)
    q.add_argument("--date", required=True, type=iso_date, help=date_help)

    lk = add("link", "entity resolution: link every person record to a stable person key", cmd_link)
    lk.add_argument("--date", required=True, type=iso_date, help=date_help)
    lk.add_argument("--explain", metavar="DATASET:RECORD_KEY", type=record_ref,
                    help="only say why this record was linked (or not), e.g. driving_licences:DL0001234")

    d = add("demo", "generate a small province and run the whole pipeline on it", cmd_demo)
    add_generate_args(d, 5_000)
    d.add_argument("--fresh", action="store_true", help="regenerate the deliveries even if the inbox has some")

    f = add("flags", "risk flags as they were on a date (Delta time travel)", cmd_flags)
    f.add_argument("--as-of", required=True, type=iso_date, help=date_help + ": the flags as that day's run left them")
    f.add_argument("--status", action="append", choices=FLAG_STATUSES,
                   help="open (default), resolved or suppressed (repeatable)")
    f.add_argument("--rule", action="append", type=one_of("rule", _rule_ids), help="only this rule id (repeatable)")
    f.add_argument("--unit", type=division_code, help="only flags whose grid lies in this division or grid code")
    f.add_argument("--analyst", action="store_true", help="show the analyst's fuller explanation")
    f.add_argument("--limit", type=int_range(1), default=50, help="show at most this many flags (default 50)")

    sm = add("summary", "flag counts per rule × city × district on a date (gold risk_summary)", cmd_summary)
    sm.add_argument("--date", required=True, type=iso_date, help=date_help)
    sm.add_argument("--unit", type=division_code,
                    help="only this city or district (a finer code: the district it lies in)")

    for hook in _hooks():
        hooked = hook(sub)
        if isinstance(hooked, argparse.ArgumentParser) and "--debug" not in hooked._option_string_actions:
            hooked.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                help="show the full traceback when the command fails")
    return parser


def _failure(exc: BaseException) -> tuple[int, str, bool]:
    """(exit status, one-line message, whether it was unexpected) for an exception from a command."""
    from gridrisk.privacy import MissingKey
    from gridrisk.spark import EnvironmentProblem
    from gridrisk.taskstore import TaskError
    if isinstance(exc, UsageError):
        return 2, str(exc), False
    if isinstance(exc, ConfigError):
        return 2, f"configuration problem — {exc}", False
    if isinstance(exc, TaskError):
        return 2, str(exc), False
    if isinstance(exc, ValueError) and "logical date" in str(exc):
        return 2, str(exc), False
    if isinstance(exc, WorkFailed | LookupError | EnvironmentProblem | MissingKey):
        return 1, str(exc).strip("'\""), False
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if type(exc).__module__.startswith(("pyspark", "py4j")):
        # A worker's or the JVM's error arrives as a whole traceback: its last "XError: …" line says what.
        import re

        causes = re.findall(r"^\s*((?:[\w.]+\.)?\w*(?:Error|Exception): .+)$", text, flags=re.M)
        return 1, f"Spark failed: {causes[-1].strip() if causes else first}", True
    return 1, f"internal error ({type(exc).__name__}: {first})", True


def main(argv: list[str] | None = None) -> int:
    """Run the command; return its exit status (the console script exits with it)."""
    debug = bool(os.environ.get("GRIDRISK_DEBUG")) or "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version, or a bad argument already reported in one line
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        return int(args.func(args))
    except KeyboardInterrupt:
        say("gridrisk: interrupted")
        return 130
    except BrokenPipeError:  # `gridrisk flags … | head`
        sys.stderr.close()
        return 1
    except Exception as exc:
        rc, message, unexpected = _failure(exc)
        if debug:
            import traceback

            traceback.print_exc()
        print(f"gridrisk: {message}", file=sys.stderr)
        if unexpected and not debug:
            say("(run it again with --debug for the traceback)")
        return rc


if __name__ == "__main__":
    sys.exit(main())
