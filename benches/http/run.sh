#!/usr/bin/env bash
# Side-by-side HTTP benchmark of doorward's token check (GitHub issue 11), on loopback only:
#
#   bash benches/http/run.sh [SECONDS_PER_RUN] [ROUNDS]      # defaults 10 and 3
#
# Builds and starts, each pinned to CPU 0: doorward (release, SQLite, one worker), a bare
# actix-web handler (the ceiling), a naive actix-web + jsonwebtoken check, and Express +
# jsonwebtoken. wrk runs pinned to CPU 1 (one thread, 64 connections). Every peer runs once per
# round, in an order rotated each round; the table gives medians over the rounds and each ratio
# as the median of per-round ratios. Any non-2xx/3xx answer or socket error (a request left
# unanswered for wrk's --timeout of 10 s included) fails the run.
# Every server started here is stopped by its pid on exit, whatever happens. See README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

seconds="${1:-10}"
rounds="${2:-3}"
usage="usage: bash benches/http/run.sh [seconds-per-run 1-120] [rounds 1-9]"
case "$seconds" in '' | *[!0-9]*) echo "$usage" >&2; exit 2 ;; esac
case "$rounds" in '' | *[!0-9]*) echo "$usage" >&2; exit 2 ;; esac
if [ "$seconds" -lt 1 ] || [ "$seconds" -gt 120 ] || [ "$rounds" -lt 1 ] || [ "$rounds" -gt 9 ]; then
  echo "$usage" >&2
  exit 2
fi

say() { echo "benches/http/run.sh: $*" >&2; }

# alive PID: running, and not a zombie waiting to be reaped.
alive() {
  [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}

tmp=$(mktemp -d /tmp/doorward-http-bench.XXXXXX)
pids=()
policy_rc=/usr/sbin/policy-rc.d
made_policy=""
cleanup() {
  local pid waited
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    waited=0
    while alive "$pid" && [ "$waited" -lt 100 ]; do
      sleep 0.1
      waited=$((waited + 1))
    done
    if alive "$pid"; then
      say "pid $pid ignored SIGTERM for 10 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$made_policy" ]; then rm -f "$policy_rc"; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- 1. tools and dependencies ----------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
  say "installing wrk"
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy_rc" && chmod +x "$policy_rc" && made_policy=1
  fi
  installed=0
  { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || installed=$?
  if [ -n "$made_policy" ]; then rm -f "$policy_rc"; made_policy=""; fi
  [ "$installed" = 0 ] || { say "cannot install wrk"; exit 1; }
fi
for tool in taskset curl node npm cargo python3; do
  command -v "$tool" >/dev/null 2>&1 || { say "$tool not found"; exit 1; }
done

if [ ! -d "$here/node/node_modules" ] || [ "$here/node/package-lock.json" -nt "$here/node/node_modules" ]; then
  say "installing the Express peer's dependencies (npm ci)"
  (cd "$here/node" && timeout 600 npm ci --no-audit --no-fund --loglevel=error >&2)
fi

# --- 2. builds (cargo waits for any other build holding the lock) -----------------------------
say "building doorward (release)"
(cd "$root" && timeout 3600 cargo build --release --bin doorward >&2)
doorward_bin="$root/target/release/doorward"
say "building the Rust peers (release)"
(cd "$here/peers" && timeout 3600 cargo build --release --locked --bins >&2)
bare_bin="$here/peers/target/release/bare"
naive_bin="$here/peers/target/release/naive"

# --- 3. servers, each on CPU 0 -----------------------------------------------------------------
jwt_secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')

# wait_ready PID URL NAME: until URL answers (any status) or 60 s pass.
wait_ready() {
  local pid="$1" url="$2" name="$3" waited=0
  while [ "$waited" -lt 600 ]; do
    if ! alive "$pid"; then
      say "$name exited at start:"
      cat "$tmp/$name.log" >&2
      exit 1
    fi
    curl -s -o /dev/null --max-time 1 "$url" && return 0
    sleep 0.1
    waited=$((waited + 1))
  done
  say "$name did not answer on $url within 60 s"
  exit 1
}

# doorward, in an empty directory (no ./.env) with a clean doorward environment; the secret goes
# in the environment only.
dw_port=$(free_port)
mkdir "$tmp/doorward"
(
  cd "$tmp/doorward"
  for name in $(compgen -e); do
    case "$name" in
      DOORWARD_* | DATABASE_URL | JWT_SECRET | BCRYPT_COST | RUST_LOG | ACCESS_TOKEN_TTL | \
        REFRESH_TOKEN_TTL | SESSION_MAX_AGE | REFRESH_REUSE_GRACE) unset "$name" ;;
    esac
  done
  export DATABASE_URL="sqlite://$tmp/doorward/bench.db"
  export DOORWARD_BIND="127.0.0.1:$dw_port"
  export JWT_SECRET="$jwt_secret"
  export BCRYPT_COST=4
  export DOORWARD_WORKERS=1
  export RUST_LOG=warn
  # The tokens must outlive the whole run (at most 9 rounds + warm-up of 7 peers x 121 s).
  export ACCESS_TOKEN_TTL=12h
  # Left at their defaults: DOORWARD_MAX_CONNECTIONS_PER_IP (256 > wrk's 64 connections) and
  # the sign-in/registration throttles (one registration and one sign-in per run).
  exec taskset -c 0 "$doorward_bin"
) >"$tmp/doorward.log" 2>&1 &
pids+=("$!")
wait_ready "$!" "http://127.0.0.1:$dw_port/api/me" doorward
dw="http://127.0.0.1:$dw_port"

# A user, its bearer token, its real /api/me body, and a cookie sign-in of the same user.
printf '{"email":"bench@example.com","password":"http bench password 1","name":"Bench"}' >"$tmp/register.json"
printf '{"email":"bench@example.com","password":"http bench password 1"}' >"$tmp/login.json"
code=$(curl -s -o "$tmp/register.out" -w '%{http_code}' -X POST "$dw/auth/register" \
  -H 'Content-Type: application/json' --data-binary @"$tmp/register.json")
[ "$code" = 201 ] || { say "POST /auth/register answered $code"; cat "$tmp/register.out" >&2; exit 1; }
bearer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$tmp/register.out")
printf 'Authorization: Bearer %s\n' "$bearer" >"$tmp/bearer.hdr"
code=$(curl -s -o "$tmp/me.json" -w '%{http_code}' -H @"$tmp/bearer.hdr" "$dw/api/me")
[ "$code" = 200 ] || { say "GET /api/me answered $code"; cat "$tmp/me.json" >&2; exit 1; }
me_json=$(cat "$tmp/me.json")
code=$(curl -s -o "$tmp/cookie.out" -D "$tmp/cookie.headers" -w '%{http_code}' -X POST \
  "$dw/auth/cookie/login" -H 'Content-Type: application/json' --data-binary @"$tmp/login.json")
[ "$code" = 200 ] || { say "POST /auth/cookie/login answered $code"; cat "$tmp/cookie.out" >&2; exit 1; }
cookie=$(sed -n 's/^[Ss]et-[Cc]ookie: __Host-access_token=\([^;]*\);.*/\1/p' "$tmp/cookie.headers" | head -n 1 | tr -d '\r')
[ -n "$cookie" ] || { say "no __Host-access_token cookie from /auth/cookie/login"; exit 1; }
printf 'Cookie: __Host-access_token=%s\n' "$cookie" >"$tmp/cookie.hdr"

# start_peer NAME PORT COMMAND...: with JWT_SECRET and BENCH_ME_JSON in the environment.
start_peer() {
  local name="$1" port="$2"
  shift 2
  JWT_SECRET="$jwt_secret" BENCH_ME_JSON="$me_json" taskset -c 0 "$@" >"$tmp/$name.log" 2>&1 &
  pids+=("$!")
  wait_ready "$!" "http://127.0.0.1:$port/api/me" "$name"
}
bare_port=$(free_port)
start_peer bare "$bare_port" "$bare_bin" "$bare_port"
naive_port=$(free_port)
start_peer naive "$naive_port" "$naive_bin" "$naive_port"
express_port=$(free_port)
start_peer express "$express_port" node "$here/node/server.js" "$express_port"

# --- 4. the peers: URL and the header sent (bare ignores the bearer; it is sent alike) ----------
peers=(bare naive express express-key dw-bearer dw-cookie dw-verify)
declare -A url hdr
url[bare]="http://127.0.0.1:$bare_port/api/me";       hdr[bare]=bearer
url[naive]="http://127.0.0.1:$naive_port/api/me";     hdr[naive]=bearer
url[express]="http://127.0.0.1:$express_port/api/me"; hdr[express]=bearer
url[express-key]="http://127.0.0.1:$express_port/api/me-keyobject"; hdr[express-key]=bearer
url[dw-bearer]="$dw/api/me";                          hdr[dw-bearer]=bearer
url[dw-cookie]="$dw/api/me";                          hdr[dw-cookie]=cookie
url[dw-verify]="$dw/auth/verify";                     hdr[dw-verify]=bearer

# wrk takes its header from a Lua script (so no token is on a command line).
for kind in bearer cookie; do
  python3 - "$tmp/$kind.hdr" "$tmp/$kind.lua" <<'EOF'
import sys
name, value = open(sys.argv[1]).read().rstrip("\n").split(": ", 1)
open(sys.argv[2], "w").write(f'wrk.headers["{name}"] = "{value}"\n')
EOF
done

for peer in "${peers[@]}"; do
  code=$(curl -s -o "$tmp/check.out" -w '%{http_code}' -H @"$tmp/${hdr[$peer]}.hdr" "${url[$peer]}")
  if [ "$code" != 200 ]; then
    say "$peer: ${url[$peer]} answered $code, not 200:"
    cat "$tmp/check.out" >&2
    exit 1
  fi
  if [ "$peer" != dw-verify ] && ! cmp -s "$tmp/check.out" "$tmp/me.json"; then
    say "$peer: the body differs from doorward's /api/me:"
    cat "$tmp/check.out" "$tmp/me.json" >&2
    exit 1
  fi
done

# run_wrk PEER DURATION OUT
run_wrk() {
  local peer="$1" duration="$2" out="$3" pid
  for pid in "${pids[@]}"; do
    alive "$pid" || { say "a server (pid $pid) has died"; exit 1; }
  done
  timeout --signal=KILL $((duration + 60)) taskset -c 1 \
    wrk -t1 -c64 -d"${duration}s" --timeout 10s --latency -s "$tmp/${hdr[$peer]}.lua" "${url[$peer]}" >"$out" 2>&1 || {
    say "$peer: wrk failed:"
    cat "$out" >&2
    exit 1
  }
}

warm=$((seconds < 2 ? seconds : 2))
say "warming up every peer for ${warm}s (not counted)"
for peer in "${peers[@]}"; do
  run_wrk "$peer" "$warm" "$tmp/warm.out"
  python3 "$here/report.py" parse 0 "$peer" "$tmp/warm.out" >/dev/null
done

n=${#peers[@]}
: >"$tmp/results.tsv"
for ((r = 1; r <= rounds; r++)); do
  order=()
  for ((i = 0; i < n; i++)); do order+=("${peers[$(((i + r - 1) % n))]}"); done
  say "round $r/$rounds: ${order[*]} (${seconds}s each)"
  for peer in "${order[@]}"; do
    run_wrk "$peer" "$seconds" "$tmp/wrk.out"
    python3 "$here/report.py" parse "$r" "$peer" "$tmp/wrk.out" >>"$tmp/results.tsv"
    sleep 1
  done
done

# --- 5. the table ------------------------------------------------------------------------------
echo "doorward HTTP benchmark: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "servers on CPU 0, wrk on CPU 1: wrk -t1 -c64 -d${seconds}s --timeout 10s --latency; $rounds round(s), rotated order"
echo
python3 "$here/report.py" table "$tmp/results.tsv" "${peers[@]}"
