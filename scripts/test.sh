#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs everything, lints, runs pytest.
set -euo pipefail
source "$(dirname "$0")/setup.sh" --with-test-deps
cd "$ROOT"
echo "== ruff check"; ruff check .
echo "== ruff format --check"; ruff format --check .
echo "== pytest"
# pytest exits 5 when it collected no test: that is a failure here, as any non-zero status.
pytest "$@"
