#!/usr/bin/env bash
# Sourced by demo.sh and test.sh: installs what kyodo needs into ./.venv on a fresh Debian machine.
# Usage: source scripts/setup.sh [--with-test-deps]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

want_test_deps=0
for arg in "$@"; do
  [ "$arg" = "--with-test-deps" ] && want_test_deps=1
done

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "kyodo setup: need root (or sudo) to run: $*" >&2; return 1; fi
}

# Debian packages: Python with venv; PostgreSQL server for the test suite.
debs=()
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || debs+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || debs+=(python3-venv)
if [ "$want_test_deps" = 1 ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || debs+=(postgresql postgresql-contrib)
fi
if [ ${#debs[@]} -gt 0 ]; then
  echo "kyodo setup: installing Debian packages: ${debs[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
extras=""
[ "$want_test_deps" = 1 ] && extras="[dev]"
# Reinstall only when pyproject.toml changed since the last install.
stamp=".venv/.kyodo-installed$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "kyodo setup: installing Python packages into .venv (log: .venv/install.log)"
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -e ".$extras"; } > .venv/install.log 2>&1; then
    tail -n 30 .venv/install.log >&2
    echo "kyodo setup: pip install failed (see .venv/install.log)" >&2
    exit 1
  fi
  touch "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"

# The browser tests: Debian's Chromium, Japanese fonts, axe-core (npm).
if [ "$want_test_deps" = 1 ]; then
  bash "$ROOT/scripts/browser-deps.sh"
fi
