"""Deduplication: organizer and round-marker normalization, pairwise decisions, the index."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from aggregator.dedupe import (
    Matcher,
    MatchResult,
    RoundMarkers,
    cluster_calls,
    compare,
    normalize_organizer,
    program_key,
    round_markers,
)
from aggregator.normalize.text import normalize_text
from aggregator.record import GrantCall

REPO = Path(__file__).resolve().parents[1]


def call(
    title: str,
    organizer: str | None = None,
    deadline: date | None = date(2026, 8, 31),
    amount: int | None = 500_000,
    *,
    id: str = "x",
    text: str = "",
    start: date | None = None,
    area: str = "national",
) -> GrantCall:
    """A normalized call as the pipeline makes it (title and organizer NFKC-normalized)."""
    return GrantCall(
        id=id,
        title=normalize_text(title),
        organizer=normalize_text(organizer) if organizer else None,
        deadline=deadline,
        application_start=start,
        max_amount_yen=amount,
        area=area,
        raw_text=text,
    )


# --- organizers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("公益財団法人 みらい財団", "みらい財団"),
        ("(公財)みらい財団", "みらい財団"),
        ("（公財）みらい財団", "みらい財団"),
        ("みらい財団", "みらい財団"),
        ("一般財団法人みどり環境基金", "みどり環境基金"),
        ("(一財)みどり環境基金", "みどり環境基金"),
        ("社会福祉法人中央共同募金会", "中央共同募金会"),
        ("(社福)中央共同募金会", "中央共同募金会"),
        ("株式会社さくら生命保険", "さくら生命保険"),
        ("(株)さくら生命保険", "さくら生命保険"),
        ("㈱さくら生命保険", "さくら生命保険"),
        ("さくら生命保険株式会社", "さくら生命保険"),
        ("特定非営利活動法人 ひまわり会", "ひまわり会"),
        ("認定NPO法人全国こども食堂支援センター・むすびえ", "むすびえ"),
        ("独立行政法人福祉医療機構", "福祉医療機構"),
        ("(独)福祉医療機構", "福祉医療機構"),
        ("生活協同組合コープみずなら", "コープみずなら"),
        ("赤い羽根", "中央共同募金会"),
        ("赤い羽根共同募金", "中央共同募金会"),
        ("ながれ信金", "ながれ信用金庫"),
        ("千葉県社協", "千葉県社会福祉協議会"),
        ("千葉県 防災政策課", "千葉県"),
        ("千葉県県民生活・文化課", "千葉県"),
        ("鎌ケ谷市社会福祉協議会", "鎌ケ谷市社会福祉協議会"),
        ("千葉県共同募金会", "千葉県共同募金会"),
        ("公益財団法人日本財団", "日本財団"),
        ("ＷＡＭ", "福祉医療機構"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_organizer(name: str | None, expected: str) -> None:
    assert normalize_organizer(name) == expected


# --- round markers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("ひとりにしない緊急支援活動助成(第7回)", RoundMarkers(round_no=7)),
        ("第８回 みどりの里山保全活動助成", RoundMarkers(round_no=8)),
        ("第七回 みどりの里山保全活動助成", RoundMarkers(round_no=7)),
        ("第十二回 地域文化賞", RoundMarkers(round_no=12)),
        ("こども食堂応援助成 第5期", RoundMarkers(round_no=5)),
        ("活動助成 3回目の募集", RoundMarkers(round_no=3)),
        ("2026年度 地域福祉活動助成", RoundMarkers(fiscal_year=2026)),
        ("令和8年度 地域福祉活動助成", RoundMarkers(fiscal_year=2026)),
        ("令和八年度 地域福祉活動助成", RoundMarkers(fiscal_year=2026)),
        ("令和元年度 地域福祉活動助成", RoundMarkers(fiscal_year=2019)),
        ("R7年度 地域福祉活動助成", RoundMarkers(fiscal_year=2025)),
        ("平成31年度 地域福祉活動助成", RoundMarkers(fiscal_year=2019)),
        ("令和8(2026)年度 助成", RoundMarkers(fiscal_year=2026)),
        ("音楽で地域をつなぐ活動助成 2026", RoundMarkers(fiscal_year=2026)),
        ("子どもゆめ基金(令和9年度活動分)", RoundMarkers(fiscal_year=2027)),
        ("ゆうあい福祉基金 2026年度前期助成", RoundMarkers(fiscal_year=2026, half="前期")),
        ("ゆうあい福祉基金 後期助成", RoundMarkers(half="後期")),
        ("上期助成", RoundMarkers(half="前期")),
        ("下半期助成", RoundMarkers(half="後期")),
        ("第2四半期 助成", RoundMarkers(half="Q2")),
        ("秋募集 助成", RoundMarkers(half="秋期")),
        ("令和8年度 社会福祉振興助成事業 2次募集", RoundMarkers(fiscal_year=2026, phase=2)),
        ("補助金(令和8年度・第2次)", RoundMarkers(fiscal_year=2026, phase=2)),
        ("子どもゆめ基金 第1次募集", RoundMarkers(phase=1)),
        # Not markers: a disaster's date, a date, an elderly-care term, no marker at all.
        ("災害ボランティア助成(令和8年7月豪雨)", RoundMarkers()),
        ("【2026/07/01締切】地域助成", RoundMarkers()),
        ("前期高齢者の健康づくり助成", RoundMarkers()),
        ("フードバンク活動支援助成", RoundMarkers()),
    ],
)
def test_round_markers(title: str, expected: RoundMarkers) -> None:
    assert round_markers(title) == expected


def test_round_markers_read_the_text_only_for_a_generic_title() -> None:
    text = "2026年度 地域福祉活動助成の募集です\n締切 8月31日"
    assert round_markers("助成金のご案内", text) == RoundMarkers(fiscal_year=2026)
    assert round_markers("地域福祉活動助成", "2025年度の採択団体は…") == RoundMarkers()


def test_round_marker_conflicts() -> None:
    assert RoundMarkers(round_no=7).conflicts(RoundMarkers(round_no=8))
    assert RoundMarkers(fiscal_year=2025).conflicts(RoundMarkers(fiscal_year=2026))
    assert RoundMarkers(half="前期").conflicts(RoundMarkers(half="後期"))
    assert RoundMarkers(phase=1).conflicts(RoundMarkers(phase=2))
    # A marker on one side only is not a conflict (reposts drop them).
    assert RoundMarkers(round_no=7).conflicts(RoundMarkers()) is None
    assert RoundMarkers(fiscal_year=2026).conflicts(RoundMarkers(round_no=3)) is None
    assert not RoundMarkers()
    assert RoundMarkers(phase=2)


# --- programmes --------------------------------------------------------------------------


def test_program_key_is_the_same_across_years_and_sources() -> None:
    keys = {
        program_key(call("2025年度 地域福祉活動助成", "公益財団法人ひかり福祉財団")),
        program_key(call("令和8年度 地域福祉活動助成", "(公財)ひかり福祉財団")),
        program_key(call("(公財)ひかり福祉財団「2027年度 地域福祉活動助成」", "ひかり福祉財団")),
        program_key(call("【助成先募集】地域福祉活動助成(第9回)", "ひかり福祉財団")),
    }
    assert keys == {"ひかり福祉財団|地域福祉活動助成"}
    other = program_key(call("2026年度 特別助成〈災害復興支援〉", "ひかり福祉財団"))
    assert other != "ひかり福祉財団|地域福祉活動助成"


# --- pairwise decisions ------------------------------------------------------------------

SAME = [
    (  # organizer written differently
        call("2026年度 地域福祉活動助成", "公益財団法人ひかり福祉財団"),
        call("【助成先募集】ひかり福祉財団「2026年度 地域福祉活動助成」", "(公財)ひかり福祉財団"),
    ),
    (  # no organizer field, but the text names the funder
        call("2026年度 地域福祉活動助成", "公益財団法人ひかり福祉財団"),
        call("2026年度 地域福祉活動助成", None, text="◆2026年度 地域福祉活動助成(ひかり福祉財団)"),
    ),
    (  # short form of the funder
        call("赤い羽根福祉基金 2026年度助成", "社会福祉法人中央共同募金会", amount=8_000_000),
        call(
            "【応募受付中・8/31締切り】赤い羽根福祉基金 2026年度助成", "赤い羽根", amount=8_000_000
        ),
    ),
    (  # company name without its business word
        call("さくら生命 地域貢献活動助成〈高齢者部門〉", "株式会社さくら生命保険"),
        call("さくら生命「地域貢献活動助成(高齢者部門)」", "さくら生命"),
    ),
    (  # reworded title, same funder, deadline and amount
        call("国際交流・多文化共生活動助成", "公益財団法人かけはし国際交流財団"),
        call(
            "多文化共生の活動への助成", None, text="◆多文化共生の活動への助成(かけはし国際交流財団)"
        ),
    ),
    (  # generic title: organizer, deadline and amount all agree
        call("ながれ信金 地域応援基金 2026", "ながれ信用金庫", amount=100_000),
        call("助成金のご案内", "ながれ信金", amount=100_000),
    ),
    (  # extended deadline
        call("第8回 みどりの里山保全活動助成", "一般財団法人みどり環境基金"),
        call(
            "【締切延長】第8回 みどりの里山保全活動助成",
            "みどり環境基金",
            deadline=date(2026, 9, 15),
            text="応募締切を8月31日から9月15日に延長しました。",
        ),
    ),
    (  # a one-digit typo in the deadline
        call("音楽で地域をつなぐ活動助成 2026", "公益財団法人こだま音楽文化財団"),
        call("音楽で地域をつなぐ活動助成 2026", "こだま音楽文化財団", deadline=date(2026, 8, 1)),
    ),
    (  # one source gives the opening date where the other gives the deadline
        call("令和8年度 ちば地域づくり活動補助金", "千葉県", start=date(2026, 6, 1)),
        call(
            "令和8年度 ちば地域づくり活動補助金", "千葉県", deadline=date(2026, 6, 1), amount=None
        ),
    ),
    (  # deadline one day apart (time zones, postmark)
        call("フードバンク活動支援助成", "全国フードシェア協議会"),
        call(
            "フードバンク活動支援助成",
            "一般社団法人全国フードシェア協議会",
            deadline=date(2026, 9, 1),
        ),
    ),
    (  # a government department is the government
        call("令和8年度 地域防災力向上支援補助金", "千葉県 防災政策課", amount=None),
        call("千葉県「令和8年度 地域防災力向上支援補助金」", "千葉県"),
    ),
]

DIFFERENT = [
    (  # new round: fiscal year
        call("2026年度 地域福祉活動助成", "ひかり福祉財団"),
        call("2025年度 地域福祉活動助成", "ひかり福祉財団", deadline=date(2025, 8, 29)),
    ),
    (  # new round with the same deadline written: 第7回 / 第8回
        call("第7回 みどりの里山保全活動助成", "みどり環境基金"),
        call("第8回 みどりの里山保全活動助成", "みどり環境基金"),
    ),
    (  # 前期 / 後期
        call("ゆうあい福祉基金 2026年度前期助成", "ゆうあい基金"),
        call("ゆうあい福祉基金 2026年度後期助成", "ゆうあい基金"),
    ),
    (  # an additional second call in the same year
        call("令和8年度 鎌ケ谷市市民活動推進補助金", "鎌ケ谷市", deadline=date(2026, 5, 15)),
        call("令和8年度 鎌ケ谷市市民活動推進補助金(第2次募集)", "鎌ケ谷市"),
    ),
    (  # first and second call of one year, even with the same deadline written
        call("子どもゆめ基金 第1次募集", "国立青少年教育振興機構"),
        call("子どもゆめ基金 第2次募集", "国立青少年教育振興機構"),
    ),
    (  # next year's call of a title without markers
        call("障害者スポーツ振興助成", "あすなろスポーツ財団", deadline=date(2025, 8, 31)),
        call("障害者スポーツ振興助成", "あすなろスポーツ財団", deadline=date(2026, 8, 31)),
    ),
    (  # two divisions of one funder with the same deadline and amount
        call("さくら生命 地域貢献活動助成〈高齢者部門〉", "さくら生命保険"),
        call("さくら生命「地域貢献活動助成」子ども部門のご案内", "さくら生命"),
    ),
    (  # general and special grant
        call("2026年度 しずく財団 一般助成", "しずく財団"),
        call("2026年度 しずく財団 特別助成(若手リーダー育成)", "しずく財団"),
    ),
    (  # two programmes of one funder, same deadline and amount, nothing shared in the title
        call("みらい電力 環境教育支援プログラム", "株式会社みらい電力"),
        call("みらい電力 防災・減災活動支援プログラム", "株式会社みらい電力"),
    ),
    (  # same title, other funder
        call("環境保全活動助成", "株式会社ちどり銀行"),
        call("環境保全活動助成", "公益財団法人みなと環境財団"),
    ),
    (  # a government and a body named after it
        call("令和8年度 地域福祉活動助成", "千葉県"),
        call("令和8年度 地域福祉活動助成", "千葉県共同募金会"),
    ),
    (  # generic titles of two funders
        call("助成金のご案内", "ながれ信金", amount=100_000),
        call("助成金のご案内", "あんしんまち財団", amount=100_000),
    ),
    (  # amounts differ
        call("こども未来応援助成", "あおば子ども財団", amount=300_000),
        call("こども未来応援助成", "あおば子ども財団", amount=200_000),
    ),
    (  # areas differ
        call("ボランティア活動助成", None, area="municipality:千葉市"),
        call("ボランティア活動助成", None, area="municipality:鎌ケ谷市"),
    ),
    (  # deadlines far apart and nothing explains it
        call("地域文化活動助成", "はなみずき文化財団", deadline=date(2026, 6, 30)),
        call("地域文化活動助成", "はなみずき文化財団", deadline=date(2026, 8, 31)),
    ),
    (  # a one-digit difference in the year is a new round, not a typo
        call("地域文化活動助成", "はなみずき文化財団", deadline=date(2025, 8, 31)),
        call("地域文化活動助成", "はなみずき文化財団", deadline=date(2026, 8, 31)),
    ),
    (  # a reworded title without the funder's name, no organizer: not enough
        call("国際交流・多文化共生活動助成", "かけはし国際交流財団", amount=None),
        call("多文化共生の活動への助成", None, amount=None),
    ),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_same_call(a: GrantCall, b: GrantCall) -> None:
    result = compare(a, b)
    assert result.same, result.reasons
    assert compare(b, a).same  # symmetric


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_calls(a: GrantCall, b: GrantCall) -> None:
    result = compare(a, b)
    assert not result.same, result.reasons
    assert not compare(b, a).same


def test_compare_gives_reasons() -> None:
    result = compare(
        call("2026年度 地域福祉活動助成", "公益財団法人ひかり福祉財団"),
        call("2025年度 地域福祉活動助成", "ひかり福祉財団"),
    )
    assert isinstance(result, MatchResult)
    assert result.score == 0.0
    assert any("fiscal_year 2026 vs 2025" in r for r in result.reasons)
    result = compare(
        call("2026年度 地域福祉活動助成", "公益財団法人ひかり福祉財団"),
        call("ひかり福祉財団「2026年度 地域福祉活動助成」", "(公財)ひかり福祉財団"),
    )
    assert result.same and result.score >= 1.0
    text = " ".join(result.reasons)
    assert "organizer: same" in text and "deadline: equal 2026-08-31" in text
    assert "amount: equal 500000" in text and "title: 1.00" in text


# --- the index ---------------------------------------------------------------------------


def test_matcher_places_reposts_in_one_cluster_and_new_rounds_apart() -> None:
    m = Matcher()
    assert m.add("a", call("2026年度 地域福祉活動助成", "公益財団法人ひかり福祉財団")) == "a"
    assert m.add("b", call("ひかり福祉財団「2026年度 地域福祉活動助成」", "ひかり福祉財団")) == "a"
    assert m.add("c", call("2025年度 地域福祉活動助成", "ひかり福祉財団")) == "c"
    assert m.add("d", call("2026年度 特別助成〈災害復興支援〉", "ひかり福祉財団")) == "d"
    assert m.members("a") == ["a", "b"]
    assert m.cluster_of("c") == "c"
    assert len(m) == 4 and "d" in m
    assert m.find(call("【助成先募集】2026年度 地域福祉活動助成", "(公財)ひかり福祉財団")) == "a"
    assert m.find(call("2027年度 地域福祉活動助成", "ひかり福祉財団")) is None
    assert len(m) == 4  # find changes nothing


def test_matcher_cluster_argument_places_without_matching() -> None:
    m = Matcher()
    m.add("a", call("2026年度 地域福祉活動助成", "ひかり福祉財団"))
    # A stored decision (staff split) is kept when the index is rebuilt.
    assert m.add("b", call("2026年度 地域福祉活動助成", "ひかり福祉財団"), cluster="C9") == "C9"
    assert m.clusters() == {"a": ["a"], "C9": ["b"]}


def test_matcher_staff_links_override_matching() -> None:
    a = call("2026年度 地域福祉活動助成", "ひかり福祉財団")
    different = call("障害者スポーツ振興助成", "あすなろスポーツ財団", deadline=date(2026, 5, 1))
    m = Matcher(cannot_link=[("a", "b")], must_link=[("a", "c")])
    m.add("a", a)
    assert m.add("b", a) == "b"  # identical, but staff split them
    assert m.add("c", different) == "a"  # nothing alike, but staff merged them
    assert m.find(a, exclude="b") is None  # b's split holds for find too


def test_matcher_must_link_merges_existing_clusters() -> None:
    m = Matcher(must_link=[("a", "c"), ("b", "c")])
    m.add("a", call("2026年度 地域福祉活動助成", "ひかり福祉財団"))
    m.add("b", call("障害者スポーツ振興助成", "あすなろスポーツ財団", deadline=date(2026, 5, 1)))
    assert m.add("c", call("令和8年度 ふれあいサロン助成", "鎌ケ谷市社会福祉協議会")) == "a"
    assert sorted(m.members("a")) == ["a", "b", "c"]
    assert m.cluster_of("b") == "a"


def test_matcher_readd_replaces_and_remove_forgets() -> None:
    m = Matcher()
    m.add("a", call("2026年度 地域福祉活動助成", "ひかり福祉財団"))
    m.add("b", call("2026年度 地域福祉活動助成", "ひかり福祉財団"))
    assert m.add("b", call("2025年度 地域福祉活動助成", "ひかり福祉財団")) == "b"
    assert m.members("a") == ["a"]
    m.remove("a")
    assert m.cluster_of("a") is None and m.members("a") == []
    assert m.find(call("2026年度 地域福祉活動助成", "ひかり福祉財団")) is None


def test_a_record_joins_no_cluster_it_conflicts_with() -> None:
    # A generic listing matches the first member, but the cluster also holds a listing that
    # states another round: it must not join (no chaining across rounds).
    m = Matcher()
    m.add("a", call("ゆうあい福祉基金 2026年度前期助成", "ゆうあい基金"))
    m.add("b", call("ゆうあい福祉基金 2026年度前期助成", "ゆうあい基金"), cluster="a")
    m.add("c", call("ゆうあい福祉基金 2026年度後期助成", "ゆうあい基金"), cluster="a")
    assert m.find(call("ゆうあい福祉基金 2026年度前期助成", "ゆうあい基金")) is None


def _batch() -> list[tuple[str, GrantCall]]:
    return [
        ("L3", call("2026年度 地域福祉活動助成", "公益財団法人ひかり福祉財団")),
        ("L1", call("ひかり福祉財団「2026年度 地域福祉活動助成」", "(公財)ひかり福祉財団")),
        (
            "L7",
            call(
                "2026年度 地域福祉活動助成", None, text="◆2026年度 地域福祉活動助成(ひかり福祉財団)"
            ),
        ),
        ("L2", call("2025年度 地域福祉活動助成", "ひかり福祉財団", deadline=date(2025, 8, 29))),
        ("L5", call("2026年度 特別助成〈災害復興支援〉", "ひかり福祉財団", amount=1_000_000)),
        ("L4", call("令和8年度 地域福祉活動助成", "千葉県共同募金会", deadline=date(2026, 10, 30))),
    ]


def test_cluster_calls_names_clusters_by_smallest_key_in_any_order() -> None:
    records = _batch()
    expected = {"L1": "L1", "L3": "L1", "L7": "L1", "L2": "L2", "L5": "L5", "L4": "L4"}
    for seed in range(5):
        random.Random(seed).shuffle(records)
        assert cluster_calls(records) == expected


def test_cluster_calls_honours_staff_links() -> None:
    result = cluster_calls(_batch(), cannot_link=[("L1", "L3")], must_link=[("L2", "L4")])
    assert result["L1"] != result["L3"]
    assert result["L7"] in (result["L1"], result["L3"])
    assert result["L2"] == result["L4"] == "L2"


def test_matcher_add_is_fast_enough() -> None:
    # Timing targets are measured by the benchmark (bench/dedupe_accuracy --speed 100000);
    # this only catches a gross regression on a small index.
    orgs = [f"財団{i}" for i in range(300)]
    m = Matcher()
    rng = random.Random(1)
    calls = [
        call(
            f"{rng.choice(['地域', '子ども', '環境'])}活動助成{i % 500}",
            rng.choice(orgs),
            deadline=date(2026, 1, 1).replace(day=1 + i % 28, month=1 + i % 12),
            amount=rng.choice([100_000, 300_000]),
            id=f"s{i}",
        )
        for i in range(3000)
    ]
    started = time.perf_counter()
    for c in calls:
        m.add(c.id, c)
    per_add = (time.perf_counter() - started) / len(calls)
    assert per_add < 0.002, f"{per_add * 1e6:.0f} µs per add"


# --- the benchmark -----------------------------------------------------------------------


def test_accuracy_on_the_labelled_listings() -> None:
    result = subprocess.run(
        [sys.executable, "bench/dedupe_accuracy", "--json", "--speed", "2000"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(result.stdout)
    assert figures["listings"] >= 200
    assert figures["labelled"]["precision"] >= 0.98, figures["labelled"]
    assert figures["labelled"]["recall"] >= 0.90, figures["labelled"]
    assert figures["all_pairs"]["precision"] >= 0.98, figures["all_pairs"]
    assert figures["all_pairs"]["recall"] >= 0.90, figures["all_pairs"]
    assert figures["incremental"]["labelled"]["precision"] >= 0.98
    assert figures["incremental"]["labelled"]["recall"] >= 0.90
    assert figures["speed"]["synthetic_pairs"]["precision"] >= 0.95
    assert figures["speed"]["synthetic_pairs"]["recall"] >= 0.95
