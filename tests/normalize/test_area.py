"""Area detection: national, prefecture or municipality, from eligibility wording."""

from __future__ import annotations

import pytest

from aggregator.normalize.area import PREFECTURES, parse_area
from aggregator.normalize.text import normalize_text
from tests.realpages import real_page_text


def area(
    text: str, *, title: str = "", organizer: str | None = None, fallback: str | None = None
) -> tuple[str, str | None]:
    return parse_area(
        normalize_text(text), title=normalize_text(title), organizer=organizer, fallback=fallback
    )


# (text, organizer, expected area)
NATIONAL = [
    ("全国の子ども食堂を対象とした助成です。", None),
    ("全国で活動する非営利団体が応募できます。", None),
    ("国内で活動する非営利団体(法人格の有無は問いません)", None),
    ("日本国内で外国にルーツをもつ人々への支援を行う団体", None),
    ("日本国内に事務所を有する団体であること", None),
    ("活動地域は問いません。", None),
    ("団体の所在地は問いません。オンラインでの活動も対象です。", None),
    ("全国規模 上限600万円 / 都道府県規模 200万円 / 市区町村規模 100万円", None),
    ("全国各地で草の根の活動を続ける団体を応援します。", "中央共同募金会"),
]


@pytest.mark.parametrize(
    ("text", "organizer"), NATIONAL, ids=[f"n{i}" for i in range(len(NATIONAL))]
)
def test_national_statements(text: str, organizer: str | None) -> None:
    value, evidence = area(text, organizer=organizer, fallback="prefecture:千葉県")
    assert value == "national"
    assert evidence is not None and evidence in normalize_text(text)


PREFECTURAL = [
    ("千葉県内に事務所を有する団体", None, "prefecture:千葉県"),
    ("千葉県内で活動する5名以上の団体", None, "prefecture:千葉県"),
    ("県内に主たる事務所を有し、県内で活動する団体", "千葉県共同募金会", "prefecture:千葉県"),
    ("県内の社会福祉の向上に取り組む団体", "千葉県社会福祉協議会", "prefecture:千葉県"),
    ("県内在住の方で構成される団体", "千葉県", "prefecture:千葉県"),
    ("県内を拠点として活動する団体", "社会福祉法人 千葉県共同募金会", "prefecture:千葉県"),
    ("神奈川県内で活動する市民活動団体", None, "prefecture:神奈川県"),
    ("北海道内に活動拠点のある団体", None, "prefecture:北海道"),
    ("道内で活動するNPO", None, "prefecture:北海道"),
    ("都内に事務所を置く団体", None, "prefecture:東京都"),
    ("東京都内で活動する団体", None, "prefecture:東京都"),
    ("府内で活動する団体", "京都府", "prefecture:京都府"),
    ("大阪府を拠点に活動する団体", None, "prefecture:大阪府"),
    ("和歌山県に所在する非営利団体", None, "prefecture:和歌山県"),
    ("鹿児島県の団体であること", None, "prefecture:鹿児島県"),
    ("千葉県の子ども食堂を対象とします", None, "prefecture:千葉県"),
    # 県内 with the prefecture named earlier on the line
    ("千葉県が実施する事業で、県内で活動する団体が対象", None, "prefecture:千葉県"),
    # 県内 and an organizer that is a city: the city's prefecture
    ("県内で活動する団体", "鎌ケ谷市", "prefecture:千葉県"),
]


@pytest.mark.parametrize(
    ("text", "organizer", "expected"), PREFECTURAL, ids=[f"p{i}" for i in range(len(PREFECTURAL))]
)
def test_prefectural_calls(text: str, organizer: str | None, expected: str) -> None:
    value, evidence = area(text, organizer=organizer)
    assert value == expected
    assert evidence is not None and evidence in normalize_text(text)


MUNICIPAL = [
    ("鎌ケ谷市内で活動する団体", None, "municipality:鎌ケ谷市"),
    ("鎌ヶ谷市内で活動する団体", None, "municipality:鎌ケ谷市"),
    ("かまがや市内に在住、在勤、在学の方", None, "municipality:鎌ケ谷市"),
    ("対象:千葉県鎌ケ谷市内で活動する5名以上の団体", None, "municipality:鎌ケ谷市"),
    ("市内を拠点とし、公益的な活動を行う団体", "鎌ケ谷市", "municipality:鎌ケ谷市"),
    ("市内で活動するボランティア団体", "鎌ケ谷市社会福祉協議会", "municipality:鎌ケ谷市"),
    ("市内在住・在勤の方が半数以上いる団体", "社会福祉法人 鎌ケ谷市社会福祉協議会",
     "municipality:鎌ケ谷市"),
    ("船橋市に事務所を置く団体", None, "municipality:船橋市"),
    ("柏市を中心に活動する団体", None, "municipality:柏市"),
    ("袖ヶ浦市内の自治会・町内会", None, "municipality:袖ケ浦市"),
    ("さいたま市内で活動する団体", None, "municipality:さいたま市"),
    ("印旛郡酒々井町内で活動する団体", None, "municipality:酒々井町"),
    ("町内で活動する団体", "酒々井町", "municipality:酒々井町"),
    ("京都市上京区内で実施される、区民のまちづくり活動", None, "municipality:京都市上京区"),
    ("港区内に在住・在勤・在学する方", None, "municipality:港区"),
    ("長生村に住所を有する方", None, "municipality:長生村"),
    ("鎌ケ谷市民を対象とした講座", None, "municipality:鎌ケ谷市"),
    # The narrowest area stated wins.
    ("千葉県内に事務所を有し、鎌ケ谷市内で活動する団体", None, "municipality:鎌ケ谷市"),
    ("全国の団体が応募できます。ただし鎌ケ谷市内で実施する事業に限ります。", None,
     "municipality:鎌ケ谷市"),
    # 市内 and the city named earlier on the line.
    ("令和8年度鎌ケ谷市市民活動推進補助金。対象は市内の団体", None, "municipality:鎌ケ谷市"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "organizer", "expected"), MUNICIPAL, ids=[f"m{i}" for i in range(len(MUNICIPAL))]
)
def test_municipal_calls(text: str, organizer: str | None, expected: str) -> None:
    value, evidence = area(text, organizer=organizer)
    assert value == expected
    assert evidence is not None and evidence in normalize_text(text)


def test_title_names_the_place_for_kennai() -> None:
    assert area("対象は県内の団体です。", title="令和8年度 千葉県NPO活動補助金")[0] == (
        "prefecture:千葉県"
    )
    assert area("対象は市内の団体です。", title="【鎌ケ谷市】市民活動推進補助金")[0] == (
        "municipality:鎌ケ谷市"
    )


def test_title_with_a_stated_area() -> None:
    assert area("子ども食堂の運営費を助成します。", title="千葉県内の子ども食堂応援助成") == (
        "prefecture:千葉県",
        "千葉県内の子ども食堂応援助成",
    )


def test_fallback_fills_kennai_without_a_name() -> None:
    assert area("県内で活動する団体", fallback="prefecture:千葉県")[0] == "prefecture:千葉県"
    assert area("市内で活動する団体", fallback="municipality:鎌ケ谷市")[0] == (
        "municipality:鎌ケ谷市"
    )
    # The municipality's prefecture answers 県内.
    assert area("県内で活動する団体", fallback="municipality:鎌ケ谷市")[0] == "prefecture:千葉県"


def test_unresolvable_relative_place_is_not_guessed() -> None:
    assert area("市内で活動する団体") == ("national", None)
    assert area("県内で活動する団体", organizer="公益財団法人 あおば財団") == ("national", None)
    # A prefecture organizer does not name the prefecture of 府内.
    assert area("府内で活動する団体", organizer="千葉県") == ("national", None)
    # An organizer whose name starts like a kana city is not that city.
    assert area("市内で活動する団体", organizer="さくら会") == ("national", None)
    assert area("市内で活動する団体", organizer="さくら市社会福祉協議会")[0] == (
        "municipality:さくら市"
    )


@pytest.mark.parametrize(
    ("text", "fallback", "expected"),
    [
        ("子ども食堂の運営費を助成します。", None, "national"),
        ("子ども食堂の運営費を助成します。", "prefecture:千葉県", "prefecture:千葉県"),
        ("子ども食堂の運営費を助成します。", "municipality:鎌ケ谷市", "municipality:鎌ケ谷市"),
        ("子ども食堂の運営費を助成します。", "national", "national"),
        ("子ども食堂の運営費を助成します。", "千葉県", "prefecture:千葉県"),
        ("子ども食堂の運営費を助成します。", "鎌ケ谷市", "municipality:鎌ケ谷市"),
        ("子ども食堂の運営費を助成します。", "全国", "national"),
        ("", None, "national"),
    ],
    ids=[f"f{i}" for i in range(8)],
)
def test_fallback_when_the_text_says_nothing(
    text: str, fallback: str | None, expected: str
) -> None:
    assert area(text, fallback=fallback) == (expected, None)


def test_organizer_alone_does_not_restrict_the_area() -> None:
    # A prefectural body relaying a national call: only 県内 in the text would restrict it.
    assert area("子ども食堂の運営費を助成します。", organizer="千葉県共同募金会") == (
        "national",
        None,
    )


# The organizer's address and contact lines are not the eligible area.
CONTACT_TRAPS = [
    "お問い合わせ先\n公益財団法人あおば財団 〒105-0001 東京都港区虎ノ門1-2-3\nTEL 03-0000-0000",
    "【お問い合わせ】あおば財団事務局(東京都千代田区内幸町1-1)",
    "所在地\n〒103-0022 東京都中央区日本橋室町3丁目2番1号",
    "住所:大阪府大阪市北区内本町1-1-1",
    "担当:鎌ケ谷市内の事務局 電話 047-000-0000",
    "連絡先\n千葉県内線 1234",
    "申請書の提出先 〒260-0001 千葉県千葉市中央区市場町1-1 県庁内",
]


@pytest.mark.parametrize("text", CONTACT_TRAPS, ids=[f"c{i}" for i in range(len(CONTACT_TRAPS))])
def test_contact_address_is_not_the_area(text: str) -> None:
    assert area("全国の団体が対象です。\n" + text)[0] == "national"
    assert area("子ども食堂を応援します。\n" + text, fallback="prefecture:埼玉県") == (
        "prefecture:埼玉県",
        None,
    )


def test_contact_block_after_an_eligibility_statement() -> None:
    text = (
        "対象:鎌ケ谷市内で活動する団体\n"
        "お問い合わせ\n"
        "鎌ケ谷市市民活動推進センター 〒273-0195 千葉県鎌ケ谷市新鎌ケ谷2-6-1\n"
        "電話 047-000-0000"
    )
    assert area(text) == ("municipality:鎌ケ谷市", "対象:鎌ケ谷市内で活動する団体")


# Words that look like an area but are not one.
NOT_AN_AREA = [
    "助成額 1団体あたり50万円以内",
    "申請内容を確認のうえ、町内会・自治会の活動も対象とします",
    "地域に密着した事業(同一都道府県内)",
    "各都道府県内の団体の連携を支援します",
    "小学校区内の子どもの見守り",
    "全国こども食堂支援センターとの協働事業",
    "京都府「豊かな森を育てる府民税」を原資として",
    "千葉県共同募金会が実施する助成です",
    "市町村内の取組を紹介します",
    "県内外から多くの参加者が集まる催し",
]


@pytest.mark.parametrize("text", NOT_AN_AREA, ids=[f"x{i}" for i in range(len(NOT_AN_AREA))])
def test_look_alikes_are_not_areas(text: str) -> None:
    assert area(text, fallback="prefecture:千葉県") == ("prefecture:千葉県", None)


def test_excluded_place_is_not_the_area() -> None:
    assert area("全国の団体(ただし東京都内の団体を除く)")[0] == "national"
    assert area("千葉県内で活動する団体(千葉市内の団体は対象外)")[0] == "prefecture:千葉県"


def test_several_municipalities_share_their_prefecture() -> None:
    value, evidence = area("対象団体:船橋市、鎌ケ谷市及び白井市内で活動する団体")
    assert value == "prefecture:千葉県"
    assert evidence == "対象団体:船橋市、鎌ケ谷市及び白井市内で活動する団体"
    # Unknown prefecture of the towns: the organizer's.
    assert area("甲町、乙町内で活動する団体", organizer="千葉県")[0] == "prefecture:千葉県"


def test_several_prefectures_are_not_one_prefecture() -> None:
    assert area("千葉県内又は茨城県内で活動する団体")[0] == "national"
    assert area("千葉県・茨城県内に事務所を置く団体", fallback="prefecture:千葉県")[0] == "national"


@pytest.mark.parametrize("prefecture", PREFECTURES)
def test_every_prefecture(prefecture: str) -> None:
    assert area(f"{prefecture}内で活動する団体")[0] == f"prefecture:{prefecture}"


def test_full_width_input() -> None:
    assert area("千葉県内　に事務所を有する団体")[0] == "prefecture:千葉県"
    assert area("ＮＰＯ法人など千葉県内で活動する団体")[0] == "prefecture:千葉県"
    assert area("千葉県鎌ケ谷市内で活動する団体(５名以上)")[0] == "municipality:鎌ケ谷市"


# --- Real pages (test data only; skipped where the folder is absent) ---------------------


_page_text = real_page_text


def test_real_canpan_detail_is_national() -> None:
    text = _page_text("canpan-grant-detail.html")
    value, evidence = parse_area(text, organizer="パブリックリソース財団")
    assert value == "national"
    assert evidence is not None and "日本国内" in evidence


def test_real_wam_detail_ignores_the_tokyo_contact_address() -> None:
    text = _page_text("wam-josei-r8-detail.html")
    assert parse_area(text, organizer="独立行政法人福祉医療機構")[0] == "national"


def test_real_shimisen_detail_ignores_the_funders_address() -> None:
    text = _page_text("shimisen-subsidy-detail.html")
    body = text[text.index("概要・趣旨") :]
    assert parse_area(body, organizer="公益財団法人 洲崎福祉財団")[0] == "national"
