#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for tests and benchmarks, from Debian's `postgresql` package
# (nothing downloaded at run time).
#
#   .ci/postgres.sh start [DIR]   starts the cluster in DIR (default: $CANON_PG_DIR, else
#                                 /tmp/canon-test-postgres), reusing it when it already runs;
#                                 prints its URL (postgres://postgres@127.0.0.1:PORT/postgres)
#   .ci/postgres.sh stop [DIR]    stops it and removes DIR
#
# Several processes may start the same DIR at once (test binaries, a bench): DIR.lock, beside
# it, makes them take turns, and all of them print the one cluster's URL.
#
# PostgreSQL refuses to run as root: as root, initdb and pg_ctl run as the `postgres` user
# (which the package creates) through runuser. The cluster listens on 127.0.0.1 only, on a
# free port, with `trust` authentication: for tests on this machine, never for production.
# Tests find the URL in CANON_TEST_POSTGRES (.ci/run exports it); without it, they call this
# script themselves where the binaries exist (docs/operations.md).
set -euo pipefail

command=${1:-start}
dir=${2:-${CANON_PG_DIR:-/tmp/canon-test-postgres}}

bindir=""
for candidate in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
  if [ -n "$candidate" ] && [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
    bindir=$candidate
  fi
done
if [ -z "$bindir" ]; then
  echo "postgres.sh: no initdb/pg_ctl found (apt-get install postgresql)" >&2
  exit 3
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@" 9>&-
  else
    "$@" 9>&-
  fi
}

url_of() {
  echo "postgres://$(cat "$dir/user")@127.0.0.1:$(cat "$dir/port")/postgres"
}

# One start or stop at a time per DIR: two test processes starting the same cluster at once
# would each pick a port, and the port file could name the one that lost. The server must
# not inherit the lock's descriptor (it would hold the lock while it runs): every command
# below closes it (`9>&-`).
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9

case "$command" in
  start)
    if [ -f "$dir/port" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      url_of
      exit 0
    fi
    mkdir -p "$dir"
    user=$(id -un)
    if [ "$(id -u)" -eq 0 ]; then
      user=postgres
      chown postgres "$dir"
      # The `postgres` user must reach DIR: a parent made by `mktemp -d` is root's alone.
      chmod a+x "$(dirname "$dir")"
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bindir/initdb" -D "$dir/data" -U "$user" --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Enough connections for several test binaries, each with a pool, and two servers.
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400 -c fsync=on" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    echo "$user" >"$dir/user"
    url_of
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: .ci/postgres.sh start|stop [DIR]" >&2
    exit 2
    ;;
esac
