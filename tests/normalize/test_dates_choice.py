"""Which date is the deadline: scored labels, rounds, channels, recurring, rolling, unknown."""

from __future__ import annotations

from datetime import date

import pytest

from aggregator.normalize.dates import DeadlineInfo, parse_deadline
from aggregator.normalize.text import normalize_text
from aggregator.record import DeadlineBasis, DeadlineKind


def call(body: str, *, title: str = "", ref: date | None = None) -> DeadlineInfo:
    """Like the pipeline: normalize once, read the title together with the body."""
    title = normalize_text(title).strip()
    body = normalize_text(body)
    return parse_deadline(f"{title}\n{body}" if title else body, title=title, reference=ref)


# --- the deadline among other dates (scored by the words around each date) -------------------

CHOICE = [
    (
        "助成対象期間 (activity period) before the deadline",
        "助成対象期間:令和8年4月1日~令和9年3月31日\n募集説明会:7月25日(金曜日)午後2時\n"
        "応募締切:令和7年9月12日(金曜日)17時",
        date(2025, 7, 11),
        date(2025, 9, 12),
        None,
    ),
    (
        "実施期間 listed first, on its own label line",
        "実施期間\n2026年11月1日(日) ~ 2027年10月31日(日)\n応募・申請期間\n"
        "2026年7月6日(月) ~ 2026年8月21日(金)",
        date(2026, 6, 20),
        date(2026, 8, 21),
        date(2026, 7, 6),
    ),
    (
        "実施期間 listed after the application period",
        "応募・申請期間\n2026年12月1日(火) ~ 2027年1月29日(金)\n助成内容・額\n上限300万円\n"
        "実施期間\n2027年4月1日(木) ~ 2027年12月31日(金)",
        date(2026, 11, 20),
        date(2027, 1, 29),
        date(2026, 12, 1),
    ),
    (
        "説明会 before the period, 更新日 at the top",
        "更新日:令和7(2025)年5月16日\n募集期間:6月1日(日曜日)~8月1日(金曜日)\n"
        "オンライン説明会:5月28日(水曜日)午後7時から",
        date(2025, 5, 16),
        date(2025, 8, 1),
        date(2025, 6, 1),
    ),
    (
        "説明会 inside the period",
        "公募期間:令和9年1月20日(水曜日)~令和9年3月5日(金曜日)正午\n公募説明会:1月27日(水曜日)オンライン",
        date(2027, 1, 15),
        date(2027, 3, 5),
        date(2027, 1, 20),
    ),
    (
        "決定 and 納車期限 distractors",
        "■受付期間 令和8年7月6日(月)~8月7日(金)必着\n■助成決定 令和9年3月10日(予定)\n"
        "■納車期限 令和9年4月1日~令和9年9月30日の間に納車すること",
        date(2026, 7, 3),
        date(2026, 8, 7),
        date(2026, 7, 6),
    ),
    (
        "事業実施期間 after the proposal period",
        "提案受付期間:令和7年7月7日(月)~8月8日(金)午後5時(土・日・祝日を除く)\n"
        "事業実施期間:令和8年4月1日~令和9年3月31日\n審査:9月に公開審査会を開催",
        date(2025, 7, 1),
        date(2025, 8, 8),
        date(2025, 7, 7),
    ),
    (
        "事前相談 cut-off in a note is not the deadline",
        "募集期間:2025年5月12日~2025年6月20日\n応募締切日:2025年6月20日\n"
        "備考:応募前に市民活動センターでの事前相談が必要です(6月13日まで)。",
        date(2025, 5, 12),
        date(2025, 6, 20),
        date(2025, 5, 12),
    ),
    (
        "a workshop date in a note",
        "募集期間:2025年8月1日~2025年9月30日\n応募締切日:2025年9月30日(当日消印有効)\n"
        "備考:申請書の書き方講座を開催します(8月23日(土)、参加費無料)。",
        date(2025, 8, 4),
        date(2025, 9, 30),
        date(2025, 8, 1),
    ),
    (
        "締切延長 overrides the period and the first deadline",
        "募集期間:2026年6月1日~2026年7月31日\n応募締切日:2026年7月31日\n"
        "備考:【締切延長】応募締切を8月7日(金)まで延長しました。",
        date(2026, 6, 1),
        date(2026, 8, 7),
        date(2026, 6, 1),
    ),
    (
        "entry deadline before the document deadline",
        "応募・申請期間\n"
        "エントリー締切:2026 年 7 月 24 日 (金) 書類提出締切:2026 年 9 月 4 日 (金)",
        date(2026, 6, 5),
        date(2026, 7, 24),
        None,
    ),
    (
        "an ID deadline is a step before applying",
        "2026年1月26日~2月28日 ※申請用ID交付締切:2月13日17:00(IDがないと申請できません)",
        date(2026, 1, 30),
        date(2026, 2, 28),
        date(2026, 1, 26),
    ),
    (
        "団体登録期間 before the 申請期間",
        "■ 団体登録期間:7月2日(木) ~ 7月15日(水) ※ 登録期間中のみ登録できます。 "
        "■ 申請期間:7月22日(木) ~ 8月31日(月)",
        date(2026, 6, 17),
        date(2026, 8, 31),
        date(2026, 7, 22),
    ),
    (
        "掲載 date and a page-wide 時点 are publication dates",
        "掲載:2026 年 6月 2日\nこの情報は 2026 年 6月 2日 時点の情報です。\n"
        "応募・申請期間\n2026 年 7 月 31 日 (金)",
        None,
        date(2026, 7, 31),
        None,
    ),
    (
        "a CANPAN-style update line",
        "2026年6月12日~2026年7月31日\n2026年6月12日 10:13更新",
        None,
        date(2026, 7, 31),
        date(2026, 6, 12),
    ),
    (
        "選考結果 month and 決定時期 are not dates",
        "・郵送の場合 令和7年10月31日(金曜日)消印有効\n選考結果:令和8年2月中旬に通知予定",
        date(2025, 10, 3),
        date(2025, 10, 31),
        None,
    ),
    (
        "founding date in the description",
        "ゆずりは基金は2023年4月20日に設立されました。\n応募・申請期間\n2026年7月31日(木)",
        date(2026, 6, 23),
        date(2026, 7, 31),
        None,
    ),
    (
        "the deadline restated in a 締切 line (start from the period)",
        "募集期間 2025/12/15 - 2026/01/30\n・締切:2026年1月30日17:00締切(持参・郵送とも必着)",
        date(2025, 12, 10),
        date(2026, 1, 30),
        date(2025, 12, 15),
    ),
    (
        "an unlabelled range is used when nothing is labelled",
        "2026年10月1日~2027年1月31日",
        date(2026, 5, 7),
        date(2027, 1, 31),
        date(2026, 10, 1),
    ),
    (
        "助成期間 with から…まで is never the deadline",
        "・公募期間:2026年7月3日(金)~8月3日(月)17:00まで\n"
        "・助成期間:2026年10月1日から2027年9月末までの1年間",
        date(2026, 7, 3),
        date(2026, 8, 3),
        date(2026, 7, 3),
    ),
    (
        "受付開始 given apart from the deadlines",
        "受付期間:\n 郵送 令和8年1月9日(金)必着\n 電子メール 令和8年1月13日(火)17時必着\n"
        "※受付開始は令和7年12月8日(月)です。",
        date(2025, 12, 5),
        date(2026, 1, 13),
        date(2025, 12, 8),
    ),
    (
        "an activity that must end by a date is not the deadline",
        "対象:2026年3月31日までに実施する事業\n応募期間:2025年10月1日~2025年11月30日",
        date(2025, 9, 1),
        date(2025, 11, 30),
        date(2025, 10, 1),
    ),
    (
        "以降 marks when the activity may start",
        "対象事業:令和8年4月1日以降に実施する事業\n受付期間:令和8年1月5日~2月27日",
        date(2025, 12, 20),
        date(2026, 2, 27),
        date(2026, 1, 5),
    ),
    (
        "事業開始 is not the application start",
        "事業開始:2026年4月1日\n応募締切:2026年5月31日",
        date(2026, 3, 1),
        date(2026, 5, 31),
        None,
    ),
    (
        "an open start on its own line",
        "募集期間:2026年6月1日~\n応募締切:2026年6月30日必着",
        date(2026, 5, 1),
        date(2026, 6, 30),
        date(2026, 6, 1),
    ),
    (
        "a deadline in a sentence",
        "応募書類は2026年7月31日(金)までに事務局へ郵送してください。",
        date(2026, 6, 1),
        date(2026, 7, 31),
        None,
    ),
    (
        "last year's period given for reference",
        "令和8年度の募集期間は決まり次第お知らせします。\n応募締切:令和8年1月30日(金)\n"
        "(参考)令和7年度の募集期間:令和6年12月20日から令和7年1月24日まで",
        date(2025, 12, 1),
        date(2026, 1, 30),
        None,
    ),
    (
        "a project completion deadline",
        "公募期間:令和7年5月7日(水)~令和7年6月20日(金)17:00\n交付決定:令和7年8月上旬(予定)\n"
        "事業完了期限:令和8年2月27日",
        date(2025, 5, 1),
        date(2025, 6, 20),
        date(2025, 5, 7),
    ),
    (
        "a post date line under the title",
        "2026年03月02日 助成情報\n地域の子ども食堂を応援します。\n応募締切:2026年4月30日(木)",
        date(2026, 3, 2),
        date(2026, 4, 30),
        None,
    ),
    (
        "募集開始 label",
        "募集開始:2026年6月1日(月)\n応募締切:2026年7月31日(金)",
        date(2026, 5, 20),
        date(2026, 7, 31),
        date(2026, 6, 1),
    ),
]


@pytest.mark.parametrize(
    ("text", "ref", "deadline", "start"),
    [case[1:] for case in CHOICE],
    ids=[case[0] for case in CHOICE],
)
def test_choice(text: str, ref: date | None, deadline: date, start: date | None) -> None:
    info = call(text, ref=ref)
    assert info.kind is DeadlineKind.FIXED
    assert info.deadline == deadline
    assert info.application_start == start


def test_only_an_activity_period_is_no_deadline() -> None:
    # Dates labelled as something else are never the deadline (a wrong deadline is worse).
    info = call("助成期間:2026年4月1日~2027年3月31日\n採択通知:2026年3月下旬", ref=date(2026, 1, 5))
    assert info.deadline is None
    assert info.kind is DeadlineKind.UNKNOWN


def test_only_an_update_date_is_no_deadline() -> None:
    info = call("更新日:令和8(2026)年1月9日\n助成額:上限30万円")
    assert info.deadline is None
    assert info.kind is DeadlineKind.UNKNOWN


# --- evidence --------------------------------------------------------------------------------


def test_evidence_is_the_clause_of_the_deadline() -> None:
    info = call(
        "対象:県内の団体\n助成額:上限50万円\n応募締切:令和7年9月12日(金曜日)17時\n※人件費は対象外です。",
        ref=date(2025, 7, 11),
    )
    assert info.evidence == "応募締切:令和7年9月12日(金曜日)17時"
    assert info.start_evidence is None


def test_evidence_keeps_the_label_of_the_line_above() -> None:
    info = call("受付期間\n 2025年4月1日(火)~5月12日(月)17時必着", ref=date(2025, 3, 21))
    assert info.evidence == "受付期間 2025年4月1日(火)~5月12日(月)17時必着"
    assert info.start_evidence == info.evidence


def test_evidence_is_short_and_on_one_line() -> None:
    long_line = "本基金は地域の子どもたちを支える活動を応援します。" * 5
    info = call(f"{long_line}\n応募期間:2026年6月1日~2026年7月31日まで受け付けます。{long_line}")
    assert info.deadline == date(2026, 7, 31)
    assert info.evidence is not None
    assert "\n" not in info.evidence
    assert len(info.evidence) <= 90
    assert "2026年7月31日" in info.evidence


# --- several rounds --------------------------------------------------------------------------

ROUNDS_TEXT = (
    "■募集期間(年2回)\n 前期:令和8年4月1日(水曜日)~5月29日(金曜日)\n"
    " 後期:令和8年10月1日(木曜日)~10月30日(金曜日)"
)


@pytest.mark.parametrize(
    ("ref", "deadline", "start"),
    [
        (date(2026, 2, 13), date(2026, 5, 29), date(2026, 4, 1)),
        (date(2026, 5, 29), date(2026, 5, 29), date(2026, 4, 1)),
        (date(2026, 6, 1), date(2026, 10, 30), date(2026, 10, 1)),
        (date(2026, 11, 15), date(2026, 10, 30), date(2026, 10, 1)),  # all over: the last
        (None, date(2026, 5, 29), date(2026, 4, 1)),  # no reference: the first
    ],
)
def test_rounds_first_not_over(ref: date | None, deadline: date, start: date) -> None:
    info = call(ROUNDS_TEXT, ref=ref)
    assert info.kind is DeadlineKind.FIXED
    assert (info.deadline, info.application_start) == (deadline, start)
    assert [(r.label, r.start, r.end) for r in info.rounds] == [
        ("前期", date(2026, 4, 1), date(2026, 5, 29)),
        ("後期", date(2026, 10, 1), date(2026, 10, 30)),
    ]


@pytest.mark.parametrize(
    ("text", "ref", "deadline", "start", "labels"),
    [
        (
            "募集期間:前期:2026年5月1日~5月29日/後期:2026年10月1日~10月30日\n"
            "応募締切日:前期 5月29日、後期 10月30日",
            date(2026, 4, 20),
            date(2026, 5, 29),
            date(2026, 5, 1),
            ["前期", "後期"],
        ),
        (
            "募集期間\n【第1回】2026/06/01 - 2026/06/30(終了)\n【第2回】2026/11/02 - 2026/11/30",
            date(2026, 10, 20),
            date(2026, 11, 30),
            date(2026, 11, 2),
            ["第1回", "第2回"],
        ),
        (
            "応募・申請期間\n第 1 期 :2026 年 6 月 26 日 (金) 第 2 期 :2026 年 10 月 2 日 (金)",
            date(2026, 6, 29),
            date(2026, 10, 2),
            None,
            ["第1期", "第2期"],
        ),
        (
            "応募・申請期間\n前期:2026 年 8 月 15 日 (土) 後期:2027 年 2 月 15 日 (月)",
            date(2026, 6, 18),
            date(2026, 8, 15),
            None,
            ["前期", "後期"],
        ),
        (
            "1次締切:2026年5月15日(金) 2次締切:2026年8月31日(月)",
            date(2026, 6, 1),
            date(2026, 8, 31),
            None,
            ["1次締切", "2次締切"],
        ),
    ],
)
def test_rounds(
    text: str, ref: date, deadline: date, start: date | None, labels: list[str]
) -> None:
    info = call(text, ref=ref)
    assert (info.deadline, info.application_start) == (deadline, start)
    assert [r.label for r in info.rounds] == labels
    assert [r.end for r in info.rounds] == sorted(r.end for r in info.rounds)


def test_rounds_without_year_below_a_sentence() -> None:
    text = (
        "募集時期\n2026年5月1日~2026年10月30日\n内容\n年2回募集します。\n"
        " 前期:5月1日~5月29日\n 後期:10月1日~10月30日"
    )
    info = call(text, ref=date(2026, 6, 10))
    assert info.kind is DeadlineKind.FIXED  # periods, not a repeating schedule
    assert (info.deadline, info.application_start) == (date(2026, 10, 30), date(2026, 10, 1))
    assert [r.label for r in info.rounds] == ["前期", "後期"]


def test_single_call_has_no_rounds() -> None:
    assert call("受付期間:2026年6月1日(月)~6月30日(火)", ref=date(2026, 5, 15)).rounds == []


# --- different deadlines per channel ----------------------------------------------------------


def test_channels_latest_is_the_deadline() -> None:
    info = call("郵送:5月31日消印有効、電子申請:6月2日17時まで", ref=date(2026, 5, 1))
    assert info.deadline == date(2026, 6, 2)
    assert info.kind is DeadlineKind.FIXED
    assert [(c.channel, c.deadline, c.time, c.basis) for c in info.note.channels] == [
        ("mail", date(2026, 5, 31), None, DeadlineBasis.POSTMARK),
        ("online", date(2026, 6, 2), "17:00", None),
    ]
    assert info.note.time == "17:00"
    assert info.note.text == "電子申請 6月2日17:00まで / 郵送 5月31日消印有効"


@pytest.mark.parametrize(
    ("text", "ref", "deadline", "channels"),
    [
        (
            "応募締切:\n ・郵送の場合 令和7年10月31日(金曜日)消印有効\n"
            " ・Web申請の場合 令和7年11月7日(金曜日)17時まで",
            date(2025, 10, 3),
            date(2025, 11, 7),
            [("mail", date(2025, 10, 31)), ("online", date(2025, 11, 7))],
        ),
        (
            "受付期間:\n 郵送 令和8年1月9日(金)必着\n 電子メール 令和8年1月13日(火)17時必着",
            date(2025, 12, 5),
            date(2026, 1, 13),
            [("mail", date(2026, 1, 9)), ("email", date(2026, 1, 13))],
        ),
        (
            "■期間:2026年1月5日~2月13日必着(電子メールでの提出は2月16日まで)",
            date(2025, 12, 26),
            date(2026, 2, 16),
            [("email", date(2026, 2, 16))],
        ),
        (
            # The counter deadline (the period's end) is later than the mail one.
            "募集期間:令和7年9月1日(月)~9月30日(火)17時\n ※郵送の場合は9月26日(金)必着",
            date(2025, 8, 22),
            date(2025, 9, 30),
            [("mail", date(2025, 9, 26))],
        ),
        (
            "申請受付期間:令和8年11月16日(月)~12月11日(金)\n 郵送の場合 12月11日(金)消印有効\n"
            " 電子申請 12月14日(月)23時59分まで",
            date(2026, 11, 13),
            date(2026, 12, 14),
            [("mail", date(2026, 12, 11)), ("online", date(2026, 12, 14))],
        ),
        (
            "締切:\n 郵送 2026年10月30日(金)消印有効\n WEB 2026年11月6日(金)23:59まで\n"
            " 持参 2026年10月30日(金)17時まで",
            date(2026, 10, 2),
            date(2026, 11, 6),
            [
                ("mail", date(2026, 10, 30)),
                ("hand", date(2026, 10, 30)),
                ("online", date(2026, 11, 6)),
            ],
        ),
    ],
)
def test_channels(text: str, ref: date, deadline: date, channels: list[tuple[str, date]]) -> None:
    info = call(text, ref=ref)
    assert info.deadline == deadline
    assert sorted((c.channel, c.deadline) for c in info.note.channels) == sorted(channels)


# --- recurring -------------------------------------------------------------------------------

QUARTERS = (
    "申請受付は年4回(1月20日|4月20日|7月20日|10月20日)\n"
    " 各締切日までに届いた申請を翌月の審査会で審査します。"
)


@pytest.mark.parametrize(
    ("ref", "deadline", "first_round"),
    [
        (date(2025, 12, 12), date(2026, 1, 20), date(2026, 1, 20)),
        (date(2026, 1, 20), date(2026, 1, 20), date(2026, 1, 20)),
        (date(2026, 4, 21), date(2026, 7, 20), date(2026, 7, 20)),
    ],
)
def test_recurring_year_schedule(ref: date, deadline: date, first_round: date) -> None:
    info = call(QUARTERS, ref=ref)
    assert info.kind is DeadlineKind.RECURRING
    assert info.deadline == deadline
    assert len(info.rounds) == 4
    assert info.rounds[0].end == first_round
    assert [r.end for r in info.rounds] == sorted(r.end for r in info.rounds)
    assert info.application_start is None


@pytest.mark.parametrize(
    ("text", "ref", "deadline"),
    [
        ("締切:毎月末日締切(翌月15日頃に結果通知)", date(2025, 4, 25), date(2025, 4, 30)),
        ("締切:毎月末日締切(翌月15日頃に結果通知)", date(2026, 2, 10), date(2026, 2, 28)),
        ("申請は毎月15日締切です。", date(2026, 3, 16), date(2026, 4, 15)),
        ("申請は毎月15日締切です。", date(2026, 3, 15), date(2026, 3, 15)),
        ("募集期間 通年(毎月末日締切、翌月審査)", date(2026, 6, 15), date(2026, 6, 30)),
        (
            "実績報告:3か月に1回、3月末、6月末、9月末、12月末までに報告してください。",
            date(2025, 5, 9),
            date(2025, 6, 30),
        ),
        (
            "実績報告:3か月に1回、3月末、6月末、9月末、12月末までに報告してください。",
            date(2025, 12, 31),
            date(2025, 12, 31),
        ),
        ("申請:年2回(5月末日・11月末日締切)", date(2025, 4, 15), date(2025, 5, 31)),
        ("申請:年2回(5月末日・11月末日締切)", date(2025, 6, 1), date(2025, 11, 30)),
        (
            "■期間:年４回受付 第１四半期５月１５日 第２四半期８月１５日 第３四半期１１月１５日 "
            "第４四半期２月１５日",
            date(2025, 9, 10),
            date(2025, 11, 15),
        ),
        (
            "申請締切(年3回)\n 第1回 5月31日\n 第2回 9月30日\n 第3回 1月31日",
            date(2026, 6, 10),
            date(2026, 9, 30),
        ),
    ],
)
def test_recurring(text: str, ref: date, deadline: date) -> None:
    info = call(text, ref=ref)
    assert info.kind is DeadlineKind.RECURRING
    assert info.deadline == deadline
    assert info.rounds and info.rounds[0].end == deadline
    assert info.evidence


def test_recurring_quarters_rounds_in_date_order() -> None:
    info = call(
        "■期間:年4回受付 第1四半期5月15日 第2四半期8月15日 第3四半期11月15日 第4四半期2月15日",
        ref=date(2025, 9, 10),
    )
    assert [r.end for r in info.rounds] == [
        date(2025, 11, 15),
        date(2026, 2, 15),
        date(2026, 5, 15),
        date(2026, 8, 15),
    ]


def test_recurring_without_reference_uses_the_fiscal_year() -> None:
    info = call(
        "■期間:年4回受付 第1四半期5月15日 第2四半期8月15日 第3四半期11月15日 第4四半期2月15日",
        title="令和8年度 子どもの音楽体験 開催支援",
    )
    assert info.kind is DeadlineKind.RECURRING
    assert info.deadline == date(2026, 5, 15)
    assert info.rounds[-1].end == date(2027, 2, 15)


def test_monthly_payment_is_not_a_schedule() -> None:
    info = call(
        "応募締切:2026年7月31日(金)\n助成金は毎月10日に振り込みます。", ref=date(2026, 6, 1)
    )
    assert info.kind is DeadlineKind.FIXED
    assert info.deadline == date(2026, 7, 31)


def test_dated_rounds_are_not_recurring() -> None:
    info = call(ROUNDS_TEXT, ref=date(2026, 2, 13))
    assert info.kind is DeadlineKind.FIXED


# --- rolling ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ref", "deadline", "start"),
    [
        ("受付期間:随時", None, None, None),
        ("受付:通年で受け付けます(予算がなくなり次第終了します)。", None, None, None),
        ("応募・申請期間\n常時公募(年度予算に達し次第終了)", None, None, None),
        ("■期間:通年(随時受付)", None, None, None),
        (
            "受付:令和7年6月16日(月曜日)から当分の間、随時受け付けます。\n"
            " ※予算の上限に達した時点で受付を終了します。",
            date(2025, 6, 13),
            None,
            date(2025, 6, 16),
        ),
        ("受付期間:2026年4月1日(水)~随時", date(2026, 2, 20), None, date(2026, 4, 1)),
        ("受付期間:令和8年6月1日(月)から随時", date(2026, 5, 20), None, date(2026, 6, 1)),
        ("募集期間 2026/08/03 - (当分の間)", date(2026, 8, 3), None, date(2026, 8, 3)),
        ("予算がなくなり次第終了します。", None, None, None),
        (
            "受付期間:令和8年4月1日~予算がなくなり次第終了(最終締切 令和9年3月31日)",
            date(2026, 3, 30),
            date(2027, 3, 31),
            date(2026, 4, 1),
        ),
        # A hard final date as well: still rolling, with that date.
        ("受付:随時(最終締切2026年3月31日)", date(2025, 10, 1), date(2026, 3, 31), None),
        (
            "申請期間:令和8年4月1日(水)から令和9年2月26日(金)まで随時受付",
            date(2026, 3, 25),
            date(2027, 2, 26),
            date(2026, 4, 1),
        ),
        (
            "募集期間:令和7年4月1日~令和8年3月31日(随時)\n応募締切日:随時(訓練実施日の1か月前までに申請)",
            date(2025, 10, 1),
            date(2026, 3, 31),
            date(2025, 4, 1),
        ),
    ],
)
def test_rolling(text: str, ref: date | None, deadline: date | None, start: date | None) -> None:
    info = call(text, ref=ref)
    assert info.kind is DeadlineKind.ROLLING
    assert info.deadline == deadline
    assert info.application_start == start
    assert info.evidence


@pytest.mark.parametrize(
    "text",
    [
        "応募締切:2026年7月31日(金)\n※ご質問は随時受け付けています。",
        "助成金情報(随時更新)\n■期間:2026年6月1日~7月31日",
        "相談:申請に関する相談は随時受け付けています。\n受付期間:2026年6月1日(月)~7月31日(金)",
        "頻度\n1日のみ\n短期間限定\n随時\n定期\n"
        "応募・申請期間\n2026年7月1日(水) ~ 2026年7月31日(金)",
    ],
)
def test_stray_rolling_words_keep_a_fixed_deadline(text: str) -> None:
    info = call(text, ref=date(2026, 5, 30))
    assert info.kind is DeadlineKind.FIXED
    assert info.deadline == date(2026, 7, 31)


def test_budget_caveat_beside_a_fixed_period_stays_fixed() -> None:
    info = call(
        "受付期間:2025年1月6日~2025年2月14日(必着)\n予算額:2,000万円(予算額に達した時点で受付終了)",
        ref=date(2025, 1, 6),
    )
    assert info.kind is DeadlineKind.FIXED
    assert info.deadline == date(2025, 2, 14)


def test_open_end_without_rolling_word_is_unknown() -> None:
    info = call("2026年4月22日~", ref=date(2026, 4, 22))
    assert info.kind is DeadlineKind.UNKNOWN
    assert info.deadline is None
    assert info.application_start == date(2026, 4, 22)


# --- unknown ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "evidence"),
    [
        ("応募・申請期間\n要問合せ", "要問合せ"),
        ("■金額:要問合せ\n■期間:要問合せ", "■期間:要問合せ"),
        ("受付期間:募集要項参照", "受付期間:募集要項参照"),
        ("募集期間 募集要項参照", "募集期間 募集要項参照"),
        ("募集期間:別途お知らせします(例年10月頃から募集しています)", None),
        ("申請時期:各協議会へ別途お知らせします。", "申請時期:各協議会へ別途お知らせします。"),
        ("補助額:未定\n募集期間:未定\n応募締切日:未定", "募集期間:未定"),
        ("受付期間:決まり次第、市ホームページでお知らせします。", None),
        ("助成額:上限30万円", None),
        ("", None),
        ("■期間:https://www.example.org/tsumugi/2025\n■詳細:https://example.org/t/2025", None),
    ],
)
def test_unknown(text: str, evidence: str | None) -> None:
    info = call(text, ref=date(2026, 3, 6))
    assert info.kind is DeadlineKind.UNKNOWN
    assert info.deadline is None
    assert info.application_start is None
    if evidence is not None:
        assert info.evidence == evidence


def test_unknown_period_beats_a_stray_date() -> None:
    info = call("受付期間:未定\n2025年4月1日 地域福祉課", ref=date(2025, 6, 25))
    assert info.kind is DeadlineKind.UNKNOWN
    assert info.deadline is None


def test_boilerplate_does_not_hide_an_unlabelled_period() -> None:
    info = call(
        "※応募の際は必ず助成元の募集要項をご確認ください。\n2026年6月1日~2026年7月31日",
        ref=date(2026, 6, 2),
    )
    assert info.kind is DeadlineKind.FIXED
    assert info.deadline == date(2026, 7, 31)
