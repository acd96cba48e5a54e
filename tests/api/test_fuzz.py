"""Schemathesis fuzzing of every operation in `/openapi.json`, in process through the ASGI app.

The app runs over a SQLite file filled by `tests.api.conftest.build_populated` (about thirty
calls, the hostile one among them). Each operation gets positive and negative cases (valid and
invalid parameters) from a fixed seed, so a CI run repeats the last one exactly. Checks: every
built-in schemathesis check (no 5xx, status codes, content types, headers and bodies as the
schema documents them, invalid input refused, valid input accepted, unsupported methods
refused) and our own: an error is JSON in the project's shape, `{"error": word, "message":
Japanese text}`. Every stored call also goes through the two per-call operations, checked
the same way (random ids seldom hit one).

The cases run per operation (and the status codes answered) are printed at the end of the
module: `pytest -s tests/api/test_fuzz.py`. Below them, a regression test for each defect the
fuzzing found.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from aggregator.fields import FIELDS
from aggregator.offers import OFFER_KINDS
from aggregator.settings import Settings
from aggregator.storage.db import make_engine
from api.app import create_app
from tests.api.conftest import SITE_URL, TODAY, build_populated, call_ids_in

SEED = 20261129
MAX_EXAMPLES = 100  # fuzzing-phase examples per operation (examples and coverage phases add more)
MIN_CASES = 100  # what each operation must have had, all phases together

_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'kyodo.db'}"
    build_populated(url)
    app = create_app(Settings(database_url=url, site_url=SITE_URL), today=TODAY)
    yield app
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def client(fuzz_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(fuzz_app) as test_client:
        yield test_client


def _schema() -> schemathesis.BaseSchema:
    """The app's OpenAPI document, loaded when pytest collects: `@schema.parametrize()` makes a
    test per operation from it. (`schemathesis.pytest.from_fixture`, which would load it from a
    fixture, fails on pytest 9.2: it sets `Function._nodeid`.) Building the document touches no
    database; `test_the_fuzzed_schema_is_served` checks that it is what `/openapi.json`
    answers, and the cases go to `fuzz_app`, over the populated database."""
    app = create_app(Settings(database_url="sqlite://", site_url=SITE_URL))
    doc = app.openapi()
    app.state.engine.dispose()
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # A loaded CI machine must not fail the run for slow data generation.
            "suppress-health-check": ["too_slow"],
            "generation": {
                "mode": "all",  # valid and invalid parameters
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",  # no .hypothesis folder: every run is the same run
            },
        }
    )
    return schemathesis.openapi.from_dict(doc, config=config)


schema = _schema()


@pytest.fixture(scope="module")
def fuzz_counts() -> Iterator[Counter[str]]:
    """Cases run per operation; printed, and each operation that ran must have had enough."""
    counts: Counter[str] = Counter()
    yield counts
    labels = [result.ok().label for result in schema.get_all_operations()]
    print("\nschemathesis cases per operation:")
    for label in labels:
        answers = ", ".join(
            f"{key.rsplit(' ', 1)[1]}: {n}"
            for key, n in sorted(counts.items())
            if key.startswith(f"{label} ") and key[len(label) + 1 :].isdigit()
        )
        print(f"  {counts[label]:5d}  {label}  ({answers})")
    print(f"  {sum(counts[label] for label in labels):5d}  in total ({len(labels)} operations)")
    ran = [label for label in labels if counts[label]]  # all, unless `-k` chose some
    assert ran and all(counts[label] >= MIN_CASES for label in ran), counts


@schemathesis.check
def error_has_a_message(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """An error answer is JSON `{"error": word, "message": Japanese text}`."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), (
        f"error {response.status_code} answered as {content_type!r}, not JSON"
    )
    body = response.json()
    assert isinstance(body, dict), f"error body is not an object: {body!r}"
    assert isinstance(body.get("error"), str) and re.fullmatch(r"[a-z_]+", body["error"]), body
    message = body.get("message")
    assert isinstance(message, str) and message.strip(), f"error without a message: {body!r}"
    assert _JAPANESE.search(message), f"error message not in Japanese: {message!r}"
    return True


def test_the_fuzzed_schema_is_served(client: TestClient) -> None:
    served = client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == schema.raw_schema
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert {"GET /api/v1/calls", "GET /api/v1/calls/{id}", "GET /feeds/calls.atom"} <= labels


@schema.parametrize()
def test_api_fuzz(case: schemathesis.Case, fuzz_app: FastAPI, fuzz_counts: Counter[str]) -> None:
    fuzz_counts[case.operation.label] += 1
    response = case.call_and_validate(app=fuzz_app, additional_checks=[error_has_a_message])
    fuzz_counts[f"{case.operation.label} {response.status_code}"] += 1


@pytest.mark.parametrize("path", ["/api/v1/calls/{id}", "/calls/{id}.ics"])
def test_every_stored_call_answers_as_documented(fuzz_app: FastAPI, path: str) -> None:
    engine = make_engine(fuzz_app.state.settings.database_url)
    try:
        with Session(engine) as session:
            ids = sorted(set(call_ids_in(session).values()))
    finally:
        engine.dispose()
    assert len(ids) >= 25
    operation = schema[path]["GET"]
    statuses = Counter()
    for call_id in ids:
        case = operation.Case(path_parameters={"id": call_id})
        response = case.call_and_validate(app=fuzz_app, additional_checks=[error_has_a_message])
        statuses[response.status_code] += 1
    # Calls without a fixed deadline (随時) have no .ics: a documented 404.
    assert statuses[200] >= len(ids) - 2 and set(statuses) <= {200, 404}, statuses


# -- regression tests: what the fuzzing found --------------------------------------------------


SEARCH_PATHS = ["/api/v1/calls", "/feeds/calls.atom", "/feeds/calls.ics", "/exports/calls.csv"]


@pytest.mark.parametrize("value", ["0", "1700000000", "2026-12-01T00:00:00", "２０２６-12-01"])
@pytest.mark.parametrize("path", SEARCH_PATHS)
def test_a_date_is_only_yyyy_mm_dd(client: TestClient, path: str, value: str) -> None:
    """`deadline_before=0` was read as a Unix time (1970-01-01) and answered 200."""
    response = client.get(path, params={"deadline_before": value})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["message"] == "deadline_before: 日付は YYYY-MM-DD の形で指定してください"
    assert [e["param"] for e in body["errors"]] == ["deadline_before"]
    assert client.get(path, params={"deadline_before": "2026-12-31"}).status_code == 200


def test_the_search_page_refuses_a_number_as_a_date(client: TestClient) -> None:
    page = client.get("/", params={"deadline_after": "0"})
    assert page.status_code == 422
    assert "text/html" in page.headers["content-type"] and "締切" in page.text


def _query_parameter(path: str, name: str) -> dict:
    operation = schema.raw_schema["paths"][path]["get"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == name]
    return parameter["schema"]


def test_the_schema_lists_the_values_the_api_accepts() -> None:
    """`field` and `kind` were documented as any string, and `kind=` (empty) was refused;
    `q` with NUL and `min_amount` above BIGINT were documented valid and refused."""
    for path in ("/api/v1/calls", "/api/v1/offers"):
        assert _query_parameter(path, "field")["items"]["enum"] == list(FIELDS)
        q = _query_parameter(path, "q")["anyOf"][0]
        assert q["maxLength"] == 200 and re.fullmatch(q["pattern"], "子ども")
        assert re.fullmatch(q["pattern"], "子\x00ども") is None
    assert _query_parameter("/api/v1/offers", "kind")["items"]["enum"] == list(OFFER_KINDS)
    amount = _query_parameter("/api/v1/calls", "min_amount")["anyOf"][0]
    assert amount["maximum"] == 2**63 - 1


@pytest.mark.parametrize(
    ("path", "params", "param", "message"),
    [
        ("/api/v1/offers", {"kind": ""}, "kind", "のいずれかを指定してください"),
        ("/api/v1/offers", {"field": "nope"}, "field", "children_youth"),
        ("/api/v1/offers", {"q": "子\x00ども"}, "q", "NUL 文字は使えません"),
        ("/api/v1/calls", {"field": ""}, "field", "のいずれかを指定してください"),
        ("/feeds/calls.atom", {"q": "子\x00ども"}, "q", "NUL 文字は使えません"),
        ("/exports/calls.csv", {"min_amount": str(2**63)}, "min_amount", "以下にしてください"),
        ("/api/v1/calls", {"per_page": "101"}, "per_page", "100 以下にしてください"),
        ("/api/v1/calls", {"status": "x"}, "status", "'open', 'upcoming', 'closed', 'all'"),
        ("/api/v1/calls", {"informal_groups_ok": "maybe"}, "informal_groups_ok", "true か false"),
        ("/api/v1/calls/abc", {}, "id", "整数で指定してください"),
    ],
)
def test_invalid_parameters_are_named_in_japanese(
    client: TestClient, path: str, params: dict, param: str, message: str
) -> None:
    """422 messages were pydantic's English ("Input should be ...")."""
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_parameter"
    assert body["message"].startswith(f"{param}: ") and message in body["message"], body
    assert all(_JAPANESE.search(e["message"]) for e in body["errors"]), body


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/api/v1/nosuch", 404, "not_found"),
        ("GET", "/feeds/nosuch.atom", 404, "not_found"),
        ("POST", "/api/v1/calls", 405, "method_not_allowed"),
        ("TRACE", "/calls/1.ics", 405, "method_not_allowed"),
        ("DELETE", "/exports/calls.csv", 405, "method_not_allowed"),
    ],
)
def test_starlette_errors_are_answered_in_japanese(
    client: TestClient, method: str, path: str, status: int, error: str
) -> None:
    """404 and 405 of the framework itself said "Not Found" / "Method Not Allowed"."""
    response = client.request(method, path)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error and _JAPANESE.search(body["message"]), body
    if status == 405:
        assert response.headers["allow"] == "GET"


def test_an_own_detail_message_is_kept(client: TestClient) -> None:
    body = client.get("/api/v1/calls/999999").json()
    assert body == {"error": "not_found", "message": "公募 999999 は見つかりません"}
