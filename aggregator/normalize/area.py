"""Where a call accepts applicants from: national, one prefecture, or one municipality."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from aggregator.normalize.text import clause_snippet

NATIONAL = "national"

PREFECTURES: tuple[str, ...] = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県",
    "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県",
    "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府",
    "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県",
    "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県",
    "鹿児島県", "沖縄県",
)  # fmt: skip
_PREF_SET = frozenset(PREFECTURES)

# Municipalities whose prefecture kyodo must know (an organizer 鎌ケ谷市 + 県内 → 千葉県):
# Chiba's 54 and the designated cities (whose wards appear as 京都市上京区).
_CHIBA = (
    "千葉市 銚子市 市川市 船橋市 館山市 木更津市 松戸市 野田市 茂原市 成田市 佐倉市 東金市 旭市 "
    "習志野市 柏市 勝浦市 市原市 流山市 八千代市 我孫子市 鴨川市 鎌ケ谷市 君津市 富津市 浦安市 "
    "四街道市 袖ケ浦市 八街市 印西市 白井市 富里市 南房総市 匝瑳市 香取市 山武市 いすみ市 "
    "大網白里市 酒々井町 栄町 神崎町 多古町 東庄町 九十九里町 芝山町 横芝光町 一宮町 睦沢町 "
    "長生村 白子町 長柄町 長南町 大多喜町 御宿町 鋸南町"
)
_DESIGNATED = {
    "札幌市": "北海道",
    "仙台市": "宮城県",
    "さいたま市": "埼玉県",
    "千葉市": "千葉県",
    "横浜市": "神奈川県",
    "川崎市": "神奈川県",
    "相模原市": "神奈川県",
    "新潟市": "新潟県",
    "静岡市": "静岡県",
    "浜松市": "静岡県",
    "名古屋市": "愛知県",
    "京都市": "京都府",
    "大阪市": "大阪府",
    "堺市": "大阪府",
    "神戸市": "兵庫県",
    "岡山市": "岡山県",
    "広島市": "広島県",
    "北九州市": "福岡県",
    "福岡市": "福岡県",
    "熊本市": "熊本県",
}
_MUNI_PREF: dict[str, str] = {name: "千葉県" for name in _CHIBA.split()} | _DESIGNATED
# Other spellings -> the official name (ケ/ヶ differ between cities; かな spellings of cities).
_ALIASES: dict[str, str] = {
    "鎌ヶ谷市": "鎌ケ谷市",
    "かまがや市": "鎌ケ谷市",
    "カマガヤ市": "鎌ケ谷市",
    "袖ヶ浦市": "袖ケ浦市",
    "龍ヶ崎市": "龍ケ崎市",
    "竜ヶ崎市": "龍ケ崎市",
    "竜ケ崎市": "龍ケ崎市",
    "関ヶ原町": "関ケ原町",
    "茅ケ崎市": "茅ヶ崎市",
    "鶴ケ島市": "鶴ヶ島市",
    "駒ケ根市": "駒ヶ根市",
    "鰺ケ沢町": "鰺ヶ沢町",
    "七ケ浜町": "七ヶ浜町",
}
# City names in kana, which the kanji-run pattern cannot find: searched literally.
_KANA_CITIES = (
    "かまがや", "カマガヤ", "さいたま", "つくばみらい", "つくば", "ひたちなか",
    "かすみがうら", "いすみ", "いちき串木野", "いなべ", "うきは", "えびの", "みどり", "あきる野",
    "南アルプス", "さくら", "みよし", "あま", "南さつま", "伊豆の国",
)  # fmt: skip


def _canonical_municipality(name: str) -> str:
    return _ALIASES.get(name, name)


# --- Eligibility cues --------------------------------------------------------------------
# A place counts only when it is said to be where applicants are: 千葉県内, 市内在住,
# 鎌ケ谷市に事務所, 船橋市を拠点, 県内で活動, 千葉県の団体. The pattern is anchored on the
# place suffix so that `re` skips every other character quickly.
_CUE = (
    r"(?:内(?!容|訳|会|部|閣|科|定|外)|在住|在勤|在学|在籍|全域"
    r"|に(?:所在|在住|住所|住む|お住|事務所|主たる事務所|本拠|拠点|活動拠点|本部|本店|活動の拠点)"
    r"|を(?:拠点|活動拠点|活動の拠点|中心|主な活動|対象|活動範囲|活動区域)"
    r"|で(?:活動|実施する|行う|開催する)|において(?:活動|実施)"
    r"|の(?:団体|NPO|非営利|市民活動|ボランティア|住民|子ども|地域団体)|民を対象)"
)
_PLACE_CUE = re.compile(r"[県府都道市区町村](?=" + _CUE + ")")
# 全国の団体, 全国で活動, 国内で活動する, 地域は問いません …
_NATIONAL_RE = re.compile(
    r"全国(?:の|で|各地|規模|的|から|どこ|を対象|に(?:所在|ある|事務所))"
    r"|日本国内|国内(?:で|に|の)(?:活動|所在|拠点|事務所|団体|非営利)"
    r"|地域(?:は|を)?(?:問わ|問い|不問)|所在地(?:は|を)?(?:問わ|問い|不問)"
)
_NAME_CHARS = "一-龥々〆ヵヶケ"
_NAME_BEFORE = re.compile(f"[{_NAME_CHARS}]{{1,8}}$")
_KANA_BEFORE = re.compile("(?:" + "|".join(sorted(_KANA_CITIES, key=len, reverse=True)) + ")$")
# Leading words that are not part of a place name: 対象地域千葉市内 → 千葉市.
_LEADING_WORDS = re.compile(
    r"^(?:対象|地域|区域|活動|実施|事業|主|所在|全域|県内|府内|都内|道内|旧|近隣|周辺|及|又|並"
    r"|年度|年|度|第|回|号)+"
)
_RELATIVE = frozenset(("", "本", "当", "同", "全", "貴", "同一"))
_GENERIC_END = frozenset("都道府県市区町村各他地学校挙特管")
_LIST_BEFORE = re.compile(
    f"((?:{'|'.join(PREFECTURES)})|[{_NAME_CHARS}]{{1,5}}[市区町村])(?:、|・|,|及び|および|又は|または|と|や)$"
)
_LIST_JOINERS = frozenset("、・,びたとや")
_EXCLUDED_AFTER = re.compile(r"[^。\n]{0,12}?(?:を除|以外|対象外|は除|は対象と(?:なり|し)ませ)")

# Lines that give the organizer's address or contact, or where an event takes place (説明会,
# 贈呈式), not the eligible area.
_CONTACT_RE = re.compile(
    r"〒|TEL|Tel|tel|電話|FAX|Fax|fax|E-?mail|e-?mail|メール|問い?合わ?せ|問合せ|連絡先"
    r"|会場|説明会|相談会|贈呈式|授賞式|表彰式|報告会|開催場所|開催地"
    r"|申込先|提出先|送付先|(?:住所|所在地|事務局|担当)\s*(?:[::】)]|$)"
)
_PREF_IN_TEXT = re.compile("|".join(PREFECTURES))
_MUNI_START = re.compile(f"([{_NAME_CHARS}]{{1,4}}?[市区町村])")
_KANA_START = re.compile(f"(?:{'|'.join(sorted(_KANA_CITIES, key=len, reverse=True))})[市町村]")
# A municipality named in running text: a kana name, or a kanji run ending in 市区町村 (cleaned
# by `_clean_name`: 令和8年度鎌ケ谷市 → 鎌ケ谷市).
_MUNI_IN_TEXT = re.compile(
    f"(?:{'|'.join(sorted(_KANA_CITIES, key=len, reverse=True))})[市町村]"
    f"|(?<![{_NAME_CHARS}])[{_NAME_CHARS}]{{1,8}}?[市区町村]"
)
_LEGAL_PREFIX = re.compile(
    r"^(?:(?:認定)?(?:特定非営利活動|NPO)法人|(?:公益|一般)(?:財団|社団)法人|社会福祉法人"
    r"|独立行政法人|学校法人|\([^)]{1,6}\))\s*"
)


def _snippet(text: str, start: int, end: int, width: int = 80) -> str:
    return clause_snippet(text, start, end, width)


def _is_name_char(char: str) -> bool:
    return "一" <= char <= "龥" or char in "々〆ヵヶケ"


def _line(text: str, pos: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return start, len(text) if end < 0 else end


def _is_contact(text: str, pos: int) -> bool:
    """True when `pos` is on an address or contact line, or right under a 所在地 / 連絡先 label."""
    start, end = _line(text, pos)
    if _CONTACT_RE.search(text, start, end):
        return True
    if start >= 2:
        prev = text.rfind("\n", 0, start - 1) + 1
        if start - 1 - prev <= 12 and _CONTACT_RE.search(text, prev, start - 1):
            return True
    return False


@lru_cache(maxsize=512)
def _place_of(name: str | None) -> tuple[str | None, str | None]:
    """(prefecture, municipality) an organizer or area string names at its start."""
    if not name:
        return None, None
    name = unicodedata.normalize("NFKC", name).strip()
    name = _LEGAL_PREFIX.sub("", name).strip()
    pref = None
    for candidate in (name[:3], name[:4]):
        if candidate in _PREF_SET:
            pref = candidate
            name = name[len(candidate) :].lstrip()
            break
    muni = None
    kana = _KANA_START.match(name)
    if kana:
        muni = _canonical_municipality(kana.group())
    else:
        m = _MUNI_START.match(name)
        if m and m.group(1)[0] not in "全各都地":  # 全国町村会, 都市再生機構: not a place
            muni = _canonical_municipality(m.group(1))
    if pref is None and muni is not None:
        pref = _MUNI_PREF.get(muni)
    return pref, muni


def _parse_fallback(fallback: str | None) -> tuple[str | None, str | None, bool]:
    """(prefecture, municipality, is_national) from the source's own area."""
    if not fallback:
        return None, None, False
    if fallback == NATIONAL or fallback.strip() in ("全国", "national"):
        return None, None, True
    if fallback.startswith("prefecture:"):
        return fallback.split(":", 1)[1], None, False
    if fallback.startswith("municipality:"):
        muni = fallback.split(":", 1)[1]
        return _MUNI_PREF.get(muni), muni, False
    pref, muni = _place_of(fallback)
    return pref, muni, False


class _Mention:
    __slots__ = ("end", "level", "source", "start", "value")

    def __init__(self, level: int, value: str, source: str, start: int, end: int) -> None:
        self.level = level  # 2 municipality, 1 prefecture
        self.value = value
        self.source = source
        self.start = start
        self.end = end


def _mentions(
    text: str,
    org_pref: str | None,
    org_muni: str | None,
    title: str,
    fb_pref: str | None,
    fb_muni: str | None,
) -> list[_Mention]:
    """Places stated as where applicants must be, in reading order."""
    found: list[_Mention] = []
    for m in _PLACE_CUE.finditer(text):
        pos = m.start()
        suffix = text[pos]
        run, start = "", pos
        if pos and _is_name_char(text[pos - 1]):
            before = _NAME_BEFORE.search(text, max(0, pos - 8), pos)
            if before:
                run, start = before.group(), before.start()
        if suffix in "県府都道":
            mention = _prefecture_mention(text, pos, run, suffix, org_pref, title, fb_pref)
        else:
            if not run and pos and "ぁ" <= text[pos - 1] <= "ヿ":
                kana = _KANA_BEFORE.search(text, max(0, pos - 8), pos)
                if kana:
                    run, start = kana.group(), kana.start()
            mention = _municipality_mention(text, pos, run, suffix, org_muni, title, fb_muni)
        if mention is None or _EXCLUDED_AFTER.match(text, pos + 1) or _is_contact(text, pos):
            continue
        level, value = mention
        found.append(_Mention(level, value, text, start, pos + 1))
        # A list before the last name shares its cue: 船橋市、鎌ケ谷市内 / 千葉県・茨城県内.
        at = start
        while at and text[at - 1] in _LIST_JOINERS:
            prev = _LIST_BEFORE.search(text, max(0, at - 14), at)
            if prev is None:
                break
            name = prev.group(1)
            if name in _PREF_SET:
                value = name
            else:
                clean = _clean_name(name[:-1])
                if clean is None:
                    break
                value = _canonical_municipality(clean + name[-1])
            found.append(
                _Mention(1 if name in _PREF_SET else 2, value, text, prev.start(1), pos + 1)
            )
            at = prev.start(1)
    return found


def _prefecture_mention(
    text: str,
    pos: int,
    run: str,
    suffix: str,
    org_pref: str | None,
    title: str,
    fb_pref: str | None,
) -> tuple[int, str] | None:
    for size in (4, 3):
        name = text[max(0, pos - size + 1) : pos + 1]
        if name in _PREF_SET:
            return 1, name
    if suffix == "都" and run in _RELATIVE:
        return 1, "東京都"
    if suffix == "道" and run in _RELATIVE:
        return 1, "北海道"
    if run not in _RELATIVE or run == "全":
        return None  # 都道府県内, 同一都道府県内, 各県内: no one prefecture
    # 県内 / 府内: the prefecture named earlier on the line, else the organizer's, the title's,
    # the source's.
    line_start, _ = _line(text, pos)
    named = _PREF_IN_TEXT.findall(text, line_start, pos) if pos > line_start + 2 else []
    candidates = [*named[-1:], org_pref, _title_place(title)[0], fb_pref]
    for pref in candidates:
        if pref and pref[-1] == suffix:
            return 1, pref
    return None


def _clean_name(run: str) -> str | None:
    """The municipality name in a run of kanji before 市/区/町/村, or None if it is not one."""
    for pref in (run[:3], run[:4]):
        if pref in _PREF_SET and len(run) > len(pref):
            run = run[len(pref) :]
            break
    if "郡" in run:
        run = run[run.rindex("郡") + 1 :]
    run = _LEADING_WORDS.sub("", run)
    if not run or run[-1] in _GENERIC_END or not 1 <= len(run) <= 5:
        return None
    return run


def _municipality_mention(
    text: str,
    pos: int,
    run: str,
    suffix: str,
    org_muni: str | None,
    title: str,
    fb_muni: str | None,
) -> tuple[int, str] | None:
    if run in _RELATIVE:
        # 市内 / 町内: the municipality named earlier on the line, else the organizer's, …
        line_start, _ = _line(text, pos)
        named = []
        if text.find(suffix, line_start, pos) >= 0:
            named = [
                _canonical_municipality(_clean_name(m.group()[:-1]) + m.group()[-1])
                for m in _MUNI_IN_TEXT.finditer(text, line_start, pos)
                if _clean_name(m.group()[:-1])
            ]
        for muni in [*named[-1:], org_muni, _title_place(title)[1], fb_muni]:
            if muni and muni[-1] == suffix:
                return 2, muni
        return None
    if suffix == "区" and "市" in run[:-1]:
        # A ward of a designated city: 京都市上京区内.
        city, ward = run.rsplit("市", 1)
        city_name = _clean_name(city)
        if city_name and ward and ward[-1] not in _GENERIC_END:
            return 2, f"{city_name}市{ward}区"
    name = _clean_name(run)
    if name is None:
        return None
    return 2, _canonical_municipality(name + suffix)


@lru_cache(maxsize=512)
def _title_place(title: str) -> tuple[str | None, str | None]:
    """The prefecture and municipality a title names (【鎌ケ谷市】…, 千葉県NPO活動補助金)."""
    if not title:
        return None, None
    pref_match = _PREF_IN_TEXT.search(title)
    pref = pref_match.group() if pref_match else None
    muni = None
    for m in _MUNI_IN_TEXT.finditer(title):
        name = _clean_name(m.group()[:-1])
        if name:
            muni = _canonical_municipality(name + m.group()[-1])
            break
    if pref is None and muni is not None:
        pref = _MUNI_PREF.get(muni)
    return pref, muni


def parse_area(
    text: str,
    *,
    title: str = "",
    organizer: str | None = None,
    fallback: str | None = None,
    home: str | None = None,
) -> tuple[str, str | None]:
    """("national" | "prefecture:千葉県" | "municipality:鎌ケ谷市", evidence) for a normalized call.

    The narrowest place the text states as where applicants must be wins; 県内 / 市内 without a
    name take it from the line, the organizer, the title or the source's own area; with no
    statement, the source's own area (`fallback`), else national. `home` is where the publishing
    site is (a prefectural portal relays national calls too): it only names an unnamed 県内 / 市内.
    """
    org_pref, org_muni = _place_of(organizer)
    fb_pref, fb_muni, fb_national = _parse_fallback(fallback)
    home_pref, home_muni, _ = _parse_fallback(home)
    found: list[_Mention] = []
    for source in (title, text):
        if source:
            found += _mentions(
                source, org_pref, org_muni, title, fb_pref or home_pref, fb_muni or home_muni
            )

    munis = [m for m in found if m.level == 2]
    prefs = [m for m in found if m.level == 1]
    if munis:
        names = {m.value for m in munis}
        if len(names) == 1:
            return f"municipality:{munis[0].value}", _evidence(munis[0])
        # Several municipalities: the prefecture they share, as far as kyodo can tell.
        shared = {_MUNI_PREF.get(m.value) for m in munis}
        pref_names = {m.value for m in prefs}
        if len(pref_names) == 1:
            return f"prefecture:{prefs[0].value}", _evidence(prefs[0])
        if len(shared) == 1 and None not in shared:
            return f"prefecture:{shared.pop()}", _evidence(munis[0])
        pref = org_pref or fb_pref
        if pref:
            return f"prefecture:{pref}", _evidence(munis[0])
        return NATIONAL, _evidence(munis[0])
    if prefs:
        if len({m.value for m in prefs}) == 1:
            return f"prefecture:{prefs[0].value}", _evidence(prefs[0])
        return NATIONAL, _evidence(prefs[0])  # several prefectures: not one prefecture's call
    for source in (title, text):
        national = _NATIONAL_RE.search(source) if source else None
        if national:
            return NATIONAL, _snippet(source, national.start(), national.end())
    if fb_national:
        return NATIONAL, None
    if fb_muni:
        return f"municipality:{fb_muni}", None
    if fb_pref:
        return f"prefecture:{fb_pref}", None
    return NATIONAL, None


def _evidence(mention: _Mention) -> str:
    return _snippet(mention.source, mention.start, mention.end)
