"""Activity-field classification: vocabulary, weighting, organization names, source labels."""

from __future__ import annotations

import pytest

from aggregator.fields import FIELD_SHORT_LABELS, FIELD_SLUGS, FIELDS
from aggregator.normalize.classify import FieldsInfo, classify_fields, map_source_category
from aggregator.normalize.text import normalize_text
from tests.realpages import real_page_text


def classify(title: str, body: str, categories: tuple[str, ...] = ()) -> FieldsInfo:
    return classify_fields(normalize_text(title), normalize_text(body), categories)


# (title, body, expected top field): every one of the 20 fields is reachable from text alone.
EACH_FIELD = [
    ("第5回 こども食堂応援助成 2026年度",
     "地域で子ども食堂や学習支援など、子どもの居場所づくりに取り組む団体を応援します。",
     "children_youth"),
    ("高齢者の地域生活を支える活動への助成",
     "認知症の方や介護をする家族を支える活動、障がいのある人の社会参加を進める活動を対象とします。",
     "health_welfare"),
    ("令和8年度 災害ボランティア活動支援助成",
     "豪雨や地震で被災した地域での被災者支援や、復興に向けた活動を助成します。",
     "disaster_relief"),
    ("里山保全活動助成 2026",
     "森林の手入れや生物多様性の保全、河川の清掃など、身近な自然環境を守る活動を対象とします。",
     "environment"),
    ("在住外国人支援プログラム",
     "日本語教室の運営や多言語での生活相談など、多文化共生を進める活動を応援します。",
     "international"),
    ("地域文化振興助成(第10期)",
     "伝統芸能の継承、音楽や演劇の公演、地域のスポーツ大会など、文化芸術の振興に資する活動。",
     "culture_arts_sports"),
    ("まちづくり活動支援補助金",
     "商店街のにぎわいづくりや空き家の活用など、住民が主体となった地域づくりを支援します。",
     "community_development"),
    ("地域の防犯活動助成",
     "防犯パトロールや通学路の見守り、交通安全教室など、地域の安全を守る活動。",
     "community_safety"),
    ("人権啓発活動助成",
     "差別のない社会をめざし、人権を学ぶ講座や平和を考える催しを行う団体を支援します。",
     "human_rights_peace"),
    ("男女共同参画推進事業補助金",
     "ジェンダー平等の実現に向けた講座や、女性の活躍を支える取組を対象とします。",
     "gender_equality"),
    ("地域のデジタル化推進助成",
     "シニア向けスマホ教室やICTを活用した情報発信など、デジタルデバイドの解消に取り組む活動。",
     "it_society"),
    ("子ども科学教室助成",
     "理科の実験教室やロボット工作など、科学技術への関心を育てる活動。",
     "science_tech"),
    ("コミュニティビジネス創業支援",
     "地域資源を活かした起業や、特産品の商品開発など、地域経済の活性化につながる事業を支援します。",
     "economy"),
    ("若者の就労支援事業助成",
     "ひきこもり状態にある若者の就労支援や職業訓練、障害者雇用の促進に取り組む団体。",
     "employment"),
    ("消費者被害防止のための啓発活動助成",
     "悪質商法や特殊詐欺から高齢者を守る出前講座、消費者教育の教材づくりを支援します。",
     "consumer_protection"),
    ("NPOの組織基盤強化助成",
     "中間支援組織による伴走支援や、団体運営の改善、ファンドレイジング力の向上を目指す事業。",
     "npo_support"),
    ("観光ボランティアガイド育成事業",
     "インバウンド観光客を迎えるガイドの育成や、観光資源の発掘に取り組む団体。",
     "tourism"),
    ("中山間地域の農業を守る活動助成",
     "耕作放棄地の再生や棚田の保全、農山漁村と都市の交流など。",
     "rural"),
    ("生涯学習推進事業助成",
     "公民館での市民講座や、図書館と連携した読み聞かせ活動など、社会教育を進める活動。",
     "social_education"),
    ("特定非営利活動の促進に関する助成",
     "都道府県又は指定都市の条例で定める活動に取り組む団体を対象とします。",
     "ordinance"),
]  # fmt: skip


@pytest.mark.parametrize(("title", "body", "top"), EACH_FIELD, ids=[c[2] for c in EACH_FIELD])
def test_each_field_is_reachable_from_text(title: str, body: str, top: str) -> None:
    info = classify(title, body)
    assert info.fields[0] == top
    assert info.terms[top], "the words that led to the field are listed"


def test_the_table_covers_all_twenty_fields() -> None:
    assert {c[2] for c in EACH_FIELD} == set(FIELD_SLUGS)


# (title, body, expected fields in order)
MULTI_FIELD = [
    ("2026年度 移民・難民支援基金(第8回)",
     "日本国内の難民、移民、技能実習生など、外国にルーツをもつ人々の暮らしを支える活動を助成します。",
     ["international", "human_rights_peace"]),
    ("障がい児の放課後支援助成",
     "障害のある子どもたちの放課後の居場所づくりを支援します。",
     ["children_youth", "health_welfare"]),
    ("DV被害者支援活動助成",
     "ドメスティック・バイオレンスや性暴力の被害を受けた女性への相談支援を行う団体。",
     ["gender_equality", "human_rights_peace"]),
    ("被災地の子どもたちへの支援",
     "地震で被災した地域の子どもの学習支援や居場所づくりを応援します。",
     ["disaster_relief", "children_youth"]),
    ("若者の就労支援事業助成",
     "ひきこもり状態にある若者の就労支援や職業訓練、障害者雇用の促進に取り組む団体。",
     ["employment", "children_youth"]),
    ("消費者被害防止のための啓発活動助成",
     "悪質商法や特殊詐欺から高齢者を守る出前講座、消費者教育の教材づくりを支援します。",
     ["consumer_protection", "social_education"]),
    ("農福連携モデル事業",
     "障害のある人が農作業に携わる農福連携の取組を支援します。",
     ["rural", "health_welfare"]),
    ("防災まちづくり活動助成",
     "自主防災組織による避難所運営訓練や、防災マップづくりなど地域の防災力を高める活動。",
     ["disaster_relief", "community_development"]),
    ("子ども食堂・フードバンク応援助成",
     "生活困窮世帯の子どもへの食支援や、フードバンクによる食品の提供を行う団体。",
     ["children_youth", "health_welfare"]),
    # The title outweighs a body that talks about something else at length.
    ("高齢者の見守り活動助成",
     "子ども会や子育てサロンなど、子どもから高齢者まで多世代がつながる地域の居場所。",
     ["health_welfare", "children_youth", "community_safety"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("title", "body", "expected"), MULTI_FIELD, ids=["+".join(c[2]) for c in MULTI_FIELD]
)
def test_multi_field_calls_are_ordered_by_relevance(
    title: str, body: str, expected: list[str]
) -> None:
    assert classify(title, body).fields == expected


def test_at_most_three_fields() -> None:
    body = (
        "子ども食堂、高齢者の介護予防、里山の保全、伝統芸能の継承、防犯パトロール、"
        "災害ボランティア、多文化共生、男女共同参画など幅広い活動を対象とします。"
    )
    info = classify("地域活動助成", body)
    assert 1 <= len(info.fields) <= 3
    assert set(info.terms) == set(info.fields)


def test_minor_mentions_do_not_become_fields() -> None:
    body = (
        "里山の保全、森林の手入れ、生物多様性を守る活動、河川の清掃を対象とします。"
        "活動には子どもの参加も歓迎します。"
    )
    assert classify("里山保全活動助成", body).fields == ["environment"]


# Organization names contain field words that say nothing about the call's topic.
ORGANIZATION_NAMES = [
    ("ひかり福祉財団「一般助成」-2026年度",
     "伝統文化の継承や郷土芸能の保存に取り組む団体を対象とします。",
     "culture_arts_sports", "health_welfare"),
    ("2026年度 助成事業",
     "社会福祉法人、NPO法人、任意団体を問わず、海岸の清掃や環境保全に取り組む団体を対象とします。",
     "environment", "health_welfare"),
    ("国際交流基金 地球市民賞",
     "地域の伝統芸能を通じて住民同士の交流を深める団体を表彰します。",
     "culture_arts_sports", "international"),
    ("みどり環境財団 活動助成",
     "子育て中の親子が集える居場所づくりを支援します。",
     "children_youth", "environment"),
    ("助成のお知らせ",
     "主催: 環境省\n子どもの学習支援や子ども食堂の運営を支援します。",
     "children_youth", "environment"),
    ("助成のお知らせ",
     "実施団体: 特定非営利活動法人 子ども劇場ネット\n演劇や音楽の鑑賞活動を支援します。",
     "culture_arts_sports", "children_youth"),
    ("公益財団法人 あおば国際協力協会 助成",
     "障がいのある人の就労支援や作業所の設備整備を支援します。",
     "health_welfare", "international"),
    ("千葉県社会福祉協議会からのお知らせ",
     "河川敷の清掃やごみ拾いなど、環境美化に取り組むボランティア団体を募集します。",
     "environment", "health_welfare"),
    ("令和8年度 助成",
     "申請先: 独立行政法人福祉医療機構\n地域の防犯パトロールや通学路の見守り活動を支援します。",
     "community_safety", "health_welfare"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("title", "body", "top", "absent"),
    ORGANIZATION_NAMES,
    ids=[f"{i}-{c[2]}-not-{c[3]}" for i, c in enumerate(ORGANIZATION_NAMES)],
)
def test_words_inside_organization_names_do_not_count(
    title: str, body: str, top: str, absent: str
) -> None:
    info = classify(title, body)
    assert info.fields[0] == top
    assert absent not in info.fields


# Swallowed compounds: the generic word inside does not count for its field.
@pytest.mark.parametrize(
    ("body", "absent"),
    [
        ("職場環境の改善と働き方の見直しに取り組む事業者を支援します。", "environment"),
        ("消費税込の金額で申請してください。障害のある人の就労支援を行う団体が対象です。",
         "consumer_protection"),
        ("経済的な理由で進学をあきらめる若者の学習支援を行う団体。", "economy"),
    ],
    ids=["職場環境", "消費税", "経済的"],
)  # fmt: skip
def test_generic_word_inside_a_compound_does_not_count(body: str, absent: str) -> None:
    info = classify("", body)
    assert info.fields
    assert absent not in info.fields


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("IT導入やDXの推進を支援します。", ["it_society"]),
        ("WAITやAUDITの資料はEDITして提出してください。", []),
        ("AINプログラムの報告書", []),
        ("LGBTQ+の若者の居場所づくり", ["children_youth", "human_rights_peace", "gender_equality"]),
    ],
    ids=["IT-DX", "WAIT-AUDIT-EDIT", "AIN", "LGBTQ"],
)
def test_latin_words_match_only_as_whole_words(body: str, expected: list[str]) -> None:
    assert classify("", body).fields == expected


def test_title_words_weigh_more_than_body_words() -> None:
    body = "文化財の保存に加え、子どもの体験活動にも取り組みます。"
    assert classify("子ども食堂応援助成", body).fields[0] == "children_youth"
    assert classify("文化財保存助成", body).fields[0] == "culture_arts_sports"


def test_repeated_body_words_count_less_each_time() -> None:
    repeated = "子ども食堂" + "、子ども食堂" * 9 + "。"
    # Ten mentions of one word weigh less than three different words of another field ...
    varied = classify("", repeated + "認知症カフェ、介護予防、高齢者の見守り")
    assert varied.fields[:2] == ["health_welfare", "children_youth"]
    # ... while three mentions still beat one word of another field.
    assert classify("", "子ども食堂、子ども食堂、子ども食堂。認知症カフェ").fields[0] == (
        "children_youth"
    )
    # And ten body mentions weigh less than the same words in the title.
    titled = classify("認知症カフェ・介護予防", repeated)
    assert titled.fields[0] == "health_welfare"


def test_nothing_matched() -> None:
    info = classify("2026年度助成プログラム", "詳細は募集要項をご覧ください。")
    assert info == FieldsInfo(fields=[], terms={}, evidence=None)
    assert classify("", "") == FieldsInfo(fields=[], terms={}, evidence=None)


def test_terms_list_the_matched_words_title_first() -> None:
    info = classify(
        "第5回 こども食堂応援助成", "子ども食堂や学習支援など、子どもの居場所づくりを応援します。"
    )
    assert info.terms == {
        "children_youth": ["こども食堂", "子ども食堂", "学習支援", "子ども", "居場所"]
    }


def test_evidence_is_the_title_when_the_title_names_the_field() -> None:
    info = classify("里山保全活動助成 2026", "森林の手入れを行う団体を対象とします。")
    assert info.evidence == "里山保全活動助成 2026"


def test_evidence_is_the_clause_around_the_strongest_body_word() -> None:
    body = (
        "本助成は、公募により選考します。\n"
        "対象となる活動: 耕作放棄地の再生や棚田の保全に取り組む活動。\n"
        "申請書は郵送してください。"
    )
    info = classify("2026年度 助成", body)
    assert info.fields == ["rural"]
    assert info.evidence == "対象となる活動: 耕作放棄地の再生や棚田の保全に取り組む活動。"


def test_evidence_is_cut_to_about_80_characters() -> None:
    body = "あ" * 120 + "子ども食堂" + "い" * 120
    info = classify("", body)
    assert info.evidence is not None
    assert "子ども食堂" in info.evidence
    assert len(info.evidence) <= 80


def test_input_spelling_variants_after_normalization() -> None:
    # Full-width Latin and half-width katakana become the vocabulary's forms.
    assert classify("", "ＩＣＴを活用した学習").fields[0] == "it_society"
    assert classify("", "ﾎﾞﾗﾝﾃｨｱｾﾝﾀｰの運営").fields == ["npo_support"]


# --- Source categories -------------------------------------------------------------------

CANPAN_LABELS = [
    ("保健・医療・福祉", ["health_welfare"]),
    ("社会教育", ["social_education"]),
    ("まちづくり", ["community_development"]),
    ("学術・文化・芸術・スポーツ", ["culture_arts_sports"]),
    ("環境保全", ["environment"]),
    ("災害救援", ["disaster_relief"]),
    ("地域安全", ["community_safety"]),
    ("人権・平和", ["human_rights_peace"]),
    ("国際協力・交流", ["international"]),
    ("男女共同参画", ["gender_equality"]),
    ("子どもの健全育成", ["children_youth"]),
    ("情報化社会", ["it_society"]),
    ("科学技術", ["science_tech"]),
    ("経済活動", ["economy"]),
    ("職業能力開発・雇用拡充", ["employment"]),
    ("消費者保護", ["consumer_protection"]),
    ("NPO支援", ["npo_support"]),
    ("観光", ["tourism"]),
    ("農山漁村・中山間地", ["rural"]),
    ("その他", []),
]

OTHER_LABELS = [
    # centre portals
    ("こども・子育て", ["children_youth"]),
    ("青少年", ["children_youth"]),
    ("福祉", ["health_welfare"]),
    ("保健・医療", ["health_welfare"]),
    ("観光・文化・芸術", ["culture_arts_sports", "tourism"]),
    ("国際協力交流", ["international"]),
    ("市民活動支援", ["npo_support"]),
    ("IT 情報化", ["it_society"]),
    ("経済活動の活性化", ["economy"]),
    ("災害救助・救援", ["disaster_relief"]),
    ("災害復興・支援", ["disaster_relief"]),
    ("雇用・労働", ["employment"]),
    ("科学技術・学術", ["science_tech"]),
    ("市民活動全般", []),
    # jGrants use_purpose
    ("新たな事業を行いたい", ["economy"]),
    ("販路拡大・海外展開をしたい", ["economy"]),
    ("雇用・職場環境を改善したい", ["employment"]),
    ("人材育成を行いたい", ["employment"]),
    ("研究開発・実証事業を行いたい", ["science_tech", "economy"]),
    ("エコ・SDGs活動支援がほしい", ["environment"]),
    ("災害（自然災害、感染症等）支援がほしい", ["disaster_relief"]),
    ("教育・子育て・少子化支援がほしい", ["children_youth", "social_education"]),
    ("スポーツ・文化支援がほしい", ["culture_arts_sports"]),
    ("安全・防災対策支援がほしい", ["community_safety", "disaster_relief"]),
    ("まちづくり・地域振興支援がほしい", ["community_development"]),
    ("観光振興", ["tourism"]),
    # the law's own names, prefectural lists, spelling variants
    ("保健、医療又は福祉の増進", ["health_welfare"]),
    ("都道府県又は指定都市の条例で定める活動", ["ordinance"]),
    ("環境の保全", ["environment"]),
    ("ＮＰＯ支援", ["npo_support"]),
    (" 環境保全 ", ["environment"]),
    # unknown labels fall back to the vocabulary
    ("子育て支援事業", ["children_youth"]),
    ("高齢者福祉・介護", ["health_welfare"]),
    ("事業プロジェクト", []),
    ("調査・研究", []),  # CANPAN's kind of project, not a field
]


@pytest.mark.parametrize(
    ("label", "expected"),
    CANPAN_LABELS + OTHER_LABELS,
    ids=[f"{i}-{'+'.join(c[1]) or 'none'}" for i, c in enumerate(CANPAN_LABELS + OTHER_LABELS)],
)
def test_map_source_category(label: str, expected: list[str]) -> None:
    assert map_source_category(label) == expected


@pytest.mark.parametrize("slug", FIELD_SLUGS)
def test_every_official_and_short_name_maps_to_its_slug(slug: str) -> None:
    assert map_source_category(FIELDS[slug]) == [slug]
    assert map_source_category(FIELD_SHORT_LABELS[slug]) == [slug]


def test_a_source_label_alone_decides_the_field() -> None:
    info = classify("2026年度助成プログラム", "詳細は募集要項をご覧ください。", ("環境保全",))
    assert info.fields == ["environment"]
    assert info.terms == {"environment": ["環境保全"]}
    assert info.evidence == "環境保全"


def test_a_source_label_outweighs_a_passing_mention() -> None:
    info = classify(
        "2026年度 助成", "地域の子どもたちの体験の場をつくる活動を支援します。", ("環境保全",)
    )
    assert info.fields[0] == "environment"


def test_several_labels_keep_the_text_order_of_strength() -> None:
    info = classify(
        "小児がん患者と家族の支援",
        "病気の子どもとその家族の療養環境を整える活動を助成します。",
        ("こども・子育て", "保健・医療"),
    )
    assert info.fields == ["health_welfare", "children_youth"]
    assert "保健・医療" in info.terms["health_welfare"]


def test_other_label_adds_nothing() -> None:
    with_other = classify("", "里山の保全活動を助成します。", ("その他",))
    without = classify("", "里山の保全活動を助成します。")
    assert with_other == without


# --- Real pages (test data only; skipped where the folder is absent) ---------------------


_page_text = real_page_text


def _between(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def test_real_canpan_detail() -> None:
    text = _page_text("canpan-grant-detail.html")
    body = _between(text, "【公募内容】", "応募方法")
    title = "2026年度 移民・難民支援基金(第8回)"
    info = classify_fields(title, body, ["その他"])
    assert info.fields[:2] == ["international", "human_rights_peace"]


def test_real_shimisen_detail() -> None:
    text = _page_text("shimisen-subsidy-detail.html")
    body = _between(text, "概要・趣旨", "過去の助成実績")
    info = classify_fields("洲崎福祉財団「一般助成」-2026年度", body, ["福祉"])
    assert info.fields == ["health_welfare"]
    assert "障害者" in info.terms["health_welfare"]


def test_real_wam_detail() -> None:
    text = _page_text("wam-josei-r8-detail.html")
    body = _between(text, "助成の目的", "助成対象となる事業実施期間")
    info = classify_fields("令和8年度WAM助成(通常助成事業)募集のお知らせ", body)
    assert info.fields[0] == "health_welfare"
