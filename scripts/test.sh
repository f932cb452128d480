#!/usr/bin/env bash
# Runs every test of the workspace: unit, conformance and state-machine tests
# on every backend (against a real PostgreSQL and a real Redis), doctests,
# and the loom model checks of the memory backend.
#
# PostgreSQL is taken from DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/test) and Redis from REDIS_URL (default
# redis://127.0.0.1:6379). When either is unreachable, a throwaway server is
# started on a free port for the duration of the run (installed with apt-get
# first if its binaries are missing) and stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

scratch=""
cleanup() {
  if [[ -n "${PG_DIR:-}" ]]; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true; fi
  if [[ -n "${REDIS_PORT_STARTED:-}" ]]; then redis-cli -p "$REDIS_PORT_STARTED" shutdown nosave >/dev/null 2>&1 || true; fi
  if [[ -n "$scratch" ]]; then rm -rf "$scratch"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# host:port of a URL such as scheme://user@host:port/db
host_port() {
  local rest="${1#*://}"; rest="${rest#*@}"; rest="${rest%%/*}"
  echo "$rest"
}

reachable() {
  local hp; hp="$(host_port "$1")"
  timeout 2 bash -c "exec 3<>/dev/tcp/${hp%:*}/${hp##*:}" 2>/dev/null
}

apt_install() {
  if [[ -z "${APT_UPDATED:-}" ]]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if reachable "$DATABASE_URL"; then echo "PostgreSQL: using $DATABASE_URL"; return; fi
  PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -z "$PG_BIN" || ! -x "$PG_BIN/initdb" ]]; then
    apt_install postgresql
    PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  fi
  scratch="${scratch:-$(mktemp -d)}"; chmod 755 "$scratch"
  PG_DIR="$scratch/pg"; mkdir -p "$PG_DIR"; chown postgres "$PG_DIR"
  local port; port="$(free_port)"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -l "$PG_DIR/log" \
    -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
  runuser -u postgres -- "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres test
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/test"
  echo "PostgreSQL: started a throwaway server at $DATABASE_URL"
}

ensure_redis() {
  if reachable "$REDIS_URL"; then echo "Redis: using $REDIS_URL"; return; fi
  command -v redis-server >/dev/null || apt_install redis-server
  local port; port="$(free_port)"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null
  REDIS_PORT_STARTED="$port"
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export REDIS_URL="redis://127.0.0.1:$port"
  echo "Redis: started a throwaway server at $REDIS_URL"
}

ensure_postgres
ensure_redis

echo "== cargo test (workspace)"
cargo test --workspace

echo "== loom model checks (booking-memory)"
RUSTFLAGS="--cfg booking_loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}" CARGO_TARGET_DIR=target/loom \
  cargo test -p booking-memory --release --test loom
