"""Citizen groups (市民公益活動団体): their profile, saved and dismissed calls, export, deletion.

The profile decides what a group's digest holds (fields, area, legal form, needs). A group is
registered by itself (an account with a confirmed address) or by the centre's staff on its
behalf (no account, or an invited one). Its addresses are personal data: only the group and
the staff see them, and `delete_group_and_account` leaves none behind.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from aggregator.accounts import AccountError, normalize_email
from aggregator.fields import FIELD_SHORT_LABELS
from aggregator.forms import UNKNOWN_FIELDS, form_list, form_text, known_fields, squeeze
from aggregator.normalize.area import PREFECTURES
from aggregator.searchtext import fold
from aggregator.storage.models import (
    AccountTokenRow,
    CallRow,
    CoordinationLogRow,
    DismissedCallRow,
    GroupRecipientRow,
    GroupRow,
    OfferInterestRow,
    OfferRow,
    OutboxRow,
    SavedCallRow,
    SessionRow,
    SignInFailureRow,
    UserRow,
)

# Stored value (the name `aggregator.normalize.eligibility` gives a legal form) -> label.
LEGAL_FORMS: dict[str, str] = {
    "任意団体": "任意団体",
    "NPO法人": "NPO法人（特定非営利活動法人）",
    "一般社団法人": "一般社団法人",
    "一般財団法人": "一般財団法人",
    "公益社団法人": "公益社団法人",
    "公益財団法人": "公益財団法人",
    "社会福祉法人": "社会福祉法人",
    "自治会": "自治会・町内会",
}
NEEDS: dict[str, str] = {
    "funds": "資金",
    "goods": "物品",
    "people": "人材・プロボノ",
    "space": "場所",
}
DIGEST_SECTIONS: dict[str, str] = {
    "new": "新着の助成金",
    "changes": "気になる・お知らせ済みの公募の変更",
    "closing": "締切間近",
    "predicted": "例年この時期の公募",
    "offers": "企業からの支援",
    "courses": "講座",
}
DIGEST_WHEN_EMPTY: dict[str, str] = {
    "short": "締切間近と講座だけの短いメールを送る",
    "skip": "送らない",
}
WEEKDAYS = "月火水木金土日"  # index = date.weekday() = groups.digest_weekday
WEEKDAY_LABELS: dict[int, str] = {i: f"{d}曜日" for i, d in enumerate(WEEKDAYS)}
REMINDER_DAY_CHOICES: tuple[int, ...] = (14, 7, 3, 1)
DEFAULT_REMINDER_DAYS: list[int] = [7, 1]
DEFAULT_PREFECTURE = "千葉県"
MAX_RECIPIENTS = 5
MAX_NAME_CHARS = 100
MAX_MUNICIPALITY_CHARS = 40
MAX_PERSON_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000
MAX_MEMBERS = 100_000
FIRST_YEAR = 1900
DELETED_RECIPIENT = "(削除済み)"

_PHONE = re.compile(r"^[0-9+()\-]{6,20}$")
_ERAS = {"明治": 1867, "大正": 1911, "昭和": 1925, "平成": 1988, "令和": 2018}
_ERA_YEAR = re.compile(r"^(明治|大正|昭和|平成|令和)(元|\d{1,2})年?$")
_LIST_NAMES = ("fields", "needs")


def jdate(day: date | None) -> str | None:
    """2026年12月5日（土）."""
    if day is None:
        return None
    return f"{day.year}年{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"


def years_active(group: GroupRow, today: date) -> int | None:
    """Whole years since the group was founded (0 in its first year); None if not known."""
    if group.founded_year is None:
        return None
    return max(0, today.year - group.founded_year)


# -- the profile form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupProfile:
    """A checked profile, ready to store."""

    name: str
    fields: list[str]
    prefecture: str
    municipality: str | None
    legal_form: str
    members: int | None
    founded_year: int | None
    needs: list[str]
    recipients: list[str]  # normalized, de-duplicated, 1 to MAX_RECIPIENTS
    representative: str | None = None
    phone: str | None = None
    description: str | None = None


@dataclass
class ProfileForm:
    """A profile as typed (strings), to check and to show again with what was typed."""

    name: str = ""
    fields: list[str] = field(default_factory=list)
    prefecture: str = DEFAULT_PREFECTURE
    municipality: str = ""
    legal_form: str = "任意団体"
    members: str = ""
    founded_year: str = ""
    needs: list[str] = field(default_factory=list)
    recipients: str = ""  # one address a line
    representative: str = ""
    phone: str = ""
    description: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ProfileForm:
        """From a submitted form: list fields may come as lists (repeated checkboxes)."""

        def text(name: str, limit: int = 5000) -> str:
            return form_text(data, name, limit)

        def many(name: str) -> list[str]:
            return list(dict.fromkeys(v.strip() for v in form_list(data, name)))

        return cls(
            name=text("name", 1000),
            fields=many("fields"),
            prefecture=text("prefecture", 100),
            municipality=text("municipality", 1000),
            legal_form=text("legal_form", 100),
            members=text("members", 100),
            founded_year=text("founded_year", 100),
            needs=many("needs"),
            recipients=text("recipients", 5000),
            representative=text("representative", 1000),
            phone=text("phone", 100),
            description=text("description", 10_000),
        )

    @classmethod
    def of(cls, group: GroupRow, *, account_email: str | None = None) -> ProfileForm:
        """The stored profile; the account's address, always a recipient, is not listed."""
        return cls(
            name=group.name,
            fields=list(group.fields or []),
            prefecture=group.prefecture or "",
            municipality=group.municipality or "",
            legal_form=group.legal_form,
            members="" if group.members is None else str(group.members),
            founded_year="" if group.founded_year is None else str(group.founded_year),
            needs=list(group.needs or []),
            recipients="\n".join(r.email for r in group.recipients if r.email != account_email),
            representative=group.representative or "",
            phone=group.phone or "",
            description=group.description or "",
        )

    def validate(
        self, today: date, *, account_email: str | None = None
    ) -> tuple[GroupProfile | None, dict[str, str]]:
        """The checked profile, or None and the errors (field name -> what to do, Japanese).

        `account_email` (the group's sign-in address) is always the first recipient, so the
        other addresses may then be left empty.
        """
        errors: dict[str, str] = {}
        name = _one_line(self.name)  # as typed: （） and full-width spaces stay
        if not name:
            errors["name"] = "団体名を入力してください。"
        elif len(name) > MAX_NAME_CHARS:
            errors["name"] = f"団体名は{MAX_NAME_CHARS}文字以内で入力してください。"
        fields, fields_known = known_fields(self.fields)  # the law's order
        if not self.fields:
            errors["fields"] = "活動分野を1つ以上選んでください。"
        elif not fields_known:
            errors["fields"] = UNKNOWN_FIELDS
        if self.prefecture not in PREFECTURES:
            errors["prefecture"] = "都道府県を一覧から選んでください。"
        municipality = unicodedata.normalize("NFKC", self.municipality).strip()
        if len(municipality) > MAX_MUNICIPALITY_CHARS:
            errors["municipality"] = (
                f"市区町村は{MAX_MUNICIPALITY_CHARS}文字以内で入力してください（例：鎌ケ谷市）。"
            )
        if self.legal_form not in LEGAL_FORMS:
            errors["legal_form"] = "法人格を一覧から選んでください。"
        members = _number(self.members, ("人", "名"))
        if members is False or (isinstance(members, int) and not 1 <= members <= MAX_MEMBERS):
            errors["members"] = (
                f"会員数は1から{MAX_MEMBERS:,}までの数字で入力してください（例：25）。"
            )
        founded = _year(self.founded_year)
        if founded is False or (
            isinstance(founded, int) and not FIRST_YEAR <= founded <= today.year
        ):
            errors["founded_year"] = (
                f"設立年は{FIRST_YEAR}年から{today.year}年までの西暦か和暦で入力してください"
                "（例：2015、平成27）。"
            )
        needs = [n for n in NEEDS if n in self.needs]
        if len(needs) != len(self.needs):
            errors["needs"] = "必要な支援は一覧から選んでください。"
        recipients, recipient_error = _recipients(self.recipients, account_email)
        if recipient_error:
            errors["recipients"] = recipient_error
        representative = _one_line(self.representative)
        if len(representative) > MAX_PERSON_CHARS:
            errors["representative"] = (
                f"代表者のお名前は{MAX_PERSON_CHARS}文字以内で入力してください。"
            )
        phone = squeeze(self.phone)
        if phone and not _PHONE.match(phone):
            errors["phone"] = "電話番号は 047-000-0000 のように数字とハイフンで入力してください。"
        description = self.description.strip()
        if len(description) > MAX_DESCRIPTION_CHARS:
            errors["description"] = (
                f"団体の紹介は{MAX_DESCRIPTION_CHARS}文字以内で入力してください。"
            )
        if errors:
            return None, errors
        return (
            GroupProfile(
                name=name,
                fields=fields,
                prefecture=self.prefecture,
                municipality=municipality or None,
                legal_form=self.legal_form,
                members=members if isinstance(members, int) else None,
                founded_year=founded if isinstance(founded, int) else None,
                needs=needs,
                recipients=recipients,
                representative=representative or None,
                phone=phone or None,
                description=description or None,
            ),
            {},
        )


def _one_line(text: str) -> str:
    return re.sub(r"\s*[\r\n\t]+\s*", " ", text).strip()


def _number(text: str, units: tuple[str, ...]) -> int | bool | None:
    """A whole number typed any way (full width, 1,200, 25人); None if empty, False if not one."""
    value = unicodedata.normalize("NFKC", text).replace(",", "").strip()
    for unit in units:
        value = value.removesuffix(unit).strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit():
        return False
    return int(value)


def _year(text: str) -> int | bool | None:
    """A year, 西暦 (2015, 2015年) or 和暦 (平成27, 令和元年); None if empty, False if neither."""
    value = squeeze(text)
    match = _ERA_YEAR.match(value)
    if match:
        era, number = match.groups()
        return _ERAS[era] + (1 if number == "元" else int(number))
    return _number(value, ("年",))


def _recipients(text: str, account_email: str | None) -> tuple[list[str], str | None]:
    """The addresses (the account's first), normalized and de-duplicated; or an error."""
    found: list[str] = [account_email] if account_email else []
    bad: list[str] = []
    for line in re.split(r"[\n,、;；\s]+", text):
        if not line.strip():
            continue
        try:
            found.append(normalize_email(line))
        except AccountError:
            bad.append(line.strip()[:60])
    addresses = list(dict.fromkeys(found))
    if bad:
        return addresses, (
            "メールアドレスの形式が正しくありません：" + "、".join(bad) + "。1行に1つずつ、"
            "name@example.jp のように入力してください。"
        )
    if not addresses:
        return addresses, "メールの送り先を1つ以上入力してください。"
    if len(addresses) > MAX_RECIPIENTS:
        return addresses, f"メールの送り先は{MAX_RECIPIENTS}件までにしてください。"
    return addresses, None


# -- storing --------------------------------------------------------------------------------------


def _apply(group: GroupRow, profile: GroupProfile) -> None:
    group.name = profile.name
    group.fields = list(profile.fields)
    group.prefecture = profile.prefecture
    group.municipality = profile.municipality
    group.legal_form = profile.legal_form
    group.members = profile.members
    group.founded_year = profile.founded_year
    group.needs = list(profile.needs)
    group.representative = profile.representative
    group.phone = profile.phone
    group.description = profile.description


def _set_recipients(group: GroupRow, emails: list[str], now: datetime) -> None:
    """Keeps the rows of addresses still wanted (their dates), adds the new, drops the rest."""
    wanted = list(dict.fromkeys(emails))
    group.recipients = [r for r in group.recipients if r.email in wanted]
    have = {r.email for r in group.recipients}
    for email in wanted:
        if email not in have:
            group.recipients.append(GroupRecipientRow(email=email, created_at=now))


def create_group(
    session: Session,
    profile: GroupProfile,
    user_id: int | None = None,
    registered_by_staff: bool = False,
) -> GroupRow:
    """A new group with its recipients and the default digest settings (flushed, not committed)."""
    now = datetime.now(UTC)
    group = GroupRow(
        user_id=user_id,
        digest_enabled=True,
        digest_weekday=0,
        digest_sections=list(DIGEST_SECTIONS),
        digest_when_empty="short",
        reminder_days=list(DEFAULT_REMINDER_DAYS),
        unsubscribe_token=secrets.token_urlsafe(24),
        registered_by_staff=registered_by_staff,
        created_at=now,
        updated_at=now,
        recipients=[],
    )
    _apply(group, profile)
    _set_recipients(group, profile.recipients, now)
    session.add(group)
    session.flush()
    return group


def update_group(session: Session, group: GroupRow, profile: GroupProfile) -> None:
    """Stores a changed profile and recipients (flushed, not committed)."""
    now = datetime.now(UTC)
    _apply(group, profile)
    _set_recipients(group, profile.recipients, now)
    group.updated_at = now
    session.flush()


# -- digest settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestSettings:
    enabled: bool
    weekday: int
    sections: list[str]
    when_empty: str
    reminder_days: list[int]


@dataclass
class SettingsForm:
    """The digest settings as submitted."""

    enabled: str = "on"  # "on" | "off"
    weekday: str = "0"
    sections: list[str] = field(default_factory=lambda: list(DIGEST_SECTIONS))
    when_empty: str = "short"
    reminder_days: list[str] = field(
        default_factory=lambda: [str(d) for d in DEFAULT_REMINDER_DAYS]
    )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SettingsForm:
        def text(name: str) -> str:
            return form_text(data, name, 20)

        def many(name: str) -> list[str]:
            return [v.strip()[:20] for v in form_list(data, name)]

        return cls(
            enabled=text("enabled"),
            weekday=text("weekday"),
            sections=many("sections"),
            when_empty=text("when_empty"),
            reminder_days=many("reminder_days"),
        )

    @classmethod
    def of(cls, group: GroupRow) -> SettingsForm:
        return cls(
            enabled="on" if group.digest_enabled else "off",
            weekday=str(group.digest_weekday),
            sections=list(group.digest_sections or DIGEST_SECTIONS),  # empty = all
            when_empty=group.digest_when_empty,
            reminder_days=[str(d) for d in group.reminder_days or []],
        )

    def validate(self) -> tuple[DigestSettings | None, dict[str, str]]:
        errors: dict[str, str] = {}
        if self.enabled not in ("on", "off"):
            errors["enabled"] = "お知らせメールを受け取るかどうかを選んでください。"
        weekday = int(self.weekday) if self.weekday.isdigit() else -1
        if weekday not in WEEKDAY_LABELS:
            errors["weekday"] = "届く曜日を選んでください。"
        sections = [s for s in DIGEST_SECTIONS if s in self.sections]
        if len(sections) != len(set(self.sections)):
            errors["sections"] = "載せる内容は一覧から選んでください。"
        elif self.enabled == "on" and not sections:
            errors["sections"] = "メールに載せる内容を1つ以上選んでください。"
        if self.when_empty not in DIGEST_WHEN_EMPTY:
            errors["when_empty"] = "新しい情報がない週の扱いを選んでください。"
        days = [d for d in REMINDER_DAY_CHOICES if str(d) in self.reminder_days]
        if len(days) != len(set(self.reminder_days)):
            errors["reminder_days"] = "締切前のお知らせの日数は一覧から選んでください。"
        if errors:
            return None, errors
        return (
            DigestSettings(
                enabled=self.enabled == "on",
                weekday=weekday,
                sections=sections,
                when_empty=self.when_empty,
                reminder_days=days,
            ),
            {},
        )


def apply_settings(group: GroupRow, values: DigestSettings) -> None:
    group.digest_enabled = values.enabled
    group.digest_weekday = values.weekday
    group.digest_sections = list(values.sections)
    group.digest_when_empty = values.when_empty
    group.reminder_days = list(values.reminder_days)
    group.updated_at = datetime.now(UTC)


# -- 気になる and 対象外 --------------------------------------------------------------------------


@dataclass(frozen=True)
class CallMarks:
    """What a group has said about one call."""

    saved: bool
    dismissed: bool


def marks_for_user(session: Session, user_id: int, call_id: int) -> CallMarks | None:
    """The marks on `call_id` of the group `user_id` manages; None if it manages none."""
    group_id = session.scalar(select(GroupRow.id).where(GroupRow.user_id == user_id))
    if group_id is None:
        return None
    saved = session.get(SavedCallRow, (group_id, call_id)) is not None
    dismissed = session.get(DismissedCallRow, (group_id, call_id)) is not None
    return CallMarks(saved=saved, dismissed=dismissed)


def save_call(session: Session, group: GroupRow, call_id: int) -> None:
    """気になる: saved (reminders before the deadline); a 対象外 mark on it goes."""
    session.execute(
        delete(DismissedCallRow).where(
            DismissedCallRow.group_id == group.id, DismissedCallRow.call_id == call_id
        )
    )
    if session.get(SavedCallRow, (group.id, call_id)) is None:
        session.add(SavedCallRow(group_id=group.id, call_id=call_id, created_at=datetime.now(UTC)))
    session.flush()


def unsave_call(session: Session, group: GroupRow, call_id: int) -> None:
    session.execute(
        delete(SavedCallRow).where(
            SavedCallRow.group_id == group.id, SavedCallRow.call_id == call_id
        )
    )


def dismiss_call(session: Session, group: GroupRow, call_id: int) -> None:
    """対象外: digests leave the call out; a 気になる mark on it goes."""
    unsave_call(session, group, call_id)
    if session.get(DismissedCallRow, (group.id, call_id)) is None:
        session.add(
            DismissedCallRow(group_id=group.id, call_id=call_id, created_at=datetime.now(UTC))
        )
    session.flush()


def undismiss_call(session: Session, group: GroupRow, call_id: int) -> None:
    session.execute(
        delete(DismissedCallRow).where(
            DismissedCallRow.group_id == group.id, DismissedCallRow.call_id == call_id
        )
    )


# -- export and deletion --------------------------------------------------------------------------


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def group_addresses(session: Session, group: GroupRow) -> list[str]:
    """The group's own addresses: its account's, then its recipients'."""
    account = session.get(UserRow, group.user_id) if group.user_id is not None else None
    emails = [account.email if account else None, *(r.email for r in group.recipients)]
    return list(dict.fromkeys(e for e in emails if e))


def _history_query(group: GroupRow, account: UserRow | None):
    mine = OutboxRow.group_id == group.id
    if account is not None:  # the account's own mails (address confirmation, password reset)
        mine = or_(mine, (OutboxRow.group_id.is_(None)) & (OutboxRow.recipient == account.email))
    return select(OutboxRow).where(mine).order_by(OutboxRow.created_at, OutboxRow.id)


def group_export(session: Session, group: GroupRow) -> dict[str, Any]:
    """Everything kept about the group and its account, for the group to download.

    Mails about the group that went to others (the centre, a company) are listed without
    their addressee; no message body is included.
    """
    account = session.get(UserRow, group.user_id) if group.user_id is not None else None
    own = set(group_addresses(session, group))

    def calls(model) -> list[dict[str, Any]]:
        rows = session.execute(
            select(model.call_id, model.created_at, CallRow.title, CallRow.deadline)
            .join(CallRow, CallRow.id == model.call_id)
            .where(model.group_id == group.id)
            .order_by(model.created_at, model.call_id)
        )
        return [
            {"call_id": r.call_id, "title": r.title, "deadline": _iso(r.deadline),
             "marked_at": _iso(r.created_at)}
            for r in rows
        ]  # fmt: skip

    interests = session.execute(
        select(OfferInterestRow, OfferRow.title)
        .join(OfferRow, OfferRow.id == OfferInterestRow.offer_id)
        .where(OfferInterestRow.group_id == group.id)
        .order_by(OfferInterestRow.created_at, OfferInterestRow.id)
    )
    return {
        "group": {
            "id": group.id,
            "name": group.name,
            "representative": group.representative,
            "phone": group.phone,
            "fields": [
                {"slug": s, "label": FIELD_SHORT_LABELS.get(s, s)} for s in group.fields or []
            ],
            "prefecture": group.prefecture,
            "municipality": group.municipality,
            "legal_form": group.legal_form,
            "members": group.members,
            "founded_year": group.founded_year,
            "needs": [{"key": n, "label": NEEDS.get(n, n)} for n in group.needs or []],
            "description": group.description,
            "registered_by_staff": group.registered_by_staff,
            "created_at": _iso(group.created_at),
            "updated_at": _iso(group.updated_at),
        },
        "digest_settings": {
            "enabled": group.digest_enabled,
            "weekday": WEEKDAY_LABELS.get(group.digest_weekday),
            "sections": list(group.digest_sections or DIGEST_SECTIONS),
            "when_empty": group.digest_when_empty,
            "reminder_days": list(group.reminder_days or []),
        },
        "account": None
        if account is None
        else {
            "email": account.email,
            "name": account.name,
            "created_at": _iso(account.created_at),
            "email_confirmed_at": _iso(account.email_confirmed_at),
        },
        "recipients": [
            {"email": r.email, "name": r.name, "created_at": _iso(r.created_at)}
            for r in group.recipients
        ],
        "saved_calls": calls(SavedCallRow),
        "dismissed_calls": calls(DismissedCallRow),
        "offer_interests": [
            {
                "offer_id": interest.offer_id,
                "offer_title": title,
                "message": interest.message,
                "status": interest.status,
                "created_at": _iso(interest.created_at),
            }
            for interest, title in interests
        ],
        "mail_history": [
            {
                "kind": m.kind,
                "subject": m.subject,
                "to": m.recipient if m.recipient in own else None,
                "status": m.status,
                "created_at": _iso(m.created_at),
                "sent_at": _iso(m.sent_at),
            }
            for m in session.scalars(_history_query(group, account))
        ],
    }


def delete_group_and_account(session: Session, group: GroupRow) -> None:
    """Deletes the group, everything it marked or said, its account and the account's sessions.

    Mails already sent or failed stay in the outbox as a delivery log for the staff, but with
    the address replaced by "(削除済み)" and the message emptied; mails not yet sent go.
    Not committed.
    """
    account = session.get(UserRow, group.user_id) if group.user_id is not None else None
    mails = [m.id for m in session.scalars(_history_query(group, account))]
    if mails:
        session.execute(
            delete(OutboxRow).where(OutboxRow.id.in_(mails), OutboxRow.status == "pending")
        )
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(mails))
            .values(recipient=DELETED_RECIPIENT, message="", group_id=None)
        )
    interests = select(OfferInterestRow.id).where(OfferInterestRow.group_id == group.id)
    session.execute(delete(CoordinationLogRow).where(CoordinationLogRow.interest_id.in_(interests)))
    session.execute(delete(OfferInterestRow).where(OfferInterestRow.group_id == group.id))
    session.execute(delete(SavedCallRow).where(SavedCallRow.group_id == group.id))
    session.execute(delete(DismissedCallRow).where(DismissedCallRow.group_id == group.id))
    session.delete(group)  # and its recipients
    session.flush()
    if account is not None:
        session.execute(delete(SessionRow).where(SessionRow.user_id == account.id))
        session.execute(delete(AccountTokenRow).where(AccountTokenRow.user_id == account.id))
        session.execute(
            delete(SignInFailureRow).where(SignInFailureRow.key == f"email:{account.email}")
        )
        session.delete(account)
        session.flush()


# -- the staff's register -------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupFilter:
    """The staff's search of the register; empty values do not filter."""

    q: str = ""  # part of the name (width, kana and case folded)
    field: str = ""  # a field slug
    area: str = ""  # "prefecture:千葉県" or "municipality:鎌ケ谷市"
    legal_form: str = ""

    def matches(self, group: GroupRow, *, without: str | None = None) -> bool:
        """Whether `group` matches, leaving out the filter `without` (for that one's counts)."""
        if without != "q" and self.q and fold(self.q) not in fold(group.name):
            return False
        if without != "field" and self.field and self.field not in (group.fields or []):
            return False
        if without != "area" and self.area and self.area not in group_areas(group):
            return False
        return not (
            without != "legal_form" and self.legal_form and group.legal_form != self.legal_form
        )


def group_areas(group: GroupRow) -> list[str]:
    """The area filter values a group answers to."""
    areas = []
    if group.prefecture:
        areas.append(f"prefecture:{group.prefecture}")
    if group.municipality:
        areas.append(f"municipality:{group.municipality}")
    return areas


@dataclass
class GroupSearch:
    groups: list[GroupRow]  # matching, by name
    registered: int  # all groups in the register
    # filter name -> value -> how many groups match with that value and the other filters
    counts: dict[str, dict[str, int]]


def search_groups(session: Session, where: GroupFilter) -> GroupSearch:
    """The register searched. A city's register is a few hundred groups: the filters and their
    counts run over the loaded rows (fields are a JSON list, read alike on every database)."""
    groups = list(session.scalars(select(GroupRow).order_by(GroupRow.name, GroupRow.id)))
    counts: dict[str, dict[str, int]] = {"field": {}, "area": {}, "legal_form": {}}
    for group in groups:
        if where.matches(group, without="field"):
            for slug in group.fields or []:
                counts["field"][slug] = counts["field"].get(slug, 0) + 1
        if where.matches(group, without="area"):
            for area in group_areas(group):
                counts["area"][area] = counts["area"].get(area, 0) + 1
        if where.matches(group, without="legal_form"):
            form = group.legal_form
            counts["legal_form"][form] = counts["legal_form"].get(form, 0) + 1
    return GroupSearch(
        groups=[g for g in groups if where.matches(g)], registered=len(groups), counts=counts
    )
