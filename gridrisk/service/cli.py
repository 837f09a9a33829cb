"""The task store's and the service's commands, added to the ``gridrisk`` command by
``register(subparsers)``:

    gridrisk serve [--no-scheduler]                  the HTTP service (uvicorn)
    gridrisk tokens issue <actor> [--days 90]        a unit's credentials (shown once)
    gridrisk tokens revoke <token_id> · tokens list
    gridrisk tasks actors add <id> --name … --unit 320115 --role dispatcher
    gridrisk tasks list --unit 320115 · tasks show <id> [--open311]
    gridrisk tasks act <id> <action> --actor <id> [--note … --result … --at …]
    gridrisk tasks transition <id> --to signed --actor <id>
    gridrisk tasks escalate · tasks overdue · tasks stats --unit … --since … --until …
    gridrisk tasks deliver [--loop] · tasks deliveries [--dead] [--requeue <subscriber>]
    gridrisk tasks load-grids grids_20261101.geojson
    gridrisk tasks evidence-reads <id>

No pyspark here: these run wherever the task store is reachable.
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

from gridrisk.taskstore.model import ACTIONS, RATINGS, RESULTS, ROLES, TZ

DEFAULT_SINCE_DAYS = 30


def _store(args: argparse.Namespace, pool_size: int = 0) -> Any:
    from gridrisk.config import load_profile
    from gridrisk.taskstore import open_store

    dsn = getattr(args, "store", None) or load_profile(args.profile).task_store
    return open_store(dsn, pg_schema=os.environ.get("GRIDRISK_PG_SCHEMA", "gridrisk"),
                      pool_size=pool_size)


def _when(text: str | None, name: str = "--at") -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"gridrisk: {name} {text!r} is not an ISO 8601 time "
                         "(e.g. 2026-11-02T14:40:23+08:00)") from None
    return value if value.tzinfo else value.replace(tzinfo=TZ)


def _now() -> dt.datetime:
    return dt.datetime.now(TZ).replace(microsecond=0)


# --------------------------------------------------------------------------- serve


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from gridrisk.service.app import create_app
    from gridrisk.service.config import load_service_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = load_service_config(args.config)
    app = create_app(_store(args, pool_size=config.pool_size), config,
                     scheduler=not args.no_scheduler)
    # No uvicorn access log: it would print query strings, and Open311's api_key travels there.
    uvicorn.run(app, host=args.host or config.host, port=args.port or config.port,
                access_log=False, log_level="info")
    return 0


# --------------------------------------------------------------------------- tokens


def cmd_tokens(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.tokens_cmd == "issue":
        from gridrisk.service.config import load_service_config

        days = args.days or load_service_config(args.config).token_days
        token_id, secret = store.issue_token(args.actor, dt.timedelta(days=days))
        actor = store.get_actor(args.actor)
        print(f"token {token_id} for {args.actor} ({actor.role}, unit {actor.unit}), "
              f"valid {days} days — shown once, store it now:")
        print(secret)
        return 0
    if args.tokens_cmd == "revoke":
        if not store.revoke_token(args.token_id):
            print(f"gridrisk: no active token {args.token_id}", file=sys.stderr)
            return 2
        print(f"token {args.token_id} revoked")
        return 0
    for t in store.list_tokens(args.actor):
        state = "revoked" if t["revoked_at"] else ("expired" if t["expires_at"] <= _now() else "active")
        print(f"{t['token_id']}  {t['actor_id']:<20} {state:<8} expires {t['expires_at']:%Y-%m-%d %H:%M}")
    return 0


# --------------------------------------------------------------------------- tasks


def cmd_tasks(args: argparse.Namespace) -> int:  # noqa: C901 — one dispatcher per sub-command
    from gridrisk.taskstore.render import format_task_detail, format_task_table

    store = _store(args)
    cmd = args.tasks_cmd
    if cmd == "list":
        tasks = store.list_tasks(args.unit, status=args.status or None, department=args.department,
                                 limit=args.limit)
        if not tasks:
            print(f"no tasks for unit {args.unit}")
            return 0
        print(format_task_table(tasks))
        print(f"\n{len(tasks)} task(s) for unit {args.unit} and below"
              + (" (limit reached)" if len(tasks) == args.limit else ""))
        return 0
    if cmd == "actors":
        if args.actors_cmd == "add":
            actor = store.add_actor(args.actor_id, args.name, args.unit, args.role)
            print(f"actor {actor.actor_id}: {actor.role} of unit {actor.unit}")
        elif args.actors_cmd == "deactivate":
            store.deactivate_actor(args.actor_id)
            print(f"actor {args.actor_id} deactivated, their tokens revoked")
        else:
            for a in store.list_actors(args.unit or ""):
                print(f"{a.actor_id:<20} {a.role:<12} {a.unit:<16} {'active' if a.active else 'inactive'}  {a.display_name}")
        return 0
    if cmd == "escalate":
        from gridrisk.service.escalation import run_escalation

        done = run_escalation(store, _when(args.at) or _now(), args.unit)
        for e in done:
            print(f"{e.task_id}: {e.step}, priority {e.priority[0]}→{e.priority[1]}, "
                  f"unit {e.receiving_unit[0]}→{e.receiving_unit[1]}")
        print(f"{len(done)} task(s) escalated")
        return 0
    if cmd == "overdue":
        from gridrisk.service.escalation import overdue_by_unit

        grouped = overdue_by_unit(store, _when(args.at) or _now(), args.unit)
        for unit, tasks in grouped.items():
            print(f"{unit}: {len(tasks)} overdue")
            for t in tasks:
                print(f"  {t.task_id}  P{t.priority}  {t.status:<10} deadline {t.deadline:%Y-%m-%d %H:%M}"
                      f"  escalated {t.escalation_level}×")
        if not grouped:
            print(f"no overdue tasks under {args.unit}")
        return 0
    if cmd == "stats":
        until = _when(args.until, "--until") or _now()
        since = _when(args.since, "--since") or until - dt.timedelta(days=DEFAULT_SINCE_DAYS)
        s = store.stats(args.unit, since, until)
        rate = "—" if s.on_time_closure_rate is None else f"{s.on_time_closure_rate:.1%}"
        print(f"unit {s.unit}, {s.since:%Y-%m-%d %H:%M} – {s.until:%Y-%m-%d %H:%M}")
        print(f"filed {s.filed}, closed {s.closed} ({s.closed_by_system} by the system), "
              f"closed on time {s.closed_on_time}, on-time closure rate {rate}")
        for step, seconds in s.median_seconds_per_step.items():
            print(f"  median {step:<24} {dt.timedelta(seconds=int(seconds))}")
        return 0
    if cmd in ("deliver", "deliveries"):
        return _deliveries(store, args)
    if cmd == "load-grids":
        features = json.loads(Path(args.geojson).read_text(encoding="utf-8"))["features"]
        rows = [(f["properties"]["grid_code"], f["properties"].get("name"),
                 f["properties"].get("level", "grid"), f["properties"].get("parent_code"),
                 json.dumps(f["geometry"], separators=(",", ":"))) for f in features]
        print(f"{store.replace_grids(rows)} grid polygons loaded")
        return 0
    task_id = store.resolve_id(args.task_id)
    if cmd == "evidence-reads":
        for r in store.evidence_reads(task_id):
            print(f"{r['at']:%Y-%m-%d %H:%M:%S}  {r['actor_id']:<20} {r['purpose']}")
        return 0
    if cmd in ("transition", "act"):
        at = _when(args.at) or _now()
        extra: dict[str, Any] = {"note": args.note, "result": args.result, "photo_url": args.photo}
        if cmd == "transition":
            event = store.transition(task_id, args.to, actor=args.actor, at=at, **extra)
        else:
            event = store.act(task_id, args.action, args.actor, at, assignee=args.assignee,
                              new_deadline=_when(args.new_deadline, "--new-deadline"),
                              rating=args.rating, **extra)
        print(f"task {task_id}: {event.action} {event.from_status} → {event.to_status} by {event.actor} "
              f"at {event.at:%Y-%m-%d %H:%M:%S}")
        return 0
    task = store.get(task_id)
    assert task is not None
    if args.open311:
        print(json.dumps(store.to_open311(task), ensure_ascii=False, indent=1))
    else:
        print(format_task_detail(task, store.events(task_id)))
    return 0


def _deliveries(store: Any, args: argparse.Namespace) -> int:
    from gridrisk.service.config import load_service_config

    config = load_service_config(args.config)
    if args.tasks_cmd == "deliver":
        import httpx

        from gridrisk.service.outbox import deliver_once

        with httpx.Client() as client:
            while True:
                rounds = deliver_once(store, config, client)
                for name, r in rounds.items():
                    if r.delivered or r.retried or r.dead or not args.loop:
                        print(f"{name}: {r.delivered} delivered, {r.retried} to retry, {r.dead} dead",
                              flush=True)
                if not args.loop:
                    return 0
                time.sleep(args.every)
    if args.requeue:
        print(f"{store.requeue_dead(args.requeue, _now())} dead letter(s) of {args.requeue} requeued")
        return 0
    rows = store.deliveries(args.subscriber, "dead" if args.dead else None)
    for r in rows:
        print(f"{r['event_key']:<28} {r['subscriber']:<20} {r['status']:<9} attempts {r['attempts']}"
              + (f"  last error: {r['last_error']}" if r["last_error"] else ""))
    print(f"{len(rows)} deliver{'y' if len(rows) == 1 else 'ies'}")
    return 0


# --------------------------------------------------------------------------- parser


def register(sub: Any) -> None:
    """Add ``serve``, ``tokens`` and ``tasks`` to the ``gridrisk`` sub-command parsers."""

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--profile", help="conf/profiles/<name>.yaml (default: $GRIDRISK_PROFILE or local)")
        p.add_argument("--store", help="task store DSN (default: the profile's task_store)")
        return p

    s = common(sub.add_parser("serve", help="the grid centres' task service (HTTP, Open311)",
                              description="Serve the task store over HTTP (FastAPI + uvicorn)."))
    s.add_argument("--host", help="address to listen on (default: conf/service.yaml, 127.0.0.1)")
    s.add_argument("--port", type=int, help="port to listen on (default: conf/service.yaml, 8311)")
    s.add_argument("--config", help="conf/service.yaml")
    s.add_argument("--no-scheduler", action="store_true",
                   help="no SLA check or webhook delivery in this process")
    s.set_defaults(func=cmd_serve)

    k = sub.add_parser("tokens", help="API tokens of the service (issue, revoke, list)")
    k.set_defaults(func=cmd_tokens)
    ksub = k.add_subparsers(dest="tokens_cmd", required=True)
    ki = common(ksub.add_parser("issue", help="a new token for a registered actor (shown once)"))
    ki.add_argument("actor", help="the registered actor id the token acts as")
    ki.add_argument("--days", type=int, help="lifetime (default: token_days of conf/service.yaml)")
    ki.add_argument("--config", help="conf/service.yaml (token lifetime)")
    kr = common(ksub.add_parser("revoke", help="revoke a token by its id"))
    kr.add_argument("token_id", help="the token's id (gridrisk tokens list), never the secret")
    kl = common(ksub.add_parser("list", help="tokens, their actor and state"))
    kl.add_argument("--actor", help="only this actor's tokens")

    t = sub.add_parser("tasks", help="a grid centre's inspection tasks", description="a grid centre's inspection tasks")
    t.set_defaults(func=cmd_tasks)
    tsub = t.add_subparsers(dest="tasks_cmd", required=True)
    tl = common(tsub.add_parser("list", help="tasks of a unit and everything below it"))
    tl.add_argument("--unit", required=True, help="division or grid code: 32 (province) … 15-digit grid")
    tl.add_argument("--status", action="append", help="only tasks in this status (repeatable)")
    tl.add_argument("--department", help="only tasks for this department (e.g. 公安交管)")
    tl.add_argument("--limit", type=int, default=50, help="show at most this many (default 50)")
    ts = common(tsub.add_parser("show", help="one task with its history"))
    ts.add_argument("task_id", help="the id or its first characters")
    ts.add_argument("--open311", action="store_true", help="as an Open311 GeoReport v2 service request")
    for name, help_ in (("transition", "move a task to a status (dispatched, signed, …)"),
                        ("act", "take an action: " + ", ".join(a for a in ACTIONS if a != "escalate"))):
        tt = common(tsub.add_parser(name, help=help_))
        tt.add_argument("task_id", help="the id or its first characters")
        if name == "transition":
            tt.add_argument("--to", required=True,
                            help="dispatched, signed, handled, verified, closed, returned, deferred")
        else:
            tt.add_argument("action", choices=[a for a in ACTIONS if a != "escalate"], help="the action to take")
            tt.add_argument("--assignee", help="dispatch: the grid worker (actor id)")
            tt.add_argument("--new-deadline", help="request_extension / grant_extension: ISO time")
            tt.add_argument("--rating", choices=RATINGS, help="follow_up (回访/评价)")
        tt.add_argument("--actor", required=True, help="a registered actor id (gridrisk tasks actors list)")
        tt.add_argument("--note", help="a note kept with the event")
        tt.add_argument("--result", choices=RESULTS, help="handling result (handled / handle)")
        tt.add_argument("--photo", help="link to a photo of the site")
        tt.add_argument("--at", help="ISO timestamp, not in the future (default: now, Asia/Shanghai)")
    ta = tsub.add_parser("actors", help="the people and accounts who act on tasks")
    asub = ta.add_subparsers(dest="actors_cmd", required=True)
    aa = common(asub.add_parser("add", help="register or update an actor"))
    aa.add_argument("actor_id", help="a short id (letters, digits, -)")
    aa.add_argument("--name", required=True, help="display name")
    aa.add_argument("--unit", required=True, help="their territory: division or grid code")
    aa.add_argument("--role", required=True, choices=ROLES, help="what they may do")
    al = common(asub.add_parser("list", help="actors of a unit and below"))
    al.add_argument("--unit", help="only actors of this unit and below")
    ad = common(asub.add_parser("deactivate", help="an actor leaves; their tokens are revoked"))
    ad.add_argument("actor_id", help="the actor to deactivate")
    te = common(tsub.add_parser("escalate", help="the SLA check: escalate overdue tasks (conf/sla.yaml)"))
    to = common(tsub.add_parser("overdue", help="open tasks past their deadline, per unit"))
    for p in (te, to):
        p.add_argument("--unit", default="32", help="division or grid code (default 32, the province)")
        p.add_argument("--at", help="check as of this time (default: now)")
    st = common(tsub.add_parser("stats", help="headline figures: filed vs closed, on-time rate, median per step"))
    st.add_argument("--unit", required=True, help="division or grid code")
    st.add_argument("--since", help=f"ISO time (default: {DEFAULT_SINCE_DAYS} days before --until)")
    st.add_argument("--until", help="ISO time (default: now)")
    dv = common(tsub.add_parser("deliver", help="deliver the outbox to the subscribers of conf/service.yaml"))
    dv.add_argument("--loop", action="store_true", help="keep delivering")
    dv.add_argument("--every", type=float, default=2.0, help="seconds between rounds with --loop")
    dv.add_argument("--config", help="conf/service.yaml (subscribers)")
    dl = common(tsub.add_parser("deliveries", help="delivery status; --dead for the dead letters"))
    dl.add_argument("--subscriber", help="only this subscriber")
    dl.add_argument("--dead", action="store_true", help="the dead letters only, with their last error")
    dl.add_argument("--requeue", metavar="SUBSCRIBER", help="send a subscriber's dead letters again")
    dl.add_argument("--config", help="conf/service.yaml (subscribers)")
    lg = common(tsub.add_parser("load-grids", help="load the grid office's polygons for the map page"))
    lg.add_argument("geojson", help="a grids_<YYYYMMDD>.geojson file")
    er = common(tsub.add_parser("evidence-reads", help="who read a task's evidence, when"))
    er.add_argument("task_id", help="the id or its first characters")
