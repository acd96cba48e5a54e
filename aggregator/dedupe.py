"""Deduplication: which listings describe the same grant call, and which calls are one programme.

One foundation call is reposted by national aggregators, prefectural and city centres and
newsletters, each in its own words. This module decides, for two normalized listings
(`GrantCall`), whether they are the same call (`compare`), keeps an incremental index
(`Matcher`) that places each new listing in an existing call (cluster) or starts a new one, and
clusters a batch (`cluster_calls`).

Rules (general; `compare` reports the ones it used):

1. Staff decisions win: `must_link` pairs are always in one cluster, `cannot_link` pairs are
   never put in one cluster by an automatic join.
2. Hard "different" rules (any one is enough):
   - round markers conflict: both titles state a fiscal year (2026年度, 令和8年度, a bare
     "2026" label), a round (第N回, 第N期), a phase (第N次募集) or a half (前期・後期, 上期・下期 …)
     and the values differ. A new round is a new call. A marker stated by one title only is
     no conflict (reposts drop them).
   - organizers conflict: both known and, after `normalize_organizer` (legal forms such as
     公益財団法人, (公財), 株式会社 dropped; short forms 赤い羽根 → 中央共同募金会, …信金 →
     …信用金庫, …社協 → …社会福祉協議会; a government department reduced to its government),
     neither is the other, nor the other plus a non-organization word (さくら生命 /
     さくら生命保険; but 千葉県 / 千葉県共同募金会 differ), nor the part after "・" (むすびえ /
     全国こども食堂支援センター・むすびえ).
   - divisions conflict: both titles name a division or track (〈高齢者部門〉, 子ども部門,
     一般助成 / 特別助成, (令和8年7月豪雨)) and none of one's is in the other's.
   - maximum amounts differ (both known; already in yen), or areas of the same level differ.
   - deadlines differ and the difference is not explained. Explained: one listing's deadline
     is the other's start date (sources and parsers mix them up), one digit differs within
     62 days (a typo), or the later listing announces an extension (延長), within 92 days.
     An explained difference still needs the same (or a named) organizer and a title
     similarity ≥ 0.8.
3. Otherwise the evidence is added up; the pair is the same call when the score reaches 1.0:
   - title: similarity (0..1) × 0.65, on core titles: tags (【助成先募集】…), legal forms,
     the organizer's names, round/year markers, punctuation and generic words (助成, 募集,
     事業, 活動, 支援, 応援, 基金, お知らせ …) removed; 子ども/子供 → こども, 障がい → 障害.
     Similarity is the larger of the character-bigram Dice coefficient and 2 × the longest
     common substring / the summed lengths (counted when that substring is the whole shorter
     title or ≥ 4 characters: shorter overlaps are common words). When only one title names
     a division and the other does not contain it, the similarity is halved (the default
     tracks 一般 / 通常 excepted). A title of generic words only ("助成金のご案内") says
     nothing and counts 0.25.
   - organizer: same +0.35; one listing has no organizer field but names the other's
     organizer (title, label line 実施団体…, "title(funder)" in its text, "funderより") +0.25;
     both only guessed and different −0.2; unknown 0.
   - deadline: equal +0.35; 1-3 days apart +0.25; explained difference +0.1; unknown 0.
   - amount: equal +0.15; unknown 0.
   So a reworded title needs the organizer, the deadline and the amount to agree, a generic
   title needs all three exactly, and two programmes of one funder with the same deadline
   and amount are kept apart unless their titles share a distinctive word.
4. Clusters are transitive but guarded against chaining: a listing joins a cluster only when
   it matches one member and has no hard conflict (rule 2; deadlines only when more than 92
   days apart) with any member. `cluster_calls` joins the best-scoring pairs first, so its
   result does not depend on the input order.

Programmes: `program_key` is the normalized organizer plus the title without tags, round and
year markers; it is the same for every year of one programme (for "例年6月頃に募集").

Blocking (what is compared at all): listings filed under the same deadline together with the
organizer (also ±3 days), the core title, or the amount; the same organizer; or a character
bigram of the core title. Blocks larger than `_BLOCK_CAP` are used only when the others give too
few candidates (then their most recent members). At most `_MAX_CANDIDATES` candidates, those
sharing the most specific blocks, are scored; candidates of another year, amount or funder are
rejected before scoring.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import chain

from aggregator.normalize.text import normalize_text
from aggregator.record import GrantCall

__all__ = [
    "MatchResult",
    "Matcher",
    "RoundMarkers",
    "cluster_calls",
    "compare",
    "normalize_organizer",
    "program_key",
    "round_markers",
]

# --- organizers ------------------------------------------------------------------------

_LEGAL_FORMS = (
    "認定特定非営利活動法人",
    "特定非営利活動法人",
    "認定NPO法人",
    "NPO法人",
    "公益財団法人",
    "一般財団法人",
    "財団法人",
    "公益社団法人",
    "一般社団法人",
    "社団法人",
    "社会福祉法人",
    "地方独立行政法人",
    "独立行政法人",
    "国立研究開発法人",
    "国立大学法人",
    "学校法人",
    "社会医療法人",
    "医療法人",
    "宗教法人",
    "更生保護法人",
    "消費生活協同組合",
    "生活協同組合",
    "株式会社",
    "有限会社",
    "合同会社",
    "合資会社",
    "合名会社",
)
_ABBREVIATIONS = (
    "公財|一財|公社|一社|社福|福|特非|認定特非|NPO|認定NPO|独|独法|地独|株|有|同|合|生協|学|医|"
    "社医|宗|財|社"
)
_LEGAL_RE = re.compile("|".join(_LEGAL_FORMS) + rf"|\((?:{_ABBREVIATIONS})\)")
# A government department: "千葉県県民生活・文化課", "千葉県 防災政策課" → the government.
_GOV_DEPT_RE = re.compile(
    r"^(?P<gov>\S{1,8}?[都道府県市区町村])\s?(?P<dept>\S{2,20}?(?:課|局|部|室|係|事務所))$"
)
_DEPT_NOT_GOV = re.compile(r"会|財団|法人|基金|機構|協会|組合")
# Short forms that are not substrings of the full name.
_ALIASES = {
    "赤い羽根": "中央共同募金会",
    "赤い羽根共同募金": "中央共同募金会",
    "赤い羽根共同募金会": "中央共同募金会",
    "WAM": "福祉医療機構",
    "JICA": "国際協力機構",
    "子どもゆめ基金": "国立青少年教育振興機構",
    "全国こども食堂支援センター・むすびえ": "むすびえ",
}
_REVERSE_ALIASES: dict[str, list[str]] = {}
for _short, _full in _ALIASES.items():
    _REVERSE_ALIASES.setdefault(_full, []).append(_short)
# Abbreviated endings (千葉県社協, ながれ信金) expanded to the full word.
_ENDINGS = (
    ("信金", "信用金庫"),
    ("信組", "信用組合"),
    ("社協", "社会福祉協議会"),
    ("共募", "共同募金会"),
)
# A remainder that makes a longer name a different organization (千葉県 / 千葉県共同募金会).
_ORG_TYPE_END = re.compile(
    r"(?:会|財団|基金|協会|機構|組合|法人|センター|連合|クラブ|事業団|公社|金庫|銀行|大学|学校|"
    r"病院|庁|省|都|道|府|県|市|区|町|村)$"
)
# Words a name may lose in a short form (さくら生命保険 → さくら生命, ひかり福祉財団 → ひかり福祉).
_TYPE_WORD_RE = re.compile(r"(?:財団|基金|保険|銀行|信用金庫|株式会社|ホールディングス|グループ)$")
_ORG_STRIP = re.compile(r"[\s\u3000「」『』\"'()]+")


def normalize_organizer(name: str | None) -> str:
    """The organizer's name without legal form or spaces, short forms resolved ("" if none)."""
    if not name:
        return ""
    return _normalize_org(normalize_text(name))


def _normalize_org(name: str) -> str:
    name = _LEGAL_RE.sub("", name).strip()
    m = _GOV_DEPT_RE.match(name)
    if m and not _DEPT_NOT_GOV.search(m.group("dept")):
        name = m.group("gov")
    name = _ORG_STRIP.sub("", name)
    for short, full in _ENDINGS:
        if name.endswith(short):
            name = name[: -len(short)] + full
            break
    return _ALIASES.get(name, name)


def _org_relation(a: str, b: str) -> str:
    """'same', 'different' or 'unknown' (one missing) for two normalized organizer names."""
    if not a or not b:
        return "unknown"
    if a == b:
        return "same"
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) >= 2:
        if long.startswith(short) and not _ORG_TYPE_END.search(long[len(short) :]):
            return "same"
        if long.endswith(short) and long[-len(short) - 1] == "・":
            return "same"
    return "different"


def _org_variants(org: str) -> tuple[str, ...]:
    """Forms of a normalized organizer that titles and texts use, longest first."""
    if not org:
        return ()
    forms = {org}
    stem = _TYPE_WORD_RE.sub("", org)
    if len(stem) >= 3:
        forms.add(stem)
    for short, full in _ENDINGS:
        if org.endswith(full):
            forms.add(org[: -len(full)] + short)
    if "・" in org:
        forms.add(org.rsplit("・", 1)[1])
    return tuple(sorted((f for f in forms if len(f) >= 2), key=len, reverse=True))


# --- round markers ---------------------------------------------------------------------

_KANJI_DIGITS = {"〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8}
_KANJI_DIGITS["九"] = 9
_N = r"\d{1,3}|[一二三四五六七八九十]{1,3}"
_MARKER_RE = re.compile(
    rf"(?:令和|R)\s?(?P<reiwa>{_N}|元)(?:\((?P<reiwa_w>20\d\d)\))?\s?年度"
    rf"|平成\s?(?P<heisei>{_N}|元)\s?年度"
    r"|(?P<western>(?:19|20)\d\d)\s?年度"
    r"|(?<![\d./-])(?P<bare>20\d\d)(?![\d./年月-])"
    rf"|第\s?(?P<round>{_N})\s?[回期](?!生)"
    rf"|(?P<nth>{_N})\s?回目"
    rf"|第\s?(?P<phase>{_N})\s?次|(?P<phase2>{_N})\s?次(?=募集|公募|締切|締め切り|受付)"
    r"|第?(?P<quarter>[1-4一二三四])四半期"
    r"|(?P<half>上半期|下半期|前期|後期|上期|下期|春期|夏期|秋期|冬期)(?!高齢)"
    r"|(?P<season>[春夏秋冬])季?募集"
)
_HALVES = {"上半期": "前期", "上期": "前期", "前期": "前期", "下半期": "後期", "下期": "後期"}
_HALVES["後期"] = "後期"


def _number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text == "元":
        return 1
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_KANJI_DIGITS.get(tens, 1) if tens else 1) * 10 + _KANJI_DIGITS.get(ones, 0)
    value = 0
    for ch in text:
        value = value * 10 + _KANJI_DIGITS.get(ch, 0)
    return value


@dataclass(frozen=True)
class RoundMarkers:
    """What distinguishes rounds of one programme; None where the title does not say."""

    fiscal_year: int | None = None  # 2026年度 / 令和8年度 / a bare "2026" label → 2026
    round_no: int | None = None  # 第8回 / 第5期 / 8回目 → 8
    half: str | None = None  # 前期 / 後期 (上期・下期 folded in), 春期 …, "Q1".."Q4"
    phase: int | None = None  # 第2次募集 / 2次募集 → 2

    def conflicts(self, other: RoundMarkers) -> str | None:
        """The first marker both state with different values, as a reason; None if none."""
        if self is other or self is _NO_MARKERS or other is _NO_MARKERS:
            return None
        for name in ("fiscal_year", "round_no", "phase", "half"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine is not None and theirs is not None and mine != theirs:
                return f"{name} {mine} vs {theirs}"
        return None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.fiscal_year, self.round_no, self.half, self.phase))


_NO_MARKERS = RoundMarkers()


def _markers(title: str) -> tuple[RoundMarkers, list[tuple[int, int]]]:
    """Markers in normalized text, and their spans (to cut them out of the title)."""
    fiscal_year = round_no = phase = half = None
    spans = []
    for m in _MARKER_RE.finditer(title):
        g = m.lastgroup
        if g in ("reiwa", "reiwa_w"):
            fiscal_year = int(m["reiwa_w"]) if m["reiwa_w"] else 2018 + _number(m["reiwa"])
        elif g == "heisei":
            fiscal_year = 1988 + _number(m["heisei"])
        elif g in ("western", "bare"):
            fiscal_year = int(m[g])
        elif g in ("round", "nth"):
            round_no = _number(m[g])
        elif g in ("phase", "phase2"):
            phase = _number(m[g])
        elif g == "quarter":
            half = f"Q{_number(m[g])}"
        elif g == "half":
            half = _HALVES.get(m[g], m[g])
        elif g == "season":
            half = m[g] + "期"
        spans.append(m.span())
    if not spans:
        return _NO_MARKERS, spans
    return RoundMarkers(fiscal_year, round_no, half, phase), spans


def round_markers(title: str, text: str = "") -> RoundMarkers:
    """Round and year markers of a call, read from its title.

    The text is read (its first three lines) only when the title is generic ("助成金のご案内"):
    a text mentions other years and rounds too freely to be trusted otherwise.
    """
    title = normalize_text(title)
    found, _ = _markers(title)
    if text and not _core(_cut_tags(title))[0]:
        head = "\n".join(normalize_text(text).split("\n", 3)[:3])
        found, _ = _markers(head)
    return found


# --- titles ----------------------------------------------------------------------------

_TAGS_RE = re.compile(r"【[^】]*】|\[[^\]]*\]")
_QUAL_RE = re.compile(
    r"[〈《<][^〉》>]{1,30}[〉》>]"
    r"|\([^()]{1,30}?(?:部門|コース|枠|区分|の部|分野)\)"
    r"|\([^()]*?(?:豪雨|地震|台風|水害|大雨|噴火|震災)\)"
    r"|(?:一般|特別|通常|緊急|重点|指定|奨励|新規|継続|スタートアップ|ステップアップ)"
    r"(?=助成|枠|部門|コース|プログラム|型)"
)
# A division named without brackets: "…「地域貢献活動助成」子ども部門のご案内".
_QUAL_BARE_RE = re.compile(
    r"(?:^|(?<=[\s」』\])]))[^\s「」『』()\[\]〈〉《》<>・、]{1,12}?(?:部門|コース)"
)
_QUAL_TRIM = re.compile(r"[〈《<〉》>()]|部門|コース|枠|区分|の部|分野")
# The default track: a title that names no division usually means this one.
_DEFAULT_TRACKS = frozenset({"一般", "通常"})
_GENERIC_RE = re.compile(
    r"助成金|助成|補助金|補助|交付金|奨励金|給付金|募集要項|募集|公募|事業|活動|支援|応援|おうえん|"
    r"年度|のお知らせ|お知らせ|のご案内|ご案内|案内|情報|について|受付中|受付|応募|実施|"
    r"プログラム|基金|制度|のため|への|の$"
)
_VARIANTS_RE = re.compile(r"子ども|子供|こども|コドモ|障がい|障碍")
_VARIANTS = {
    "子ども": "こども",
    "子供": "こども",
    "コドモ": "こども",
    "障がい": "障害",
    "障碍": "障害",
}
_VARIANTS["こども"] = "こども"
_PUNCT_RE = re.compile(r"[\s「」『』()〈〉《》<>・、。,.:;!?/|~\-_＝=+*&#\"'“”‘’]+")


def _variant(m: re.Match[str]) -> str:
    return _VARIANTS[m.group()]


def _cut_tags(title: str) -> str:
    cut = _TAGS_RE.sub(" ", title)
    return cut if cut.strip() else title


def _remove_spans(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    parts, last = [], 0
    for start, end in spans:
        parts.append(text[last:start])
        last = end
    parts.append(text[last:])
    return " ".join(parts)


def _core(title: str, org_forms: tuple[str, ...] = ()) -> tuple[str, tuple[str, ...]]:
    """The distinctive part of a title (no tags, markers, organizer, generic words) and its
    division qualifiers."""
    title = _LEGAL_RE.sub(" ", title)
    for form in org_forms:
        if form in title:
            title = title.replace(form, " ")
    _, spans = _markers(title)
    title = _remove_spans(title, spans)
    quals = []
    for m in _QUAL_RE.finditer(title):
        q = _PUNCT_RE.sub("", _VARIANTS_RE.sub(_variant, _QUAL_TRIM.sub("", m.group())))
        if q and q not in quals:
            quals.append(q)
    if "部門" in title or "コース" in title:
        for m in _QUAL_BARE_RE.finditer(_QUAL_RE.sub(" ", title)):
            q = _PUNCT_RE.sub("", _VARIANTS_RE.sub(_variant, _QUAL_TRIM.sub("", m.group())))
            if q and q not in quals:
                quals.append(q)
    title = _VARIANTS_RE.sub(_variant, title)
    title = _PUNCT_RE.sub(" ", title)
    title = _GENERIC_RE.sub("", title)
    return "".join(title.split()), tuple(quals)


def program_key(call: GrantCall) -> str:
    """Normalized organizer + title without round and year markers: the same every year."""
    org = _normalize_org(call.organizer) if call.organizer else ""
    title = _cut_tags(call.title)
    title = _LEGAL_RE.sub(" ", title)
    for form in _org_variants(org):
        title = title.replace(form, " ")
    _, spans = _markers(title)
    title = _VARIANTS_RE.sub(_variant, _remove_spans(title, spans))
    return f"{org}|{_PUNCT_RE.sub('', title)}"


def _bigrams(s: str) -> set[str]:
    return {s[i : i + 2] for i in range(len(s) - 1)} if len(s) > 1 else {s}


def _common_substring(short: str, long: str) -> int:
    """Length of the longest common substring (binary search on the length)."""
    lo, hi = 0, len(short)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if any(short[i : i + mid] in long for i in range(len(short) - mid + 1)):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _title_similarity(a: str, b: str) -> float | None:
    """Similarity of two core titles in 0..1; None when either is generic (says nothing)."""
    if not a or not b:
        return None
    if a == b:
        return 1.0
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    ba, bb = _bigrams(a), _bigrams(b)
    dice = 2 * len(ba & bb) / (len(ba) + len(bb))
    common = _common_substring(short, long)
    # A shared word counts when it is the whole shorter title or at least 4 characters long:
    # 3-character overlaps are mostly common words (こども, 福祉の).
    cover = 2 * common / (len(a) + len(b)) if common == len(short) or common >= 4 else 0.0
    return max(dice, cover)


# --- features --------------------------------------------------------------------------

_EXTENDED = "延長"
_HAY_CHARS = 300  # funders are named near the top (◆title(funder), 実施団体 …)
# Where a listing without an organizer field names the funder (checked in this order).
_LABEL_RE = re.compile(
    r"^[ \t]*(?:実施団体|助成団体|実施主体|主催者?|助成元|運営団体|募集団体)[ \t]*[::]?[ \t]*\n?"
    r"[ \t]*(?P<name>[^\n]{2,40}?)[ \t]*$",
    re.M,
)
_QUOTED_RE = re.compile(r"^(?P<name>[^「」\n]{2,30})「.+」")
_TRAILING_RE = re.compile(r"\((?P<name>[^()]{2,30})\)\s*$")
_FROM_RE = re.compile(r"^[ \t]*(?P<name>[^\n、。 ]{2,30}?)より、", re.M)
_NOT_A_NAME = re.compile(
    r"\d|部門|コース|枠|区分|分野|仮称|再掲|追加|延長|更新|予定|終了|締切|募集|New"
)


def _name_or_none(name: str) -> str:
    """A normalized organizer from a guessed name, or "" when it does not look like one."""
    name = name.strip()
    if not name or _NOT_A_NAME.search(name):
        return ""
    return _normalize_org(name)


def _guess_organizer(title: str, text: str) -> str:
    """The funder named by a listing that has no organizer field ("" if none is found).

    A label line (実施団体: …), the title followed by "(name)" in the text ("◆title(funder)"),
    a title "name「programme」", a title ending in "(name)", or a line "nameより、…".
    """
    m = _LABEL_RE.search(text)
    if m and (name := _name_or_none(m["name"])):
        return name
    plain = title.strip()
    if plain:
        at = text.find(plain + "(")
        if at >= 0:
            end = text.find(")", at + len(plain))
            if end > 0 and (name := _name_or_none(text[at + len(plain) + 1 : end])):
                return name
    for pattern in (_QUOTED_RE, _TRAILING_RE):
        m = pattern.search(title)
        if m and (name := _name_or_none(m["name"])):
            return name
    m = _FROM_RE.search(text)
    if m and (name := _name_or_none(m["name"])):
        return name
    return ""


class _Features:
    """What matching needs from one listing: small, so 100,000 fit in the index."""

    __slots__ = (
        "amount",
        "area",
        "core",
        "dates",
        "deadline",
        "extended",
        "guess",
        "hay",
        "key",
        "markers",
        "org",
        "org_forms",
        "quals",
    )

    def __init__(self, key: str, call: GrantCall) -> None:
        self.key = key
        org = _normalize_org(call.organizer) if call.organizer else ""
        self.org = org
        # Without an organizer field, the title and the head of the text may still name it.
        head = "" if org else normalize_text(call.raw_text[:_HAY_CHARS])
        self.guess = "" if org else _guess_organizer(call.title, head)
        self.hay = "".join(f"{call.title}\n{head}".split()) if not org else ""
        self.org_forms = _org_variants(org or self.guess)
        title = _cut_tags(call.title)
        self.core, self.quals = _core(title, self.org_forms)
        markers, _ = _markers(call.title)
        if not self.core and not markers and call.raw_text:
            head = "\n".join(normalize_text(call.raw_text[:300]).split("\n", 3)[:3])
            markers, _ = _markers(head)
        self.markers = markers
        self.deadline = call.deadline.toordinal() if call.deadline else None
        dates = {self.deadline} if self.deadline else set()
        if call.application_start:
            dates.add(call.application_start.toordinal())
        for r in call.rounds:
            if r.end:
                dates.add(r.end.toordinal())
        self.dates = tuple(sorted(dates))
        self.amount = call.max_amount_yen
        self.area = call.area
        self.extended = _EXTENDED in call.title or _EXTENDED in call.raw_text


# --- pairwise decision -----------------------------------------------------------------

THRESHOLD = 1.0
_W_TITLE = 0.65
_GENERIC_TITLE = 0.25
_UNMATCHED_DIVISION = 0.5  # title similarity factor when only one title names a division
_W_ORG = {"same": 0.35, "mentioned": 0.25, "unknown": 0.0, "guess_differs": -0.2}
_W_DATE = {"equal": 0.35, "close": 0.25, "explained": 0.1, "unknown": 0.0}
_W_AMOUNT = {"equal": 0.15, "unknown": 0.0}
_CLOSE_DAYS = 3
_EXTENSION_DAYS = 92
_TYPO_DAYS = 62  # a one-digit typo in the day or the month, never in the year
_STRONG_TITLE = 0.8  # title similarity needed before an unexplained date gap is excused


@dataclass(frozen=True)
class MatchResult:
    """A pairwise decision: same call or not, the score, and why (for staff and tests)."""

    same: bool
    score: float
    reasons: list[str]


def _iso(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def _date_relation(a: _Features, b: _Features) -> tuple[str, str]:
    if a.deadline is None or b.deadline is None:
        return "unknown", "deadline: unknown on one side"
    if a.deadline == b.deadline:
        return "equal", f"deadline: equal {_iso(a.deadline)}"
    gap = abs(a.deadline - b.deadline)
    if gap <= _CLOSE_DAYS:
        return "close", f"deadline: {gap} days apart"
    if gap > _EXTENSION_DAYS:  # the common case in the index: another year's round
        return "different", f"deadline: {_iso(a.deadline)} vs {_iso(b.deadline)}"
    pair = f"{_iso(a.deadline)} vs {_iso(b.deadline)}"
    if a.deadline in b.dates or b.deadline in a.dates:
        return "explained", f"deadline: {pair}, one is the other's start date"
    if (
        gap <= _TYPO_DAYS
        and sum(x != y for x, y in zip(_iso(a.deadline), _iso(b.deadline), strict=True)) == 1
    ):
        return "explained", f"deadline: {pair}, one digit differs (typo)"
    later, _earlier = (a, b) if a.deadline > b.deadline else (b, a)
    if later.extended:
        return "explained", f"deadline: {pair}, extended (延長)"
    return "different", f"deadline: {pair}"


def _area_conflict(a: str, b: str) -> bool:
    if a == b or a == "national" or b == "national":
        return False
    return a.split(":", 1)[0] == b.split(":", 1)[0]


def _quals_unmatched(a: _Features, b: _Features, ca: str, cb: str) -> bool:
    """Whether one title names a division the other title does not mention at all."""
    if a.quals and not b.quals:
        return not any(q in cb or q in _DEFAULT_TRACKS for q in a.quals)
    if b.quals and not a.quals:
        return not any(q in ca or q in _DEFAULT_TRACKS for q in b.quals)
    return False


def _quals_conflict(a: _Features, b: _Features) -> bool:
    if not a.quals or not b.quals:
        return False
    for qa in a.quals:
        for qb in b.quals:
            if qa in qb or qb in qa:
                return False
    return True


def _org_evidence(a: _Features, b: _Features) -> str:
    rel = _org_relation(a.org, b.org)
    if rel != "unknown":
        return rel
    name_a, name_b = a.org or a.guess, b.org or b.guess
    if name_a and name_b and _org_relation(name_a, name_b) == "same":
        return "mentioned"
    known, other = (a, b) if a.org else (b, a)
    if known.org and (
        any(form in other.hay for form in known.org_forms)
        or any(form in other.hay for form in _REVERSE_ALIASES.get(known.org, ()))
    ):
        return "mentioned"
    return "guess_differs" if name_a and name_b else "unknown"


def _cores(a: _Features, b: _Features) -> tuple[str, str]:
    """Both core titles, each without the other's organizer (a listing may name it in its title)."""
    ca, cb = a.core, b.core
    for form in b.org_forms:
        if form in ca:
            ca = ca.replace(form, "")
    for form in a.org_forms:
        if form in cb:
            cb = cb.replace(form, "")
    return ca, cb


def _conflict(a: _Features, b: _Features) -> str | None:
    """A hard reason the two listings cannot be the same call, or None."""
    why = a.markers.conflicts(b.markers)
    if why:
        return f"round markers differ: {why}"
    if _org_relation(a.org, b.org) == "different":
        return f"organizers differ: {a.org} vs {b.org}"
    if _quals_conflict(a, b):
        return f"divisions differ: {'/'.join(a.quals)} vs {'/'.join(b.quals)}"
    if a.amount is not None and b.amount is not None and a.amount != b.amount:
        return f"amounts differ: {a.amount} vs {b.amount}"
    if _area_conflict(a.area, b.area):
        return f"areas differ: {a.area} vs {b.area}"
    return None


def _decide(a: _Features, b: _Features, *, explain: bool = False) -> tuple[bool, float, list[str]]:
    reasons: list[str] = []
    date_rel, date_why = _date_relation(a, b)
    if not explain and (date_rel == "different" or _org_relation(a.org, b.org) == "different"):
        return False, 0.0, reasons  # the common rejections, without building reasons
    why = _conflict(a, b)
    if why:
        return False, 0.0, [why] if explain else reasons
    if date_rel == "different":
        return False, 0.0, [date_why] if explain else reasons
    org = _org_evidence(a, b)
    ca, cb = _cores(a, b)
    sim = _title_similarity(ca, cb)
    if sim is not None and _quals_unmatched(a, b, ca, cb):
        sim *= _UNMATCHED_DIVISION
        if explain:
            reasons.append("one title names a division the other does not mention")
    title_points = _GENERIC_TITLE if sim is None else _W_TITLE * sim
    amount = "equal" if a.amount is not None and a.amount == b.amount else "unknown"
    score = title_points + _W_ORG[org] + _W_DATE[date_rel] + _W_AMOUNT[amount]
    same = score >= THRESHOLD - 1e-9  # the weights are decimals: 0.25 + … + 0.15 may be 0.999…
    if (
        same
        and date_rel == "explained"
        and (org not in ("same", "mentioned") or sim is None or sim < _STRONG_TITLE)
    ):
        same = False
        if explain:
            reasons.append("deadline gap needs the same organizer and a near-identical title")
    if explain:
        title_why = (
            "title: generic (says nothing)"
            if sim is None
            else f"title: {sim:.2f} ({ca or '-'} / {cb or '-'})"
        )
        org_why = {
            "same": f"organizer: same ({a.org or b.org})",
            "mentioned": "organizer: named in the other listing's text",
            "unknown": "organizer: unknown",
            "guess_differs": "organizer: the funders the listings name differ",
        }[org]
        amount_why = f"amount: equal {a.amount}" if amount == "equal" else "amount: unknown"
        reasons[:0] = [title_why, org_why, date_why, amount_why]
        reasons.append(f"score {score:.2f} (threshold {THRESHOLD})")
    return same, round(score, 3), reasons


def compare(a: GrantCall, b: GrantCall) -> MatchResult:
    """Whether two listings are the same call, with the score and the reasons."""
    same, score, reasons = _decide(_Features(a.id, a), _Features(b.id, b), explain=True)
    return MatchResult(same, score, reasons)


# --- the index -------------------------------------------------------------------------

_BLOCK_CAP = 48  # at most this many (most recent) members of one block are looked at
_MAX_CANDIDATES = 8  # compared in full per lookup, most block hits first


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


class _Index:
    """Entries and their blocks; entries are never moved, removed ones become None.

    Block keys are hashes of tuples (small ints instead of strings: less memory).
    """

    def __init__(self) -> None:
        self.entries: list[_Features | None] = []
        self.blocks: dict[int, list[int]] = {}

    @staticmethod
    def _broad_keys(f: _Features) -> list[int]:
        org = f.org or f.guess
        keys = [hash(("o", org))] if org else []
        keys.extend(hash(("b", g)) for g in sorted(_bigrams(f.core)) if len(g) == 2)
        return keys

    @staticmethod
    def _day_keys(f: _Features) -> list[int]:
        """Keys of the deadline-specific blocks a listing is filed under."""
        org = f.org or f.guess
        day = f.deadline
        keys = [hash(("a", day, f.amount))]
        if org:
            keys.append(hash(("d", day, org)))
        if f.core:
            keys.append(hash(("t", day, f.core)))
        return keys

    def insert(self, f: _Features) -> int:
        idx = len(self.entries)
        self.entries.append(f)
        blocks = self.blocks
        keys = self._broad_keys(f)
        if f.deadline is not None:
            keys.extend(self._day_keys(f))
        for key in keys:
            block = blocks.get(key)
            if block is None:
                blocks[key] = [idx]
            else:
                block.append(idx)
        return idx

    def candidates(self, f: _Features) -> list[int]:
        """Entries sharing blocks with f, those sharing the most specific blocks first.

        Specific blocks: the deadline together with the organizer (weight 3; a deadline up to
        3 days off: 1), the core title (3) or the amount (2). Broad blocks (organizer,
        title bigram) count 1 when they have at most `_BLOCK_CAP` members; larger ones say
        little: only their most recent members are looked at, and only when the others give
        too few candidates.
        """
        get = self.blocks.get
        hits: dict[int, int] = {}
        count = hits.get
        weighted: list[tuple[int, int]] = []
        if f.deadline is not None:
            weighted.append((hash(("a", f.deadline, f.amount)), 2))
            if f.core:
                weighted.append((hash(("t", f.deadline, f.core)), 3))
            org = f.org or f.guess
            if org:
                for day in range(f.deadline - _CLOSE_DAYS, f.deadline + _CLOSE_DAYS + 1):
                    weighted.append((hash(("d", day, org)), 3 if day == f.deadline else 1))
        for key, weight in weighted:
            block = get(key)
            if block:
                for idx in block:
                    hits[idx] = count(idx, 0) + weight
        large = []
        for key in self._broad_keys(f):
            block = get(key)
            if block:
                if len(block) <= _BLOCK_CAP:
                    for idx in block:
                        hits[idx] = count(idx, 0) + 1
                else:
                    large.append(block)
        # Most weight first; ties: the most recent entry.
        ranked = sorted(hits, key=lambda idx: (hits[idx], idx), reverse=True)
        if large and len(ranked) < _MAX_CANDIDATES:
            extra = Counter(chain.from_iterable(block[-_BLOCK_CAP:] for block in large))
            ranked.extend(idx for idx, _ in extra.most_common() if idx not in hits)
        return ranked[:_MAX_CANDIDATES]


class Matcher:
    """Incremental index of calls; each entry is one *call* (cluster) with one or more member
    records.

    `cannot_link` and `must_link` are pairs of record keys decided by staff: a must-link pair
    is always placed in one cluster (its clusters are merged), a cannot-link pair is never
    joined automatically.
    """

    def __init__(
        self,
        *,
        cannot_link: Iterable[tuple[str, str]] = (),
        must_link: Iterable[tuple[str, str]] = (),
    ) -> None:
        self._index = _Index()
        self._slot: dict[str, int] = {}  # record key -> entry index
        self._cluster: dict[str, str] = {}  # record key -> cluster id
        self._members: dict[str, list[str]] = {}  # cluster id -> record keys
        self._cannot: dict[str, set[str]] = {}
        self._must: dict[str, set[str]] = {}
        for a, b in cannot_link:
            self._cannot.setdefault(a, set()).add(b)
            self._cannot.setdefault(b, set()).add(a)
        for a, b in must_link:
            self._must.setdefault(a, set()).add(b)
            self._must.setdefault(b, set()).add(a)

    def __len__(self) -> int:
        return len(self._cluster)

    def __contains__(self, key: object) -> bool:
        return key in self._cluster

    def cluster_of(self, key: str) -> str | None:
        """The cluster a record is in, or None."""
        return self._cluster.get(key)

    def members(self, cluster: str) -> list[str]:
        """The record keys of one cluster, in the order they were added."""
        return list(self._members.get(cluster, ()))

    def clusters(self) -> dict[str, list[str]]:
        """Every cluster id with its record keys."""
        return {cid: list(keys) for cid, keys in self._members.items()}

    def add(self, key: str, call: GrantCall, cluster: str | None = None) -> str:
        """Place a record and return its cluster id.

        With `cluster`, the record goes into that cluster (new or existing) without matching:
        use it to rebuild the index from stored decisions. Otherwise the record joins its
        must-link partners' cluster, else the best matching cluster, else a new one (id = key).
        Adding a key again replaces the earlier record. Must-link partners already in other
        clusters are merged into the record's cluster (the merged clusters take its id).
        """
        if key in self._slot:
            self.remove(key)
        f = _Features(key, call)
        partners = [self._cluster[p] for p in sorted(self._must.get(key, ())) if p in self._cluster]
        if cluster is None:
            cluster = partners[0] if partners else self._best(f, exclude=None) or key
        self._slot[key] = self._index.insert(f)
        self._cluster[key] = cluster
        self._members.setdefault(cluster, []).append(key)
        for other in partners:
            if other != cluster and other in self._members:
                self._merge(other, into=cluster)
        return cluster

    def find(self, call: GrantCall, *, exclude: str | None = None) -> str | None:
        """The best matching existing cluster for a call, or None (the index is not changed).

        `exclude` is the key of a record to leave out (the call's own record when it is being
        re-checked); that key's cannot-link pairs apply.
        """
        f = _Features(exclude or call.id, call)
        return self._best(f, exclude=exclude)

    def remove(self, key: str) -> None:
        """Take a record out of the index (its cluster keeps its id while it has members)."""
        idx = self._slot.pop(key, None)
        if idx is None:
            return
        self._index.entries[idx] = None
        cluster = self._cluster.pop(key)
        members = self._members[cluster]
        members.remove(key)
        if not members:
            del self._members[cluster]

    def _merge(self, source: str, *, into: str) -> None:
        for k in self._members.pop(source):
            self._cluster[k] = into
            self._members[into].append(k)

    def _best(self, f: _Features, *, exclude: str | None) -> str | None:
        entries = self._index.entries
        blocked = self._cannot.get(f.key, ())
        best: dict[str, float] = {}
        deadline, org, amount = f.deadline, f.org, f.amount
        for idx in self._index.candidates(f):
            other = entries[idx]
            if other is None or other.key == exclude:
                continue
            # The common rejections, decided before scoring: another year's round, another
            # amount, another funder.
            if (
                deadline is not None
                and other.deadline is not None
                and abs(deadline - other.deadline) > _EXTENSION_DAYS
            ):
                continue
            if amount is not None and other.amount is not None and amount != other.amount:
                continue
            if org and other.org and org != other.org and _org_relation(org, other.org) != "same":
                continue
            cid = self._cluster[other.key]
            same, score, _ = _decide(f, other)
            if same and score > best.get(cid, 0.0):
                best[cid] = score
        for cid, _score in sorted(best.items(), key=lambda kv: (-kv[1], kv[0])):
            if self._joinable(f, cid, blocked, exclude):
                return cid
        return None

    def _joinable(
        self, f: _Features, cid: str, blocked: Iterable[str], exclude: str | None
    ) -> bool:
        entries = self._index.entries
        for k in self._members[cid]:
            if k == exclude:
                continue
            if k in blocked:
                return False
            other = entries[self._slot[k]]
            if other is not None and _hard_conflict(f, other):
                return False
        return True


def _hard_conflict(a: _Features, b: _Features) -> bool:
    """Whether two listings can never be one call (checked against every member of a cluster).

    Deadlines count only when they are far apart: a member may carry a misread or extended
    deadline that the best-matching member explains.
    """
    if _conflict(a, b) is not None:
        return True
    return (
        a.deadline is not None
        and b.deadline is not None
        and abs(a.deadline - b.deadline) > _EXTENSION_DAYS
    )


def cluster_calls(
    records: Sequence[tuple[str, GrantCall]],
    *,
    cannot_link: Iterable[tuple[str, str]] = (),
    must_link: Iterable[tuple[str, str]] = (),
) -> dict[str, str]:
    """Cluster a batch of records: key -> cluster id (the smallest member key).

    Independent of the order of `records`: every candidate pair is scored, then pairs join
    clusters best score first, each join checked against every member (no hard conflict, no
    cannot-link pair). Must-link pairs are joined before anything else.
    """
    feats = sorted((_Features(key, call) for key, call in records), key=lambda f: f.key)
    index = _Index()
    for f in feats:
        index.insert(f)
    pairs: list[tuple[float, int, int]] = []
    for i, f in enumerate(feats):
        for j in index.candidates(f):
            if j <= i:
                continue
            same, score, _ = _decide(f, feats[j])
            if same:
                pairs.append((score, i, j))
    pairs.sort(key=lambda p: (-p[0], feats[p[1]].key, feats[p[2]].key))

    parent = list(range(len(feats)))
    members: dict[int, list[int]] = {i: [i] for i in range(len(feats))}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        ri, rj = root(i), root(j)
        if ri == rj:
            return
        if len(members[ri]) < len(members[rj]):
            ri, rj = rj, ri
        parent[rj] = ri
        members[ri].extend(members.pop(rj))

    position = {f.key: i for i, f in enumerate(feats)}
    for a, b in must_link:
        if a in position and b in position:
            join(position[a], position[b])
    cannot = {_pair(a, b) for a, b in cannot_link}
    for _score, i, j in pairs:
        ri, rj = root(i), root(j)
        if ri == rj:
            continue
        ok = True
        for x in members[ri]:
            for y in members[rj]:
                fx, fy = feats[x], feats[y]
                if _pair(fx.key, fy.key) in cannot or _hard_conflict(fx, fy):
                    ok = False
                    break
            if not ok:
                break
        if ok:
            join(i, j)
    result: dict[str, str] = {}
    for group in members.values():
        cid = min(feats[i].key for i in group)
        for i in group:
            result[feats[i].key] = cid
    return result
