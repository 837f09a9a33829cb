#!/usr/bin/env bash
# Airflow on this machine for the gridrisk DAGs: scheduler, DAG processor, triggerer and the
# API server/UI in one process tree (`airflow standalone`: LocalExecutor, SQLite, simple auth).
#
#   bash scripts/airflow_local.sh                 # start it; Ctrl-C stops everything
#   bash scripts/airflow_local.sh dags list       # any other arguments: that airflow CLI command,
#                                                 # with the same settings (the written airflow.cfg
#                                                 # does not hold them)
# State lives in <repo>/airflow_home (git-ignored; delete it to start over). The pipeline runs
# with the local profile (lake, inbox, task store under the repository) unless GRIDRISK_PROFILE
# says otherwise. AIRFLOW_PORT changes the port (default 8080). See docs/airflow.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
[ -x "$VENV/bin/airflow" ] || { echo "airflow_local.sh: no $VENV/bin/airflow — install the project first" >&2; exit 1; }

# standalone starts its components as `airflow …` from PATH: it must be this venv's.
export PATH="$VENV/bin:$PATH"
export AIRFLOW_HOME="$REPO/airflow_home"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
# The UI and the task-execution API share one server; workers find it through base_url,
# so a port change must move both. Only this machine can reach it unless AIRFLOW_HOST says so.
PORT=${AIRFLOW_PORT:-8080}
export AIRFLOW__API__PORT=$PORT
export AIRFLOW__API__HOST=${AIRFLOW_HOST:-127.0.0.1}
export AIRFLOW__API__BASE_URL="http://localhost:$PORT"

export GRIDRISK_PROFILE=${GRIDRISK_PROFILE:-local}
export GRIDRISK_WORKDIR=${GRIDRISK_WORKDIR:-$REPO}
export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$VENV/bin/python}

mkdir -p "$AIRFLOW_HOME"
[ $# -eq 0 ] || exec airflow "$@"
eval "$(VENV=$VENV bash "$REPO/scripts/engine.sh" start)"  # tasks attach to one shared Spark engine (docs/scaling.md)
cat <<EOF
gridrisk Airflow (profile $GRIDRISK_PROFILE, workdir $GRIDRISK_WORKDIR)
  UI:        http://localhost:$PORT   (user: admin)
  password:  $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated (written on first start)
  CLI:       bash scripts/airflow_local.sh dags list   (same settings)
  DAGs start paused: unpause gridrisk_daily in the UI or with
             bash scripts/airflow_local.sh dags unpause gridrisk_daily
EOF
exec airflow standalone
