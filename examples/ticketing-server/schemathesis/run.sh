#!/usr/bin/env bash
# Fuzzes the ticketing server's API from its own OpenAPI document with
# Schemathesis: builds the server, starts it on the memory backend on a
# free port (rate limits raised so that the fuzzer meets the API, not the
# limiter), signs in as a demo user, runs Schemathesis against
# /openapi.json with that session, stops the server.
#
#   examples/ticketing-server/schemathesis/run.sh
#
# Goal: no 5xx answer and no answer that breaks the schema. Schemathesis is
# installed (pinned) into a virtualenv under target/ on first use. The
# report (JUnit XML, and the server's log) goes to target/schemathesis/.
# Environment: ST_MAX_EXAMPLES (default 25 per operation), ST_SEED (default
# 1), ST_USER (demo user whose session is used, default admin), ST_CHECKS
# (default not_a_server_error,response_schema_conformance; `all` for every
# check), ST_PHASES (default examples,coverage,fuzzing).
# Non-interactive; exits non-zero on failure; the last line is the summary.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"

SCHEMATHESIS_VERSION="4.32.5"

tool=schemathesis
# shellcheck source=../scripts/harness.sh
source "$here/../scripts/harness.sh"

command -v curl >/dev/null || apt_install curl
command -v python3 >/dev/null || apt_install python3 python3-venv
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv

venv="$target_dir/schemathesis-venv"
st="$venv/bin/st"
if ! "$st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || fail "python3 -m venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" ||
    fail "pip install schemathesis==$SCHEMATHESIS_VERSION"
fi

build_server

work="$target_dir/schemathesis"
rm -rf "$work"
mkdir -p "$work"
cat >"$work/server.toml" <<EOF
[limits]
holds_per_minute = 1000000
holds_burst = 1000000
checkouts_per_minute = 1000000
checkouts_burst = 1000000
queue_per_minute = 1000000
queue_burst = 1000000
logins_per_minute = 1000000
logins_burst = 1000000
EOF

start_server --config "$work/server.toml" --backend memory --data-dir "$work/data"

user="${ST_USER:-admin}"
token="$(curl -fsS -H 'Content-Type: application/json' \
  -d "{\"email\":\"$user@example.com\",\"password\":\"$user-demo\"}" "$base/api/login" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')" || fail "demo login as $user"
say "server ready on $base, signed in as $user"

# Left out: the live stream (it never ends) and signing out (it would end
# the session the run uses).
status=0
(cd "$work" && "$st" run "$base/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks "${ST_CHECKS:-not_a_server_error,response_schema_conformance}" \
  --exclude-path '/api/shows/{show_id}/live' \
  --exclude-path '/api/logout' \
  --phases "${ST_PHASES:-examples,coverage,fuzzing}" \
  --max-examples "${ST_MAX_EXAMPLES:-25}" \
  --seed "${ST_SEED:-1}" \
  --workers 2 \
  --request-timeout 20 \
  --no-color \
  --warnings off \
  --generation-database none \
  --report junit --report-junit-path "$work/junit.xml") \
  >"$work/output.txt" 2>&1 || status=$?

# The closing lines name the failures; the summary counts them.
tail -n 60 "$work/output.txt"
summary="$(grep -A1 '^Test cases:' "$work/output.txt" | tail -n 1 | sed 's/^ *//; s/ *$//' || true)"
failures="$(sed -n '/^Failures:/,/^$/p' "$work/output.txt" | grep -E 'ST[0-9]+' | sed 's/^ *[^A-Z]*//' | paste -sd ';' - || true)"
if [ "$status" = 0 ]; then
  echo "schemathesis: ok: ${summary:-no failures}"
else
  echo "schemathesis: FAILED (exit $status): ${summary:-see $work/output.txt}${failures:+ ($failures)}"
fi
exit "$status"
