"""Running the real `kyodo` command in a subprocess, as an operator or a timer would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def kyodo(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """`python -m kyodo.cli ARGS` with `env` in `cwd`; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "kyodo.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
