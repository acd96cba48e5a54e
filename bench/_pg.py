"""A throwaway PostgreSQL cluster in a temporary folder: for the tests and the benchmarks."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path


def pg_bindir() -> Path | None:
    env = os.environ.get("KYODO_TEST_PG_BINDIR")
    if env:
        return Path(env)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for path in candidates:
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    return None


class PostgresCluster:
    """A PostgreSQL cluster in a temporary folder, listening only on a Unix socket."""

    def __init__(self, bindir: Path, base: Path, port: int = 55432) -> None:
        self.bindir = bindir
        self.base = base
        self.data = base / "data"
        self.port = port
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if self.as_postgres:
            shutil.chown(self.base, "postgres", "postgres")
            # runuser needs to reach the folder: open the path to it for traversal.
            for parent in self.base.parents:
                if parent == Path("/"):
                    break
                parent.chmod(parent.stat().st_mode | 0o711)
        self._run(
            self.bindir / "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        options = f"-p {self.port} -k {self.base} -c listen_addresses='' -c fsync=off"
        self._run(
            self.bindir / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.base / "log",
            "-w",
            "-o",
            options,
            "start",
        )

    def stop(self) -> None:
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.base}&port={self.port}"

    def create_database(self) -> str:
        import psycopg

        name = "kyodo_" + uuid.uuid4().hex[:12]
        with psycopg.connect(
            host=str(self.base),
            port=self.port,
            user="postgres",
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
