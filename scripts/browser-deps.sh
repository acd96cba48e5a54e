#!/usr/bin/env bash
# What the browser tests (tests/browser) need beyond the Python packages: Debian's Chromium,
# Japanese fonts for screenshots, and axe-core (npm) for the accessibility check.
# Installs only what is missing; never runs `playwright install` (Playwright drives
# /usr/bin/chromium instead of downloading a browser).
# Usage: bash scripts/browser-deps.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "kyodo browser-deps: need root (or sudo) to run: $*" >&2; return 1; fi
}

debs=()
[ -x /usr/bin/chromium ] || debs+=(chromium)
dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "ok installed" ||
  debs+=(fonts-noto-cjk)
command -v npm >/dev/null || debs+=(npm)
if [ ${#debs[@]} -gt 0 ]; then
  echo "kyodo browser-deps: installing Debian packages: ${debs[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" >/dev/null
fi

# axe-core, pinned by package-lock.json; reinstall only when the lock file changed.
if [ ! -f node_modules/axe-core/axe.min.js ] ||
   [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "kyodo browser-deps: installing axe-core (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
