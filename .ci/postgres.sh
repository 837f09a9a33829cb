#!/usr/bin/env bash
# A throwaway PostgreSQL for the task-store tests (tests/test_taskstore.py).
#
#   eval "$(bash .ci/postgres.sh start)"   # sets GRIDRISK_TEST_PG_DSN (and GRIDRISK_TEST_PG_DIR)
#   bash .ci/postgres.sh stop              # shuts it down and removes its directory
#
# start installs Debian's postgresql if it is missing, initialises a cluster in a new temp dir
# (as user postgres when run as root), listens on 127.0.0.1 only, on the first free port from
# $GRIDRISK_PG_PORT (default 54329), and creates the role and database gridrisk_test with a
# random password. Only the export lines go to stdout; progress goes to stderr.
set -euo pipefail

STATE_FILE=${GRIDRISK_PG_STATE:-${TMPDIR:-/tmp}/gridrisk-pg.state}
BASE_PORT=${GRIDRISK_PG_PORT:-54329}

say() { echo "postgres.sh: $*" >&2; }

pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

as_owner() {  # run a PostgreSQL binary as the cluster's owner
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  if [ -f "$STATE_FILE" ]; then
    local old_dir
    old_dir=$(cat "$STATE_FILE")
    if [ -f "$old_dir/env" ] && as_owner "$(pg_bindir)/pg_ctl" -D "$old_dir/data" status >/dev/null 2>&1; then
      say "already running in $old_dir"
      cat "$old_dir/env"
      return
    fi
    rm -f "$STATE_FILE"
  fi
  local bin
  bin=$(pg_bindir || true)
  if [ -z "$bin" ]; then
    say "installing postgresql from Debian's packages"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
    bin=$(pg_bindir)
  fi

  local port=$BASE_PORT
  while ! port_free "$port"; do
    port=$((port + 1))
    [ "$port" -lt $((BASE_PORT + 50)) ] || { say "no free port from $BASE_PORT"; exit 1; }
  done

  local dir password
  dir=$(mktemp -d "${TMPDIR:-/tmp}/gridrisk-pg.XXXXXX")
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

  say "initdb in $dir (PostgreSQL $("$bin/postgres" --version | awk '{print $3}'))"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off" start >&2 \
    || { cat "$dir/server.log" >&2; exit 1; }
  echo "$dir" >"$STATE_FILE"

  as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres >&2 <<SQL
CREATE ROLE gridrisk_test LOGIN PASSWORD '$password';
CREATE DATABASE gridrisk_test OWNER gridrisk_test;
SQL
  {
    echo "export GRIDRISK_TEST_PG_DSN=postgresql://gridrisk_test:$password@127.0.0.1:$port/gridrisk_test"
    echo "export GRIDRISK_TEST_PG_DIR=$dir"
  } | tee "$dir/env"
  say "listening on 127.0.0.1:$port; stop with: bash .ci/postgres.sh stop"
}

stop() {
  local dir=${GRIDRISK_TEST_PG_DIR:-}
  [ -n "$dir" ] || { [ -f "$STATE_FILE" ] && dir=$(cat "$STATE_FILE"); } || true
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    say "nothing to stop"
    rm -f "$STATE_FILE"
    return
  fi
  case "$dir" in */gridrisk-pg.*) ;; *) say "refusing to remove $dir"; exit 1 ;; esac
  local bin
  bin=$(pg_bindir || true)
  if [ -n "$bin" ] && [ -d "$dir/data" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  fi
  rm -rf "$dir"
  rm -f "$STATE_FILE"
  say "stopped and removed $dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: bash .ci/postgres.sh start|stop" >&2; exit 2 ;;
esac
