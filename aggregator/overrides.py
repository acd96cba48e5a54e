"""Staff corrections to a call's facts (`call_overrides`): what may be corrected, how form
values are read, and how the corrections are written onto the call.

A call's facts are recomputed from its listings on every ingest; ingest then applies the stored
overrides (`apply_values`), so a later crawl never undoes a staff edit. Values are kept as JSON:
dates as "YYYY-MM-DD", amounts as integers, `fields` as a list of slugs; None is a value too
("not stated"), unlike an attribute that is absent (not corrected).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.fields import FIELDS
from aggregator.normalize.area import parse_area
from aggregator.record import Coverage, DeadlineKind, GrantCall, Status
from aggregator.searchtext import search_columns
from aggregator.storage.models import CallField, CallOverrideRow, CallRow, ListingRow

# attribute -> label shown to staff, in the order of the forms.
OVERRIDABLE: dict[str, str] = {
    "title": "名称",
    "organizer": "主催",
    "deadline": "締切日",
    "deadline_kind": "締切の種類",
    "application_start": "受付開始日",
    "max_amount_yen": "上限額（円）",
    "total_budget_yen": "総額（円）",
    "subsidy_rate": "補助率",
    "area": "地域",
    "informal_groups_ok": "任意団体の応募",
    "legal_forms": "応募できる法人格",
    "min_members": "必要な人数（○人以上）",
    "min_years_active": "必要な活動年数（○年以上）",
    "fields": "活動分野",
    "status": "募集状況",
    "cost_personnel": "対象経費：人件費",
    "cost_honoraria": "対象経費：謝金",
    "cost_rent": "対象経費：家賃",
    "cost_equipment": "対象経費：備品",
}

DATE_ATTRS = ("deadline", "application_start")
AMOUNT_ATTRS = ("max_amount_yen", "total_budget_yen")
COUNT_ATTRS = ("min_members", "min_years_active")
COST_ATTRS = ("cost_personnel", "cost_honoraria", "cost_rent", "cost_equipment")
LIST_ATTRS = ("fields", "legal_forms")

DEADLINE_KIND_CHOICES = {
    DeadlineKind.FIXED.value: "締切日あり",
    DeadlineKind.ROLLING.value: "随時受付",
    DeadlineKind.RECURRING.value: "定期的に締切あり",
    DeadlineKind.UNKNOWN.value: "不明（要確認）",
}
STATUS_CHOICES = {
    "": "日付から判断",
    Status.UPCOMING.value: "募集予定",
    Status.OPEN.value: "募集中",
    Status.CLOSED.value: "募集終了",
}
INFORMAL_CHOICES = {"": "記載なし", "yes": "応募できる", "no": "応募できない"}
COVERAGE_CHOICES = {
    Coverage.NOT_STATED.value: "記載なし",
    Coverage.YES.value: "対象",
    Coverage.NO.value: "対象外",
}

# Shown as the evidence of a corrected fact, in place of the crawled snippet it replaces.
STAFF_EVIDENCE = "センター職員が確認して修正しました"

_COST_EVIDENCE = {attr: "costs." + attr.removeprefix("cost_") for attr in COST_ATTRS}
_DIGITS = re.compile(r"[0-9]+")
_DATE = re.compile(r"^(\d{4})[-/年.](\d{1,2})[-/月.](\d{1,2})日?$")
_SPLIT = re.compile(r"[、,，・/\n]+")


class OverrideError(ValueError):
    """A correction that cannot be stored (message in Japanese)."""


# -- values of a call -------------------------------------------------------------------------


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def row_values(row: CallRow) -> dict[str, Any]:
    """A stored call's overridable facts, in the JSON form overrides use."""
    return {
        "title": row.title,
        "organizer": row.organizer,
        "deadline": _iso(row.deadline),
        "deadline_kind": row.deadline_kind,
        "application_start": _iso(row.application_start),
        "max_amount_yen": row.max_amount_yen,
        "total_budget_yen": row.total_budget_yen,
        "subsidy_rate": row.subsidy_rate,
        "area": row.area,
        "informal_groups_ok": row.informal_groups_ok,
        "legal_forms": list(row.legal_forms or []),
        "min_members": row.min_members,
        "min_years_active": row.min_years_active,
        "fields": [f.field for f in sorted(row.fields, key=lambda f: f.rank)],
        "status": row.status,
        "cost_personnel": row.cost_personnel,
        "cost_honoraria": row.cost_honoraria,
        "cost_rent": row.cost_rent,
        "cost_equipment": row.cost_equipment,
    }


def record_values(call: GrantCall) -> dict[str, Any]:
    """A normalized record's overridable facts, in the JSON form overrides use."""
    return {
        "title": call.title,
        "organizer": call.organizer,
        "deadline": _iso(call.deadline),
        "deadline_kind": call.deadline_kind.value,
        "application_start": _iso(call.application_start),
        "max_amount_yen": call.max_amount_yen,
        "total_budget_yen": call.total_budget_yen,
        "subsidy_rate": call.subsidy_rate,
        "area": call.area,
        "informal_groups_ok": call.eligibility.informal_groups_ok,
        "legal_forms": list(call.eligibility.legal_forms),
        "min_members": call.eligibility.min_members,
        "min_years_active": call.eligibility.min_years_active,
        "fields": list(call.fields),
        "status": call.status.value if call.status else None,
        "cost_personnel": call.costs.personnel.value,
        "cost_honoraria": call.costs.honoraria.value,
        "cost_rent": call.costs.rent.value,
        "cost_equipment": call.costs.equipment.value,
    }


def evidence_key(attr: str) -> str:
    """The key of `calls.evidence` that explains `attr`."""
    return _COST_EVIDENCE.get(attr, attr)


_MISSING = object()


def same_value(attr: str, a: Any, b: Any) -> bool:
    """Whether two values of `attr` say the same (activity fields: in any order)."""
    if attr == "fields" and isinstance(a, list) and isinstance(b, list):
        return set(a) == set(b)
    return a == b


def differences(values: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `values` that differ from `base` (the corrections to store)."""
    return {
        attr: value
        for attr, value in values.items()
        if not same_value(attr, value, base.get(attr, _MISSING))
    }


def corrections(
    values: Mapping[str, Any],
    *,
    current: Mapping[str, Any],
    crawled: Mapping[str, Any],
    stored: Mapping[str, Any],
    reverted: Iterable[str] = (),
) -> dict[str, Any]:
    """The whole set of corrections after an edit form is sent.

    `values` are the form's values, `current` the call's values as shown, `crawled` its values
    from its listings, `stored` its corrections so far. A value left as shown stays as it is
    (corrected or not); a value changed is a correction unless it equals the crawled one; a
    reverted attribute loses its correction.
    """
    reverted = set(reverted)
    result: dict[str, Any] = {}
    for attr, value in values.items():
        if attr in reverted:
            continue
        if attr in stored:
            if same_value(attr, value, current.get(attr, _MISSING)):
                result[attr] = stored[attr]
            elif not same_value(attr, value, crawled.get(attr, _MISSING)):
                result[attr] = value
        elif not same_value(attr, value, current.get(attr, _MISSING)):
            result[attr] = value
    for attr, value in stored.items():  # corrections the form did not show
        if attr not in values and attr not in reverted:
            result[attr] = value
    if "fields" in result:
        result["fields"] = _ordered_fields(result["fields"], current.get("fields") or [])
    return result


def _ordered_fields(chosen: list[str], current: list[str]) -> list[str]:
    """The chosen fields, those the call had first in their order (most relevant first)."""
    return [f for f in current if f in chosen] + [f for f in chosen if f not in current]


# -- checking stored values -------------------------------------------------------------------


def clean_value(attr: str, value: Any) -> Any:
    """`value` checked for `attr` (JSON form); raises OverrideError."""
    label = OVERRIDABLE.get(attr)
    if label is None:
        raise OverrideError(f"「{attr}」は修正できない項目です。")
    if attr == "title":
        if not isinstance(value, str) or not value.strip():
            raise OverrideError("名称を入力してください。")
        return value.strip()
    if value is None:
        if attr in LIST_ATTRS or attr in COST_ATTRS or attr in ("deadline_kind", "area"):
            raise OverrideError(f"{label}を選んでください。")
        return None
    if attr in ("organizer", "subsidy_rate"):
        if not isinstance(value, str):
            raise OverrideError(f"{label}は文字で入力してください。")
        return value.strip() or None
    if attr in DATE_ATTRS:
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError as exc:
            raise OverrideError(f"{label}は 2026-12-25 の形で入力してください。") from exc
    if attr in AMOUNT_ATTRS or attr in COUNT_ATTRS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise OverrideError(f"{label}は 0 以上の数字で入力してください。")
        return value
    if attr == "deadline_kind":
        return _choice(attr, value, DEADLINE_KIND_CHOICES)
    if attr == "status":
        return _choice(attr, value, STATUS_CHOICES)
    if attr in COST_ATTRS:
        return _choice(attr, value, COVERAGE_CHOICES)
    if attr == "informal_groups_ok":
        if not isinstance(value, bool):
            raise OverrideError(f"{label}を選んでください。")
        return value
    if attr == "area":
        if not isinstance(value, str) or not (
            value == "national" or value.startswith(("prefecture:", "municipality:"))
        ):
            raise OverrideError("地域を選んでください。")
        return value
    if attr == "fields":
        if not isinstance(value, list) or any(v not in FIELDS for v in value):
            raise OverrideError("活動分野は一覧から選んでください。")
        return list(dict.fromkeys(value))
    if attr == "legal_forms":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise OverrideError(f"{label}は文字で入力してください。")
        return [v.strip() for v in dict.fromkeys(value) if v.strip()]
    raise OverrideError(f"「{attr}」は修正できない項目です。")


def _choice(attr: str, value: Any, choices: Mapping[str, str]) -> str:
    if value not in choices or value == "":
        raise OverrideError(f"{OVERRIDABLE[attr]}を選んでください。")
    return value


def clean_values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {attr: clean_value(attr, value) for attr, value in values.items()}


# -- reading a form ---------------------------------------------------------------------------


def _fold(text: str | None) -> str:
    return unicodedata.normalize("NFKC", text or "").strip()


def _parse_date(text: str) -> date | None:
    text = _fold(text).replace(" ", "")
    if not text:
        return None
    m = _DATE.match(text)
    if not m:
        raise ValueError(text)
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def parse_amount(text: str | None) -> int | None:
    """Yen from a form: "300000", "300,000", "30万", "30万円", "1.5億" (None if empty)."""
    text = _fold(text).replace(",", "").replace("円", "").replace(" ", "")
    if not text:
        return None
    unit = 1
    for word, factor in (("億", 100_000_000), ("万", 10_000), ("千", 1_000)):
        if text.endswith(word):
            text, unit = text[: -len(word)], factor
            break
    try:
        number = float(text) if "." in text else int(text)
    except ValueError as exc:
        raise ValueError(text) from exc
    if number < 0:
        raise ValueError(text)
    return round(number * unit)


def _parse_count(text: str | None) -> int | None:
    text = _fold(text).removesuffix("人").removesuffix("年").removesuffix("以上").strip()
    if not text:
        return None
    if not _DIGITS.fullmatch(text):
        raise ValueError(text)
    return int(text)


def area_from_text(text: str) -> str | None:
    """An area value from a place typed by staff ("東京都", "船橋市", "全国"); None if unknown."""
    text = _fold(text)
    if not text:
        return None
    if text in ("全国", "national"):
        return "national"
    area, _ = parse_area("", fallback=text)
    return area if area != "national" else None


def parse_form(
    form: Mapping[str, Any], attrs: Iterable[str] = OVERRIDABLE
) -> tuple[dict[str, Any], dict[str, str]]:
    """Values (JSON form) and errors (attribute -> message) from a form's fields.

    `form[attr]` is the text typed; list attributes (`fields`) are lists. `area` may come as a
    choice (`area`) or as a place typed in `area_other`, which wins when given. Attributes the
    form does not hold are not in the result.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def text(name: str) -> str:
        value = form.get(name)
        if isinstance(value, list):
            value = value[0] if value else ""
        return str(value or "")

    for attr in attrs:
        # A field the form does not hold is left alone; unticked checkboxes send nothing, so
        # the form says it showed the fields with `fields_shown`.
        present = attr in form or (attr == "fields" and bool(form.get("fields_shown")))
        if not present:
            continue
        label = OVERRIDABLE[attr]
        raw = text(attr)
        try:
            if attr == "title":
                value: Any = raw.strip() or None
                if value is None:
                    raise OverrideError("名称を入力してください。")
            elif attr in ("organizer", "subsidy_rate"):
                value = raw.strip() or None
            elif attr in DATE_ATTRS:
                try:
                    parsed = _parse_date(raw)
                except ValueError:
                    raise OverrideError(f"{label}は 2026-12-25 の形で入力してください。") from None
                value = _iso(parsed)
            elif attr in AMOUNT_ATTRS:
                try:
                    value = parse_amount(raw)
                except ValueError:
                    raise OverrideError(
                        f"{label}は数字で入力してください（例：300000 または 30万）。"
                    ) from None
            elif attr in COUNT_ATTRS:
                try:
                    value = _parse_count(raw)
                except ValueError:
                    raise OverrideError(f"{label}は数字で入力してください。") from None
            elif attr == "informal_groups_ok":
                if raw not in INFORMAL_CHOICES:
                    raise OverrideError(f"{label}を選んでください。")
                value = {"": None, "yes": True, "no": False}[raw]
            elif attr == "status":
                value = clean_value(attr, raw) if raw else None
            elif attr == "area":
                other = text("area_other")
                if _fold(other):
                    value = area_from_text(other)
                    if value is None:
                        raise OverrideError(
                            "地域は「東京都」「船橋市」のように都道府県名か市区町村名で"
                            "入力してください。"
                        )
                else:
                    value = clean_value(attr, raw or None)
            elif attr == "fields":
                chosen = form.get("fields") or []
                if isinstance(chosen, str):
                    chosen = [chosen]
                value = clean_value(attr, [c for c in chosen if c])
            elif attr == "legal_forms":
                value = [p.strip() for p in _SPLIT.split(raw) if p.strip()]
                value = list(dict.fromkeys(value))
            else:  # deadline_kind, cost_*
                value = clean_value(attr, raw or None)
        except OverrideError as exc:
            errors[attr] = str(exc)
            continue
        values[attr] = value
    # A date typed for a call whose deadline was not understood is a fixed deadline.
    if values.get("deadline") and values.get("deadline_kind") == DeadlineKind.UNKNOWN.value:
        values["deadline_kind"] = DeadlineKind.FIXED.value
    return values, errors


def form_text(attr: str, value: Any) -> Any:
    """How a value shows in its form input (the inverse of `parse_form`)."""
    if attr == "informal_groups_ok":
        return "" if value is None else ("yes" if value else "no")
    if attr == "legal_forms":
        return "、".join(value or [])
    if attr == "fields":
        return list(value or [])
    return "" if value is None else value


# -- storing and applying ---------------------------------------------------------------------


def load_overrides(session: Session, call_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The stored corrections of `call_ids` (one query)."""
    ids = list(call_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(CallOverrideRow.call_id, CallOverrideRow.values).where(
            CallOverrideRow.call_id.in_(ids)
        )
    )
    return {call_id: values for call_id, values in rows if values}


def apply_values(row: CallRow, values: Mapping[str, Any]) -> None:
    """Writes corrections onto a call row (its `fields` rows and search columns included)."""
    if not values:
        return
    evidence = dict(row.evidence or {})
    conflicts = dict(row.conflicts or {})
    for attr, value in values.items():
        if attr not in OVERRIDABLE:
            continue  # an attribute no longer overridable: ignored, never fatal for ingest
        if attr in DATE_ATTRS:
            setattr(row, attr, date.fromisoformat(value) if value else None)
        elif attr == "fields":
            _set_fields(row, value or [])
        else:
            setattr(row, attr, value)
        evidence[evidence_key(attr)] = STAFF_EVIDENCE
        conflicts.pop(attr, None)  # staff have settled what the sources disagree on
    row.evidence = evidence
    row.conflicts = conflicts
    if "title" in values or "organizer" in values:
        for key, value in search_columns(row.title, row.organizer, row.raw_text).items():
            setattr(row, key, value)


def _set_fields(row: CallRow, slugs: list[str]) -> None:
    wanted = {slug: rank for rank, slug in enumerate(dict.fromkeys(slugs)) if slug in FIELDS}
    row.fields = [f for f in row.fields if f.field in wanted]
    for f in row.fields:
        f.rank = wanted.pop(f.field)
    row.fields.extend(CallField(field=slug, rank=rank) for slug, rank in wanted.items())


def apply_overrides(session: Session, row: CallRow) -> bool:
    """Writes the stored corrections of `row` onto it; False when it has none."""
    values = load_overrides(session, [row.id]).get(row.id)
    if not values:
        return False
    apply_values(row, values)
    return True


def get_overrides(session: Session, call_id: int) -> CallOverrideRow | None:
    return session.get(CallOverrideRow, call_id)


def crawled_call(session: Session, call_id: int) -> tuple[GrantCall, bool] | None:
    """The call's facts as its listings give them (before corrections), and whether a listing
    withdraws it; None for a call without listings."""
    from aggregator.ingest import merge_listings, withdrawn  # ingest imports this module

    listings = session.scalars(select(ListingRow).where(ListingRow.call_id == call_id)).all()
    if not listings:
        return None
    merged, _, _ = merge_listings(listings)
    return merged, withdrawn(listings)


def crawled_values(session: Session, call_id: int) -> dict[str, Any]:
    """The overridable facts of a call as its listings give them."""
    found = crawled_call(session, call_id)
    if found is None:
        return {}
    merged, was_withdrawn = found
    values = record_values(merged)
    if was_withdrawn:
        values["status"] = Status.CLOSED.value
    return values


def refresh_call(session: Session, row: CallRow) -> None:
    """Recomputes a call from its listings and applies its corrections (after they changed).

    A staff correction is not news about the call: nothing goes into its change history, and
    `last_seen` (when a source last listed it) stays.
    """
    from aggregator.ingest import Ingestor  # ingest imports this module

    listings = session.scalars(select(ListingRow).where(ListingRow.call_id == row.id)).all()
    overrides = load_overrides(session, [row.id]).get(row.id)
    if listings:
        Ingestor(session.get_bind(), today=date.today(), now=row.last_seen).apply_merge(
            row, list(listings), overrides
        )
    else:
        apply_values(row, overrides or {})


def set_overrides(
    session: Session,
    call_id: int,
    values: Mapping[str, Any],
    user_id: int | None,
    note: str | None = None,
    *,
    now: datetime | None = None,
) -> CallRow:
    """Stores `values` as the whole set of corrections of the call (none: the row goes) and
    rewrites the call. Runs in the caller's transaction; raises OverrideError or LookupError."""
    row = session.get(CallRow, call_id)
    if row is None:
        raise LookupError(call_id)
    cleaned = clean_values(values)
    stored = session.get(CallOverrideRow, call_id)
    if cleaned:
        if stored is None:
            stored = CallOverrideRow(call_id=call_id)
            session.add(stored)
        stored.values = cleaned
        stored.note = (note or "").strip() or None
        stored.updated_by = user_id
        stored.updated_at = now or datetime.now(UTC)
    elif stored is not None:
        session.delete(stored)
    session.flush()
    refresh_call(session, row)
    session.flush()
    return row


def move_overrides(session: Session, from_call: int, *, into_call: int) -> None:
    """On a merge: the merged-away call's corrections join the kept call's (the kept call's
    own corrections win)."""
    gone = session.get(CallOverrideRow, from_call)
    if gone is None:
        return
    values = dict(gone.values or {})
    note, updated_by, updated_at = gone.note, gone.updated_by, gone.updated_at
    session.delete(gone)
    session.flush()
    kept = session.get(CallOverrideRow, into_call)
    if kept is None:
        session.add(
            CallOverrideRow(
                call_id=into_call,
                values=values,
                note=note,
                updated_by=updated_by,
                updated_at=updated_at,
            )
        )
    else:
        kept.values = {**values, **(kept.values or {})}
    session.flush()
