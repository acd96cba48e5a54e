"""parse_amounts / parse_yen: per-grant caps, program budgets and rates as calls write them."""

from __future__ import annotations

import pytest

from aggregator.normalize.amounts import AmountInfo, parse_amounts, parse_yen
from aggregator.normalize.text import normalize_text
from tests.realpages import real_page_text


def amounts(text: str, title: str = "") -> AmountInfo:
    return parse_amounts(normalize_text(text), title=normalize_text(title))


# --- one amount expression ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "yen"),
    [
        ("30万円", 300_000),
        ("3,000千円", 3_000_000),
        ("百二十万円", 1_200_000),
        ("千三百万円", 13_000_000),
        ("二十万円", 200_000),
        ("1.5億円", 150_000_000),
        ("1万5000円", 15_000),
        ("500,000円", 500_000),
        ("約6億円", 600_000_000),
        ("1億2,000万円", 120_000_000),
        ("0.5万円", 5_000),
        ("５０万円", 500_000),  # full-width digits
        ("5,000 万円", 50_000_000),  # space before the unit, as on shimisen
        ("800,000 円", 800_000),
        ("30万", 300_000),  # 円 left off
        ("100000", 100_000),
    ],
)
def test_parse_yen(expression: str, yen: int) -> None:
    assert parse_yen(normalize_text(expression)) == yen


@pytest.mark.parametrize("expression", ["", "円", "無料", "数十万円", "要相談"])
def test_parse_yen_none(expression: str) -> None:
    assert parse_yen(normalize_text(expression)) is None


# --- per-grant caps -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cap"),
    [
        ("助成金額:上限30万円", 300_000),
        ("1件あたり50万円以内の助成を行います。", 500_000),
        ("1団体10万円を上限として活動費を助成します", 100_000),
        ("最大500万円まで助成", 5_000_000),
        ("講座の開催経費として20万円まで支給します", 200_000),
        ("助成上限額 20万円", 200_000),
        ("1件あたりの上限額:\n800,000円", 800_000),  # label and value on two lines
        ("1か所当たり10万円以内(1回に限る)", 100_000),
        ("助成金額 30万円", 300_000),  # no qualifier, but an amount heading
        ("助成額:1団体につき10万円", 100_000),
        ("補助金額:500,000円", 500_000),
        ("支援金額:一団体二十万円", 200_000),
        ("上限 百二十万円", 1_200_000),
        ("助成の上限は千三百万円です", 13_000_000),
        ("最大1.5億円", 150_000_000),
        ("1団体あたり1万5000円を支給", 15_000),
        ("上限 5,000 万円", 50_000_000),
        ("１団体あたり上限８０万円", 800_000),  # full width
        ("1件につき30万円程度", 300_000),
        ("上限30万円(税込)", 300_000),
        ("10万円以上50万円以下の事業", 500_000),  # 以上 is a floor, 以下 the cap
        ("上限30万円(下限5万円)", 300_000),
        ("3,000千円/1件", 3_000_000),
        ("助成額 2,000千円/1件(総額5,000千円)", 2_000_000),
    ],
)
def test_per_grant_cap(text: str, cap: int) -> None:
    info = amounts(text)
    assert info.max_amount_yen == cap
    assert info.max_evidence


@pytest.mark.parametrize(
    ("text", "cap"),
    [
        # a range: the upper end
        ("助成金額\n地域の居場所づくり事業\n50万円～700万円", 7_000_000),
        ("30万円から100万円", 1_000_000),
        ("1件あたり10万円~50万円程度", 500_000),
        # tiers by scale: the highest cap
        ("全国規模 上限600万円 / 都道府県規模 200万円 / 市区町村規模 100万円", 6_000_000),
        ("市区町村規模 上限100万円 / 都道府県規模 200万円 / 全国規模 600万円", 6_000_000),
        (
            "1件あたりの上限額(下限はいずれも10万円)\n"
            "福祉車両:400 万円\n一般車両:250 万円\n物品購入:200 万円\n施設工事:300 万円",
            4_000_000,
        ),
        # an exception above the usual range is still the most a grant can be
        (
            "50万円~900万円(※2)\n"
            "※2 災害支援等の場合は、2,000万円までの範囲内で上記助成金額を超えることができます。",
            20_000_000,
        ),
    ],
)
def test_ranges_and_tiers(text: str, cap: int) -> None:
    assert amounts(text).max_amount_yen == cap


def test_cap_from_title() -> None:
    info = amounts("子どもの居場所づくりを応援します。", title="【上限30万円】子ども食堂応援助成")
    assert info.max_amount_yen == 300_000
    assert "上限30万円" in (info.max_evidence or "")


def test_title_already_in_text_is_not_read_twice() -> None:
    title = "【上限30万円】子ども食堂応援助成"
    info = amounts(f"{title}\n助成総額:300万円", title=title)
    assert (info.max_amount_yen, info.total_budget_yen) == (300_000, 3_000_000)


# --- program budgets -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "total"),
    [
        ("助成総額:1,500万円", 15_000_000),
        ("総額5,100万円程度を予定しています", 51_000_000),
        ("助成総額\n約6億円(モデル事業の分を含みます。)", 600_000_000),
        ("予算総額 2,000万円", 20_000_000),
        ("助成金総額:\n3,200,000円", 3_200_000),
        ("本年度の予算額は300万円です", 3_000_000),
        ("総額:半期予算は 5,000 万円", 50_000_000),
        ("助成総額 1億2,000万円", 120_000_000),
    ],
)
def test_total_budget_is_not_the_cap(text: str, total: int) -> None:
    info = amounts(text)
    assert info.total_budget_yen == total
    assert info.total_evidence
    assert info.max_amount_yen is None


def test_cap_and_total_together() -> None:
    info = amounts("助成額は1件あたり最大100万円、総額1,000万円を予定")
    assert (info.max_amount_yen, info.total_budget_yen) == (1_000_000, 10_000_000)


def test_cap_and_total_in_a_detail_table() -> None:
    text = (
        "助成金額:1団体あたり上限80万円 単年度の助成です\n"
        "採択予定:4団体程度\n"
        "助成金額\n助成金総額:\n3,200,000円\n1件あたりの上限額:\n800,000円\n"
        "昨年度実績\n応募件数:23件\n助成件数:5件\n助成金総額:4,100,000円"
    )
    info = amounts(text)
    assert info.max_amount_yen == 800_000
    assert info.total_budget_yen == 3_200_000  # not last year's 4,100,000
    assert info.total_evidence == "助成金総額: 3,200,000円"


# --- yen figures that are neither ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "参加費500円(資料代含む)",
        "年会費3,000円の団体会員",
        "事業費総額100万円以上の事業は対象外",
        "自己負担金1万円が必要です",
        "昨年度実績\n応募件数:23件\n助成件数:5件\n助成金総額:320万円",
        "下限2万円",
        "最低10万円から申請できます",
        "年間収入が2億円以上の団体は応募できません",
        "単価1万円未満の消耗品は対象外",
        "千葉県内一円で活動する団体",
        "円滑な運営のために",
        "数十万円規模の事業を想定",
        "見積書:購入単価10万円以上の場合は2社以上",
        "寄付は1,000円から受け付けています",
        "講座受講料 2,000円",
        "これまでに累計3億円を助成しました",
        "本財団の基本財産は10億円です",  # a figure with nothing to say what it is
        "応募期間:2026年7月1日~8月15日",
    ],
)
def test_unrelated_yen_figures(text: str) -> None:
    info = amounts(text)
    assert info.max_amount_yen is None
    assert info.total_budget_yen is None


def test_minimum_is_not_the_max_even_when_larger_figures_are_unrelated() -> None:
    info = amounts("下限額:5万円\n参加費:1,000円")
    assert info.max_amount_yen is None


def test_nothing_to_read() -> None:
    assert amounts("助成内容は募集要項をご覧ください") == AmountInfo(
        None, None, None, None, None, None
    )


# --- rates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("事業費総額の75%以内", "事業費総額の75%以内"),
        ("補助率:2/3以内", "2/3以内"),
        ("2/3以内", "2/3以内"),
        ("助成対象経費の2/3以内を助成します", "助成対象経費の2/3以内"),
        ("算定額の最大75%(千円未満切捨)", "算定額の最大75%(千円未満切捨)"),
        ("補助率1/2", "1/2"),
        ("補助率は2分の1", "2分の1"),
        ("対象経費の90%を助成", "対象経費の90%"),
        ("助成率 100%", "100%"),
        ("【補助率】対象経費の4/5以内(千円未満切捨て)", "対象経費の4/5以内(千円未満切捨て)"),
    ],
)
def test_rate_kept_as_text(text: str, rate: str) -> None:
    info = amounts(text)
    assert info.subsidy_rate == rate
    assert rate in (info.rate_evidence or "")


@pytest.mark.parametrize(
    "text",
    [
        "8/13締切",
        "2/3(火)まで受付",
        "1/10まで受付",
        "参加者の50%が高齢者です",
        "出席率80%",
        "消費税10%",
        "https://example.org/grant/1/2",
        "申請は2026/10/01から",
    ],
)
def test_not_a_rate(text: str) -> None:
    assert amounts(text).subsidy_rate is None


def test_rate_and_cap_in_one_clause() -> None:
    info = amounts("上限額:事業費総額の2/3以内かつ30万円")
    assert info.max_amount_yen == 300_000
    assert info.subsidy_rate == "事業費総額の2/3以内"


def test_rate_in_brackets_next_to_cap() -> None:
    info = amounts("補助上限額:1件当たり50万円(補助率2/3)")
    assert (info.max_amount_yen, info.subsidy_rate) == (500_000, "2/3")


# --- evidence --------------------------------------------------------------------------------


def test_evidence_is_the_clause_not_the_whole_text() -> None:
    text = (
        "この助成は地域で活動する団体を応援するものです。\n"
        "助成金額は1団体あたり上限50万円とします。\n"
        "詳しくは募集要項をご覧ください。"
    )
    info = amounts(text)
    assert info.max_evidence == "助成金額は1団体あたり上限50万円とします"


def test_evidence_is_at_most_about_80_characters() -> None:
    text = "あ" * 200 + "上限30万円" + "い" * 200
    evidence = amounts(text).max_evidence or ""
    assert "上限30万円" in evidence
    assert len(evidence) <= 90


# --- real pages (skipped where /work/shared is absent) ------------------------------------


_page_text = real_page_text


@pytest.mark.parametrize(
    ("page", "cap", "total"),
    [
        ("canpan-grant-detail.html", 800_000, 3_200_000),
        ("wam-josei-r8-detail.html", 20_000_000, 600_000_000),
        ("shimisen-subsidy-detail.html", 4_000_000, 50_000_000),
    ],
)
def test_real_pages(page: str, cap: int, total: int) -> None:
    info = parse_amounts(_page_text(page))
    assert (info.max_amount_yen, info.total_budget_yen) == (cap, total)
