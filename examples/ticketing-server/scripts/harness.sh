# Shared by browser/run.sh and schemathesis/run.sh (sourced, not run):
# messages, installing missing Debian packages, building the server and
# running it on a free port until the calling script exits.
#
# The caller sets `tool` (the prefix of its messages) and `root` (the
# workspace) before sourcing.

say() { echo "$tool: $*" >&2; }
fail() {
  echo "$tool: FAILED: $*"
  exit 1
}

# Installs Debian packages (needs root).
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    fail "missing $*: install it (apt-get install -y $*) or run as root"
  fi
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

target_dir="${CARGO_TARGET_DIR:-$root/target}"

# Builds the server (PROFILE=release for an optimised build); sets `server`
# to the binary.
build_server() {
  local profile="${PROFILE:-debug}"
  say "building the server ($profile)"
  if [ "$profile" = release ]; then
    cargo build --quiet --release -p booking-ticketing-server --bin ticketing-server || fail "cargo build"
  else
    cargo build --quiet -p booking-ticketing-server --bin ticketing-server || fail "cargo build"
  fi
  server="$target_dir/$profile/ticketing-server"
}

# A TCP port nothing listens on now (random tries).
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  fail "no free port found"
}

# Starts the server with the given arguments plus `--listen 127.0.0.1:$port`,
# its output in `$work/server.log`, and waits until /readyz answers. Sets
# `pid` and `base`; the server is stopped when the calling script exits
# (then `after_stop`, if the caller defines it, runs).
start_server() {
  local port
  port="$(free_port)"
  base="http://127.0.0.1:$port"
  "$server" "$@" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
  pid=$!
  trap stop_server EXIT
  local ready=""
  for _ in $(seq 300); do
    if curl -fsS "$base/readyz" >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    tail -n 30 "$work/server.log" >&2 || true
    fail "the server did not become ready on $base"
  fi
}

# Stops the server: SIGTERM, then SIGKILL after 5 s.
stop_server() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  if declare -F after_stop >/dev/null; then after_stop; fi
}
