#!/usr/bin/env bash
# Sign-ins under a flood (issue 11): doorward at BCRYPT_COST=12 on every core, `wrk -c128` of
# correct-password sign-ins (more than the bcrypt queue of 64 holds; FLOOD_CONNECTIONS sets it)
# while a paced probe measures `GET /api/me`. Prints sign-ins per second against cores ÷ bcrypt time, the 503s past the
# queue (each with Retry-After), and /api/me's p99.
#   bash benches/http/flood.sh [seconds, default 15]
# Loopback only; the server is stopped by its pid on exit; tokens and passwords go by file and
# environment, never on a command line.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-15}"
connections="${FLOOD_CONNECTIONS:-128}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --bin doorward --quiet
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$pid" ] && wait "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(
  # In the environment only (an `env VAR=…` command line would show the secret in argv).
  export DATABASE_URL="sqlite://$tmp/flood.db" DOORWARD_BIND="127.0.0.1:$port"
  JWT_SECRET="flood-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  export JWT_SECRET BCRYPT_COST=12 RUST_LOG=warn ACCESS_TOKEN_TTL=1h
  export DOORWARD_SIGN_IN_RATE_PER_IP=off DOORWARD_HASH_JOBS_PER_IP=10000
  export DOORWARD_FAILED_SIGN_INS_PER_IP=off DOORWARD_FAILED_SIGN_INS_PER_ACCOUNT=off
  cd "$tmp" && exec "$OLDPWD/target/release/doorward"
) >"$tmp/server.log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -s -o /dev/null "$base/" && break; sleep 0.1; done

export FLOOD_EMAIL=flood@example.com FLOOD_PASSWORD="flood password $(date +%s)"
python3 - "$tmp/login.json" <<'EOF'
import json, os, sys
json.dump({"email": os.environ["FLOOD_EMAIL"], "password": os.environ["FLOOD_PASSWORD"]}, open(sys.argv[1], "w"))
EOF
curl -s -o "$tmp/register.out" -X POST "$base/auth/register" -H 'Content-Type: application/json' \
  --data-binary @"$tmp/login.json"
TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$tmp/register.out")
export TOKEN

# One sign-in at a time, five times: what one bcrypt check costs here, as the server sees it.
single=$(for _ in 1 2 3 4 5; do
  curl -s -o /dev/null -w '%{time_total}\n' -X POST "$base/auth/login" \
    -H 'Content-Type: application/json' --data-binary @"$tmp/login.json"
done | sort -n | sed -n 3p)

cat >"$tmp/login.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("LOGIN_JSON"), "r")
wrk.body = f:read("*a")
f:close()
ok, busy, retry, other = 0, 0, 0, 0
function response(status, headers, body)
  if status == 200 then ok = ok + 1
  elseif status == 503 then
    busy = busy + 1
    if headers["Retry-After"] or headers["retry-after"] then retry = retry + 1 end
  else other = other + 1 end
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local o, b, r, x = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); b = b + t:get("busy"); r = r + t:get("retry"); x = x + t:get("other")
  end
  io.write(string.format("FLOOD ok=%d busy=%d retry_after=%d other=%d\n", o, b, r, x))
end
EOF

LOGIN_JSON="$tmp/login.json" timeout $((seconds + 60)) wrk -t2 -c"$connections" -d"${seconds}s" --timeout 30s \
  -s "$tmp/login.lua" "$base/auth/login" >"$tmp/flood.out" &
flood=$!
sleep 1
# A paced probe (100 requests/s on one keep-alive connection), so measuring /api/me does not
# itself take the cores away from bcrypt as a second full-speed wrk would.
python3 - "$port" "$((seconds - 2))" >"$tmp/me.out" <<'EOF'
import http.client, os, sys, time
port, seconds = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
headers = {"Authorization": "Bearer " + os.environ["TOKEN"]}
latencies, bad, end = [], 0, time.monotonic() + seconds
while time.monotonic() < end:
    start = time.monotonic()
    conn.request("GET", "/api/me", headers=headers)
    response = conn.getresponse()
    response.read()
    latencies.append(time.monotonic() - start)
    bad += response.status != 200
    time.sleep(max(0.0, 0.01 - (time.monotonic() - start)))
latencies.sort()
p = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000
print(f"ME requests={len(latencies)} p50={p(0.50):.2f}ms p99={p(0.99):.2f}ms max={latencies[-1] * 1000:.2f}ms non200={bad}")
EOF
wait "$flood"

cores=$(nproc)
python3 - "$tmp/flood.out" "$tmp/me.out" "$single" "$cores" "$seconds" "$connections" <<'EOF'
import re, sys
flood, me, single, cores, seconds, connections = open(sys.argv[1]).read(), open(sys.argv[2]).read(), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
counts = dict(re.findall(r"(\w+)=(\d+)", re.search(r"FLOOD (.*)", flood).group(1)))
ok = int(counts["ok"])
rate, ideal = ok / seconds, cores / single
probe = dict(re.findall(r"(\w+)=(\S+)", re.search(r"ME (.*)", me).group(1)))
print(f"one sign-in alone: {single * 1000:.0f} ms (bcrypt cost 12); {cores} cores -> ideal {ideal:.1f}/s")
print(f"flood (wrk -c{connections}, {seconds} s): {ok} sign-ins = {rate:.1f}/s = {rate / ideal:.2f} x ideal; "
      f"503 past the queue: {counts['busy']} ({counts['retry_after']} with Retry-After); other: {counts['other']}")
print(f"GET /api/me meanwhile (paced, 100/s): {probe['requests']} requests, p50 {probe['p50']}, "
      f"p99 {probe['p99']}, max {probe['max']}, non-200 {probe['non200']}")
EOF
