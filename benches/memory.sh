#!/usr/bin/env bash
# The resident set of the idle release binary (fresh SQLite file, default settings but a test
# secret), then `cargo bench --bench memory` for the per-million figures.
#   bash benches/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin doorward --quiet
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -i PATH="$PATH" DATABASE_URL="sqlite://$dir/idle.db" DOORWARD_BIND="127.0.0.1:$port" \
  JWT_SECRET=memory-secret-0123456789abcdefghijkl RUST_LOG=warn target/release/doorward \
  >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
sleep 2
echo "memory: idle server $(awk '/VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$pid/status") resident ($(nproc) workers)"
cargo bench --bench memory --quiet
