#!/usr/bin/env bash
# SCIM 2.0 conformance: runs the public suite scim2-tester (driven by the `scim2` CLI of
# scim2-cli) against `canon serve` on a free loopback port with a temporary config and tenant.
#
# Called by .ci/run (bash .ci/scim-conformance.sh); needs cargo and python3 (venv + PyPI).
# Passes only when every check is SUCCESS, or SKIPPED for a feature the
# ServiceProviderConfig marks unsupported (scim2 exits 1 even on SKIPPED, so result lines are
# counted). The server is always stopped.
#
# Environment: SCIM_CONFORMANCE_VENV=DIR reuses (or creates) the virtualenv in DIR, to skip
# reinstalling on every run. CANON_CONFORMANCE_DATABASE=postgres://… serves from that
# PostgreSQL database (`--database`; .ci/run runs the suite on both stores); its tables are
# left as the suite leaves them, under a tenant named for this run.
set -euo pipefail
cd "$(dirname "$0")/.."

SCIM2_CLI_VERSION=0.6.0
SCIM2_TESTER_VERSION=0.5.2

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

venv=${SCIM_CONFORMANCE_VENV:-$work/venv}
if [ ! -x "$venv/bin/scim2" ]; then
  echo "-- installing scim2-cli $SCIM2_CLI_VERSION and scim2-tester $SCIM2_TESTER_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "scim2-cli==$SCIM2_CLI_VERSION" "scim2-tester==$SCIM2_TESTER_VERSION"
fi

echo "-- building canon"
cargo build --quiet --bin canon
canon=$(pwd)/target/debug/canon

# A small rule file through the real engine: every write maps a profile.
cat > "$work/conformance.rules" <<'RULES'
field job_title: text
field management_level: enum(Manager, Director, VP, "Individual Contributor") required
input title = title | trim
input words = title | nfkc | lower | words
map job_title { rule given: title is present -> title }
map management_level {
  rule vp: words has any ["vp", "vice president"] -> VP
  rule director: words has "director" -> Director
  rule manager: words has "manager" -> Manager
}
RULES

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
database_args=()
if [ -n "${CANON_CONFORMANCE_DATABASE:-}" ]; then
  database_args=(--database "$CANON_CONFORMANCE_DATABASE")
fi
# The tenant goes into the store the server reads. No rate limit: the suite sends its
# requests back to back and, unlike Okta, does not retry a 429.
tenant="conformance-$$"
"$canon" tenant add "$tenant" --rules "$work/conformance.rules" --config "$work/canon.yaml" \
  --rate-limit off "${database_args[@]}" > "$work/tenant.txt"
token=$(sed -n 's/^token: //p' "$work/tenant.txt")
[ -n "$token" ] || { echo "canon tenant add printed no token" >&2; exit 1; }

echo "-- starting canon serve on 127.0.0.1:$port"
RUST_LOG=warn "$canon" serve --config "$work/canon.yaml" --listen "127.0.0.1:$port" "${database_args[@]}" 2> "$work/serve.log" &
server_pid=$!
for _ in $(seq 1 100); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "canon serve exited early:" >&2; cat "$work/serve.log" >&2; exit 1
  fi
  sleep 0.1
done

echo "-- scim2 test"
set +e
SCIM_CLI_HEADERS="Authorization: Bearer $token" NO_COLOR=1 \
  "$venv/bin/scim2" --url "http://127.0.0.1:$port/t/$tenant/scim/v2" test > "$work/results.txt" 2>&1
set -e
cat "$work/results.txt"

# Result lines start with a status word. SKIPPED is allowed only for what the
# ServiceProviderConfig truthfully marks unsupported: bulk, sort, changePassword.
success=$(grep -cE '^SUCCESS ' "$work/results.txt" || true)
skipped=$(grep -E '^SKIPPED ' "$work/results.txt" || true)
other=$(grep -E '^[A-Z]+ ' "$work/results.txt" | grep -vE '^(SUCCESS|SKIPPED) ' || true)
bad_skips=$(printf '%s\n' "$skipped" | grep -v '^$' | grep -viE 'bulk|sort|password' || true)
echo "-- $success SUCCESS, $(printf '%s\n' "$skipped" | grep -c . || true) SKIPPED, $(printf '%s\n' "$other" | grep -c . || true) other"
if [ "$success" -eq 0 ]; then
  echo "FAIL: no check succeeded (is the suite running at all?)" >&2
  exit 1
fi
if [ -n "$other" ] || [ -n "$bad_skips" ]; then
  echo "FAIL: every check must be SUCCESS (or SKIPPED for an unsupported feature):" >&2
  printf '%s\n' "$other" "$bad_skips" | grep -v '^$' >&2
  exit 1
fi
echo "-- SCIM conformance: OK"
