"""A call's activity fields (the NPO law's 20, `aggregator.fields`) from its title, text, labels."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from aggregator.fields import FIELD_SHORT_LABELS, FIELD_SLUGS, FIELDS
from aggregator.normalize.text import clause_snippet

# Curated vocabulary: slug -> {term: weight}. Weights: 3 = a word that names the field by itself
# (難病, 里山), 2 = clear but broader (子育て, 高齢者), 1 = generic (福祉, 文化), below 1 = a
# weak hint (研究); 子ども食堂 weighs 4, the most specific word of the city's second field.
# A word may sit under several fields (DV, 難民, 農福連携). Words under "" count for nothing:
# they swallow a longer word whose generic part must not count (職場環境 is not 環境保全,
# 消費税 is not 消費者保護, 社会福祉法人 and 環境省 name organizations).
# Each word must keep at least one character after a rare one for the pattern below (see
# `_anchors`); import fails loudly when a new word cannot be placed.
# fmt: off
_VOCABULARY: dict[str, dict[str, float]] = {
    "health_welfare": {
        "福祉": 1.5, "地域福祉": 2, "障害福祉": 3, "障がい福祉": 3, "高齢者福祉": 3, "児童福祉": 2,
        "福祉車両": 3, "福祉向上": 2, "高齢者": 2.5, "お年寄り": 2.5, "シニア": 1, "介護": 2.5,
        "介護予防": 3, "介助": 2, "認知症": 3, "障害": 2, "障がい": 2, "障碍": 2, "障害者": 2.5,
        "障がい者": 2.5, "障害児": 2.5, "障がい児": 2.5, "視覚障害": 3, "聴覚障害": 3,
        "発達障害": 3, "知的障害": 3, "精神障害": 3, "身体障害": 3, "重症心身障害": 3,
        "医療的ケア": 3, "医療": 2, "保健": 2, "健康": 1.5, "健康づくり": 2.5, "看護": 2.5,
        "訪問看護": 3, "病院": 1.5, "患者": 2, "難病": 3, "小児がん": 3, "がん患者": 3,
        "がん検診": 3, "病気": 1.5, "疾患": 2, "療養環境": 2, "リハビリ": 2.5, "ホスピス": 3,
        "緩和ケア": 3, "在宅": 1.5, "在宅医療": 3, "グループホーム": 2.5, "作業所": 2, "手話": 2.5,
        "点字": 2.5, "バリアフリー": 2, "生活困窮": 3, "生活困窮者": 3, "経済的困窮": 2.5,
        "貧困": 2, "ホームレス": 2.5, "孤立": 1.5, "孤独": 1.5, "ひきこもり": 1.5,
        "引きこもり": 1.5, "自殺": 2.5, "自死": 2.5, "メンタルヘルス": 2.5, "心のケア": 2,
        "依存症": 2.5, "ケアラー": 2, "ヤングケアラー": 2, "配食": 2.5, "フードバンク": 2,
        "フードパントリー": 2, "フードドライブ": 1.5, "食支援": 1.5, "相談支援": 1.5,
        "地域包括ケア": 3, "地域共生社会": 2, "成年後見": 2, "妊娠": 1, "出産": 1, "妊産婦": 2,
        "傾聴": 1.5, "サロン": 1, "食の安全": 1, "食育": 1, "農福連携": 2, "就労継続支援": 2,
        "障害者雇用": 2, "障害者スポーツ": 2, "救命": 1, "ひとり親": 1.5, "母子": 1, "見守り": 1,
    },
    "children_youth": {
        "子ども食堂": 4, "こども食堂": 4, "子供食堂": 4, "子ども": 1.5, "こども": 1.5, "子供": 1.5,
        "児童": 2, "児童館": 3, "児童養護": 3, "児童虐待": 3, "児童福祉": 2, "青少年": 3,
        "少年": 2, "若者": 2, "中高生": 2, "小学生": 1.5, "中学生": 1.5, "高校生": 1.5,
        "乳幼児": 2.5, "幼児": 2, "未就学": 2, "子育て": 2.5, "子育て支援": 3, "育児": 2,
        "親子": 2, "居場所": 2, "学習支援": 2.5, "不登校": 3, "学童": 2.5, "放課後": 2, "保育": 2,
        "健全育成": 3, "子どもの貧困": 3, "こどもの貧困": 3, "社会的養護": 3, "里親": 3,
        "ひとり親": 2, "母子": 1.5, "少子化": 2, "ヤングケアラー": 3, "学習環境": 1, "保育所": 2,
        "子ども会": 2.5, "ボーイスカウト": 3, "ガールスカウト": 3, "体験活動": 1.5,
        "自然体験": 1.5, "職業体験": 1.5, "非行": 2, "虐待": 1.5, "読み聞かせ": 1.5, "小児がん": 2,
        "家庭教育": 1.5, "食育": 1.5, "妊娠": 1, "出産": 1, "プレーパーク": 3, "冒険遊び場": 3,
        "部活動": 1, "夜間中学": 1.5, "障害児": 1.5, "障がい児": 1.5,
    },
    "disaster_relief": {
        "防災": 2.5, "減災": 2.5, "防災・減災": 3, "被災地": 3, "被災者": 3, "被災": 2.5,
        "災害": 2, "災害時": 2.5, "災害支援": 3, "災害救援": 3, "災害ボランティア": 3,
        "自然災害": 3, "復興": 2.5, "復旧": 2, "震災": 3, "大震災": 3, "地震": 2, "豪雨": 2.5,
        "水害": 2.5, "台風": 2, "津波": 2.5, "避難所": 2.5, "避難": 1.5, "仮設住宅": 3,
        "義援金": 2, "救援": 2, "緊急支援": 2, "人道支援": 1, "備蓄": 1.5, "自主防災": 2.5,
        "防災まちづくり": 3, "能登半島": 2.5, "消防": 1, "原発事故": 2,
    },
    "environment": {
        "環境": 1, "環境保全": 3, "環境保護": 3, "自然保護": 3, "自然環境": 3, "地球環境": 3,
        "環境教育": 3, "環境活動": 3, "環境問題": 3, "森林": 2.5, "森づくり": 3, "植樹": 2.5,
        "植林": 2.5, "里山": 3, "里海": 3, "生物多様性": 3, "生態系": 2.5, "脱炭素": 3,
        "温暖化": 3, "地球温暖化": 3, "気候変動": 3, "再生可能エネルギー": 3, "省エネ": 2,
        "エネルギー": 1, "リサイクル": 2.5, "リユース": 2, "ごみ拾い": 2.5, "ごみ減量": 2.5,
        "ごみ削減": 2.5, "ゴミ": 2, "清掃": 2, "美化": 2, "河川": 2, "海岸": 2, "海洋": 2,
        "海洋ごみ": 3, "プラスチック": 2, "水環境": 3, "野生生物": 3, "野生動物": 3, "動物愛護": 2,
        "外来種": 3, "希少種": 3, "絶滅危惧": 3, "緑化": 2.5, "ビオトープ": 3, "干潟": 3,
        "湿地": 2.5, "野鳥": 2.5, "水辺": 2, "自然": 1, "自然体験": 1.5, "食品ロス": 2.5,
        "エシカル消費": 1, "SDGs": 1, "エコ": 1.5, "ナショナル・トラスト": 3,
        "ナショナルトラスト": 3, "エコツーリズム": 2, "有害鳥獣": 1, "地産地消": 1, "花壇": 1,
        "アウトドア": 1,
    },
    "international": {
        "国際協力": 3, "国際交流": 3, "国際": 1.5, "国際理解": 3, "多文化共生": 3, "多文化": 2.5,
        "外国人": 2.5, "外国籍": 2.5, "外国にルーツ": 3, "在住外国人": 3, "外国人住民": 3,
        "難民": 3, "移民": 3, "技能実習生": 3, "留学生": 2.5, "日本語教室": 3, "日本語教育": 3,
        "日本語学習": 3, "多言語": 2.5, "通訳": 1.5, "開発途上国": 3, "途上国": 3, "発展途上国": 3,
        "NGO": 2, "海外": 1.5, "姉妹都市": 2.5, "人道支援": 2.5, "アジア": 1.5, "アフリカ": 2,
        "フェアトレード": 2, "インバウンド": 1, "国際文化交流": 3, "文化交流": 1,
    },
    "culture_arts_sports": {
        "文化": 1.5, "芸術": 2.5, "文化芸術": 3, "芸術文化": 3, "芸術活動": 3, "地域文化": 3,
        "アート": 2, "スポーツ": 3, "スポーツ振興": 3, "音楽": 2.5, "演劇": 3, "美術": 2.5,
        "伝統芸能": 3, "伝統文化": 3, "伝統工芸": 3, "文化財": 3, "郷土芸能": 3, "歴史": 1.5,
        "郷土": 1.5, "祭り": 2, "舞踊": 2.5, "ダンス": 2, "演奏": 2.5, "映画": 2, "文学": 2.5,
        "学術": 2, "学術研究": 2, "障害者スポーツ": 3, "パラスポーツ": 3, "博物館": 2,
        "美術館": 2.5, "鑑賞": 2, "展覧会": 2, "創作": 1.5, "表現活動": 2, "文化交流": 2,
        "国際文化交流": 2, "部活動": 1,
    },
    "community_development": {
        "まちづくり": 3, "町づくり": 3, "街づくり": 3, "地域づくり": 3, "地域活性化": 2.5,
        "地域振興": 2.5, "地域おこし": 3, "地域おこし協力隊": 2, "商店街": 2.5, "空き家": 3,
        "空き店舗": 2.5, "地域コミュニティ": 3, "コミュニティ": 1.5, "自治会": 2.5, "町内会": 2.5,
        "地域住民": 1.5, "住民": 1, "地域課題": 1.5, "景観": 2.5, "移住": 2, "公共交通": 2,
        "地域交通": 2.5, "住環境": 2, "多世代交流": 2, "交流拠点": 2, "コミュニティビジネス": 1.5,
        "関係人口": 1.5, "交流人口": 1, "ユニバーサルデザイン": 1.5, "地域共生社会": 1,
        "地域福祉": 1, "まち歩き": 1, "街歩き": 1, "美化": 1, "花壇": 1, "祭り": 1,
        "防災まちづくり": 3,
    },
    "community_safety": {
        "防犯": 3, "交通安全": 3, "地域安全": 3, "見守り": 2.5, "防犯パトロール": 3,
        "パトロール": 2, "犯罪": 2, "再犯防止": 3, "更生保護": 3, "非行": 2, "特殊詐欺": 2.5,
        "詐欺": 1, "通学路": 2.5, "防火": 2.5, "消防": 2, "事故防止": 2, "水難": 2.5, "救命": 1,
        "自主防災": 2, "防災": 1, "減災": 1, "犯罪被害者": 1,
    },
    "human_rights_peace": {
        "人権": 3, "平和": 3, "差別": 3, "DV": 3, "ドメスティック・バイオレンス": 3,
        "ドメスティックバイオレンス": 3, "性暴力": 3, "性被害": 3, "ハラスメント": 2, "LGBT": 3,
        "LGBTQ": 3, "性的マイノリティ": 3, "性的少数者": 3, "虐待": 2, "権利擁護": 3, "権利": 1,
        "子どもの権利": 3, "成年後見": 2, "アドボカシー": 2, "戦争": 2.5, "核兵器": 3, "被爆": 3,
        "被爆者": 3, "難民": 2, "移民": 2, "技能実習生": 1, "ヘイトスピーチ": 3, "冤罪": 3,
        "犯罪被害者": 3, "人身取引": 3, "包摂": 1, "共生社会": 1, "多文化共生": 1,
    },
    "gender_equality": {
        "男女共同参画": 3, "ジェンダー": 3, "女性": 2, "女性活躍": 3, "女性支援": 3,
        "女性の活躍": 3, "女の子": 2, "男女平等": 3, "DV": 3, "ドメスティック・バイオレンス": 3,
        "ドメスティックバイオレンス": 3, "性暴力": 2, "性被害": 2, "LGBT": 2, "LGBTQ": 2,
        "性的マイノリティ": 2, "性的少数者": 2, "ワーク・ライフ・バランス": 2,
        "ワークライフバランス": 2, "母子": 1, "ひとり親": 1, "シングルマザー": 2.5,
        "ハラスメント": 1, "性差別": 3,
    },
    "it_society": {
        "IT": 2.5, "ICT": 3, "DX": 2.5, "デジタル": 2.5, "デジタル化": 3, "情報化": 3,
        "情報化社会": 3, "インターネット": 2, "プログラミング": 2.5, "パソコン": 1, "スマホ": 2,
        "スマートフォン": 2, "デジタルデバイド": 3, "情報格差": 3, "オンライン": 0.5, "AI": 2,
        "IoT": 2, "オープンデータ": 3, "シビックテック": 3, "情報リテラシー": 3,
        "メディアリテラシー": 2.5, "ネットリテラシー": 2.5, "情報モラル": 2.5, "情報通信": 2.5,
        "ICT活用": 3,
    },
    "science_tech": {
        "科学": 2.5, "科学技術": 3, "理科": 3, "STEM": 3, "STEAM": 3, "サイエンス": 3,
        "自然科学": 3, "科学館": 3, "ロボット": 2.5, "宇宙": 2, "天文": 2.5, "実験": 1.5,
        "技術開発": 2.5, "研究開発": 2.5, "研究": 0.5, "学術研究": 1, "医学": 2,
        "プログラミング": 1.5, "AI": 1,
    },
    "economy": {
        "起業": 2.5, "創業": 2.5, "起業家": 3, "地域経済": 3, "経済": 1, "経済活動": 2.5,
        "産業": 1.5, "産業振興": 2.5, "地場産業": 3, "中小企業": 2.5, "小規模事業者": 2.5,
        "販路拡大": 2.5, "販路開拓": 2.5, "海外展開": 2.5, "商品開発": 2, "新商品": 1.5,
        "特産品": 2, "六次産業化": 2, "ソーシャルビジネス": 3, "コミュニティビジネス": 3,
        "社会的企業": 2.5, "事業承継": 2.5, "設備投資": 2, "生産性向上": 2, "商業": 2, "製造業": 2,
        "資金繰り": 2.5, "輸出": 2, "地産地消": 1.5, "商店街": 1.5, "空き店舗": 1, "地域活性化": 1,
        "人手不足": 1, "フェアトレード": 1, "研究開発": 1, "技術開発": 1,
    },
    "employment": {
        "就労": 2.5, "就労支援": 3, "雇用": 2.5, "雇用創出": 3, "職業訓練": 3, "職業能力": 3,
        "就職": 2.5, "就職支援": 3, "就業": 2.5, "職業": 1.5, "求職": 3, "求職者": 3, "再就職": 3,
        "就職氷河期": 3, "中間的就労": 3, "就労継続支援": 2, "障害者雇用": 3, "仕事づくり": 2.5,
        "職場環境": 3, "労働環境": 3, "働き方": 2, "労働": 2, "キャリア": 2, "人材育成": 1.5,
        "人材確保": 2, "人手不足": 1.5, "リスキリング": 3, "スキルアップ": 1.5, "資格取得": 1.5,
        "インターンシップ": 1.5, "就農": 1, "職業体験": 2, "農福連携": 1, "技能実習生": 1,
        "賃上げ": 2, "ワーク・ライフ・バランス": 1.5, "ワークライフバランス": 1.5,
    },
    "consumer_protection": {
        "消費者": 3, "消費者被害": 3, "消費者保護": 3, "消費者教育": 3, "消費生活": 3,
        "悪質商法": 3, "悪徳商法": 3, "詐欺": 2, "特殊詐欺": 2, "エシカル消費": 3, "食品表示": 3,
        "食の安全": 2.5, "契約トラブル": 3, "多重債務": 3, "金融教育": 2, "製品安全": 2.5,
        "消費": 0.5,
    },
    "npo_support": {
        "中間支援": 3, "NPO支援": 3, "市民活動支援": 3, "組織基盤強化": 3, "基盤強化": 2.5,
        "組織基盤": 2.5, "団体運営": 2.5, "組織運営": 2.5, "運営支援": 2, "組織強化": 2.5,
        "伴走支援": 2, "ファンドレイジング": 3, "資金調達": 2, "NPOセンター": 3,
        "ボランティアセンター": 2, "市民活動": 1, "協働": 1, "ボランティア": 1, "プロボノ": 2.5,
        "キャパシティビルディング": 3, "組織診断": 3, "事業評価": 1.5, "社会的インパクト": 2,
        "非営利組織": 0.5, "担い手育成": 1.5, "連絡、助言又は援助": 3,
    },
    "tourism": {
        "観光": 3, "観光客": 3, "観光振興": 3, "観光資源": 3, "観光地": 3, "観光ガイド": 3,
        "インバウンド": 3, "ツーリズム": 3, "エコツーリズム": 3, "グリーンツーリズム": 3,
        "旅行": 2, "ツアー": 1.5, "誘客": 3, "集客": 1, "交流人口": 2.5, "関係人口": 1,
        "宿泊": 1.5, "まち歩き": 2, "街歩き": 2, "特産品": 1,
    },
    "rural": {
        "農業": 3, "漁業": 3, "林業": 3, "農山漁村": 3, "中山間": 3, "中山間地域": 3,
        "中山間地": 3, "農村": 3, "山村": 3, "漁村": 3, "過疎": 3, "過疎地": 3, "離島": 3,
        "限界集落": 3, "集落": 2, "耕作放棄地": 3, "農地": 2.5, "農作物": 2, "農産物": 2,
        "棚田": 3, "農家": 2.5, "就農": 3, "農福連携": 3, "有害鳥獣": 3, "獣害": 3, "田んぼ": 2,
        "水田": 2, "農園": 2, "市民農園": 2, "農作業": 2, "農場": 1.5, "漁港": 3, "六次産業化": 3,
        "地域おこし協力隊": 2, "村おこし": 3, "里山": 1.5, "地産地消": 2, "移住": 1.5,
        "グリーンツーリズム": 2, "食農": 2, "森林": 1, "関係人口": 1,
    },
    "social_education": {
        "生涯学習": 3, "社会教育": 3, "読み聞かせ": 3, "公民館": 3, "図書館": 2.5, "学び": 1.5,
        "学び直し": 2.5, "学習": 1, "講座": 1.5, "市民講座": 2.5, "出前講座": 2.5, "識字": 3,
        "夜間中学": 3, "啓発": 1, "啓発活動": 1.5, "家庭教育": 3, "体験学習": 1.5, "学習会": 1.5,
        "講演会": 1.5, "市民大学": 3, "環境教育": 1.5, "消費者教育": 1, "食育": 2, "子ども会": 1,
        "ボーイスカウト": 1.5, "ガールスカウト": 1.5, "博物館": 1, "メディアリテラシー": 1,
        "金融教育": 1, "食農": 1, "人権教育": 2.5, "防災教育": 1.5, "平和教育": 2,
    },
    "ordinance": {
        "条例で定める活動": 3, "条例で定める": 2,
    },
    "": {
        "環境整備": 0, "環境づくり": 0, "家庭環境": 0, "教育環境": 0, "経済的": 0, "経済状況": 0,
        "消費税": 0, "組織文化": 0, "障害物": 0,
        # Organizations whose names contain field words.
        "社会福祉法人": 0, "社会福祉協議会": 0, "医療法人": 0, "福祉医療機構": 0,
        "国際交流基金": 0, "国際協力機構": 0, "環境省": 0, "文部科学省": 0, "厚生労働省": 0,
        "農林水産省": 0, "経済産業省": 0, "国土交通省": 0, "消費者庁": 0, "こども家庭庁": 0,
        "文化庁": 0, "観光庁": 0, "スポーツ庁": 0, "デジタル庁": 0, "復興庁": 0,
    },
}
# fmt: on

_TITLE_FACTOR = 3.0  # a word in the title says more about the call than one in the body
_CATEGORY_SCORE = 9.0  # the source's own label: as strong as a specific word in the title
_REPEAT_DECAY = 0.5  # the n-th hit of one word counts DECAY**(n-1), so n hits weigh < 2
_MAX_REPEAT = 16
_REPEAT = [sum(_REPEAT_DECAY**k for k in range(n)) for n in range(_MAX_REPEAT + 1)]
_SECONDARY_RATIO = 0.4  # other fields are kept when they score at least this share of the top
_MIN_SECONDARY = 1.5  # … and at least this much: one generic word is not a field
_MAX_FIELDS = 3

# term -> ((slug, weight), …); () for the swallowers.
_TERMS: dict[str, tuple[tuple[str, float], ...]] = {}
for _slug, _entries in _VOCABULARY.items():
    for _term, _weight in _entries.items():
        _key = unicodedata.normalize("NFKC", _term)
        _TERMS[_key] = (*_TERMS.get(_key, ()), (_slug, _weight))
_TERMS = {term: tuple(pair for pair in pairs if pair[0]) for term, pairs in _TERMS.items()}
_FIELD_ORDER = {slug: i for i, slug in enumerate(FIELD_SLUGS)}


# --- One pattern for all words ------------------------------------------------------------
# `re` has no multi-string search: a 600-word alternation, even shaped as a trie, is tried
# branch by branch at every character that starts a word (~120 µs on 1 KB). The pattern is
# built so that `re` rejects most characters cheaply:
# - each word is entered at an "anchor", a character chosen to be rare in grant texts
#   (まちづくり at づ, 生活困窮 at 困), so few characters start a match attempt; the set of
#   anchors is the pattern's first item, which `re` scans for without entering the pattern;
# - a lookahead checks the character after the anchor against one set; a dozen character-set
#   buckets (which `re` tests without entering them) then pick a small literal trie;
# - each trie leaf checks the whole word with a fixed-width lookbehind, so the matched text is
#   the word from its anchor on, which names the word (`_TERM_OF_TAIL`).
# A word that contains a shorter one is anchored no later than it, so at one position the
# trie's longer branch wins (職場環境 over 環境, 子ども食堂 over 子ども).
_FREQUENT = (  # characters frequent in grant texts, most frequent first: poor anchors
    "のにをはがでとしてたいするなかれらもまこくっうあおりきさんつどよそだめけせえみち"
    "ごわやひじほーントスイルクリシアラタドプ年成助日月募事業会金報情団活度動人対期生社"
    "援間応支体等法市象基財申合資者民実令化全施中本開請関的上域公定国行設一書制都載掲問"
    "付分用共自提理目内容以下記入件名数第回新大小各当同取組可能計画予定費類必要場係利参"
    "加催部課局所織立営管政方作出来後前現在他多様性向通0123456789()/:-"
)
_CHAR_COST = {c: 10 if rank < 50 else 6 if rank < 120 else 3 for rank, c in enumerate(_FREQUENT)}
_BUCKETS = 12

# Organization names: a word inside 洲崎福祉財団 or 子ども未来協会 names the funder, not the
# call's topic. Well-known names are swallowers above; for the rest, a word followed within one
# run of name characters by an organization suffix does not match, nor does a word right after
# a legal form (NPO法人 子ども劇場, see `_leaf`).
_NAME = r"[一-龥々〆ヵヶァ-ヴーA-Za-z0-9・]"
_ORG_TAIL = rf"(?!{_NAME}{{0,10}}?(?:財団|協会|機構|協議会|法人(?!格)|事業団(?!体)|共同募金会))"


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _anchors(terms: Sequence[str]) -> dict[str, int]:
    """Where each word's match starts: a rare character with at least one character after it.

    A word containing a shorter word starts no later than that one (so the longer wins), and no
    two words share the text from their anchor on (so the matched text alone names the word).
    """
    anchors: dict[str, int] = {}
    tails: set[str] = set()
    for term in sorted(terms, key=lambda t: (len(t), t)):
        if len(term) < 2:
            raise ValueError(f"one-character words cannot be matched reliably: {term!r}")
        last = len(term) - 2
        for shorter, at in anchors.items():
            pos = term.find(shorter)
            while pos >= 0 and len(shorter) < len(term):
                last = min(last, pos + at)
                pos = term.find(shorter, pos + 1)
        choices = [j for j in range(max(last, 0) + 1) if term[j:] not in tails]
        if not choices:
            raise ValueError(f"no anchor for {term!r}: reword it or the word it contains")

        def cost(j: int, term: str = term) -> tuple[float, int]:
            return _CHAR_COST.get(term[j], 1) + 0.3 * _CHAR_COST.get(term[j + 1], 1), j

        anchors[term] = min(choices, key=cost)
        tails.add(term[anchors[term] :])
    return anchors


def _leaf(terms: list[str]) -> str:
    """Zero-width check, at a word's end, that the whole word is there.

    Latin words must stand alone (IT, not the IT in WAIT); a word right after a legal form
    starts an organization's name (NPO法人 子ども劇場), not a topic.
    """
    by_len: dict[int, list[str]] = {}
    parts = []
    for term in sorted(terms):
        if _is_latin(term[0]) or _is_latin(term[-1]):
            part = f"(?<={re.escape(term)})"
            if _is_latin(term[0]):
                part += f"(?<![A-Za-z]{re.escape(term)})"
            if _is_latin(term[-1]):
                part += "(?![A-Za-z])"
            parts.append(part)
        else:
            by_len.setdefault(len(term), []).append(term)
    for _, same in sorted(by_len.items(), reverse=True):
        words = [re.escape(t) for t in same]
        parts.append(
            f"(?<={'|'.join(words)})"
            f"(?<!{'|'.join('法人' + w for w in words)})"
            f"(?<!{'|'.join('法人 ' + w for w in words)})"
        )
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


def _trie(node: dict) -> str:
    """node: {char: child, None: [words ending here]}; longer continuations are tried first."""
    alts = [re.escape(c) + _trie(node[c]) for c in sorted(c for c in node if c is not None)]
    if None in node:
        alts.append(_leaf(node[None]))
    return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"


def _terms_pattern(terms: Sequence[str]) -> tuple[re.Pattern[str], dict[str, str]]:
    """The pattern over all words, and matched text -> word."""
    anchors = _anchors(terms)
    by_next: dict[str, list[str]] = {}
    for term in terms:
        by_next.setdefault(term[anchors[term] + 1], []).append(term)
    # Spread the characters after the anchors over the buckets, a similar number of words each.
    buckets: list[list[str]] = [[] for _ in range(_BUCKETS)]
    sizes = [0] * _BUCKETS
    for char in sorted(by_next, key=lambda c: (-len(by_next[c]), c)):
        i = sizes.index(min(sizes))
        buckets[i].append(char)
        sizes[i] += len(by_next[char])
    alts = []
    for chars in buckets:
        if not chars:
            continue
        root: dict = {}
        for char in chars:
            for term in by_next[char]:
                node = root
                for c in term[anchors[term] + 2 :]:
                    node = node.setdefault(c, {})
                node.setdefault(None, []).append(term)
        alts.append(f"[{''.join(map(re.escape, sorted(chars)))}]{_trie(root)}")
    firsts = "".join(map(re.escape, sorted({t[anchors[t]] for t in terms})))
    nexts = "".join(map(re.escape, sorted(by_next)))
    pattern = re.compile(f"[{firsts}](?=[{nexts}])(?:{'|'.join(alts)}){_ORG_TAIL}")
    return pattern, {term[anchors[term] :]: term for term in terms}


_TERM_RE, _TERM_OF_TAIL = _terms_pattern(list(_TERMS))
_TAIL_FIELDS = {tail: _TERMS[term] for tail, term in _TERM_OF_TAIL.items()}
_TAIL_WEIGHTS = {tail: dict(_TERMS[term]) for tail, term in _TERM_OF_TAIL.items()}


@dataclass(frozen=True)
class FieldsInfo:
    """The call's activity fields, most relevant first, with the words that led there."""

    fields: list[str]  # 1–3 slugs from FIELDS, most relevant first; [] only when nothing matched
    terms: dict[str, list[str]]  # slug -> the words (and source labels) that matched
    evidence: str | None  # snippet around the strongest title/body match


def _snippet(text: str, start: int, end: int, width: int = 80) -> str:
    return clause_snippet(text, start, end, width, after_comma=True)


def _scan(text: str, factor: float, scores: dict[str, float]) -> dict[str, int]:
    """Add the weighted words of `text` to `scores`; return matched text -> count."""
    counts: dict[str, int] = {}
    get = counts.get
    for tail in _TERM_RE.findall(text):
        counts[tail] = get(tail, 0) + 1
    score, fields_of, repeats = scores.get, _TAIL_FIELDS, _REPEAT  # locals: this loop is hot
    for tail, count in counts.items():
        repeat = factor * (repeats[count] if count <= _MAX_REPEAT else 2.0)
        for slug, weight in fields_of[tail]:
            scores[slug] = score(slug, 0.0) + weight * repeat
    return counts


def _score_key(item: tuple[str, float]) -> tuple[float, int]:
    return -item[1], _FIELD_ORDER[item[0]]


def classify_fields(title: str, text: str, categories: Sequence[str] = ()) -> FieldsInfo:
    """The call's 1–3 activity fields from its (normalized) title and body and the source's labels.

    Title words count three times, repeated body words less each time, and each field the
    source names by label as much as a specific title word. The top field is kept with the
    others scoring at least 40% of it.
    """
    scores: dict[str, float] = {}
    title_hits = _scan(title, _TITLE_FACTOR, scores) if title else {}
    body_hits = _scan(text, 1.0, scores) if text else {}
    labels: dict[str, list[str]] = {}
    for label in categories:
        label = label.strip()
        for rank, slug in enumerate(_label_fields(label)):
            # A second label naming the same field adds a little, not a whole label's worth.
            bonus = _CATEGORY_SCORE if slug not in labels else _CATEGORY_SCORE * 0.25
            scores[slug] = scores.get(slug, 0.0) + bonus * (1.0 if rank == 0 else 0.8)
            labels.setdefault(slug, []).append(label)
    if not scores:
        return FieldsInfo(fields=[], terms={}, evidence=None)

    ranked = sorted(scores.items(), key=_score_key)
    floor = max(ranked[0][1] * _SECONDARY_RATIO, _MIN_SECONDARY)
    fields = [ranked[0][0]] + [slug for slug, score in ranked[1:_MAX_FIELDS] if score >= floor]
    terms: dict[str, list[str]] = {slug: [] for slug in fields}
    for tail in (*title_hits, *body_hits):
        term = _TERM_OF_TAIL[tail]
        for slug, _ in _TAIL_FIELDS[tail]:
            words = terms.get(slug)
            if words is not None and term not in words:
                words.append(term)
    for slug, names in labels.items():
        if slug in terms:
            terms[slug].extend(names)
    evidence = _evidence(fields[0], title, text, title_hits, body_hits, labels)
    return FieldsInfo(fields=fields, terms=terms, evidence=evidence)


def _evidence(
    slug: str,
    title: str,
    text: str,
    title_hits: dict[str, int],
    body_hits: dict[str, int],
    labels: dict[str, list[str]],
) -> str | None:
    """The snippet behind the top field: its strongest title word, else body word, else label."""
    for source, hits in ((title, title_hits), (text, body_hits)):
        best = ""
        best_weight = 0.0
        for tail in hits:
            weight = _TAIL_WEIGHTS[tail].get(slug, 0.0)
            if weight > best_weight:
                best, best_weight = _TERM_OF_TAIL[tail], weight
        if best:
            start = source.find(best)
            return _snippet(source, start, start + len(best))
    return labels[slug][0] if slug in labels else None


# The labels sources use for fields -> slugs. CANPAN's 対象分野, the centre portals' 分野
# (しみせん and the like), prefectural 11-field lists, jGrants' use_purpose. Keys are compared
# after NFKC with spaces removed.
_CATEGORY_MAP: dict[str, tuple[str, ...]] = {
    # CANPAN 対象分野
    "保健・医療・福祉": ("health_welfare",),
    "社会教育": ("social_education",),
    "まちづくり": ("community_development",),
    "学術・文化・芸術・スポーツ": ("culture_arts_sports",),
    "環境保全": ("environment",),
    "災害救援": ("disaster_relief",),
    "地域安全": ("community_safety",),
    "人権・平和": ("human_rights_peace",),
    "国際協力・交流": ("international",),
    "国際協力": ("international",),
    "男女共同参画": ("gender_equality",),
    "子どもの健全育成": ("children_youth",),
    "情報化社会": ("it_society",),
    "科学技術": ("science_tech",),
    "経済活動": ("economy",),
    "職業能力開発・雇用拡充": ("employment",),
    "職業能力・雇用機会": ("employment",),
    "消費者保護": ("consumer_protection",),
    "NPO支援": ("npo_support",),
    "観光": ("tourism",),
    "農山漁村・中山間地": ("rural",),
    "農山漁村・中山間地域": ("rural",),
    "その他": (),
    # Centre portals (しみせん and others)
    "こども・子育て": ("children_youth",),
    "子ども・子育て": ("children_youth",),
    "青少年": ("children_youth",),
    "福祉": ("health_welfare",),
    "保健・医療": ("health_welfare",),
    "スポーツ": ("culture_arts_sports",),
    "観光・文化・芸術": ("culture_arts_sports", "tourism"),
    "国際協力交流": ("international",),
    "市民活動支援": ("npo_support",),
    "IT情報化": ("it_society",),
    "経済活動の活性化": ("economy",),
    "災害救助・救援": ("disaster_relief",),
    "災害復興・支援": ("disaster_relief",),
    "雇用・労働": ("employment",),
    "科学技術・学術": ("science_tech",),
    "政策提言・行政監視": (),
    "市民活動全般": (),
    # Prefectural portals' 11 fields (and their spellings)
    "保健・医療又は福祉": ("health_welfare",),
    "文化・芸術・スポーツ": ("culture_arts_sports",),
    "文化・芸術又はスポーツ": ("culture_arts_sports",),
    "環境": ("environment",),
    "環境の保全": ("environment",),
    "人権擁護・平和推進": ("human_rights_peace",),
    "子ども": ("children_youth",),
    "条例で定める活動": ("ordinance",),
    "都道府県又は指定都市の条例で定める活動": ("ordinance",),
    # jGrants use_purpose
    "新たな事業を行いたい": ("economy",),
    "販路拡大・海外展開をしたい": ("economy",),
    "イベント・事業運営支援がほしい": ("community_development",),
    "事業を引き継ぎたい": ("economy",),
    "研究開発・実証事業を行いたい": ("science_tech", "economy"),
    "人材育成を行いたい": ("employment",),
    "資金繰りを改善したい": ("economy",),
    "設備整備・IT導入をしたい": ("it_society", "economy"),
    "設備整備・IT導入したい": ("it_society", "economy"),
    "雇用・職場環境を改善したい": ("employment",),
    "エコ・SDGs活動支援がほしい": ("environment",),
    "エコ・SDG'S活動支援がほしい": ("environment",),
    "災害(自然災害、感染症等)支援がほしい": ("disaster_relief",),
    "教育・子育て・少子化支援がほしい": ("children_youth", "social_education"),
    "教育・子育て・少子化への支援がほしい": ("children_youth", "social_education"),
    "スポーツ・文化支援がほしい": ("culture_arts_sports",),
    "スポーツ・文化への支援がほしい": ("culture_arts_sports",),
    "安全・防災対策支援がほしい": ("community_safety", "disaster_relief"),
    "まちづくり・地域振興支援がほしい": ("community_development",),
    "地域活性化": ("community_development",),
    "まちづくり・地域振興": ("community_development",),
    "子育て支援": ("children_youth",),
    "福祉・介護": ("health_welfare",),
    "環境・エネルギー": ("environment",),
    "防災・減災": ("disaster_relief",),
    "文化・芸術・スポーツ振興": ("culture_arts_sports",),
    "観光振興": ("tourism",),
}
for _slug, _name in FIELDS.items():
    _CATEGORY_MAP.setdefault(_name, (_slug,))
for _slug, _name in FIELD_SHORT_LABELS.items():
    _CATEGORY_MAP.setdefault(_name, (_slug,))
_CATEGORY_MAP = {
    unicodedata.normalize("NFKC", key).replace(" ", "").upper(): value
    for key, value in _CATEGORY_MAP.items()
}


@lru_cache(maxsize=1024)
def _label_fields(label: str) -> tuple[str, ...]:
    key = unicodedata.normalize("NFKC", label).replace(" ", "").strip()
    exact = _CATEGORY_MAP.get(key.upper())
    if exact is not None:
        return exact
    scores: dict[str, float] = {}
    for tail in _TERM_RE.findall(key):
        for slug, weight in _TAIL_FIELDS[tail]:
            if weight >= 1:
                scores[slug] = scores.get(slug, 0.0) + weight
    if not scores:
        return ()
    ranked = sorted(scores.items(), key=_score_key)
    return tuple(slug for slug, score in ranked[:2] if score >= ranked[0][1] * 0.5)


def map_source_category(label: str) -> list[str]:
    """One source label (CANPAN 対象分野, a portal's 分野, jGrants use_purpose) -> field slugs.

    Known labels map exactly; others by the field words they contain (子育て支援事業 →
    children_youth); labels with no field word (その他, 事業プロジェクト) map to [].
    """
    return list(_label_fields(label))
