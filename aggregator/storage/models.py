"""SQLAlchemy 2 models. Schema changes go through Alembic migrations in `migrations/`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes in UTC on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar = {dict[str, Any]: JsonType, list[Any]: JsonType}


class CallRow(Base):
    """One grant call: facts merged from its listings (or, before ingest, one normalized record).

    `source` / `source_item_id` name the listing whose facts lead (the highest precedence).
    """

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("source", "source_item_id", name="uq_calls_source_item"),
        CheckConstraint(
            "deadline_kind IN ('fixed', 'rolling', 'recurring', 'unknown')", name="deadline_kind"
        ),
        CheckConstraint(
            "status IS NULL OR status IN ('upcoming', 'open', 'closed')", name="status"
        ),
        # Covers every filter and sort of a search, so counting and paging read only the index.
        Index(
            "ix_calls_search_filters",
            "status",
            "deadline_kind",
            "deadline",
            "application_start",
            "area",
            "max_amount_yen",
            "informal_groups_ok",
            "first_seen",
            "cost_personnel",
            "cost_honoraria",
            "cost_rent",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), default="")
    source_item_id: Mapped[str] = mapped_column(String(255))
    source_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    organizer: Mapped[str | None] = mapped_column(Text)

    deadline: Mapped[date | None] = mapped_column(Date)
    deadline_kind: Mapped[str] = mapped_column(String(16), default="unknown")
    deadline_note: Mapped[dict[str, Any]] = mapped_column(default=dict)
    application_start: Mapped[date | None] = mapped_column(Date)
    rounds: Mapped[list[Any]] = mapped_column(default=list)

    max_amount_yen: Mapped[int | None] = mapped_column(BigInteger)
    total_budget_yen: Mapped[int | None] = mapped_column(BigInteger)
    subsidy_rate: Mapped[str | None] = mapped_column(Text)

    field_terms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    area: Mapped[str] = mapped_column(String(128), default="national")

    informal_groups_ok: Mapped[bool | None] = mapped_column(Boolean)
    legal_forms: Mapped[list[Any]] = mapped_column(default=list)
    min_members: Mapped[int | None] = mapped_column(Integer)
    min_years_active: Mapped[int | None] = mapped_column(Integer)

    cost_personnel: Mapped[str] = mapped_column(String(16), default="not_stated")
    cost_honoraria: Mapped[str] = mapped_column(String(16), default="not_stated")
    cost_rent: Mapped[str] = mapped_column(String(16), default="not_stated")
    cost_equipment: Mapped[str] = mapped_column(String(16), default="not_stated")

    status: Mapped[str | None] = mapped_column(String(16))
    raw_text: Mapped[str] = mapped_column(Text, default="")
    # aggregator.searchtext.search_text(title, organizer, raw_text): keyword search runs on it
    # (SQLite: FTS5 trigram table calls_fts; PostgreSQL: pg_trgm GIN index; both migration 0004).
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    # searchtext.short_grams(search_text): SQLite's index for 1–2 character keywords (calls_grams)
    search_grams: Mapped[str] = mapped_column(Text, default="", server_default="")
    published: Mapped[date | None] = mapped_column(Date)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())

    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)

    # Facts two listings disagree on: attribute -> [{"source", "url", "value"}, …].
    conflicts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id", ondelete="SET NULL"))
    predicted: Mapped[bool] = mapped_column(Boolean, default=False)  # an expected next round

    program: Mapped[ProgramRow | None] = relationship(lazy="raise")

    fields: Mapped[list[CallField]] = relationship(
        back_populates="call",
        order_by="CallField.rank",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class CallField(Base):
    """A call's activity field, one row each, so searches can filter by field with an index."""

    __tablename__ = "call_fields"
    __table_args__ = (Index("ix_call_fields_field", "field", "call_id"),)

    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(String(32), primary_key=True)
    rank: Mapped[int] = mapped_column(SmallInteger)  # 0 = most relevant

    call: Mapped[CallRow] = relationship(back_populates="fields")


class ProgramRow(Base):
    """One program across its rounds and years (第7回, 第8回 … of the same grant)."""

    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    organizer: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)


class ListingRow(Base):
    """One source's listing of a call, as ingested; never deleted."""

    __tablename__ = "listings"
    __table_args__ = (
        UniqueConstraint("source", "source_key", name="uq_listings_source_key"),
        Index("ix_listings_call_id", "call_id"),
        Index("ix_listings_call_id_source", "call_id", "source"),  # source-kind filter
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="RESTRICT"))
    call: Mapped[CallRow] = relationship(lazy="raise")
    source: Mapped[str] = mapped_column(String(64))
    source_key: Mapped[str] = mapped_column(String(255))  # the source's id, else the URL
    url: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    raw: Mapped[dict[str, Any]] = mapped_column()  # the listing as it came in
    record: Mapped[dict[str, Any]] = mapped_column()  # its normalized GrantCall
    precedence: Mapped[int] = mapped_column(SmallInteger)  # 0 organizer's page … 2 repost
    listed: Mapped[bool] = mapped_column(Boolean, default=True)
    delisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())


class CallHistoryRow(Base):
    """A change to a call: 締切延長, 金額変更, 募集終了, 取り下げ, 再開, 掲載終了 …"""

    __tablename__ = "call_history"
    __table_args__ = (Index("ix_call_history_call_id_at", "call_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class RejectedListingRow(Base):
    """A listing ingest could not take, kept with its reason for staff."""

    __tablename__ = "rejected_listings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str | None] = mapped_column(String(64))
    raw: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    times: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())


class DedupeDecisionRow(Base):
    """A staff decision on two listings: "merge" (same call) or "split" (different calls)."""

    __tablename__ = "dedupe_decisions"
    __table_args__ = (CheckConstraint("kind IN ('merge', 'split')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    listing_a_id: Mapped[int] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"))
    listing_b_id: Mapped[int] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SourceRunRow(Base):
    """One crawl of one source: what source health shows (`kyodo sources`, staff dashboard)."""

    __tablename__ = "source_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_s: Mapped[float] = mapped_column(Float)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    listings: Mapped[int] = mapped_column(Integer, default=0)
    partial: Mapped[int] = mapped_column(Integer, default=0)
    # {"http_404": 2, "shape": 1, …}
    errors: Mapped[dict[str, int]] = mapped_column(JsonType, default=dict)
    # [{"kind", "url", "message"}, …] (at most 20)
    error_samples: Mapped[list[dict[str, str]]] = mapped_column(JsonType, default=list)
    warnings: Mapped[list[str]] = mapped_column(JsonType, default=list)
    # ok | warning | failed
    outcome: Mapped[str] = mapped_column(String(16))
    # where the run went: "database" (with the ingest counts) or "file"
    target: Mapped[str] = mapped_column(String(16))
    ingest: Mapped[dict[str, int] | None] = mapped_column(JsonType, nullable=True)
    base_url: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_source_runs_source_started", "source", "started_at"),)


class UserRow(Base):
    """A person who signs in: centre staff, a group's member or a company's officer."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('staff', 'group', 'company')", name="role"),
        UniqueConstraint("email", name="uq_users_email"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))  # normalized: trimmed, lower case
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(Text)
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
