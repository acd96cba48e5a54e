#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs everything, lints, runs pytest.
set -euo pipefail
source "$(dirname "$0")/setup.sh" --with-test-deps
cd "$ROOT"
# docs/operations.md's commands, run by tests/test_operations.py: the sqlite3 command, and nginx
# (the test runs it with its own configuration in front of two kyodo serve).
ops_debs=()
command -v sqlite3 >/dev/null || ops_debs+=(sqlite3)
[ -x /usr/sbin/nginx ] || ops_debs+=(nginx)
if [ ${#ops_debs[@]} -gt 0 ]; then
  echo "kyodo test: installing Debian packages: ${ops_debs[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${ops_debs[@]}" >/dev/null
fi
echo "== ruff check"; ruff check .
echo "== ruff format --check"; ruff format --check .
echo "== pytest"
# pytest exits 5 when it collected no test: that is a failure here, as any non-zero status.
pytest "$@"
