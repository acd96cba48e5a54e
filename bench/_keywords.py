"""Keywords people type into the search, by length: what the search benchmarks ask for.

1- and 2-character words go through the character/pair index, 3+ through trigrams (see the
README's search section), so each benchmark reports them apart.
"""

ONE_CHAR = ["子", "食", "森", "海", "会", "祭", "農", "犬"]
TWO_CHARS = ["福祉", "環境", "防災", "子育", "高齢", "教室", "清掃", "地域", "商店", "就労"]
THREE_PLUS = [
    "子ども食堂",
    "まちづくり",
    "ボランティア",
    "障害者",
    "地域福祉",
    "日本語教室",
    "伝統芸能",
    "コドモ食堂",
    "さくら財団",
    "防犯パトロール",
    "NPOの基盤",
    "多文化共生",
]

# What the load test's users type (bench/load/locustfile.py): the above and a few more.
LOAD_ONE = [*ONE_CHAR, "障", "災"]
LOAD_TWO = [*TWO_CHARS, "文化"]
LOAD_THREE = [*THREE_PLUS, "学習支援", "見守り"]
