"""Whether a call is upcoming, open or closed: from the source's own word, the title, or dates."""

from __future__ import annotations

import re
from datetime import date

from aggregator.record import DeadlineKind, Status

# Checked in this order: "締切延長" and "締切間近" say open although they contain 締切, and
# "募集予定" must not be read as 募集 (open).
_WORD_RULES: tuple[tuple[re.Pattern[str], Status], ...] = (
    (re.compile(r"延長|間近|迫る|まもなく締|もうすぐ締|残りわずか|残り僅か"), Status.OPEN),
    (
        re.compile(
            r"(?<!終了)(?<!締切)予定|近日|準備中|募集前|受付前|開始前|公開前|これから|coming",
            re.IGNORECASE,
        ),
        Status.UPCOMING,
    ),
    (
        re.compile(
            r"終了|締切|締め切|〆切|〆|受付済|満了|停止|休止|中止|打ち?切|closed|ended",
            re.IGNORECASE,
        ),
        Status.CLOSED,
    ),
    (
        re.compile(
            r"募集中|受付中|公募中|受け?付け?中|申請受付|募集して|随時|常時|open", re.IGNORECASE
        ),
        Status.OPEN,
    ),
)


def parse_status_word(word: str | None) -> Status | None:
    """A source's status label → Status: 募集中 → OPEN, 募集予定 → UPCOMING, 募集終了 → CLOSED."""
    if not word:
        return None
    word = word.strip()
    for pattern, status in _WORD_RULES:
        if pattern.search(word):
            return status
    return None


# Results and award notices: about a call, not a call.
_RESULTS_RE = re.compile(
    r"助成先(?:の)?決定|助成(?:団体|事業|対象)?(?:の)?決定(?!前|後|時期|日|通知予定)"
    r"|採択(?:結果|団体|者|事業(?:一覧|の決定|決定))|採択(?:の)?(?:お知らせ|決定)"
    r"|選考結果|審査結果|内定(?:一覧|者|団体|のお知らせ)|交付決定(?:団体|一覧|のお知らせ)"
    r"|結果(?:発表|報告|のお知らせ|について|公表)|受賞(?:団体|者|のお知らせ)"
    r"|(?:助成先|採択団体|助成団体)(?:が)?決まりました"
)


def is_results_notice(title: str) -> bool:
    """Whether a title announces results (【助成先決定】, 採択結果 …) rather than a call."""
    return bool(title) and _RESULTS_RE.search(title) is not None


# A status marker in the title, in brackets or after ※: 【募集終了】, (受付終了), 【締切延長】.
_TITLE_MARK_RE = re.compile(
    r"[【\[(<《〈][^】\])>》〉]{0,12}[】\])>》〉]|※[^ \n、。]{2,14}|[^\s【\[(]{0,6}(?:終了しました)"
)


def _title_status(title: str) -> tuple[Status, str] | None:
    """Status said by a marker in the title, with that marker."""
    if not title:
        return None
    for m in _TITLE_MARK_RE.finditer(title):
        mark = m.group()
        status = parse_status_word(mark)
        # A bracket without a status word (【東京都】, 【8/13締切】 is a deadline) says nothing.
        if status is not None and not _DEADLINE_IN_MARK.search(mark):
            return status, mark
    return None


# 【8/13締切】 / 【1月30日締切】: a deadline in the title, not a status.
_DEADLINE_IN_MARK = re.compile(
    r"[0-9]+[/月][0-9]+日?\s*(?:\([^)]*\))?\s*(?:締切|締め切り|〆切|まで)"
)

_EXTENDED = re.compile(r"延長")
_STALE_START_DAYS = 180  # a start date with no deadline says "open" only for a while


def infer_status(
    *,
    source_word: str | None,
    title: str,
    start: date | None,
    deadline: date | None,
    kind: DeadlineKind,
    today: date,
) -> tuple[Status | None, str | None]:
    """Status and the text it was read from: the source's word, then the title, then dates.

    A word saying open or upcoming is a snapshot a page may keep after the call closed
    (【応募受付中・10/30締切り】 still up in November): a fixed deadline already passed wins,
    except over a word that says the deadline was extended (締切延長).
    """
    passed = kind == DeadlineKind.FIXED and deadline is not None and deadline < today
    status = parse_status_word(source_word)
    if status is not None:
        if passed and status != Status.CLOSED and not _EXTENDED.search(source_word or ""):
            return Status.CLOSED, f"締切 {deadline.isoformat()}(経過)"
        return status, source_word.strip() if source_word else None

    marked = _title_status(title)
    if marked is not None:
        if passed and marked[0] != Status.CLOSED and not _EXTENDED.search(marked[1]):
            return Status.CLOSED, f"締切 {deadline.isoformat()}(経過)"
        return marked
    if is_results_notice(title):
        return Status.CLOSED, title.strip()

    if start is not None and start > today:
        return Status.UPCOMING, f"受付開始 {start.isoformat()}(未開始)"
    if kind == DeadlineKind.ROLLING:
        return Status.OPEN, "随時受付"
    if kind == DeadlineKind.RECURRING:
        # A recurring program takes the next round when one date has passed.
        if deadline is not None and deadline >= today:
            return Status.OPEN, f"次回締切 {deadline.isoformat()}"
        return Status.OPEN, "定期受付"
    if deadline is not None:
        if deadline < today:
            return Status.CLOSED, f"締切 {deadline.isoformat()}(経過)"
        return Status.OPEN, f"締切 {deadline.isoformat()}"
    if start is not None and (today - start).days <= _STALE_START_DAYS:
        return Status.OPEN, f"受付開始 {start.isoformat()}"
    return None, None
