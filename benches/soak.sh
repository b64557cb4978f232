#!/usr/bin/env bash
# A bounded soak of the real release binary (GitHub issue 10), on SQLite then PostgreSQL:
#
#   bash benches/soak.sh [SECONDS_PER_BACKEND]      # default 60
#
# For each backend: a fresh database, the server on a free 127.0.0.1 port, benches/soak.py
# against it for the given time, then SIGTERM to the server (by its pid) and a wait. PostgreSQL
# is a throwaway cluster started as tests/run.sh starts it (stopped and removed on exit, whatever
# happens) unless SOAK_DATABASE_URL points at a database already. SOAK_WORKERS (default 16) sets
# the client's concurrency. Prints both summary lines; exits 1 if either backend failed.
# The figures are written to target/soak/{sqlite,postgres}.json; see docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
workers="${SOAK_WORKERS:-16}"
case "$seconds" in '' | *[!0-9]*) echo "usage: bash benches/soak.sh [seconds-per-backend]" >&2; exit 2 ;; esac

# shellcheck source=tests/throwaway_pg.sh
source tests/throwaway_pg.sh
work=$(mktemp -d /tmp/doorward-soak.XXXXXX)
server_pid=""
client_pid=""
cleanup() {
  if [ -n "$client_pid" ]; then
    kill -TERM "$client_pid" 2>/dev/null || true  # timeout(1) passes it on to soak.py
  fi
  if [ -n "$server_pid" ]; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  throwaway_pg_stop
  rm -rf "$work"
}
trap cleanup EXIT

echo "benches/soak.sh: building the release binary"
cargo build --release --bin doorward
bin="$PWD/target/release/doorward"
mkdir -p target/soak

# One signing key for the run, in the environment only (never on a command line).
jwt_secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')

# start_server DATABASE_URL DIR: starts the binary in DIR (so no ./.env of the checkout is
# read) with a clean doorward environment, and sets server_pid and server_port.
start_server() {
  local url="$1" dir="$2" name
  (
    cd "$dir"
    for name in $(compgen -e); do
      case "$name" in
        DOORWARD_* | DATABASE_URL | JWT_SECRET | BCRYPT_COST | RUST_LOG | ACCESS_TOKEN_TTL | \
          REFRESH_TOKEN_TTL | SESSION_MAX_AGE | REFRESH_REUSE_GRACE) unset "$name" ;;
      esac
    done
    export DATABASE_URL="$url"
    export DOORWARD_BIND=127.0.0.1:0
    export JWT_SECRET="$jwt_secret"
    export RUST_LOG=info
    # bcrypt at its minimum, so the soak measures the server and not the password hash.
    export BCRYPT_COST=4
    # Every soak user comes from 127.0.0.1: the per-address throttles are off or out of reach.
    export DOORWARD_SIGN_IN_RATE_PER_IP=off
    export DOORWARD_REGISTER_RATE_PER_IP=off
    export DOORWARD_REFRESH_RATE_PER_IP=off
    export DOORWARD_FAILED_SIGN_INS_PER_IP=off
    export DOORWARD_FAILED_SIGN_INS_PER_ACCOUNT=off
    export DOORWARD_HASH_JOBS_PER_IP=10000
    # Left at their defaults: DOORWARD_REFRESH_RATE_PER_SESSION (10/1m: a lifecycle presents
    # at most 7 refresh tokens of one session, within seconds, so it stays under the burst of
    # 10), DOORWARD_MAX_CONNECTIONS_PER_IP (256; the soak holds at most two connections per
    # worker), REFRESH_REUSE_GRACE (10s), DOORWARD_WORKERS (one per core).
    exec "$bin"
  ) 2>"$dir/server.log" &
  server_pid=$!
  server_port=""
  local waited=0
  while [ "$waited" -lt 600 ]; do
    server_port=$(sed -n 's/.*listening on port \([0-9][0-9]*\),.*/\1/p' "$dir/server.log")
    server_port="${server_port%%$'\n'*}"
    [ -n "$server_port" ] && return 0
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "benches/soak.sh: the server exited at start:" >&2
      cat "$dir/server.log" >&2
      server_pid=""
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  echo "benches/soak.sh: the server did not log its port within 60 s" >&2
  return 1
}

# server_cpu: the CPU seconds (user + system) the server has used so far, from /proc.
server_cpu() {
  local stat ticks
  stat=$(cat "/proc/$server_pid/stat" 2>/dev/null) || { echo "?"; return 0; }
  stat="${stat##*) }"  # the fields after the command name; utime and stime are the 12th and 13th
  ticks=$(getconf CLK_TCK)
  echo "$stat" | awk -v t="$ticks" '{ printf "%.1f", ($12 + $13) / t }'
}

# stop_server: SIGTERM, then wait up to 15 s (in-flight requests get 5 s); SIGKILL past that.
# Sets exit_status.
stop_server() {
  local waited=0
  exit_status=0
  kill -TERM "$server_pid" 2>/dev/null || true
  while kill -0 "$server_pid" 2>/dev/null && [ "$waited" -lt 150 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "benches/soak.sh: the server ignored SIGTERM for 15 s; killing it" >&2
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" || exit_status=$?
  server_pid=""
}

summaries=()
failed=0
exit_status=0

# soak_backend LABEL DATABASE_URL DIR
soak_backend() {
  local label="$1" url="$2" dir="$3" rc=0 problems reuse_warnings summary cpu
  echo "benches/soak.sh: $label: starting the server"
  if ! start_server "$url" "$dir"; then
    summaries+=("soak $label: FAILED: the server did not start")
    failed=1
    return 0
  fi
  echo "benches/soak.sh: $label: server pid $server_pid on 127.0.0.1:$server_port; soaking for ${seconds}s with $workers workers"
  # In the background and waited for, so that a signal to this script reaches the trap at once.
  timeout --signal=KILL $((seconds + 600)) python3 benches/soak.py --base "http://127.0.0.1:$server_port" \
    --seconds "$seconds" --workers "$workers" --label "$label" --json "target/soak/$label.json" \
    >"$dir/soak.out" 2>&1 &
  client_pid=$!
  wait "$client_pid" || rc=$?
  client_pid=""
  cat "$dir/soak.out"
  cpu=$(server_cpu)
  stop_server
  cp "$dir/server.log" "target/soak/$label.server.log"
  # The soak provokes refresh-token thefts on purpose: their warnings are counted apart.
  reuse_warnings=$(grep -c 'refresh token reuse detected' "$dir/server.log" || true)
  grep -E ' (ERROR|WARN) |panicked' "$dir/server.log" | grep -v 'refresh token reuse detected' \
    >"$dir/problems.log" || true
  problems=$(wc -l <"$dir/problems.log")
  summary=$(grep "^soak $label: [0-9]" "$dir/soak.out" | tail -n 1 || true)
  [ -n "$summary" ] || summary="soak $label: FAILED: no summary (soak.py exit status $rc)"
  summary="$summary; server: ${cpu}s CPU, exit status $exit_status after SIGTERM, $reuse_warnings reuse warnings, $problems other warning/error lines"
  if [ "$problems" != 0 ]; then
    echo "benches/soak.sh: $label: warnings and errors in the server log (first 20):" >&2
    sed -n 1,20p "$dir/problems.log" >&2
  fi
  summaries+=("$summary")
  if [ "$rc" != 0 ] || [ "$exit_status" != 0 ]; then
    failed=1
  fi
}

# SQLite: a fresh file of its own.
mkdir -p "$work/sqlite"
soak_backend sqlite "sqlite://$work/sqlite/soak.db" "$work/sqlite"

# PostgreSQL: a throwaway cluster unless SOAK_DATABASE_URL is given (then it should name an
# empty database; the soak's emails are unique per run, so a used one works too).
mkdir -p "$work/postgres"
pg_url="${SOAK_DATABASE_URL:-}"
if [ -z "$pg_url" ] && ! throwaway_pg_start; then
  echo "benches/soak.sh: could not start a throwaway PostgreSQL" >&2
  [ -z "$THROWAWAY_PG_DIR" ] || cat "$THROWAWAY_PG_DIR/initdb.log" "$THROWAWAY_PG_DIR/log" >&2 2>/dev/null || true
  summaries+=("soak postgres: FAILED: could not start a throwaway PostgreSQL")
  failed=1
else
  pg_url="${pg_url:-$THROWAWAY_PG_URL}"
  soak_backend postgres "$pg_url" "$work/postgres"
fi

echo
echo "benches/soak.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores (load average now: $(cut -d' ' -f1-3 /proc/loadavg)), ${seconds}s per backend, $workers workers, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?') plus the working tree"
for line in "${summaries[@]}"; do
  echo "$line"
done
exit "$failed"
