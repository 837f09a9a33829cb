"""The HTTP service: Open311 GeoReport v2 over the task store, lifecycle actions, the SLA and
headline figures, delivery status and a grid centre's page.

    app = create_app(open_store(dsn), load_service_config())

Every endpoint needs a token (``Authorization: Bearer …``, or Open311's ``api_key``
parameter). The caller is an actor with a unit and a role: it sees its unit's subtree only —
a task elsewhere answers exactly like a task that does not exist — and the store refuses the
actions its role may not take. Errors are JSON ``{"error": …, "problems": […]}`` with a 4xx
status; no traceback ever leaves the process, and no request body is echoed back.
"""



import datetime as _dt
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridrisk.service.config import ServiceConfig
from gridrisk.service.escalation import overdue_by_unit, run_escalation
from gridrisk.service.outbox import deliver_once
from gridrisk.service.xml import to_xml
from gridrisk.taskstore import (
    ACTIONS,
    Actor,
    Conflict,
    IllegalTransition,
    NotAllowed,
    RawIdRefused,
    SqlTaskStore,
    Task,
    TaskError,
    TaskEvent,
    TaskNotFound,
)
from gridrisk.taskstore.model import OPEN_STATUSES, STATUS_LABELS, STATUSES, TRANSITIONS, TZ, to_second
from gridrisk.taskstore.open311 import JURISDICTION_ID, event_view, to_open311

log = logging.getLogger("gridrisk.service")
STATIC = Path(__file__).resolve().parent / "static"
Clock = Callable[[], _dt.datetime]

# Text from callers ends up on other people's screens and in other systems: markup and
# statement-shaped SQL are refused outright rather than escaped somewhere downstream.
_HTML = re.compile(r"<\s*/?\s*[a-zA-Z!?][^>]*>|&#?\w+;|javascript:", re.IGNORECASE)
_SQL = re.compile(r"(;\s*(drop|delete|insert|update|alter|create|truncate|grant)\b)|(--)|(/\*)"
                  r"|(\bunion\s+(all\s+)?select\b)|('\s*or\s+'?\d+'?\s*=\s*'?\d+)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MAX_TEXT = 2000


def check_text(value: str | None, max_chars: int = _MAX_TEXT) -> str | None:
    """``value`` if it is plain text; ``ValueError`` saying what is wrong otherwise."""
    if value is None:
        return None
    if len(value) > max_chars:
        raise ValueError(f"is {len(value)} characters long; at most {max_chars}")
    if _CONTROL.search(value):
        raise ValueError("contains control characters")
    if _HTML.search(value):
        raise ValueError("contains HTML markup; send plain text")
    if _SQL.search(value):
        raise ValueError("contains SQL statement syntax (;DROP, --, /*, UNION SELECT, ' or 1=1); "
                         "send plain text")
    return value


def check_url(value: str | None) -> str | None:
    if value is None:
        return None
    check_text(value, 1000)
    if not re.match(r"^https?://[^\s<>\"']+$", value):
        raise ValueError("must be an http(s) link without spaces")
    return value


class ActionBody(BaseModel):
    """One action on a task. ``at`` defaults to now; it may not lie in the future."""

    model_config = ConfigDict(extra="forbid")
    at: _dt.datetime | None = None
    note: str | None = None
    result: Literal["confirmed", "rectified", "false_positive"] | None = None
    photo_url: str | None = None
    expected_version: int | None = Field(default=None, ge=1)
    assignee: str | None = Field(default=None, max_length=100)
    new_deadline: _dt.datetime | None = None
    rating: Literal["satisfied", "unsatisfied"] | None = None

    _note = field_validator("note", "assignee")(check_text)
    _photo = field_validator("photo_url")(check_url)


class ReportBody(BaseModel):
    """A grid worker's own report of a problem found on patrol (网格员上报)."""

    model_config = ConfigDict(extra="forbid")
    report_ref: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    title: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=_MAX_TEXT)
    grid_code: str = Field(pattern=r"^\d{15}$")
    address_text: str | None = Field(default=None, max_length=200)
    address_code: str | None = Field(default=None, pattern=r"^\d{20}$")
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    priority: int = Field(default=3, ge=1, le=4)
    photo_url: str | None = None
    at: _dt.datetime | None = None

    _text = field_validator("title", "description", "address_text")(check_text)
    _photo = field_validator("photo_url")(check_url)

    @field_validator("description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value:
            raise ValueError("must be one line")
        return value


def available_actions(task: Task, role: str, events: list[TaskEvent] | None = None) -> list[str]:
    """The actions ``role`` may take on ``task`` now (what the page offers)."""
    pending = False
    for e in events or []:
        pending = e.action == "request_extension" or (pending and e.action not in (
            "grant_extension", "refuse_extension"))
    skip = {"request_extension"} if pending else {"grant_extension", "refuse_extension"}
    found = []
    for name, spec in ACTIONS.items():
        if role not in spec.roles or name == "escalate" or name in skip:
            continue
        if spec.target is not None and name != "reopen":
            ok = spec.target in TRANSITIONS[task.status] and task.status in spec.from_statuses
        else:
            ok = task.status in spec.from_statuses
        if ok:
            found.append(name)
    return found


def _problem(status: int, error: str, problems: list[str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "problems": problems or []}, status_code=status)


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_big = _problem(413, f"request body larger than {self.limit} bytes")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await too_big(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except _TooLarge:
            if not started:
                await too_big(scope, receive, send)


class _TooLarge(Exception):
    pass


def _parse_when(value: str | None, name: str) -> _dt.datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(400, f"{name} {value[:40]!r} is not an ISO 8601 date-time "
                                 "(e.g. 2026-11-01T09:00:00+08:00)") from None
    return to_second(parsed)


class Scheduler:
    """The service's own periodic jobs: the SLA check and outbox delivery, in threads."""

    def __init__(self, store: SqlTaskStore, config: ServiceConfig, clock: Clock) -> None:
        self.store, self.config, self.clock = store, config, clock
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def _loop(self, every: float, job: Callable[[], object], name: str) -> None:
        while not self.stop.is_set():
            try:
                job()
            except Exception:  # noqa: BLE001 — a failed round is logged and tried again
                log.exception("scheduled %s failed", name)
            self.stop.wait(every)

    def start(self) -> None:
        client = httpx.Client()
        jobs = [(self.config.escalation_every_s, lambda: run_escalation(self.store, self.clock()), "escalation"),
                (self.config.delivery_every_s, lambda: deliver_once(self.store, self.config, client), "delivery")]
        for every, job, name in jobs:
            if every > 0 and (name != "delivery" or self.config.subscribers):
                thread = threading.Thread(target=self._loop, args=(every, job, name), daemon=True,
                                          name=f"gridrisk-{name}")
                thread.start()
                self.threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def create_app(store: SqlTaskStore, config: ServiceConfig | None = None, *,
               clock: Clock | None = None, scheduler: bool = False) -> FastAPI:
    """The FastAPI application over ``store``. ``scheduler`` starts the periodic jobs."""
    config = config or ServiceConfig()
    now: Clock = clock or (lambda: _dt.datetime.now(TZ))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        jobs = Scheduler(store, config, now) if scheduler else None
        if jobs:
            jobs.start()
        yield
        if jobs:
            jobs.close()

    app = FastAPI(title="gridrisk task service", version="1.0.0", lifespan=lifespan,
                  description="Inspection tasks of the grid centres: Open311 GeoReport v2, "
                              "lifecycle actions, SLA figures. See docs/service.md.")
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)

    @app.middleware("http")
    async def access_log(request: Request, call_next: Callable[..., Any]) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        # The path only: a query string can carry an api_key.
        log.info("%s %s %d %.1f ms", request.method, request.url.path, response.status_code,
                 (time.perf_counter() - started) * 1000)
        return response

    # -- errors --------------------------------------------------------------------------------

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        return _problem(422, "invalid request", problems)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return _problem(exc.status_code, str(exc.detail))

    @app.exception_handler(TaskError)
    async def task_error(_: Request, exc: TaskError) -> JSONResponse:
        if isinstance(exc, TaskNotFound):
            return _problem(404, f"no task {exc.task_id!r} in your territory")
        if isinstance(exc, NotAllowed):
            return _problem(403, str(exc))
        if isinstance(exc, RawIdRefused):
            return _problem(422, f"{', '.join(exc.fields)} contain(s) something that looks like a "
                                 "resident ID number; tasks never carry one")
        if isinstance(exc, (Conflict, IllegalTransition)):
            return _problem(409, str(exc), [f"allowed next: {', '.join(exc.allowed) or 'none'}"])
        return _problem(422, str(exc))

    @app.exception_handler(ValueError)
    async def value_error(_: Request, exc: ValueError) -> JSONResponse:
        return _problem(400, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.error("unexpected error %s: %s", ref, type(exc).__name__)
        return _problem(500, f"internal error (reference {ref}); nothing was changed")

    # -- who is asking -------------------------------------------------------------------------

    def caller(request: Request, api_key: Annotated[str | None, Query(include_in_schema=False)] = None
               ) -> Actor:
        header = request.headers.get("authorization", "")
        secret = header[7:].strip() if header.lower().startswith("bearer ") else api_key
        if not secret:
            raise HTTPException(401, "a token is needed: Authorization: Bearer <token> "
                                     "(or Open311's api_key=<token>)")
        actor = store.authenticate(secret, now())
        if actor is None:
            raise HTTPException(401, "the token is unknown, expired or revoked")
        return actor

    Caller = Annotated[Actor, Depends(caller)]

    def visible(actor: Actor, task_id: str) -> Task:
        task = store.get(task_id)
        if task is None or not actor.covers(task.receiving_unit):
            raise TaskNotFound(task_id)  # the same answer whether it exists elsewhere or not
        return task

    def unit_of(actor: Actor, unit: str | None) -> str:
        unit = unit or actor.unit
        if not unit.startswith(actor.unit):
            raise HTTPException(403, f"unit {unit} is outside your territory ({actor.unit})")
        return unit

    def check_jurisdiction(jurisdiction_id: str | None) -> None:
        if jurisdiction_id not in (None, JURISDICTION_ID):
            raise HTTPException(404, f"unknown jurisdiction_id; this server is {JURISDICTION_ID!r}")

    def fmt_response(fmt: str, root: str, item: str, rows: list[dict[str, Any]],
                     headers: dict[str, str] | None = None) -> Response:
        if fmt == "xml":
            return Response(to_xml(root, item, rows), media_type="application/xml", headers=headers)
        return JSONResponse(rows, headers=headers)

    # -- Open311 GeoReport v2 ------------------------------------------------------------------

    def service_list() -> list[dict[str, Any]]:
        from gridrisk.rules import load_rules

        rows = [{"service_code": rule.id, "service_name": rule.title, "description": rule.title,
                 "metadata": False, "type": "batch", "keywords": rule.kind, "group": rule.kind}
                for rule in sorted(load_rules().values(), key=lambda r: r.id)]
        rows.append({"service_code": "patrol_report", "service_name": "网格员上报",
                     "description": "a problem a grid worker found on patrol", "metadata": False,
                     "type": "realtime", "keywords": "patrol", "group": "patrol"})
        return rows

    @app.get("/open311/v2/services.{fmt}", tags=["open311"])
    def services(fmt: Literal["json", "xml"], actor: Caller,
                 jurisdiction_id: str | None = None) -> Response:
        """The kinds of inspection task (one per rule, and the grid worker's own report)."""
        check_jurisdiction(jurisdiction_id)
        return fmt_response(fmt, "services", "service", service_list())

    @app.get("/open311/v2/requests.{fmt}", tags=["open311"])
    def requests_(fmt: Literal["json", "xml"], actor: Caller,
                  jurisdiction_id: str | None = None, status: str | None = None,
                  service_code: str | None = None, start_date: str | None = None,
                  end_date: str | None = None, unit: str | None = None,
                  page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                  page_size: Annotated[int | None, Query(ge=1)] = None) -> Response:
        """The caller's tasks, most urgent first. ``status``: open, closed, or lifecycle
        statuses, comma-separated; dates filter the filing time; pages of ``page_size``."""
        check_jurisdiction(jurisdiction_id)
        statuses: set[str] | None = None
        if status:
            statuses = set()
            for part in status.split(","):
                part = part.strip()
                if part == "open":
                    statuses.update(OPEN_STATUSES)
                elif part in STATUSES:
                    statuses.add(part)
                else:
                    raise HTTPException(400, f"status {part[:30]!r} is not open, closed or one of "
                                             f"{', '.join(STATUSES)}")
        size = page_size or config.page_size
        if size > config.max_page_size:
            raise HTTPException(400, f"page_size at most {config.max_page_size}")
        since, until = _parse_when(start_date, "start_date"), _parse_when(end_date, "end_date")
        if since and until and since > until:
            raise HTTPException(400, "start_date is after end_date")
        scope = unit_of(actor, unit)
        kwargs: dict[str, Any] = {"rule_id": service_code, "filed_since": since, "filed_until": until}
        tasks = store.list_tasks(scope, status=statuses, limit=size, offset=(page - 1) * size, **kwargs)
        total = store.count_tasks(scope, status=statuses, **kwargs)
        events = store.events_of([t.task_id for t in tasks])
        rows = [to_open311(t, events[t.task_id]) for t in tasks]
        return fmt_response(fmt, "service_requests", "request", rows,
                            {"X-Total-Count": str(total), "X-Page": str(page),
                             "X-Page-Size": str(size)})

    @app.get("/open311/v2/requests/{request_id}.{fmt}", tags=["open311"])
    def request_one(request_id: str, fmt: Literal["json", "xml"], actor: Caller,
                    jurisdiction_id: str | None = None) -> Response:
        """One task (Open311 answers a list of one)."""
        check_jurisdiction(jurisdiction_id)
        task = visible(actor, request_id)
        return fmt_response(fmt, "service_requests", "request",
                            [to_open311(task, store.events(task.task_id))])

    # -- the fuller API ------------------------------------------------------------------------

    @app.get("/api/v1/me", tags=["tasks"])
    def me(actor: Caller) -> dict[str, Any]:
        """Who the token belongs to, their territory and what their role may do."""
        return {"actor_id": actor.actor_id, "display_name": actor.display_name,
                "unit": actor.unit, "role": actor.role,
                "actions": sorted(a for a, s in ACTIONS.items() if actor.role in s.roles)}

    @app.get("/api/v1/tasks/{task_id}", tags=["tasks"])
    def task_detail(task_id: str, actor: Caller) -> dict[str, Any]:
        """The task, its history and the actions the caller may take now."""
        task = visible(actor, task_id)
        events = store.events(task_id)
        return {"request": to_open311(task, events), "version": task.version,
                "status_label": STATUS_LABELS[task.status],
                "actions": available_actions(task, actor.role, events),
                "events": [event_view(e) for e in events]}

    @app.get("/api/v1/tasks/{task_id}/events", tags=["tasks"])
    def task_events(task_id: str, actor: Caller) -> list[dict[str, Any]]:
        visible(actor, task_id)
        return [event_view(e) for e in store.events(task_id)]

    @app.get("/api/v1/tasks/{task_id}/evidence", tags=["tasks"])
    def task_evidence(task_id: str, actor: Caller) -> dict[str, Any]:
        """The (masked) evidence the rule lets this unit see. Every read is logged."""
        task = visible(actor, task_id)
        store.log_evidence_read(task_id, actor.actor_id, now(), "api")
        return {"task_id": task_id, "rule_id": task.rule_id, "evidence": task.evidence}

    @app.get("/api/v1/tasks/{task_id}/evidence-reads", tags=["tasks"])
    def task_evidence_reads(task_id: str, actor: Caller) -> list[dict[str, Any]]:
        """Who read the evidence, when (dispatchers and administrators)."""
        visible(actor, task_id)
        if actor.role not in ("dispatcher", "admin"):
            raise NotAllowed(f"a {actor.role} may not read the evidence log")
        return [{**r, "at": r["at"].isoformat()} for r in store.evidence_reads(task_id)]

    @app.post("/api/v1/tasks/{task_id}/actions/{action}", tags=["tasks"])
    def take_action(task_id: str, action: str, body: ActionBody, actor: Caller) -> dict[str, Any]:
        """One step of the case loop (dispatch, sign, handle, verify, close, return, defer,
        reopen, remind, request_extension, grant_extension, refuse_extension, follow_up)."""
        if action not in ACTIONS or action == "escalate":
            raise HTTPException(404, f"unknown action {action[:40]!r}; use "
                                     + ", ".join(a for a in ACTIONS if a != "escalate"))
        visible(actor, task_id)
        event = store.act(task_id, action, actor.actor_id, body.at or now(), note=body.note,
                          result=body.result, photo_url=body.photo_url,
                          expected_version=body.expected_version, assignee=body.assignee,
                          new_deadline=body.new_deadline, rating=body.rating, now=now())
        task = store.get(task_id)
        assert task is not None
        return {"event": event_view(event), "version": task.version, "status": task.status}

    @app.post("/api/v1/claim", tags=["tasks"])
    def claim(actor: Caller, unit: str | None = None) -> dict[str, Any]:
        """Sign for the most urgent unassigned dispatched task of the caller's territory."""
        event = store.claim_next(unit_of(actor, unit), actor.actor_id, now())
        if event is None:
            raise HTTPException(404, "no unassigned dispatched task in your territory")
        return {"event": event_view(event), "task_id": event.task_id}

    @app.post("/api/v1/reports", tags=["tasks"], status_code=201)
    def report(body: ReportBody, actor: Caller) -> dict[str, Any]:
        """File a problem found on patrol (网格员上报) as a task of the worker's grid.
        Idempotent on (worker, report_ref)."""
        at = body.at or now()
        if to_second(at) > to_second(now()):
            raise HTTPException(422, "at lies in the future")
        task = store.file_report(actor.actor_id, report_ref=body.report_ref, title=body.title,
                                 explanation=body.description, grid_code=body.grid_code, at=at,
                                 address_text=body.address_text, address_code=body.address_code,
                                 lat=body.lat, lon=body.long, priority=body.priority,
                                 photo_url=body.photo_url)
        return {"service_request_id": task.task_id, "request": to_open311(task, store.events(task.task_id))}

    @app.get("/api/v1/stats", tags=["figures"])
    def stats(actor: Caller, since: str, until: str, unit: str | None = None) -> dict[str, Any]:
        """Headline figures of a unit: filed vs closed, on-time closure rate, median per step."""
        start, end = _parse_when(since, "since"), _parse_when(until, "until")
        assert start is not None and end is not None
        figures = store.stats(unit_of(actor, unit), start, end)
        return {"unit": figures.unit, "since": figures.since.isoformat(),
                "until": figures.until.isoformat(), "filed": figures.filed,
                "closed": figures.closed, "closed_on_time": figures.closed_on_time,
                "closed_by_system": figures.closed_by_system,
                "on_time_closure_rate": figures.on_time_closure_rate,
                "median_seconds_per_step": figures.median_seconds_per_step}

    @app.get("/api/v1/overdue", tags=["figures"])
    def overdue(actor: Caller, unit: str | None = None) -> dict[str, Any]:
        """Open tasks past their deadline, per receiving unit."""
        grouped = overdue_by_unit(store, now(), unit_of(actor, unit))
        return {u: [{"task_id": t.task_id, "deadline": t.deadline.isoformat() if t.deadline else None,
                     "priority": t.priority, "status": t.status,
                     "escalation_level": t.escalation_level} for t in tasks]
                for u, tasks in grouped.items()}

    @app.get("/api/v1/deliveries", tags=["delivery"])
    def deliveries(actor: Caller, status: Literal["pending", "delivered", "dead"] | None = None
                   ) -> list[dict[str, Any]]:
        """Webhook delivery status of the caller's subscribers (``status=dead``: dead letters)."""
        if actor.role not in ("dispatcher", "admin"):
            raise NotAllowed(f"a {actor.role} may not read delivery status")
        mine = [s.name for s in config.subscribers if s.unit.startswith(actor.unit)]
        rows = [r for name in mine for r in store.deliveries(name, status)]
        return [{**r, "delivered_at": r["delivered_at"].isoformat() if r["delivered_at"] else None}
                for r in rows]

    @app.get("/api/v1/map", tags=["tasks"])
    def grid_map(actor: Caller, unit: str | None = None) -> dict[str, Any]:
        """The grid polygons of the caller's territory with their open-task counts (GeoJSON)."""
        import json

        scope = unit_of(actor, unit)
        counts = store.open_counts_by_grid(scope)
        features = [{"type": "Feature", "geometry": json.loads(g["geometry_json"]),
                     "properties": {"grid_code": g["grid_code"], "name": g["name"],
                                    "open_tasks": counts.get(g["grid_code"], 0)}}
                    for g in store.grids(scope)]
        return {"type": "FeatureCollection", "features": features}

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # -- the grid centre's page ---------------------------------------------------------------

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    return app
