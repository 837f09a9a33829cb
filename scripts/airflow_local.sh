#!/usr/bin/env bash
# Airflow on this machine for the gridrisk DAGs: scheduler, DAG processor, triggerer and the
# API server/UI in one process tree (`airflow standalone`, LocalExecutor, simple auth).
#
#   bash scripts/airflow_local.sh                 # start it; Ctrl-C stops Airflow (not the database)
#   bash scripts/airflow_local.sh dags list       # any other arguments: that airflow CLI command,
#                                                 # with the same settings (the written airflow.cfg
#                                                 # does not hold them)
#   bash scripts/airflow_local.sh db-stop         # stop the metadata database
#
# State lives in <repo>/airflow_home (git-ignored; stop the database and delete it to start over).
#
# Metadata database: a PostgreSQL cluster of its own in airflow_home/postgres, on 127.0.0.1 only
# (AIRFLOW_PG_PORT, default 54339), started here when it is not running. SQLite — Airflow's
# default — cannot take a scheduler, a triggerer and a backfill writing at once ("database is
# locked"); AIRFLOW_DB=sqlite still uses it (one process at a time: `dags test`, a quick look).
#
# Sizes for a small machine (2 cores): PARALLELISM task processes at most (default 4; standalone
# otherwise keeps 32 idle executor processes), and the pool `spark` with SPARK_SLOTS slots
# (default 2) — every Spark task of every run and backfill takes one, so a backfill beside a
# scheduled run never starts more Spark applications than that. Sensors wait in the triggerer
# and take no slot. The pipeline runs with the local profile unless GRIDRISK_PROFILE says
# otherwise. AIRFLOW_PORT changes the port (default 8080). See docs/airflow.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
[ -x "$VENV/bin/airflow" ] || { echo "airflow_local.sh: no $VENV/bin/airflow — install the project first" >&2; exit 1; }

# standalone starts its components as `airflow …` from PATH: it must be this venv's.
export PATH="$VENV/bin:$PATH"
export AIRFLOW_HOME=${AIRFLOW_HOME:-$REPO/airflow_home}
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM=${PARALLELISM:-4}
# Dates on the CLI (backfill --from-date) and the DAG's days are UTC; the UI shows the browser's
# time zone (user menu → Timezone: pick Asia/Shanghai). Keep Airflow's own default at UTC.
export AIRFLOW__CORE__DEFAULT_TIMEZONE=utc
# The UI and the task-execution API share one server; workers find it through base_url,
# so a port change must move both. Only this machine can reach it unless AIRFLOW_HOST says so.
PORT=${AIRFLOW_PORT:-8080}
export AIRFLOW__API__PORT=$PORT
export AIRFLOW__API__HOST=${AIRFLOW_HOST:-127.0.0.1}
export AIRFLOW__API__BASE_URL="http://localhost:$PORT"

export GRIDRISK_PROFILE=${GRIDRISK_PROFILE:-local}
export GRIDRISK_WORKDIR=${GRIDRISK_WORKDIR:-$REPO}
export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$VENV/bin/python}
# Every Airflow process (DAG processor, triggerer, task) imports this checkout's gridrisk and jobs,
# whichever checkout the venv was installed from.
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
SPARK_SLOTS=${SPARK_SLOTS:-${GRIDRISK_ENGINE_SLOTS:-2}}

mkdir -p "$AIRFLOW_HOME"
say() { echo "airflow_local.sh: $*" >&2; }

# --------------------------------------------------------------------------- metadata database
PG_DIR="$AIRFLOW_HOME/postgres"
PG_PORT=${AIRFLOW_PG_PORT:-54339}
pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}
as_owner() {  # PostgreSQL refuses to run as root: the cluster belongs to user postgres then
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_up() {
  local bin
  bin=$(pg_bindir) || { say "PostgreSQL is not installed (apt-get install postgresql), or set AIRFLOW_DB=sqlite"; exit 1; }
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    say "creating the metadata database in $PG_DIR"
    mkdir -p "$PG_DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"
    chmod 700 "$PG_DIR"
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$PG_DIR/.password.tmp"
    mv "$PG_DIR/.password.tmp" "$AIRFLOW_HOME/.pg_password"
    chmod 600 "$AIRFLOW_HOME/.pg_password"
    as_owner "$bin/initdb" -D "$PG_DIR/data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$AIRFLOW_HOME/pg_initdb.log" 2>&1 \
      || { cat "$AIRFLOW_HOME/pg_initdb.log" >&2; exit 1; }
    FRESH_DB=1
  fi
  if ! as_owner "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR" start >/dev/null \
      || { cat "$PG_DIR/server.log" >&2; exit 1; }
  fi
  if [ "${FRESH_DB:-0}" = 1 ]; then
    as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres <<SQL
CREATE ROLE airflow LOGIN PASSWORD '$(cat "$AIRFLOW_HOME/.pg_password")';
CREATE DATABASE airflow OWNER airflow;
SQL
  fi
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg://airflow:$(cat "$AIRFLOW_HOME/.pg_password")@127.0.0.1:$PG_PORT/airflow"
  # psycopg 3 speaks asyncio too; Airflow would otherwise derive an asyncpg URL (not installed).
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC=$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
}
pg_down() {
  local bin
  bin=$(pg_bindir) || exit 0
  [ -f "$PG_DIR/data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop || true
}

case "${1:-}" in
  db-stop) pg_down; exit 0 ;;
esac
if [ "${AIRFLOW_DB:-postgres}" = sqlite ]; then
  say "SQLite metadata: one Airflow process at a time (a scheduler beside a backfill locks it)"
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
else
  pg_up
fi

# The shared Spark engine (scripts/engine.sh, when this checkout has it): tasks attach to one
# long-lived Spark application instead of starting a JVM each. GRIDRISK_ENGINE=off skips it.
if [ $# -eq 0 ] && [ -f "$REPO/scripts/engine.sh" ] && [ "${GRIDRISK_ENGINE:-on}" != off ] && [ -z "${GRIDRISK_ENGINE_URL:-}" ]; then
  eval "$(bash "$REPO/scripts/engine.sh" start)"
fi

# The schema, then the Spark pool (idempotent: re-running sets the same size).
airflow db migrate >"$AIRFLOW_HOME/db_migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db_migrate.log" >&2; exit 1; }
airflow pools set spark "$SPARK_SLOTS" "Spark applications at once, across every run and backfill (gridrisk)" >/dev/null

[ $# -eq 0 ] || exec airflow "$@"
cat <<EOF
gridrisk Airflow (profile $GRIDRISK_PROFILE, workdir $GRIDRISK_WORKDIR)
  UI:        http://localhost:$PORT   (user: admin; times in your browser's zone — user menu → Timezone)
  password:  $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated (written on first start)
  CLI:       bash scripts/airflow_local.sh dags list   (same settings)
  metadata:  ${AIRFLOW_DB:-postgres} ($AIRFLOW_HOME), pool spark = $SPARK_SLOTS slots, parallelism $AIRFLOW__CORE__PARALLELISM
  DAGs start paused: unpause gridrisk_daily and gridrisk_report in the UI or with
             bash scripts/airflow_local.sh dags unpause gridrisk_daily
EOF
exec airflow standalone
