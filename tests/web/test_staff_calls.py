"""Calls by hand (preview through the real normalizer, corrections kept), editing with
「元に戻す」, and merge / split from the staff pages — each surviving a later crawl."""

from __future__ import annotations

from datetime import date

from bs4 import BeautifulSoup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aggregator.storage.models import CallOverrideRow, CallRow, DedupeDecisionRow, ListingRow
from tests.web.conftest import ingest_calls

STAFF = "center-staff@kyodo.example.jp"

FLYER = (
    "鎌ケ谷市内で子ども食堂を運営する団体を応援します。\n"
    "応募締切　令和8年12月25日（金）必着\n"
    "助成金額　1団体 上限30万円\n"
    "対象　市内で活動する団体（任意団体も可）\n"
    "問い合わせ　047-000-0000（平日9時〜17時）"
)
CRAWLED = {
    "id": "c-501",
    "source": "canpan",
    "title": "2026年度 こども未来応援助成",
    "text": "締切: 2027年1月29日\n助成金額: 上限50万円\n対象: 子どもの居場所づくりに取り組む団体",
    "url": "https://grants.example.jp/canpan/c-501",
    "published": "2026-11-20",
    "organizer": "公益財団法人 こども未来財団",
}
REPOST = {
    "id": "mag-88#4",
    "source": "chiba_npo",
    "title": "（公財）こども未来財団「こども未来応援助成」",
    "text": "【締切】令和9年1月29日（金）\n【助成額】上限50万円\n【対象】子どもの居場所づくり",
    "url": "https://pref.example.jp/npo/mag88.html#4",
    "published": "2026-11-22",
}
FOREST = {
    "id": "c-777",
    "source": "canpan",
    "title": "里山の手入れ応援助成",
    "text": "締切: 2027年2月10日\n助成金額: 上限20万円\n対象: 森林保全のボランティア団体",
    "url": "https://grants.example.jp/canpan/c-777",
    "published": "2026-11-18",
    "organizer": "一般財団法人 みどりの森基金",
}


def form_fields(html: str, action: str) -> list[tuple[str, str]]:
    """What a browser sends for the form posting to `action` (checked boxes, selected
    options, every input's value), without its buttons and CSRF token."""
    soup = BeautifulSoup(html, "html.parser")
    form = soup.find("form", action=action)
    assert form is not None, f"no form posting to {action}"
    pairs: list[tuple[str, str]] = []
    for element in form.find_all(["input", "select", "textarea"]):
        name = element.get("name")
        if not name or name == "csrf_token":
            continue
        if element.name == "select":
            chosen = element.find("option", selected=True) or element.find("option")
            pairs.append((name, chosen.get("value", "")))
        elif element.name == "textarea":
            pairs.append((name, element.get_text()))
        elif element.get("type") in ("checkbox", "radio"):
            if element.has_attr("checked"):
                pairs.append((name, element.get("value", "on")))
        else:
            pairs.append((name, element.get("value", "")))
    return pairs


def as_data(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    """Form pairs as httpx sends them (a list value repeats the field)."""
    data: dict[str, str | list[str]] = {}
    for key, value in pairs:
        if key in data:
            existing = data[key]
            data[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        elif key in ("fields", "revert"):
            data[key] = [value]
        else:
            data[key] = value
    return data


def replace(pairs: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    assert any(k == name for k, _ in pairs), name
    return [(k, value if k == name else v) for k, v in pairs]


def _staff(site):
    site.user("staff", STAFF)
    return site.sign_in(STAFF)


def _call_of(site, source: str, key: str) -> int:
    with Session(site.engine) as s:
        return s.scalar(
            select(ListingRow.call_id).where(
                ListingRow.source == source, ListingRow.source_key == key
            )
        )


def _preview(site, client, **fields):
    data = {"title": "こども食堂応援助成", "organizer": "鎌ケ谷みらい基金", "text": FLYER, **fields}
    return site.post(client, "/staff/calls/new", {**data, "action": "preview"})


def test_preview_reads_a_japanese_flyer_with_the_real_normalizer(any_site):
    client = _staff(any_site)
    page = _preview(any_site, client)
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    assert soup.find(id="f-deadline")["value"] == "2026-12-25"  # 令和8年12月25日
    assert soup.find(id="f-max_amount_yen")["value"] == "300000"  # 上限30万円
    deadline = soup.find(id="fact-deadline")
    assert "令和8年12月25日" in deadline.select_one("q.evidence").get_text()
    assert "上限30万円" in soup.find(id="fact-max_amount_yen").get_text()
    assert soup.find(id="f-informal_groups_ok").find("option", selected=True)["value"] == "yes"
    checked = [i["value"] for i in soup.select('input[name="fields"][checked]')]
    assert checked == ["children_youth"]  # 子ども食堂
    area = soup.find(id="f-area").find("option", selected=True)["value"]
    assert area == "municipality:鎌ケ谷市"  # 市内 on a centre listing
    # What was typed stays in the form, for a second reading or the save.
    assert soup.find(id="f-title")["value"] == "こども食堂応援助成"
    assert "047-000-0000" in soup.find(id="f-text").get_text()
    # Every input has a visible label.
    for element in soup.select("form.call-form input:not([type=hidden]), form.call-form select"):
        assert soup.find("label", attrs={"for": element["id"]}) is not None, element


def test_a_corrected_deadline_is_stored_shown_and_kept_by_a_later_crawl(any_site):
    site = any_site
    client = _staff(site)
    page = _preview(site, client)
    form = form_fields(page.text, "/staff/calls/new")
    # The phone call said the deadline moved to 12月28日; the amount is right.
    form = replace(form, "deadline", "2026-12-28")
    response = site.post(client, "/staff/calls/new", as_data([*form, ("action", "save")]))
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/calls/") and location.endswith("?notice=call_added")
    call_id = int(location.split("/")[2].split("?")[0])
    with Session(site.engine) as s:
        row = s.get(CallRow, call_id)
        assert row.deadline == date(2026, 12, 28)
        assert row.max_amount_yen == 300_000
        assert row.source == "centre"
        assert s.get(CallOverrideRow, call_id).values == {"deadline": "2026-12-28"}
        [listing] = s.scalars(select(ListingRow).where(ListingRow.call_id == call_id)).all()
        assert listing.record["deadline"] == "2026-12-25"  # the listing keeps what it said
    call_page = client.get(f"/calls/{call_id}")
    assert call_page.status_code == 200
    assert "2026年12月28日" in call_page.text
    assert "センター登録" in call_page.text

    # The flyer is posted again by a newsletter later: same call, the correction stays.
    ingest_calls(
        site.engine,
        [
            {
                "id": "mag-91#2",
                "source": "chiba_npo",
                "title": "鎌ケ谷みらい基金「こども食堂応援助成」",
                "text": "【締切】令和8年12月25日（金）必着\n【助成額】上限30万円\n"
                "【対象】鎌ケ谷市内で子ども食堂を運営する団体",
                "url": "https://pref.example.jp/npo/mag91.html#2",
                "published": "2026-11-28",
            }
        ],
    )
    assert _call_of(site, "chiba_npo", "mag-91#2") == call_id
    with Session(site.engine) as s:
        assert s.get(CallRow, call_id).deadline == date(2026, 12, 28)
    assert "2026年12月28日" in client.get(f"/calls/{call_id}").text

    # Sending the same save twice (a double click) does not make a second call.
    again = site.post(client, "/staff/calls/new", as_data([*form, ("action", "save")]))
    assert again.headers["location"].startswith(f"/calls/{call_id}")
    with Session(site.engine) as s:
        assert _centre_listings(s) == 1
    # The same form sent back with another call typed over it: a new call, the first unharmed.
    other = replace(form, "title", "里山ボランティア活動助成")
    other = replace(other, "text", "締切　令和9年2月26日（金）\n助成金額　上限10万円\n森林の手入れ")
    third = site.post(client, "/staff/calls/new", as_data([*other, ("action", "save")]))
    assert third.status_code == 303
    assert not third.headers["location"].startswith(f"/calls/{call_id}")
    with Session(site.engine) as s:
        assert s.get(CallRow, call_id).title == "こども食堂応援助成"
        assert _centre_listings(s) == 2


def _centre_listings(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(ListingRow).where(ListingRow.source == "centre")
    )


def test_a_call_already_crawled_is_merged_and_the_staff_are_told(any_site):
    site = any_site
    ingest_calls(site.engine, [CRAWLED])
    crawled_id = _call_of(site, "canpan", "c-501")
    client = _staff(site)
    page = site.post(
        client,
        "/staff/calls/new",
        {
            "title": "こども未来応援助成（2026年度）",
            "organizer": "公益財団法人 こども未来財団",
            "text": "締切　令和9年1月29日（金）\n助成金額　上限50万円\n子どもの居場所づくりの団体",
            "action": "preview",
        },
    )
    form = form_fields(page.text, "/staff/calls/new")
    response = site.post(client, "/staff/calls/new", as_data([*form, ("action", "save")]))
    assert response.status_code == 303
    assert response.headers["location"] == f"/calls/{crawled_id}?notice=merged_existing"
    with Session(site.engine) as s:
        sources = s.scalars(select(ListingRow.source).where(ListingRow.call_id == crawled_id)).all()
        assert sorted(sources) == ["canpan", "centre"]
        assert s.get(CallOverrideRow, crawled_id) is None  # nothing was corrected
    from api.web import NOTICES

    assert NOTICES["merged_existing"] == "既存の公募と同じものとしてまとめました。"


def test_the_new_call_form_says_what_is_missing_and_keeps_what_was_typed(site):
    client = _staff(site)
    page = client.get("/staff/calls/new")
    assert page.status_code == 200 and "（必須）" in page.text
    response = site.post(
        client,
        "/staff/calls/new",
        {
            "title": "",
            "organizer": "みらい基金",
            "url": "javascript:alert(1)",
            "text": "",
            "action": "preview",
        },
    )
    assert response.status_code == 400
    soup = BeautifulSoup(response.text, "html.parser")
    alert = soup.find(attrs={"role": "alert"}).get_text()
    assert "公募の名称を入力してください" in alert
    assert "本文）を入力してください" in alert
    assert "http:// か https://" in alert
    assert soup.find(id="f-organizer")["value"] == "みらい基金"

    # A correction that cannot be read: 400, the corrections typed are shown again.
    page = _preview(site, client)
    form = replace(form_fields(page.text, "/staff/calls/new"), "max_amount_yen", "たくさん")
    form = replace(form, "deadline", "2026-12-26")
    response = site.post(client, "/staff/calls/new", as_data([*form, ("action", "save")]))
    assert response.status_code == 400
    soup = BeautifulSoup(response.text, "html.parser")
    assert "数字で入力してください" in soup.find(attrs={"role": "alert"}).get_text()
    assert soup.find(id="f-max_amount_yen")["value"] == "たくさん"
    assert soup.find(id="f-deadline")["value"] == "2026-12-26"
    with Session(site.engine) as s:
        assert s.scalar(select(func.count()).select_from(CallRow)) == 0


def test_edit_keeps_corrections_across_crawls_and_revert_brings_the_crawled_value_back(any_site):
    site = any_site
    ingest_calls(site.engine, [CRAWLED])
    call_id = _call_of(site, "canpan", "c-501")
    client = _staff(site)
    page = client.get(f"/staff/calls/{call_id}/edit")
    assert page.status_code == 200
    form = form_fields(page.text, f"/staff/calls/{call_id}/edit")
    form = replace(form, "max_amount_yen", "40万")
    form = replace(form, "organizer", "こども未来財団")
    form = [*form, ("note", "主催者に電話で確認しました")]
    response = site.post(client, f"/staff/calls/{call_id}/edit", as_data(form))
    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/calls/{call_id}/edit?notice=saved"
    with Session(site.engine) as s:
        stored = s.get(CallOverrideRow, call_id)
        assert stored.values == {"max_amount_yen": 400_000, "organizer": "こども未来財団"}
        assert stored.note == "主催者に電話で確認しました"

    # The edit page shows the crawled value beside each corrected one.
    page = client.get(f"/staff/calls/{call_id}/edit")
    soup = BeautifulSoup(page.text, "html.parser")
    amount = soup.find(id="fact-max_amount_yen")
    assert "overridden" in amount["class"]
    assert "掲載元から読み取った値：50万円" in amount.get_text()
    assert amount.find("input", attrs={"name": "revert", "value": "max_amount_yen"}) is not None
    assert soup.find(id="fact-deadline").find("input", attrs={"name": "revert"}) is None
    assert "40万円" in client.get(f"/calls/{call_id}").text

    # The source changes its deadline and amount: only the deadline follows.
    ingest_calls(
        site.engine,
        [
            {
                **CRAWLED,
                "text": CRAWLED["text"].replace("1月29日", "2月5日").replace("50万円", "60万円"),
            }
        ],
    )
    with Session(site.engine) as s:
        row = s.get(CallRow, call_id)
        assert (row.deadline, row.max_amount_yen) == (date(2027, 2, 5), 400_000)
        assert row.organizer == "こども未来財団"

    # 元に戻す on the amount: the crawled 60万円 comes back, the organizer stays corrected.
    page = client.get(f"/staff/calls/{call_id}/edit")
    form = [*form_fields(page.text, f"/staff/calls/{call_id}/edit"), ("revert", "max_amount_yen")]
    assert site.post(client, f"/staff/calls/{call_id}/edit", as_data(form)).status_code == 303
    with Session(site.engine) as s:
        row = s.get(CallRow, call_id)
        assert row.max_amount_yen == 600_000
        assert s.get(CallOverrideRow, call_id).values == {"organizer": "こども未来財団"}
    page = client.get(f"/staff/calls/{call_id}/edit")
    form = [*form_fields(page.text, f"/staff/calls/{call_id}/edit"), ("revert", "organizer")]
    response = site.post(client, f"/staff/calls/{call_id}/edit", as_data(form))
    assert response.headers["location"].endswith("notice=reverted")
    with Session(site.engine) as s:
        assert s.get(CallOverrideRow, call_id) is None
        assert s.get(CallRow, call_id).organizer == "公益財団法人 こども未来財団"


def test_an_unchanged_edit_form_stores_nothing(site):
    ingest_calls(site.engine, [CRAWLED, FOREST])
    call_id = _call_of(site, "canpan", "c-777")
    client = _staff(site)
    page = client.get(f"/staff/calls/{call_id}/edit")
    form = form_fields(page.text, f"/staff/calls/{call_id}/edit")
    assert site.post(client, f"/staff/calls/{call_id}/edit", as_data(form)).status_code == 303
    with Session(site.engine) as s:
        assert s.get(CallOverrideRow, call_id) is None


def test_edit_errors_are_shown_with_what_was_typed(site):
    ingest_calls(site.engine, [CRAWLED])
    call_id = _call_of(site, "canpan", "c-501")
    client = _staff(site)
    page = client.get(f"/staff/calls/{call_id}/edit")
    form = replace(form_fields(page.text, f"/staff/calls/{call_id}/edit"), "deadline", "来年の春")
    form = replace(form, "title", "")
    response = site.post(client, f"/staff/calls/{call_id}/edit", as_data(form))
    assert response.status_code == 400
    soup = BeautifulSoup(response.text, "html.parser")
    alert = soup.find(attrs={"role": "alert"}).get_text()
    assert "名称を入力してください" in alert and "2026-12-25 の形" in alert
    assert soup.find(id="f-deadline")["value"] == "来年の春"
    with Session(site.engine) as s:
        assert s.get(CallOverrideRow, call_id) is None


def test_merge_and_split_from_the_staff_pages_persist_across_crawls(any_site):
    site = any_site
    ingest_calls(site.engine, [CRAWLED, REPOST, FOREST])
    main, forest = _call_of(site, "canpan", "c-501"), _call_of(site, "canpan", "c-777")
    assert _call_of(site, "chiba_npo", "mag-88#4") == main  # the matcher joined the repost
    client = _staff(site)

    page = client.get(f"/staff/calls/{main}/merge")
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    rows = soup.select("tbody tr")
    assert len(rows) == 2
    assert "CANPAN 助成制度" in rows[0].get_text() and "ちばNPO" in rows[1].get_text()
    assert "この掲載を別の公募に分ける" in page.text

    # Split the repost off: a call of its own, and it stays apart after a crawl.
    with Session(site.engine) as s:
        repost_listing = s.scalar(select(ListingRow.id).where(ListingRow.source == "chiba_npo"))
    response = site.post(client, f"/staff/calls/{main}/split", {"listing_id": str(repost_listing)})
    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/calls/{main}/merge?notice=split"
    split_off = _call_of(site, "chiba_npo", "mag-88#4")
    assert split_off != main
    ingest_calls(
        site.engine, [{**REPOST, "text": REPOST["text"] + "\n※様式を更新しました"}, CRAWLED]
    )
    assert _call_of(site, "chiba_npo", "mag-88#4") == split_off

    # The split-off repost is offered as a likely duplicate; the forest call is merged by number.
    page = client.get(f"/staff/calls/{main}/merge")
    candidates = BeautifulSoup(page.text, "html.parser").select(".candidates li")
    assert any(f"番号 {split_off}" in c.get_text() for c in candidates)  # a similar title
    response = site.post(client, f"/staff/calls/{main}/merge", {"other_call_id": str(forest)})
    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/calls/{main}/merge?notice=merged"
    assert _call_of(site, "canpan", "c-777") == main
    with Session(site.engine) as s:
        assert s.get(CallRow, forest) is None
        kinds = s.scalars(select(DedupeDecisionRow.kind)).all()
        assert sorted(kinds) == ["merge", "split"]
    ingest_calls(site.engine, [{**FOREST, "text": FOREST["text"] + "\n（更新）"}])
    assert _call_of(site, "canpan", "c-777") == main
    assert client.get(f"/staff/calls/{forest}/merge").status_code == 404


def test_merge_form_errors(site):
    ingest_calls(site.engine, [FOREST])
    call_id = _call_of(site, "canpan", "c-777")
    client = _staff(site)
    for value, message in (
        ("", "数字で入力"),
        ("abc", "数字で入力"),
        (str(call_id), "同じ公募です"),
        ("999999", "見つかりません"),
    ):
        response = site.post(client, f"/staff/calls/{call_id}/merge", {"other_call_id": value})
        assert response.status_code == 400, value
        assert (
            message
            in BeautifulSoup(response.text, "html.parser").find(attrs={"role": "alert"}).get_text()
        )
    # A call with one listing cannot be split; another call's listing is not found here.
    with Session(site.engine) as s:
        listing = s.scalar(select(ListingRow.id))
    response = site.post(client, f"/staff/calls/{call_id}/split", {"listing_id": str(listing)})
    assert response.status_code == 400
    assert "分けられません" in response.text
    ingest_calls(site.engine, [CRAWLED])
    other = _call_of(site, "canpan", "c-501")
    assert (
        site.post(client, f"/staff/calls/{other}/split", {"listing_id": str(listing)}).status_code
        == 404
    )


def test_find_calls_by_keyword_or_number(site):
    ingest_calls(site.engine, [CRAWLED, FOREST])
    forest = _call_of(site, "canpan", "c-777")
    client = _staff(site)
    page = client.get("/staff/calls", params={"q": "里山"})
    assert page.status_code == 200
    assert f'href="/staff/calls/{forest}/edit"' in page.text
    assert "こども未来応援助成" not in page.text
    response = client.get("/staff/calls", params={"q": str(forest)})
    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/calls/{forest}/edit"
