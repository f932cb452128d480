#!/usr/bin/env bash
# Runs every test of the workspace: unit, conformance and state-machine tests
# on every backend (against a real PostgreSQL and a real Redis), doctests,
# the loom model checks of the memory backend, then the ticketing server
# example in headless Chromium (examples/ticketing-server/browser/run.sh,
# screenshots under target/screenshots/) and its OpenAPI document under
# Schemathesis (examples/ticketing-server/schemathesis/run.sh).
#
# PostgreSQL is taken from DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/test) when a login there works and may
# create databases (every test makes its own scratch database). Redis is
# taken from REDIS_URL only when you set it: test data is never written
# into a Redis you did not name. Otherwise a throwaway server is started on
# a free port for the duration of the run (installed with apt-get first if
# its binaries are missing; that needs root) and stopped afterwards.
#
# The Redis Cluster tests (crates/booking-redis/tests/cluster.rs) run on the
# cluster named by REDIS_CLUSTER_URLS (comma-separated seed node URLs). When
# it is unset, a throwaway 3-master Redis Cluster is started on free ports
# from the same redis-server binary and stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
started_at=$SECONDS

scratch=""
cleanup() {
  if [[ -n "${PG_DIR:-}" ]]; then as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true; fi
  if [[ -n "${REDIS_PORT_STARTED:-}" ]]; then redis-cli -p "$REDIS_PORT_STARTED" shutdown nosave >/dev/null 2>&1 || true; fi
  for port in ${CLUSTER_PORTS_STARTED:-}; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
  if [[ -n "$scratch" ]]; then rm -rf "$scratch"; fi
}
trap cleanup EXIT

# A port nothing listens on (random tries; no python needed).
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port found" >&2; return 1
}

# Runs a command as the postgres user (initdb refuses root), from / so
# that root's private home directory is not the working directory.
as_postgres() {
  if [[ "$(id -u)" == 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
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
  if [[ "$(id -u)" != 0 ]]; then echo "missing $*: install it (apt-get needs root) or set the server URLs" >&2; exit 1; fi
  if [[ -z "${APT_UPDATED:-}" ]]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# True when a real login works at the URL and the role may create the
# scratch databases the tests make (a packaged server asking for a
# password, say, does not qualify).
pg_usable() {
  local psql; psql="$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$psql" ]] || return 1
  reachable "$1" || return 1
  [[ "$(PGCONNECT_TIMEOUT=3 "$psql" "$1" -w -XAtc \
    "select rolcreatedb or rolsuper from pg_roles where rolname = current_user" 2>/dev/null)" == t ]]
}

ensure_postgres() {
  if pg_usable "$DATABASE_URL"; then echo "PostgreSQL: using $DATABASE_URL"; return; fi
  echo "PostgreSQL: $DATABASE_URL is not usable (no server, no login or no CREATEDB); starting a throwaway server"
  PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -z "$PG_BIN" || ! -x "$PG_BIN/initdb" ]]; then
    apt_install postgresql
    PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  fi
  scratch="${scratch:-$(mktemp -d)}"; chmod 755 "$scratch"
  PG_DIR="$scratch/pg"; mkdir -p "$PG_DIR"
  if [[ "$(id -u)" == 0 ]]; then chown postgres "$PG_DIR"; fi
  local port; port="$(free_port)"
  as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
  as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -l "$PG_DIR/log" \
    -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
  as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres test
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/test"
  echo "PostgreSQL: started a throwaway server at $DATABASE_URL"
}

ensure_redis() {
  if [[ -n "${REDIS_URL:-}" ]]; then
    if reachable "$REDIS_URL"; then echo "Redis: using $REDIS_URL"; return; fi
    echo "Redis: REDIS_URL=$REDIS_URL does not answer" >&2; exit 1
  fi
  command -v redis-server >/dev/null || apt_install redis-server
  local port; port="$(free_port)"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null
  REDIS_PORT_STARTED="$port"
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export REDIS_URL="redis://127.0.0.1:$port"
  echo "Redis: started a throwaway server at $REDIS_URL"
}

# A throwaway Redis Cluster of 3 masters (no replicas), in memory only,
# each node with its client and cluster-bus port picked free.
ensure_redis_cluster() {
  if [[ -n "${REDIS_CLUSTER_URLS:-}" ]]; then echo "Redis Cluster: using $REDIS_CLUSTER_URLS"; return; fi
  command -v redis-server >/dev/null || apt_install redis-server
  scratch="${scratch:-$(mktemp -d)}"; chmod 755 "$scratch"
  local dir="$scratch/redis-cluster"; mkdir -p "$dir"
  local port bus nodes=() urls=()
  for _ in 1 2 3; do
    port="$(free_port)"; bus="$(free_port)"
    redis-server --port "$port" --cluster-port "$bus" --bind 127.0.0.1 \
      --cluster-enabled yes --cluster-config-file "$dir/nodes-$port.conf" --cluster-node-timeout 5000 \
      --dir "$dir" --logfile "$dir/redis-$port.log" --save '' --appendonly no --daemonize yes >/dev/null
    CLUSTER_PORTS_STARTED="${CLUSTER_PORTS_STARTED:-} $port"
    nodes+=("127.0.0.1:$port"); urls+=("redis://127.0.0.1:$port")
  done
  for node in "${nodes[@]}"; do
    for _ in $(seq 50); do redis-cli -p "${node##*:}" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 \
    || { cat "$dir/create.log"; echo "Redis Cluster: creation failed" >&2; return 1; }
  # Every node must see every slot served before the tests start.
  local ok
  for _ in $(seq 150); do
    ok=1
    for node in "${nodes[@]}"; do
      redis-cli -p "${node##*:}" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || ok=""
    done
    [[ -n "$ok" ]] && break
    sleep 0.2
  done
  if [[ -z "$ok" ]]; then echo "Redis Cluster: not ready after 30 s (logs in $dir)" >&2; return 1; fi
  REDIS_CLUSTER_URLS="$(IFS=,; echo "${urls[*]}")"
  export REDIS_CLUSTER_URLS
  echo "Redis Cluster: started a throwaway 3-master cluster at $REDIS_CLUSTER_URLS"
}

ensure_postgres
ensure_redis
ensure_redis_cluster

echo "== cargo test (workspace)"
cargo test --workspace

echo "== loom model checks (booking-memory)"
# Its own target directory: the cfg flag would otherwise rebuild the main one.
RUSTFLAGS="--cfg booking_loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}" \
  CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom" cargo test -p booking-memory --release --test loom

echo "== ticketing server in headless Chromium"
examples/ticketing-server/browser/run.sh

echo "== ticketing server API under Schemathesis"
examples/ticketing-server/schemathesis/run.sh

echo "== done in $((SECONDS - started_at)) s"
