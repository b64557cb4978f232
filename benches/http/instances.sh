#!/usr/bin/env bash
# Verify throughput with 1, 2 and 3 instances on one PostgreSQL (issue 11): each instance one
# worker, each driven by its own `wrk -t1 -c32` on bearer `GET /api/me` with the same token (a
# load balancer's job, without one in the way), the req/s summed. On a 2-core machine the
# instances and the load generators share the cores, so this shows the overhead of more
# instances, not scale-out; on more cores each instance adds its own.
#   bash benches/http/instances.sh [seconds, default 10]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-10}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --bin doorward --quiet
# shellcheck source=tests/throwaway_pg.sh
source tests/throwaway_pg.sh

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  throwaway_pg_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
throwaway_pg_start

export DATABASE_URL="$THROWAWAY_PG_URL"
JWT_SECRET="instances-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export JWT_SECRET BCRYPT_COST=4 DOORWARD_WORKERS=1 RUST_LOG=warn ACCESS_TOKEN_TTL=1h
ports=()
for i in 1 2 3; do
  port=$(free_port)
  DOORWARD_BIND="127.0.0.1:$port" target/release/doorward >"$tmp/doorward-$i.log" 2>&1 &
  pids+=("$!")
  ports+=("$port")
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done

printf '{"email":"instances@example.com","password":"instances bench password"}' >"$tmp/user.json"
curl -s -o "$tmp/register.out" -X POST "http://127.0.0.1:${ports[0]}/auth/register" \
  -H 'Content-Type: application/json' --data-binary @"$tmp/user.json"
TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$tmp/register.out")
export TOKEN
printf 'wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")\n' >"$tmp/me.lua"

for n in 1 2 3; do
  runs=()
  for i in $(seq 0 $((n - 1))); do
    timeout $((seconds + 30)) wrk -t1 -c32 -d"${seconds}s" -s "$tmp/me.lua" \
      "http://127.0.0.1:${ports[$i]}/api/me" >"$tmp/wrk-$n-$i.out" &
    runs+=("$!")
  done
  for run in "${runs[@]}"; do wait "$run"; done
  python3 - "$n" "$tmp"/wrk-"$n"-*.out <<'EOF'
import re, sys
n, files = sys.argv[1], sys.argv[2:]
texts = [open(f).read() for f in files]
rates = [float(re.search(r"Requests/sec:\s+(\S+)", t).group(1)) for t in texts]
errors = sum(int(m.group(1)) for t in texts for m in [re.search(r"Non-2xx or 3xx responses: (\d+)", t)] if m)
print(f"{n} instance(s): {sum(rates):,.0f} req/s in all ({', '.join(f'{r:,.0f}' for r in rates)}), non-2xx {errors}")
EOF
done
echo "machine: $(nproc) cores; instances and load generators share them"
