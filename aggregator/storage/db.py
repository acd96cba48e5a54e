"""Engines, sessions and schema upgrades for SQLite files and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the site read while a crawl writes; busy_timeout waits for a lock instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _json_dumps(value) -> str:
    # Japanese stays as UTF-8: the default escapes every character to \uXXXX (twice the bytes).
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for `url`; SQLite files get WAL, a busy timeout and foreign keys."""
    kwargs.setdefault("json_serializer", _json_dumps)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            parent = Path(database).expanduser().resolve().parent
            if not parent.is_dir():
                raise FileNotFoundError(
                    f"データベースのフォルダがありません: {parent} "
                    "(folder for the SQLite file does not exist)"
                )
            # No cap on connections (a file's are cheap): the web app's threads (40) keep their
            # connection until the answer is serialized in another thread; with 15 at most, a
            # site under more than ~55 requests at once deadlocked until the pool's 30 s
            # timeout failed them (bench/load, 100 users).
            kwargs.setdefault("max_overflow", -1)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """An Alembic configuration for `url`, independent of the working directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates "%": URL-encoded passwords must be escaped.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(url: str, revision: str = "head") -> None:
    """Create the database schema or bring it up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The Alembic revision the database at `url` is at (None when never upgraded)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


# Search structures made by migration 0004 outside the models (backend-specific).
_SEARCH_OBJECTS = ("calls_fts", "calls_grams", "ix_calls_search_trgm", "ix_calls_search_grams")


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """For Alembic's comparisons: leave out the search index structures of migration 0004."""
    return not (reflected and name and name.startswith(_SEARCH_OBJECTS))
