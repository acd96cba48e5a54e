"""Building a group's weekly digest on a real SQLite database: which calls fit each group and
why, changes to saved calls, closing-soon and predicted calls, offers and courses, the
subject, quiet weeks (skip or short) and escaping of crawled text."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.groups import dismiss_call, save_call
from aggregator.ingest import Ingestor
from aggregator.programs import predict_upcoming
from aggregator.storage.models import CallRow, CourseRow, DigestCallRow, GroupRow
from digest.build import NEW_LIMIT, Digest, IsoWeek, build_digest
from tests.web.conftest import TODAY
from tests.web.test_companies import make_company
from tests.web.test_groups import make_group
from tests.web.test_offers import add_offer

WEEK = IsoWeek.of(TODAY)  # 2026-W48, Monday 11/23
FIRST_CRAWL = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
SECOND_CRAWL = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>子ども食堂の備品助成"


def _call(key: str, title: str, text: str) -> dict:
    return {
        "id": key,
        "source": "canpan",
        "title": title,
        "text": text,
        "url": f"https://grants.example.jp/{key}",
        "organizer": f"公益財団法人 {key}財団",
    }


INFORMAL_OK = "（任意団体可）"
CALLS = [
    _call("kodomo", "子ども食堂の運営を応援する助成",
          f"対象: 子ども食堂を運営する団体{INFORMAL_OK}\n締切: 2026年12月20日\n"
          "助成金額: 上限30万円\n対象地域: 全国"),
    _call("chiba", "ちば子どもの居場所づくり助成",
          f"対象: 千葉県内で子ども食堂や学習支援を行う団体{INFORMAL_OK}\n締切: 2026年12月5日\n"
          "助成金額: 上限20万円\n対象地域: 千葉県"),
    _call("kamagaya", "鎌ケ谷市 子ども・若者の居場所づくり補助金",
          f"対象: 鎌ケ谷市内で子どもの居場所づくりに取り組む市民活動団体{INFORMAL_OK}\n"
          "締切: 2027年1月31日\n補助金額: 上限10万円\n対象地域: 鎌ケ谷市"),
    _call("osaka", "おおさか子ども食堂支援金",
          f"対象: 大阪府内の子ども食堂{INFORMAL_OK}\n締切: 2026年12月25日\n"
          "助成金額: 上限15万円\n対象地域: 大阪府"),
    _call("houjin", "子どもの学び支援助成（法人向け）",
          "対象: 子どもの学習支援を行う団体。法人格を有する団体に限ります。\n"
          "締切: 2027年1月20日\n助成金額: 上限100万円\n対象地域: 全国"),
    _call("npo", "里山と川の環境保全活動助成",
          "対象: 環境保全に取り組むNPO法人に限る\n締切: 2027年2月10日\n"
          "助成金額: 上限50万円\n対象地域: 全国"),
    _call("fuka", "子育て家庭の見守り助成",
          "対象: 子育て支援・子ども食堂を行う団体。任意団体は対象外です。\n"
          "締切: 2027年1月10日\n助成金額: 上限40万円\n対象地域: 全国"),
    _call("members", "子ども食堂ネットワーク助成",
          f"対象: 子ども食堂を運営する団体{INFORMAL_OK}。構成員10名以上の団体。\n"
          "締切: 2027年1月15日\n助成金額: 上限25万円\n対象地域: 全国"),
    _call("nofield", "一般活動助成",
          "対象: 団体の活動全般\n締切: 2027年1月5日\n助成金額: 上限5万円\n対象地域: 全国"),
    _call("closed", "終わった子ども食堂助成",
          f"対象: 子ども食堂を運営する団体{INFORMAL_OK}\n締切: 2026年10月31日\n"
          "助成金額: 上限10万円\n対象地域: 全国"),
    _call("hostile", HOSTILE,
          f"対象: 子ども食堂を運営する団体{INFORMAL_OK}\n締切: 2027年2月28日\n"
          "助成金額: 上限8万円\n対象地域: 全国"),
    _call("kankyo", "森と水辺の環境保全助成",
          "対象: 環境保全に取り組む団体\n締切: 2026年12月10日\n助成金額: 上限60万円\n"
          "対象地域: 全国"),
    _call("years", "子ども食堂 継続団体応援助成",
          f"対象: 子ども食堂を運営する団体{INFORMAL_OK}。活動実績3年以上。\n"
          "締切: 2027年1月25日\n助成金額: 上限30万円\n対象地域: 全国"),
]  # fmt: skip


def _round(year: int) -> dict:
    """Last years' rounds of a yearly program: the next one is predicted (例年この時期)."""
    return {
        "id": f"r{year}",
        "source": "canpan",
        "title": f"令和{year - 2018}年度 ひまわり子ども食堂助成",
        "organizer": "公益財団法人 ひまわり財団",
        "published": f"{year}-12-01",
        "text": f"募集時期 {year}年12月1日~{year + 1}年1月10日\n助成金額 上限20万円\n"
        f"対象: 子ども食堂を運営する団体{INFORMAL_OK}\n対象地域: 全国",
    }


@pytest.fixture
def world(site):
    """Calls, a predicted round, three groups, an offer and two courses."""
    Ingestor(site.engine, today=TODAY, now=FIRST_CRAWL).ingest([*CALLS, _round(2024), _round(2025)])
    predict_upcoming(site.engine, today=TODAY)
    groups = {
        # an informal group in Kamagaya working for children
        "kids": make_group(site, "kids@example.jp", "こども広場の会"),
        # an NPO in Funabashi: environment and children, needs goods only
        "npo": make_group(
            site, "npo@example.jp", "みどりネット", fields=["environment", "children_youth"],
            municipality="船橋市", legal_form="NPO法人", members=50, founded_year=2010,
            needs=["goods"],
        ),
        # a small, young informal group in Tokyo
        "tiny": make_group(
            site, "tiny@example.jp", "ちいさな会", prefecture="東京都", municipality="町田市",
            members=5, founded_year=2025,
        ),
    }  # fmt: skip
    company = make_company(site, "csr@example.co.jp", "かまがや商事株式会社")
    offer = add_offer(site, company, kind="money", title="子ども食堂への寄付金", amount="10万円")
    with Session(site.engine) as session:
        ids = dict(session.execute(select(CallRow.source_item_id, CallRow.id)).all())
        kids = session.get(GroupRow, groups["kids"])
        dismiss_call(session, kids, ids["years"])
        now = datetime.now(UTC)
        session.add_all(
            [
                CourseRow(
                    kind="centre", title="環境活動の交流会", place="鎌ケ谷市市民活動推進センター",
                    starts_at=datetime(2026, 12, 3, 1, 0, tzinfo=UTC), fields=["environment"],
                    how_to_apply="当日参加できます。", created_at=now, updated_at=now,
                ),
                CourseRow(
                    kind="fundraising", title="はじめてのファンドレイジング",
                    place="鎌ケ谷市市民活動推進センター 会議室",
                    starts_at=datetime(2026, 12, 12, 4, 30, tzinfo=UTC),
                    ends_at=datetime(2026, 12, 12, 6, 30, tzinfo=UTC), fields=[],
                    how_to_apply="電話でお申し込みください。", created_at=now, updated_at=now,
                ),
            ]
        )  # fmt: skip
        session.commit()
    return ids, groups, offer


def build(site, group_id: int, *, since: datetime | None, today: date = TODAY) -> Digest | None:
    with Session(site.engine) as session:
        group = session.get(GroupRow, group_id)
        return build_digest(session, group, WEEK, site.settings, today=today, since=since)


def ids_of(items) -> list[int]:
    return [item.call_id for item in items]


def test_iso_week():
    week = IsoWeek.parse("2026-W49")
    assert (week.year, week.week, str(week)) == (2026, 49, "2026-W49")
    assert (week.monday, week.sunday) == (date(2026, 11, 30), date(2026, 12, 6))
    assert week.label == "11/30週"
    assert IsoWeek.parse("2025-W49").label == "12/1週"
    assert IsoWeek.of(date(2026, 12, 6)) == week and IsoWeek.of(date(2026, 12, 7)) != week
    assert str(IsoWeek.of(date(2027, 1, 1))) == "2026-W53"  # ISO years start on a Monday
    with pytest.raises(ValueError, match="2026-W49"):
        IsoWeek.parse("2026年49週")
    with pytest.raises(ValueError):
        IsoWeek.parse("2025-W53")  # 2025 has 52 weeks


def test_each_group_gets_exactly_the_new_calls_that_fit_it(site, world):
    ids, groups, _ = world
    kids = build(site, groups["kids"], since=None)
    # Not: osaka (another prefecture), houjin / fuka (法人格 needed), npo / kankyo (fields),
    # nofield (no field), closed, years (dismissed); by deadline.
    assert ids_of(kids.context.new) == [
        ids[k] for k in ("chiba", "kodomo", "members", "kamagaya", "hostile")
    ]
    reasons = {item.call_id: item.reason for item in kids.context.new}
    assert reasons[ids["kamagaya"]] == "子どもの健全育成・鎌ケ谷市内の任意団体可"
    assert reasons[ids["chiba"]] == "子どもの健全育成・千葉県内の任意団体可"
    assert reasons[ids["kodomo"]] == "子どもの健全育成・全国の任意団体可"
    first = kids.context.new[0]
    assert (first.amount, first.deadline) == ("上限20万円", "2026年12月5日（土）")
    assert first.url == f"http://testserver/calls/{ids['chiba']}"

    npo = build(site, groups["npo"], since=None)
    assert ids_of(npo.context.new) == [
        ids[k]
        for k in ("chiba", "kankyo", "kodomo", "fuka", "members", "houjin", "years", "npo",
                  "hostile")
    ]  # fmt: skip
    reasons = {item.call_id: item.reason for item in npo.context.new}
    assert reasons[ids["npo"]] == "環境保全・全国のNPO法人可"
    assert reasons[ids["houjin"]] == "子どもの健全育成・全国"
    assert reasons[ids["kankyo"]] == "環境保全・全国"

    tiny = build(site, groups["tiny"], since=None)
    # Not members (構成員10名以上) nor years (活動実績3年以上), nor Chiba's calls.
    assert ids_of(tiny.context.new) == [ids["kodomo"], ids["hostile"]]

    # Calls seen before the previous digest are not new again.
    later = build(site, groups["npo"], since=FIRST_CRAWL + timedelta(hours=1))
    assert later is not None and later.context.new == [] and later.empty


def test_sections_subject_and_links(site, world):
    _, groups, offer = world
    kids = build(site, groups["kids"], since=None)
    assert kids.subject == "【かまがや助成情報】11/23週 新着5件"
    assert not kids.empty and kids.counts["new"] == 5
    assert kids.context.closing == []  # chiba closes soon but is listed as new already
    assert [p.title for p in kids.context.predicted] == ["令和8年度 ひまわり子ども食堂助成"]
    assert kids.context.predicted[0].deadline == "2027年1月10日（日）"
    assert [o.title for o in kids.context.offers] == ["子ども食堂への寄付金"]
    assert kids.context.offers[0].url == f"http://testserver/offers/{offer}"
    # Courses for its field or for every field; the environment course is not its.
    assert [c.title for c in kids.context.courses] == ["はじめてのファンドレイジング"]
    assert kids.context.courses[0].when == "2026年12月12日（土）13:30〜15:30"

    npo = build(site, groups["npo"], since=None)
    assert npo.context.offers == []  # it needs goods, the offer is money
    assert [c.title for c in npo.context.courses] == [
        "はじめてのファンドレイジング",  # fundraising first
        "環境活動の交流会",
    ]

    html = BeautifulSoup(kids.html, "html.parser")
    links = [a["href"] for a in html.select("a[href]")]
    for call_id in ids_of(kids.context.new):
        assert f"http://testserver/calls/{call_id}" in links
    assert "http://testserver/my/settings" in links
    with Session(site.engine) as session:
        token = session.get(GroupRow, groups["kids"]).unsubscribe_token
    assert f"http://testserver/u/{token}" in links
    assert f"http://testserver/u/{token}" in kids.text
    assert "http://testserver/my/settings" in kids.text
    assert "子どもの健全育成・鎌ケ谷市内の任意団体可" in kids.text
    assert "例年この時期の公募" in kids.text and "はじめてのファンドレイジング" in kids.text
    assert not html.select("img, table, link, script")
    assert "font-size:18px" in kids.html
    assert html.find("html")["lang"] == "ja"

    # Only the sections the group chose.
    with Session(site.engine) as session:
        session.get(GroupRow, groups["tiny"]).digest_sections = ["new"]
        session.commit()
    tiny = build(site, groups["tiny"], since=None)
    assert tiny.counts == {
        "new": 2, "changes": 0, "closing": 0, "predicted": 0, "offers": 0, "courses": 0
    }  # fmt: skip
    assert "講座" not in tiny.text and "例年この時期" not in tiny.text


def test_changes_to_saved_calls_and_closing_soon(site, world):
    ids, groups, _ = world
    with Session(site.engine) as session:
        save_call(session, session.get(GroupRow, groups["kids"]), ids["kodomo"])
        session.commit()
    extended = [dict(c) for c in CALLS if c["id"] == "kodomo"]
    extended[0]["text"] = extended[0]["text"].replace("2026年12月20日", "2027年1月20日")
    Ingestor(site.engine, today=TODAY, now=SECOND_CRAWL).ingest(extended)

    since = FIRST_CRAWL + timedelta(hours=1)
    kids = build(site, groups["kids"], since=since)
    assert kids.context.new == [] and not kids.empty
    [change] = kids.context.changes
    assert (change.call_id, change.label) == (ids["kodomo"], "締切延長")
    assert change.detail == "2026年12月20日（日） → 2027年1月20日（水）"
    assert "【締切延長】子ども食堂の運営を応援する助成" in kids.text
    # chiba closes on 12/5, within 14 days; kodomo now closes on 1/20.
    assert ids_of(kids.context.closing) == [ids["chiba"]]
    assert kids.subject == "【かまがや助成情報】11/23週 変更1件・締切間近1件"
    # The NPO did not save kodomo: no change for it.
    npo = build(site, groups["npo"], since=since)
    assert npo.context.changes == []
    assert ids_of(npo.context.closing) == [ids["chiba"], ids["kankyo"]]
    # A dismissed call is not closing-soon either.
    with Session(site.engine) as session:
        dismiss_call(session, session.get(GroupRow, groups["npo"]), ids["kankyo"])
        session.commit()
    npo = build(site, groups["npo"], since=since)
    assert ids_of(npo.context.closing) == [ids["chiba"]]
    # Changes before the previous digest are not told again.
    assert build(site, groups["kids"], since=SECOND_CRAWL + timedelta(hours=1)).empty


def test_a_quiet_week_sends_a_short_mail_or_nothing(site, world):
    _, groups, _ = world
    quiet = FIRST_CRAWL + timedelta(hours=1)
    with Session(site.engine) as session:
        session.get(GroupRow, groups["tiny"]).digest_when_empty = "skip"
        session.commit()
    assert build(site, groups["tiny"], since=quiet) is None

    short = build(site, groups["kids"], since=quiet)  # digest_when_empty = "short"
    assert short.empty and short.context.short
    assert short.counts["closing"] == 1 and short.counts["courses"] == 1
    assert short.counts["predicted"] == short.counts["offers"] == 0
    assert short.subject == "【かまがや助成情報】11/23週 締切間近1件"
    assert "新しい助成金の情報はありませんでした" in short.text
    assert "例年この時期" not in short.text and "寄付金" not in short.text

    # Nothing closing soon and no courses: nothing to send even in "short" mode.
    assert build(site, groups["kids"], since=quiet, today=date(2027, 3, 1)) is None


def test_crawled_text_is_escaped_in_html_and_literal_in_text(site, world):
    _, groups, _ = world
    digest = build(site, groups["tiny"], since=None)
    assert HOSTILE in digest.text
    assert "<script>" not in digest.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;子ども食堂の備品助成" in digest.html
    html = BeautifulSoup(digest.html, "html.parser")
    assert HOSTILE in html.get_text()


def test_changes_to_calls_an_earlier_digest_listed(site, world):
    """A call a group was sent (not saved) is followed too: its deadline extension is told in
    the next week's digest, to the groups that were sent it and to no other."""
    from digest.send import queue_digests

    ids, groups, _ = world
    queue_digests(site.engine, site.settings, WEEK, today=TODAY)
    with Session(site.engine) as session:
        listed = set(
            session.scalars(
                select(DigestCallRow.call_id).where(DigestCallRow.group_id == groups["kids"])
            )
        )
    assert ids["kodomo"] in listed
    late = make_group(site, "late@example.jp", "あとから来た会")  # same profile, not sent it

    extended = [dict(c) for c in CALLS if c["id"] == "kodomo"]
    extended[0]["text"] = extended[0]["text"].replace("2026年12月20日", "2027年1月20日")
    Ingestor(site.engine, today=TODAY, now=datetime.now(UTC) + timedelta(seconds=1)).ingest(
        extended
    )
    following = IsoWeek.of(TODAY + timedelta(days=7))
    queue_digests(site.engine, site.settings, following, today=TODAY + timedelta(days=7))
    stored = _outbox_text(site, groups["kids"], following)
    assert "━━ 気になる・お知らせ済みの公募の変更（1件） ━━" in stored
    assert "【締切延長】子ども食堂の運営を応援する助成" in stored
    assert "2026年12月20日（日） → 2027年1月20日（水）" in stored
    # The late group hears of kodomo as a new call, with its new deadline, not as a change.
    late_text = _outbox_text(site, late, following)
    assert "締切延長" not in late_text and "子ども食堂の運営を応援する助成" in late_text


def _outbox_text(site, group_id: int, week: IsoWeek) -> str:
    import email as email_lib
    import email.policy

    from aggregator.storage.models import OutboxRow

    with Session(site.engine) as session:
        raw = session.scalar(
            select(OutboxRow.message).where(
                OutboxRow.group_id == group_id, OutboxRow.key.like(f"digest:%:{week}:%")
            )
        )
    message = email_lib.message_from_string(raw, policy=email.policy.default)
    return message.get_body(("plain",)).get_content()


def test_a_long_list_is_cut_at_the_limit_with_the_rest_counted_and_linked(site):
    many = [
        _call(f"many{n:02d}", f"こどもの居場所づくり応援助成 その{n}",
              f"対象: 子どもの居場所づくりに取り組む団体{INFORMAL_OK}\n"
              f"締切: 2027年1月{n + 1}日\n助成金額: 上限{n + 5}万円\n対象地域: 全国")
        for n in range(NEW_LIMIT + 3)
    ]  # fmt: skip
    Ingestor(site.engine, today=TODAY, now=FIRST_CRAWL).ingest(many)
    kids = make_group(site, "kids@example.jp", "こども広場の会")
    digest = build(site, kids, since=None)
    assert len(digest.context.new) == NEW_LIMIT and digest.context.more_new == 3
    # the earliest deadlines are listed
    assert [i.title for i in digest.context.new][:2] == [
        "こどもの居場所づくり応援助成 その0",
        "こどもの居場所づくり応援助成 その1",
    ]
    assert f"新着{NEW_LIMIT + 3}件" in digest.subject
    assert f"（{NEW_LIMIT + 3}件）" in digest.text and "ほか 3件" in digest.text
    assert "http://testserver/?field=children_youth" in digest.text
    html = BeautifulSoup(digest.html, "html.parser")
    assert html.find("a", string="サイトの一覧")["href"].endswith("/?field=children_youth")
