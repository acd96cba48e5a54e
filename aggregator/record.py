"""The typed grant-call record used by everything in kyodo, and the raw call it comes from."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from aggregator.fields import FIELDS


class DeadlineKind(StrEnum):
    FIXED = "fixed"  # one date (or the next round's end)
    ROLLING = "rolling"  # 随時 / 通年 / 常時 / 予算がなくなり次第
    RECURRING = "recurring"  # 年4回 / 毎月末日 …: deadline is the next date
    UNKNOWN = "unknown"  # 要問合せ / 募集要項参照 / nothing found


class Status(StrEnum):
    UPCOMING = "upcoming"  # 募集予定
    OPEN = "open"  # 募集中
    CLOSED = "closed"  # 募集終了 / 受付終了


class DeadlineBasis(StrEnum):
    ARRIVAL = "arrival"  # 必着
    POSTMARK = "postmark"  # 消印有効


class Coverage(StrEnum):
    YES = "yes"
    NO = "no"
    NOT_STATED = "not_stated"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Round(_Model):
    """One application round (前期 / 後期, 第1回 …, or one date of a recurring schedule)."""

    label: str | None = None
    start: date | None = None
    end: date | None = None


class ChannelDeadline(_Model):
    """A deadline that applies to one way of applying (郵送, 電子申請, 電子メール, 持参)."""

    channel: str  # "mail" | "online" | "email" | "hand"
    deadline: date | None = None
    time: str | None = None  # "17:00"
    basis: DeadlineBasis | None = None


class DeadlineNote(_Model):
    """How the deadline is meant: 必着 or 消印有効, time of day, different dates per channel."""

    basis: DeadlineBasis | None = None
    time: str | None = None  # "HH:MM" in Japan time
    channels: list[ChannelDeadline] = Field(default_factory=list)
    text: str | None = None  # short human note, e.g. "17:00必着"


class Eligibility(_Model):
    """Who may apply."""

    informal_groups_ok: bool | None = None  # 任意団体可 / 法人格不問 → True; NPO法人に限る → False
    legal_forms: list[str] = Field(default_factory=list)  # e.g. ["NPO法人", "一般社団法人"]
    min_members: int | None = None
    min_years_active: int | None = None


class CostsCovered(_Model):
    """Whether the costs small groups care about are covered by the grant."""

    personnel: Coverage = Coverage.NOT_STATED  # 人件費
    honoraria: Coverage = Coverage.NOT_STATED  # 謝金
    rent: Coverage = Coverage.NOT_STATED  # 家賃
    equipment: Coverage = Coverage.NOT_STATED  # 備品


class RawCall(_Model):
    """What a source says about one call, as text: the input of normalization.

    `id`, `title`, `text`, `url`, `published`, `organizer`, `source` are the `kyodo normalize`
    contract; the rest are optional hints a spider may add.
    """

    model_config = ConfigDict(extra="ignore")

    id: str
    text: str
    title: str = ""
    url: str | None = None
    published: date | None = None
    organizer: str | None = None
    source: str | None = None
    status: str | None = None  # the source's own status word (募集中 …)
    categories: list[str] = Field(default_factory=list)  # the source's own field labels
    area: str | None = None  # the source's own area, used when the text names none

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("published", mode="before")
    @classmethod
    def _empty_date_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


# Fields `kyodo normalize` does not write: the raw text is the input, the seen dates are storage's.
_NOT_IN_CONTRACT = {"raw_text", "first_seen", "last_seen"}


class GrantCall(_Model):
    """One grant call, normalized. Every extracted value keeps its evidence snippet.

    The first fields are in the order of the `kyodo normalize` contract.
    """

    id: str
    title: str
    organizer: str | None = None
    deadline: date | None = None
    deadline_kind: DeadlineKind = DeadlineKind.UNKNOWN
    application_start: date | None = None
    max_amount_yen: int | None = None
    total_budget_yen: int | None = None
    fields: list[str] = Field(default_factory=list)  # slugs, most relevant first
    area: str = "national"  # "national" | "prefecture:千葉県" | "municipality:鎌ケ谷市"
    # attribute name -> the snippet of source text the value was read from
    evidence: dict[str, str] = Field(default_factory=dict)

    source: str | None = None
    source_url: str | None = None
    deadline_note: DeadlineNote = Field(default_factory=DeadlineNote)
    rounds: list[Round] = Field(default_factory=list)
    subsidy_rate: str | None = None
    field_terms: dict[str, list[str]] = Field(default_factory=dict)  # slug -> words that matched
    eligibility: Eligibility = Field(default_factory=Eligibility)
    costs: CostsCovered = Field(default_factory=CostsCovered)
    status: Status | None = None
    published: date | None = None
    raw_text: str = ""
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        unknown = [slug for slug in value if slug not in FIELDS]
        if unknown:
            raise ValueError(f"unknown activity field slugs: {unknown}")
        return value

    @computed_field  # type: ignore[prop-decorator]
    @property
    def informal_groups_ok(self) -> bool | None:
        """Whether informal groups (任意団体) may apply: the contract has it at the top level."""
        return self.eligibility.informal_groups_ok

    def contract_json(self) -> str:
        """The JSON line `kyodo normalize` writes (serialized by pydantic-core: fast)."""
        return self.model_dump_json(exclude=_NOT_IN_CONTRACT)

    def contract_dict(self) -> dict[str, Any]:
        """The object `kyodo normalize` writes, as Python data."""
        return self.model_dump(mode="json", exclude=_NOT_IN_CONTRACT)
