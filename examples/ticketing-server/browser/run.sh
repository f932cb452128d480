#!/usr/bin/env bash
# The web front end's browser test: builds the ticketing server, starts it
# on the memory backend on a free port, waits for /readyz, runs e2e.mjs in
# headless Chromium (Debian's, never a downloaded one), stops the server.
#
#   examples/ticketing-server/browser/run.sh
#
# Installs what is missing (chromium with apt-get, which needs root;
# playwright-core with npm ci). Screenshots go to target/screenshots/, the
# server's log to target/browser-test/server.log. BROWSER_BACKEND picks
# another backend (postgres, redis, redis+postgres; with DATABASE_URL /
# REDIS_URL). Non-interactive; exits non-zero on failure; the last line is
# the summary.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"

tool=browser
# shellcheck source=../scripts/harness.sh
source "$here/../scripts/harness.sh"

chromium_bin="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium_bin" ] || apt_install chromium fonts-dejavu-core
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || fail "playwright-core needs Node.js 20 or later; this is $(node --version)"
command -v curl >/dev/null || apt_install curl

if [ ! -f "$here/node_modules/playwright-core/package.json" ] ||
  [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  say "installing playwright-core (npm ci)"
  # The package's own browser download is never wanted: Debian's chromium is used.
  (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    fail "npm ci"
fi

build_server

work="$target_dir/browser-test"
rm -rf "$work"
mkdir -p "$work"

backend="${BROWSER_BACKEND:-memory}"
# Redis keys of this run only, removed at the end.
prefix="browser-test-$$-$RANDOM:"
# Google Wallet save links and Apple Wallet passes signed with the test
# suite's throwaway key and self-signed certificate.
cat >"$work/server.toml" <<EOF
redis_prefix = "$prefix"

[google_wallet]
issuer_id = "3388000000022222228"
service_account_email = "tickets@example.iam.gserviceaccount.com"
issuer_name = "Tickets (browser test)"
key_file = "$root/examples/ticketing-server/tests/fixtures/google-wallet-test-key.pem"

[apple_wallet]
pass_type_id = "pass.example.tickets.test"
team_id = "A1B2C3D4E5"
organization_name = "Tickets (browser test)"
certificate_file = "$root/examples/ticketing-server/tests/fixtures/apple-wallet-test-cert.pem"
key_file = "$root/examples/ticketing-server/tests/fixtures/apple-wallet-test-key.pem"
EOF
# The run's Redis keys go when the server has stopped.
after_stop() {
  case "$backend" in
    *redis*)
      if command -v redis-cli >/dev/null; then
        redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379}" --scan --pattern "${prefix}*" |
          xargs -r -n 500 redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379}" del >/dev/null 2>&1 || true
      fi
      ;;
  esac
}
start_server --config "$work/server.toml" --backend "$backend" --data-dir "$work/data"
say "server ready on $base"

shots="$target_dir/screenshots"
rm -rf "$shots"
mkdir -p "$shots"
status=0
(cd "$here" && BASE_URL="$base" CHROMIUM="$chromium_bin" SCREENSHOT_DIR="$shots" node e2e.mjs) || status=$?
if [ "$status" != 0 ]; then
  say "server log (last lines):"
  tail -n 20 "$work/server.log" >&2 || true
fi
exit "$status"
