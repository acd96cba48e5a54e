"""Japanese dates and application deadlines: 西暦/和暦, ranges, rounds, recurring and rolling calls.

`parse_deadline` reads the whole (normalized) text of a call and decides which date a group
must meet. A wrong deadline sent to a group is worse than none, so:

- every date (or range) is scored by the words around it: the label before it on its line (or
  on the line above when the date stands alone: "応募締切\\n令和8年1月26日") and the words
  right after it (締切, まで, 必着, 消印 / 更新, 時点, 開始 …);
- dates labelled as something else (実施期間, 助成期間, 説明会, 決定, 通知, 更新日, 掲載 …) are
  never the deadline; unlabelled dates are used only when no labelled one exists;
- among the best-scored dates, the first whose end is on/after the reference date wins (the
  same rule as for rounds: 前期/後期, 第1回/第2回, エントリー締切 before 書類提出締切);
- different deadlines per channel (郵送 / 電子申請 / 電子メール / 持参): see `_CHANNEL_WINDOW`.

A repeating schedule (年4回 with dates, 毎月末日, 3か月に1回, 四半期) makes the call RECURRING;
随時/通年/常時/当分の間 make it ROLLING (予算がなくなり次第 only when it ends the period or no
fixed date is given), with a deadline only when a hard final date is printed; 要問合せ /
募集要項参照 / 別途お知らせ / 未定, or no usable date, make it UNKNOWN.

A date without a year takes it from the page's date (`reference`, else the text's own 更新日 /
…時点 date), else from the nearest date written with a year, else from the 年度 (April–March);
a printed weekday picks the year that fits it. Today is the last resort.

All public functions take text that already went through `normalize_text` (NFKC, "~" for
every tilde, no spaces inside dates).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date, timedelta

from aggregator.record import ChannelDeadline, DeadlineBasis, DeadlineKind, DeadlineNote, Round

__all__ = ["DeadlineInfo", "era_to_year", "parse_date", "parse_deadline"]


@dataclass(frozen=True)
class DeadlineInfo:
    """What the text says about when to apply."""

    deadline: date | None  # fixed: the (next round's) end; recurring: the next date; else None
    kind: DeadlineKind
    application_start: date | None
    note: DeadlineNote
    rounds: list[Round] = field(default_factory=list)
    evidence: str | None = None  # snippet the deadline (or kind) came from
    start_evidence: str | None = None


# --------------------------------------------------------------------------------------------
# Eras

# Year 1 of each era minus one: 令和1 = 2019.
_ERA_BASE = {
    "明治": 1867,
    "大正": 1911,
    "昭和": 1925,
    "平成": 1988,
    "令和": 2018,
    "M": 1867,
    "T": 1911,
    "S": 1925,
    "H": 1988,
    "R": 2018,
}


def era_to_year(era: str, year: str | int) -> int:
    """Western year of a Japanese era year: ("令和", 8) -> 2026, ("H", "元") -> 1989."""
    key = era.strip()
    base = _ERA_BASE.get(key) or _ERA_BASE.get(key.upper())
    if base is None:
        raise ValueError(f"unknown era: {era!r}")
    text = str(year).strip()
    n = 1 if text == "元" else int(text)
    if n < 1:
        raise ValueError(f"invalid era year: {year!r}")
    return base + n


# --------------------------------------------------------------------------------------------
# Date mentions

# The written forms of one date, each tried with .match() only where `_starts` found one may
# begin, so the text is never scanned character by character by a many-branched pattern.
# 2026年1月30日 / 令和8年1月26日 / 令和7(2025)年 / 2025年度11月6日 / 2025年年2月1日 / 2027年9月末
_YMD_RE = re.compile(
    r"(?:(令和|平成|昭和|大正|明治)\s?(\d{1,2}|元)(?:\s?\(((?:19|20)\d\d)\))?"
    r"|((?:19|20)\d\d)(?:\s?\((?:令和|平成|昭和|R|H)\s?(?:\d{1,2}|元)\))?)"
    r"\s?年(?:度)?(?:\s?年)?"
    # 令和8年(2026年)2月27日 / 2026年(令和8年)2月27日
    r"(?:\s?\((?:(?:19|20)\d\d|(?:令和|平成|昭和|R|H)\s?(?:\d{1,2}|元))\s?年?(?:度)?\))?"
    r"\s?(\d{1,2})\s?月\s?(?:(\d{1,2})\s?(?:日|(?=\())|(末))"
)
# 11月25日, 1月17(金) (日 missing), 3月末
_MD_RE = re.compile(r"(\d{1,2})\s?月\s?(?:(\d{1,2})\s?(?:日|(?=\())|(末))")
# 2025/10/01, 2026.7.1, 2026-02-01
_NUMERIC_RE = re.compile(r"((?:19|20)\d\d)([/.\-])(\d{1,2})\2(\d{1,2})(?![\d/.])")
# R7.5.31, H31.4.30, 令和7.5.31
_ERA_DOT_RE = re.compile(r"(令和|平成|[RHS])\s?(\d{1,2}|元)[./](\d{1,2})[./](\d{1,2})(?![\d/.])")
# 8/13 (kept only in a date-like context, see _slash_ok)
_SLASH_MD_RE = re.compile(r"(\d{1,2})/(\d{1,2})(?![\d/.%])")
_YMD, _MD, _NUMERIC, _ERA_DOT, _SLASH_MD = range(5)
_WEEKDAYS = "月火水木金土日"
_TIME_PATTERN = (
    r"(?:(午前|午後)\s?(\d{1,2})時(?:\s?(\d{1,2})分|(半))?"
    r"|(\d{1,2})時(?:\s?(\d{1,2})分|(半))?"
    r"|(\d{1,2}):(\d\d)"
    r"|(正午))"
)
# What may follow a date: weekday (水) (水曜日) (月・祝), then a time of day.
_TAIL_RE = re.compile(
    r"(?:\s?\(([月火水木金土日祝])(?:曜日?)?(?:\s?[・,、/]\s?[祝休]日?)?\))?(?:\s?"
    + _TIME_PATTERN
    + ")?"
)
_TAIL_FIRST = frozenset(" (午正0123456789")
_RANGE_SEP_RE = re.compile(r"\s?(?:~|-|から|より|→)\s?")
_SEP_FIRST = frozenset(" ~-かよ→")
_DAY_ONLY_RE = re.compile(r"(\d{1,2})日(?!間)")
_TIME_AHEAD_RE = re.compile(r"(?:午前|午後)?\d{1,2}(?:時|:\d\d)|正午")
_OPEN_ROLLING_RE = re.compile(r"\(?(?:随時|当分の間|通年|常時)")
_SLASH_AFTER_RE = re.compile(r"\s?(?:\([月火水木金土日]|~|-|締|〆|まで|迄|必着|消印)")
_SLASH_BEFORE_RE = re.compile(r"(?:~|-|締切|〆切|期限|期間|まで|日)[:]?\s?\Z")
_URL_RE = re.compile(r"https?://[^\s)\]」>]+")
# jGrants-style timestamps: 2026-05-31T15:00:00.000Z is 6月1日 00:00 in Japan.
_ISO_TIME_RE = re.compile(r"T(\d\d):(\d\d)(?::\d\d(?:\.\d+)?)?(Z|[+\-]\d\d:?\d\d)?")
_JST_MINUTES = 9 * 60
_DIGITS = frozenset("0123456789")


class _M:
    """One date as written; a yearless one gets its year in `_resolve_all`."""

    __slots__ = ("d", "end", "explicit", "m", "start", "time", "value", "wd")

    def __init__(self, start: int, end: int, m: int, d: int, value: date | None) -> None:
        self.start = start
        self.end = end  # after weekday and time
        self.m = m
        self.d = d  # 0: last day of the month (末 / 末日)
        self.value = value
        self.explicit = value is not None  # the year was written
        self.wd: int | None = None
        self.time: str | None = None


def _month_len(y: int, m: int) -> int:
    if m == 12:
        return 31
    return (date(y, m + 1, 1) - timedelta(days=1)).day


def _make(y: int, m: int, d: int) -> date | None:
    """The date, or None when it does not exist (2月30日)."""
    if not 1 <= m <= 12 or not 1900 <= y <= 2100:
        return None
    if d == 0:
        return date(y, m, _month_len(y, m))
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _time_of(g: tuple[str | None, ...]) -> str | None:
    """Time of day as HH:MM from the 10 groups of _TIME_PATTERN."""
    ap, h1, mi1, hf1, h2, mi2, hf2, h3, mi3, noon = g
    if noon:
        return "12:00"
    if h1:
        h = int(h1)
        if ap == "午後" and h < 12:
            h += 12
        mi = int(mi1 or (30 if hf1 else 0))
    elif h2:
        h, mi = int(h2), int(mi2 or (30 if hf2 else 0))
    elif h3:
        h, mi = int(h3), int(mi3)  # type: ignore[arg-type]
    else:
        return None
    if h > 24 or mi > 59:
        return None
    return f"{h:02d}:{mi:02d}"


def _starts(text: str) -> list[tuple[int, int, int]]:
    """Where dates may start: (position, form, position of the month for a 年月日 form). Every
    date contains 月, "/", "." or "-": finding those with str.find is several times faster
    than any regex scan."""
    found: list[tuple[int, int, int]] = []
    n = len(text)
    p = text.find("月")
    while p >= 0:
        j = p - 1 if p and text[p - 1] == " " else p
        if j and text[j - 1] in _DIGITS:
            k = j - 1
            if k and text[k - 1] in _DIGITS:
                k -= 1
            if not (k and text[k - 1] in _DIGITS):
                q = k - 1 if k and text[k - 1] == " " else k
                if q > 1 and text[q - 1] == ")":  # 令和8年(2026年)2月
                    lp = text.rfind("(", max(0, q - 14), q - 1)
                    if lp > 0:
                        q = lp - 1 if text[lp - 1] == " " else lp
                y = _year_start(text, q) if q and text[q - 1] in "年度" else -1
                found.append((y, _YMD, k) if y >= 0 else (k, _MD, k))
        p = text.find("月", p + 1)
    for sep in "/.-":
        p = text.find(sep)
        while p >= 0:
            if 0 < p < n - 1 and text[p + 1] in _DIGITS and text[p - 1] in _DIGITS:
                k = p - 1
                while k > 0 and p - k < 4 and text[k - 1] in _DIGITS:
                    k -= 1
                width = p - k
                if width == 4 and not (k and text[k - 1] in _DIGITS):
                    found.append((k, _NUMERIC, k))
                elif width <= 2 and sep != "-":
                    q = k - 1 if k and text[k - 1] == " " else k
                    if q and text[q - 1] in "RHS":
                        found.append((q - 1, _ERA_DOT, k))
                    elif q > 1 and text[q - 2 : q] in ("令和", "平成"):
                        found.append((q - 2, _ERA_DOT, k))
                    elif sep == "/":
                        found.append((k, _SLASH_MD, k))
            p = text.find(sep, p + 1)
    if len(found) > 1:
        found.sort()
    return found


def _year_start(text: str, q: int) -> int:
    """Start of the year written before text[q] (which follows 年 / 年度 / 年年), or -1.

    Reads backwards: 2026年, 令和8年, 令和 8年, 令和元年, 令和7(2025)年, 2026(令和8)年.
    """
    if q >= 3 and text[q - 1] == "年" and text[q - 2] in _DIGITS:  # the usual forms, fast
        if q >= 5 and text[q - 5 : q - 1].isdigit():  # 2026年
            return -1 if q > 5 and text[q - 6] in _DIGITS else q - 5
        k = q - 3 if text[q - 3] in _DIGITS else q - 2  # 令和8年, 令和10年
        if k >= 2 and text[k - 2 : k] in _ERA_NAMES:
            return k - 2
    r = q
    while r > 0 and q - r < 4 and text[r - 1] in "年度 ":
        r -= 1
    if r == q or text[r] != "年":
        return -1
    if r and text[r - 1] == " ":
        r -= 1
    if r and text[r - 1] == ")":
        lp = text.rfind("(", max(0, r - 10), r)
        if lp < 0:
            return -1
        r = lp - 1 if lp and text[lp - 1] == " " else lp
    k = r
    while k > 0 and r - k < 4 and text[k - 1] in _DIGITS:
        k -= 1
    width = r - k
    if width == 4:
        return -1 if k and text[k - 1] in _DIGITS else k
    if width == 0:
        if r and text[r - 1] == "元":
            k = r - 1
        else:
            return -1
    elif width > 2:
        return -1
    e = k - 1 if k and text[k - 1] == " " else k
    if e >= 2 and text[e - 2 : e] in _ERA_NAMES:
        return e - 2
    return -1


_ERA_NAMES = frozenset(("令和", "平成", "昭和", "大正", "明治"))


def _slash_ok(text: str, s: int, e: int) -> bool:
    """8/13 is a date only next to date words: 8/13締切, 7/15~8/13, 8/13(木); not 2/3以内,
    not 補助率1/2~2/3."""
    if "率" in text[max(0, s - 6) : s]:
        return False
    if _SLASH_AFTER_RE.match(text, e):
        return True
    return bool(_SLASH_BEFORE_RE.search(text, max(0, s - 4), s))


def _to_japan_time(x: _M, iso: re.Match[str]) -> None:
    """Date and time of an ISO timestamp in Japan time (a UTC "Z" is 9 hours behind)."""
    minutes = int(iso.group(1)) * 60 + int(iso.group(2))
    tz = iso.group(3)
    if tz:
        offset = 0
        if tz != "Z":
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        minutes += _JST_MINUTES - offset
    days, minutes = divmod(minutes, 24 * 60)
    x.value = x.value + timedelta(days=days)  # type: ignore[operator]
    x.m, x.d = x.value.month, x.value.day
    x.time = f"{minutes // 60:02d}:{minutes % 60:02d}"
    x.end = iso.end()


def _era_year(era: str, y: str) -> int:
    return _ERA_BASE[era] + (1 if y == "元" else int(y))


def _scan(text: str, *, loose: bool = False) -> list[_M]:
    """Every date mention in text order, with weekday and time; impossible dates are dropped.

    `loose`: accept a bare 8/13 without date words around it (a short date-only string).
    """
    out: list[_M] = []
    urls = [m.span() for m in _URL_RE.finditer(text)] if "://" in text else None
    last = -1
    for start, form, month in _starts(text):
        if start < last:
            continue
        prev = text[start - 1] if start else ""
        y: int | None
        if form == _YMD:
            mt = _YMD_RE.match(text, start)
            if mt is None:  # what looked like a year is not one: read the month-day
                form, start = _MD, month
                prev = text[start - 1]
        if form == _YMD:
            era, ey, ew, yy, mm, dd, eom = mt.groups()  # type: ignore[union-attr]
            if era:
                y = int(ew) if ew else _era_year(era, ey)
            elif prev in _DIGITS:
                continue
            else:
                y = int(yy)
            m, d = int(mm), (0 if eom else int(dd))
        elif form == _MD:
            mt = _MD_RE.match(text, start)
            if mt is None:
                continue
            mm, dd, eom = mt.groups()
            y, m, d = None, int(mm), (0 if eom else int(dd))
        elif form == _NUMERIC:
            mt = _NUMERIC_RE.match(text, start)
            if mt is None or (prev and prev in "/."):
                continue
            yy, _, mm, dd = mt.groups()
            y, m, d = int(yy), int(mm), int(dd)
        elif form == _ERA_DOT:
            mt = _ERA_DOT_RE.match(text, start)
            if mt is None or (prev.isascii() and prev.isalnum()):
                continue
            era, ey, mm, dd = mt.groups()
            y, m, d = _era_year(era, ey), int(mm), int(dd)
        else:
            mt = _SLASH_MD_RE.match(text, start)
            if mt is None or (prev and prev in "/.,"):
                continue
            mm, dd = mt.groups()
            y, m, d = None, int(mm), int(dd)
            if not loose and not _slash_ok(text, start, mt.end()):
                continue
        s, e = mt.span()
        last = e
        if not 1 <= m <= 12 or d > 31:
            continue
        if urls and any(a <= s < b for a, b in urls):
            continue  # https://example.org/2025/10/01 is not a date of the call
        if y is not None:
            value = _make(y, m, d)
            if value is None:
                continue
        else:
            value = None
            if d and _make(2024, m, d) is None:  # 2024 is a leap year: only impossible days fail
                continue
        mention = _M(s, e, m, d, value)
        if form == _NUMERIC and value is not None and text.startswith("T", e):
            iso = _ISO_TIME_RE.match(text, e)
            if iso:
                _to_japan_time(mention, iso)
                out.append(mention)
                continue
        if e < len(text) and text[e] in _TAIL_FIRST:
            t = _TAIL_RE.match(text, e)
            if t and t.end() > e:
                tg = t.groups()
                if tg[0] and tg[0] != "祝":
                    mention.wd = _WEEKDAYS.index(tg[0])
                mention.time = _time_of(tg[1:])
                mention.end = t.end()
        out.append(mention)
    return out


# --------------------------------------------------------------------------------------------
# Words around a date

# Label classes, strongest first when a clause has several (募集説明会 is a 説明会).
_PUB, _NEG, _START, _STRONG, _PERIOD, _WEAK, _NONE = (
    "pub",
    "neg",
    "start",
    "strong",
    "period",
    "weak",
    "",
)
_SCORES = {_STRONG: 3, _PERIOD: 2, _WEAK: 1, _NONE: 0}
_KEYWORDS: dict[str, str] = {}
for _cls, _words in (
    (
        _PUB,
        # (時点 / 現在 count only after a date: "2026年4月1日現在")
        "更新日 更新 掲載日 掲載 公開日 作成日 発行日 発行 配信日 配信 最終更新 登録日 投稿日 "
        "情報提供日",
    ),
    (
        _NEG,
        # Other events of a call, and steps before applying (ID発行, 団体登録, 事前相談).
        "助成期間 対象期間 実施期間 活動期間 事業期間 補助期間 支援期間 契約期間 利用期間 "
        "貸出期間 展示期間 開催期間 実施時期 実施日 開催日 開催 決定 通知 内定 採択 説明会 "
        "相談会 相談 問合せ 問い合わせ 問合わせ お問合せ 選考 審査 結果 発表 表彰式 贈呈式 "
        "授賞式 交付決定 交付予定 振込 振り込 支払 入金 納車 報告 研修 講座 講習 面談 面接 "
        "ヒアリング 設立 創設 創立 施行 開設 生年月日 誕生日 ID アカウント 団体登録 事前登録 "
        "ワークショップ セミナー 会議 事業終了 懇親会 見学 説明動画 公開審査 事業開始 "
        "活動開始 実施開始 完了 "
        # Last year's figures: (参考)令和8年度の募集期間, 昨年度, 例年
        "参考 前年度 昨年度 前回 例年 過去",
    ),
    (_START, "受付開始 募集開始 公募開始 申請開始 応募開始 開始日 開始 スタート"),
    (
        _STRONG,
        "締切 締め切り 締めきり 〆切 〆切り 〆 締切日 提出期限 申請期限 応募期限 受付期限 "
        "提出期日 期限 期日 最終締切 受付終了 受付締切 募集締切 応募締切",
    ),
    (
        _PERIOD,
        "募集期間 応募期間 申請期間 受付期間 公募期間 提案期間 提出期間 応募受付 申請受付 "
        "募集受付 受付 公募 募集時期 応募時期 申請時期 受付時期 エントリー 申込期間 申込受付",
    ),
    (_WEAK, "応募 申請 募集 提出 期間 提案 申込 申し込み 申込み 送付"),
):
    for _w in _words.split():
        _KEYWORDS.setdefault(_w, _cls)
_CHANNELS = {
    "郵送": "mail",
    "郵便": "mail",
    "持参": "hand",
    "窓口": "hand",
    "電子メール": "email",
    "Eメール": "email",
    "E-mail": "email",
    "e-mail": "email",
    "メール": "email",
    "電子申請": "online",
    "オンライン": "online",
    "Web": "online",
    "WEB": "online",
    "web": "online",
    "ウェブ": "online",
    "フォーム": "online",
    "jGrants": "online",
    "Jグランツ": "online",
    "電子": "online",
}
# One pass over a clause finds both label words and channel words.
_CLAUSE_RE = re.compile(
    "|".join(sorted(map(re.escape, {**_KEYWORDS, **_CHANNELS}), key=len, reverse=True))
)
_CLASS_ORDER = (_PUB, _NEG, _START, _STRONG, _PERIOD, _WEAK)
_ROUND_RE = re.compile(
    r"(前期|後期|中期|上期|下期|上半期|下半期|第\s?\d{1,2}\s?(?:回|期|次)(?:目|募集|締切)?"
    r"|\d{1,2}\s?次(?:募集|締切)?|[春夏秋冬]季?募集)"
)
_ROUND_CHARS = frozenset("期回次募")
_CHANNEL_JA = {"mail": "郵送", "online": "電子申請", "email": "電子メール", "hand": "持参"}
# Right after a date: what the date is (publication, start, another event).
_TRAIL_KIND_RE = re.compile(
    r"\s?(?:(更新|時点|現在|掲載|公開|配信|発行|助成情報|情報|お知らせ|新着|ニュース)"
    r"|((?:より|から)?\s?(?:受付|募集|公募|申請)?(?:開始|スタート))"
    r"|((?:に|より|から|頃)?\s?(?:公開|開催|決定|通知|発表|設立|創設|施行|実施|送付|振込|"
    r"お知らせ|審査|選考|面接|贈呈|表彰)|以降|以後"
    r"|まで(?:に)?(?:実施|完了|終了|行|開催)|までの(?:\d|間|期間|事業|活動)))"
)
_TRAIL_TOKEN_RE = re.compile(r"締切|締め切り|〆切|〆|期限|まで|迄|必着|消印|延長")
_TRAIL_STRONG = frozenset(("締切", "締め切り", "〆切", "〆", "期限"))
# Document-wide note on the deadline: 締切日当日の消印有効 / 締切日の23時59分まで.
_DOC_TIME_RE = re.compile(r"(?:締切|締め切り|〆切|期限)(?:日|時刻)?(?:当日)?の?\s?" + _TIME_PATTERN)
_DOC_POSTMARK_RE = re.compile(r"消印(?:有効|まで有効|があれば有効|のあるもの)")

_ROLLING_ANY_RE = re.compile(r"随時|通年|常時|当分|次第|達し|なし|ありません|設けて")
_ROLLING_STRONG_RE = re.compile(
    r"当分の間|常時(?:公募|募集|受付|受け付け|申請|応募)|通年(?:で)?(?:受付|受け付け|募集|公募|申請)|"
    r"随時(?:受付|受け付け|募集|公募|申請|応募)|期限(?:なし|は(?:ありません|設けて))|"
    r"締(?:め)?切(?:り)?(?:なし|は(?:ありません|設けて))"
)
# "Until the budget runs out": the period itself (4月1日~予算がなくなり次第終了), or a caveat
# beside a fixed end (予算額に達した時点で受付終了), which keeps the call fixed.
_ROLLING_BUDGET_RE = re.compile(
    r"予算(?:の上限|額|の範囲)?に達し(?:た時点|次第)|(?:予算が|予算の)?(?:なくなり|無くなり)次第"
    r"|上限に達し次第"
)
_ROLLING_WEAK_RE = re.compile(r"随時|通年|常時")
_ROLLING_CONTEXT_RE = re.compile(r"期間|期限|締切|締め切り|〆切|受付|募集|公募|応募|申請|時期")
_ROLLING_NEG_RE = re.compile(
    r"相談|質問|問合せ|問い合わせ|更新|見学|説明|情報|開催|活動期間|実施期間"
)
_UNKNOWN_RE = re.compile(
    r"要問(?:い)?合(?:わ)?せ|要お問い合わせ|募集要項(?:を|で)?(?:参照|ご参照|ご確認|確認)|"
    r"別途(?:お知らせ|通知|連絡|ご案内|定め)|未定|決まり次第|追って(?:お知らせ|連絡)|"
    r"後日(?:お知らせ|発表|公開|公表)|調整中|準備中"
)
_UNKNOWN_CONTEXT_RE = re.compile(r"期間|締切|締め切り|〆切|期限|受付|時期|日程|募集は|公募は")

# Recurring schedules.
# Every branch starts with a literal so that the search skips ahead fast (3か月に1回: the digit
# is not needed to know that the call repeats).
_RECUR_TRIGGER_RE = re.compile(
    r"年\s?(?:[2-9]|1[0-2])\s?回|か月(?:に1回|ごと|毎)|ヶ月(?:に1回|ごと|毎)|カ月(?:に1回|ごと|毎)"
    r"|ヵ月(?:に1回|ごと|毎)|ケ月(?:に1回|ごと|毎)|四半期|隔月|毎月"
)
_MONTHLY_RE = re.compile(r"毎月\s?(?:(\d{1,2})\s?日|(末))")
_MONTHLY_CONTEXT_RE = re.compile(r"締|〆|まで|必着|受付|申請|応募|募集|提出|報告|期間")
_MONTHLY_NEG_RE = re.compile(r"振込|振り込|支払|開催|発行|入金|活動日")

# Fiscal year (年度) in the title or text.
_FY_RE = re.compile(r"(?:(令和|平成)\s?(\d{1,2}|元)|((?:19|20)\d\d))(?:\([^)]{1,8}\))?年度")

_GRACE = timedelta(days=30)  # a deadline is rarely long before the page was published
# A weekday may place a date in the past (a page listing a closed call), but not this far back.
_WEEKDAY_PAST = timedelta(days=183)
# Channel deadlines of one call lie within this distance of each other; the deadline is then
# the LATEST of them (a group can still apply by some channel), each listed in note.channels.
_CHANNEL_WINDOW = 45


_CLASSIFIED: dict[str, tuple[str, str | None]] = {}  # labels repeat from call to call


def _classify(s: str) -> tuple[str, str | None]:
    """Class of a label clause (publication > other event > start > deadline words) and the
    last channel word in it."""
    if not s:
        return _NONE, None
    known = _CLASSIFIED.get(s)
    if known is None:
        if len(_CLASSIFIED) >= 4096:
            _CLASSIFIED.clear()
        known = _CLASSIFIED[s] = _classify_words(s)
    return known


def _classify_words(s: str) -> tuple[str, str | None]:
    found = _CLAUSE_RE.findall(s)
    if not found:
        return _NONE, None
    classes = set()
    channel = None
    for w in found:
        cls = _KEYWORDS.get(w)
        if cls is None:
            channel = _CHANNELS[w]
            if "申請" in w:  # 電子申請 is also a word about applying
                classes.add(_WEAK)
        else:
            classes.add(cls)
    for cls in _CLASS_ORDER:
        if cls in classes:
            return cls, channel
    return _NONE, channel


# --------------------------------------------------------------------------------------------
# Candidates: a single date, a range, or an open start


class _C:
    """One candidate deadline (or start), with what the words around it say."""

    __slots__ = (
        "basis",
        "channel",
        "cls",
        "end",
        "label",
        "pos",
        "round",
        "score",
        "start",
        "stop",
    )

    def __init__(self, start: _M | None, end: _M | None) -> None:
        self.start = start
        self.end = end  # None: an open start (X~ / Xから随時)
        self.pos = (start or end).start  # type: ignore[union-attr]
        self.stop = (end or start).end  # type: ignore[union-attr]
        self.cls = _NONE
        self.score = 0
        self.label: str | None = None  # label taken from a line above, shown in evidence
        self.round: str | None = None
        self.channel: str | None = None
        self.basis: DeadlineBasis | None = None

    @property
    def end_date(self) -> date | None:
        return self.end.value if self.end else None

    @property
    def start_date(self) -> date | None:
        return self.start.value if self.start else None


_JOINS = frozenset(
    sep + same for sep in ("~", "-", "から", "より", "→") for same in ("", "同年", "翌年")
)


def _joins(gap: str) -> bool:
    """Whether the text between two dates makes them a range: "~", " - ", "から", "~同年",
    or a separator ending the first line ("募集期間:2026年6月1日(月)~\n2026年7月31日")."""
    first, nl, rest = gap.partition("\n")
    if nl and rest.strip(" "):
        return False
    return first.replace(" ", "") in _JOINS


def _link(text: str, ms: list[_M]) -> list[_C]:
    """Pair dates into ranges (start ~ end), open starts (X~ / Xから随時) and single dates."""
    out: list[_C] = []
    i, n, size = 0, len(ms), len(text)
    while i < n:
        a = ms[i]
        sep = (
            _RANGE_SEP_RE.match(text, a.end) if a.end < size and text[a.end] in _SEP_FIRST else None
        )
        if sep:
            k = sep.end()
            line_ends = "\n" in sep.group()
            b = ms[i + 1] if i + 1 < n else None
            if (
                b is not None
                and b.start - k <= 3
                and _joins(text[a.end : b.start])
                # across a line break only when the next line is that date alone, not
                # "2026年4月22日~\n2026年4月22日 14:33更新"
                and not ("\n" in text[a.end : b.start] and _TRAIL_KIND_RE.match(text, b.end))
            ):
                out.append(_C(a, b))
                i += 2
                continue
            day = None if line_ends else _DAY_ONLY_RE.match(text, k)
            if day and a.d:  # 8月1日~15日
                d = int(day.group(1))
                end = _M(day.start(), day.end(), a.m, d, None)
                if a.value is not None:
                    end.value = _make(a.value.year, a.m, d)
                    end.explicit = end.value is not None
                if a.value is None or end.value is not None:
                    t = _TAIL_RE.match(text, end.end)
                    if t and t.end() > end.end:
                        tg = t.groups()
                        if tg[0] and tg[0] != "祝":
                            end.wd = _WEEKDAYS.index(tg[0])
                        end.time = _time_of(tg[1:])
                        end.end = t.end()
                    out.append(_C(a, end))
                    i += 1
                    continue
            token = sep.group().strip()
            if line_ends or not _TIME_AHEAD_RE.match(text, k):  # 14時~16時: a time range
                rest = text[k : k + 1]
                if (
                    line_ends
                    or token != "-"  # 4月1日~予算がなくなり次第終了, 6月1日から随時
                    or _OPEN_ROLLING_RE.match(text, k)
                    or rest in ("", "\n", "(", " ")
                ):
                    out.append(_C(a, None))
                    i += 1
                    continue
        out.append(_C(None, a))
        i += 1
    return out


def _today() -> date:
    """Last-resort anchor for a text with no year anywhere (pages are read when fetched)."""
    return date.today()


class _Ctx:
    """What the text says about its own time: reference date, years written nearby, 年度."""

    __slots__ = ("explicit", "fy", "positions", "ref", "today")

    def __init__(
        self, ref: date | None, explicit: list[_M], fy: int | None, today: date | None = None
    ) -> None:
        self.ref = ref
        self.today = today
        self.explicit = explicit  # mentions with a written year (not 実施期間 …), text order
        self.positions = [x.start for x in explicit]
        self.fy = fy

    def anchor(self, pos: int, m: int) -> date:
        """A date near which a yearless date at `pos` lies: the reference, else the nearest
        preceding date with a year, else the 年度 (April–March), else today."""
        if self.ref:
            return self.ref
        if self.explicit:
            j = bisect_left(self.positions, pos)
            return self.explicit[j - 1 if j else 0].value  # type: ignore[return-value]
        if self.fy:
            return date(self.fy if m >= 4 else self.fy + 1, m, 1)
        return self.today or _today()

    def resolve(self, m: int, d: int, wd: int | None, pos: int) -> date | None:
        """The year of a month-day: the weekday's year near the anchor (anchor year -1..+2);
        else the first occurrence on/after the anchor minus a grace of 30 days."""
        anchor = self.anchor(pos, m)
        if wd is not None:
            best: date | None = None
            # Near the page's date, a weekday may not push a date far into the past; with no
            # page date at all, the weekday is all there is.
            oldest = anchor - _WEEKDAY_PAST if self.ref else date.min
            for y in range(anchor.year - 1, anchor.year + 3):
                dt = _make(y, m, d)
                if (
                    dt
                    and dt.weekday() == wd
                    and dt >= oldest
                    and (best is None or abs((dt - anchor).days) < abs((best - anchor).days))
                ):
                    best = dt
            if best:
                return best
            # A wrong weekday (7月31日(木) on a page of June 2026, when 7/31 is a Friday and
            # was a Thursday only in 2025): the reference wins, the weekday is ignored.
        floor = anchor - _GRACE
        for y in (floor.year, floor.year + 1):
            dt = _make(y, m, d)
            if dt and dt >= floor:
                return dt
        return _make(floor.year + 2, m, d)  # 2月29日

    def resolve_pair(self, a: _M, b: _M) -> tuple[date, date] | None:
        """Years of a yearless range whose start and end both carry a weekday."""
        anchor = self.anchor(b.start, b.m)
        oldest = anchor - _WEEKDAY_PAST if self.ref else date.min
        best: tuple[date, date] | None = None
        for y in range(anchor.year - 1, anchor.year + 3):
            end = _with_year(b, y)
            if end is None or end.weekday() != b.wd or end < oldest:
                continue
            start = _before(a, end)
            if start is None or start.weekday() != a.wd:
                continue
            if best is None or abs((end - anchor).days) < abs((best[1] - anchor).days):
                best = (start, end)
        return best


def _with_year(x: _M, y: int) -> date | None:
    return _make(y, x.m, x.d)


def _after(x: _M, start: date) -> date | None:
    """A range's end: the start's year, or the next one when it would come before the start."""
    dt = _with_year(x, start.year)
    if dt is not None and dt < start:
        dt = _with_year(x, start.year + 1)
    return dt


def _before(x: _M, end: date) -> date | None:
    dt = _with_year(x, end.year)
    if dt is not None and dt > end:
        dt = _with_year(x, end.year - 1)
    return dt


def _resolve_all(cands: list[_C], ctx: _Ctx) -> None:
    """Give every yearless date a year; fix end-before-start year typos and wrong years."""
    for c in cands:
        a, b = c.start, c.end
        if a and b:
            if a.value is None and b.value is None:
                # Resolve the date that carries a weekday, else the end (it matters most);
                # with two weekdays, the years where both fit (12月1日(月)~1月16日(金)).
                pair = ctx.resolve_pair(a, b) if a.wd is not None and b.wd is not None else None
                if pair:
                    a.value, b.value = pair
                elif a.wd is not None and b.wd is None:
                    a.value = ctx.resolve(a.m, a.d, a.wd, a.start)
                    if a.value:
                        b.value = _after(b, a.value)
                else:
                    b.value = ctx.resolve(b.m, b.d, b.wd, b.start)
                    if b.value:
                        a.value = _before(a, b.value)
            elif b.value is None:
                b.value = _after(b, a.value)  # type: ignore[arg-type]
            elif a.value is None:
                a.value = _before(a, b.value)
            elif b.value < a.value:
                # 2024年12月15日~2024年1月25日: the end's year is a typo; a careful reader puts
                # the end after the start (unless the weekdays say the start was the typo).
                start_fixed = _before(a, b.value)
                if (
                    b.wd is not None
                    and b.value.weekday() == b.wd
                    and a.wd is not None
                    and a.value.weekday() != a.wd
                    and start_fixed is not None
                    and start_fixed.weekday() == a.wd
                ):
                    a.value = start_fixed
                else:
                    b.value = _after(b, a.value) or b.value
        else:
            x = a or b
            assert x is not None
            if x.value is None:
                x.value = ctx.resolve(x.m, x.d, x.wd, x.start)
            elif x.wd is not None and ctx.ref is not None and x.value.weekday() != x.wd:
                # 2025年7月31日(金) on a page of June 2026: the weekday fits 2026 and the
                # printed year would be long past, so the year is the typo.
                later = _with_year(x, x.value.year + 1)
                if (
                    later is not None
                    and later.weekday() == x.wd
                    and x.value < ctx.ref - timedelta(days=60)
                    and later >= ctx.ref - _GRACE
                ):
                    x.value = later


# --------------------------------------------------------------------------------------------
# Scoring


def _line_lead(text: str, ls: int, le: int, starts: list[int]) -> str:
    """The text of a line before its first date: usually its label (受付期間:)."""
    j = bisect_left(starts, ls)
    first = starts[j] if j < len(starts) and starts[j] < le else le
    return text[ls:first].strip()


def _inherited(text: str, ls: int, starts: list[int]) -> tuple[str, str | None]:
    """Label from the lines above a date that stands on its own line (応募締切\\n令和8年…)."""
    end = ls - 1
    lines = 0
    while end > 0 and lines < 4:
        ps = text.rfind("\n", 0, end) + 1
        lead = _line_lead(text, ps, end, starts)
        if lead:
            lines += 1
            j = bisect_left(starts, ps)
            has_date = j < len(starts) and starts[j] < end
            if not has_date and (":" in lead[:-1] or len(lead) > 20 or lead[-1] == "。"):
                # "金額:30万円" / "受付期間:未定" (a label with its own value), a title or a
                # sentence: the labels above are not ours
                break
            cls, _ = _classify(lead[-40:])
            if cls != _NONE:
                return cls, lead[-30:]
        elif ps < end:
            lines += 1  # a line of dates only (【第1回】… / 郵送 …)
        end = ps - 1
    return _NONE, None


def _score(text: str, cands: list[_C], starts: list[int]) -> None:
    """Class, score, round label, channel and basis of every candidate."""
    prev_stop = 0
    size = len(text)
    for c in cands:
        p = c.pos
        ls = text.rfind("\n", 0, p) + 1
        lower = max(ls, prev_stop, p - 40)
        k = text.rfind("。", lower, p)
        if k >= 0:
            lower = k + 1
        clause = text[lower:p]
        cls, c.channel = _classify(clause)
        tail = clause[-14:]
        if not _ROUND_CHARS.isdisjoint(tail):
            rm = _ROUND_RE.search(tail)
            if rm:
                c.round = rm.group(1).replace(" ", "")
        extended = "延長" in clause
        if cls in (_NONE, _WEAK):
            # Later dates on a line take the line's label; a date alone on its line takes the
            # label of the line above.
            lead_cls = _NONE
            label = None
            if lower > ls:
                lead = _line_lead(text, ls, p, starts)[-40:]
                lead_cls = _classify(lead)[0]
                extended = extended or "延長" in lead
            if lead_cls == _NONE:
                lead_cls, label = _inherited(text, ls, starts)
            if cls == _NONE or _SCORES.get(lead_cls, -1) > _SCORES[cls]:
                cls = lead_cls
                c.label = label
        # After the date: 締切 / まで / 必着 / 消印, or what else it is (更新, 開始, 開催 …).
        e = c.stop
        le = text.find("\n", e)
        if le < 0:
            le = size
        j = bisect_left(starts, e)
        nxt = starts[j] if j < len(starts) else size
        trail = text[e : min(le, nxt, e + 24)]
        if trail and c.end is not None:
            kind = _TRAIL_KIND_RE.match(trail)
            if kind:
                if kind.group(1):
                    cls = _PUB
                elif kind.group(2):
                    if c.start is None:
                        cls = _START
                else:
                    cls = _NEG
        score = _SCORES.get(cls, 0)
        if trail and cls in _SCORES:
            tokens = _TRAIL_TOKEN_RE.findall(trail)
            if tokens:
                if not _TRAIL_STRONG.isdisjoint(tokens):
                    score += 2
                elif "まで" in tokens or "迄" in tokens or "必着" in tokens or "消印" in tokens:
                    score += 1
                if "必着" in tokens:
                    c.basis = DeadlineBasis.ARRIVAL
                elif "消印" in tokens:
                    c.basis = DeadlineBasis.POSTMARK
                if "延長" in tokens and cls != _NONE:
                    extended = True
            if c.channel is None and trail[0] == "(":
                found = [w for w in _CLAUSE_RE.findall(trail[:12]) if w in _CHANNELS]
                if len(found) == 1:
                    c.channel = _CHANNELS[found[0]]
        if extended and cls in (_STRONG, _PERIOD, _WEAK):
            score += 5  # 【締切延長】応募締切を8月7日まで延長しました
        c.cls = cls
        c.score = score
        prev_stop = c.stop


# --------------------------------------------------------------------------------------------
# Evidence


def _snippet(text: str, s: int, e: int, label: str | None = None) -> str:
    """The clause around text[s:e]: same line, cut at 。, about 80 characters."""
    ls = text.rfind("\n", 0, s) + 1
    le = text.find("\n", e)
    if le < 0:
        le = len(text)
    room = max(10, 80 - (e - s))
    a = max(ls, s - room * 3 // 5)
    b = min(le, e + room * 2 // 5)
    k = text.rfind("。", a, s)
    if k >= 0:
        a = k + 1
    k = text.find("。", e, b)
    if k >= 0:
        b = k + 1
    snip = text[a:b].strip()
    if "\n" in snip:  # a range across two lines
        snip = " ".join(snip.split())
    if label and label not in snip:
        snip = f"{label.strip()} {snip}"
    return snip


# --------------------------------------------------------------------------------------------
# Recurring, rolling, unknown


def _recurring(
    text: str, ms: list[_M], cands: list[_C], ctx: _Ctx
) -> tuple[list[date], str] | None:
    """Dates of a repeating schedule (年4回 …, 毎月末日締切, 3か月に1回 …), next first."""
    if ctx.ref is not None:
        ref = ctx.ref
    elif ctx.fy and not ctx.explicit:
        ref = date(ctx.fy, 4, 1)  # no reference: the first date of the schedule in the 年度
    else:
        ref = date(ctx.anchor(0, 1).year, 1, 1)  # … or in the calendar year
    if "毎月" in text:
        for mo in _MONTHLY_RE.finditer(text):
            ls = text.rfind("\n", 0, mo.start()) + 1
            le = text.find("\n", mo.end())
            line = text[ls : le if le >= 0 else len(text)]
            if not _MONTHLY_CONTEXT_RE.search(line) or _MONTHLY_NEG_RE.search(line):
                continue
            day = 0 if mo.group(2) else int(mo.group(1))
            if day > 31:
                continue
            dates = []
            y, m = ref.year, ref.month
            while len(dates) < 12:
                last = _month_len(y, m)
                dt = date(y, m, last if day == 0 or day > last else day)
                if dt >= ref:
                    dates.append(dt)
                y, m = (y + 1, 1) if m == 12 else (y, m + 1)
            return dates, _snippet(text, mo.start(), mo.end())
    for tr in _RECUR_TRIGGER_RE.finditer(text):
        if tr.group().startswith("毎月"):
            continue
        le = text.find("\n", tr.end())
        if le < 0:
            le = len(text)
        seg = [x for x in ms if tr.end() <= x.start < le]
        stop = le
        if not seg:
            # The dates may be listed on the next lines (第1回 5月31日 / 第2回 …).
            for _ in range(6):
                if stop >= len(text):
                    break
                nl = text.find("\n", stop + 1)
                if nl < 0:
                    nl = len(text)
                more = [x for x in ms if stop < x.start < nl]
                if not more:
                    break
                seg.extend(more)
                stop = nl
        if (
            len(seg) < 2
            or any(x.explicit for x in seg)
            or any(c.start and c.end and tr.end() <= c.pos < stop for c in cands)
        ):
            continue  # dated rounds, or periods (前期:5月1日~5月29日): rounds, not a schedule
        dates = []
        for x in seg:
            for y in (ref.year, ref.year + 1):
                dt = _make(y, x.m, x.d)
                if dt and dt >= ref:
                    dates.append(dt)
                    break
        if dates:
            return sorted(set(dates)), _snippet(text, tr.start(), min(stop, tr.start() + 70))
    return None


def _rolling(text: str, starts: list[int], cands: list[_C]) -> tuple[int, int] | None:
    """Span of a rolling phrase (随時, 通年, 当分の間, 予算がなくなり次第終了 …) about applying.

    Strong phrases (随時受付, 当分の間 …) count anywhere outside other topics (相談は随時).
    予算がなくなり次第 counts on the line of the period, or when no fixed date is given.
    A bare 随時/通年/常時 counts next to a dated period (~随時, 3月31日(随時)) or as the value
    of a period label (受付期間:通年), never in a list of options or a fixed call's margins.
    """
    dated_lines = {text.rfind("\n", 0, c.pos) for c in cands if c.score > 0 or c.end is None}
    fixed = any(c.score > 0 for c in cands)
    for rx, strength in ((_ROLLING_STRONG_RE, 2), (_ROLLING_BUDGET_RE, 1), (_ROLLING_WEAK_RE, 0)):
        for mo in rx.finditer(text):
            s, e = mo.span()
            if text.startswith("更新", e):
                continue  # 随時更新
            ls = text.rfind("\n", 0, s) + 1
            lead = text[ls:s]
            k = lead.rfind("。")
            if k >= 0:
                lead = lead[k + 1 :]
            if _ROLLING_NEG_RE.search(lead) or _ROLLING_NEG_RE.match(text, e):
                continue
            if strength == 2 or ls - 1 in dated_lines:
                return s, e
            if fixed:
                continue
            if strength == 1 or _ROLLING_CONTEXT_RE.search(lead):
                return s, e
            if not lead.strip() and _inherited(text, ls, starts)[0] in (_STRONG, _PERIOD):
                return s, e
    return None


def _unknown_phrase(text: str, starts: list[int]) -> tuple[int, int] | None:
    """Span of 要問合せ / 募集要項参照 / 別途お知らせ … given as the application period."""
    for mo in _UNKNOWN_RE.finditer(text):
        s = mo.start()
        ls = text.rfind("\n", 0, s) + 1
        lead = text[ls:s]
        k = lead.rfind("。")
        if k >= 0:
            lead = lead[k + 1 :]
        if _UNKNOWN_CONTEXT_RE.search(lead):
            return mo.span()
        if not lead.strip() and _inherited(text, ls, starts)[0] in (_STRONG, _PERIOD, _WEAK):
            return mo.span()
    return None


def _fiscal_year(title: str, text: str) -> int | None:
    """The 年度 of the call, from the title first."""
    for s in (title, text):
        if s and "年度" in s:
            mo = _FY_RE.search(s)
            if mo:
                return int(mo.group(3)) if mo.group(3) else _era_year(mo.group(1), mo.group(2))
    return None


# --------------------------------------------------------------------------------------------
# Public API


def parse_date(text: str, *, reference: date | None = None) -> date | None:
    """First single date in a short string: "2026年1月30日 13:07更新", "R7.5.31", "8/13(木)".

    A date without a year takes the year that fits its weekday, else the first occurrence on
    or after `reference` minus 30 days (today when there is no reference).
    """
    if not text:
        return None
    ms = _scan(text, loose=True)
    if not ms:
        return None
    x = ms[0]
    if x.value is not None:
        return x.value
    return _Ctx(reference, [], None).resolve(x.m, x.d, x.wd, x.start)


def _info(
    deadline: date | None,
    kind: DeadlineKind,
    start: date | None = None,
    note: DeadlineNote | None = None,
    rounds: list[Round] | None = None,
    evidence: str | None = None,
    start_evidence: str | None = None,
) -> DeadlineInfo:
    return DeadlineInfo(
        deadline=deadline,
        kind=kind,
        application_start=start,
        note=note if note is not None else DeadlineNote(),
        rounds=rounds if rounds is not None else [],
        evidence=evidence,
        start_evidence=start_evidence,
    )


def _pick(cands: list[_C], ref: date | None) -> _C:
    """Among equally good candidates: the first whose end is on/after the reference, else the
    last (no reference: the first)."""
    cands = sorted(cands, key=lambda c: (c.end_date, -c.score))  # type: ignore[arg-type,return-value]
    if ref is None:
        return cands[0]
    for c in cands:
        if c.end_date >= ref:  # type: ignore[operator]
            return c
    return cands[-1]


def parse_deadline(
    text: str, *, title: str = "", reference: date | None = None, today: date | None = None
) -> DeadlineInfo:
    """The application deadline of a call (how it is chosen: see the module docstring).

    `reference` is the page's publication date; without it the text's own date (更新日 …,
    …時点), the years written nearby, the 年度 and weekdays place yearless dates. `today`
    (default: the clock) is the last resort for a text with no year anywhere.
    """
    if not text:
        return _info(None, DeadlineKind.UNKNOWN)
    ms = _scan(text)
    starts = [x.start for x in ms]
    cands = _link(text, ms) if ms else []
    if cands:
        _score(text, cands, starts)

    # The reference: the page's date, else a date the text gives as its own (更新日 / 時点).
    ref = reference
    if ref is None:
        for c in cands:
            if c.cls == _PUB and c.end is not None and c.end.explicit:
                ref = c.end.value
                break
    recur = _RECUR_TRIGGER_RE.search(text)
    if recur or any(x.value is None for x in ms):
        explicit = [
            x
            for c in cands
            if c.cls != _NEG
            for x in (c.start, c.end)
            if x is not None and x.explicit
        ]
        ctx = _Ctx(ref, explicit, _fiscal_year(title, text), today)
    else:
        ctx = _Ctx(ref, [], None, today)
    if cands:
        _resolve_all(cands, ctx)

    # 1. A repeating schedule wins (通年(毎月末日締切) is recurring, not rolling).
    if recur:
        rec = _recurring(text, ms, cands, ctx)
        if rec:
            dates, ev = rec
            return _info(
                dates[0],
                DeadlineKind.RECURRING,
                note=_note(text, None, None, None, [], []),
                rounds=[Round(label=None, start=None, end=d) for d in dates],
                evidence=ev,
            )

    deadline_cands = [
        c for c in cands if c.end is not None and c.end.value is not None and c.cls in _SCORES
    ]
    positives = [c for c in deadline_cands if c.score > 0]
    pool = positives or deadline_cands
    rolling = _rolling(text, starts, cands) if _ROLLING_ANY_RE.search(text) else None
    # Dates that only start the period: an open start (Xから随時, X~) or one labelled 受付開始.
    start_cands = [
        c
        for c in cands
        if (c.cls == _START and c.end_date is not None)
        or (c.end is None and c.start_date is not None and c.cls not in (_NEG, _PUB))
    ]

    if not pool or (rolling and not positives):
        # No deadline: rolling, or unknown.
        start_c = start_cands[0] if start_cands else None
        start = (start_c.start_date or start_c.end_date) if start_c else None
        start_ev = _snippet(text, start_c.pos, start_c.stop, start_c.label) if start_c else None
        if rolling:
            ev = _snippet(text, rolling[0], rolling[1])
            return _info(None, DeadlineKind.ROLLING, start, evidence=ev, start_evidence=start_ev)
        um = _unknown_phrase(text, starts)
        ev = _snippet(text, um[0], um[1]) if um else None
        return _info(None, DeadlineKind.UNKNOWN, start, evidence=ev, start_evidence=start_ev)

    if not positives:
        # "受付期間:未定" beats a stray unlabelled date.
        um = _unknown_phrase(text, starts)
        if um:
            return _info(None, DeadlineKind.UNKNOWN, evidence=_snippet(text, um[0], um[1]))

    # 2. Labelled rounds (前期/後期, 第1回/第2回): the first not yet over. Otherwise the best
    # score, and among equals the first not yet over (エントリー締切 before 書類提出締切).
    rounds: list[Round] = []
    best = max(c.score for c in pool)
    # Labelled rounds count even below the best score ("年2回募集します。\n前期:5月1日~…").
    round_cands = [c for c in pool if c.round]
    if len({c.end_date for c in deadline_cands if c.round}) > 1:
        round_cands = [c for c in deadline_cands if c.round]
    if round_cands and (len({c.end_date for c in round_cands}) > 1 or round_cands[0].score == best):
        by_end: dict[date, _C] = {}
        for c in sorted(round_cands, key=lambda c: c.pos):
            d = c.end_date
            assert d is not None
            seen = by_end.get(d)
            if seen is None or (seen.start is None and c.start is not None):
                if seen is not None and c.round is None:
                    c.round = seen.round
                by_end[d] = c
        rounds = [
            Round(label=by_end[d].round, start=by_end[d].start_date, end=d) for d in sorted(by_end)
        ]
        chosen = _pick(list(by_end.values()), ref)
    else:
        chosen = _pick([c for c in pool if c.score == best], ref)

    # 3. Different deadlines per channel (郵送 5/31消印有効, 電子申請 6/2 17時): the deadline is
    # the LATEST one, since a group can still apply by some channel then; each channel's own
    # date goes to note.channels so that the earlier ones can be shown too.
    final = chosen
    channels: list[ChannelDeadline] = []
    others: list[tuple[str | None, date, str | None, DeadlineBasis | None]] = []
    chosen_end = chosen.end_date
    assert chosen_end is not None
    if not rounds and any(c.channel for c in positives):
        cluster = [
            c
            for c in positives
            if abs((c.end_date - chosen_end).days) <= _CHANNEL_WINDOW  # type: ignore[operator]
        ]
        if any(c.channel for c in cluster):
            final = max(
                cluster,
                key=lambda c: (c.end_date, c.score, c.end.time is not None),  # type: ignore[union-attr]
            )
            listed = set()
            for c in sorted(cluster, key=lambda c: c.end_date):  # type: ignore[arg-type,return-value]
                key = (c.channel, c.end_date)
                if key in listed or (c.channel is None and c.end_date == final.end_date):
                    continue
                listed.add(key)
                entry = (c.channel, c.end_date, c.end.time, c.basis)  # type: ignore[union-attr]
                others.append(entry)  # type: ignore[arg-type]
                if c.channel:
                    channels.append(
                        ChannelDeadline(
                            channel=c.channel, deadline=entry[1], time=entry[2], basis=entry[3]
                        )
                    )
    deadline = final.end_date
    assert deadline is not None and final.end is not None

    # Time and basis: from the chosen date, else another mention of the same date, else the
    # text's general rule (締切日当日消印有効).
    time, basis = final.end.time, final.basis
    if time is None or basis is None:
        for c in sorted((c for c in positives if c.end_date == deadline), key=lambda c: -c.score):
            time = time or c.end.time  # type: ignore[union-attr]
            basis = basis or c.basis
    note = _note(text, deadline, time, basis, channels, others)

    # Start: of the chosen range (or round); else a 受付開始 date; else the labelled range that
    # ends on the deadline, or the best labelled range before it.
    start_c: _C | None = None
    if final.start is not None:
        start_c = final
    elif chosen.start is not None:
        start_c = chosen
    elif not rounds:
        if start_cands:
            start_c = start_cands[0]
        else:
            ranges = [
                c
                for c in positives
                if c.start is not None and c.start_date is not None and c.start_date <= deadline
            ]
            if ranges:
                start_c = min(ranges, key=lambda c: (c.end_date != deadline, -c.score, c.pos))
    evidence = _snippet(text, final.pos, final.stop, final.label)
    start, start_ev = None, None
    if start_c is not None:
        start = start_c.start_date if start_c.start is not None else start_c.end_date
        if start is not None and start <= deadline:
            start_ev = (
                evidence
                if start_c is final
                else _snippet(text, start_c.pos, start_c.stop, start_c.label)
            )
        else:
            start = None

    return _info(
        deadline,
        DeadlineKind.ROLLING if rolling else DeadlineKind.FIXED,
        start,
        note=note,
        rounds=rounds,
        evidence=evidence,
        start_evidence=start_ev,
    )


def _md(d: date) -> str:
    return f"{d.month}月{d.day}日"


def _note(
    text: str,
    deadline: date | None,
    time: str | None,
    basis: DeadlineBasis | None,
    channels: list[ChannelDeadline],
    others: list[tuple[str | None, date, str | None, DeadlineBasis | None]],
) -> DeadlineNote:
    """Note on the deadline, completed from the text's general rule (締切日当日消印有効,
    締切日の17時まで) when one deadline applies to every channel. `others`: the other dates of
    a per-channel deadline, for the short text ("23:59まで / 郵送 10月30日消印有効")."""
    if not others:
        if basis is None and ("消印" in text or "必着" in text):
            postmark = _DOC_POSTMARK_RE.search(text) is not None
            arrival = "必着" in text
            if postmark and not arrival:
                basis = DeadlineBasis.POSTMARK
            elif arrival and not postmark:
                basis = DeadlineBasis.ARRIVAL
        if time is None and ("締" in text or "〆" in text or "期限" in text):
            mo = _DOC_TIME_RE.search(text)
            if mo:
                time = _time_of(mo.groups())
    parts = [_note_text(time, basis)]
    labelled = {when for channel, when, _, _ in others if channel}
    extra = []
    main_channel = None
    for channel, when, t, b in others:
        if when == deadline and t == time and b is basis:
            main_channel = main_channel or channel  # the main deadline itself
            continue
        if channel is None and when in labelled:
            continue  # 受付期間 …12月11日 restated as 郵送 12月11日消印有効
        label = f"{_CHANNEL_JA[channel]} " if channel else ""
        extra.append(f"{label}{_md(when)}{_note_text(t, b) or 'まで'}")
    if extra and deadline is not None:
        # Several deadlines: say which one is the main one.
        label = f"{_CHANNEL_JA[main_channel]} " if main_channel else ""
        parts = [f"{label}{_md(deadline)}{parts[0] or 'まで'}", *extra]
    return DeadlineNote(
        basis=basis, time=time, channels=channels, text=" / ".join(p for p in parts if p) or None
    )


def _note_text(time: str | None, basis: DeadlineBasis | None) -> str:
    """17:00必着 / 消印有効 / 17:00まで."""
    if basis is DeadlineBasis.ARRIVAL:
        return f"{time or ''}必着"
    if basis is DeadlineBasis.POSTMARK:
        return f"{time or ''}消印有効"
    return f"{time}まで" if time else ""
