#!/usr/bin/env bash
# Runs every doorward test on a fresh machine: unit tests, then the integration suite on SQLite
# and on PostgreSQL. Unless TEST_DATABASE_URL points at a server already, a throwaway PostgreSQL
# cluster is started here (its binaries run as the `postgres` OS user, since PostgreSQL refuses
# root) and stopped again on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=tests/throwaway_pg.sh
source tests/throwaway_pg.sh
chromedriver_pid=""
cleanup() {
  if [ -n "$chromedriver_pid" ]; then
    kill "$chromedriver_pid" 2>/dev/null || true
  fi
  throwaway_pg_stop
}
trap cleanup EXIT

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  throwaway_pg_start
  export TEST_DATABASE_URL="$THROWAWAY_PG_URL"
  echo "tests/run.sh: throwaway PostgreSQL at ${THROWAWAY_PG_URL#*@}"
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
  cd_port=$(free_port)
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

# The outside readers of what doorward serves, in a venv of their own: PyJWT, the verifier of
# tests/api/signing_keys.rs (the openssl command line makes that test's keys), and
# prometheus_client, whose OpenMetrics parser reads /metrics in tests/api/operations.rs.
test_venv=target/test-venv
if ! "$test_venv/bin/python" -c 'import jwt, cryptography, prometheus_client' >/dev/null 2>&1; then
  echo "tests/run.sh: making $test_venv (PyJWT with cryptography, prometheus_client)"
  python3 -m venv "$test_venv"
  "$test_venv/bin/pip" install -q 'pyjwt[crypto]==2.10.1' 'prometheus_client==0.21.1'
fi
export DOORWARD_TEST_PYTHON="$PWD/$test_venv/bin/python"
# schemathesis, which fuzzes the live server from its /openapi.json (tests/api/openapi.rs).
st_venv=target/schemathesis-venv
if ! "$st_venv/bin/st" --version 2>/dev/null | grep -q '4.32.5'; then
  echo "tests/run.sh: making $st_venv (schemathesis)"
  python3 -m venv "$st_venv"
  "$st_venv/bin/pip" install -q 'schemathesis==4.32.5'
fi
export DOORWARD_SCHEMATHESIS="$PWD/$st_venv/bin/st"
if ! command -v openssl >/dev/null 2>&1; then
  echo "tests/run.sh: installing openssl"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq openssl >/dev/null
fi

# Benches are measured by `cargo bench`, not here (clippy --all-targets still checks them).
cargo test --lib --bins --tests -- "$@"
# The crate's documentation: its examples run, and it builds without a warning.
cargo test --doc -- "$@"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
