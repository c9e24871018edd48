#!/usr/bin/env bash
# The dry-run benchmark (see benches/README.md). Not part of `cargo test`.
#
#   benches/run.sh [ROWS]     (default 1000000; also runs 100000 for the memory-flatness check)
#
# Generates users with `canon gen-users`, then measures, in the same run: the floor (csv crate
# read + write only), `canon dry-run --rules rules/default.rules` with one and two workers, and
# the default pack plus 1,000 generated title rules. Prints rows/s, MB/s, peak RSS and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
DIR=${BENCH_DIR:-target/bench-data}
mkdir -p "$DIR"
cargo build --release --quiet
FLOOR=$(cargo bench --bench floor --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*floor[^"]*\)".*/\1/p' | tail -1)
CANON=target/release/canon

gen() { [ -s "$DIR/users_$1.csv" ] || "$CANON" gen-users --rows "$1" --seed 42 --out "$DIR/users_$1.csv"; }
gen "$ROWS"; gen 100000

# The default pack plus 1,000 extra title rules (half word lists, half regexes) on a field of
# its own, so every row evaluates all of them.
EXTRA="$DIR/extra.rules"
{
  echo 'extends "'"$PWD"'/rules/default.rules"'
  echo 'field title_family: text'
  echo 'input t1000 = title, "Job Title" | nfkc | lower | words'
  echo 'map title_family {'
  for i in $(seq 1 500); do
    echo "  rule w$i: t1000 has any [\"role$i\", \"team$i lead\", \"grade$i\"] -> \"family $i\""
    echo "  rule r$i: t1000 matches /\\bzz$i(x|y)\\b/ -> \"family r$i\""
  done
  echo '  else -> unset'
  echo '}'
} > "$EXTRA"
"$CANON" check "$EXTRA" >/dev/null

# median of three wall times with the CPU time (user + system) of that run, and the median of
# the three runs' peak RSS (KiB). CPU time moves less than wall time when other work shares
# the machine; a two-worker run's peak RSS moves from run to run with the allocator's pages.
measure() { # name, command...
  local name=$1; shift
  local runs=() peaks=()
  for _ in 1 2 3; do
    /usr/bin/time -f '%e %U %S %M' -o "$DIR/time.txt" "$@" >/dev/null 2>/dev/null || true
    local wall user sys rss
    read -r wall user sys rss < <(tail -1 "$DIR/time.txt")
    runs+=("$wall $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')")
    peaks+=("$rss")
  done
  local med rss
  med=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)
  rss=$(printf '%s\n' "${peaks[@]}" | sort -n | sed -n 2p)
  echo "$name $med $rss"
}

FILE="$DIR/users_$ROWS.csv"
BYTES=$(stat -c %s "$FILE")
{
  measure floor "$FLOOR" "$FILE" /dev/null
  measure dryrun_j1 "$CANON" dry-run -q --rules rules/default.rules "$FILE" --out /dev/null
  measure dryrun_j2 "$CANON" dry-run -q -j 2 --rules rules/default.rules "$FILE" --out /dev/null
  measure extra_j1 "$CANON" dry-run -q --rules "$EXTRA" "$FILE" --out /dev/null
  measure dryrun_j1_100k "$CANON" dry-run -q --rules rules/default.rules "$DIR/users_100000.csv" --out /dev/null
  measure dryrun_j2_100k "$CANON" dry-run -q -j 2 --rules rules/default.rules "$DIR/users_100000.csv" --out /dev/null
} | tee "$DIR/results.txt" | awk -v rows="$ROWS" -v bytes="$BYTES" '
  { t[$1] = $2; cpu[$1] = $3; m[$1] = $4 }
  END {
    printf "%-16s %10s %8s %12s %8s %10s %8s\n", "case", "seconds", "cpu s", "rows/s", "MB/s", "peak MiB", "floor%"
    n = split("floor dryrun_j1 dryrun_j2 extra_j1", k, " ")
    for (i = 1; i <= n; i++) {
      c = k[i]
      printf "%-16s %10.2f %8.2f %12.0f %8.1f %10.1f %7.0f%%\n", c, t[c], cpu[c], rows / t[c], bytes / 1e6 / t[c], m[c] / 1024, 100 * t["floor"] / t[c]
    }
    printf "rule scaling (extra/default, one worker): %.2fx\n", t["extra_j1"] / t["dryrun_j1"]
    printf "peak memory 100k -> %d rows: j1 %.1f -> %.1f MiB, j2 %.1f -> %.1f MiB\n", rows, m["dryrun_j1_100k"] / 1024, m["dryrun_j1"] / 1024, m["dryrun_j2_100k"] / 1024, m["dryrun_j2"] / 1024
  }'
