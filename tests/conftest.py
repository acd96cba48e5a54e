"""Shared fixtures: real SQLite files and a throwaway PostgreSQL cluster started by the suite."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench._pg import PostgresCluster, pg_bindir

REPO = Path(__file__).resolve().parents[1]
# ../shared/real-pages beside the repository: test data only, absent on users' machines.
REAL_PAGES = REPO.parent / "shared" / "real-pages"


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    bindir = pg_bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL server binaries not found (install Debian's postgresql package, "
            "or set KYODO_TEST_PG_BINDIR); the README's test command installs them."
        )
    base = Path("/tmp") / f"kyodo-pg-{uuid.uuid4().hex[:8]}"  # short: socket paths are limited
    port = 20000 + os.getpid() % 20000
    cluster = PostgresCluster(bindir, base, port)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    return pg_cluster.create_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file for one test."""
    return f"sqlite:///{tmp_path / 'kyodo.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs twice: on an SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")
