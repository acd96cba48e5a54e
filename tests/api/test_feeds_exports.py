"""Atom and iCalendar feeds, the one-call .ics, CSV and XLSX exports, read back as their
consumers would (xml.etree, icalendar, csv, openpyxl), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta

import pytest
from icalendar import Calendar
from openpyxl import load_workbook

from api.routers import exports
from tests.api.conftest import HOSTILE_ORGANIZER, HOSTILE_TITLE, SITE_URL
from tests.api.test_api import OPEN_BY_DEADLINE, ids_of

A = "{http://www.w3.org/2005/Atom}"
DEADLINES = {
    "kodomo": date(2026, 12, 15),
    "hostile": date(2026, 12, 20),
    "kodomo-kata": date(2027, 1, 10),
    "yomikikase": date(2027, 1, 8),
}


# -- Atom ----------------------------------------------------------------------------------------


def atom(client, query: str = "") -> ET.Element:
    response = client.get(f"/feeds/calls.atom?{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    return ET.fromstring(response.content)


def test_atom_feed_of_a_search(client, call_ids) -> None:
    feed = atom(client, "field=children_youth")
    assert feed.tag == f"{A}feed"
    assert feed.findtext(f"{A}id").startswith(f"{SITE_URL}/feeds/calls.atom?")
    assert feed.findtext(f"{A}title")
    assert feed.findtext(f"{A}updated") == "2026-11-22T09:00:00Z"  # the latest change
    entries = feed.findall(f"{A}entry")
    expected = ["kodomo", "hostile", "yomikikase", "kodomo-kata"]
    assert [e.findtext(f"{A}id") for e in entries] == [
        f"{SITE_URL}/calls/{i}" for i in ids_of(call_ids, *expected)
    ]
    first = entries[0]
    assert first.findtext(f"{A}title") == "こども食堂ネットワーク助成"
    (alternate,) = [li for li in first.findall(f"{A}link") if li.get("rel") == "alternate"]
    assert alternate.get("href") == f"{SITE_URL}/calls/{call_ids['kodomo']}"
    summary = first.findtext(f"{A}summary")
    assert "実施団体: 公益財団法人 ひだまりこども財団" in summary
    assert "締切: 2026年12月15日" in summary and "上限額: 30万円" in summary
    assert first.findtext(f"{A}updated") == "2026-11-21T09:00:00Z"  # listed again that day
    yomikikase = entries[2]
    assert yomikikase.findtext(f"{A}updated") == "2026-11-22T09:00:00Z"  # 締切延長


def test_atom_feed_lists_up_to_100_by_default(client, call_ids) -> None:
    entries = atom(client).findall(f"{A}entry")
    assert [e.findtext(f"{A}id") for e in entries] == [
        f"{SITE_URL}/calls/{i}" for i in ids_of(call_ids, *OPEN_BY_DEADLINE)
    ]
    assert len(atom(client, "per_page=5").findall(f"{A}entry")) == 5
    undated = atom(client, "q=随時").find(f"{A}entry")
    assert "締切: 随時" in undated.findtext(f"{A}summary")


def test_atom_feed_escapes_the_hostile_call(client) -> None:
    response = client.get("/feeds/calls.atom?q=緊急こども")
    assert b"<script" not in response.content and b"<img" not in response.content
    assert b"javascript:" not in response.content
    (entry,) = ET.fromstring(response.content).findall(f"{A}entry")
    assert entry.findtext(f"{A}title") == HOSTILE_TITLE  # text, escaped in the XML
    assert entry.find(f"{A}title").get("type") == "text"
    hrefs = [li.get("href") for li in entry.findall(f"{A}link")]
    assert all(h.startswith(SITE_URL) for h in hrefs)


# -- iCalendar -----------------------------------------------------------------------------------


def calendar(client, path: str) -> Calendar:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.content)


def test_ics_feed_has_an_all_day_event_per_deadline(client, call_ids) -> None:
    cal = calendar(client, "/feeds/calls.ics?field=children_youth")
    assert cal["X-WR-CALNAME"]
    assert cal["REFRESH-INTERVAL"].dt == timedelta(hours=6)
    assert str(cal["X-PUBLISHED-TTL"]) == "PT6H"
    assert str(cal["VERSION"]) == "2.0" and cal["METHOD"] == "PUBLISH"
    events = cal.walk("VEVENT")
    expected = ["kodomo", "hostile", "yomikikase", "kodomo-kata"]
    assert [str(e["UID"]) for e in events] == [
        f"call-{i}@kyodo" for i in ids_of(call_ids, *expected)
    ]
    for key, event in zip(expected, events, strict=True):
        start, end = event["DTSTART"].dt, event["DTEND"].dt
        assert type(start) is date and start == DEADLINES[key]  # all day: a date, not a time
        assert end == start + timedelta(days=1)
        page = f"{SITE_URL}/calls/{call_ids[key]}"
        assert str(event["URL"]) == page
        assert page in str(event["DESCRIPTION"])
        assert str(event["SUMMARY"]).startswith("締切: ")
    assert str(events[0]["SUMMARY"]) == "締切: こども食堂ネットワーク助成"
    assert "https://grants.example.jp/canpan/kodomo" in str(events[0]["DESCRIPTION"])


def test_ics_feed_skips_calls_without_a_deadline(client, call_ids) -> None:
    cal = calendar(client, "/feeds/calls.ics")
    uids = [str(e["UID"]) for e in cal.walk("VEVENT")]
    assert len(uids) == len(OPEN_BY_DEADLINE) - 1
    assert f"call-{call_ids['zuiji']}@kyodo" not in uids
    assert calendar(client, "/feeds/calls.ics?q=随時").walk("VEVENT") == []


def test_ics_of_the_hostile_call_keeps_text_and_drops_javascript(client, call_ids) -> None:
    cal = calendar(client, "/feeds/calls.ics?q=緊急こども")
    (event,) = cal.walk("VEVENT")
    assert str(event["SUMMARY"]) == f"締切: {HOSTILE_TITLE}"  # plain text in a calendar
    assert "javascript:" not in str(event["DESCRIPTION"])
    assert str(event["URL"]) == f"{SITE_URL}/calls/{call_ids['hostile']}"


def test_one_call_ics_download(client, call_ids) -> None:
    call_id = call_ids["yomikikase"]
    response = client.get(f"/calls/{call_id}.ics")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="kyodo-call-{call_id}.ics"'
    )
    (event,) = calendar(client, f"/calls/{call_id}.ics").walk("VEVENT")
    assert event["DTSTART"].dt == date(2027, 1, 8)  # the extended deadline
    assert str(event["UID"]) == f"call-{call_id}@kyodo"  # same UID as in the feed


def test_one_call_ics_errors(client, call_ids) -> None:
    undated = client.get(f"/calls/{call_ids['zuiji']}.ics")
    assert undated.status_code == 404
    assert undated.json()["error"] == "not_found" and "締切日" in undated.json()["message"]
    assert client.get("/calls/999999.ics").status_code == 404
    wrong = client.get("/calls/abc.ics")
    assert wrong.status_code == 422 and wrong.json()["message"].startswith("id:")


# -- CSV -----------------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads it as UTF-8
    text = response.content[3:].decode("utf-8")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_has_every_matching_row_with_japanese_headers(client, call_ids) -> None:
    response = client.get("/exports/calls.csv?status=all&per_page=5&page=2")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="kyodo-calls-2026-11-28.csv"'
    )
    assert "x-kyodo-truncated" not in response.headers
    header, *rows = read_csv(response)
    assert header[:10] == [
        "名称",
        "実施団体",
        "締切",
        "上限額(円)",
        "分野",
        "地域",
        "状態",
        "任意団体",
        "URL",
        "掲載元",
    ]
    assert len(rows) == 29  # all calls: not one page
    by_id = {int(row[header.index("ID")]): dict(zip(header, row, strict=True)) for row in rows}
    assert set(by_id) == set(call_ids.values())
    npo = by_id[call_ids["npo"]]
    assert npo["名称"] == "NPO基盤強化補助金"
    assert npo["締切"] == "2026-12-25" and npo["上限額(円)"] == "1000000"
    assert npo["地域"] == "千葉県" and npo["状態"] == "募集中" and npo["任意団体"] == "不可"
    assert npo["家賃"] == "対象" and npo["分野"] == "NPO支援"
    assert npo["掲載元"].startswith("ちばNPO")
    kodomo = by_id[call_ids["kodomo"]]
    assert kodomo["掲載元"] == "CANPAN 助成制度、助成財団センター 助成金募集ニュース"
    assert kodomo["任意団体"] == "可"
    assert by_id[call_ids["zuiji"]]["締切"] == ""
    assert by_id[call_ids["passed"]]["状態"] == "終了"
    assert by_id[call_ids["upcoming"]]["状態"] == "募集予定"
    assert by_id[call_ids["kamagaya"]]["詳細ページ"] == f"{SITE_URL}/calls/{call_ids['kamagaya']}"


def test_csv_follows_the_search_order_and_filters(client, call_ids) -> None:
    header, *rows = read_csv(client.get("/exports/calls.csv"))
    assert [int(r[header.index("ID")]) for r in rows] == ids_of(call_ids, *OPEN_BY_DEADLINE)
    header, *rows = read_csv(client.get("/exports/calls.csv?cost=personnel"))
    assert [r[0] for r in rows] == ["地域福祉ボランティア育成助成", "里山環境保全推進事業補助金"]


def test_csv_neutralizes_formulas_of_the_hostile_call(client) -> None:
    header, row = read_csv(client.get("/exports/calls.csv?q=緊急こども"))
    cells = dict(zip(header, row, strict=True))
    assert cells["名称"] == HOSTILE_TITLE  # not a formula: kept as it is
    assert cells["実施団体"] == "'" + HOSTILE_ORGANIZER
    assert cells["URL"] == ""  # a javascript: URL is not exported
    assert not any(c.startswith(("=", "+", "-", "@")) for c in row)


def test_csv_is_capped_and_says_so(client, monkeypatch) -> None:
    monkeypatch.setattr(exports, "MAX_ROWS", 5)
    response = client.get("/exports/calls.csv?status=all")
    assert response.headers["x-kyodo-truncated"] == "5/29"
    _header, *rows = read_csv(response)
    assert len(rows) == 5


def test_neutralized() -> None:
    for value in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"]:
        assert exports.neutralized(value) == "'" + value
    assert exports.neutralized("助成 =1") == "助成 =1"


# -- XLSX ----------------------------------------------------------------------------------------


def test_xlsx_export(client, call_ids) -> None:
    response = client.get("/exports/calls.xlsx?status=all")
    assert response.status_code == 200
    assert response.headers["content-type"] == exports.XLSX_TYPE
    assert response.headers["content-disposition"] == (
        'attachment; filename="kyodo-calls-2026-11-28.xlsx"'
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [c.value for c in sheet[1]]
    assert header == exports.COLUMNS
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.max_row == 30  # header + 29 calls
    rows = {
        row[header.index("ID")].value: {h: c for h, c in zip(header, row, strict=True)}
        for row in sheet.iter_rows(min_row=2)
    }
    satoyama = rows[call_ids["satoyama"]]
    assert satoyama["締切"].value == datetime(2027, 1, 29)  # a date cell
    assert satoyama["締切"].is_date
    assert satoyama["上限額(円)"].value == 3_000_000 and satoyama["上限額(円)"].data_type == "n"
    assert satoyama["人件費"].value == "対象"
    assert rows[call_ids["zuiji"]]["締切"].value is None
    hostile = rows[call_ids["hostile"]]
    assert hostile["名称"].value == HOSTILE_TITLE
    assert hostile["実施団体"].value == "'" + HOSTILE_ORGANIZER
    assert hostile["実施団体"].data_type == "s"  # a string, not a formula
    formulas = [c for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []


@pytest.mark.parametrize("path", ["/exports/calls.xlsx", "/exports/calls.csv"])
def test_exports_refuse_invalid_parameters(client, path: str) -> None:
    response = client.get(path, params={"deadline_before": "2026-02-30"})
    assert response.status_code == 422
    assert response.json()["message"].startswith("deadline_before:")
