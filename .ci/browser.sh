#!/usr/bin/env bash
# End-to-end tests of the console in a real browser (tests/browser/, docs/console.md):
# Debian's chromium from apt, Playwright's Python package (driving that chromium; its own
# browser download, `playwright install`, is never run) and pytest in a venv, against the
# real `canon serve` binary. Screenshots of every page are kept in target/browser-artifacts/.
# Idempotent: what is installed already is not installed again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "-- installing chromium (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
chromium --version

venv=target/browser-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/browser/requirements.txt

# The binary the tests start: the debug build `cargo test` made (built here if it is not).
cargo build -q
export CANON_BIN="$PWD/target/debug/canon"
export CANON_ARTIFACTS="$PWD/target/browser-artifacts"
rm -rf "$CANON_ARTIFACTS"

status=0
"$venv/bin/python" -m pytest -p no:cacheprovider -v tests/browser || status=$?
# pytest exits 5 when it collected no test: that is a failure of this harness, not a pass.
if [ "$status" -eq 5 ]; then
  echo "browser tests: none collected" >&2
  exit 1
fi
echo "screenshots: $CANON_ARTIFACTS"
exit "$status"
