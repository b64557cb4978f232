#!/usr/bin/env bash
# Instruction profile of doorward's bearer `GET /api/me` over real HTTP (callgrind counts
# instructions, so the figure does not depend on what else the machine is doing):
#   CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release --target-dir target/prof
#   bash benches/profile.sh target/prof/release/doorward /tmp/me.callgrind [port]
#   callgrind_annotate --inclusive=no --threshold=100 /tmp/me.callgrind.1 | head -40
# The server runs on a fresh SQLite file, one worker, `RUST_LOG=warn`; the count is reset after
# one warm-up request and dumped after 10 s of `wrk -t1 -c4` on loopback. Divide the total by
# the request count wrk prints for instructions per request.
set -euo pipefail
bin=$1
out=$2
port=${3:-18431}
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
dir=$(mktemp -d)
env -i PATH="$PATH" DATABASE_URL="sqlite://$dir/d.db" DOORWARD_BIND="127.0.0.1:$port" \
  JWT_SECRET=profile-secret-0123456789abcdefghijkl BCRYPT_COST=4 DOORWARD_WORKERS=1 RUST_LOG=warn \
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 120); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.5; done
token=$(curl -s -X POST "http://127.0.0.1:$port/auth/register" -H 'content-type: application/json' \
  -d '{"email":"prof@example.com","password":"correct horse battery"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
# The token goes by file and environment, never on a command line.
printf 'Authorization: Bearer %s\n' "$token" >"$dir/header"
printf 'wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")\n' >"$dir/bearer.lua"
curl -s -o /dev/null "http://127.0.0.1:$port/api/me" -H "@$dir/header"
callgrind_control -z "$pid" >/dev/null
TOKEN=$token timeout 30 wrk -t1 -c4 -d10s -s "$dir/bearer.lua" "http://127.0.0.1:$port/api/me" |
  grep -E "requests in|Non-2xx"
callgrind_control -d "$pid" >/dev/null
sleep 1
