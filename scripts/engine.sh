#!/usr/bin/env bash
# The shared Spark engine Airflow tasks attach to (gridrisk/engine.py), and a Spark standalone
# cluster on this machine for it or for `--profile cluster` (gridrisk/standalone.py).
#
#   eval "$(bash scripts/engine.sh start)"   # start (or find) the engine; prints the export lines
#                                            # GRIDRISK_ENGINE_URL / GRIDRISK_ENGINE_TOKEN on stdout
#   bash scripts/engine.sh status            # JSON: master, running and waiting calls, served, slots
#   bash scripts/engine.sh stop
#   eval "$(bash scripts/engine.sh cluster-start)"   # master + 2 workers; exports GRIDRISK_SPARK_MASTER
#   bash scripts/engine.sh cluster-status | cluster-stop
#
# State (URL, token, pid, logs) lives in $GRIDRISK_WORKDIR/.engine (default: the repository), the
# token in a 0600 file there, never in the repository. The engine's profile is
# $GRIDRISK_ENGINE_PROFILE, else $GRIDRISK_PROFILE, else local; GRIDRISK_ENGINE_SLOTS (default 2)
# caps the calls that run at once. ENGINE_WORKERS / ENGINE_WORKER_CORES / ENGINE_WORKER_MEMORY
# size the standalone cluster (default 2 × 1 core × 1g). Progress goes to stderr.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "engine.sh: no $PY — install the project first (make venv)" >&2; exit 1; }
WORKDIR=${GRIDRISK_WORKDIR:-$REPO}
STATE_DIR=${GRIDRISK_ENGINE_DIR:-$WORKDIR/.engine}
STATE=$STATE_DIR/engine.json
LOG=$STATE_DIR/engine.log
START_TIMEOUT=${ENGINE_START_TIMEOUT:-300}

export GRIDRISK_WORKDIR=$WORKDIR
export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$PY}
# The engine and its Python workers import this checkout's code (jobs/, gridrisk/).
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
unset GRIDRISK_ENGINE_URL  # the engine runs its calls itself

say() { echo "engine.sh: $*" >&2; }

exports() {
  "$PY" - "$STATE" <<'PYEOF'
import json, shlex, sys
s = json.load(open(sys.argv[1]))
print(f"export GRIDRISK_ENGINE_URL={shlex.quote(s['url'])}")
print(f"export GRIDRISK_ENGINE_TOKEN={shlex.quote(s['token'])}")
PYEOF
}

running() { [ -f "$STATE" ] && "$PY" -m gridrisk.engine status --state "$STATE" >/dev/null 2>&1; }

start() {
  if running; then
    say "already running ($(grep -o '"url": "[^"]*"' "$STATE"))"
    exports
    return
  fi
  mkdir -p "$STATE_DIR"
  chmod 700 "$STATE_DIR"
  rm -f "$STATE"
  local profile=${GRIDRISK_ENGINE_PROFILE:-${GRIDRISK_PROFILE:-local}}
  say "starting the engine (profile $profile; log $LOG)"
  setsid nohup "$PY" -m gridrisk.engine serve --profile "$profile" --state "$STATE" >>"$LOG" 2>&1 </dev/null &
  local pid=$! waited=0
  echo "$pid" > "$STATE_DIR/engine.pid"
  until [ -f "$STATE" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then say "the engine exited during start-up; the end of $LOG:"; tail -n 20 "$LOG" >&2; exit 1; fi
    [ "$waited" -lt "$START_TIMEOUT" ] || { say "no engine after ${START_TIMEOUT} s; read $LOG"; exit 1; }
    sleep 1; waited=$((waited + 1))
  done
  say "$(tail -n 1 "$LOG")"
  exports
}

stop() {
  if [ -f "$STATE" ] && "$PY" -m gridrisk.engine stop --state "$STATE"; then
    local pid; pid=$(cat "$STATE_DIR/engine.pid" 2>/dev/null || echo)
    for _ in $(seq 60); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  fi
  local pid; pid=$(cat "$STATE_DIR/engine.pid" 2>/dev/null || echo)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then say "pid $pid still there: SIGTERM"; kill -- "-$pid" 2>/dev/null || kill "$pid"; fi
  rm -f "$STATE" "$STATE_DIR/engine.pid"
  say "stopped"
}

cluster() {
  "$PY" -m gridrisk.standalone "$1" --dir "$STATE_DIR/standalone" --workers "${ENGINE_WORKERS:-2}" \
    --cores "${ENGINE_WORKER_CORES:-1}" --memory "${ENGINE_WORKER_MEMORY:-1g}"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) "$PY" -m gridrisk.engine status --state "$STATE" ;;
  cluster-start) cluster start ;;
  cluster-stop) cluster stop ;;
  cluster-status) cluster status ;;
  *) echo "usage: bash scripts/engine.sh start|stop|status|cluster-start|cluster-stop|cluster-status" >&2; exit 2 ;;
esac
