"""Generated data for bench/digest_speed: a grant aggregator after about two years of crawling.

Run on its own: python bench/_digest_data.py --url sqlite:///digest.db [--groups 10000]
[--calls 100000] [--seed 7]; fills an empty (or new) database, upgraded to the head revision,
and prints a JSON summary of what it made as its last line.

What it makes, reproducibly (one seeded `random.Random`), with SQLAlchemy Core bulk inserts:
- calls first seen over two years (about 1.5 % in the 7 days before the digest), most closed,
  about 15 % open, some upcoming, some predicted rounds (例年この時期); fixed / rolling /
  unknown deadlines; 1–3 fields each (common fields more often); areas national (~50 %),
  prefectures (千葉県 and others), municipalities (鎌ケ谷市, other Chiba cities, elsewhere);
  legal forms, 任意団体可 / 不可, minimum members and years, amounts; a "listed" history row
  for each call, and changes in the last week (締切延長, 金額変更, 募集終了);
- groups in 千葉県 (鎌ケ谷市 and other Chiba cities) with 1–2 recipients, 1–3 fields, legal
  forms, needs, digests on (most) for Monday, saved and dismissed calls, and last week's
  digest (2026-W48) already sent: its outbox rows and the calls it listed (digest_calls);
- companies (most approved) with a few hundred offers (most published), and courses (about 20
  upcoming, the rest past).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, insert, text  # noqa: E402

from aggregator.fields import FIELDS  # noqa: E402
from aggregator.groups import DIGEST_SECTIONS, LEGAL_FORMS, NEEDS  # noqa: E402
from aggregator.offers import OFFER_KINDS  # noqa: E402
from aggregator.searchtext import search_columns  # noqa: E402
from aggregator.storage import make_engine, upgrade_database  # noqa: E402
from aggregator.storage.models import (  # noqa: E402
    CallField,
    CallHistoryRow,
    CallRow,
    CompanyRow,
    CourseRow,
    DigestCallRow,
    DismissedCallRow,
    GroupRecipientRow,
    GroupRow,
    OfferRow,
    OutboxRow,
    SavedCallRow,
)

# The digest run the benchmark times: Monday 2026-11-30 (ISO week 2026-W49), 09:00 in Tokyo.
TODAY = date(2026, 11, 30)
WEEK = "2026-W49"
# The last crawl before it: 06:00 in Tokyo that morning. Calls were first seen up to then.
ANCHOR = datetime(2026, 11, 29, 21, 0, tzinfo=UTC)
# Last week's digest (2026-W48), built Monday 2026-11-23 09:00 in Tokyo.
PREVIOUS_WEEK = "2026-W48"
PREVIOUS_DIGEST_AT = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
HISTORY_DAYS = 730
RECENT_DAYS = 7
RECENT_SHARE = 0.015  # calls first seen in the last RECENT_DAYS
PREDICTED_SHARE = 0.015
BATCH = 5000

# How often a call (and a group) names each field: welfare and children far more than science.
FIELD_WEIGHTS: dict[str, float] = {
    "health_welfare": 18,
    "children_youth": 16,
    "community_development": 12,
    "environment": 8,
    "culture_arts_sports": 8,
    "social_education": 6,
    "npo_support": 5,
    "disaster_relief": 4,
    "international": 4,
    "employment": 3,
    "rural": 3,
    "human_rights_peace": 2,
    "gender_equality": 2,
    "community_safety": 2,
    "tourism": 2,
    "economy": 2,
    "it_society": 1,
    "science_tech": 1,
    "consumer_protection": 1,
    "ordinance": 0.5,
}
assert set(FIELD_WEIGHTS) == set(FIELDS)

THEMES: dict[str, list[str]] = {
    "health_welfare": ["高齢者の見守り", "地域福祉", "障害者の外出支援", "認知症カフェ"],
    "children_youth": ["子ども食堂", "学習支援", "子育て支援", "子どもの居場所づくり"],
    "community_development": ["まちづくり", "商店街の活性化", "空き家の活用"],
    "environment": ["里山の保全", "海岸清掃", "川の生きもの調査"],
    "culture_arts_sports": ["伝統芸能の継承", "地域スポーツ", "市民音楽会"],
    "social_education": ["生涯学習", "読み聞かせ"],
    "npo_support": ["NPOの基盤強化", "中間支援"],
    "disaster_relief": ["防災訓練", "災害ボランティア"],
    "international": ["多文化共生", "日本語教室"],
    "employment": ["就労支援", "若者の職業体験"],
    "rural": ["農村の活性化", "棚田の保全"],
    "human_rights_peace": ["人権啓発", "平和学習"],
    "gender_equality": ["男女共同参画", "女性の起業支援"],
    "community_safety": ["防犯パトロール", "通学路の見守り"],
    "tourism": ["観光ボランティアガイド"],
    "economy": ["地域経済の循環"],
    "it_society": ["シニアのスマホ教室"],
    "science_tech": ["子ども科学教室"],
    "consumer_protection": ["消費者教育"],
    "ordinance": ["条例に基づく市民活動"],
}
ORG_HEADS = ["あおば", "ひかり", "みどり", "さくら", "こもれび", "なのはな", "つばさ", "わかば"]
ORG_KINDS = ["財団", "福祉基金", "社会貢献基金", "市民活動支援財団", "共同募金会"]
SOURCES = ["jgrants", "wam", "canpan", "jfc", "chiba_npo", "chiba_shakyo", "shakyo", "musubie"]
KAMAGAYA = "鎌ケ谷市"
CHIBA_CITIES = [
    "船橋市",
    "松戸市",
    "柏市",
    "市川市",
    "千葉市",
    "白井市",
    "習志野市",
    "八千代市",
    "浦安市",
    "流山市",
    "我孫子市",
    "印西市",
]
OTHER_PREFECTURES = [
    "東京都",
    "神奈川県",
    "埼玉県",
    "茨城県",
    "大阪府",
    "京都府",
    "兵庫県",
    "愛知県",
    "福岡県",
    "北海道",
    "宮城県",
    "広島県",
]
OTHER_CITIES = ["横浜市", "さいたま市", "川崎市", "名古屋市", "神戸市", "札幌市"]
GROUP_FORMS: dict[str, float] = {
    "任意団体": 55,
    "NPO法人": 25,
    "一般社団法人": 6,
    "自治会": 6,
    "社会福祉法人": 3,
    "公益社団法人": 2,
    "一般財団法人": 2,
    "公益財団法人": 1,
}
assert set(GROUP_FORMS) <= set(LEGAL_FORMS)
TRADES = ["工業", "商事", "食品", "建設", "電機"]
OFFER_FOR = ["地域の", "子どもたちへの", "市民活動への", ""]
LEGAL_PERSONS = ["NPO法人", "一般社団法人", "公益社団法人", "社会福祉法人", "一般財団法人"]
FILLER = (
    "地域で活動する市民団体の取り組みを応援します。応募にあたっては募集要項をよくお読みください。"
    "対象となる経費は事業の実施に直接必要なものに限ります。"
)


def _weighted_sample(rng: random.Random, weights: dict[str, float], k: int) -> list[str]:
    """k distinct keys, each drawn by weight (without replacement)."""
    pool = dict(weights)
    out: list[str] = []
    for _ in range(min(k, len(pool))):
        key = rng.choices(list(pool), list(pool.values()))[0]
        out.append(key)
        del pool[key]
    return out


def _area(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.50:
        return "national"
    if roll < 0.58:
        return "prefecture:千葉県"
    if roll < 0.59:
        return f"municipality:{KAMAGAYA}"
    if roll < 0.63:
        return f"municipality:{rng.choice(CHIBA_CITIES)}"
    if roll < 0.95:
        return f"prefecture:{rng.choice(OTHER_PREFECTURES)}"
    return f"municipality:{rng.choice(OTHER_CITIES)}"


def _eligibility(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.55:  # says nothing about who may apply
        forms, informal = [], None
    elif roll < 0.75:  # 任意団体可
        forms, informal = rng.choice([[], ["任意団体"]]), True
    elif roll < 0.87:  # legal persons only
        forms = rng.sample(LEGAL_PERSONS, rng.randint(1, 3))
        informal = False
    elif roll < 0.95:  # NPO法人 or 任意団体
        forms, informal = ["NPO法人", "任意団体"], True
    else:  # 任意団体不可, no forms named
        forms, informal = [], False
    return {
        "legal_forms": forms,
        "informal_groups_ok": informal,
        "min_members": rng.choice([5, 10, 20]) if rng.random() < 0.10 else None,
        "min_years_active": rng.choice([1, 2, 3]) if rng.random() < 0.10 else None,
    }


def _dates(rng: random.Random, first_seen: datetime, predicted: bool) -> dict[str, Any]:
    """Deadline kind, dates and status of one call, as of TODAY."""
    seen = first_seen.date()
    if predicted:
        deadline = TODAY + timedelta(days=rng.randrange(10, 150))
        return {
            "deadline_kind": "fixed",
            "deadline": deadline,
            "application_start": deadline - timedelta(days=rng.randrange(30, 60)),
            "status": "upcoming",
        }
    kind = rng.choices(["fixed", "rolling", "unknown"], [85, 8, 7])[0]
    if rng.random() < 0.12:  # announced before it opens
        start = seen + timedelta(days=rng.randrange(5, 45))
    else:
        start = seen - timedelta(days=rng.randrange(0, 20))
    if kind == "fixed":
        window = rng.choices(
            [rng.randrange(14, 45), rng.randrange(45, 120), rng.randrange(120, 330)], [50, 40, 10]
        )[0]
        deadline = start + timedelta(days=window)
        if deadline < TODAY:
            status = "closed"
        elif start > TODAY:
            status = "upcoming"
        else:
            status = "open"
        return {
            "deadline_kind": kind,
            "deadline": deadline,
            "application_start": start,
            "status": status,
        }
    age = (TODAY - seen).days
    # Rolling programmes run for a year or two; an unknown deadline is usually gone in months.
    lasts = rng.randrange(200, 900) if kind == "rolling" else rng.randrange(30, 200)
    status = "closed" if age > lasts else ("upcoming" if start > TODAY else "open")
    return {"deadline_kind": kind, "deadline": None, "application_start": start, "status": status}


def _first_seen(rng: random.Random) -> datetime:
    if rng.random() < RECENT_SHARE:
        return ANCHOR - timedelta(seconds=rng.randrange(RECENT_DAYS * 86400))
    return ANCHOR - timedelta(seconds=rng.randrange(RECENT_DAYS * 86400, HISTORY_DAYS * 86400))


def generate_calls(
    rng: random.Random, n: int
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(calls row, call_fields rows) for `n` calls, ids 1..n."""
    for i in range(1, n + 1):
        predicted = rng.random() < PREDICTED_SHARE
        first_seen = (
            ANCHOR - timedelta(seconds=rng.randrange(60 * 86400)) if predicted else _first_seen(rng)
        )
        fields = _weighted_sample(rng, FIELD_WEIGHTS, rng.choices([1, 2, 3], [50, 35, 15])[0])
        theme = rng.choice(THEMES[fields[0]])
        organizer = f"公益財団法人{rng.choice(ORG_HEADS)}{rng.choice(ORG_KINDS)}"
        year = first_seen.year
        title = f"{year}年度 {theme}活動助成 第{i % 12 + 1}回" + ("（予測）" if predicted else "")
        cap = rng.choice(
            [None, 50_000, 100_000, 200_000, 300_000, 500_000, 1_000_000, 3_000_000, 5_000_000]
        )
        source = rng.choice(SOURCES)
        dates = _dates(rng, first_seen, predicted)
        eligibility = _eligibility(rng)
        raw_text = (
            ""
            if predicted
            else (
                f"助成金額: 上限{(cap or 0) // 10_000}万円\n対象: {theme}に取り組む団体。"
                + ("任意団体も応募できます。" if eligibility["informal_groups_ok"] else "")
                + FILLER
            )
        )
        last_seen = ANCHOR if dates["status"] != "closed" else first_seen + timedelta(days=30)
        call = {
            "id": i,
            "source": source,
            "source_item_id": f"predicted:{i}" if predicted else f"{source}/{i}",
            "source_url": f"https://{source}.example.org/{i}",
            "title": title,
            "organizer": organizer,
            "deadline_note": {},
            "rounds": [],
            "max_amount_yen": cap,
            "total_budget_yen": rng.choice([None, None, 10_000_000, 50_000_000]),
            "subsidy_rate": rng.choice([None, None, None, "2/3", "1/2"]),
            "field_terms": {},
            "area": _area(rng),
            "cost_personnel": rng.choice(["yes", "no", "not_stated"]),
            "cost_honoraria": rng.choice(["yes", "not_stated"]),
            "cost_rent": rng.choice(["yes", "no", "not_stated"]),
            "cost_equipment": rng.choice(["yes", "not_stated"]),
            "raw_text": raw_text,
            **search_columns(title, organizer, raw_text),
            "published": dates["application_start"],
            "first_seen": first_seen,
            "last_seen": min(last_seen, ANCHOR),
            "evidence": {},
            "conflicts": {},
            "program_id": None,
            "predicted": predicted,
            **dates,
            **eligibility,
        }
        rows = [{"call_id": i, "field": f, "rank": rank} for rank, f in enumerate(fields)]
        yield call, rows


class _Writer:
    """Bulk inserts, BATCH rows at a time per table, in one transaction."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.pending: dict[Any, list[dict[str, Any]]] = {}
        self.counts: dict[str, int] = {}

    def add(self, model, row: dict[str, Any]) -> None:
        rows = self.pending.setdefault(model, [])
        rows.append(row)
        if len(rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        # Tables in the order their first row came: parents before the rows that refer to them.
        for m, rows in self.pending.items():
            if rows:
                self.conn.execute(insert(m), rows)
                name = m.__tablename__
                self.counts[name] = self.counts.get(name, 0) + len(rows)
                rows.clear()


def _token(rng: random.Random) -> str:
    return f"{rng.getrandbits(192):048x}"


def fill(engine: Engine, *, groups: int, calls: int, seed: int = 7) -> dict[str, Any]:
    """Fills an empty, upgraded database; returns what it made (counts and shares)."""
    rng = random.Random(seed)
    with engine.begin() as conn:
        w = _Writer(conn)
        info = _write_calls(w, rng, calls)
        w.flush()
        _write_companies_and_courses(w, rng)
        w.flush()
        info |= _write_groups(w, rng, groups, info.pop("pools"))
        w.flush()
    _after_fill(engine)
    return {"groups": groups, "calls": calls, "seed": seed, **info, "rows": w.counts}


def _write_calls(w: _Writer, rng: random.Random, n: int) -> dict[str, Any]:
    status_counts = {"open": 0, "upcoming": 0, "closed": 0}
    kinds = {"fixed": 0, "rolling": 0, "unknown": 0}
    recent = predicted = 0
    since_previous = 0
    # What groups pick saved, dismissed and previously-listed calls from.
    open_by_field: dict[str, list[int]] = {f: [] for f in FIELDS}
    fresh_by_field: dict[str, list[int]] = {f: [] for f in FIELDS}  # first seen this week
    last_week_by_field: dict[str, list[int]] = {f: [] for f in FIELDS}  # listed in W48
    changed = 0
    for call, fields in generate_calls(rng, n):
        w.add(CallRow, call)
        for row in fields:
            w.add(CallField, row)
        cid, seen = call["id"], call["first_seen"]
        status_counts[call["status"]] += 1
        kinds[call["deadline_kind"]] += 1
        predicted += call["predicted"]
        if seen >= ANCHOR - timedelta(days=RECENT_DAYS) and not call["predicted"]:
            recent += 1
        w.add(
            CallHistoryRow,
            {
                "call_id": cid,
                "kind": "listed",
                "old_value": None,
                "new_value": call["source"],
                "source": call["source"],
                "at": seen,
            },
        )
        if call["predicted"]:
            continue
        slugs = [r["field"] for r in fields]
        if seen >= PREVIOUS_DIGEST_AT:
            since_previous += 1
            for f in slugs:
                fresh_by_field[f].append(cid)
        elif seen >= PREVIOUS_DIGEST_AT - timedelta(days=7) and call["status"] != "closed":
            for f in slugs:
                last_week_by_field[f].append(cid)
        if call["status"] != "closed":
            for f in slugs:
                open_by_field[f].append(cid)
        changed += _write_changes(w, rng, call)
    total = max(n, 1)
    return {
        "status_share": {k: round(v / total, 3) for k, v in status_counts.items()},
        "deadline_kinds": kinds,
        "predicted": predicted,
        "first_seen_last_7_days": recent,
        "first_seen_since_last_digest": since_previous,
        "changes_last_week": changed,
        "pools": (open_by_field, fresh_by_field, last_week_by_field),
    }


def _write_changes(w: _Writer, rng: random.Random, call: dict[str, Any]) -> int:
    """Changes crawled in the last week: 締切延長 and 金額変更 to open calls, 募集終了."""
    week_ago = ANCHOR - timedelta(days=7)
    at = week_ago + timedelta(seconds=rng.randrange(7 * 86400))
    base = {"call_id": call["id"], "source": call["source"], "at": at}
    deadline = call["deadline"]
    if call["status"] == "open" and deadline is not None and rng.random() < 0.04:
        old = deadline - timedelta(days=rng.randrange(7, 31))
        w.add(
            CallHistoryRow,
            {**base, "kind": "deadline_extended", "old_value": old.isoformat(),
             "new_value": deadline.isoformat()},
        )  # fmt: skip
        return 1
    if call["status"] == "open" and call["max_amount_yen"] and rng.random() < 0.02:
        old = call["max_amount_yen"] // 2
        w.add(
            CallHistoryRow,
            {**base, "kind": "amount_changed", "old_value": str(old),
             "new_value": str(call["max_amount_yen"])},
        )  # fmt: skip
        return 1
    if (
        call["status"] == "closed"
        and deadline is not None
        and TODAY - timedelta(days=8) <= deadline < TODAY
    ):
        closed_at = datetime.combine(deadline + timedelta(days=1), datetime.min.time(), UTC)
        w.add(
            CallHistoryRow,
            {**base, "kind": "closed", "old_value": "open", "new_value": "closed",
             "at": min(closed_at, ANCHOR)},
        )  # fmt: skip
        return 1
    return 0


def _offer_area(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.30:
        return "national"
    if roll < 0.65:
        return "prefecture:千葉県"
    if roll < 0.80:
        return f"municipality:{KAMAGAYA}"
    if roll < 0.95:
        return f"municipality:{rng.choice(CHIBA_CITIES)}"
    return f"prefecture:{rng.choice(OTHER_PREFECTURES)}"


def _write_companies_and_courses(w: _Writer, rng: random.Random) -> None:
    created = ANCHOR - timedelta(days=500)
    companies = 90
    for cid in range(1, companies + 1):
        status = rng.choices(["approved", "pending", "rejected"], [85, 10, 5])[0]
        city = rng.choice([KAMAGAYA, *CHIBA_CITIES])
        w.add(
            CompanyRow,
            {
                "id": cid,
                "user_id": None,
                "name": f"株式会社{rng.choice(ORG_HEADS)}{rng.choice(TRADES)}{cid}",
                "department": "CSR推進室",
                "contact_name": None,
                "phone": None,
                "website": f"https://company{cid}.example.co.jp/",
                "description": "地域社会への貢献に取り組んでいます。",
                "prefecture": "千葉県",
                "municipality": city,
                "status": status,
                "reviewed_at": created if status != "pending" else None,
                "reviewed_by": None,
                "created_at": created,
            },
        )
    kinds = list(OFFER_KINDS)
    for oid in range(1, 301):
        status = rng.choices(["published", "closed", "pending", "draft"], [75, 10, 8, 7])[0]
        kind = rng.choices(kinds, [30, 20, 12, 12, 8, 6, 12])[0]
        published_at = ANCHOR - timedelta(days=rng.randrange(1, 365))
        area = _offer_area(rng)
        fields = _weighted_sample(rng, FIELD_WEIGHTS, rng.choice([0, 1, 1, 2]))
        title = f"{rng.choice(OFFER_FOR)}{OFFER_KINDS[kind]}のご案内"
        period_end = rng.choice([None, None, None, TODAY + timedelta(days=rng.randrange(-60, 300))])
        w.add(
            OfferRow,
            {
                "id": oid,
                "company_id": rng.randrange(1, companies + 1),
                "kind": kind,
                "title": title,
                "description": "活動に役立ててください。詳しくはお問い合わせください。",
                "fields": fields,
                "area": area,
                "amount_yen": (
                    rng.choice([50_000, 100_000, 300_000])
                    if kind in ("money", "matching_gift")
                    else None
                ),
                "quantity": "10台" if kind == "goods" else None,
                "period_start": None,
                "period_end": period_end,
                "how_to_apply": "センターを通じてお申し込みください。",
                "contact": "センター窓口",
                "status": status,
                "review_note": None,
                "search_text": title,
                "submitted_at": published_at,
                "published_at": published_at if status in ("published", "closed") else None,
                "published_by": None,
                "closed_at": ANCHOR if status == "closed" else None,
                "created_at": published_at - timedelta(days=3),
                "updated_at": published_at,
            },
        )
    course_kinds = ["fundraising", "application", "centre"]
    titles = {
        "fundraising": ["はじめてのファンドレイジング", "寄付を集める伝え方講座"],
        "application": ["助成金申請書の書き方講座", "予算書の作り方講座"],
        "centre": ["市民活動入門", "団体の広報講座"],
    }
    for i in range(1, 61):
        upcoming = i <= 20
        offset = rng.randrange(1, 90) if upcoming else -rng.randrange(1, 400)
        starts = datetime.combine(
            TODAY + timedelta(days=offset), datetime.min.time(), UTC
        ) + timedelta(hours=rng.choice([1, 4, 5]))  # 10:00, 13:00 or 14:00 in Tokyo
        kind = rng.choices(course_kinds, [40, 35, 25])[0]
        online = rng.random() < 0.3
        w.add(
            CourseRow,
            {
                "id": i,
                "kind": kind,
                "title": rng.choice(titles[kind]),
                "starts_at": starts,
                "ends_at": starts + timedelta(hours=2),
                "place": None if online else "鎌ケ谷市総合福祉保健センター 4階会議室",
                "online_url": "https://meet.example.jp/kyodo" if online else None,
                "capacity": rng.choice([None, 20, 30, 50]),
                "fields": _weighted_sample(rng, FIELD_WEIGHTS, rng.choice([0, 0, 1])),
                "description": "市民活動団体の皆さま向けの講座です。",
                "how_to_apply": "電話またはセンター窓口でお申し込みください。",
                "published": rng.random() < 0.95,
                "created_at": starts - timedelta(days=40),
                "updated_at": starts - timedelta(days=40),
            },
        )


def _pick(
    rng: random.Random, pools: dict[str, list[int]], fields: Sequence[str], k: int
) -> set[int]:
    """Up to k distinct calls from the pools of the given fields."""
    usable = [pools[f] for f in fields if pools[f]]
    if not usable:
        return set()
    return {rng.choice(rng.choice(usable)) for _ in range(k)}


def _write_groups(
    w: _Writer, rng: random.Random, n: int, pools: tuple[dict, dict, dict]
) -> dict[str, Any]:
    open_by_field, fresh_by_field, last_week_by_field = pools
    enabled = recipients_total = 0
    for gid in range(1, n + 1):
        fields = (
            []
            if rng.random() < 0.02  # profile not filled in yet
            else _weighted_sample(rng, FIELD_WEIGHTS, rng.choices([1, 2, 3], [40, 40, 20])[0])
        )
        city_roll = rng.random()
        municipality = (
            KAMAGAYA if city_roll < 0.25 else None if city_roll < 0.27 else rng.choice(CHIBA_CITIES)
        )
        theme = rng.choice(THEMES[fields[0]]) if fields else "市民活動"
        created = ANCHOR - timedelta(days=rng.randrange(7, 700))
        digest_on = rng.random() < 0.95
        sections: list[str] = []
        if rng.random() < 0.1:
            sections = rng.sample(list(DIGEST_SECTIONS), 3)
        w.add(
            GroupRow,
            {
                "id": gid,
                "user_id": None,
                "name": f"{rng.choice(ORG_HEADS)}{theme}の会{gid}",
                "representative": None,
                "phone": None,
                "fields": fields,
                "prefecture": "千葉県",
                "municipality": municipality,
                "legal_form": rng.choices(list(GROUP_FORMS), list(GROUP_FORMS.values()))[0],
                "members": rng.choice([None, *range(3, 80)]),
                "founded_year": rng.choice([None, *range(1990, 2027)]),
                "needs": rng.sample(list(NEEDS), rng.choice([0, 1, 1, 2, 3])),
                "description": None,
                "digest_enabled": digest_on,
                "digest_weekday": 0,
                "digest_sections": sections,
                "digest_when_empty": "skip" if rng.random() < 0.2 else "short",
                "reminder_days": [7, 1],
                "unsubscribe_token": _token(rng),
                "registered_by_staff": rng.random() < 0.3,
                "created_at": created,
                "updated_at": created,
            },
        )
        addresses = [f"g{gid}@example.jp"]
        if rng.random() < 0.35:
            addresses.append(f"g{gid}-2@example.jp")
        for address in addresses:
            w.add(
                GroupRecipientRow,
                {"group_id": gid, "email": address, "name": None, "created_at": created},
            )
        enabled += digest_on
        recipients_total += len(addresses) if digest_on else 0
        saved = _pick(rng, open_by_field, fields, rng.choice([0, 0, 1, 2, 3, 5, 8]))
        for cid in saved:
            w.add(SavedCallRow, {"group_id": gid, "call_id": cid, "created_at": created})
        dismissed = _pick(rng, fresh_by_field, fields, rng.choice([0, 0, 0, 1, 2]))
        for cid in dismissed - saved:
            w.add(DismissedCallRow, {"group_id": gid, "call_id": cid, "created_at": ANCHOR})
        if digest_on and created < PREVIOUS_DIGEST_AT:
            _write_previous_digest(w, rng, gid, addresses, fields, last_week_by_field)
    return {"groups_digest_on": enabled, "recipients_digest_on": recipients_total}


def _write_previous_digest(
    w: _Writer,
    rng: random.Random,
    gid: int,
    addresses: list[str],
    fields: list[str],
    pool: dict[str, list[int]],
) -> None:
    """Last week's digest, sent: its outbox rows (short stand-ins for the messages) and the
    calls it listed."""
    for address in addresses:
        message_id = f"<w48.{gid}.{address}@kyodo.example.jp>"
        w.add(
            OutboxRow,
            {
                "key": f"digest:{gid}:{PREVIOUS_WEEK}:{address}",
                "kind": "digest",
                "group_id": gid,
                "recipient": address,
                "subject": "【かまがや助成情報】11/23週 新着5件",
                "message": f"Message-ID: {message_id}\r\nSubject: (benchmark stand-in)\r\n\r\n.",
                "message_id": message_id,
                "status": "sent",
                "attempts": 1,
                "next_attempt_at": PREVIOUS_DIGEST_AT,
                "last_error": None,
                "created_at": PREVIOUS_DIGEST_AT,
                "sent_at": PREVIOUS_DIGEST_AT + timedelta(minutes=2),
            },
        )
    for cid in _pick(rng, pool, fields, rng.randrange(0, 11)):
        w.add(
            DigestCallRow,
            {"group_id": gid, "call_id": cid, "week": PREVIOUS_WEEK, "sent_at": PREVIOUS_DIGEST_AT},
        )


def _after_fill(engine: Engine) -> None:
    """Sequences past the explicit ids (PostgreSQL), and fresh planner statistics."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in ("calls", "groups", "companies", "offers", "courses"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                    )
                )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="an empty or new database (SQLAlchemy URL)")
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    start = time.perf_counter()
    upgrade_database(args.url)
    engine = make_engine(args.url)
    try:
        info = fill(engine, groups=args.groups, calls=args.calls, seed=args.seed)
    finally:
        engine.dispose()
    info["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(info, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
