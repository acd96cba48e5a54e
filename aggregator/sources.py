"""The sources kyodo knows: one place for their names, kinds and where they are.

`kind` is what the search filter 国 / 県 / 市 / 財団 / 企業 uses. `home` is where the publishing
site is: a prefectural portal relays national calls too, so `home` only names the place of an
unnamed 県内 / 市内 in its pages. `area` is the area of calls that say nothing about place, set
only for sources whose calls are all their own (a city's own subsidies).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SourceKind(StrEnum):
    NATIONAL = "national"  # 国
    PREFECTURE = "prefecture"  # 県
    MUNICIPALITY = "municipality"  # 市
    FOUNDATION = "foundation"  # 財団 (and aggregators of foundation calls)
    CORPORATE = "corporate"  # 企業


SOURCE_KIND_LABELS = {
    SourceKind.NATIONAL: "国",
    SourceKind.PREFECTURE: "県",
    SourceKind.MUNICIPALITY: "市",
    SourceKind.FOUNDATION: "財団",
    SourceKind.CORPORATE: "企業",
}


@dataclass(frozen=True)
class Source:
    name: str  # used on the command line and in listings
    label: str  # shown to people
    kind: SourceKind
    home: str | None = None  # "prefecture:千葉県" / "municipality:鎌ケ谷市"
    area: str | None = None  # area of calls that name none


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("jgrants", "Jグランツ（jGrants）", SourceKind.NATIONAL),
        Source("canpan", "CANPAN 助成制度", SourceKind.FOUNDATION),
        Source("jfc", "助成財団センター", SourceKind.FOUNDATION),
        Source("wam", "WAM助成（福祉医療機構）", SourceKind.NATIONAL, area="national"),
        Source("akaihane", "中央共同募金会（赤い羽根）", SourceKind.FOUNDATION),
        Source(
            "akaihane_chiba",
            "千葉県共同募金会",
            SourceKind.FOUNDATION,
            home="prefecture:千葉県",
            area="prefecture:千葉県",
        ),
        Source(
            "chiba_npo",
            "ちばNPO・ボランティア情報マガジン（千葉県）",
            SourceKind.PREFECTURE,
            home="prefecture:千葉県",
        ),
        Source(
            "chiba_shakyo",
            "千葉市社会福祉協議会",
            SourceKind.MUNICIPALITY,
            home="municipality:千葉市",
        ),
        Source("shakyo", "全国社会福祉協議会 福祉の助成情報", SourceKind.FOUNDATION),
        Source("musubie", "むすびえ（全国こども食堂支援センター）", SourceKind.FOUNDATION),
        Source(
            "shimisen",
            "京都市市民活動総合センター",
            SourceKind.MUNICIPALITY,
            home="municipality:京都市",
        ),
        Source("kamagaya", "鎌ケ谷市", SourceKind.MUNICIPALITY, home="municipality:鎌ケ谷市"),
    )
}


def source_info(name: str | None) -> Source | None:
    return SOURCES.get(name) if name else None
