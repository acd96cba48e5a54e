"""Grant amounts: the per-grant cap, the whole program budget and the subsidy rate.

Input is text that already went through `normalize_text` (NFKC, "~" for ranges, ":" for
"："). Amounts are found with one regex anchored on "円" (run on the reversed text); each one
is classified by the nearest keyword before it (上限 / 総額 / 参加費 …) and the words right
after it (以内 / 以上 …), so that only caps and budgets are reported and unrelated yen
figures are not. Several caps (tiers, ranges) give the highest; several budgets the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from kanjize import kanji2number


@dataclass(frozen=True)
class AmountInfo:
    """What a call says about money, each value with the snippet it was read from."""

    max_amount_yen: int | None  # per-grant cap
    max_evidence: str | None
    total_budget_yen: int | None  # whole program budget
    total_evidence: str | None
    subsidy_rate: str | None  # rate kept as text: "事業費総額の75%以内", "2/3以内"
    rate_evidence: str | None


_EMPTY = AmountInfo(None, None, None, None, None, None)

# ---------------------------------------------------------------------------------------------
# One amount expression
# ---------------------------------------------------------------------------------------------

_KANJI_DIGITS = "〇一二三四五六七八九十百千"
_NUM_BODY = "0-9,." + _KANJI_DIGITS.replace("千", "")
_NUM_START = "0-9" + _KANJI_DIGITS
_NOT_AFTER_YEN = frozenset("滑卓形満熟柱環陣周高安")
_NUMBER_REV = rf"(?:[千万億] ?|[{_NUM_BODY}])*[{_NUM_START}](?![数何])"
# Amounts are matched on the REVERSED text: the pattern then starts with the literal 円, which
# sre finds with a fast literal search, instead of trying a number at every position.
# Forward it reads: [約] [<lower>[円] ~|から] <number> 円, where a space may sit before a
# unit ("5,000 万円", "800,000 円"), and 数十万円 / 何万円 are no amounts.
_AMOUNT_REV = re.compile(
    r"円 ?"
    rf"(?P<num>{_NUMBER_REV})"
    rf"(?: *(?:~|らか) *円? ?(?P<lo>{_NUMBER_REV}))?"
    r"(?:約|そよお|ね概|ねむおお)?"
)
# Arabic digits with 億 / 万 / 千 units: "1億2000万", "1.5億", "3000千", "1万5000".
_ARABIC = re.compile(
    r"(?:([0-9]+(?:\.[0-9]+)?)億)?(?:([0-9]+(?:\.[0-9]+)?)万)?(?:([0-9]+(?:\.[0-9]+)?)(千)?)?"
)


def _iter_amounts(text: str, rev: str) -> list[tuple[str, int, int, bool]]:
    """Every "<number>円" in text, in order, as (number part, start, end, is_range).

    The start is that of the whole expression (lower end of a range, 約). `rev` is text[::-1].
    """
    n = len(text)
    found = []
    for m in _AMOUNT_REV.finditer(rev):
        r_start, r_end = m.span()
        # 円滑 / 円卓 / 円高 are no yen (a look-behind in the pattern would cost 3x)
        if r_start and text[n - r_start] in _NOT_AFTER_YEN:
            continue
        num = m.group("num")[::-1]
        found.append(
            (
                num.replace(" ", "") if " " in num else num,
                n - r_end,
                n - r_start,
                m.group("lo") is not None,
            )
        )
    found.reverse()
    return found


@lru_cache(maxsize=4096)
def _number_to_yen(num: str) -> int | None:
    """The number part of an amount ("1,500万", "百二十万", "3,000千") as yen."""
    s = num.replace(",", "").rstrip(".")
    if not s:
        return None
    if s.isdigit():
        return int(s)
    m = _ARABIC.fullmatch(s)
    if m and any(m.groups()):
        oku, man, rest, sen = m.groups()
        # round(): 1.5億 and 0.3万 are exact in yen, float error is far below one yen.
        total = float(oku or 0) * 100_000_000 + float(man or 0) * 10_000
        total += float(rest or 0) * (1000 if sen else 1)
        return round(total)
    try:
        value = kanji2number(s)
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return int(value) if value is not None else None


def parse_yen(text: str) -> int | None:
    """One amount expression → yen: "30万円", "3,000千円", "百二十万円", "約6億円", "1.5億円"."""
    if not text:
        return None
    text = text.strip()
    if not text.endswith("円"):
        # "30万" or "500,000" with the 円 left off: read it as if it were there.
        text += "円"
    for num, _start, _end, _is_range in _iter_amounts(text, text[::-1]):
        return _number_to_yen(num)
    return None


# ---------------------------------------------------------------------------------------------
# Classification of each amount found in a text
# ---------------------------------------------------------------------------------------------

_CAP, _CTX, _TOTAL, _NEG, _MIN = "cap", "ctx", "total", "neg", "min"

# Keyword → what an amount after it is. The keyword nearest the amount decides; of two
# ending at the same place the longer wins (助成金総額 over 総額, 事業費総額 over 総額).
_KEYWORDS: dict[str, str] = {
    # per-grant cap
    "上限": _CAP,
    "上限額": _CAP,
    "上限金額": _CAP,
    "最大": _CAP,
    "最高": _CAP,
    "限度": _CAP,
    "限度額": _CAP,
    "各団体": _CAP,
    # amount context: an unqualified amount after these is the cap
    "助成金額": _CTX,
    "助成額": _CTX,
    "助成金": _CTX,
    "補助金額": _CTX,
    "補助額": _CTX,
    "補助金": _CTX,
    "支援金額": _CTX,
    "支援額": _CTX,
    "支援金": _CTX,
    "交付額": _CTX,
    "交付金": _CTX,
    "奨励金": _CTX,
    "給付額": _CTX,
    "助成内容": _CTX,
    "金額": _CTX,
    # whole program budget
    "総額": _TOTAL,
    "助成総額": _TOTAL,
    "助成金総額": _TOTAL,
    "補助金総額": _TOTAL,
    "予算総額": _TOTAL,
    "総予算": _TOTAL,
    "予算額": _TOTAL,
    "予算": _TOTAL,
    "募集総額": _TOTAL,
    "助成予定総額": _TOTAL,
    "助成予定額": _TOTAL,
    # minimum: never the cap
    "下限": _MIN,
    "最低": _MIN,
    "最少": _MIN,
    "最小": _MIN,
    # unrelated yen figures
    "参加費": _NEG,
    "参加料": _NEG,
    "受講料": _NEG,
    "受講費": _NEG,
    "会費": _NEG,
    "年会費": _NEG,
    "入会金": _NEG,
    "登録料": _NEG,
    "手数料": _NEG,
    "利用料": _NEG,
    "使用料": _NEG,
    "入場料": _NEG,
    "事業費総額": _NEG,
    "総事業費": _NEG,
    "事業総額": _NEG,
    "自己負担": _NEG,
    "自己資金": _NEG,
    "負担金": _NEG,
    "実績": _NEG,
    "昨年度": _NEG,
    "前年度": _NEG,
    "累計": _NEG,
    "これまで": _NEG,
    "年間予算": _NEG,
    "年間収入": _NEG,
    "年間収益": _NEG,
    "収入": _NEG,
    "収益": _NEG,
    "決算": _NEG,
    "売上": _NEG,
    "資産": _NEG,
    "単価": _NEG,
    "見積": _NEG,
    "寄付": _NEG,
    "寄附": _NEG,
    "交通費": _NEG,
    "旅費": _NEG,
    "送料": _NEG,
    "消費税": _NEG,
}
# "1件あたり", "1団体につき", "1か所当たり": a per-grant cap. Spelled out as words so that
# the whole keyword table is one trie (a regex group in front of it costs ~10x, measured).
_KEYWORDS.update(
    {
        f"{one}{unit}{per}": _CAP
        for one in "1一"
        for unit in (
            "件",
            "団体",
            "グループ",
            "事業",
            "プロジェクト",
            "申請",
            "法人",
            "施設",
            "校",
            "か所",
            "カ所",
            "ヶ所",
            "ケ所",
            "箇所",
        )
        for per in ("", "あたり", "当たり", "当り", "につき", "のあたり", "の当たり")
    }
)


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex matching any of `words`, longest first, built as a trie.

    For the ~200 keywords here a trie searches short windows ~3x faster than a flat
    alternation (measured); sre has no literal-set optimisation of its own.
    """
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


# Searched on the reversed text from an amount backwards: the first hit is the keyword nearest
# the amount, found with one call instead of listing every keyword in the window.
_KEYWORD_REV = re.compile(_trie_pattern(word[::-1] for word in _KEYWORDS))
# What comes right after an amount: a cap ("以内", "まで", "/1件") or a threshold or unit
# that makes the figure no cap at all ("以上", "未満", "千円単位").
_SUFFIX_RE = re.compile(
    r"\s*(?:\((?:税込|税抜|税別)[^)]{0,6}\)\s*)?(?:"
    r"(?P<cap>以内|まで|迄|を上限|を限度|上限|以下|を超えない|/\s*1?(?:件|団体|事業|か所))"
    r"|(?P<ign>以上|未満|超|を超え|単位|切り?捨)"
    r")"
)
# A rate expression right after a NEG word (事業費総額の75%) means the word qualifies the
# rate, not the yen amount that follows.
_RATE_HINT = re.compile(r"%|[0-9]/[0-9]|分の")

# A block of last year's figures (CANPAN's 昨年度実績 repeats 助成金総額 under it): 実績
# with one of these words just before it.
_PAST_WORDS = ("昨年度", "前年度", "前回", "過去", "助成", "採択")
_PAST_WINDOW = 100


def _under_past_figures(text: str, start: int) -> bool:
    """Whether text[:start] ends in a block of last year's figures (昨年度実績 …)."""
    j = text.rfind("実績", max(0, start - _PAST_WINDOW), start)
    if j == -1:
        return False
    before = text[max(0, j - 5) : j]
    return any(word in before for word in _PAST_WORDS)


_WINDOW = 50  # how far back (chars) a keyword may qualify an amount
_CHAIN_GAP = 40  # tiers "A 上限600万円 / B 200万円": an unqualified figure after a cap

_MIN_CAP_YEN = 1_000  # "県内一円" is not a one-yen grant
_MIN_TOTAL_YEN = 10_000
_MAX_YEN = 100_000_000_000


def _nearest_keyword(text: str, rev: str, lo: int, start: int) -> str | None:
    """Category of the keyword in text[lo:start] nearest its end.

    A NEG word that qualifies a rate ("事業費総額の2/3以内かつ30万円") is passed over: it
    is about the rate, not the amount.
    """
    n = len(text)
    pos, endpos = n - start, n - lo
    while True:
        m = _KEYWORD_REV.search(rev, pos, endpos)
        if m is None:
            return None
        category = _KEYWORDS[m.group()[::-1]]
        if category is _NEG and _RATE_HINT.search(text, n - m.start(), start):
            pos = m.end()
            continue
        return category


_CAP_KEYWORD_REV = re.compile(
    _trie_pattern(word[::-1] for word, cat in _KEYWORDS.items() if cat in (_CAP, _CTX))
)


def _has_cap_keyword(rev: str, pos: int, endpos: int) -> bool:
    """Whether a cap or amount-context word sits in rev[pos:endpos] (a heading over a list)."""
    return _CAP_KEYWORD_REV.search(rev, pos, endpos) is not None


# ---------------------------------------------------------------------------------------------
# Rates
# ---------------------------------------------------------------------------------------------

# 75% / 2/3 / 2分の1 with an optional 最大 / 上限 before and 以内 … and "(千円未満切捨)" after.
_RATE_RE = re.compile(
    r"(?P<q>最大|上限|最高)?\s*"
    r"(?P<v>[0-9]{1,3}(?:\.[0-9]+)?\s*%|(?P<n>[0-9]{1,2})\s*/\s*(?P<d>[0-9]{1,2})(?![0-9/])"
    r"|[0-9一二三四五六七八九十]{1,2}分の[0-9一二三四五六七八九]{1,2})"
    r"(?P<s>以内|以下|まで|を上限|を限度|相当)?"
    r"(?P<p>\([^()\n]{1,15}\))?"
)
# What stands right before a rate, matched on the reversed text (an end-anchored forward
# search would try every start): its base "事業費総額の", "補助対象経費の", "算定額の", or a
# rate word "補助率:", "助成割合は".
_RATE_BASE_REV = re.compile(r"\s*の(?:額|費|用費|費経)[^\s、。,:()「」【】\[\]はがを]{0,12}")
_RATE_KEYWORD_REV = re.compile(r"\s*(?:は|:)?\s*(?:率|合割)(?:助補|成助|担負|付交)")


_RATE_DIGITS = frozenset("0123456789.一二三四五六七八九十")


def _rate_candidates(text: str) -> list[int]:
    """Start positions of what may be a rate: the digits before each %, n/d and 分の."""
    starts: list[int] = []
    n = len(text)
    for anchor in ("%", "/", "分の"):
        i = text.find(anchor)
        while i != -1:
            if anchor != "/" or (0 < i < n - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()):
                j = i
                while j > 0 and (text[j - 1] in _RATE_DIGITS or text[j - 1] == " "):
                    j -= 1
                while j < i and text[j] == " ":
                    j += 1
                if j < i:
                    if text[j - 2 : j] in ("最大", "上限", "最高"):
                        j -= 2
                    starts.append(j)
            i = text.find(anchor, i + 1)
    starts.sort()
    return starts


def _find_rate(text: str) -> tuple[str, int, int] | None:
    """The first subsidy rate in `text` as (rate text, start, end)."""
    for pos in _rate_candidates(text):
        m = _RATE_RE.match(text, pos)
        if m is None:
            continue
        n, d = m.group("n"), m.group("d")
        if n is not None and not (0 < int(n) < int(d) <= 10):
            continue  # 8/13 is a date, not a fraction
        before = text[max(0, m.start() - 16) : m.start()][::-1]
        base = _RATE_BASE_REV.match(before)
        keyword = _RATE_KEYWORD_REV.match(before)
        suffix = m.group("s")
        if not (base or keyword or m.group("q") or suffix in ("以内", "以下", "を上限", "を限度")):
            continue
        if n is not None and not (base or keyword or suffix in ("以内", "以下")):
            continue  # "1/10まで" is a date
        if "%" in m.group("v") and not (base or keyword) and suffix is None:
            continue  # "最大50%オフ", "出席率80%" …
        start = m.start() - len(base.group(0)) if base else m.start()
        rate = text[start : m.end()].strip()
        return rate, start, m.end()
    return None


# ---------------------------------------------------------------------------------------------
# Evidence
# ---------------------------------------------------------------------------------------------

_LABEL_ONLY = " ・:●○■□◆◇-*※約\t"


def _clause(text: str, start: int, end: int, limit: int = 80) -> str:
    """The clause around text[start:end], trimmed at line breaks and 。 to about `limit` chars.

    When the value sits alone on its line under a label ("上限額:\\n800,000円"), the label
    line is included.
    """
    lo = max(0, end - limit)
    cut = max(text.rfind("\n", lo, start), text.rfind("。", lo, start))
    if cut != -1:
        lo = cut + 1
    hi = max(end, lo + limit)
    for stop in ("\n", "。"):
        i = text.find(stop, end, hi)
        if i != -1:
            hi = i
    if lo > 1 and text[lo - 1] == "\n" and not text[lo:start].strip(_LABEL_ONLY):
        label = text[text.rfind("\n", 0, lo - 1) + 1 : lo - 1].strip()
        if label and "円" not in label and (len(label) <= 20 or label.endswith(":")):
            return (label[-30:] + " " + text[lo:hi].strip())[:limit]
    return text[lo:hi].strip()


# ---------------------------------------------------------------------------------------------
# Whole text
# ---------------------------------------------------------------------------------------------


def parse_amounts(text: str, *, title: str = "") -> AmountInfo:
    """Per-grant cap, program budget and rate from a normalized call text (and its title)."""
    if title and title not in text:
        text = f"{title}\n{text}"
    has_yen = "円" in text
    has_rate = "%" in text or "/" in text or "分の" in text
    if not (has_yen or has_rate):
        return _EMPTY

    best_cap: tuple[int, int, int] | None = None  # (yen, start, end)
    first_total: tuple[int, int, int] | None = None
    if has_yen:
        n = len(text)
        rev = text[::-1]
        has_past = "実績" in text
        prev_end = 0
        chain = False  # the previous figure was a cap, or sat under a cap heading
        for num, start, end, is_range in _iter_amounts(text, rev):
            value = _number_to_yen(num)
            if value is None or value < _MIN_CAP_YEN:
                prev_end, chain = end, False  # 参加費500円, 千円未満: never a cap or budget
                continue
            lo = start - _WINDOW
            if lo < prev_end:
                lo = prev_end
            dot = text.rfind("。", lo, start)
            if dot != -1:
                lo = dot + 1
            line_lo = text.rfind("\n", lo, start) + 1  # keywords on the same line
            if line_lo < lo:
                line_lo = lo
            suffix = _SUFFIX_RE.match(text, end)
            suffix_kind = suffix.lastgroup if suffix else None

            if suffix_kind == "ign":
                category = None  # 100万円以上 / 千円未満 / 千円単位: a threshold, not a cap
            else:
                category = _nearest_keyword(text, rev, line_lo, start)
                if category is None:
                    if suffix_kind == "cap" or is_range:
                        category = _CAP
                    elif line_lo > lo:
                        category = _nearest_keyword(text, rev, lo, line_lo)
                    if category is None and chain and lo == prev_end and start - lo <= _CHAIN_GAP:
                        category = _CAP  # the next tier of a list of caps
                if category is _CTX:
                    category = _CAP
            chain = category is _CAP or (
                category in (None, _MIN) and _has_cap_keyword(rev, n - start, n - lo)
            )
            prev_end = end
            if category is not _CAP and category is not _TOTAL:
                continue
            if has_past and _under_past_figures(text, start):
                continue  # 昨年度実績: last year's figures, not this call's
            if category is _CAP:
                if value <= _MAX_YEN and (best_cap is None or value > best_cap[0]):
                    best_cap = (value, start, end)
            elif first_total is None and _MIN_TOTAL_YEN <= value <= _MAX_YEN:
                first_total = (value, start, end)

    rate = _find_rate(text) if has_rate else None
    return AmountInfo(
        max_amount_yen=best_cap[0] if best_cap else None,
        max_evidence=_clause(text, best_cap[1], best_cap[2]) if best_cap else None,
        total_budget_yen=first_total[0] if first_total else None,
        total_evidence=_clause(text, first_total[1], first_total[2]) if first_total else None,
        subsidy_rate=rate[0] if rate else None,
        rate_evidence=_clause(text, rate[1], rate[2]) if rate else None,
    )
