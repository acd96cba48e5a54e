"""Storage: SQLAlchemy 2 models, engines, Alembic migrations and the call repository."""

from aggregator.storage.db import make_engine, session_factory, upgrade_database
from aggregator.storage.models import Base
from aggregator.storage.repository import load_call, save_call

__all__ = ["Base", "load_call", "make_engine", "save_call", "session_factory", "upgrade_database"]
