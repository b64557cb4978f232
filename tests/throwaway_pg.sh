# Sourced by tests/run.sh and the benchmarks that need PostgreSQL: a throwaway cluster on a free
# loopback port, its binaries run as the `postgres` OS user when we are root (PostgreSQL refuses
# root). `throwaway_pg_start` sets THROWAWAY_PG_DIR and THROWAWAY_PG_URL;
# `throwaway_pg_stop` stops and removes it, and does nothing when none was started.

THROWAWAY_PG_DIR=""
THROWAWAY_PG_URL=""

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Puts initdb and pg_ctl on PATH (Debian keeps them under /usr/lib/postgresql/*/bin).
find_pg_bin() {
  command -v initdb >/dev/null 2>&1 && return 0
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && PATH="$dir:$PATH" && return 0
  done
  echo "PostgreSQL server programs (initdb, pg_ctl) not found" >&2
  return 1
}

throwaway_pg_start() {
  find_pg_bin || return 1
  THROWAWAY_PG_DIR=$(mktemp -d /tmp/doorward-pg.XXXXXX) || return 1
  chmod 755 "$THROWAWAY_PG_DIR" || return 1
  if [ "$(id -u)" = 0 ]; then chown postgres "$THROWAWAY_PG_DIR" || return 1; fi
  local port
  port=$(free_port) || return 1
  as_pg initdb --auth=trust -U postgres -D "$THROWAWAY_PG_DIR/data" \
    >"$THROWAWAY_PG_DIR/initdb.log" 2>&1 || return 1
  as_pg pg_ctl -D "$THROWAWAY_PG_DIR/data" -w -l "$THROWAWAY_PG_DIR/log" \
    -o "-p $port -k $THROWAWAY_PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=500 -c fsync=off" \
    start >/dev/null || return 1
  THROWAWAY_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

throwaway_pg_stop() {
  [ -n "$THROWAWAY_PG_DIR" ] || return 0
  as_pg pg_ctl -D "$THROWAWAY_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$THROWAWAY_PG_DIR"
  THROWAWAY_PG_DIR=""
}
