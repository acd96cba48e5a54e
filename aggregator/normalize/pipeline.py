"""From a raw call (what a source says, as text) to a normalized `GrantCall` with evidence."""

from __future__ import annotations

from datetime import date

from aggregator.normalize.amounts import parse_amounts
from aggregator.normalize.area import parse_area
from aggregator.normalize.classify import classify_fields
from aggregator.normalize.dates import parse_deadline
from aggregator.normalize.eligibility import parse_costs, parse_eligibility
from aggregator.normalize.status import infer_status
from aggregator.normalize.text import normalize_text
from aggregator.record import GrantCall, RawCall
from aggregator.sources import source_info

# Real titles and funders' names are short (the longest seen: 45 and 25 characters); a page
# that puts a whole article (or 200,000 characters) there must not blow up every page, feed,
# export and mail that shows the call. The full text stays in the listing's raw text.
MAX_TITLE_CHARS = 200
MAX_ORGANIZER_CHARS = 100


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def normalize_call(raw: RawCall, *, today: date | None = None) -> GrantCall:
    """Normalize one raw call; `today` decides the status from dates (None: the word only)."""
    title = normalize_text(raw.title).strip()
    # The title often carries the deadline or amount (【8/13締切】, 上限30万円): read both together.
    body = normalize_text(raw.text)
    full = f"{title}\n{body}" if title else body
    evidence: dict[str, str] = {}

    dl = parse_deadline(full, title=title, reference=raw.published, today=today)
    if dl.evidence:
        evidence["deadline"] = dl.evidence
    if dl.start_evidence:
        evidence["application_start"] = dl.start_evidence

    amounts = parse_amounts(full, title=title)
    if amounts.max_evidence:
        evidence["max_amount_yen"] = amounts.max_evidence
    if amounts.total_evidence:
        evidence["total_budget_yen"] = amounts.total_evidence
    if amounts.rate_evidence:
        evidence["subsidy_rate"] = amounts.rate_evidence

    fields = classify_fields(title, body, raw.categories)
    if fields.evidence:
        evidence["fields"] = fields.evidence

    source = source_info(raw.source)
    area, area_evidence = parse_area(
        body,
        title=title,
        organizer=raw.organizer,
        fallback=raw.area or (source.area if source else None),
        home=source.home if source else None,
    )
    if area_evidence:
        evidence["area"] = area_evidence

    eligibility, eligibility_evidence = parse_eligibility(body)
    evidence.update(eligibility_evidence)
    costs, costs_evidence = parse_costs(body)
    evidence.update(costs_evidence)

    status = None
    status_evidence = None
    if today is not None or raw.status:
        status, status_evidence = infer_status(
            source_word=raw.status,
            title=title,
            start=dl.application_start,
            deadline=dl.deadline,
            kind=dl.kind,
            today=today or date.today(),
        )
    if status_evidence:
        evidence["status"] = status_evidence

    return GrantCall(
        id=raw.id,
        title=_capped(title, MAX_TITLE_CHARS) or body.strip().split("\n", 1)[0][:60],
        organizer=_capped(normalize_text(raw.organizer or "").strip(), MAX_ORGANIZER_CHARS) or None,
        source=raw.source,
        source_url=raw.url,
        deadline=dl.deadline,
        deadline_kind=dl.kind,
        deadline_note=dl.note,
        application_start=dl.application_start,
        rounds=dl.rounds,
        max_amount_yen=amounts.max_amount_yen,
        total_budget_yen=amounts.total_budget_yen,
        subsidy_rate=amounts.subsidy_rate,
        fields=fields.fields,
        field_terms=fields.terms,
        area=area,
        eligibility=eligibility,
        costs=costs,
        status=status,
        raw_text=raw.text,
        published=raw.published,
        evidence=evidence,
    )
