"""parse_eligibility / parse_costs: who may apply and which costs a grant pays for."""

from __future__ import annotations

import pytest

from aggregator.normalize.eligibility import parse_costs, parse_eligibility
from aggregator.normalize.text import normalize_text
from aggregator.record import CostsCovered, Coverage, Eligibility
from tests.realpages import real_page_text


def eligibility(text: str) -> tuple[Eligibility, dict[str, str]]:
    return parse_eligibility(normalize_text(text))


def costs(text: str) -> tuple[CostsCovered, dict[str, str]]:
    return parse_costs(normalize_text(text))


# --- informal groups (任意団体) ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "対象団体:市内で活動する団体(法人格の有無は問わない)",
        "法人格の有無は問いません。",
        "応募資格:法人格不問",
        "法人格は問いません",
        "任意団体可",
        "NPO法人のほか、任意団体も可",
        "任意団体も応募できます",
        "NPO法人、一般社団法人等(任意団体を含む)",
        "民間の非営利組織(法人格のない任意団体も可)",
        "法人格がなくても応募可能です",
        "ボランティア団体も対象です",
        "市民活動団体でも申請できます",
        "法人格の有無に関わらず応募できます",
        "対象:市内で活動する市民団体(法人格不要)",
        "自主防災組織(法人格は不要です)",
        "法人格のない団体も一定の要件を満たせば応募可",
        "対象:任意団体、個人の呼びかけによるグループも可",
        "市民の研究グループ(任意団体)による応募も可能です",
        "※任意団体の場合は、団体名義の口座と会則があること",
        "備考:市内の単位子ども会(任意団体)が対象です。",
        "対象:県内で活動する消費者団体、自治会、老人クラブ、任意団体等",
        "■対象:子育てサークル(任意団体)",
        "対象条件\nNPO法人 任意団体・地域住民組織など",  # named as eligible in a label
    ],
)
def test_informal_groups_ok(text: str) -> None:
    result, evidence = eligibility(text)
    assert result.informal_groups_ok is True
    assert evidence["informal_groups_ok"]


@pytest.mark.parametrize(
    "text",
    [
        "応募資格:NPO法人に限る",
        "法人格を有する団体であること",
        "特定非営利活動法人であること",
        "社会福祉法人に限ります",
        "任意団体は対象外です",
        "個人及び任意団体は応募できません",
        "任意団体も対象外となります",
        "申請には法人格が必要です",
        "営利を目的としない法人に限る",
        "対象団体:特定非営利活動法人(NPO法人)に限る",
        "■対象:特定非営利活動法人、一般社団法人(非営利型)に限ります",
        "日本国内に事務所を置き、法人登記をしている団体に限ります。",
        "■対象:NPO法人、一般社団法人(非営利型)の組織基盤強化",
        "対象:中小企業者、個人事業主",
        "県内に事業所を有する中小企業者が設備を更新する費用を補助します。",
    ],
)
def test_only_legal_persons(text: str) -> None:
    result, evidence = eligibility(text)
    assert result.informal_groups_ok is False
    assert evidence["informal_groups_ok"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "市内で活動する団体",
        "公益財団法人みどり基金が実施する助成です。",
        "NPO法人の運営に役立つ講座です",
        "対象:NPO法人等の非営利団体",
        "中小企業者は対象外です。",
    ],
)
def test_informal_not_said(text: str) -> None:
    result, evidence = eligibility(text)
    assert result.informal_groups_ok is None
    assert "informal_groups_ok" not in evidence


def test_explicit_opening_wins_over_legal_person_rule() -> None:
    text = (
        "次の法人格を取得している団体\n(公益財団法人、社会福祉法人、特定非営利活動法人)\n"
        "患者会については、法人格の有無や活動年数などは不問"
    )
    assert eligibility(text)[0].informal_groups_ok is True


# --- legal forms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "forms"),
    [
        ("対象団体:NPO法人、一般社団法人、任意団体", ["NPO法人", "一般社団法人", "任意団体"]),
        (
            "【応募資格】\n特定非営利活動法人\n一般財団法人\n社会福祉法人",
            ["NPO法人", "一般財団法人", "社会福祉法人"],
        ),
        (
            "助成の対象となる団体\n次の要件を満たす団体とする。\n"
            "営利を目的としない次の法人又は団体\n社会福祉法人\n医療法人\n"
            "公益法人(公益社団法人又は公益財団法人)\nNPO法人(特定非営利活動法人)",
            ["NPO法人", "公益社団法人", "公益財団法人", "社会福祉法人", "医療法人"],
        ),
        (
            "主催:公益財団法人かまがや未来財団\n対象となる団体:市内の自治会・町内会",
            ["自治会"],
        ),
        (
            "申請できる団体\n公益社団法人、公益財団法人、学校法人",
            ["公益社団法人", "公益財団法人", "学校法人"],
        ),
        ("応募資格:ボランティア団体、NPO法人等", ["NPO法人", "ボランティア団体"]),
        ("NPO法人に限る", ["NPO法人"]),  # said eligible right where it is named
        ("・対象団体:認定NPO法人を含む市民活動団体", ["NPO法人"]),
        ("対象者:株式会社等の事業者も応募可", ["株式会社"]),
    ],
)
def test_legal_forms(text: str, forms: list[str]) -> None:
    result, evidence = eligibility(text)
    assert result.legal_forms == forms
    assert evidence["legal_forms"]


@pytest.mark.parametrize(
    "text",
    [
        "公益財団法人みどり基金が実施する助成です。",  # the organizer
        "このページは 公益財団法人 あおば福祉財団 が実施する助成情報です。",
        "株式会社は対象外です",
        "社会福祉法人○○会の職員が講師を務めます",  # no eligibility context
        "対象団体:市内で活動する団体\n【応募方法】\n一般社団法人○○協会の窓口へ提出",
        "NPO法人の会計講座を開催します",
    ],
)
def test_forms_outside_eligibility_are_ignored(text: str) -> None:
    result, evidence = eligibility(text)
    assert result.legal_forms == []
    assert "legal_forms" not in evidence


# --- members and years -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "members"),
    [
        ("構成員が5名以上であること", 5),
        ("会員10名以上の団体", 10),
        ("5人以上で構成される団体", 5),
        ("団体の構成員は3名以上であること", 3),
        ("メンバー数:5人以上", 5),
        ("10名以上の団体であること", 10),
        ("参加者20名以上のイベント", None),  # an event's audience, not members
        ("定員30名以上の会場", None),
        ("理事を2人以上置いていること", None),
        ("5名以上", None),  # no member context at all
    ],
)
def test_min_members(text: str, members: int | None) -> None:
    result, evidence = eligibility(text)
    assert result.min_members == members
    assert ("min_members" in evidence) is (members is not None)


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("活動実績2年以上", 2),
        ("設立後1年以上経過していること", 1),
        ("1年以上の活動実績があること", 1),
        ("3年以上の継続的な実績", 3),
        ("設立から3年以上の団体", 3),
        ("活動歴が5年以上", 5),
        ("過去3年以内に助成を受けた団体は除く", None),
        ("助成期間は2年以上にわたる事業", None),
        ("2年以上の事業計画を提出", None),
    ],
)
def test_min_years_active(text: str, years: int | None) -> None:
    result, evidence = eligibility(text)
    assert result.min_years_active == years
    assert ("min_years_active" in evidence) is (years is not None)


def test_full_eligibility_passage() -> None:
    text = (
        "【対象団体】\n市内に活動拠点を有し、1年以上の活動実績がある団体"
        "(法人格の有無は問いません)。構成員が5名以上であること。\n"
        "NPO法人、自治会、ボランティア団体など\n【助成金額】上限30万円"
    )
    result, evidence = eligibility(text)
    assert result == Eligibility(
        informal_groups_ok=True,
        legal_forms=["NPO法人", "ボランティア団体", "自治会"],
        min_members=5,
        min_years_active=1,
    )
    assert evidence["min_members"] == "構成員が5名以上であること"
    assert set(evidence) == {"informal_groups_ok", "legal_forms", "min_members", "min_years_active"}


# --- costs covered -----------------------------------------------------------------------

N, Y, S = Coverage.NO, Coverage.YES, Coverage.NOT_STATED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("人件費は対象外です", {"personnel": N}),
        ("人件費は対象となりません", {"personnel": N}),
        ("対象経費(人件費を除く)", {"personnel": N}),
        ("人件費も対象となります", {"personnel": Y}),
        ("【対象経費】人件費、謝金、旅費、消耗品費", {"personnel": Y, "honoraria": Y}),
        ("講師謝金は対象", {"honoraria": Y}),
        ("謝礼は助成対象外です", {"honoraria": N}),
        ("事務所の家賃は対象外", {"rent": N}),
        ("賃借料(事務所)も対象", {"rent": Y}),
        ("事務所賃料は計上できません", {"rent": N}),
        ("備品購入費も可", {"equipment": Y}),
        ("備品の購入には充てられません", {"equipment": N}),
        ("対象外経費:人件費、家賃、飲食費", {"personnel": N, "rent": N}),
        (
            "対象経費:謝金、会場借上料、備品購入費\n対象外経費:人件費、家賃",
            {"honoraria": Y, "equipment": Y, "personnel": N, "rent": N},
        ),
        (
            "※人件費、団体の経常的な運営費(家賃・光熱水費)は対象となりません",
            {"personnel": N, "rent": N},
        ),
        (
            "申請事業に欠かせない賃金・謝金については、上限10万円まで助成対象とする",
            {"personnel": Y, "honoraria": Y},
        ),
        # an explicit exclusion wins over the list
        (
            "【対象経費】謝金、人件費、印刷費\n※ただし人件費は正規職員分を除く",
            {"personnel": N, "honoraria": Y},
        ),
        ("助成対象経費\n・謝金\n・備品購入費\n・印刷製本費", {"honoraria": Y, "equipment": Y}),
        # a bracket further on speaks of another cost; one right after qualifies this one
        ("【対象経費】謝金、旅費(事務所の家賃は対象外)", {"honoraria": Y, "rent": N}),
        ("人件費(常勤職員分)は対象外", {"personnel": N}),
    ],
)
def test_costs(text: str, expected: dict[str, Coverage]) -> None:
    result, evidence = costs(text)
    for attr in ("personnel", "honoraria", "rent", "equipment"):
        assert getattr(result, attr) == expected.get(attr, S), attr
    assert set(evidence) == {f"costs.{attr}" for attr in expected}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "印刷製本費、通信運搬費",
        "会場費は対象",  # a hall for an event is no rent
        "人件費の2分の1以内",
        "対象経費:旅費\n\n人件費の扱いは別途ご相談ください",  # a blank line ends the list
        "【対象経費】旅費\n【応募方法】人件費の内訳を添えて",
    ],
)
def test_costs_not_stated(text: str) -> None:
    result, evidence = costs(text)
    assert result == CostsCovered()
    assert evidence == {}


def test_costs_evidence_is_the_clause() -> None:
    text = "助成の対象となる経費は事業に直接必要なものです。\n人件費は対象外です。\n詳細は要項へ。"
    _, evidence = costs(text)
    assert evidence == {"costs.personnel": "人件費は対象外です"}


# --- real pages (skipped where /work/shared is absent) ------------------------------------


_page_text = real_page_text


def test_real_canpan_page() -> None:
    result, _ = parse_eligibility(_page_text("canpan-grant-detail.html"))
    assert result.informal_groups_ok is True
    assert result.legal_forms == ["NPO法人", "任意団体"]


def test_real_wam_page() -> None:
    result, _ = parse_eligibility(_page_text("wam-josei-r8-detail.html"))
    assert result.legal_forms == [
        "NPO法人",
        "一般社団法人",
        "一般財団法人",
        "公益社団法人",
        "公益財団法人",
        "社会福祉法人",
        "医療法人",
    ]
    assert "公益財団法人" in result.legal_forms  # listed, although organizers carry it too


def test_real_shimisen_page() -> None:
    text = _page_text("shimisen-subsidy-detail.html")
    result, _ = parse_eligibility(text)
    assert "NPO法人" in result.legal_forms
    assert "社会福祉法人" in result.legal_forms
    covered, _ = parse_costs(text)
    assert covered.honoraria == Coverage.YES
