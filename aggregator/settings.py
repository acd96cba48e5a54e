"""kyodo's settings: one class, read from `KYODO_*` environment variables at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_database_url() -> str:
    # Resolved when the settings are read, so "the working directory" is the one kyodo runs in.
    return f"sqlite:///{Path.cwd() / 'kyodo.db'}"


class Settings(BaseSettings):
    """All settings. Create one with `Settings()` in an entry point; never at import time."""

    model_config = SettingsConfigDict(env_prefix="KYODO_", extra="ignore")

    database_url: str = Field(default_factory=_default_database_url)
    # The centre's home area: used for area filters and "reachable" checks.
    home_prefecture: str = "千葉県"
    home_municipality: str = "鎌ケ谷市"
    timezone: str = "Asia/Tokyo"

    # The site's public address, for absolute links in feeds, calendars and e-mails.
    site_url: str = "http://127.0.0.1:8000"
    site_name: str = "かまがや助成情報"

    # Crawling (kyodo crawl). The contact goes into the User-Agent so site owners can reach us.
    crawl_contact: str = "kyodo-admin@example.org"
    crawl_delay: float = Field(default=1.0, ge=0)  # seconds between requests to one site
    crawl_timeout: float = Field(default=30.0, gt=0)
    crawl_retries: int = Field(default=2, ge=0)
    retry_backoff: float = Field(default=2.0, ge=0)  # seconds before the first retry, doubled
    # Most list pages followed per source (0: each spider's own limit, 5–20).
    crawl_max_pages: int = Field(default=0, ge=0)
    crawl_http_cache: bool = False  # cache responses on disk (development)
    crawl_cache_dir: Path = Path(".kyodo-httpcache")
    # A folder of extra generic-spider configurations (*.toml) beside the bundled ones.
    spider_config_dir: Path | None = None

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        if "://" not in value:
            raise ValueError(
                "KYODO_DATABASE_URL must be an SQLAlchemy URL such as "
                "sqlite:///kyodo.db or postgresql+psycopg://user@host/db"
            )
        if value.startswith(("postgres://", "postgresql://")):
            # Use psycopg 3, the driver kyodo installs, whatever the URL's habit.
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        return value
