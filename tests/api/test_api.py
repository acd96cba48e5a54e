"""The JSON API (`/api/v1/calls`, `/api/v1/calls/{id}`) on SQLite and PostgreSQL.

Expected results are written as listing keys of tests/api/conftest.py, mapped to call ids.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

# Open calls on 2026-11-28, soonest deadline first (ties by id), the undated one last.
OPEN_BY_DEADLINE = [
    "kamagaya",  # 12-05
    "filler-01",  # 12-08
    "kodomo",  # 12-15 (id 1)
    "filler-02",  # 12-15
    "mimamori",  # 12-18
    "hostile",  # 12-20
    "filler-03",  # 12-22
    "npo",  # 12-25
    "filler-04",  # 12-29
    "filler-05",  # 01-05
    "yomikikase",  # 01-08 (extended from 12-10)
    "kodomo-kata",  # 01-10
    "filler-06",  # 01-12
    "filler-07",  # 01-19
    "fukushi",  # 01-20
    "filler-08",  # 01-26
    "satoyama",  # 01-29
    "filler-09",  # 02-02
    "filler-10",  # 02-09
    "kyoto",  # 02-10
    "filler-11",  # 02-16
    "filler-12",  # 02-23
    "filler-13",  # 03-02
    "filler-14",  # 03-09
    "tsuru",  # 03-15
    "zuiji",  # 随時: no deadline
]

ITEM_KEYS = {
    "id",
    "title",
    "organizer",
    "deadline",
    "deadline_kind",
    "max_amount_yen",
    "fields",
    "area",
    "status",
    "url",
    "sources",
}


def get_ids(client: TestClient, query: str = "") -> list[int]:
    response = client.get(f"/api/v1/calls?per_page=100&{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return [item["id"] for item in body["items"]]


def ids_of(call_ids: dict[str, int], *keys: str) -> list[int]:
    return [call_ids[k] for k in keys]


def test_default_search_is_open_calls_by_deadline_undated_last(client, call_ids) -> None:
    response = client.get("/api/v1/calls", params={"per_page": 100})
    body = response.json()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert {"total", "page", "items"} <= set(body)
    assert body["total"] == 26 and body["page"] == 1
    assert [i["id"] for i in body["items"]] == ids_of(call_ids, *OPEN_BY_DEADLINE)
    assert all(set(item) == ITEM_KEYS for item in body["items"])


def test_item_follows_the_contract(client, call_ids) -> None:
    (item,) = client.get("/api/v1/calls", params={"q": "鶴"}).json()["items"]
    assert item == {
        "id": call_ids["tsuru"],
        "title": "鶴の里 自然学習助成",
        "organizer": "公益財団法人 つるの里基金",
        "deadline": "2027-03-15",
        "deadline_kind": "fixed",
        "max_amount_yen": 350_000,
        "fields": ["environment", "social_education"],
        "area": "national",
        "status": "open",
        "url": "https://grants.example.jp/canpan/tsuru",
        "sources": [{"source": "canpan", "url": "https://grants.example.jp/canpan/tsuru"}],
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # keywords: 1, 2 and 3+ characters, kana and widths folded, every word must match
        ("q=鶴", ["tsuru"]),
        ("q=子", ["kodomo", "kodomo-kata"]),
        ("q=福祉", ["mimamori", "fukushi", "zuiji"]),
        ("q=こども", ["kodomo", "hostile", "kodomo-kata"]),
        ("q=コドモ", ["kodomo", "hostile", "kodomo-kata"]),
        ("q=ｺﾄﾞﾓ", ["kodomo", "hostile", "kodomo-kata"]),
        ("q=ＮＰＯ", ["npo", "fukushi"]),
        ("q=npo", ["npo", "fukushi"]),
        ("q=食堂ネット", ["kodomo"]),
        ("q=里山 環境", ["satoyama"]),
        ("q=里山　福祉", []),  # full-width space separates words too
        ("q=100%25", []),  # LIKE characters are escaped
        ("q=まちづくり&per_page=100", [f"filler-{n:02d}" for n in range(1, 15)]),
        # fields (OR over repeated values)
        ("field=children_youth", ["kodomo", "hostile", "yomikikase", "kodomo-kata"]),
        ("field=environment&field=international", ["satoyama", "tsuru"]),
        (
            "field=environment&field=international&status=all",
            ["passed", "satoyama", "upcoming", "tsuru"],
        ),
        ("field=gender_equality", []),
        # areas
        ("area=prefecture", ["npo"]),
        ("area=千葉県", ["npo"]),
        ("area=千葉県&status=all", ["npo", "upcoming"]),
        ("area=municipality", ["kamagaya"]),
        ("area=鎌ケ谷市", ["kamagaya"]),
        ("area=prefecture:京都府", ["kyoto"]),
        ("area=大阪府", []),
        ("area=reachable", [k for k in OPEN_BY_DEADLINE if k != "kyoto"]),
        ("area=national", [k for k in OPEN_BY_DEADLINE if k not in ("kyoto", "npo", "kamagaya")]),
        # statuses: a passed deadline stored as open counts as closed
        ("status=upcoming", ["upcoming"]),
        ("status=closed", ["bosai", "passed"]),
        # deadlines
        ("deadline_before=2026-12-15", ["kamagaya", "filler-01", "kodomo", "filler-02"]),
        ("deadline_after=2027-03-01", ["filler-13", "filler-14", "tsuru"]),
        (
            "deadline_after=2026-12-16&deadline_before=2026-12-22",
            ["mimamori", "hostile", "filler-03"],
        ),
        ("within=7", ["kamagaya"]),
        # amounts, informal groups, costs
        (
            "min_amount=1000000",
            [
                "mimamori",
                "npo",
                "fukushi",
                "satoyama",
                "filler-10",
                "filler-11",
                "filler-12",
                "filler-13",
                "filler-14",
            ],
        ),
        ("min_amount=3000001", []),
        ("informal_groups_ok=true", ["kamagaya", "kodomo"]),
        ("informal_groups_ok=false", ["npo", "fukushi"]),
        ("cost=personnel", ["fukushi", "satoyama"]),
        ("cost=honoraria", ["kodomo", "satoyama"]),
        ("cost=rent", ["npo", "satoyama"]),
        ("cost=personnel&cost=rent", ["satoyama"]),
        # source kinds: 国 jgrants/wam, 県 chiba_npo, 市 chiba_shakyo, 財団 canpan/jfc
        ("source_kind=national", ["mimamori", "fukushi", "satoyama", "zuiji"]),
        ("source_kind=national&status=closed", ["bosai"]),
        ("source_kind=prefecture", ["npo"]),
        ("source_kind=prefecture&status=upcoming", ["upcoming"]),
        ("source_kind=municipality", ["kamagaya"]),
        (
            "source_kind=foundation",
            [
                k
                for k in OPEN_BY_DEADLINE
                if k not in ("mimamori", "fukushi", "satoyama", "zuiji", "npo", "kamagaya")
            ],
        ),
        ("source_kind=corporate", []),
        # combined
        ("q=助成&field=children_youth&informal_groups_ok=true", ["kodomo"]),
        ("source_kind=national&min_amount=2000000&sort=amount", ["satoyama", "fukushi"]),
    ],
)
def test_filters(client, call_ids, query: str, expected: list[str]) -> None:
    assert get_ids(client, query) == ids_of(call_ids, *expected)


def test_status_all_lists_every_call(client, call_ids) -> None:
    ids = get_ids(client, "status=all")
    assert sorted(ids) == sorted(set(call_ids.values()))
    assert len(ids) == 29  # 30 listings, two of them one call


def test_sort_by_amount_largest_first(client, call_ids) -> None:
    assert get_ids(client, "sort=amount&min_amount=1000000") == ids_of(
        call_ids,
        "satoyama",  # 300万
        "fukushi",  # 200万
        "filler-14",  # 140万
        "filler-13",  # 130万
        "filler-12",  # 120万 (lower id first)
        "mimamori",  # 120万
        "filler-11",  # 110万
        "npo",  # 100万
        "filler-10",  # 100万
    )


def test_sort_new_puts_the_latest_first_seen_call_first(client, call_ids) -> None:
    ids = get_ids(client, "sort=new")
    assert ids[0] == call_ids["mimamori"]  # first seen a day after the others
    assert ids[1:] == sorted(ids[1:], reverse=True)  # same first_seen: newest id first
    assert set(ids) == set(ids_of(call_ids, *OPEN_BY_DEADLINE))


def test_paging(client, call_ids) -> None:
    body = client.get("/api/v1/calls", params={"per_page": 10, "page": 3}).json()
    assert body["total"] == 26 and body["page"] == 3 and body["pages"] == 3
    assert body["per_page"] == 10
    assert [i["id"] for i in body["items"]] == ids_of(call_ids, *OPEN_BY_DEADLINE[20:])
    default = client.get("/api/v1/calls").json()
    assert default["per_page"] == 20 and len(default["items"]) == 20
    beyond = client.get("/api/v1/calls", params={"page": 9}).json()
    assert beyond["total"] == 26 and beyond["items"] == []


def test_a_call_listed_by_two_sources(client, call_ids) -> None:
    assert call_ids["kodomo"] == call_ids["kodomo-jfc"]
    (item,) = client.get("/api/v1/calls", params={"q": "食堂ネット"}).json()["items"]
    assert sorted(s["source"] for s in item["sources"]) == ["canpan", "jfc"]
    detail = client.get(f"/api/v1/calls/{item['id']}").json()
    assert sorted(li["source"] for li in detail["listings"]) == ["canpan", "jfc"]
    labels = {li["source"]: li["source_label"] for li in detail["listings"]}
    assert labels["jfc"].startswith("助成財団センター")


def test_call_detail_with_evidence_and_history(client, call_ids) -> None:
    response = client.get(f"/api/v1/calls/{call_ids['yomikikase']}")
    assert response.status_code == 200
    call = response.json()
    assert set(call) >= ITEM_KEYS
    assert call["deadline"] == "2027-01-08"
    assert call["evidence"]["deadline"] == "締切: 2027年1月8日"
    assert call["evidence"]["max_amount_yen"] == "助成金額: 上限15万円"
    (extended,) = [h for h in call["history"] if h["kind"] == "deadline_extended"]
    assert (extended["old_value"], extended["new_value"]) == ("2026-12-10", "2027-01-08")
    assert call["listings"][0]["url"] == "https://grants.example.jp/jfc/yomikikase"
    satoyama = client.get(f"/api/v1/calls/{call_ids['satoyama']}").json()
    assert satoyama["costs"] == {
        "personnel": "yes",
        "honoraria": "yes",
        "rent": "yes",
        "equipment": "not_stated",
    }
    fukushi = client.get(f"/api/v1/calls/{call_ids['fukushi']}").json()
    assert fukushi["eligibility"]["informal_groups_ok"] is False
    passed = client.get(f"/api/v1/calls/{call_ids['passed']}").json()
    assert passed["status"] == "closed"


def test_hostile_text_is_returned_as_data(client, call_ids) -> None:
    response = client.get(f"/api/v1/calls/{call_ids['hostile']}")
    assert response.headers["content-type"] == "application/json"
    call = response.json()
    assert call["title"].startswith("<script>alert(1)</script>")
    assert call["organizer"].startswith("=HYPERLINK")


@pytest.mark.parametrize("bad", ["999999", "0", "-5", "99999999999999999999"])
def test_unknown_id_is_404_json(client, bad: str) -> None:
    response = client.get(f"/api/v1/calls/{bad}")
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_found" and bad.lstrip("-") in body["message"]


@pytest.mark.parametrize("bad", ["abc", "1.5", "１"])
def test_non_integer_id_is_422_naming_id(client, bad: str) -> None:
    response = client.get(f"/api/v1/calls/{bad}")
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_parameter"
    assert body["message"].startswith("id:")


INVALID = [
    ("per_page", "0"),
    ("per_page", "101"),
    ("per_page", "abc"),
    ("page", "0"),
    ("page", "-1"),
    ("page", "abc"),
    ("status", "x"),
    ("sort", "x"),
    ("field", "nosuch"),
    ("deadline_before", "2026-13-01"),
    ("deadline_after", "tomorrow"),
    ("min_amount", "-1"),
    ("min_amount", "1e3"),
    ("min_amount", "99999999999999999999999"),
    ("within", "0"),
    ("informal_groups_ok", "maybe"),
    ("source_kind", "x"),
    ("cost", "food"),
    ("q", "a" * 201),
    ("q", "子\x00ども"),
]


@pytest.mark.parametrize(("param", "value"), INVALID)
@pytest.mark.parametrize(
    "path", ["/api/v1/calls", "/feeds/calls.atom", "/feeds/calls.ics", "/exports/calls.csv"]
)
def test_invalid_parameters_are_422_naming_them(client, path, param: str, value: str) -> None:
    response = client.get(path, params={param: value})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_parameter"
    assert body["message"].startswith(f"{param}:")
    assert [e["param"] for e in body["errors"]] == [param]


def test_strange_but_valid_keywords_do_not_fail(client) -> None:
    for q in ['"', "NEAR(a b)", "*", "a OR b", "' OR 1=1 --", "%", "_", "\\", "😀", "子 子 子"]:
        response = client.get("/api/v1/calls", params={"q": q})
        assert response.status_code == 200, (q, response.text)


def test_openapi_documents_the_api(client) -> None:
    doc = client.get("/openapi.json").json()
    operation = doc["paths"]["/api/v1/calls"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {
        "q",
        "field",
        "area",
        "status",
        "deadline_before",
        "deadline_after",
        "min_amount",
        "informal_groups_ok",
        "source_kind",
        "sort",
        "page",
        "per_page",
    } <= names
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/CallListPublic")
    schemas = doc["components"]["schemas"]
    assert {"total", "page", "items"} <= set(schemas["CallListPublic"]["properties"])
    assert set(schemas["CallPublic"]["properties"]) == ITEM_KEYS
    assert "422" in operation["responses"]
    detail = doc["paths"]["/api/v1/calls/{id}"]["get"]
    assert [p["name"] for p in detail["parameters"]] == ["id"]
    assert "404" in detail["responses"]
    assert "/feeds/calls.ics" in doc["paths"] and "/exports/calls.csv" in doc["paths"]
