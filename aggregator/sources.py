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


class Terms(StrEnum):
    """What the source allows: reprinting its text, or only linking to it."""

    REPRINT = "reprint"  # text may be shown (with credit)
    LINK_ONLY = "link_only"  # 無断転載禁止 or unclear: show facts and a link, not the text


TERMS_LABELS = {Terms.REPRINT: "転載可（出典明記）", Terms.LINK_ONLY: "リンクのみ"}


@dataclass(frozen=True)
class Source:
    name: str  # used on the command line and in listings
    label: str  # shown to people
    kind: SourceKind
    home: str | None = None  # "prefecture:千葉県" / "municipality:鎌ケ谷市"
    area: str | None = None  # area of calls that name none
    terms: Terms = Terms.LINK_ONLY
    site: str | None = None  # the page people read (for links and the sources list)
    credit: str | None = None  # credit line the source asks for


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            "jgrants",
            "Jグランツ（jGrants）",
            SourceKind.NATIONAL,
            terms=Terms.REPRINT,
            site="https://www.jgrants-portal.go.jp/",
            credit="Jグランツ（jGrants）からの出典",
        ),
        Source(
            "canpan",
            "CANPAN 助成制度",
            SourceKind.FOUNDATION,
            site="https://fields.canpan.info/grant/",
        ),
        Source(
            "jfc",
            "助成財団センター 助成金募集ニュース",
            SourceKind.FOUNDATION,
            site="https://www.jfc.or.jp/news_subsidy/",
        ),
        Source(
            "wam",
            "WAM助成（福祉医療機構）",
            SourceKind.NATIONAL,
            area="national",
            terms=Terms.REPRINT,
            site="https://www.wam.go.jp/hp/wamjosei_boshu/",
        ),
        Source(
            "akaihane",
            "中央共同募金会（赤い羽根）",
            SourceKind.FOUNDATION,
            site="https://www.akaihane.or.jp/subsidies/",
        ),
        Source(
            "akaihane_chiba",
            "千葉県共同募金会",
            SourceKind.FOUNDATION,
            home="prefecture:千葉県",
            area="prefecture:千葉県",
            site="https://akaihane-chiba.jp/publics/index/36/",
        ),
        Source(
            "chiba_npo",
            "ちばNPO・ボランティア情報マガジン（千葉県）",
            SourceKind.PREFECTURE,
            home="prefecture:千葉県",
            terms=Terms.REPRINT,
            site="https://www.pref.chiba.lg.jp/kkbunka/npo/mailmagazine/",
        ),
        Source(
            "chiba_shakyo",
            "千葉市社会福祉協議会",
            SourceKind.MUNICIPALITY,
            home="municipality:千葉市",
            site="https://chiba-shakyo.jp/vc/subsidy-vc/",
        ),
        Source(
            "shakyo",
            "全国社会福祉協議会 福祉の助成情報",
            SourceKind.FOUNDATION,
            site="https://www.shakyo.or.jp/guide/sponsor/",
        ),
        Source(
            "musubie",
            "むすびえ（全国こども食堂支援センター）",
            SourceKind.FOUNDATION,
            site="https://musubie.org/news_cat/subsidy/",
        ),
        Source(
            "shimisen",
            "京都市市民活動総合センター",
            SourceKind.MUNICIPALITY,
            home="municipality:京都市",
            site="https://shimisen-kyoto.org/subsidies",
        ),
        Source("kamagaya", "鎌ケ谷市", SourceKind.MUNICIPALITY, home="municipality:鎌ケ谷市"),
        # Calls the centre's staff entered by hand (a paper flyer, a phone call): the centre's
        # own information, ranked like the organizer's page (aggregator.ingest.precedence).
        Source(
            "centre",
            "センター登録",
            SourceKind.MUNICIPALITY,
            home="municipality:鎌ケ谷市",
            terms=Terms.REPRINT,
        ),
    )
}


def register_source(source: Source) -> None:
    """Adds (or replaces) a source defined outside this module: a generic spider's config."""
    SOURCES[source.name] = source


def source_info(name: str | None) -> Source | None:
    return SOURCES.get(name) if name else None
