"""kyodo's settings: one class, read from `KYODO_*` environment variables at start-up."""

from __future__ import annotations

import re
import shlex
from datetime import time
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator
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
    # Web processes keep every call's search facts in memory (aggregator/searchindex.py):
    # counts and pages without SQL scans. Off: every search in SQL.
    search_index: bool = True

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

    # Accounts. The secret signs CSRF tokens; when unset kyodo makes one and keeps it in the
    # database (table app_secrets), so every worker shares it.
    secret_key: str | None = None
    session_days: float = Field(default=14, gt=0)  # a sign-in lasts at most this long
    session_idle_hours: float = Field(default=72, gt=0)  # … and ends after this long unused
    signin_max_failures: int = Field(default=5, ge=1)  # per address within the window
    signin_max_failures_per_client: int = Field(default=30, ge=1)  # per IP within the window
    signin_window_minutes: float = Field(default=15, gt=0)
    reset_token_minutes: float = Field(default=60, gt=0)
    confirm_token_hours: float = Field(default=48, gt=0)

    # Mail (confirmations, password resets, reminders, digests), sent through the outbox.
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_security: str = Field(default="none", pattern="^(none|starttls|tls)$")
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_timeout: float = Field(default=30.0, gt=0)
    mail_from: str = "kyodo@localhost"
    mail_from_name: str = "かまがや助成情報"
    mail_retry_seconds: float = Field(default=60.0, ge=0)  # first retry; doubled each time
    mail_max_attempts: int = Field(default=8, ge=1)
    # The centre's address: told when a group shows interest in an offer, etc.
    staff_email: str | None = None

    # Scheduling (kyodo schedule): times of day in KYODO_TIMEZONE as HH:MM, or off.
    schedule_crawl_at: time | None = time(3, 0)  # kyodo crawl, daily
    schedule_crawl_args: str = "--all"  # kyodo crawl's arguments, split as a shell would
    schedule_reminders_at: time | None = time(8, 0)  # kyodo reminders, daily
    # kyodo digest send --due, daily: groups whose digest weekday is today (Monday by default).
    schedule_digest_at: time | None = time(9, 0)
    schedule_mail_minutes: int | None = 10  # kyodo mail send every N minutes (1–1440), or off
    # On SIGTERM, seconds to let a running job finish before passing the signal on to it.
    schedule_stop_grace: float = Field(default=30.0, ge=0)

    @field_validator(
        "schedule_crawl_at", "schedule_reminders_at", "schedule_digest_at", mode="before"
    )
    @classmethod
    def _check_time_of_day(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        if text == "off":
            return None
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
        if match is None:
            raise ValueError(
                f"KYODO_{info.field_name.upper()} は 03:00 のような時刻（24時間制）か off で"
                f"指定してください (a time of day HH:MM, or off): {value!r}"
            )
        return time(int(match[1]), int(match[2]))

    @field_validator("schedule_mail_minutes", mode="before")
    @classmethod
    def _check_mail_minutes(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() == "off":
            return None
        try:
            minutes = int(value) if value is not None else None
        except (TypeError, ValueError):
            minutes = 0
        if minutes is not None and not 1 <= minutes <= 1440:
            raise ValueError(
                "KYODO_SCHEDULE_MAIL_MINUTES は 1〜1440 の分数か off で指定してください "
                f"(minutes between mail runs, 1-1440, or off): {value!r}"
            )
        return minutes

    @field_validator("schedule_crawl_args")
    @classmethod
    def _check_crawl_args(cls, value: str) -> str:
        try:
            args = shlex.split(value)
        except ValueError as exc:
            raise ValueError(
                f"KYODO_SCHEDULE_CRAWL_ARGS を読めません (cannot split the arguments: {exc})"
            ) from exc
        if not args:
            raise ValueError(
                "KYODO_SCHEDULE_CRAWL_ARGS が空です。--all か情報源の名前を指定してください "
                "(give --all or source names)"
            )
        return value

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
