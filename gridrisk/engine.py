"""The engine: one long-running Spark driver that Airflow tasks hand their stage to.

An Airflow task is a fresh Python process. Building a SparkSession there means a JVM per task:
~10–30 s and a core's worth of CPU before any work (docs/scaling.md has the figures), and under
LocalExecutor several JVMs at once on the same cores. The engine builds one session when it
starts (``scripts/engine.sh start``, ``make engine``; ``make airflow`` starts it first) and then
runs what tasks send it: a task with ``GRIDRISK_ENGINE_URL`` set calls a :func:`routed` function
(``jobs.pipeline.run_stage`` …) as usual, and the call goes to the engine over HTTP on
localhost and waits for its result. The task process never imports pyspark's JVM side.

Each call runs in a session of its own (``spark.newSession()``: the engine's JVM, executors and
cache, its own SQL settings, temp views and Delta commit metadata) so concurrent stages do not
see each other's views or ``userMetadata``. At most ``--slots`` calls run at once (the pool of
Spark work; the rest wait in line, in order). A task that goes away (killed, timed out) has its
Spark jobs cancelled. Errors come back as :class:`RemoteError` with the engine's traceback.

Why not Spark Connect: see docs/scaling.md (the Delta Connect server plugin is not published
for Delta 4.4 / Spark 4.2, and ``DeltaTable`` — MERGE, history — is what our lake module uses).

The engine's own profile (``--profile``) decides where Spark runs (``local[*]``, or a cluster's
master); the caller's profile decides lake, inbox and task store, as it would in-process.

    python -m gridrisk.engine serve --profile local --state .engine/engine.json
    python -m gridrisk.engine status --state .engine/engine.json
    python -m gridrisk.engine stop --state .engine/engine.json
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hmac
import http.client
import json
import os
import secrets
import select
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from gridrisk.config import Profile

URL_ENV = "GRIDRISK_ENGINE_URL"
TOKEN_ENV = "GRIDRISK_ENGINE_TOKEN"
DEFAULT_SLOTS = 2

F = TypeVar("F", bound=Callable[..., Any])

#: The functions a caller may run in the engine, by ``module.qualname`` (filled by :func:`routed`).
ROUTED: dict[str, Callable[..., Any]] = {}
_IN_ENGINE = threading.Event()  # set in the engine's process: routed calls there run in place


class EngineError(RuntimeError):
    """The engine is not reachable, refused the call, or its answer makes no sense."""


class RemoteError(RuntimeError):
    """The routed function raised in the engine; ``remote_type`` and ``remote_traceback`` say what."""

    def __init__(self, name: str, remote_type: str, message: str, remote_traceback: str):
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback
        super().__init__(f"{name} failed in the engine: {remote_type}: {message}")


# --------------------------------------------------------------------------- arguments


def encode(value: Any) -> Any:
    """JSON form of a routed call's argument (a :class:`Profile` is tagged, the rest is plain)."""
    if isinstance(value, Profile):
        return {"__profile__": dataclasses.asdict(value)}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [encode(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot send a {type(value).__name__} to the engine")


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__profile__"}:
            return Profile(**value["__profile__"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def _sendable(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    try:
        encode(list(args))
        encode(kwargs)
    except TypeError:
        return False
    return True


def routed(fn: F) -> F:
    """Run ``fn`` in the engine when ``GRIDRISK_ENGINE_URL`` is set, else here.

    A call with an argument that cannot travel (a progress callback) runs here: it is the CLI's
    own run, with its own session, watched by the person who started it."""
    name = f"{fn.__module__}.{fn.__qualname__}"
    ROUTED[name] = fn

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        url = os.environ.get(URL_ENV)
        if not url or _IN_ENGINE.is_set() or not _sendable(args, {k: v for k, v in kwargs.items() if v is not None}):
            return fn(*args, **kwargs)
        return Client(url, os.environ.get(TOKEN_ENV, "")).call(name, *args, **kwargs)

    return cast(F, call)


# --------------------------------------------------------------------------- client


class Client:
    """Calls into a running engine. ``url``: ``http://127.0.0.1:<port>``; ``token``: its secret."""

    def __init__(self, url: str, token: str, connect_timeout: float = 10.0):
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise EngineError(f"{URL_ENV}={url!r} is not an engine address (http://host:port)")
        self.url, self.host, self.port, self.token = url, parts.hostname, parts.port, token
        self.connect_timeout = connect_timeout

    def _request(self, method: str, path: str, body: Any = None, wait: bool = True) -> Any:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)
        try:
            conn.connect()
        except OSError as exc:
            raise EngineError(f"no engine at {self.url} ({exc}): start it with `make engine` "
                              f"(scripts/engine.sh start), or unset {URL_ENV} to run in this process") from None
        if wait and conn.sock is not None:
            conn.sock.settimeout(None)  # a stage takes as long as it takes; the task's own timeout governs
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise EngineError(f"the engine at {self.url} dropped the call ({exc}); read its log "
                              "(.engine/engine.log under the work dir)") from None
        finally:
            conn.close()
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            raise EngineError(f"the engine at {self.url} answered {resp.status} with no JSON") from None
        if resp.status in (401, 403):
            raise EngineError(f"the engine at {self.url} refused the call: wrong or missing {TOKEN_ENV}")
        if resp.status >= 400 and "error" not in answer:
            raise EngineError(f"the engine at {self.url} answered {resp.status}: {answer.get('message', raw[:200])}")
        return answer

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        answer = self._request("POST", "/call", {"name": name, "args": encode(list(args)), "kwargs": encode(kwargs)})
        if "error" in answer:
            raise RemoteError(name, answer["error"], answer.get("message", ""), answer.get("traceback", ""))
        return answer["result"]

    def status(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._request("GET", "/status", wait=False))

    def stop(self) -> None:
        self._request("POST", "/stop", {}, wait=False)


# --------------------------------------------------------------------------- server


def _gone(sock: socket.socket) -> bool:
    """True when the caller closed its end (the task was killed or timed out)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class Engine:
    """The serving side: one SparkSession, at most ``slots`` calls at once."""

    def __init__(self, profile: Profile, slots: int, token: str):
        from gridrisk.spark import get_spark

        self.profile, self.slots, self.token = profile, slots, token
        started = time.monotonic()
        self.spark = get_spark(profile, app_name=f"{profile.app_name}-engine")
        self.spark.range(1).count()  # the executors and Python workers are up before the first task
        self.startup_s = round(time.monotonic() - started, 1)
        self.started_at = time.time()
        self._slots = threading.Semaphore(slots)
        self._lock = threading.Lock()
        self.running: dict[int, dict[str, Any]] = {}
        self.waiting = 0
        self.served = 0
        self.failed = 0
        self._next = 0

    def status(self) -> dict[str, Any]:
        sc = self.spark.sparkContext
        with self._lock:
            return {"pid": os.getpid(), "profile": self.profile.name, "master": sc.master,
                    "application_id": sc.applicationId, "spark": self.spark.version, "slots": self.slots,
                    "running": list(self.running.values()), "waiting": self.waiting, "served": self.served,
                    "failed": self.failed, "startup_seconds": self.startup_s,
                    "up_seconds": round(time.time() - self.started_at, 1)}

    def call(self, name: str, args: list[Any], kwargs: dict[str, Any], caller: socket.socket | None) -> dict[str, Any]:
        from gridrisk.spark import use_session

        fn = ROUTED.get(name) or _load_routed(name)
        if fn is None:
            return {"error": "LookupError", "message": f"{name} is not a routed function; known: {', '.join(sorted(ROUTED))}"}
        with self._lock:
            self._next += 1
            call_id = self._next
            self.waiting += 1
        entry = {"id": call_id, "name": name, "args": _describe(args, kwargs), "since": time.time()}
        with self._slots:
            with self._lock:
                self.waiting -= 1
                entry["since"] = time.time()
                self.running[call_id] = entry
            session = self.spark.newSession()
            done = threading.Event()
            watcher = threading.Thread(target=self._watch, args=(caller, session, done, entry), daemon=True)
            watcher.start()
            try:
                with use_session(session):
                    result = fn(*decode(args), **decode(kwargs))
                return {"result": json.loads(json.dumps(result, default=str))}
            except Exception as exc:  # noqa: BLE001 — every failure goes back to the caller, with its traceback
                with self._lock:
                    self.failed += 1
                return {"error": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}
            finally:
                done.set()
                with self._lock:
                    self.served += 1
                    self.running.pop(call_id, None)

    @staticmethod
    def _watch(caller: socket.socket | None, session: Any, done: threading.Event, entry: dict[str, Any]) -> None:
        """Cancel the call's Spark jobs when its caller goes away (a killed or timed-out task)."""
        if caller is None:
            return
        while not done.wait(1.0):
            if _gone(caller):
                entry["cancelled"] = True
                print(f"engine: caller of call {entry['id']} ({entry['name']}) went away: cancelling its jobs",
                      file=sys.stderr, flush=True)
                session.interruptAll()
                return


#: The packages whose routed functions a caller may name (their module is imported on first call).
#: The engine is library code: it learns the stages it serves from its callers, it never imports
#: the layers above it (tests/test_layering.py).
ROUTABLE_PACKAGES = ("jobs.", "gridrisk.")


def _load_routed(name: str) -> Callable[..., Any] | None:
    """``module.function`` by name: import its module (under :data:`ROUTABLE_PACKAGES` only), which
    registers it if it is :func:`routed`; anything else is not callable from outside."""
    import importlib

    module = name.rpartition(".")[0]
    if not module.startswith(ROUTABLE_PACKAGES):
        return None
    try:
        importlib.import_module(module)
    except ImportError:
        return None
    return ROUTED.get(name)


def _describe(args: list[Any], kwargs: dict[str, Any]) -> str:
    def short(v: Any) -> str:
        if isinstance(v, dict) and "__profile__" in v:
            return f"<profile {v['__profile__']['name']}>"
        return repr(v)[:80]

    return ", ".join([short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()])


def make_handler(engine: Engine, server_stop: Callable[[], None]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:  # one line per call on stderr (the engine's log)
            sys.stderr.write(f"engine: {self.address_string()} {fmt % args}\n")

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the caller is gone; its jobs were cancelled

        def _authorised(self) -> bool:
            given = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if hmac.compare_digest(given.encode(), engine.token.encode()):
                return True
            self._send(401, {"message": "wrong or missing token"})
            return False

        def do_GET(self) -> None:  # noqa: N802 — http.server's naming
            if not self._authorised():
                return
            if self.path != "/status":
                self._send(404, {"message": f"no {self.path}"})
                return
            self._send(200, engine.status())

        def do_POST(self) -> None:  # noqa: N802
            if not self._authorised():
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            except ValueError:
                self._send(400, {"message": "body is not JSON"})
                return
            if self.path == "/stop":
                self._send(200, {"stopping": True})
                threading.Thread(target=server_stop, daemon=True).start()
                return
            if self.path != "/call" or not isinstance(body.get("name"), str):
                self._send(404, {"message": f"no {self.path} (POST /call with a name)"})
                return
            answer = engine.call(body["name"], body.get("args") or [], body.get("kwargs") or {}, self.connection)
            self._send(500 if "error" in answer else 200, answer)

    return Handler


def serve(profile: Profile, host: str, port: int, slots: int, state: Path, token: str) -> None:
    """Build the session, write ``state`` (URL, pid; mode 0600: it holds the token), serve until stopped."""
    _IN_ENGINE.set()
    os.environ.pop(URL_ENV, None)

    engine = Engine(profile, slots, token)
    server = ThreadingHTTPServer((host, port), make_handler(engine, lambda: server.shutdown()))
    server.daemon_threads = True
    url = f"http://{host}:{server.server_address[1]}"
    state.parent.mkdir(parents=True, exist_ok=True)
    tmp = state.with_name(f".{state.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"url": url, "token": token, "pid": os.getpid(), "profile": profile.name,
                   "master": engine.spark.sparkContext.master, "startup_seconds": engine.startup_s}, fh)
    tmp.replace(state)
    print(f"engine: {url} — profile {profile.name}, master {engine.spark.sparkContext.master}, {slots} slots, "
          f"session up in {engine.startup_s} s", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        state.unlink(missing_ok=True)
        engine.spark.stop()
        print("engine: stopped", file=sys.stderr, flush=True)


def read_state(state: Path) -> dict[str, Any] | None:
    try:
        return cast(dict[str, Any], json.loads(state.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


@routed
def spark_probe() -> dict[str, Any]:
    """A trivial Spark job in the engine (or here): what attaching costs a task, measured."""
    from gridrisk.spark import get_spark

    started = time.monotonic()
    n = get_spark().range(1000).selectExpr("sum(id) AS s").first()
    return {"sum": int(n["s"]) if n else None, "seconds": round(time.monotonic() - started, 3), "pid": os.getpid()}


def main(argv: list[str] | None = None) -> int:
    from gridrisk.config import load_profile

    parser = argparse.ArgumentParser(prog="python -m gridrisk.engine", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("serve", "status", "stop"))
    parser.add_argument("--state", type=Path, required=True, help="state file: URL, token, pid")
    parser.add_argument("--profile", default=None, help="the engine's profile (default: $GRIDRISK_PROFILE or local)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (the state file says which)")
    parser.add_argument("--slots", type=int, default=int(os.environ.get("GRIDRISK_ENGINE_SLOTS", DEFAULT_SLOTS)),
                        help="calls that run at once; the rest wait (default $GRIDRISK_ENGINE_SLOTS or 2)")
    args = parser.parse_args(argv)
    if args.action == "serve":
        token = os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)
        serve(load_profile(args.profile), args.host, args.port, max(1, args.slots), args.state.resolve(), token)
        return 0
    info = read_state(args.state)
    if info is None:
        print(f"engine: not running (no {args.state})", file=sys.stderr)
        return 3
    client = Client(info["url"], info["token"])
    try:
        if args.action == "status":
            print(json.dumps(client.status(), indent=2))
        else:
            client.stop()
            print(f"engine: stopping {info['url']} (pid {info['pid']})", file=sys.stderr)
    except EngineError as exc:
        print(f"engine: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    # Run as gridrisk.engine, not __main__: the routed registry and the in-engine flag must be the
    # ones jobs.pipeline's decorators see.
    from gridrisk.engine import main as _main

    sys.exit(_main())
