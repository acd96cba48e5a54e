"""Companies' CSR offers: the kinds, the form's rules, the states, and finding them.

An offer goes draft → pending (the company asks for approval) → published (only staff, and
only when the company itself is approved) → closed. Staff may send a pending offer back to
draft with a note. A company that edits a published offer sends it back to pending: the
centre checks it again before it is public.

Public lists show an offer when it is published, its company is approved, and its period has
not ended. Keywords are matched in `offers.search_text`, folded like the calls'
(`aggregator.searchtext.fold`), every word of the query must match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session, contains_eager

from aggregator.forms import UNKNOWN_FIELDS, form_list, form_text, known_fields, squeeze
from aggregator.normalize.amounts import parse_yen
from aggregator.normalize.area import PREFECTURES
from aggregator.normalize.dates import parse_date
from aggregator.search import Home
from aggregator.searchtext import fold, search_text
from aggregator.storage.models import CompanyRow, GroupRow, OfferRow

OFFER_KINDS: dict[str, str] = {
    "money": "寄付金",
    "goods": "物品寄贈",
    "space": "場所の提供",
    "probono": "プロボノ・人材",
    "matching_gift": "マッチングギフト",
    "volunteer_leave": "ボランティア休暇制度",
    "sponsorship": "協賛",
}
OFFER_STATUS_LABELS: dict[str, str] = {
    "draft": "下書き",
    "pending": "承認待ち",
    "published": "公開中",
    "closed": "終了",
}
COMPANY_STATUS_LABELS: dict[str, str] = {
    "pending": "承認待ち",
    "approved": "承認済み",
    "rejected": "承認されませんでした",
}
INTEREST_STATUS_LABELS: dict[str, str] = {
    "new": "未対応",
    "in_progress": "対応中",
    "done": "完了",
}
# What a group says it needs (groups.needs) → the kinds of offer that answer it.
NEED_KINDS: dict[str, tuple[str, ...]] = {
    "funds": ("money", "matching_gift", "sponsorship"),
    "goods": ("goods",),
    "people": ("probono", "volunteer_leave"),
    "space": ("space",),
}
AMOUNT_KINDS = frozenset({"money", "matching_gift"})  # kinds where an amount in yen applies
MAX_TITLE_CHARS = 120
MAX_TEXT_CHARS = 5000
MAX_AMOUNT_YEN = 10**12  # 1兆円: far above any offer, far below BIGINT
AREA_OTHER = "other"  # the form's choice "another place, typed below"

_PLACE_SUFFIX = re.compile(r"^\S{1,15}[市区町村]$")


class OfferError(ValueError):
    """A change of state that cannot be done; the message is for people (Japanese)."""


# -- the form ----------------------------------------------------------------------------------


@dataclass
class OfferInput:
    """An offer's facts as the company entered them, checked."""

    kind: str
    title: str
    description: str
    fields: list[str]
    area: str
    amount_yen: int | None
    quantity: str | None
    period_start: date | None
    period_end: date | None
    how_to_apply: str
    contact: str

    def apply(self, offer: OfferRow) -> None:
        for name in (
            "kind",
            "title",
            "description",
            "area",
            "amount_yen",
            "quantity",
            "period_start",
            "period_end",
            "how_to_apply",
            "contact",
        ):
            setattr(offer, name, getattr(self, name))
        offer.fields = list(self.fields)


@dataclass
class OfferForm:
    """What the form holds (as typed), for showing it again."""

    kind: str = ""
    title: str = ""
    description: str = ""
    fields: list[str] = field(default_factory=list)
    area: str = "national"
    area_other: str = ""
    amount: str = ""
    quantity: str = ""
    period_start: str = ""
    period_end: str = ""
    how_to_apply: str = ""
    contact: str = ""

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> OfferForm:
        """From posted form data: `fields` a list, everything else a string."""

        def text(name: str) -> str:
            return form_text(data, name)

        return cls(
            kind=text("kind"),
            title=text("title"),
            description=text("description"),
            fields=[f for f in form_list(data, "fields") if f],
            area=text("area") or "national",
            area_other=text("area_other"),
            amount=text("amount"),
            quantity=text("quantity"),
            period_start=text("period_start"),
            period_end=text("period_end"),
            how_to_apply=text("how_to_apply"),
            contact=text("contact"),
        )

    @classmethod
    def from_offer(cls, offer: OfferRow) -> OfferForm:
        return cls(
            kind=offer.kind,
            title=offer.title,
            description=offer.description or "",
            fields=list(offer.fields or []),
            area=offer.area or "national",
            amount=str(offer.amount_yen) if offer.amount_yen is not None else "",
            quantity=offer.quantity or "",
            period_start=offer.period_start.isoformat() if offer.period_start else "",
            period_end=offer.period_end.isoformat() if offer.period_end else "",
            how_to_apply=offer.how_to_apply or "",
            contact=offer.contact or "",
        )


def area_choices(home: Home, current: str | None = None) -> dict[str, str]:
    """The form's area choices (value → label): 全国, the home prefecture and city, another
    place already stored (when editing), and 「その他」 to type one."""
    choices = {
        "national": "全国",
        f"prefecture:{home.prefecture}": home.prefecture,
        f"municipality:{home.municipality}": home.municipality,
    }
    if current and current not in choices and current.startswith(("prefecture:", "municipality:")):
        choices[current] = current.split(":", 1)[1]
    choices[AREA_OTHER] = "その他の地域（下の欄に入力）"
    return choices


def parse_place(text: str) -> str | None:
    """A typed place → an area value: 東京都 → prefecture:東京都, 船橋市 or 千葉県船橋市 →
    municipality:船橋市, 全国 → national; None when it is not a place name."""
    value = squeeze(text)
    if not value:
        return None
    if value in ("全国", "日本全国"):
        return "national"
    if value in PREFECTURES:
        return f"prefecture:{value}"
    for pref in PREFECTURES:
        if value.startswith(pref) and len(value) > len(pref):
            value = value[len(pref) :]
            break
    if _PLACE_SUFFIX.match(value):
        return f"municipality:{value}"
    return None


def _date(text: str, today: date | None) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return parse_date(text, reference=today)


def read_amount(text: str) -> int | None:
    """「50万円」, 「500,000」, 「３０万」 → yen; raises ValueError when it is not an amount."""
    value = squeeze(text)
    if value.startswith(("-", "−", "▲")):
        raise ValueError("negative")
    if value.replace(",", "").isdigit():
        return int(value.replace(",", ""))
    yen = parse_yen(value)
    if yen is None:
        raise ValueError("not an amount")
    return yen


def validate_offer(
    form: OfferForm, home: Home, today: date | None = None
) -> tuple[OfferInput | None, dict[str, str]]:
    """The checked offer, or None and a message per field (Japanese, saying what to do)."""
    errors: dict[str, str] = {}
    if form.kind not in OFFER_KINDS:
        errors["kind"] = "支援の種類を選んでください。"
    if not form.title:
        errors["title"] = "タイトルを入力してください。"
    elif len(form.title) > MAX_TITLE_CHARS:
        errors["title"] = f"タイトルは{MAX_TITLE_CHARS}文字以内にしてください。"
    if not form.description:
        errors["description"] = "支援の内容を入力してください。"
    elif len(form.description) > MAX_TEXT_CHARS:
        errors["description"] = f"支援の内容は{MAX_TEXT_CHARS}文字以内にしてください。"
    fields, fields_known = known_fields(form.fields)
    if not fields_known:
        errors["fields"] = UNKNOWN_FIELDS
    area: str | None = None
    if form.area == AREA_OTHER:
        area = parse_place(form.area_other)
        if area is None:
            errors["area"] = (
                "その他の地域には、都道府県名（例：東京都）か市区町村名（例：船橋市）を"
                "入力してください。"
            )
    elif form.area == "national" or (
        form.area.startswith(("prefecture:", "municipality:"))
        and parse_place(form.area.split(":", 1)[1]) == form.area
    ):
        area = form.area
    else:
        errors["area"] = "地域を一覧から選んでください。"
    amount: int | None = None
    if form.amount:
        if form.kind in OFFER_KINDS and form.kind not in AMOUNT_KINDS:
            errors["amount"] = (
                "金額は「寄付金」と「マッチングギフト」のときだけ入力します。"
                "物品などの量は「数量など」の欄に書いてください。"
            )
        else:
            try:
                amount = read_amount(form.amount)
            except ValueError:
                errors["amount"] = (
                    "金額は「50万円」や「500000」のように、0以上の額で入力してください。"
                )
            else:
                if amount > MAX_AMOUNT_YEN:
                    errors["amount"] = "金額が大きすぎます。円の単位でご確認ください。"
    if len(form.quantity) > 500:
        errors["quantity"] = "数量などは500文字以内にしてください。"
    start = end = None
    if form.period_start:
        start = _date(form.period_start, today)
        if start is None:
            errors["period_start"] = "期間の始まりは 2026-12-01 のように入力してください。"
    if form.period_end:
        end = _date(form.period_end, today)
        if end is None:
            errors["period_end"] = "期間の終わりは 2027-03-31 のように入力してください。"
    if start and end and start > end:
        errors["period_end"] = "期間の終わりは、始まりと同じ日かそれより後にしてください。"
    if not form.how_to_apply:
        errors["how_to_apply"] = "申し込み方法を入力してください。"
    elif len(form.how_to_apply) > MAX_TEXT_CHARS:
        errors["how_to_apply"] = f"申し込み方法は{MAX_TEXT_CHARS}文字以内にしてください。"
    if not form.contact:
        errors["contact"] = "問い合わせ先を入力してください（公開されます）。"
    elif len(form.contact) > 1000:
        errors["contact"] = "問い合わせ先は1000文字以内にしてください。"
    if errors:
        return None, errors
    return (
        OfferInput(
            kind=form.kind,
            title=form.title,
            description=form.description,
            fields=fields,  # the law's order, no repeats
            area=area or "national",
            amount_yen=amount,
            quantity=form.quantity or None,
            period_start=start,
            period_end=end,
            how_to_apply=form.how_to_apply,
            contact=form.contact,
        ),
        {},
    )


def offer_search_text(offer: OfferRow, company_name: str | None) -> str:
    """What a keyword is looked for in: title, company, kind, description, quantity."""
    body = " ".join(
        p for p in (OFFER_KINDS.get(offer.kind), offer.description, offer.quantity) if p
    )
    return search_text(offer.title, company_name, body)


# -- states ------------------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def create(company: CompanyRow, values: OfferInput, now: datetime | None = None) -> OfferRow:
    """A new draft offer of `company` (add it to the session yourself)."""
    at = _now(now)
    offer = OfferRow(company_id=company.id, status="draft", created_at=at, updated_at=at)
    offer.company = company
    values.apply(offer)
    offer.search_text = offer_search_text(offer, company.name)
    return offer


def edit(offer: OfferRow, values: OfferInput, now: datetime | None = None) -> bool:
    """The company changes its offer. A published one goes back to pending (the centre checks
    it again); returns True when that happened. A closed offer cannot be edited."""
    if offer.status == "closed":
        raise OfferError("終了した支援は編集できません。新しく登録してください。")
    at = _now(now)
    values.apply(offer)
    offer.search_text = offer_search_text(offer, offer.company.name if offer.company else None)
    offer.updated_at = at
    if offer.status == "published":
        offer.status = "pending"
        offer.submitted_at = at
        return True
    return False


def submit(offer: OfferRow, now: datetime | None = None) -> None:
    """draft → pending: the company asks the centre to publish it."""
    if offer.status != "draft":
        raise OfferError(
            f"この支援は「{OFFER_STATUS_LABELS[offer.status]}」のため、承認を申請できません。"
        )
    at = _now(now)
    offer.status = "pending"
    offer.submitted_at = at
    offer.updated_at = at


def publish(offer: OfferRow, staff_user_id: int, now: datetime | None = None) -> None:
    """pending → published, by staff; the company must be approved."""
    if offer.status != "pending":
        raise OfferError(
            f"この支援は「{OFFER_STATUS_LABELS[offer.status]}」のため、公開できません。"
            "承認待ちのものだけ公開できます。"
        )
    if offer.company is None or offer.company.status != "approved":
        raise OfferError("企業の登録がまだ承認されていません。先に企業を承認してください。")
    at = _now(now)
    offer.status = "published"
    offer.published_at = at
    offer.published_by = staff_user_id
    offer.review_note = None
    offer.updated_at = at


def send_back(offer: OfferRow, note: str, now: datetime | None = None) -> None:
    """pending → draft, by staff, with the reason for the company."""
    if offer.status != "pending":
        raise OfferError("承認待ちの支援だけ差し戻せます。")
    note = (note or "").strip()
    if not note:
        raise OfferError("差し戻す理由を入力してください（企業に伝わります）。")
    offer.status = "draft"
    offer.review_note = note
    offer.updated_at = _now(now)


def close(offer: OfferRow, now: datetime | None = None) -> None:
    """Any state → closed (the company or staff ends the offer)."""
    if offer.status == "closed":
        raise OfferError("この支援はすでに終了しています。")
    at = _now(now)
    offer.status = "closed"
    offer.closed_at = at
    offer.updated_at = at


# -- finding offers ----------------------------------------------------------------------------


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _visible(today: date) -> list[ColumnElement[bool]]:
    """Public: published, the company approved, the period not ended."""
    return [
        OfferRow.status == "published",
        CompanyRow.status == "approved",
        or_(OfferRow.period_end.is_(None), OfferRow.period_end >= today),
    ]


def visible_offer(session: Session, offer_id: int, today: date) -> OfferRow | None:
    """The offer if the public may see it, else None."""
    return session.scalars(
        select(OfferRow)
        .join(CompanyRow, OfferRow.company_id == CompanyRow.id)
        .where(OfferRow.id == offer_id, *_visible(today))
    ).first()


def _fields_overlap(offer_fields: Sequence[str] | None, wanted: Iterable[str]) -> bool:
    """An offer for no particular field is for every field."""
    wanted = set(wanted)
    return not wanted or not offer_fields or bool(wanted & set(offer_fields))


def search_offers(
    session: Session,
    *,
    q: str | None = None,
    fields: Sequence[str] = (),
    area: str | None = None,
    kinds: Sequence[str] = (),
    today: date,
    home: Home | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[int, list[OfferRow]]:
    """Published offers matching the search, newest first: (total, one page).

    `area` takes the calls' filter values (`Home.area_values`: national, prefecture,
    municipality, reachable, 千葉県, municipality:鎌ケ谷市 …). An offer with no fields matches
    any field filter.
    """
    home = home or Home()
    where = _visible(today)
    q = (q or "").replace("\x00", "")
    if q:
        postgres = session.get_bind().dialect.name == "postgresql"
        for term in fold(q).split():
            pattern = f"%{_like_escape(term)}%"
            column = OfferRow.search_text
            where.append(
                column.ilike(pattern, escape="\\")
                if postgres
                else column.like(pattern, escape="\\")
            )
    if area:
        values = home.area_values(area) or []
        where.append(OfferRow.area.in_(values) if values else false())
    if kinds:
        where.append(OfferRow.kind.in_(list(kinds)))
    query = (
        select(OfferRow)
        .join(CompanyRow, OfferRow.company_id == CompanyRow.id)
        .where(*where)
        .order_by(OfferRow.published_at.desc(), OfferRow.id.desc())
    )
    if not fields:
        count = select(func.count()).select_from(OfferRow).join(CompanyRow).where(*where)
        total = session.scalar(count) or 0
        rows = session.scalars(query.limit(limit).offset(offset)).all()
        return total, list(rows)
    # Fields are a JSON list; offers are few (a city's companies), so they are filtered here.
    matching = [o for o in session.scalars(query) if _fields_overlap(o.fields, fields)]
    return len(matching), matching[offset : offset + limit]


def reachable_areas(prefecture: str | None, municipality: str | None) -> list[str]:
    """The offer areas a group in this place can use: national, its prefecture, its city."""
    areas = ["national"]
    if prefecture:
        areas.append(f"prefecture:{prefecture}")
    if municipality:
        areas.append(f"municipality:{municipality}")
    return areas


def published_offers(session: Session, today: date) -> list[OfferRow]:
    """Every offer the public may see, newest first (with its company loaded)."""
    return list(
        session.scalars(
            select(OfferRow)
            .join(CompanyRow, OfferRow.company_id == CompanyRow.id)
            .options(contains_eager(OfferRow.company))
            .where(*_visible(today))
            .order_by(OfferRow.published_at.desc(), OfferRow.id.desc())
        )
    )


def offer_fits(offer: OfferRow, group: GroupRow) -> bool:
    """Fields overlapping the group's (or the offer is for any field), an area the group is in
    (national, its prefecture, its city), and, when the group stated what it needs, a kind
    that answers one of its needs."""
    if offer.area not in reachable_areas(group.prefecture, group.municipality):
        return False
    needs = [n for n in (group.needs or []) if n in NEED_KINDS]
    if needs and offer.kind not in {k for n in needs for k in NEED_KINDS[n]}:
        return False
    return _fields_overlap(offer.fields, group.fields or [])


def matching_offers(session: Session, group: GroupRow, today: date) -> list[OfferRow]:
    """Published offers for a group's digest, newest first (see `offer_fits`)."""
    return [o for o in published_offers(session, today) if offer_fits(o, group)]
