#!/usr/bin/env bash
# Runs every doorward test on a fresh machine: unit tests, then the integration suite on SQLite
# and on PostgreSQL. Unless TEST_DATABASE_URL points at a server already, a throwaway PostgreSQL
# cluster is started here (its binaries run as the `postgres` OS user, since PostgreSQL refuses
# root) and stopped again on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_dir=""
chromedriver_pid=""
cleanup() {
  if [ -n "$chromedriver_pid" ]; then
    kill "$chromedriver_pid" 2>/dev/null || true
  fi
  if [ -n "$pg_dir" ]; then
    as_pg pg_ctl -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
}
trap cleanup EXIT

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

find_pg_bin() {
  command -v initdb >/dev/null 2>&1 && return 0
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && PATH="$dir:$PATH" && return 0
  done
  echo "tests/run.sh: PostgreSQL server programs (initdb, pg_ctl) not found" >&2
  return 1
}

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  find_pg_bin
  pg_dir=$(mktemp -d /tmp/doorward-pg.XXXXXX)
  chmod 755 "$pg_dir"
  [ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_pg initdb --auth=trust -U postgres -D "$pg_dir/data" >"$pg_dir/initdb.log" 2>&1
  as_pg pg_ctl -D "$pg_dir/data" -w -l "$pg_dir/log" \
    -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=500 -c fsync=off" start >/dev/null
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "tests/run.sh: throwaway PostgreSQL on 127.0.0.1:$port"
fi

# The forward-auth tests run a real nginx (tests/api/forward_auth.rs) with the shipped
# docs/nginx/doorward.conf, started and stopped by the tests themselves. Debian's package is
# installed here when missing, with service starts refused: no system nginx is left running.
if [ -z "${NGINX:-}" ] && [ ! -x /usr/sbin/nginx ]; then
  echo "tests/run.sh: installing nginx"
  export DEBIAN_FRONTEND=noninteractive
  policy_rc=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy_rc" && chmod +x "$policy_rc" && made_policy=1
  fi
  installed=0
  apt-get update -qq && apt-get install -y -qq nginx >/dev/null || installed=$?
  if [ -n "$made_policy" ]; then rm -f "$policy_rc"; fi
  [ "$installed" = 0 ] || { echo "tests/run.sh: cannot install nginx" >&2; exit 1; }
fi

# The browser tests drive a real headless Chromium through chromedriver (tests/api/browser.rs).
# Both come from Debian's packages, installed here when missing; chromedriver is started on a
# free port and stopped on exit. Set CHROMEDRIVER_URL to use a chromedriver you run instead.
if [ -z "${CHROMEDRIVER_URL:-}" ]; then
  if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
    echo "tests/run.sh: installing chromium and chromium-driver"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
  cd_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cd_log=$(mktemp /tmp/doorward-chromedriver.XXXXXX)
  chromedriver --port="$cd_port" >"$cd_log" 2>&1 &
  chromedriver_pid=$!
  export CHROMEDRIVER_URL="http://127.0.0.1:$cd_port"
  for _ in $(seq 1 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('$CHROMEDRIVER_URL/status', timeout=1)" \
      >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "tests/run.sh: chromedriver on $CHROMEDRIVER_URL (log: $cd_log)"
fi

# Benches are measured by `cargo bench`, not here (clippy --all-targets still checks them).
cargo test --lib --bins --tests -- "$@"
# The crate's documentation: its examples run, and it builds without a warning.
cargo test --doc -- "$@"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
