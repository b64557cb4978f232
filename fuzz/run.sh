#!/usr/bin/env bash
# Runs every fuzz target for a bounded time: `bash fuzz/run.sh [seconds-per-target] [target…]`
# (default 60 s each, every target). Installs cargo-fuzz from crates.io when missing and builds
# with the nightly toolchain. Each target starts from its kept seeds and regressions plus a
# fresh, validly signed token (so the access-token target reaches the claim checks at once).
# Prints the execs per target; exits non-zero on the first crash, whose input libFuzzer writes
# to fuzz/artifacts/<target>/ — copy it to fuzz/regressions/<target>/ once it is fixed.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" = 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^doorward-fuzz$')
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
cargo "+$toolchain" fuzz build --release >/dev/null

# A token signed with the targets' key and valid now, in the access-token target's format:
# mode byte, header, 0xFF, claims.
mkdir -p corpus/access_token
python3 - <<'EOF'
import json, time, uuid
now = int(time.time())
claims = {"iss": "doorward", "aud": "doorward", "sub": "u1", "email": "ada@example.com",
          "role": "user", "sid": str(uuid.uuid4()), "iat": now, "nbf": now, "exp": now + 900,
          "jti": str(uuid.uuid4())}
with open("corpus/access_token/fresh-token", "wb") as f:
    f.write(b"\x01" + b'{"alg":"HS256","typ":"JWT"}' + b"\xff" + json.dumps(claims).encode())
EOF

summary=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  seed_dirs=()
  for kept in seeds regressions; do
    [ -d "$kept/$target" ] && seed_dirs+=("$kept/$target")
  done
  log=$(mktemp "/tmp/doorward-fuzz-$target.XXXXXX")
  status=0
  cargo "+$toolchain" fuzz run --release "$target" "corpus/$target" "${seed_dirs[@]}" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  line="$target: ${execs:-?} execs in ${seconds}s, ${coverage:-cov: ?}"
  if [ "$status" != 0 ]; then
    echo "fuzz/run.sh: $target FAILED (log: $log)" >&2
    grep -E 'panicked|ERROR|SUMMARY|artifact' "$log" | head -20 >&2 || true
    exit 1
  fi
  echo "$line"
  summary+=("$line")
  rm -f "$log"
done
echo "fuzz/run.sh: every target ran ${seconds}s without a crash"
