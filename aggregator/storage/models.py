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
    text,
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


class CallChangeRow(Base):
    """Journal of changed calls, written by triggers only (migration 0008); read by the
    in-memory search index of each web process (aggregator/searchindex.py)."""

    __tablename__ = "call_changes"
    __table_args__ = (
        Index(
            "ix_call_changes_xid",
            "xid",
            sqlite_where=text("xid IS NOT NULL"),
            postgresql_where=text("xid IS NOT NULL"),
        ),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(Integer)  # no foreign key: deleted calls stay named
    xid: Mapped[int | None] = mapped_column(BigInteger)  # PostgreSQL: the writing transaction
    changed_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=text("CURRENT_TIMESTAMP")
    )


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


# -- accounts (issue 6) -------------------------------------------------------------------------


class SessionRow(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user_id", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # absolute end


class SignInFailureRow(Base):
    """A failed sign-in, by address and by client: repeated failures are throttled."""

    __tablename__ = "signin_failures"
    __table_args__ = (Index("ix_signin_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300))  # "email:…" or "ip:…"
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class AccountTokenRow(Base):
    """A single-use, expiring token sent by e-mail: address confirmation or password reset."""

    __tablename__ = "account_tokens"
    __table_args__ = (
        CheckConstraint("purpose IN ('confirm', 'reset')", name="purpose"),
        UniqueConstraint("token_hash", name="uq_account_tokens_token_hash"),
        Index("ix_account_tokens_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AppSecretRow(Base):
    """Secrets kyodo makes itself when no setting gives one (the key that signs CSRF tokens),
    kept in the database so every worker and restart shares them."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class GroupRow(Base):
    """A citizen group (市民公益活動団体): its profile decides what its digest holds.

    `user_id` is the account that manages it; None for a group staff registered on its behalf
    that has no account of its own.
    """

    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint("user_id", name="uq_groups_user_id"),
        CheckConstraint("digest_weekday BETWEEN 0 AND 6", name="digest_weekday"),
        CheckConstraint("digest_when_empty IN ('short', 'skip')", name="digest_when_empty"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(Text)
    representative: Mapped[str | None] = mapped_column(Text)  # 代表者名 (personal data)
    phone: Mapped[str | None] = mapped_column(String(32))  # personal data
    fields: Mapped[list[Any]] = mapped_column(default=list)  # activity field slugs
    prefecture: Mapped[str | None] = mapped_column(String(16))
    municipality: Mapped[str | None] = mapped_column(String(64))
    legal_form: Mapped[str] = mapped_column(String(32), default="任意団体")
    members: Mapped[int | None] = mapped_column(Integer)
    founded_year: Mapped[int | None] = mapped_column(Integer)  # years active = now - this
    needs: Mapped[list[Any]] = mapped_column(default=list)  # funds | goods | people | space
    description: Mapped[str | None] = mapped_column(Text)

    digest_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    digest_weekday: Mapped[int] = mapped_column(SmallInteger, default=0)  # 0 = Monday
    digest_sections: Mapped[list[Any]] = mapped_column(default=list)  # empty = all
    digest_when_empty: Mapped[str] = mapped_column(String(8), default="short")
    reminder_days: Mapped[list[Any]] = mapped_column(default=lambda: [7, 1])
    # A random token for one-click unsubscribe links (no sign-in needed).
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)

    registered_by_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    recipients: Mapped[list[GroupRecipientRow]] = relationship(
        back_populates="group",
        order_by="GroupRecipientRow.id",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class GroupRecipientRow(Base):
    """An address a group's digests and reminders go to (a group may have several)."""

    __tablename__ = "group_recipients"
    __table_args__ = (
        UniqueConstraint("group_id", "email", name="uq_group_recipients_group_email"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    group: Mapped[GroupRow] = relationship(back_populates="recipients")


class SavedCallRow(Base):
    """A call a group marked 気になる: reminders go out before its deadline."""

    __tablename__ = "saved_calls"
    __table_args__ = (Index("ix_saved_calls_call_id", "call_id"),)

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DismissedCallRow(Base):
    """A call a group marked 対象外 (not relevant to us): digests leave it out."""

    __tablename__ = "dismissed_calls"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CompanyRow(Base):
    """A company offering CSR support; staff approve it before its offers can be published."""

    __tablename__ = "companies"
    __table_args__ = (
        UniqueConstraint("user_id", name="uq_companies_user_id"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(Text)
    contact_name: Mapped[str | None] = mapped_column(Text)  # personal data
    phone: Mapped[str | None] = mapped_column(String(32))  # personal data
    website: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    prefecture: Mapped[str | None] = mapped_column(String(16))
    municipality: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OfferRow(Base):
    """A company's CSR offer: draft → pending (approval) → published → closed."""

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'pending', 'published', 'closed')", name="status"),
        Index("ix_offers_status_company", "status", "company_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    # money | goods | space | probono | matching_gift | volunteer_leave | sponsorship
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    fields: Mapped[list[Any]] = mapped_column(default=list)
    area: Mapped[str] = mapped_column(String(128), default="national")  # as calls.area
    amount_yen: Mapped[int | None] = mapped_column(BigInteger)
    quantity: Mapped[str | None] = mapped_column(Text)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    how_to_apply: Mapped[str] = mapped_column(Text, default="")
    contact: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    review_note: Mapped[str | None] = mapped_column(Text)  # staff's reason when sent back
    search_text: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    company: Mapped[CompanyRow] = relationship(lazy="joined")


class OfferInterestRow(Base):
    """A group pressed 関心がある on an offer; staff coordinate from here."""

    __tablename__ = "offer_interests"
    __table_args__ = (
        UniqueConstraint("offer_id", "group_id", name="uq_offer_interests_offer_group"),
        CheckConstraint("status IN ('new', 'in_progress', 'done')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="new")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CoordinationLogRow(Base):
    """One entry in the record of an exchange between a group and a company (for staff)."""

    __tablename__ = "coordination_log"
    __table_args__ = (Index("ix_coordination_log_interest_id", "interest_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    interest_id: Mapped[int] = mapped_column(ForeignKey("offer_interests.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # interest | note | mail | status
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CourseRow(Base):
    """A course for groups: ファンドレイジング研修, 申請書の書き方講座, センター主催講座."""

    __tablename__ = "courses"
    __table_args__ = (
        CheckConstraint("kind IN ('fundraising', 'application', 'centre')", name="kind"),
        Index("ix_courses_starts_at", "starts_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    place: Mapped[str | None] = mapped_column(Text)
    online_url: Mapped[str | None] = mapped_column(Text)
    capacity: Mapped[int | None] = mapped_column(Integer)
    fields: Mapped[list[Any]] = mapped_column(default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    how_to_apply: Mapped[str] = mapped_column(Text, default="")
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CallOverrideRow(Base):
    """Staff corrections to a call's facts ({attribute: value}); ingest applies them after
    every merge, so a crawl never undoes them."""

    __tablename__ = "call_overrides"

    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxRow(Base):
    """One e-mail to send: written before sending, so nothing is lost and nothing goes twice.

    `key` is unique per message (e.g. "confirm:<token id>", "reminder:<group>:<call>:<days>:<to>").
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key", name="uq_outbox_key"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_group_id", "group_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))  # confirm | reset | interest | reminder | …
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)  # the whole RFC 5322 message, 7-bit
    message_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A sender's claim while it talks to the SMTP server ("host:pid:run"), so two senders
    # (the site, `kyodo mail send`, `kyodo digest send`) never send one message twice.
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


# -- weekly digests and the scheduler (issue 7) ---------------------------------------------


class DigestCallRow(Base):
    """A call a group's digest listed: its later changes (締切延長, 金額変更, 募集終了) are then
    told to the group in the next digests, as for a call it saved."""

    __tablename__ = "digest_calls"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    week: Mapped[str] = mapped_column(String(8))  # the first digest that listed it: 2026-W49
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JobRunRow(Base):
    """One run of a scheduled job (`kyodo schedule`): crawl, reminders, digest, mail."""

    __tablename__ = "job_runs"
    __table_args__ = (
        CheckConstraint("outcome IN ('running', 'ok', 'failed')", name="outcome"),
        Index("ix_job_runs_job_started", "job", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(32))
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime())  # the slot it ran for
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    detail: Mapped[str | None] = mapped_column(Text)  # the command's last lines of output
