"""Who may apply (法人格, legal forms, members, years active) and which costs are covered.

Input is text that already went through `normalize_text`. Each parser makes one regex pass
over the text to find its anchors (legal forms, 法人格, cost items …) and then looks only at
the few characters around each anchor (and, for a legal form, at the heading lines above
it), so that a call costs ~5-20 µs for 1,000 characters.
"""

from __future__ import annotations

import re

from aggregator.record import CostsCovered, Coverage, Eligibility

# ---------------------------------------------------------------------------------------------
# Evidence
# ---------------------------------------------------------------------------------------------


def _clause(text: str, start: int, end: int, limit: int = 80) -> str:
    """The clause around text[start:end], trimmed at line breaks and 。 to about `limit` chars."""
    lo = max(0, end - limit)
    cut = max(text.rfind("\n", lo, start), text.rfind("。", lo, start))
    if cut != -1:
        lo = cut + 1
    return text[lo : _clause_end(text, end, max(end, lo + limit) - end)].strip()


def _clause_end(text: str, pos: int, limit: int) -> int:
    """End of the clause that runs on from `pos`, at most `limit` characters on."""
    hi = min(len(text), pos + limit)
    for stop in ("\n", "。"):
        i = text.find(stop, pos, hi)
        if i != -1:
            hi = i
    return hi


# ---------------------------------------------------------------------------------------------
# Who may apply
# ---------------------------------------------------------------------------------------------

# One pass finds every anchor: legal forms and the words the 法人格 rules hang on. A flat
# alternation of plain words, without groups, is what sre scans fastest (a named group or a
# nested trie around it costs 10-50x); each hit is then read with small anchored matches.
_FORMS: dict[str, str] = {  # as sources write them → the one name kyodo uses
    "特定非営利活動法人": "NPO法人",
    "認定特定非営利活動法人": "NPO法人",
    "NPO法人": "NPO法人",
    "認定NPO法人": "NPO法人",
    "一般社団法人": "一般社団法人",
    "一般財団法人": "一般財団法人",
    "公益社団法人": "公益社団法人",
    "公益財団法人": "公益財団法人",
    "社会福祉法人": "社会福祉法人",
    "医療法人": "医療法人",
    "学校法人": "学校法人",
    "任意団体": "任意団体",
    "ボランティア団体": "ボランティア団体",
    "ボランティアグループ": "ボランティア団体",
    "自治会": "自治会",
    "町内会": "自治会",
    "株式会社": "株式会社",
}
_FORM_ORDER = list(dict.fromkeys(_FORMS.values()))
_INFORMAL_FORMS = ("任意団体", "ボランティア団体", "自治会")
_OTHER_ANCHORS = (
    "法人格",
    "法人登記",
    "市民活動団体",
    "法人に限",
    "法人等に限",
    "法人であること",
)
# Calls for businesses (jGrants' usual audience): a citizen group cannot apply.
_BUSINESS_ANCHORS = ("中小企業者", "中小企業等", "個人事業主", "小規模事業者", "中堅企業")


def _alternation(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_ANCHOR_RE = re.compile(_alternation([*_FORMS, *_OTHER_ANCHORS, *_BUSINESS_ANCHORS]))

# What is said about 法人格, read at each 法人格 anchor.
_POSITIVE = (
    r"(?:応募|申請)?(?:可|でき(?!ません|ない)|対象(?!外|と(?:なりません|ならない|しない|はなり))"
    r"|OK|歓迎|含)"
)
_LEGAL_PERSON_YES = re.compile(
    r"法人格の?有無[^。\n]{0,12}?(?:問わ|問い|不問|関わらず|かかわらず|関係なく)"
    r"|法人格(?:は|を)?(?:問わ|問い|不問)"
    r"|法人格(?:は|の取得は)?(?:不要|必要(?:ありません|ない|としない|とせず))"
    r"|法人格(?:が|の|を)?(?:ない|無い|なく|持たない|有しない|有さない)[^。\n]{0,12}?(?:も|でも)"
    r"[^。\n]{0,16}?" + _POSITIVE
)
_LEGAL_PERSON_NO = re.compile(
    r"法人格を(?:有する|持つ|取得している|取得した|有している)(?:団体|こと|者|法人)"
    r"|法人格(?:の取得)?が(?:必要|必須|要件)"
    r"|法人登記(?:を|が)?(?:している|済み|済|されている|完了している)[^。\n]{0,8}?に限"
)
# Right after an informal form or 市民活動団体: "も可", "でも応募できます", "を含む" …
_INFORMAL_YES_AFTER = re.compile(
    r"(?:等|など)?(?:(?:も|でも)?(?:応募|申請)?可|(?:も|でも)"
    + _POSITIVE
    + r"|を含(?:む|め|みます)|の場合(?:は|、|でも)"
    + r"|\)?(?:が|を)対象(?!外|と(?:なりません|ならない|しない)))"
    # "任意団体、個人の呼びかけによるグループも可", "(任意団体)による応募も可能です"
    r"|[^。\n]{0,24}?(?:も|でも)(?:応募|申請)?(?:可|でき(?!ません|ない)|歓迎)"
)
# … or "は対象外", "は除く": excluded (said of any form), searched in the few characters after.
_EXCLUDED_AFTER = re.compile(
    r"対象外|除く|除きます|不可|応募でき(?:ません|ない)|申請でき(?:ません|ない)"
    r"|対象と(?:なりません|しません|ならない|はなりません)"
)
_EXCLUDED_SPAN = 8 + 7  # up to 8 characters between the form and the longest word
# Right after a legal-person form: "に限る", "であること": only legal persons may apply.
_ONLY_AFTER = re.compile(r"(?:\([^()\n]{0,12}\))?(?:等)?(?:に限(?:る|り|ります|定)|であること)")
# Right after a form: it is said to be eligible, wherever it stands.
_FORM_CUE = re.compile(
    r"(?:等|など)?(?:に限|であること|も|でも|を対象|が対象|を含|は応募でき|は申請でき|可)"
)
# A form followed by a name is the organizer ("公益財団法人 洲崎福祉財団が実施").
_ORGANIZER_NAME = re.compile(
    r" ?[^\s、,。・/()「」等及又もやでにとをがはの※]{1,20}?(?:財団|基金|協会|機構|センター|会社)"
    r"(?!法人)"
)

# Headings that open a "who may apply" passage; a form under one counts as eligible. Only
# headings at the start of a line (after bullets, 【, "助成の") are looked at.
_ELIGIBLE_HEADINGS = (
    "対象団体",
    "応募資格",
    "申請資格",
    "対象となる団体",
    "対象となる方",
    "申請できる団体",
    "提案できる団体",
    "応募できる団体",
    "応募団体の要件",
    "助成対象団体",
    "補助対象団体",
    "応募対象",
    "申請対象",
    "対象条件",
    "応募要件",
    "申請要件",
    "応募条件",
    "申請条件",
    "対象者",
    "助成対象者",
    "対象:",
    "対象】",
    "対象 :",
)
_ELIGIBLE_HEADING_AT = re.compile(
    r"[\s・■□●○◆◇▼▽★☆【\[(<※*\-0-9.)]{0,6}(?:助成の|補助の)?(?:応募・)?(?:"
    + _alternation(_ELIGIBLE_HEADINGS)
    + ")"
)
_OPEN_LIST = re.compile(
    r"等|など|ほか|その他の(?!非営利法人|法人)|団体|グループ|サークル|会$|住民|市民|個人|ボランティア"
)
_ELIGIBLE_KEYS = re.compile("対象|資格|要件|条件|できる団体")  # in every eligible heading
_CONTEXT_SPAN = 300  # how far (chars) a "who may apply" heading reaches
_LIST_EVIDENCE_LIMIT = 160  # forms listed over several lines: their clauses, joined
_CONTEXT_LINES = 15


def _is_heading_line(text: str, start: int) -> bool:
    """Whether the line at `start` opens another section: "【…】", "■応募方法", "・助成期間:…"."""
    if text.startswith("【", start):
        return True
    eol = text.find("\n", start, start + 21)
    if text.startswith(("■", "●", "◆", "□", "<"), start):
        return eol != -1  # a short line: a heading, not a long bulleted condition
    return text.find(":", start, start + 12) != -1


def _under_eligible_heading(text: str, pos: int, memo: dict[int, bool]) -> bool:
    """Whether the nearest heading line above `pos` (≤ 300 chars) is a "who may apply" one."""
    line = text.rfind("\n", 0, pos) + 1
    start = line
    seen: list[int] = []
    result = False
    # The form's own line first ("・対象団体:NPO法人"), then the lines above it.
    for _ in range(_CONTEXT_LINES):
        if start in memo:  # a line above that was decided for an earlier form of a list
            result = memo[start]
            break
        seen.append(start)
        if _ELIGIBLE_KEYS.search(text, start, start + 24) and _ELIGIBLE_HEADING_AT.match(
            text, start
        ):
            result = True
            break
        if (start < line and _is_heading_line(text, start)) or start == 0:
            break
        start = text.rfind("\n", 0, start - 1) + 1
        if pos - start > _CONTEXT_SPAN:
            break
    for s in seen:
        memo[s] = result
    return result


def _count_before(text: str, end: int) -> tuple[int, int] | None:
    """The number written right before `end` ("5" of "5名以上") as (value, start)."""
    j = end
    while j > 0 and text[j - 1].isdigit() and end - j < 3:
        j -= 1
    return (int(text[j:end]), j) if j < end else None


# Matched on the reversed text before the number: "構成員が" / "会員数:" / "団体の構成員は".
_MEMBER_BEFORE_REV = re.compile(
    r"\s*:?(?:が|は)?(?:数の?)?(?:員成構|員会|ーバンメ|員団|フッタス|体団)"
)
_MEMBER_AFTER = re.compile(r"(?:の|で)(?:構成|組織|活動する|会員|メンバー|団体|グループ)")
_NOT_MEMBERS = ("参加", "定員", "受講", "来場", "利用", "募集", "対象者", "役員", "理事")
# Reversed, before the number: "活動実績", "設立後", "設立から", "活動歴が".
_YEARS_BEFORE_REV = re.compile(
    r"\s*:?(?:が|は)?(?:後|らか|てし|降以てし)?"
    r"(?:績実|歴動活|間期動活|数年動活|動活|立設|足発|成結|立創|設創)"
)
_YEARS_AFTER = re.compile(r"の?(?:活動|実績|継続|経過)")


def _minimums(text: str, evidence: dict[str, str]) -> tuple[int | None, int | None]:
    """(min members, min years active) from "構成員5名以上", "活動実績2年以上" …"""
    members: int | None = None
    years: int | None = None
    i = text.find("以上")
    while i != -1 and (members is None or years is None):
        unit = text[i - 1 : i]
        if unit in ("名", "人") and members is None:
            found = _count_before(text, i - 1)
            if found is not None:
                value, start = found
                before = text[max(0, start - 12) : start]
                if not any(word in before for word in _NOT_MEMBERS) and (
                    _MEMBER_BEFORE_REV.match(before[::-1]) or _MEMBER_AFTER.match(text, i + 2)
                ):
                    members = value
                    evidence["min_members"] = _clause(text, start, i + 2)
        elif unit == "年" and years is None:
            found = _count_before(text, i - 1)
            if found is not None:
                value, start = found
                before = text[max(0, start - 10) : start][::-1]
                if _YEARS_BEFORE_REV.match(before) or _YEARS_AFTER.match(text, i + 2):
                    years = value
                    evidence["min_years_active"] = _clause(text, start, i + 2)
        i = text.find("以上", i + 2)
    return members, years


def parse_eligibility(text: str) -> tuple[Eligibility, dict[str, str]]:
    """Who may apply: 法人格 required or not, named legal forms, members and years minimums."""
    evidence: dict[str, str] = {}
    # Spans (start, end) of the evidence; the clauses are cut out at the end, once.
    yes: tuple[int, int] | None = None  # informal groups may apply
    no: tuple[int, int] | None = None  # only legal persons may
    forms: dict[str, tuple[int, int]] = {}  # canonical form -> where it was named
    business: tuple[int, int] | None = None  # the call is addressed to businesses
    memo: dict[int, bool] = {}
    for m in _ANCHOR_RE.finditer(text):
        word, start, end = m.group(), m.start(), m.end()
        if word in _BUSINESS_ANCHORS:
            if business is None and not _EXCLUDED_AFTER.search(
                text, end, _clause_end(text, end, _EXCLUDED_SPAN)
            ):
                business = (start, end)
            continue
        if word == "法人登記":
            if no is None and _LEGAL_PERSON_NO.match(text, start):
                no = (start, end)
            continue
        if word == "法人格":
            if yes is None and _LEGAL_PERSON_YES.match(text, start):
                yes = (start, end)
            elif no is None and _LEGAL_PERSON_NO.match(text, start):
                no = (start, end)
            continue
        if word == "市民活動団体":
            if yes is None and _INFORMAL_YES_AFTER.match(text, end):
                yes = (start, end)
            continue
        if word not in _FORMS:  # 法人に限る / 法人であること
            if no is None:
                no = (start, end)
            continue
        name = _FORMS[word]
        informal_form = name in _INFORMAL_FORMS
        if name in forms and (yes if informal_form else no) is not None:
            continue  # nothing more to learn from this form
        if _EXCLUDED_AFTER.search(text, end, _clause_end(text, end, _EXCLUDED_SPAN)):
            if informal_form and no is None:
                no = (start, end)  # 任意団体は対象外
            continue
        cue = _FORM_CUE.match(text, end)
        if informal_form:
            if yes is None and _INFORMAL_YES_AFTER.match(text, end):
                yes = (start, end)
        elif no is None and _ONLY_AFTER.match(text, end):
            no = (start, end)  # NPO法人に限る
        if name in forms or (cue is None and _ORGANIZER_NAME.match(text, end)):
            continue
        if cue is not None or _under_eligible_heading(text, start, memo):
            forms[name] = (start, end)

    legal_forms = [name for name in _FORM_ORDER if name in forms]
    if legal_forms:
        # One clause per line: a list names several forms on one line.
        by_line: dict[int, tuple[int, int]] = {}
        for name in legal_forms:
            span = forms[name]
            by_line.setdefault(text.rfind("\n", 0, span[0]), span)
        clauses = dict.fromkeys(_clause(text, *span) for span in sorted(by_line.values()))
        evidence["legal_forms"] = " / ".join(clauses)[:_LIST_EVIDENCE_LIMIT]
    informal: bool | None = None
    if yes is not None:  # an explicit opening wins over "法人格を有する団体"
        informal, evidence["informal_groups_ok"] = True, _clause(text, *yes)
    elif no is not None:
        informal, evidence["informal_groups_ok"] = False, _clause(text, *no)
    elif business is not None and not any(n in forms for n in _INFORMAL_FORMS):
        informal, evidence["informal_groups_ok"] = False, _clause(text, *business)
    elif legal_forms and not any(n in forms for n in _INFORMAL_FORMS):
        # "対象:NPO法人、一般社団法人(非営利型)": only legal persons are named as eligible,
        # unless the clause leaves the list open (等, など, グループ, 市民活動団体 …).
        span = forms[legal_forms[0]]
        clause = _clause(text, *span)
        if not _OPEN_LIST.search(clause):
            informal, evidence["informal_groups_ok"] = False, clause
    else:
        named = [forms[name] for name in _INFORMAL_FORMS if name in forms]
        if named:  # 対象条件: "NPO法人 任意団体・地域住民組織など": named as eligible
            informal, evidence["informal_groups_ok"] = True, _clause(text, *named[0])

    members, years = _minimums(text, evidence) if "以上" in text else (None, None)
    return (
        Eligibility(
            informal_groups_ok=informal,
            legal_forms=legal_forms,
            min_members=members,
            min_years_active=years,
        ),
        evidence,
    )


# ---------------------------------------------------------------------------------------------
# Costs covered
# ---------------------------------------------------------------------------------------------

# Cost words → CostsCovered attribute. 会場費 / 会場借上料 are no rent: a hall for an event
# is covered almost everywhere; the question for small groups is the office (家賃, 賃借料).
_COST_ITEMS: dict[str, str] = {
    "人件費": "personnel",
    "賃金": "personnel",
    "給与": "personnel",
    "給料": "personnel",
    "謝金": "honoraria",
    "謝礼": "honoraria",
    "講師料": "honoraria",
    "家賃": "rent",
    "事務所賃料": "rent",
    "賃借料": "rent",
    "賃料": "rent",
    "備品": "equipment",
    "機材": "equipment",
}
_COST_LIST_HEADINGS: dict[str, Coverage] = {
    "対象経費": Coverage.YES,
    "助成対象経費": Coverage.YES,
    "補助対象経費": Coverage.YES,
    "対象となる経費": Coverage.YES,
    "対象になる経費": Coverage.YES,
    "使途": Coverage.YES,
    "対象外経費": Coverage.NO,
    "対象外となる経費": Coverage.NO,
    "対象外の経費": Coverage.NO,
    "対象とならない経費": Coverage.NO,
    "対象にならない経費": Coverage.NO,
    "対象とならないもの": Coverage.NO,
    "対象外となるもの": Coverage.NO,
    "以下は対象外": Coverage.NO,
}
_COSTS_RE = re.compile(_alternation([*_COST_ITEMS, *_COST_LIST_HEADINGS]))
# What is said right after a cost word, in the same clause: the first of these decides.
# One flat alternation (no groups: sre scans those fastest); _COST_NO tells which side.
_COST_NO_WORDS = (
    r"対象外|対象と(?:なりません|ならない|しない|しません|はなりません|はならない)"
    r"|対象にな(?:りません|らない)|除く|除き|除いた|以外|含ま(?:ない|ず|れません|れない)"
    r"|認められ(?:ない|ません)|不可|計上でき(?:ない|ません)|支出でき(?:ない|ません)"
    r"|充てる?ことはでき|充てられ(?:ない|ません)|使用でき(?:ない|ません)"
    r"|助成(?:しない|しません|できません)"
)
_COST_SIGNAL = re.compile(
    _COST_NO_WORDS
    + r"|対象(?!外|経費|と(?:なりません|ならない|しない|しません|はな)|にな(?:りません|らない))"
    r"|可能|も可|を含(?:む|め|みます)|計上(?:可|でき)|充て(?:る|られ)ことができ"
)
_COST_NO = re.compile(_COST_NO_WORDS)
_SIGNAL_SPAN = 40  # how far after a cost word its verdict may stand
_LIST_SPAN = 200  # how far a 対象経費 / 対象外経費 list runs
_SECTION_MARK = re.compile("【|■|●|\n\n")  # a new heading ends a list
# Precedence among what several mentions of one cost say: what is said of the cost itself
# beats list membership, and an exclusion beats an inclusion (the narrower rule, and the
# safer one to tell a small group).
_RANK = {("said", Coverage.NO): 4, ("said", Coverage.YES): 3, ("list", Coverage.NO): 2}
_RANK_DEFAULT = 1


def parse_costs(text: str) -> tuple[CostsCovered, dict[str, str]]:
    """Whether staff pay, honoraria, rent and equipment are covered (人件費は対象外 …)."""
    # attribute -> (rank, coverage, evidence span)
    verdicts: dict[str, tuple[int, Coverage, int, int]] = {}
    last_list: tuple[int, Coverage] | None = None  # (end of heading, coverage)
    for m in _COSTS_RE.finditer(text):
        word, start, end = m.group(), m.start(), m.end()
        if word in _COST_LIST_HEADINGS:
            last_list = (end, _COST_LIST_HEADINGS[word])
            continue
        attr = _COST_ITEMS[word]
        hi = _clause_end(text, end, _SIGNAL_SPAN)
        # What a bracket further on says is about something else: "謝金、旅費(家賃は対象外)"
        # says nothing of 謝金, but "人件費、運営費(家賃等)は対象外" does of 人件費.
        bracket = text.find("(", end + 1, hi)
        signal = _COST_SIGNAL.search(text, end, hi if bracket == -1 else bracket)
        if signal is None and bracket != -1:
            close = text.find(")", bracket, hi)
            if close != -1:
                signal = _COST_SIGNAL.search(text, close + 1, hi)
        if signal is not None:
            how = "said"
            coverage = Coverage.NO if _COST_NO.fullmatch(signal.group()) else Coverage.YES
            ev_end = signal.end()
        elif last_list is not None and start - last_list[0] <= _LIST_SPAN:
            if _SECTION_MARK.search(text, last_list[0], start):
                continue
            how, coverage, ev_end = "list", last_list[1], end
        else:
            continue
        rank = _RANK.get((how, coverage), _RANK_DEFAULT)
        if attr not in verdicts or rank > verdicts[attr][0]:
            verdicts[attr] = (rank, coverage, start, ev_end)

    if not verdicts:
        return CostsCovered(), {}
    evidence = {f"costs.{attr}": _clause(text, v[2], v[3]) for attr, v in verdicts.items()}
    return CostsCovered(**{attr: v[1] for attr, v in verdicts.items()}), evidence
